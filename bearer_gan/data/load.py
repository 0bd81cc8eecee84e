"""One way to load any data set: :func:`load_dataset` takes a name or a folder and returns :class:`ImageData`.

Training, evaluation and user code name a data set with one string: one of :data:`DATASETS`
(:mod:`~bearer_gan.data.datasets`) or else the path of a folder of images
(:mod:`~bearer_gan.data.folders`). The choice between the two lives here, above both, so that
neither the named sets nor the folder modules import each other, and every set is resized and
converted the same way (:func:`~bearer_gan.data.base.fit_images`).
"""
from typing import Optional

from .base import ImageData, fit_images
from .datasets import DATASETS, load_named
from .folders import load_folder

__all__ = ['load_dataset']


def load_dataset(name: str, data_dir: str = './data', image_size: Optional[int] = None,
                 channels: Optional[int] = None, memory_limit: Optional[int] = None,
                 num_workers: Optional[int] = None, progress: bool = True) -> ImageData:
    """Load a data set by name (:data:`DATASETS`) or a folder of images, decoded into ``uint8`` ``(N, C, H, W)``.

    Args:
        name: a name from :data:`DATASETS`, or the path of a folder of images.
        data_dir: where named sets are found or downloaded to, and where folders are cached.
        image_size: resize the shorter side to this and centre-crop square; None keeps the size.
        channels: 1 or 3; None keeps the data set's own (for a folder: 1 when every image is greyscale).
        memory_limit, num_workers, progress: for a folder, as :func:`~bearer_gan.data.folders.load_folder`
            takes them (named sets are always held in memory).

    Raises:
        DatasetError: when the data cannot be found, downloaded or read (the message says what to do).
        ValueError: for an image size below 8 or a channel count other than 1 or 3.
    """
    if image_size is not None and image_size < 8:
        raise ValueError(f'image size must be at least 8 pixels, got {image_size}')
    if channels not in (None, 1, 3):
        raise ValueError(f'channels must be 1 or 3, got {channels}')
    if name not in DATASETS:
        return load_folder(name, data_dir, image_size=image_size, channels=channels, memory_limit=memory_limit,
                           num_workers=num_workers, progress=progress)
    data = load_named(name, data_dir)
    images = fit_images(data.images, image_size, channels)
    return data if images is data.images else ImageData(images, data.labels, data.classes, data.name)
