"""Image data: named data sets and folders decoded once into ``uint8`` tensors, and resumable batches.

* :mod:`~bearer_gan.data.datasets`: MNIST, its 5,000 embedded digits, Fashion-MNIST, CIFAR-10.
* :mod:`~bearer_gan.data.batches`: batches by index, scaled to ``[-1, 1]``, in a ``(seed, step)`` order.
"""
from .batches import ShuffledBatchSampler, UnitRangeImages, image_batches, to_unit_range
from .datasets import DATASETS, DatasetError, ImageData, fit_images, load_dataset, load_mnist, read_idx

__all__ = ['DATASETS', 'DatasetError', 'ImageData', 'fit_images', 'load_dataset', 'load_mnist', 'read_idx',
           'ShuffledBatchSampler', 'UnitRangeImages', 'image_batches', 'to_unit_range']
