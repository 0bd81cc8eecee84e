"""Image shapes the model pairs are built for, and the rule the convolutional pairs follow.

Every pair is built from an image shape ``(C, H, W)``. The MLP pairs take any shape. The
convolutional pairs (:mod:`~bearer_gan.models.dcgan`, :mod:`~bearer_gan.models.resnet`) start
from a small square map and double its side once per up-sampling stage, so they accept the sides
``start * 2 ** stages`` with a start map of 4 to 7 pixels and at least one stage: 8, 10, 12, 14,
16, 20, 24, 28, 32, 40, 48, 56, 64, 80, 96, 112, 128, ... (28 = 7 * 4, 32 = 4 * 8, 64 = 4 * 16).
Keeping the start map at 4 to 7 pixels is what DCGAN and SNGAN do (4x4 at 32 and 64 px); it is
also what keeps today's 28 px DCGAN (7x7 -> 14x14 -> 28x28) unchanged.
"""
import numbers
from typing import Sequence, Tuple

__all__ = ['ImageShape', 'image_shape', 'doubling_plan', 'conv_plan']

#: ``(channels, height, width)`` of the images a pair generates and judges.
ImageShape = Tuple[int, int, int]


def _positive_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def image_shape(shape: Sequence[int]) -> ImageShape:
    """Check and normalise an image shape: three positive integers ``(C, H, W)``, as a tuple.

    Raises:
        ValueError: for anything else (a list from JSON is fine).
    """
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence) or len(shape) != 3 \
            or not all(_positive_int(side) for side in shape):
        raise ValueError(f'image_shape must be three positive integers (channels, height, width), got {shape!r}')
    return tuple(int(side) for side in shape)


def doubling_plan(side: int) -> Tuple[int, int]:
    """Split an image side into ``(start, stages)`` with ``side == start * 2 ** stages``.

    ``start`` is between 4 and 7 and ``stages`` at least 1: ``28 -> (7, 2)``, ``32 -> (4, 3)``,
    ``64 -> (4, 4)``, ``8 -> (4, 1)``.

    Raises:
        ValueError: when ``side`` is not of that form (30, 36, 60, anything below 8).
    """
    start, stages = side, 0
    while start > 7 and start % 2 == 0:
        start, stages = start // 2, stages + 1
    if stages == 0 or not 4 <= start <= 7:
        raise ValueError(f'the side must be 4 to 7 pixels doubled one or more times '
                         f'(8, 10, 12, 14, 16, 20, 24, 28, 32, 40, 48, 56, 64, ...), got {side}')
    return start, stages


def conv_plan(shape: ImageShape) -> Tuple[int, int, int]:
    """``(channels, start, stages)`` of the convolutional pairs for ``shape``: see :func:`doubling_plan`.

    Raises:
        ValueError: for a non-square shape or a side that is not 4 to 7 pixels doubled.
    """
    channels, height, width = image_shape(shape)
    if height != width:
        raise ValueError(f'images must be square, got {height}x{width}')
    return (channels, *doubling_plan(height))
