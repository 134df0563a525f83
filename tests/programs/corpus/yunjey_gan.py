# Corpus program modelled on yunjey/pytorch-tutorial
# tutorials/03-advanced/generative_adversarial_network/main.py (MIT License)
# Written for clnet's corpus after the original's structure and torch calls (its text is not
# copied); every difference from the original is marked `# clnet-port:`.
# A fully connected GAN on MNIST: LeakyReLU discriminator, Tanh generator, BCELoss,
# alternating updates with two Adam optimizers.
import os

import torch
import torch.nn as nn

from _standins import datasets as _datasets, transforms  # clnet-port: torchvision stand-ins
from _standins import save_image  # clnet-port: torchvision.utils.save_image stand-in


class torchvision:  # clnet-port: keeps the original's torchvision.datasets.MNIST lines
    datasets = _datasets


device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
latent_size = 64
hidden_size = 256
image_size = 784
num_epochs = 4  # clnet-port: 4, not 200
batch_size = 100
sample_dir = 'samples'
if not os.path.exists(sample_dir):
    os.makedirs(sample_dir)

torch.manual_seed(0)  # clnet-port: seeded
transform = transforms.Compose([
    transforms.ToTensor(),
    transforms.Normalize(mean=(0.5,), std=(0.5,))])
mnist = torchvision.datasets.MNIST(root='../../data/', train=True, transform=transform,
                                   download=True)
data_loader = torch.utils.data.DataLoader(dataset=mnist, batch_size=batch_size, shuffle=True)

D = nn.Sequential(
    nn.Linear(image_size, hidden_size),
    nn.LeakyReLU(0.2),
    nn.Linear(hidden_size, hidden_size),
    nn.LeakyReLU(0.2),
    nn.Linear(hidden_size, 1),
    nn.Sigmoid())
G = nn.Sequential(
    nn.Linear(latent_size, hidden_size),
    nn.ReLU(),
    nn.Linear(hidden_size, hidden_size),
    nn.ReLU(),
    nn.Linear(hidden_size, image_size),
    nn.Tanh())
D = D.to(device)
G = G.to(device)

criterion = nn.BCELoss()
d_optimizer = torch.optim.Adam(D.parameters(), lr=0.0002)
g_optimizer = torch.optim.Adam(G.parameters(), lr=0.0002)


def denorm(x):
    out = (x + 1) / 2
    return out.clamp(0, 1)


def reset_grad():
    d_optimizer.zero_grad()
    g_optimizer.zero_grad()


history = []  # clnet-port: (D(x), D(G(z))) per step, for the outcome check
with torch.no_grad():  # clnet-port: the untrained generator's mean pixel, for the outcome check
    start_fake_mean = denorm(G(torch.randn(batch_size, latent_size))).mean().item()
total_step = len(data_loader)
for epoch in range(num_epochs):
    for i, (images, _) in enumerate(data_loader):
        images = images.reshape(batch_size, -1).to(device)
        real_labels = torch.ones(batch_size, 1).to(device)
        fake_labels = torch.zeros(batch_size, 1).to(device)

        outputs = D(images)
        d_loss_real = criterion(outputs, real_labels)
        real_score = outputs
        z = torch.randn(batch_size, latent_size).to(device)
        fake_images = G(z)
        outputs = D(fake_images)
        d_loss_fake = criterion(outputs, fake_labels)
        fake_score = outputs
        d_loss = d_loss_real + d_loss_fake
        reset_grad()
        d_loss.backward()
        d_optimizer.step()

        z = torch.randn(batch_size, latent_size).to(device)
        fake_images = G(z)
        outputs = D(fake_images)
        g_loss = criterion(outputs, real_labels)
        reset_grad()
        g_loss.backward()
        g_optimizer.step()
        history.append((real_score.mean().item(), fake_score.mean().item()))
        if (i+1) % 5 == 0:
            print('Epoch [{}/{}], Step [{}/{}], d_loss: {:.4f}, g_loss: {:.4f}, D(x): {:.2f}, '
                  'D(G(z)): {:.2f}'.format(epoch, num_epochs, i+1, total_step, d_loss.item(),
                                           g_loss.item(), real_score.mean().item(),
                                           fake_score.mean().item()))
    if (epoch+1) == 1:
        images = images.reshape(images.size(0), 1, 28, 28)
        save_image(denorm(images), os.path.join(sample_dir, 'real_images.png'))
    fake_images = fake_images.reshape(fake_images.size(0), 1, 28, 28)
    save_image(denorm(fake_images), os.path.join(sample_dir, 'fake_images-{}.png'.format(epoch+1)))

torch.save(G.state_dict(), 'G.ckpt')
torch.save(D.state_dict(), 'D.ckpt')
# clnet-port: outcome check: the generated images' mean brightness moves to the data's (the
# untrained generator gives ~0.5 grey; the digits are dark with bright strokes): a quarter of
# the gap closed in 60 steps
with torch.no_grad():
    fake_mean = denorm(G(torch.randn(500, latent_size))).mean().item()
real_mean = denorm(torch.stack([mnist[i][0] for i in range(500)])).mean().item()
print(start_fake_mean, fake_mean, real_mean)
assert abs(fake_mean - real_mean) < 0.75 * abs(start_fake_mean - real_mean), (
    start_fake_mean, fake_mean, real_mean)
