"""Generator and discriminator pairs for 28x28 greyscale images, selectable by name.

Generators map ``z`` of shape ``(N, latent_dim)`` to images ``(N, 1, 28, 28)`` in ``[-1, 1]``
(a ``Tanh`` output). Discriminators map images to one *logit* each, ``(N, 1)``: no sigmoid, so
that the losses can use the numerically safe ``binary_cross_entropy_with_logits``.

* ``tutorial``: the MLPs of torchbearer's GAN tutorial (latent 100).
* ``mlp256``: the 3-layer, hidden-256 MLPs of the classic PyTorch MNIST GAN tutorial (latent 64).
* ``dcgan``: a small DCGAN (two strided (transposed) convolutions each way, latent 64).
"""
from typing import Callable, Dict, Tuple

import torch
from torch import nn

__all__ = ['TutorialGenerator', 'TutorialDiscriminator', 'MLP256Generator', 'MLP256Discriminator',
           'DCGANGenerator', 'DCGANDiscriminator', 'MODELS', 'DEFAULT_LATENT_DIM', 'build_models']

IMAGE_SHAPE = (1, 28, 28)
IMAGE_SIZE = 28 * 28


class TutorialGenerator(nn.Module):
    """torchbearer tutorial generator: ``latent_dim -> 128 -> 256 -> 512 -> 784``.

    The tutorial writes ``nn.BatchNorm1d(n, 0.8)``, which sets *eps* (not momentum) to 0.8, a
    slip copied from an older Keras port. We use PyTorch's defaults (eps=1e-5, momentum=0.1).
    """

    def __init__(self, latent_dim: int = 100):
        super().__init__()

        def block(n_in, n_out, batch_norm=True):
            layers = [nn.Linear(n_in, n_out)]
            if batch_norm:
                layers.append(nn.BatchNorm1d(n_out))
            layers.append(nn.LeakyReLU(0.2))
            return layers

        self.net = nn.Sequential(
            *block(latent_dim, 128, batch_norm=False), *block(128, 256), *block(256, 512),
            nn.Linear(512, IMAGE_SIZE), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *IMAGE_SHAPE)


class TutorialDiscriminator(nn.Module):
    """torchbearer tutorial discriminator: ``784 -> 512 -> 256 -> 1`` logit."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(IMAGE_SIZE, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


class MLP256Generator(nn.Module):
    """Classic PyTorch MNIST GAN generator: ``latent_dim -> 256 -> 256 -> 784`` with ReLU."""

    def __init__(self, latent_dim: int = 64):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
            nn.Linear(256, IMAGE_SIZE), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *IMAGE_SHAPE)


class MLP256Discriminator(nn.Module):
    """Classic PyTorch MNIST GAN discriminator: ``784 -> 256 -> 256 -> 1`` with LeakyReLU(0.2)."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(IMAGE_SIZE, 256), nn.LeakyReLU(0.2),
            nn.Linear(256, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


class DCGANGenerator(nn.Module):
    """Small DCGAN generator: ``z -> (2w, 7, 7) -> (w, 14, 14) -> (1, 28, 28)``.

    Args:
        latent_dim: size of ``z``.
        width: channels of the 14x14 feature map; the 7x7 one has twice as many.
    """

    def __init__(self, latent_dim: int = 64, width: int = 32):
        super().__init__()
        self.project = nn.Sequential(
            nn.Linear(latent_dim, 2 * width * 7 * 7, bias=False), nn.BatchNorm1d(2 * width * 7 * 7), nn.ReLU())
        self.width = width
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width), nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.upsample(self.project(z).view(-1, 2 * self.width, 7, 7))


class DCGANDiscriminator(nn.Module):
    """Small DCGAN discriminator: ``(1, 28, 28) -> (w, 14, 14) -> (2w, 7, 7) -> 1`` logit.

    No batch norm: the discriminator sees real and fake images in one batch
    (:data:`bearer_gan.keys.DISCRIMINATOR_INPUT`), and batch statistics across the two would let
    it tell them apart by the batch rather than by the image.
    """

    def __init__(self, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(2 * width * 7 * 7, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


#: Model pairs by name: ``name -> (generator factory of latent_dim, discriminator factory)``.
MODELS: Dict[str, Tuple[Callable[[int], nn.Module], Callable[[], nn.Module]]] = {
    'tutorial': (TutorialGenerator, TutorialDiscriminator),
    'mlp256': (MLP256Generator, MLP256Discriminator),
    'dcgan': (DCGANGenerator, DCGANDiscriminator),
}

#: The latent size each pair was designed with.
DEFAULT_LATENT_DIM = {'tutorial': 100, 'mlp256': 64, 'dcgan': 64}


def build_models(name: str, latent_dim: int = None) -> Tuple[nn.Module, nn.Module]:
    """Build a ``(generator, discriminator)`` pair by name (a key of :data:`MODELS`).

    Args:
        name: which pair.
        latent_dim: size of ``z``; the pair's own default (:data:`DEFAULT_LATENT_DIM`) when None.

    Raises:
        ValueError: for an unknown name or a non-positive latent size.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(sorted(MODELS))}")
    latent_dim = DEFAULT_LATENT_DIM[name] if latent_dim is None else latent_dim
    if latent_dim < 1:
        raise ValueError(f'latent_dim must be a positive integer, got {latent_dim}')
    make_generator, make_discriminator = MODELS[name]
    return make_generator(latent_dim), make_discriminator()
