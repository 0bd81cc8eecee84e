"""Image data: named data sets and folders decoded once into ``uint8`` tensors, and resumable batches.

* :mod:`~bearer_gan.data.datasets`: MNIST, its 5,000 embedded digits, Fashion-MNIST, CIFAR-10.
* :mod:`~bearer_gan.data.batches`: batches by index, scaled to ``[-1, 1]``, in a ``(seed, step)`` order.
* :mod:`~bearer_gan.data.fingerprint`: what a run trained on: the set, its size and a content hash.
"""
from .batches import ShuffledBatchSampler, UnitRangeImages, image_batches, to_unit_range
from .datasets import DATASETS, DatasetError, ImageData, fit_images, load_dataset, load_mnist, read_idx
from .fingerprint import data_fingerprint, fingerprint_difference

__all__ = ['DATASETS', 'DatasetError', 'ImageData', 'fit_images', 'load_dataset', 'load_mnist', 'read_idx',
           'ShuffledBatchSampler', 'UnitRangeImages', 'image_batches', 'to_unit_range',
           'data_fingerprint', 'fingerprint_difference']
