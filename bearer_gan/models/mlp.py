"""The two MLP pairs, for images of any shape ``(C, H, W)``.

* ``tutorial``: the MLPs of torchbearer's GAN tutorial (latent 100).
* ``mlp256``: the 3-layer, hidden-256 MLPs of the classic PyTorch MNIST GAN tutorial (latent 64).

They see an image as a flat vector of ``C * H * W`` values, so only the first layer of the
discriminator and the last of the generator grow with the image. At ``(1, 28, 28)`` they are
exactly the MNIST networks the package has always trained: same layers, same ``state_dict`` keys,
so older ``generator.pt`` files and checkpoints load.
"""
import math

import torch
from torch import nn

from .base import SequentialDiscriminator
from .shapes import ImageShape, image_shape as check_image_shape

__all__ = ['TutorialGenerator', 'TutorialDiscriminator', 'MLP256Generator', 'MLP256Discriminator']

MNIST_SHAPE = (1, 28, 28)


class TutorialGenerator(nn.Module):
    """torchbearer tutorial generator: ``latent_dim -> 128 -> 256 -> 512 -> C*H*W``, then ``tanh``.

    The tutorial writes ``nn.BatchNorm1d(n, 0.8)``, which sets *eps* (not momentum) to 0.8, a
    slip copied from an older Keras port. We use PyTorch's defaults (eps=1e-5, momentum=0.1).

    Args:
        latent_dim: size of ``z``.
        image_shape: ``(C, H, W)`` of the images it draws.
    """

    def __init__(self, latent_dim: int = 100, image_shape: ImageShape = MNIST_SHAPE):
        super().__init__()
        self.image_shape = check_image_shape(image_shape)

        def block(n_in, n_out, batch_norm=True):
            layers = [nn.Linear(n_in, n_out)]
            if batch_norm:
                layers.append(nn.BatchNorm1d(n_out))
            layers.append(nn.LeakyReLU(0.2))
            return layers

        self.net = nn.Sequential(
            *block(latent_dim, 128, batch_norm=False), *block(128, 256), *block(256, 512),
            nn.Linear(512, math.prod(self.image_shape)), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images ``(N, C, H, W)`` in ``[-1, 1]`` from noise ``(N, latent_dim)``."""
        return self.net(z).view(-1, *self.image_shape)


class TutorialDiscriminator(SequentialDiscriminator):
    """torchbearer tutorial discriminator: ``C*H*W -> 512 -> 256 -> 1`` logit.

    Args:
        image_shape: ``(C, H, W)`` of the images it judges.
    """

    def __init__(self, image_shape: ImageShape = MNIST_SHAPE):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(math.prod(check_image_shape(image_shape)), 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))


class MLP256Generator(nn.Module):
    """Classic PyTorch MNIST GAN generator: ``latent_dim -> 256 -> 256 -> C*H*W`` with ReLU, then ``tanh``.

    Args:
        latent_dim: size of ``z``.
        image_shape: ``(C, H, W)`` of the images it draws.
    """

    def __init__(self, latent_dim: int = 64, image_shape: ImageShape = MNIST_SHAPE):
        super().__init__()
        self.image_shape = check_image_shape(image_shape)
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
            nn.Linear(256, math.prod(self.image_shape)), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images ``(N, C, H, W)`` in ``[-1, 1]`` from noise ``(N, latent_dim)``."""
        return self.net(z).view(-1, *self.image_shape)


class MLP256Discriminator(SequentialDiscriminator):
    """Classic PyTorch MNIST GAN discriminator: ``C*H*W -> 256 -> 256 -> 1`` with LeakyReLU(0.2).

    Args:
        image_shape: ``(C, H, W)`` of the images it judges.
    """

    def __init__(self, image_shape: ImageShape = MNIST_SHAPE):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(math.prod(check_image_shape(image_shape)), 256), nn.LeakyReLU(0.2),
            nn.Linear(256, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))
