# Corpus program modelled on yunjey/pytorch-tutorial tutorials/01-basics/linear_regression/main.py
# (MIT License), https://github.com/yunjey/pytorch-tutorial
# Written for clnet's corpus after the original's structure and torch calls (its text is not
# copied); every difference from the original is marked `# clnet-port:`.
# nn.Linear on 15 numpy points with SGD; predictions back to numpy; save the state_dict.
import numpy as np
import torch
import torch.nn as nn

input_size = 1
output_size = 1
num_epochs = 60
learning_rate = 0.001

x_train = np.array([[3.3], [4.4], [5.5], [6.71], [6.93], [4.168], [9.779], [6.182], [7.59],
                    [2.167], [7.042], [10.791], [5.313], [7.997], [3.1]], dtype=np.float32)
y_train = np.array([[1.7], [2.76], [2.09], [3.19], [1.694], [1.573], [3.366], [2.596], [2.53],
                    [1.221], [2.827], [3.465], [1.65], [2.904], [1.3]], dtype=np.float32)

torch.manual_seed(0)  # clnet-port: seeded
model = nn.Linear(input_size, output_size)
criterion = nn.MSELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate)

losses = []  # clnet-port: kept for the outcome check
for epoch in range(num_epochs):
    inputs = torch.from_numpy(x_train)
    targets = torch.from_numpy(y_train)
    outputs = model(inputs)
    loss = criterion(outputs, targets)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    losses.append(loss.item())
    if (epoch+1) % 5 == 0:
        print('Epoch [{}/{}], Loss: {:.4f}'.format(epoch+1, num_epochs, loss.item()))

predicted = model(torch.from_numpy(x_train)).detach().numpy()
# clnet-port: the matplotlib plot of predicted against the data is left out
torch.save(model.state_dict(), 'model.ckpt')
# clnet-port: outcome check: the fit ends near least squares' residual (0.16)
assert isinstance(predicted, np.ndarray) and predicted.shape == (15, 1)
assert losses[-1] < 0.5 and losses[-1] < losses[0], (losses[0], losses[-1])
