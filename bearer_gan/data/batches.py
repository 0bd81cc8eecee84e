"""Batches drawn by index from a ``uint8`` image tensor on the training device, scaled to ``[-1, 1]`` per batch.

The whole data set lives on the training device as bytes (:mod:`bearer_gan.data.datasets`), so
a batch is one indexing operation plus one scaling: no per-sample PIL transform (which costs
about 40% of a CPU training step for the small MLPs) and no host-to-device copy per step. The
order of the batches is a pure function of ``(seed, step)``, so a run resumed at any step sees
exactly the batches the uninterrupted run saw. Under DistributedDataParallel each process takes
its contiguous slice of that global batch, so the ranks' slices together are the one-process batch.
"""
from typing import Iterator, Optional, Tuple

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

__all__ = ['to_unit_range', 'ShuffledBatchSampler', 'UnitRangeImages', 'image_batches']


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """``uint8`` images in ``[0, 255]`` to float32 in ``[-1, 1]``: ``(N, C, H, W)`` keeps its shape,
    ``(N, H, W)`` (one channel, as :func:`~bearer_gan.data.datasets.load_mnist` returns) becomes ``(N, 1, H, W)``."""
    if images.dim() == 3:
        images = images.unsqueeze(1)
    return images.float().div_(127.5).sub_(1.0)


class ShuffledBatchSampler(Sampler):
    """Endless batches of indices, each pass over the data in a new random order, resumable at any step.

    The order is a pure function of ``(seed, step)``: pass ``p`` is a permutation drawn from a
    generator seeded with ``(seed, p)`` and step ``s`` takes the ``s mod P``-th slice of pass
    ``s // P``, where ``P = num_images // batch_size`` (the incomplete last slice is dropped).
    A run resumed at step ``s`` therefore sees exactly the batches the uninterrupted run saw.
    ``len()`` is ``P``, the batches in one pass.

    With ``world_size`` processes, ``batch_size`` is still the global batch: rank ``r`` yields the
    ``r``-th of ``world_size`` contiguous slices of it, ``batch_size // world_size`` indices. The
    order does not depend on the number of processes, so a run can resume at another world size.

    Args:
        num_images: size of the data set.
        batch_size: indices per global batch, between 1 and ``num_images``.
        seed: seed of the order.
        start_step: the first batch to yield (the steps a resumed run has already done).
        rank: this process's slice, ``0 <= rank < world_size``.
        world_size: processes sharing each batch; must divide ``batch_size``.
    """

    def __init__(self, num_images: int, batch_size: int, seed: int = 0, start_step: int = 0, rank: int = 0,
                 world_size: int = 1):
        if not 1 <= batch_size <= num_images:
            raise ValueError(f'batch size must be between 1 and the number of images ({num_images}), got {batch_size}')
        if world_size < 1 or not 0 <= rank < world_size or batch_size % world_size:
            raise ValueError(f'batch size {batch_size} must divide into {world_size} equal slices, rank {rank} of them')
        self.num_images, self.batch_size, self.seed, self.step = num_images, batch_size, seed, start_step
        self.slice = slice(rank * batch_size // world_size, (rank + 1) * batch_size // world_size)
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
            yield self.order(epoch)[batch * self.batch_size:(batch + 1) * self.batch_size][self.slice]


class UnitRangeImages(Dataset):
    """Images and labels indexed a whole batch at a time; ``uint8`` images come out scaled to ``[-1, 1]``.

    Args:
        images: ``uint8`` ``(N, C, H, W)`` in ``[0, 255]``, or float already in ``[-1, 1]``.
        labels: ``int64`` ``(N,)``, or None for an unlabelled set (then every label is -1).
    """

    def __init__(self, images: torch.Tensor, labels: Optional[torch.Tensor] = None):
        if labels is not None and len(labels) != len(images):
            raise ValueError(f'{len(images)} images but {len(labels)} labels')
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, indices: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        images = self.images[indices]
        if images.dtype == torch.uint8:
            images = to_unit_range(images)
        labels = (self.labels[indices] if self.labels is not None
                  else torch.full((len(images),), -1, dtype=torch.int64, device=images.device))
        return images, labels


def image_batches(images: torch.Tensor, labels: Optional[torch.Tensor], batch_size: int, seed: int = 0,
                  start_step: int = 0, rank: int = 0, world_size: int = 1) -> DataLoader:
    """Endless shuffled ``(images, labels)`` batches drawn by index from tensors already on the training device.

    A :class:`~torch.utils.data.DataLoader` over :class:`UnitRangeImages` with a
    :class:`ShuffledBatchSampler`: each batch is one indexing operation, every batch has
    ``batch_size`` images in ``[-1, 1]``, and the order depends only on ``seed`` and the step.

    Args:
        images: ``uint8`` ``(N, C, H, W)`` (scaled per batch) or float in ``[-1, 1]``, on the training device.
        labels: ``(N,)`` class labels on the same device, or None (each batch then has labels -1).
        batch_size: images per step, at most ``N``.
        seed: seed of the shuffling order.
        start_step: steps already done (to resume a run where it stopped).
        rank: under DistributedDataParallel, which contiguous slice of each global batch this process takes.
        world_size: the number of processes; each batch then holds ``batch_size // world_size`` images.
    """
    sampler = ShuffledBatchSampler(len(images), batch_size, seed, start_step, rank, world_size)
    # its own generator: a DataLoader iterator otherwise draws a seed from the global RNG, which the noise uses
    return DataLoader(UnitRangeImages(images, labels), sampler=sampler, batch_size=None,
                      generator=torch.Generator().manual_seed(seed))
