"""What each variant trains with: the tutorial's PIL loader and ``(input, state)`` models, tensor batches, the plain loop's step.

Every variant starts a repetition from the same initial weights (:func:`make_models` seeds them)
and uses the same losses and optimizer settings (:data:`LR`, :data:`BETAS`).
"""
import inspect
from typing import NamedTuple

import torch
import torch.nn.functional as F
import torchbearer as tb
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

import bearer_gan

__all__ = ['LR', 'BETAS', 'MNIST_SHAPE', 'Setup', 'PILDigits', 'pil_loader', 'endless', 'seeded_image_batches', 'tensor_batches',
           'make_models', 'TutorialGenerator', 'TutorialDiscriminator', 'tutorial_gen_crit', 'tutorial_disc_crit',
           'tutorial_metrics', 'plain_step', 'GEN_OPT', 'GEN_CRIT', 'DISC_OPT', 'DISC_MODEL', 'DISC_IMGS',
           'DISC_CRIT', 'VALID', 'FAKE']

LR, BETAS = 2e-4, (0.5, 0.999)

#: ``(C, H, W)`` of the MNIST digits, the only shape the tutorial's PIL loader (variants (a), (b)) reads.
MNIST_SHAPE = (1, 28, 28)

# State keys of the tutorial set-up (a).
GEN_OPT = tb.state_key('bench_gen_opt')
GEN_CRIT = tb.state_key('bench_gen_crit')
DISC_OPT = tb.state_key('bench_disc_opt')
DISC_MODEL = tb.state_key('bench_disc_model')
DISC_IMGS = tb.state_key('bench_disc_imgs')
DISC_CRIT = tb.state_key('bench_disc_crit')
G_LOSS = tb.state_key('bench_g_loss')
D_LOSS = tb.state_key('bench_d_loss')
VALID = tb.state_key('bench_valid')
FAKE = tb.state_key('bench_fake')


class Setup(NamedTuple):
    """What one measurement trains: the data ``(uint8 images, labels, images in [-1, 1] on the device,
    labels on the device)``, the model pair, the batch size, the device, (d) and (e)'s precision
    and compilation, and the ``(C, H, W)`` the models are built for (the uint8 images are
    ``(N, 28, 28)`` for :data:`MNIST_SHAPE`, as the PIL loader reads them, else ``(N, C, H, W)``)."""
    data: tuple
    model: str
    latent_dim: int
    batch_size: int
    device: str
    precision: str = 'fp32'
    compile: bool = False
    image_shape: tuple = MNIST_SHAPE


# ----------------------------------------------------------------------------------------------- data

class PILDigits(Dataset):
    """A torchvision-style data set: ``(transform(PIL image), label)`` per index, as MNIST gives."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        image = Image.fromarray(self.images[index].numpy(), mode='L')
        return self.transform(image), int(self.labels[index])


def pil_loader(images, labels, batch_size):
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    return DataLoader(PILDigits(images, labels, transform), batch_size=batch_size, shuffle=True,
                      num_workers=0, drop_last=True)


def endless(loader):
    """Batches of ``loader``, starting a new epoch when one ends (as torchbearer does for steps > len)."""
    while True:
        yield from loader


def seeded_image_batches(images, labels, batch_size, seed):
    """:func:`bearer_gan.image_batches` with a seeded order, whether it takes ``seed`` or a ``generator``."""
    parameters = inspect.signature(bearer_gan.image_batches).parameters
    if 'seed' in parameters:
        return bearer_gan.image_batches(images, labels, batch_size, seed=seed)
    return bearer_gan.image_batches(images, labels, batch_size, generator=torch.Generator().manual_seed(seed))


def tensor_batches(images, batch_size):
    """Endless shuffled batches of an on-device tensor, by index with ``torch.randperm``."""
    count = len(images)
    while True:
        order = torch.randperm(count, device=images.device)
        for start in range(0, count - batch_size + 1, batch_size):
            yield images[order[start:start + batch_size]]


# ----------------------------------------------------------------------------------------------- models

def make_models(model, latent_dim, device, seed, image_shape=MNIST_SHAPE):
    torch.manual_seed(seed)  # same initial weights for every variant of a repetition
    generator, discriminator = bearer_gan.build_models(model, latent_dim, image_shape)
    generator, discriminator = generator.to(device), discriminator.to(device)
    return (generator, discriminator, torch.optim.Adam(generator.parameters(), lr=LR, betas=BETAS),
            torch.optim.Adam(discriminator.parameters(), lr=LR, betas=BETAS))


class TutorialGenerator(nn.Module):
    """The tutorial's generator interface: ``forward(real_images, state)`` draws its own noise."""

    def __init__(self, generator, latent_dim):
        super().__init__()
        self.generator, self.latent_dim = generator, latent_dim

    def forward(self, real_images, state):
        noise = torch.randn(real_images.shape[0], self.latent_dim, device=state[tb.DEVICE])
        return self.generator(noise)


class TutorialDiscriminator(nn.Module):
    """The tutorial's discriminator interface: ``forward(images, state)``."""

    def __init__(self, discriminator):
        super().__init__()
        self.discriminator = discriminator

    def forward(self, images, state):
        return self.discriminator(images)


def tutorial_gen_crit(state):
    loss = F.binary_cross_entropy_with_logits(state[DISC_MODEL](state[tb.Y_PRED], state), state[VALID])
    state[G_LOSS] = loss
    return loss


def tutorial_disc_crit(state):
    real_loss = F.binary_cross_entropy_with_logits(state[DISC_MODEL](state[tb.X], state), state[VALID])
    fake_loss = F.binary_cross_entropy_with_logits(state[DISC_MODEL](state[tb.Y_PRED].detach(), state), state[FAKE])
    loss = (real_loss + fake_loss) / 2
    state[D_LOSS] = loss
    return loss


class _TutorialLoss(tb.metrics.Metric):
    def __init__(self, name, key):
        super().__init__(name)
        self.key = key

    def process(self, state):
        return state[self.key]


def tutorial_metrics():
    """The tutorial's ``metrics=['loss', g_loss(), d_loss()]``: running means of means."""
    wrap = lambda metric: tb.metrics.running_mean(tb.metrics.mean(metric))  # noqa: E731
    return ['loss', wrap(_TutorialLoss('g_loss', G_LOSS)), wrap(_TutorialLoss('d_loss', D_LOSS))]


def plain_step(generator, discriminator, g_opt, d_opt, real, latent_dim, ones, zeros):
    """One step of the straightforward loop: D step on real and detached fakes, then G step."""
    noise = torch.randn(real.size(0), latent_dim, device=real.device)
    fake = generator(noise)
    d_opt.zero_grad()
    d_loss = 0.5 * (F.binary_cross_entropy_with_logits(discriminator(real), ones)
                    + F.binary_cross_entropy_with_logits(discriminator(fake.detach()), zeros))
    d_loss.backward()
    d_opt.step()
    g_opt.zero_grad()
    g_loss = F.binary_cross_entropy_with_logits(discriminator(fake), ones)
    g_loss.backward()
    g_opt.step()