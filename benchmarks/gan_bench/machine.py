"""The machine a measurement runs on: its name and load, device synchronisation, and peak memory.

:func:`synchronize` is defined in :mod:`.device` and offered here as before: :mod:`.variants` times
its steps with it, and :func:`peak_memory` runs a variant, so keeping it here made this module and
:mod:`.variants` import each other.
"""
import gc
import json
import os
import platform
import resource
import subprocess
import sys

import torch

from .device import synchronize

__all__ = ['synchronize', 'machine_name', 'load_average', 'MEMORY_STEPS', 'peak_memory', 'memory_kind',
           'probe_memory']


def machine_name(device) -> str:
    """The GPU's name, or the CPU's model and count: a timing means little without the machine it came from."""
    if torch.device(device).type == 'cuda':
        return torch.cuda.get_device_name(device)
    try:
        with open('/proc/cpuinfo') as cpuinfo:
            names = [line.split(':', 1)[1].strip() for line in cpuinfo if line.startswith('model name')]
        if names:
            return f'{names[0]} ({len(names)} logical CPUs)'
    except OSError:
        pass
    return f'{platform.processor() or platform.machine()} ({os.cpu_count()} logical CPUs)'


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, printed before and after a run: a busy machine's timings are not fair."""
    try:
        return ' '.join(f'{value:.2f}' for value in os.getloadavg())
    except OSError:
        return 'unknown'


def _status_kib(field: str):
    try:
        with open('/proc/self/status') as status:
            for line in status:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    try:
        with open('/proc/self/clear_refs', 'w') as clear_refs:
            clear_refs.write('5')  # resets VmHWM, the peak RSS, to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


MEMORY_STEPS = 10  # steps after the warm-up in a memory probe: every step allocates the same


def peak_memory(variant, setup, warmup):
    """``(peak bytes, rise in bytes)`` while running ``variant`` for ``warmup + MEMORY_STEPS`` steps, in this process.

    CUDA: the allocator's peak, and its rise over what was allocated before. CPU: the peak RSS of
    this process (VmHWM, reset first), and its rise over the RSS before the variant was built.
    """
    from .variants import run_variant  # here, so reading the machine's name (benchmarks/folders.py) loads no trainer
    device = setup.device
    gc.collect()
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        run_variant(variant, setup, warmup, MEMORY_STEPS, seed=0)
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        return peak, peak - base
    resettable = _reset_peak_rss() and _status_kib('VmHWM') is not None
    base = _status_kib('VmRSS') * 1024 if resettable else None
    run_variant(variant, setup, warmup, MEMORY_STEPS, seed=0)
    if resettable:
        peak = _status_kib('VmHWM') * 1024
        return peak, peak - base
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, None  # KiB on Linux; peak since start-up


def memory_kind(device) -> str:
    if torch.device(device).type == 'cuda':
        return (f'CUDA max_memory_allocated while running each variant for {MEMORY_STEPS} steps after the warm-up '
                '(+: its rise over what was allocated before)')
    if _reset_peak_rss() and _status_kib('VmHWM') is not None:
        return (f'peak RSS of a fresh process that runs only that variant, for {MEMORY_STEPS} steps after the '
                'warm-up (+: its rise over the RSS after imports and data loading, before the variant is built)')
    return 'peak RSS (ru_maxrss) of a fresh process that runs only that variant, imports included'


def probe_memory(script, variant, args, device):
    """Run ``script --memory-probe variant`` in a fresh interpreter (a process's peak RSS cannot be undone)."""
    command = [sys.executable, script, '--memory-probe', variant, '--model', args.model,
               '--batch-size', str(args.batch_size), '--device', device, '--warmup', str(args.warmup)]
    if args.threads:
        command += ['--threads', str(args.threads)]
    command += ['--precision', args.precision] + (['--compile'] if args.compile else [])
    if args.image_size:
        command += ['--image-size', str(args.image_size)]
    if args.channels:
        command += ['--channels', str(args.channels)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f'memory probe for ({variant}) failed:\n{done.stderr}')
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result['peak'], result['rise']

