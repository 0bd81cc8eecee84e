"""Drawing from a generator: which network to sample, eval mode, seeded batches, and image grids.

Samples are drawn in eval mode (batch norm uses its running statistics), without gradients,
from noise of their own seeded :class:`torch.Generator`, so sampling never changes training:
the global random state is left untouched. The sampler callback, ``bearer-gan sample``, the
evaluation and the federated server all draw through :func:`generate`; the noise itself (and its
truncation) comes from :mod:`bearer_gan.latent`. :func:`walk_frames` draws the frames of the
latent walks that ``bearer-gan sample --interpolate`` animates.
"""
import contextlib
import os
from typing import Optional, Sequence

import numpy as np
import torch
import torchbearer
from torchvision.utils import make_grid, save_image

from . import keys
from .latent import latent_walk, truncated_normal

__all__ = ['sampling_generator', 'eval_mode', 'generate', 'generate_from', 'walk_frames', 'class_rows', 'save_grid',
           'grid_array']


def sampling_generator(state) -> torch.nn.Module:
    """The generator to draw samples from: the moving average when :class:`GeneratorEMA` keeps one, else the model."""
    averaged = state[keys.EMA_GENERATOR] if keys.EMA_GENERATOR in state else None
    return averaged.module if averaged is not None else state[torchbearer.MODEL]


@contextlib.contextmanager
def eval_mode(module: torch.nn.Module):
    """Put ``module`` in eval mode (batch norm uses its running statistics) and back into its previous mode."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


@torch.no_grad()
def generate(generator: torch.nn.Module, latent_dim: int, n: int, seed: int = 0, batch_size: int = 500,
             device=None, labels: Optional[torch.Tensor] = None, truncation: Optional[float] = None) -> torch.Tensor:
    """``n`` images ``(n, C, H, W)`` in ``[-1, 1]`` from ``generator`` in eval mode, in batches.

    The noise comes from its own seeded :class:`torch.Generator`, so the same ``seed`` gives the
    same ``z`` and the global random state (and with it training) is left untouched.

    Args:
        device: where the noise goes (the generator must be there); the generator's device when None.
        labels: ``(n,)`` classes for a class-conditional generator, called as ``generator(z, labels)``;
            None calls ``generator(z)``.
        truncation: draw ``z`` with every entry in ``[-truncation, truncation]``
            (:func:`~bearer_gan.latent.truncated_normal`): more typical, less varied images. None (the
            default) draws the untruncated normal, the same numbers as always.
    """
    if labels is not None and tuple(labels.shape) != (n,):
        raise ValueError(f'labels must have shape ({n},), got {tuple(labels.shape)}')
    noise = truncated_normal(n, latent_dim, truncation, seed)
    return generate_from(generator, noise, labels, batch_size, device)


@torch.no_grad()
def generate_from(generator: torch.nn.Module, noise: torch.Tensor, labels: Optional[torch.Tensor] = None,
                  batch_size: int = 500, device=None) -> torch.Tensor:
    """Images ``(N, C, H, W)`` in ``[-1, 1]`` from given noise ``(N, latent_dim)`` (and labels ``(N,)``),
    in eval mode and in batches: for noise made elsewhere, such as a latent walk's."""
    device = next(generator.parameters()).device if device is None else device
    inputs = (noise,) if labels is None else (noise, labels.long())
    with eval_mode(generator):
        return torch.cat([generator(*(part[start:start + batch_size].to(device) for part in inputs))
                          for start in range(0, len(noise), batch_size)])


@torch.no_grad()
def walk_frames(generator: torch.nn.Module, latent_dim: int, walks: int, frames: int,
                classes: Optional[Sequence[int]] = None, truncation: Optional[float] = None, seed: int = 0,
                batch_size: int = 500, device=None) -> torch.Tensor:
    """The images of ``walks`` latent walks (:func:`~bearer_gan.latent.latent_walk`), frame by frame.

    Args:
        classes: for a class-conditional generator, the labels drawn for each walk's ``z`` (one
            column of the grid each); None for an unconditional one.
        truncation: truncate the walks' endpoints (:func:`~bearer_gan.latent.truncated_normal`).

    Returns:
        ``(frames, walks * C, channels, H, W)`` images in ``[-1, 1]``, cells walk-major
        (``C = len(classes)``, 1 when None); frame 0 is drawn from the walks' first points, the
        last frame from their last.
    """
    z, labels = latent_walk(walks, frames, latent_dim, classes, truncation, seed)
    cells = z.shape[1]
    images = generate_from(generator, z.flatten(0, 1), None if labels is None else labels.flatten(),
                           batch_size, device)
    return images.reshape(frames, cells, *images.shape[1:])


def class_rows(num_classes: int, per_row: int) -> torch.Tensor:
    """Labels ``(num_classes * per_row,)`` for a grid with one class per row: ``0 0 .. 0 1 1 .. 1 ..``."""
    return torch.arange(num_classes).repeat_interleave(per_row)


def save_grid(images: torch.Tensor, path, nrow: int = 8):
    """Save images in ``[-1, 1]`` as one :func:`~torchvision.utils.make_grid` PNG, to a path or a binary file."""
    save_image(images, path, nrow=nrow, normalize=True, value_range=(-1, 1), pad_value=1.0,
               format=None if isinstance(path, (str, os.PathLike)) else 'png')


def grid_array(images: torch.Tensor, nrow: int = 8, scale: int = 1, multiple: int = 1) -> np.ndarray:
    """One :func:`~torchvision.utils.make_grid` of images ``(B, C, H, W)`` in ``[-1, 1]`` as ``uint8`` RGB
    ``(height, width, 3)`` on white: each pixel repeated ``scale`` times each way (a 28-pixel digit is small on
    a screen), then the sides padded with white up to a multiple of ``multiple`` (16 for video codecs)."""
    grid = make_grid(images.detach().float().cpu(), nrow=nrow, normalize=True, value_range=(-1, 1), pad_value=1.0)
    pixels = (grid.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    pixels = pixels.repeat(scale, axis=0).repeat(scale, axis=1)
    height, width = -pixels.shape[0] % multiple, -pixels.shape[1] % multiple
    return np.pad(pixels, ((0, height), (0, width), (0, 0)), constant_values=255)
