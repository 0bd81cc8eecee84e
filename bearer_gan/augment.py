"""Differentiable augmentation (DiffAugment, Zhao et al. 2020): the discriminator sees transformed images.

On little data the discriminator memorises the real images and its gradients stop teaching the
generator. Transforming every image the discriminator sees, real and fake alike, in its own
update and in the generator's, keeps it from memorising while the generator still learns the
untransformed distribution: the transforms are differentiable, so the generator's gradient flows
back through them. Writing them here rather than using torchvision's transforms is deliberate:
those draw from the global random state one image at a time and are not all differentiable, and
under DistributedDataParallel every image of the global batch must get the transform the
one-process run would give it (``draw``, :data:`~bearer_gan.keys.BATCH_DRAW`).

The operations, each per image and each drawn afresh at every call:

* ``translation``: shift by up to ``1/8`` of the side in each direction (whole pixels), the space
  left filled with ``-1`` (black, the background of MNIST-like images);
* ``cutout``: a square of half the side, centred anywhere (partly outside is fine), set to ``0``;
* ``color``: brightness ``+U(-0.5, 0.5)``, saturation ``x U(0, 2)`` about the pixel's channel mean,
  contrast ``x U(0.5, 1.5)`` about the image's mean (DiffAugment's ranges, for images in ``[-1, 1]``).

A :class:`Policy` names the operations in order and the probability ``p`` that an image gets each
one (1 for DiffAugment; adaptive with ADA, :class:`~bearer_gan.callbacks.AdaptiveAugment`). The
trial reads the policy from :data:`~bearer_gan.keys.AUGMENT` (:func:`augmented`).
"""
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple

import torch
import torch.nn.functional as F

from . import keys

__all__ = ['OPERATIONS', 'TRANSLATION', 'CUTOUT', 'METHODS', 'DEFAULT_OPERATIONS', 'Policy', 'parse_policy',
           'parse_augment', 'translation', 'cutout', 'color', 'augmented']

#: The fraction of the side an image is shifted by at most (``translation``).
TRANSLATION = 1 / 8
#: The side of the square ``cutout`` blanks, as a fraction of the image's side.
CUTOUT = 1 / 2
#: ``draw(sample, rows, *shape, **options)``: random numbers for each of ``rows`` images (see :data:`~bearer_gan.keys.BATCH_DRAW`).
Draw = Callable[..., torch.Tensor]


def _local(sample, rows, *shape, **options):
    return sample(rows, *shape, **options)


def _uniform(draw: Draw, images: torch.Tensor, *shape: int) -> torch.Tensor:
    return draw(torch.rand, images.size(0), *shape, device=images.device, dtype=images.dtype)


def _integers(draw: Draw, images: torch.Tensor, low: int, high: int) -> torch.Tensor:
    """``(N,)`` integers in ``[low, high]``, one per image."""
    return draw(lambda *size, **options: torch.randint(low, high + 1, size, **options), images.size(0),
                device=images.device)


def translation(images: torch.Tensor, draw: Draw = _local, fraction: float = TRANSLATION) -> torch.Tensor:
    """Shift each image ``(N, C, H, W)`` by whole pixels, up to ``fraction`` of its side each way; fill with -1."""
    n, _, height, width = images.shape
    shift_y, shift_x = int(height * fraction + 0.5), int(width * fraction + 0.5)
    dy, dx = _integers(draw, images, -shift_y, shift_y), _integers(draw, images, -shift_x, shift_x)
    padded = F.pad(images, [shift_x, shift_x, shift_y, shift_y], value=-1.0)
    rows = (torch.arange(height, device=images.device)[None, :] + shift_y - dy[:, None])  # (N, H)
    cols = (torch.arange(width, device=images.device)[None, :] + shift_x - dx[:, None])   # (N, W)
    index = torch.arange(n, device=images.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[index, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def cutout(images: torch.Tensor, draw: Draw = _local, fraction: float = CUTOUT) -> torch.Tensor:
    """Set a square of ``fraction`` of the side, centred anywhere in each image, to 0."""
    _, _, height, width = images.shape
    size_y, size_x = int(height * fraction + 0.5), int(width * fraction + 0.5)
    top = _integers(draw, images, 0, height + (1 - size_y % 2) - 1) - size_y // 2  # the square's first row
    left = _integers(draw, images, 0, width + (1 - size_x % 2) - 1) - size_x // 2
    rows = torch.arange(height, device=images.device)[None, :]
    cols = torch.arange(width, device=images.device)[None, :]
    inside_rows = (rows >= top[:, None]) & (rows < top[:, None] + size_y)    # (N, H)
    inside_cols = (cols >= left[:, None]) & (cols < left[:, None] + size_x)  # (N, W)
    keep = ~(inside_rows[:, :, None] & inside_cols[:, None, :])
    return images * keep[:, None].to(images.dtype)


def color(images: torch.Tensor, draw: Draw = _local) -> torch.Tensor:
    """Brightness, saturation and contrast, each scaled per image by a random factor (DiffAugment's ranges)."""
    images = images + (_uniform(draw, images, 1, 1, 1) - 0.5)
    mean = images.mean(dim=1, keepdim=True)
    images = (images - mean) * (_uniform(draw, images, 1, 1, 1) * 2) + mean
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return (images - mean) * (_uniform(draw, images, 1, 1, 1) + 0.5) + mean


#: The operations a policy may name, in the order DiffAugment applies them.
OPERATIONS: Dict[str, Callable[..., torch.Tensor]] = {'color': color, 'translation': translation, 'cutout': cutout}


@dataclass
class Policy:
    """Which operations transform the images the discriminator sees, and how often.

    Attributes:
        operations: names from :data:`OPERATIONS`, applied in that order.
        p: the probability that an image gets each operation (drawn per image and operation); 1 is
            DiffAugment, an adaptive ``p`` is ADA's. The operation's random draws are made for
            every image either way, so the random state moves the same whatever ``p`` is.
    """
    operations: Tuple[str, ...]
    p: float = 1.0

    def __call__(self, images: torch.Tensor, draw: Optional[Draw] = None) -> torch.Tensor:
        """Transform ``images`` ``(N, C, H, W)`` in ``[-1, 1]``; differentiable in ``images``."""
        draw = _local if draw is None else draw
        for name in self.operations:
            changed = OPERATIONS[name](images, draw)
            chosen = _uniform(draw, images, 1, 1, 1) < self.p
            images = torch.where(chosen, changed, images) if self.p < 1 else changed
        return images


def parse_policy(text: str) -> Tuple[str, ...]:
    """``'translation,cutout'`` -> ``('translation', 'cutout')``, in :data:`OPERATIONS`' order.

    Raises:
        ValueError: for an empty policy or an unknown operation (the message lists the known ones).
    """
    names = tuple(name.strip() for name in text.split(',') if name.strip())
    unknown = [name for name in names if name not in OPERATIONS]
    if not names or unknown:
        raise ValueError(f"unknown augmentation {unknown[0] if unknown else text!r}: choose from "
                         f"{', '.join(OPERATIONS)}, comma-separated")
    return tuple(name for name in OPERATIONS if name in names)


#: ``--augment`` methods: every operation always (DiffAugment), or with an adaptive probability (ADA).
METHODS = ('diffaugment', 'ada')
#: The operations of ``--augment diffaugment`` or ``ada`` without a list: translation only, the one
#: that helped in a first probe on MNIST (one seed); translation with cutout made it worse there.
DEFAULT_OPERATIONS = ('translation',)


def parse_augment(text: str) -> Tuple[str, Tuple[str, ...]]:
    """``'ada:translation,color'`` -> ``('ada', ('color', 'translation'))``; ``'diffaugment'`` takes
    :data:`DEFAULT_OPERATIONS`.

    Raises:
        ValueError: for another method or an unknown operation (the message says what there is).
    """
    method, colon, operations = text.partition(':')
    if method not in METHODS:
        raise ValueError(f"unknown augmentation method {method!r}: choose {' or '.join(METHODS)}, optionally "
                         f"followed by :operations, e.g. diffaugment:translation,cutout")
    return method, parse_policy(operations) if colon else DEFAULT_OPERATIONS


def augmented(state, images: torch.Tensor) -> torch.Tensor:
    """``images`` as the discriminator should see them: transformed by the policy in
    :data:`~bearer_gan.keys.AUGMENT` (drawing through :data:`~bearer_gan.keys.BATCH_DRAW` when there is
    one), or unchanged when there is none."""
    policy = state.get(keys.AUGMENT)
    return images if policy is None else policy(images, state.get(keys.BATCH_DRAW))
