"""The official MNIST and Fashion-MNIST files, found and read without writing anything.

The shipped classifiers are measured on these test sets, and their reference statistics are
computed from them, so the evaluation needs them in two places: ``scripts/train_classifier.py``
and the tests. Both sets come as the four idx files of LeCun's format, gzipped
(``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``,
``t10k-labels-idx1-ubyte.gz``), either in torchvision's layout (``<root>/MNIST/raw``,
``<root>/FashionMNIST/raw``) or flat in one folder; uncompressed files (as torchvision leaves
them) are read too. They are read with gzip and numpy, so the folder may be read-only.

Where they are found:

* **MNIST test set**: the folder given, else the folder named by the environment variable
  ``BEARER_GAN_MNIST_TEST`` (:data:`MNIST_TEST_ENV`), else the data dir (``./data`` unless
  given), where torchvision downloads MNIST when it is missing and the network is reachable.
  Offline, with none of these, :func:`load_mnist_test` raises :class:`FileNotFoundError`
  naming the setting, and the tests that need it skip.
* **Fashion-MNIST** (training and test sets): the folder given, else the one named by
  ``BEARER_GAN_FASHION_MNIST`` (:data:`FASHION_MNIST_ENV`), else
  ``/usr/share/datasets/fashion-mnist`` (:data:`FASHION_MNIST_DIR`), where the Debian package
  ``dataset-fashion-mnist`` installs the four files.
"""
import contextlib
import gzip
import io
import os
from typing import Optional, Tuple

import numpy as np
import torch

__all__ = ['MNIST_TEST_ENV', 'FASHION_MNIST_ENV', 'FASHION_MNIST_DIR', 'read_idx_pair', 'load_mnist_test',
           'load_fashion_mnist']

#: Environment variable naming a folder with the MNIST test files (``t10k-*-ubyte.gz``, flat or in ``MNIST/raw``).
MNIST_TEST_ENV = 'BEARER_GAN_MNIST_TEST'
#: Environment variable naming a folder with the four Fashion-MNIST files (flat or in ``FashionMNIST/raw``).
FASHION_MNIST_ENV = 'BEARER_GAN_FASHION_MNIST'
#: Where Debian's ``dataset-fashion-mnist`` installs the four official files.
FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist'

_MAGIC = {3: 2051, 1: 2049}  # idx magic numbers of uint8 images (3 dimensions) and labels (1 dimension)


def _read_idx(path: str, dims: int) -> np.ndarray:
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as handle:
        data = handle.read()
    header = np.frombuffer(data, dtype='>i4', count=1 + dims)
    if header[0] != _MAGIC[dims]:
        raise ValueError(f'{path} is not an idx file (magic number {header[0]}, expected {_MAGIC[dims]})')
    shape = tuple(int(size) for size in header[1:])
    return np.frombuffer(data, dtype=np.uint8, offset=4 * (1 + dims)).reshape(shape)


def _find(folder: str, name: str) -> Optional[str]:
    for candidate in (name, name[:-len('.gz')]):
        if os.path.isfile(os.path.join(folder, candidate)):
            return os.path.join(folder, candidate)
    return None


def read_idx_pair(root: str, layout: str, split: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """Images and labels of one split of an MNIST-format data set.

    Args:
        root: a folder holding the files, flat or in torchvision's ``<root>/<layout>/raw``.
        layout: torchvision's folder name, ``'MNIST'`` or ``'FashionMNIST'``.
        split: ``'train'`` or ``'t10k'`` (the test set).

    Returns:
        ``uint8`` images ``(N, 28, 28)`` in ``[0, 255]`` and ``int64`` labels ``(N,)``.

    Raises:
        FileNotFoundError: naming the folders searched when the files are in neither.
        ValueError: when a file is not in idx format, or images and labels disagree in number.
    """
    names = (f'{split}-images-idx3-ubyte.gz', f'{split}-labels-idx1-ubyte.gz')
    folders = (os.path.join(root, layout, 'raw'), root)
    for folder in folders:
        paths = [_find(folder, name) for name in names]
        if all(paths):
            images, labels = _read_idx(paths[0], 3), _read_idx(paths[1], 1)
            if len(images) != len(labels):
                raise ValueError(f'{paths[0]} holds {len(images)} images but {paths[1]} {len(labels)} labels')
            return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))
    raise FileNotFoundError(f'{" and ".join(names)} not found in {folders[0]!r} or {folders[1]!r}')


def _download_mnist_test(data_dir: str) -> Tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets import MNIST
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        dataset = MNIST(data_dir, train=False, download=True)
    return dataset.data, dataset.targets


def load_mnist_test(test_dir: Optional[str] = None, data_dir: str = './data',
                    download: bool = True) -> Tuple[torch.Tensor, torch.Tensor]:
    """The 10,000 MNIST test digits: ``uint8`` images ``(N, 28, 28)`` in ``[0, 255]``, ``int64`` labels ``(N,)``.

    Searched in this order: ``test_dir``; the folder in ``$BEARER_GAN_MNIST_TEST``; ``data_dir``
    (flat or ``data_dir/MNIST/raw``); finally, when ``download`` is true, torchvision downloads
    MNIST into ``data_dir``.

    Raises:
        FileNotFoundError: when the files are not where ``test_dir`` or the environment variable
            says, or nowhere and the download failed; the message says what to set.
    """
    if test_dir is not None:
        return read_idx_pair(test_dir, 'MNIST', 't10k')
    if os.environ.get(MNIST_TEST_ENV):
        try:
            return read_idx_pair(os.environ[MNIST_TEST_ENV], 'MNIST', 't10k')
        except FileNotFoundError as error:
            raise FileNotFoundError(f'{MNIST_TEST_ENV}: {error}') from error
    try:
        return read_idx_pair(data_dir, 'MNIST', 't10k')
    except FileNotFoundError as missing:
        if not download:
            raise FileNotFoundError(f'{missing}; set {MNIST_TEST_ENV} to a folder holding them') from missing
    try:
        return _download_mnist_test(data_dir)
    except (RuntimeError, OSError) as error:  # URLError is an OSError; RuntimeError once every mirror failed
        lines = [line.strip() for line in str(error).splitlines() if line.strip()]
        reason = lines[-1] if lines else type(error).__name__  # torchvision's last line holds the cause
        raise FileNotFoundError(f'MNIST test set not found in {data_dir!r} and the download failed ({reason}); '
                                f'set {MNIST_TEST_ENV} to a folder holding t10k-images-idx3-ubyte.gz and '
                                't10k-labels-idx1-ubyte.gz') from error


def load_fashion_mnist(train: bool = False, folder: Optional[str] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Fashion-MNIST's 60,000 training or 10,000 test images, ``uint8`` ``(N, 28, 28)``, and ``int64`` labels ``(N,)``.

    Args:
        train: the training set when true, else the test set.
        folder: where the files are; ``$BEARER_GAN_FASHION_MNIST`` or :data:`FASHION_MNIST_DIR` when None.

    Raises:
        FileNotFoundError: naming the folders searched.
    """
    folder = folder or os.environ.get(FASHION_MNIST_ENV) or FASHION_MNIST_DIR
    return read_idx_pair(folder, 'FashionMNIST', 'train' if train else 't10k')
