"""What every image data set is, named or a folder: :class:`ImageData`, :class:`DatasetError` and :func:`fit_images`.

These live apart from the loaders so that the named data sets (:mod:`~bearer_gan.data.datasets`),
the folders (:mod:`~bearer_gan.data.image_files`, :mod:`~bearer_gan.data.folders`) and what reads
a loaded set (:mod:`~bearer_gan.data.fingerprint`) all build on them without importing one
another; :func:`~bearer_gan.data.load.load_dataset`, the one entry point that picks a named set
or a folder, sits above all of them. A data set is decoded once and kept as ``uint8`` bytes, a
quarter of the memory of float32; batches are scaled to ``[-1, 1]`` as they are drawn
(:mod:`bearer_gan.data.batches`).
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import torch

__all__ = ['DatasetError', 'ImageData', 'fit_images', 'image_subset']


class DatasetError(RuntimeError):
    """The data set could not be loaded for a reason the user can fix (the message says how)."""


@dataclass(frozen=True)
class ImageData:
    """A decoded image data set.

    Attributes:
        images: ``uint8`` ``(N, C, H, W)`` in ``[0, 255]``, on the CPU until moved; for a folder too large
            for its memory budget, a :class:`~bearer_gan.data.image_files.FolderImages`, which indexes the
            same way (``len``, ``shape``, ``images[i]``, ``images[:64]``) and decodes on demand.
        labels: ``int64`` ``(N,)`` class indices, or None for an unlabelled set.
        classes: the class names, index by index, or None for an unlabelled set.
        name: the data set actually loaded: ``mnist-5k`` after ``mnist`` fell back to it.
        source: for a folder, a digest of its files as listed when loaded (relative paths, sizes,
            modification times, labels: :attr:`~bearer_gan.data.folder_cache.FolderCache.fingerprint`),
            the same whether ``images`` holds them decoded or streams them; None for a named data set.
    """
    images: torch.Tensor  # or a FolderImages, when streamed
    labels: Optional[torch.Tensor]
    classes: Optional[Tuple[str, ...]]
    name: str
    source: Optional[str] = None

    @property
    def image_shape(self) -> Tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return tuple(self.images.shape[1:])

    def __len__(self) -> int:
        return len(self.images)

    @property
    def streamed(self) -> bool:
        """Whether the images are decoded from files on demand rather than held in memory."""
        return not isinstance(self.images, torch.Tensor)

    @property
    def num_classes(self) -> Optional[int]:
        """How many classes the labels index, or None when unlabelled."""
        return None if self.classes is None else len(self.classes)


def image_subset(data: ImageData, count: int, seed: int = 0) -> ImageData:
    """``count`` images of ``data`` (and their labels) drawn at random without replacement, in data set order.

    This is how a data-efficiency experiment is set up (``--max-images``): the same ``count`` and
    ``seed`` always give the same images. A folder's ``source`` records the subset, so its
    fingerprint tells the subsets apart.

    Raises:
        DatasetError: when ``count`` is more than the data set holds.
    """
    if count > len(data):
        raise DatasetError(f'--max-images {count} is more than the {len(data)} images of {data.name!r}')
    chosen = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:count].sort().values
    labels = None if data.labels is None else data.labels[chosen]
    source = None if data.source is None else f'{data.source}; {count} of them, seed {seed}'
    return ImageData(data.images[chosen], labels, data.classes, data.name, source)


def fit_images(images: torch.Tensor, image_size: Optional[int] = None, channels: Optional[int] = None) -> torch.Tensor:
    """Resize ``uint8`` images ``(N, C, H, W)`` so the shorter side is ``image_size`` and centre-crop them square,
    then convert them to ``channels`` (1: ITU-R 601-2 luma, as PIL's ``L``; 3: grey repeated).

    None leaves the size or the channels as they are; so does a size the images already have. Named sets
    and folders go through this one function, so the same image is resized the same way whichever it came from.
    """
    from torchvision.transforms.v2 import functional as transforms
    if image_size is not None and tuple(images.shape[-2:]) != (image_size, image_size):
        images = transforms.center_crop(transforms.resize(images, image_size, antialias=True), [image_size])
    if channels is not None and images.shape[1] != channels:
        if channels == 1:
            images = transforms.rgb_to_grayscale(images[:, :3])
        elif images.shape[1] == 1:
            images = images.expand(-1, channels, -1, -1).contiguous()
        else:
            raise ValueError(f'cannot convert {images.shape[1]}-channel images to {channels} channels')
    return images
