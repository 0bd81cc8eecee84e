"""Image data: named data sets and folders decoded once into ``uint8`` tensors, and resumable batches.

* :mod:`~bearer_gan.data.base`: what every set is (:class:`ImageData`), its one error, and how images are fitted.
* :mod:`~bearer_gan.data.datasets`: MNIST, its 5,000 embedded digits, Fashion-MNIST, CIFAR-10.
* :mod:`~bearer_gan.data.load`: :func:`load_dataset`, a named set or else a folder, fitted to a size and channels.
* :mod:`~bearer_gan.data.image_files`: which files of a folder are images, and the one way each is decoded.
* :mod:`~bearer_gan.data.folders`: a folder of one's own images as a data set, decoded once.
* :mod:`~bearer_gan.data.folder_cache`: the decoded folder cached in ``data_dir/folders``.
* :mod:`~bearer_gan.data.batches`: batches by index, scaled to ``[-1, 1]``, in a ``(seed, step)`` order.
* :mod:`~bearer_gan.data.streaming`: a set larger than its memory budget, decoded by workers in that order.
* :mod:`~bearer_gan.data.fingerprint`: what a run trained on: the set, its size and a content hash.
"""
from .batches import ShuffledBatchSampler, UnitRangeImages, image_batches, to_unit_range
from .base import DatasetError, ImageData, fit_images, image_subset
from .datasets import DATASETS, load_mnist, read_idx
from .fingerprint import data_fingerprint, fingerprint_difference
from .folders import load_folder
from .image_files import IMAGE_EXTENSIONS, FolderImages, FolderListing, decode_image, list_folder
from .load import load_dataset
from .streaming import (DeviceBatches, LabelledImages, dataset_batches, decode_workers, memory_budget,
                        stream_workers, streamed_batches)

__all__ = ['DATASETS', 'DatasetError', 'ImageData', 'fit_images', 'image_subset', 'load_dataset', 'load_mnist', 'read_idx',
           'ShuffledBatchSampler', 'UnitRangeImages', 'image_batches', 'to_unit_range',
           'data_fingerprint', 'fingerprint_difference',
           'IMAGE_EXTENSIONS', 'FolderImages', 'FolderListing', 'decode_image', 'list_folder', 'load_folder',
           'DeviceBatches', 'LabelledImages', 'dataset_batches', 'decode_workers', 'memory_budget', 'stream_workers',
           'streamed_batches']
