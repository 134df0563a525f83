# Corpus program modelled on pytorch/tutorials beginner_source/saving_loading_models.py and
# recipes_source/recipes/what_is_state_dict.py (BSD-3-Clause), https://github.com/pytorch/tutorials
# Written for clnet's corpus after the original's structure and torch calls (its text is not
# copied); every difference from the original is marked `# clnet-port:`.
# state_dict of a model and an optimizer; save/load a state_dict, a whole model, a general
# checkpoint, several models in one file, and a warm start with strict=False.
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim


class TheModelClass(nn.Module):
    def __init__(self):
        super(TheModelClass, self).__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = x.view(-1, 16 * 5 * 5)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


torch.manual_seed(0)  # clnet-port: seeded
model = TheModelClass()
optimizer = optim.SGD(model.parameters(), lr=0.001, momentum=0.9)

print("Model's state_dict:")
for param_tensor in model.state_dict():
    print(param_tensor, "\t", model.state_dict()[param_tensor].size())
print("Optimizer's state_dict:")
for var_name in optimizer.state_dict():
    print(var_name, "\t", optimizer.state_dict()[var_name])

x = torch.randn(4, 3, 32, 32)  # clnet-port: one training step so the optimizer has state
loss = model(x).pow(2).mean()
loss.backward()
optimizer.step()
model.eval()
with torch.no_grad():
    expected = model(x)

# save/load the state_dict (recommended)
PATH = "state_dict_model.pt"
torch.save(model.state_dict(), PATH)
model = TheModelClass()
model.load_state_dict(torch.load(PATH, weights_only=True))
model.eval()
with torch.no_grad():
    assert torch.equal(model(x), expected)  # clnet-port: outcome check

# save/load the entire model
PATH = "entire_model.pt"
torch.save(model, PATH)
model = torch.load(PATH, weights_only=False)
model.eval()
with torch.no_grad():
    assert torch.equal(model(x), expected)  # clnet-port: outcome check

# a general checkpoint for inference and/or resuming training
PATH = "model.tar"
epoch, LOSS = 5, 0.4
torch.save({
    'epoch': epoch,
    'model_state_dict': model.state_dict(),
    'optimizer_state_dict': optimizer.state_dict(),
    'loss': LOSS,
}, PATH)
model = TheModelClass()
optimizer = optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
checkpoint = torch.load(PATH, weights_only=True)
model.load_state_dict(checkpoint['model_state_dict'])
optimizer.load_state_dict(checkpoint['optimizer_state_dict'])
epoch = checkpoint['epoch']
loss = checkpoint['loss']
model.eval()
with torch.no_grad():
    assert torch.equal(model(x), expected)  # clnet-port: outcome check
assert epoch == 5 and loss == 0.4
assert len(optimizer.state_dict()['state']) == 10  # momentum buffers came back
model.train()

# several models in one file
modelA, modelB = TheModelClass(), TheModelClass()
optimizerA = optim.SGD(modelA.parameters(), lr=0.001, momentum=0.9)
optimizerB = optim.SGD(modelB.parameters(), lr=0.001, momentum=0.9)
torch.save({
    'modelA_state_dict': modelA.state_dict(),
    'modelB_state_dict': modelB.state_dict(),
    'optimizerA_state_dict': optimizerA.state_dict(),
    'optimizerB_state_dict': optimizerB.state_dict(),
}, PATH)
checkpoint = torch.load(PATH, weights_only=True)
modelA2, modelB2 = TheModelClass(), TheModelClass()
modelA2.load_state_dict(checkpoint['modelA_state_dict'])
modelB2.load_state_dict(checkpoint['modelB_state_dict'])
assert torch.equal(modelB2.fc3.weight, modelB.fc3.weight)  # clnet-port: check


# warm start from a different model: strict=False
class Smaller(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.head = nn.Linear(6, 2)


modelB = Smaller()
saved = torch.load("state_dict_model.pt", weights_only=True)
result = modelB.load_state_dict(saved, strict=False)
print(result)
assert torch.equal(modelB.conv1.weight, saved['conv1.weight'])  # clnet-port: check
assert sorted(result.missing_keys) == ['head.bias', 'head.weight']  # clnet-port: check
assert 'fc1.weight' in result.unexpected_keys  # clnet-port: check
