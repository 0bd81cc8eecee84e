"""A data set larger than its memory budget, streamed from disk in the same resumable order.

A folder whose decoded ``uint8`` images would take more than the memory they may use
(:func:`memory_budget`) is not held in memory: :class:`~torch.utils.data.DataLoader` worker
processes decode each batch's files (:class:`~bearer_gan.data.image_files.FolderImages`) while the
training process trains. The batches come from the same
:class:`~bearer_gan.data.batches.ShuffledBatchSampler`, as the loader's batch sampler, so their
order is the same pure function of ``(seed, step)`` as in memory, and the images are decoded by
the same function as an in-memory load: a streamed run gives bit-identical batches, resumes
exactly, and may switch to memory (or back) between a stop and its ``--resume``. Workers send
``uint8`` batches; they are scaled to ``[-1, 1]`` on the training device, as in memory. Under
DistributedDataParallel each process decodes only its slice of each global batch, as in memory.
"""
import os
from typing import Iterator, Optional, Tuple

import torch
from torch.utils.data import DataLoader, Dataset

from .batches import ShuffledBatchSampler, image_batches, to_unit_range

__all__ = ['available_memory', 'memory_budget', 'cpu_count', 'decode_workers', 'stream_workers', 'LabelledImages',
           'DeviceBatches', 'streamed_batches', 'dataset_batches']


def available_memory() -> int:
    """Bytes of RAM the system can give without swapping (Linux's ``MemAvailable``; free pages elsewhere)."""
    try:
        with open('/proc/meminfo') as handle:
            for line in handle:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf('SC_AVPHYS_PAGES') * os.sysconf('SC_PAGE_SIZE')


# docs: budget
def memory_budget(gib: Optional[float] = None, device='cpu') -> int:
    """Bytes a data set's decoded images may take before it is streamed from disk instead.

    Args:
        gib: the budget in GiB (``--data-memory``); 0 streams every folder. None: half of the RAM
            available now, and on a GPU at most half of its free memory too, since the images are
            moved there. The other half is left to the models, their activations and optimizer
            states, the operating system's file cache, and the copy made while moving to the GPU.
    """
    if gib is not None:
        return int(gib * 2 ** 30)
    budget = available_memory() // 2
    device = torch.device(device)
    if device.type == 'cuda':
        free, _ = torch.cuda.mem_get_info(device)
        budget = min(budget, free // 2)
    return budget
# docs: end budget


def cpu_count() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else (os.cpu_count() or 1)


def decode_workers(num_files: int) -> int:
    """Processes for the one pass that decodes a folder: every core (at most 8), none for under 500 files,
    where starting them costs more than they save."""
    return 0 if num_files < 500 else min(cpu_count(), 8)


def stream_workers() -> int:
    """Processes decoding while training: every core but the training process's (at least 1, at most 8)."""
    return max(1, min(cpu_count() - 1, 8))


class LabelledImages(Dataset):
    """``(image, label)`` by index from a :class:`~bearer_gan.data.image_files.FolderImages` and its labels.

    Args:
        images: indexes to ``uint8`` ``(C, H, W)``.
        labels: ``int64`` ``(N,)``, or None for an unlabelled set (then every label is -1, as in memory).
    """

    def __init__(self, images, labels: Optional[torch.Tensor] = None):
        if labels is not None and len(labels) != len(images):
            raise ValueError(f'{len(images)} images but {len(labels)} labels')
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index) -> Tuple[torch.Tensor, torch.Tensor]:
        index = int(index)
        label = self.labels[index] if self.labels is not None else torch.tensor(-1, dtype=torch.int64)
        return self.images[index], label


class DeviceBatches:
    """The ``uint8`` batches of a loader moved to ``device`` and scaled to ``[-1, 1]`` there.

    ``len()`` is the loader's: the batches in one pass.
    """

    def __init__(self, loader: DataLoader, device):
        self.loader, self.device = loader, torch.device(device)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Tuple[torch.Tensor, torch.Tensor]]:
        for images, labels in self.loader:
            yield (to_unit_range(images.to(self.device, non_blocking=True)),
                   labels.to(self.device, non_blocking=True))


# docs: streamed
def streamed_batches(images, labels: Optional[torch.Tensor], batch_size: int, device='cpu', seed: int = 0,
                     start_step: int = 0, num_workers: Optional[int] = None, rank: int = 0,
                     world_size: int = 1) -> DeviceBatches:
    """Endless shuffled ``(images, labels)`` batches decoded from files by worker processes, scaled on ``device``.

    The same batches, step for step, as :func:`~bearer_gan.data.batches.image_batches` over the
    decoded tensor: the same :class:`~bearer_gan.data.batches.ShuffledBatchSampler` picks the indices.

    Args:
        images: a :class:`~bearer_gan.data.image_files.FolderImages` (or anything indexing to ``uint8`` ``(C, H, W)``).
        labels: ``(N,)`` on the CPU, or None (each batch then has labels -1).
        batch_size: images per step, at most ``N``.
        device: where batches are scaled and trained on.
        seed: seed of the shuffling order.
        start_step: steps already done (to resume a run where it stopped).
        num_workers: decoding processes; None: :func:`stream_workers`; 0 decodes in this process.
        rank: under DistributedDataParallel, which contiguous slice of each global batch this process takes.
        world_size: the number of processes; each batch then holds ``batch_size // world_size`` images.
    """
    workers = stream_workers() if num_workers is None else num_workers
    sampler = ShuffledBatchSampler(len(images), batch_size, seed, start_step, rank, world_size)
    loader = DataLoader(LabelledImages(images, labels), batch_sampler=sampler, num_workers=workers,
                        pin_memory=torch.device(device).type == 'cuda', prefetch_factor=4 if workers else None,
                        generator=torch.Generator().manual_seed(seed))  # keeps the global RNG for the noise
    return DeviceBatches(loader, device)
# docs: end streamed


def dataset_batches(data, batch_size: int, device='cpu', seed: int = 0, start_step: int = 0,
                    num_workers: Optional[int] = None, rank: int = 0, world_size: int = 1):
    """The batches of an :class:`~bearer_gan.data.base.ImageData`: from memory when its images are a
    tensor (moved to ``device`` once, :func:`~bearer_gan.data.batches.image_batches`), else streamed
    (:func:`streamed_batches`). Either way the same batches for the same ``seed`` and step, and under
    DistributedDataParallel this process's slice (``rank`` of ``world_size``) of each global batch."""
    if isinstance(data.images, torch.Tensor):
        images = data.images.to(device)
        labels = None if data.labels is None else data.labels.to(device)
        return image_batches(images, labels, batch_size, seed=seed, start_step=start_step, rank=rank,
                             world_size=world_size)
    return streamed_batches(data.images, data.labels, batch_size, device, seed, start_step, num_workers, rank,
                            world_size)
