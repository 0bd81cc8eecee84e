"""Waiting for the device: the one thing both the timers and the machine's memory probe need.

CUDA runs asynchronously, so a clock read, or a peak-memory reading, means something only after
the device has finished the work queued before it. :func:`synchronize` lives here, below
:mod:`.variants` (which times steps with it) and :mod:`.machine` (which runs a variant to read
its peak memory), so that neither of those two imports the other's importer.
"""
import torch

__all__ = ['synchronize']


def synchronize(device):
    """Wait until ``device`` has run everything queued on it (a no-op on the CPU, which runs in order)."""
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize(device)
