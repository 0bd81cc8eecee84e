"""A run's folder: checked before anything is written, prepared for a new run, read back to resume one.

A training run owns its ``--out`` folder: its :class:`~bearer_gan.config.RunConfig` in ``config.json``,
and the outputs named in :data:`RUN_OUTPUTS`. A new run may only write into an empty folder, one
holding the very same run, or (with ``--overwrite``) another run's folder, whose outputs are then
removed first. :func:`choose_run` is the resume policy that ``bearer-gan train`` and
``examples/gan.py`` share: ``--resume RUN``, the same command again, or a new run.
"""
import json
import os
from typing import Optional, Tuple

import torch

from .checkpoint import CHECKPOINT, PREVIOUS_CHECKPOINT
from .config import ConfigError, RunConfig, run_difference, same_run
from .distributed import UnsupportedUnderDDP, check_global_batch
from .files import write_json
from .flags import Invocation, UsageError

__all__ = ['RUN_OUTPUTS', 'writable_dir', 'recorded_config', 'check_out_dir', 'prepare_out_dir', 'read_config',
           'write_config', 'check_device', 'has_checkpoint', 'choose_run']

#: Everything a training run writes into its ``--out`` folder.
RUN_OUTPUTS = ('samples', 'real.png', 'progress.gif', 'losses.png', 'history.csv', 'generator.pt',
               'discriminator.pt', 'config.json', 'eval.json', 'checkpoint.pt', 'checkpoint.prev.pt', 'tensorboard',
               'eval_history.csv', 'fid.png', 'generator.best.pt', 'report.html')


def writable_dir(path: str) -> str:
    """Create ``path`` if needed and check that files can be written in it.

    Raises:
        UsageError: when it is a file or cannot be created or written.
    """
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f'{path!r} is a file, not a directory')
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, '.write-test')
        with open(probe, 'w'):
            pass
        os.remove(probe)
    except OSError as error:
        raise UsageError(f'cannot write to {path!r}: {error.strerror or error}')
    return path


def recorded_config(path: str) -> Optional[dict]:
    """The ``config.json`` in ``path`` as recorded (any format), or None when there is none or it is unreadable."""
    try:
        with open(os.path.join(path, 'config.json')) as handle:
            config = json.load(handle)
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) else None


def _holds_same_run(path: str, config: RunConfig) -> bool:
    recorded = recorded_config(path)
    return recorded is not None and same_run(recorded, config)


def check_out_dir(path: str, config: RunConfig, overwrite: bool) -> str:
    """Check, without changing anything, that a run with ``config`` may write into ``path``.

    A non-empty folder is accepted when it holds the same run (:func:`~bearer_gan.config.same_run`:
    rerunning a command resumes it) or with ``overwrite``.

    Raises:
        UsageError: for a file, a folder that cannot be written, or a non-empty folder from a
            different run (without ``overwrite``).
    """
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f'--out {path!r} is a file, not a directory')
    if os.path.isdir(path) and os.listdir(path) and not (overwrite or _holds_same_run(path, config)):
        recorded = recorded_config(path)
        if recorded is None:
            raise UsageError(f'--out {path!r} is not empty; choose another --out or pass --overwrite to replace '
                             'the outputs of a run there')
        raise UsageError(f'--out {path!r} holds a different run ({run_difference(recorded, config)}); continue it '
                         f'with --resume {path} (--steps N extends it), choose another --out, or pass --overwrite '
                         'to start over')
    parent = path
    while not os.path.exists(parent):
        parent = os.path.dirname(os.path.abspath(parent))
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise UsageError(f'cannot write to {path!r}: {parent!r} is not a writable directory')
    return path


def prepare_out_dir(path: str, config: RunConfig) -> str:
    """Create ``path``, remove a previous run's outputs (only the names in :data:`RUN_OUTPUTS`, so no
    stale frame mixes into the GIF and no old event into TensorBoard) and write ``config.json``.
    Call :func:`check_out_dir` first.
    """
    writable_dir(path)
    for name in RUN_OUTPUTS:
        target = os.path.join(path, name)
        if os.path.isdir(target):
            for written in os.listdir(target):  # sample frames, TensorBoard event files: only what a run writes
                if (written.startswith('step_') and written.endswith('.png')) or written.startswith('events.out.'):
                    os.remove(os.path.join(target, written))
        elif os.path.exists(target):
            os.remove(target)
    write_config(path, config)
    return path


def write_config(path: str, config: RunConfig) -> None:
    """Write ``config`` as ``path/config.json``, atomically."""
    write_json(os.path.join(path, 'config.json'), config.to_dict())


def read_config(run_dir: str) -> RunConfig:
    """The configuration of the run in ``run_dir``, from its ``config.json`` (one made by an older version
    is upgraded, :meth:`~bearer_gan.config.RunConfig.from_dict`).

    Raises:
        UsageError: when it is missing, unreadable, made by a newer version or lacks a key.
    """
    path = os.path.join(run_dir, 'config.json')
    try:
        with open(path) as handle:
            config = json.load(handle)
    except (OSError, ValueError) as error:
        raise UsageError(f'cannot resume {run_dir!r}: {path} is missing or unreadable ({error})')
    if not isinstance(config, dict):
        raise UsageError(f'cannot resume {run_dir!r}: {path} does not hold a JSON object')
    try:
        return RunConfig.from_dict(config)  # keys added since the run was made take the values it trained with
    except (ConfigError, TypeError) as error:
        raise UsageError(f'cannot resume {run_dir!r}: {path} {error}') from None


def check_device(run_dir: str, config: RunConfig) -> RunConfig:
    """Check that this machine has the device ``config`` trains on.

    Raises:
        UsageError: for a run on a GPU when this machine has none.
    """
    if str(config.device).startswith('cuda') and not torch.cuda.is_available():
        raise UsageError(f'cannot resume {run_dir!r} here: it trains on {config.device} and no CUDA GPU is '
                         'available (add --device cpu to continue it on the CPU)')
    return config


def has_checkpoint(folder: str) -> bool:
    """Whether ``folder`` holds a checkpoint to resume from (the newest, or the one before it)."""
    return any(os.path.exists(os.path.join(folder, name)) for name in (CHECKPOINT, PREVIOUS_CHECKPOINT))


def choose_run(config: Optional[RunConfig], invocation: Invocation) -> Tuple[RunConfig, Optional[str]]:
    """The resume policy: ``(config, run folder)`` of the run to resume, or ``(config, None)`` for a new run.

    * ``--resume RUN``: the run's own ``config.json``, with the flags ``--resume`` takes.
    * A folder ``--out`` that holds this very run (the same command again, e.g. a requeued job) with a
      checkpoint: that run. Nothing is deleted; ``--overwrite`` is the only way to start over.
    * Else ``config``, after checking (and changing nothing) that ``--out`` may take it.

    It also checks, before torchrun's processes join a group, that they can share the run's batch.

    Raises:
        UsageError: for a folder that cannot take the run, a ``config.json`` that cannot be read, or a batch
            that torchrun's processes cannot share.
    """
    config, resumed = _choose_run(config, invocation)
    try:
        check_global_batch(config.batch_size)
    except UnsupportedUnderDDP as error:
        raise UsageError(f'--batch-size: {error}') from None
    return config, resumed


def _choose_run(config: Optional[RunConfig], invocation: Invocation) -> Tuple[RunConfig, Optional[str]]:
    if invocation.resume:
        recorded = read_config(invocation.resume)
        resumed = recorded.replace(out=invocation.resume, **invocation.given)  # only --resume's flags are given
        return check_device(invocation.resume, resumed), invocation.resume
    if os.path.exists(config.data_dir) and not os.path.isdir(config.data_dir):
        raise UsageError(f'--data-dir {config.data_dir!r} is a file, not a directory')
    recorded = recorded_config(config.out)
    if invocation.overwrite or recorded is None or not same_run(recorded, config) or not has_checkpoint(config.out):
        check_out_dir(config.out, config, invocation.overwrite)  # changes nothing: a rejected run leaves --out alone
        return config, None
    return RunConfig.from_dict(recorded).replace(device=config.device), config.out  # same_run has read it
