"""The SNGAN ResNet pair (Miyato et al., 2018), the 32 x 32 network GAN libraries train on CIFAR-10.

Mimicry and StudioGAN call it the CIFAR-10 ResNet:

* generator: ``z -> Linear -> (width, 4, 4)``, three up-sampling residual blocks (BN-ReLU-
  up-conv3x3-BN-ReLU-conv3x3, nearest-neighbour up-sampling, a 1x1 convolution on the shortcut),
  then BN-ReLU-conv3x3-``tanh``;
* discriminator: an "optimized" first block (conv-ReLU-conv-avgpool, shortcut avgpool-conv1x1),
  residual blocks that halve the map down to 8x8, two more at 8x8, then ReLU, a sum over the
  pixels (global sum pooling) and a linear head. No batch norm (real and fake images go through
  it as one batch); it is meant to be trained with spectral norm (``build_models(...,
  spectral_norm=True)``).

Other sizes follow the rule of :mod:`~bearer_gan.models.shapes`: the generator starts from a
4 to 7 pixel map with one up-sampling block per doubling (28 px: 7x7 and two blocks; 64 px: 4x4
and four), and the discriminator halves the map while it is larger than 8 pixels (28 px ends at
7x7, 64 px at 8x8). Its sum pooling makes the head the same size at every resolution.

Widths: the paper uses 256 channels in the generator and 128 in the discriminator (4.3 M and
1.0 M parameters at 32 px): a forward and backward pass of both networks on 64 fakes and 64
real images counts 854 GFLOP (:class:`torch.utils.flop_counter.FlopCounterMode`), many seconds
on a 2-core CPU. The default here is 64 for both (0.37 M and 0.26 M parameters at 32 px,
94 GFLOP for the same pass), so that the pair trains on a CPU; pass ``width`` for the paper's
networks. Weights start as Mimicry's: Xavier-uniform with gain sqrt(2) inside the residual
branches, gain 1 on shortcuts and the outer layers. Unlike Mimicry, the generator's layers that
feed a batch norm have no bias, which the batch norm would cancel.
"""
import math
from typing import List

import torch
import torch.nn.functional as F
from torch import nn

from .shapes import ImageShape, conv_plan

__all__ = ['ResNetGenerator', 'ResNetDiscriminator', 'GeneratorBlock', 'DiscriminatorBlock',
           'OptimizedDiscriminatorBlock']

CIFAR_SHAPE = (3, 32, 32)


def _conv(n_in: int, n_out: int, kernel_size: int, gain: float, bias: bool = True) -> nn.Conv2d:
    conv = nn.Conv2d(n_in, n_out, kernel_size, padding=kernel_size // 2, bias=bias)
    nn.init.xavier_uniform_(conv.weight, gain)
    if bias:
        nn.init.zeros_(conv.bias)
    return conv


class GeneratorBlock(nn.Module):
    """Residual block that doubles the side: ``(N, n_in, H, W) -> (N, n_out, 2H, 2W)``.

    Its convolutions have no bias: every one of them feeds a batch norm (this block's or the
    next one's), which subtracts the mean and with it any bias.
    """

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.residual = nn.Sequential(
            nn.BatchNorm2d(n_in), nn.ReLU(), nn.Upsample(scale_factor=2),
            _conv(n_in, n_out, 3, math.sqrt(2), bias=False),
            nn.BatchNorm2d(n_out), nn.ReLU(), _conv(n_out, n_out, 3, math.sqrt(2), bias=False))
        self.shortcut = nn.Sequential(nn.Upsample(scale_factor=2), _conv(n_in, n_out, 1, 1.0, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(x)


class DiscriminatorBlock(nn.Module):
    """Residual block ``ReLU-conv3x3-ReLU-conv3x3``, halving the side when ``downsample``.

    The shortcut is the identity when neither the channels nor the side change, else a 1x1
    convolution (then average pooling), as in SNGAN.
    """

    def __init__(self, n_in: int, n_out: int, downsample: bool):
        super().__init__()
        pool = [nn.AvgPool2d(2)] if downsample else []
        self.residual = nn.Sequential(
            nn.ReLU(), _conv(n_in, n_out, 3, math.sqrt(2)), nn.ReLU(), _conv(n_out, n_out, 3, math.sqrt(2)), *pool)
        self.shortcut = nn.Sequential(_conv(n_in, n_out, 1, 1.0), *pool) if downsample or n_in != n_out \
            else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(x)


class OptimizedDiscriminatorBlock(nn.Module):
    """SNGAN's first discriminator block: no ReLU before the first convolution, always halves the side."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.residual = nn.Sequential(
            _conv(n_in, n_out, 3, math.sqrt(2)), nn.ReLU(), _conv(n_out, n_out, 3, math.sqrt(2)), nn.AvgPool2d(2))
        self.shortcut = nn.Sequential(nn.AvgPool2d(2), _conv(n_in, n_out, 1, 1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual(x) + self.shortcut(x)


class ResNetGenerator(nn.Module):
    """SNGAN ResNet generator: ``z -> (width, s, s)``, one :class:`GeneratorBlock` per doubling, then conv-``tanh``.

    Args:
        latent_dim: size of ``z`` (128 in the paper).
        image_shape: ``(C, S, S)`` of the images it draws, ``S = s * 2**k`` with ``s`` from 4 to 7.
        width: channels of every block (256 in the paper).

    Raises:
        ValueError: for an image shape the pair cannot build.
    """

    def __init__(self, latent_dim: int = 128, image_shape: ImageShape = CIFAR_SHAPE, *, width: int = 64):
        super().__init__()
        channels, start, stages = conv_plan(image_shape)
        self.start_shape = (width, start, start)
        self.project = nn.Linear(latent_dim, width * start * start, bias=False)  # the first block's batch norm follows
        nn.init.xavier_uniform_(self.project.weight)
        self.blocks = nn.Sequential(*(GeneratorBlock(width, width) for _ in range(stages)))
        self.to_image = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(), _conv(width, channels, 3, 1.0), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images ``(N, C, S, S)`` in ``[-1, 1]`` from noise ``(N, latent_dim)``."""
        return self.to_image(self.blocks(self.project(z).view(-1, *self.start_shape)))


class ResNetDiscriminator(nn.Module):
    """SNGAN ResNet discriminator: residual blocks, ReLU, global sum pooling, linear head.

    The blocks halve the map while it is larger than 8 pixels (the first block always halves it),
    then two more keep its size: four blocks at 32 px, as in SNGAN.

    Args:
        image_shape: ``(C, S, S)`` of the images it judges.
        width: channels of every block (128 in the paper).

    Raises:
        ValueError: for an image shape the pair cannot build.
    """

    def __init__(self, image_shape: ImageShape = CIFAR_SHAPE, *, width: int = 64):
        super().__init__()
        channels, start, stages = conv_plan(image_shape)
        side = start * 2 ** stages
        blocks: List[nn.Module] = [OptimizedDiscriminatorBlock(channels, width)]
        side //= 2
        while side > 8:
            blocks.append(DiscriminatorBlock(width, width, downsample=True))
            side //= 2
        blocks += [DiscriminatorBlock(width, width, downsample=False) for _ in range(2)]
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(width, 1)
        nn.init.xavier_uniform_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Features ``(N, width)``: the blocks, ReLU, then the sum over the pixels."""
        return F.relu(self.blocks(images)).sum(dim=(2, 3))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, 1)`` of images ``(N, C, S, S)`` in ``[-1, 1]``."""
        return self.head(self.features(images))
