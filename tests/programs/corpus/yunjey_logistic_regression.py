# Corpus program modelled on yunjey/pytorch-tutorial tutorials/01-basics/logistic_regression/main.py
# (MIT License), https://github.com/yunjey/pytorch-tutorial
# Written for clnet's corpus after the original's structure and torch calls (its text is not
# copied); every difference from the original is marked `# clnet-port:`.
# Multinomial logistic regression on MNIST: nn.Linear, CrossEntropyLoss, SGD; accuracy summed
# as a tensor.
import torch
import torch.nn as nn

from _standins import datasets as _datasets, transforms  # clnet-port: torchvision stand-ins


class torchvision:  # clnet-port: keeps the original's torchvision.datasets.MNIST lines
    datasets = _datasets


input_size = 28 * 28
num_classes = 10
num_epochs = 5
batch_size = 100
learning_rate = 0.01  # clnet-port: 0.01, not 0.001 (a smaller data set)

torch.manual_seed(0)  # clnet-port: seeded
train_dataset = torchvision.datasets.MNIST(root='../../data', train=True,
                                           transform=transforms.ToTensor(), download=True)
test_dataset = torchvision.datasets.MNIST(root='../../data', train=False,
                                          transform=transforms.ToTensor())
train_loader = torch.utils.data.DataLoader(dataset=train_dataset, batch_size=batch_size,
                                           shuffle=True)
test_loader = torch.utils.data.DataLoader(dataset=test_dataset, batch_size=batch_size,
                                          shuffle=False)

model = nn.Linear(input_size, num_classes)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)

total_step = len(train_loader)
for epoch in range(num_epochs):
    for i, (images, labels) in enumerate(train_loader):
        images = images.reshape(-1, input_size)
        outputs = model(images)
        loss = criterion(outputs, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if (i+1) % 10 == 0:
            print('Epoch [{}/{}], Step [{}/{}], Loss: {:.4f}'
                  .format(epoch+1, num_epochs, i+1, total_step, loss.item()))

with torch.no_grad():
    correct = 0
    total = 0
    for images, labels in test_loader:
        images = images.reshape(-1, input_size)
        outputs = model(images)
        _, predicted = torch.max(outputs.data, 1)
        total += labels.size(0)
        correct += (predicted == labels).sum()
    print('Accuracy of the model on the test images: {} %'.format(100 * correct / total))

torch.save(model.state_dict(), 'model.ckpt')
# clnet-port: outcome check (correct is a 0-d tensor here, as in the original)
assert float(correct) / total > 0.7, (correct, total)
