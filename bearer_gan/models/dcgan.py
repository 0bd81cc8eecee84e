"""A small DCGAN (Radford et al., 2016) for square images of 8 to 128+ pixels and any channel count.

The generator projects ``z`` to a square start map of 4 to 7 pixels and doubles it with strided
transposed convolutions (kernel 4, stride 2) until it reaches the image size; the discriminator
mirrors it with strided convolutions. Channels double at each halving of the map, from ``width``
next to the image: at 28 px that is ``z -> (2w, 7, 7) -> (w, 14, 14) -> (C, 28, 28)`` (the pair the
package has always trained, same ``state_dict`` keys), at 32 px ``z -> (4w, 4, 4) -> (2w, 8, 8) ->
(w, 16, 16) -> (C, 32, 32)``, at 64 px one stage more from ``(8w, 4, 4)``. Starting at 4x4 at 32
and 64 px is the DCGAN paper's choice; starting at 7x7 at 28 px keeps the MNIST network unchanged.
Accepted sides are listed in :mod:`~bearer_gan.models.shapes`.

The default ``width`` of 32 keeps the networks small enough to train on a CPU (the DCGAN paper's
64 px network has ``width`` 128).
"""
from typing import List

import torch
from torch import nn

from .base import SequentialDiscriminator
from .shapes import ImageShape, conv_plan

__all__ = ['DCGANGenerator', 'DCGANDiscriminator']

MNIST_SHAPE = (1, 28, 28)


class DCGANGenerator(nn.Module):
    """DCGAN generator: ``z -> (w * 2**(k-1), s, s) -> ... -> (w, S/2, S/2) -> (C, S, S)``, then ``tanh``.

    ``S = s * 2**k`` with a start side ``s`` of 4 to 7 (28 = 7 * 2**2, 32 = 4 * 2**3, 64 = 4 * 2**4).

    Args:
        latent_dim: size of ``z``.
        image_shape: ``(C, S, S)`` of the images it draws.
        width: channels of the feature map next to the image; each map twice as small has twice as many.

    Raises:
        ValueError: for an image shape the pair cannot build.
    """

    def __init__(self, latent_dim: int = 64, image_shape: ImageShape = MNIST_SHAPE, *, width: int = 32):
        super().__init__()
        channels, start, stages = conv_plan(image_shape)
        self.start_shape = (width * 2 ** (stages - 1), start, start)
        self.project = nn.Sequential(
            nn.Linear(latent_dim, self.start_shape[0] * start * start, bias=False),
            nn.BatchNorm1d(self.start_shape[0] * start * start), nn.ReLU())
        layers: List[nn.Module] = []
        for stage in range(stages - 1, 0, -1):  # (w * 2**stage) -> (w * 2**(stage-1)) channels, side doubled
            layers += [nn.ConvTranspose2d(width * 2 ** stage, width * 2 ** (stage - 1), 4, stride=2, padding=1,
                                          bias=False),
                       nn.BatchNorm2d(width * 2 ** (stage - 1)), nn.ReLU()]
        layers += [nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1), nn.Tanh()]
        self.upsample = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images ``(N, C, S, S)`` in ``[-1, 1]`` from noise ``(N, latent_dim)``."""
        return self.upsample(self.project(z).view(-1, *self.start_shape))


class DCGANDiscriminator(SequentialDiscriminator):
    """DCGAN discriminator: ``(C, S, S) -> (w, S/2, S/2) -> ... -> (w * 2**(k-1), s, s) -> 1`` logit.

    No batch norm: the discriminator sees real and fake images in one batch
    (:data:`bearer_gan.keys.DISCRIMINATOR_INPUT`), and batch statistics across the two would let
    it tell them apart by the batch rather than by the image.

    Args:
        image_shape: ``(C, S, S)`` of the images it judges.
        width: channels of the first (largest) feature map; each map twice as small has twice as many.

    Raises:
        ValueError: for an image shape the pair cannot build.
    """

    def __init__(self, image_shape: ImageShape = MNIST_SHAPE, *, width: int = 32):
        super().__init__()
        channels, start, stages = conv_plan(image_shape)
        layers: List[nn.Module] = []
        for stage in range(stages):  # side halved, channels doubled
            layers += [nn.Conv2d(channels if stage == 0 else width * 2 ** (stage - 1), width * 2 ** stage, 4,
                                 stride=2, padding=1),
                       nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(width * 2 ** (stages - 1) * start * start, 1))
