"""Drawing from a generator: which network to sample, eval mode, seeded batches, and image grids.

Samples are drawn in eval mode (batch norm uses its running statistics), without gradients,
from noise of their own seeded :class:`torch.Generator`, so sampling never changes training:
the global random state is left untouched. The sampler callback, ``bearer-gan sample``, the
evaluation and the federated server all draw through :func:`generate`.
"""
import contextlib
from typing import Optional

import torch
import torchbearer
from torchvision.utils import save_image

from . import keys

__all__ = ['sampling_generator', 'eval_mode', 'generate', 'class_rows', 'save_grid']


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
             device=None, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``n`` images ``(n, C, H, W)`` in ``[-1, 1]`` from ``generator`` in eval mode, in batches.

    The noise comes from its own seeded :class:`torch.Generator`, so the same ``seed`` gives the
    same ``z`` and the global random state (and with it training) is left untouched.

    Args:
        device: where the noise goes (the generator must be there); the generator's device when None.
        labels: ``(n,)`` classes for a class-conditional generator, called as ``generator(z, labels)``;
            None calls ``generator(z)``.
    """
    device = next(generator.parameters()).device if device is None else device
    noise = torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))
    if labels is not None and tuple(labels.shape) != (n,):
        raise ValueError(f'labels must have shape ({n},), got {tuple(labels.shape)}')
    inputs = (noise,) if labels is None else (noise, labels.long())
    with eval_mode(generator):
        return torch.cat([generator(*(part[start:start + batch_size].to(device) for part in inputs))
                          for start in range(0, n, batch_size)])


def class_rows(num_classes: int, per_row: int) -> torch.Tensor:
    """Labels ``(num_classes * per_row,)`` for a grid with one class per row: ``0 0 .. 0 1 1 .. 1 ..``."""
    return torch.arange(num_classes).repeat_interleave(per_row)


def save_grid(images: torch.Tensor, path: str, nrow: int = 8):
    """Save images in ``[-1, 1]`` as one :func:`~torchvision.utils.make_grid` PNG."""
    save_image(images, path, nrow=nrow, normalize=True, value_range=(-1, 1), pad_value=1.0)
