# Corpus program modelled on pytorch/examples fast_neural_style/neural_style/{transformer_net,
# utils,vgg,neural_style}.py (BSD-3-Clause), https://github.com/pytorch/examples
# Written for clnet's corpus after the original's structure and torch calls (its text is not
# copied); every difference from the original is marked `# clnet-port:`.
# Training a feed-forward style-transfer network (Johnson et al.): reflection-padded
# convolutions, InstanceNorm2d, residual blocks, nearest-neighbour upsampling, and a perceptual
# loss on fixed feature-extractor activations (content) and their Gram matrices (style).
import argparse
from collections import namedtuple

import numpy as np
import torch
from torch.optim import Adam
from torch.utils.data import DataLoader

from _standins import datasets, transforms  # clnet-port: torchvision stand-ins


# ---- transformer_net.py
class TransformerNet(torch.nn.Module):
    def __init__(self):
        super(TransformerNet, self).__init__()
        self.conv1 = ConvLayer(3, 32, kernel_size=9, stride=1)
        self.in1 = torch.nn.InstanceNorm2d(32, affine=True)
        self.conv2 = ConvLayer(32, 64, kernel_size=3, stride=2)
        self.in2 = torch.nn.InstanceNorm2d(64, affine=True)
        self.conv3 = ConvLayer(64, 128, kernel_size=3, stride=2)
        self.in3 = torch.nn.InstanceNorm2d(128, affine=True)
        self.res1 = ResidualBlock(128)
        self.res2 = ResidualBlock(128)
        self.res3 = ResidualBlock(128)
        self.res4 = ResidualBlock(128)
        self.res5 = ResidualBlock(128)
        self.deconv1 = UpsampleConvLayer(128, 64, kernel_size=3, stride=1, upsample=2)
        self.in4 = torch.nn.InstanceNorm2d(64, affine=True)
        self.deconv2 = UpsampleConvLayer(64, 32, kernel_size=3, stride=1, upsample=2)
        self.in5 = torch.nn.InstanceNorm2d(32, affine=True)
        self.deconv3 = ConvLayer(32, 3, kernel_size=9, stride=1)
        self.relu = torch.nn.ReLU()

    def forward(self, X):
        y = self.relu(self.in1(self.conv1(X)))
        y = self.relu(self.in2(self.conv2(y)))
        y = self.relu(self.in3(self.conv3(y)))
        y = self.res1(y)
        y = self.res2(y)
        y = self.res3(y)
        y = self.res4(y)
        y = self.res5(y)
        y = self.relu(self.in4(self.deconv1(y)))
        y = self.relu(self.in5(self.deconv2(y)))
        y = self.deconv3(y)
        return y


class ConvLayer(torch.nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride):
        super(ConvLayer, self).__init__()
        reflection_padding = kernel_size // 2
        self.reflection_pad = torch.nn.ReflectionPad2d(reflection_padding)
        self.conv2d = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        out = self.reflection_pad(x)
        out = self.conv2d(out)
        return out


class ResidualBlock(torch.nn.Module):
    def __init__(self, channels):
        super(ResidualBlock, self).__init__()
        self.conv1 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in1 = torch.nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = ConvLayer(channels, channels, kernel_size=3, stride=1)
        self.in2 = torch.nn.InstanceNorm2d(channels, affine=True)
        self.relu = torch.nn.ReLU()

    def forward(self, x):
        residual = x
        out = self.relu(self.in1(self.conv1(x)))
        out = self.in2(self.conv2(out))
        out = out + residual
        return out


class UpsampleConvLayer(torch.nn.Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, upsample=None):
        super(UpsampleConvLayer, self).__init__()
        self.upsample = upsample
        reflection_padding = kernel_size // 2
        self.reflection_pad = torch.nn.ReflectionPad2d(reflection_padding)
        self.conv2d = torch.nn.Conv2d(in_channels, out_channels, kernel_size, stride)

    def forward(self, x):
        x_in = x
        if self.upsample:
            x_in = torch.nn.functional.interpolate(x_in, mode='nearest', scale_factor=self.upsample)
        out = self.reflection_pad(x_in)
        out = self.conv2d(out)
        return out


# ---- utils.py
def gram_matrix(y):
    (b, ch, h, w) = y.size()
    features = y.view(b, ch, w * h)
    features_t = features.transpose(1, 2)
    gram = features.bmm(features_t) / (ch * h * w)
    return gram


def normalize_batch(batch):
    mean = batch.new_tensor([0.485, 0.456, 0.406]).view(-1, 1, 1)
    std = batch.new_tensor([0.229, 0.224, 0.225]).view(-1, 1, 1)
    batch = batch.div_(255.0)
    return (batch - mean) / std


# ---- vgg.py
class Vgg16(torch.nn.Module):
    """clnet-port: torchvision's pretrained VGG-16 is replaced by four fixed, randomly
    initialised conv slices of the same layout (relu1_2 .. relu4_3), much narrower: a fixed
    feature extractor is what the perceptual loss needs."""

    def __init__(self, requires_grad=False):
        super(Vgg16, self).__init__()

        def block(cin, cout, pool):
            layers = [torch.nn.MaxPool2d(2, 2)] if pool else []
            return torch.nn.Sequential(*layers, torch.nn.Conv2d(cin, cout, 3, padding=1),
                                       torch.nn.ReLU(inplace=True))
        self.slice1 = block(3, 8, False)
        self.slice2 = block(8, 16, True)
        self.slice3 = block(16, 32, True)
        self.slice4 = block(32, 32, True)
        if not requires_grad:
            for param in self.parameters():
                param.requires_grad = False

    def forward(self, X):
        h = self.slice1(X)
        h_relu1_2 = h
        h = self.slice2(h)
        h_relu2_2 = h
        h = self.slice3(h)
        h_relu3_3 = h
        h = self.slice4(h)
        h_relu4_3 = h
        vgg_outputs = namedtuple("VggOutputs", ['relu1_2', 'relu2_2', 'relu3_3', 'relu4_3'])
        out = vgg_outputs(h_relu1_2, h_relu2_2, h_relu3_3, h_relu4_3)
        return out


# ---- neural_style.py: train
parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=1)  # clnet-port: 1, not 2
parser.add_argument("--batch-size", type=int, default=4)
parser.add_argument("--image-size", type=int, default=32)  # clnet-port: 32, not 256
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--content-weight", type=float, default=1e5)
parser.add_argument("--style-weight", type=float, default=1e10)
parser.add_argument("--lr", type=float, default=1e-2)  # clnet-port: 1e-2, not 1e-3 (12 steps)
parser.add_argument("--log-interval", type=int, default=4)
parser.add_argument("--max-batches", type=int, default=12)  # clnet-port: a bound on the steps
args = parser.parse_args()

device = torch.device("cpu")
np.random.seed(args.seed)
torch.manual_seed(args.seed)
transform = transforms.Compose([
    transforms.Resize(args.image_size),
    transforms.CenterCrop(args.image_size),
    transforms.ToTensor(),
    transforms.Lambda(lambda x: x.mul(255))
])
train_dataset = datasets.CIFAR10(train=True, transform=transform)  # clnet-port: not ImageFolder
train_loader = DataLoader(train_dataset, batch_size=args.batch_size)

transformer = TransformerNet().to(device)
optimizer = Adam(transformer.parameters(), args.lr)
mse_loss = torch.nn.MSELoss()
vgg = Vgg16(requires_grad=False).to(device)
style_transform = transforms.Compose([
    transforms.ToTensor(),
    transforms.Lambda(lambda x: x.mul(255))
])
# clnet-port: a synthetic striped style image instead of utils.load_image(args.style_image)
stripes = (np.indices((args.image_size, args.image_size)).sum(0) // 4 % 2 * 255).astype(np.uint8)
style = style_transform(np.stack([stripes, 255 - stripes, stripes], axis=-1))
style = style.repeat(args.batch_size, 1, 1, 1).to(device)
features_style = vgg(normalize_batch(style))
gram_style = [gram_matrix(y) for y in features_style]

losses = []  # clnet-port: kept for the outcome check
for e in range(args.epochs):
    transformer.train()
    agg_content_loss = 0.
    agg_style_loss = 0.
    count = 0
    for batch_id, (x, _) in enumerate(train_loader):
        n_batch = len(x)
        count += n_batch
        optimizer.zero_grad()
        x = x.to(device)
        y = transformer(x)
        y = normalize_batch(y)
        x = normalize_batch(x)
        features_y = vgg(y)
        features_x = vgg(x)
        content_loss = args.content_weight * mse_loss(features_y.relu2_2, features_x.relu2_2)
        style_loss = 0.
        for ft_y, gm_s in zip(features_y, gram_style):
            gm_y = gram_matrix(ft_y)
            style_loss += mse_loss(gm_y, gm_s[:n_batch, :, :])
        style_loss *= args.style_weight
        total_loss = content_loss + style_loss
        total_loss.backward()
        optimizer.step()
        agg_content_loss += content_loss.item()
        agg_style_loss += style_loss.item()
        losses.append(total_loss.item())
        if (batch_id + 1) % args.log_interval == 0:
            print("Epoch {}:\t[{}/{}]\tcontent: {:.6f}\tstyle: {:.6f}\ttotal: {:.6f}".format(
                e + 1, count, len(train_dataset), agg_content_loss / (batch_id + 1),
                agg_style_loss / (batch_id + 1),
                (agg_content_loss + agg_style_loss) / (batch_id + 1)))
        if batch_id + 1 >= args.max_batches:  # clnet-port: the step bound
            break
transformer.eval().cpu()
torch.save(transformer.state_dict(), "style.model")
# clnet-port: outcome check: the perceptual loss falls
print(losses)
assert np.mean(losses[-3:]) < 0.7 * np.mean(losses[:3]), losses
