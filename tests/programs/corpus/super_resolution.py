# Corpus program modelled on pytorch/examples super_resolution/model.py and main.py
# (BSD-3-Clause), https://github.com/pytorch/examples/tree/main/super_resolution
# Written for clnet's corpus after the original's structure and torch calls (its text is not
# copied); every difference from the original is marked `# clnet-port:`.
# Sub-pixel convolution super-resolution (ESPCN): four convolutions with orthogonal init and
# nn.PixelShuffle, MSE loss, Adam, PSNR on a held-out set, the whole model saved per epoch.
import argparse
from math import log10

import numpy as np
import torch
import torch.nn as nn
import torch.nn.init as init
import torch.optim as optim
from torch.utils.data import DataLoader

from _standins import datasets  # clnet-port: the digits stand-in instead of BSDS300


class Net(nn.Module):
    def __init__(self, upscale_factor):
        super(Net, self).__init__()
        self.relu = nn.ReLU()
        self.conv1 = nn.Conv2d(1, 64, (5, 5), (1, 1), (2, 2))
        self.conv2 = nn.Conv2d(64, 64, (3, 3), (1, 1), (1, 1))
        self.conv3 = nn.Conv2d(64, 32, (3, 3), (1, 1), (1, 1))
        self.conv4 = nn.Conv2d(32, upscale_factor ** 2, (3, 3), (1, 1), (1, 1))
        self.pixel_shuffle = nn.PixelShuffle(upscale_factor)
        self._initialize_weights()

    def forward(self, x):
        x = self.relu(self.conv1(x))
        x = self.relu(self.conv2(x))
        x = self.relu(self.conv3(x))
        x = self.pixel_shuffle(self.conv4(x))
        return x

    def _initialize_weights(self):
        init.orthogonal_(self.conv1.weight, init.calculate_gain('relu'))
        init.orthogonal_(self.conv2.weight, init.calculate_gain('relu'))
        init.orthogonal_(self.conv3.weight, init.calculate_gain('relu'))
        init.orthogonal_(self.conv4.weight)


class LowRes(torch.utils.data.Dataset):
    """clnet-port: (low-res input, full-res target) pairs like data.py's DatasetFromFolder: the
    target is a 28x28 digit in [0, 1], the input its 2x2 box-filtered 14x14 version."""

    def __init__(self, train, upscale_factor):
        images = datasets.MNIST(train=train).data.astype(np.float32) / 255.0
        n, h, w = images.shape
        f = upscale_factor
        small = images.reshape(n, h // f, f, w // f, f).mean(axis=(2, 4))
        self.inputs, self.targets = small[:, None], images[:, None]

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        return torch.from_numpy(self.inputs[i]), torch.from_numpy(self.targets[i])


parser = argparse.ArgumentParser(description='PyTorch Super Res Example')
parser.add_argument('--upscale_factor', type=int, default=2)  # clnet-port: 2 (28 = 2 x 14)
parser.add_argument('--batchSize', type=int, default=16)  # clnet-port: 16, not 64
parser.add_argument('--testBatchSize', type=int, default=100)
parser.add_argument('--nEpochs', type=int, default=2)
parser.add_argument('--lr', type=float, default=0.001)  # clnet-port: 0.001, not 0.01
parser.add_argument('--accel', action='store_true')
parser.add_argument('--threads', type=int, default=4)
parser.add_argument('--seed', type=int, default=123)
parser.add_argument('--max-batches', type=int, default=25)  # clnet-port: a bound per epoch
opt = parser.parse_args()
print(opt)

if opt.accel and torch.accelerator.is_available():
    device = torch.accelerator.current_accelerator()
else:
    device = torch.device("cpu")
torch.manual_seed(opt.seed)

print('===> Loading datasets')
train_set = LowRes(True, opt.upscale_factor)
test_set = LowRes(False, opt.upscale_factor)
training_data_loader = DataLoader(dataset=train_set, num_workers=opt.threads,
                                  batch_size=opt.batchSize, shuffle=True)
testing_data_loader = DataLoader(dataset=test_set, num_workers=opt.threads,
                                 batch_size=opt.testBatchSize, shuffle=False)

print('===> Building model')
model = Net(upscale_factor=opt.upscale_factor).to(device)
criterion = nn.MSELoss()
optimizer = optim.Adam(model.parameters(), lr=opt.lr)


def train(epoch):
    epoch_loss = 0
    for iteration, batch in enumerate(training_data_loader, 1):
        input, target = batch[0].to(device), batch[1].to(device)
        optimizer.zero_grad()
        loss = criterion(model(input), target)
        epoch_loss += loss.item()
        loss.backward()
        optimizer.step()
        print("===> Epoch[{}]({}/{}): Loss: {:.4f}".format(epoch, iteration,
                                                           len(training_data_loader), loss.item()))
        if iteration >= opt.max_batches:  # clnet-port: the batch bound
            break
    print("===> Epoch {} Complete: Avg. Loss: {:.4f}".format(epoch, epoch_loss / iteration))


def test():
    avg_psnr = 0
    with torch.no_grad():
        for batch in testing_data_loader:
            input, target = batch[0].to(device), batch[1].to(device)
            prediction = model(input)
            mse = criterion(prediction, target)
            psnr = 10 * log10(1 / mse.item())
            avg_psnr += psnr
    print("===> Avg. PSNR: {:.4f} dB".format(avg_psnr / len(testing_data_loader)))
    return avg_psnr / len(testing_data_loader)  # clnet-port: returned for the outcome check


def checkpoint(epoch):
    model_out_path = "model_epoch_{}.pth".format(epoch)
    torch.save(model, model_out_path)
    print("Checkpoint saved to {}".format(model_out_path))


psnrs = [test()]  # clnet-port: the untrained model's PSNR first
for epoch in range(1, opt.nEpochs + 1):
    train(epoch)
    psnrs.append(test())
    checkpoint(epoch)

# clnet-port: outcome check: PSNR rises over training and beats nearest-neighbour upsampling
with torch.no_grad():
    nearest = np.repeat(np.repeat(test_set.inputs, 2, axis=2), 2, axis=3)
    nn_psnr = 10 * log10(1 / float(((nearest - test_set.targets) ** 2).mean()))
print(psnrs, nn_psnr)
assert psnrs[-1] > psnrs[0] + 3 and psnrs[-1] > nn_psnr, (psnrs, nn_psnr)
