"""A run's folder: checked before anything is written, prepared for a new run, read back to resume one.

A training run owns its ``--out`` folder: its flags in ``config.json``, and the outputs named in
:data:`RUN_OUTPUTS`. A new run may only write into an empty folder, one holding the very same
run, or (with ``--overwrite``) another run's folder, whose outputs are then removed first.
"""
import json
import os
from typing import Optional

import torch

from ..files import write_json
from .config import run_difference, same_run, upgrade_config
from .parsing import UsageError

__all__ = ['RUN_OUTPUTS', 'writable_dir', 'recorded_config', 'check_out_dir', 'prepare_out_dir', 'read_config',
           'write_config', 'check_device']

#: Everything a training run writes into its ``--out`` folder.
RUN_OUTPUTS = ('samples', 'real.png', 'progress.gif', 'losses.png', 'history.csv', 'generator.pt',
               'discriminator.pt', 'config.json', 'eval.json', 'checkpoint.pt', 'checkpoint.prev.pt', 'tensorboard')


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


def _holds_same_run(path: str, config: dict) -> bool:
    recorded = recorded_config(path)
    return recorded is not None and same_run(recorded, config)


def check_out_dir(path: str, config: dict, overwrite: bool) -> str:
    """Check, without changing anything, that a run with ``config`` may write into ``path``.

    A non-empty folder is accepted when it holds the same run (:func:`~bearer_gan.cli.config.same_run`:
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


def prepare_out_dir(path: str, config: dict) -> str:
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


def write_config(path: str, config: dict) -> None:
    """Write ``config`` as ``path/config.json``, atomically."""
    write_json(os.path.join(path, 'config.json'), config)


def read_config(run_dir: str, required) -> dict:
    """The configuration of the run in ``run_dir``, from its ``config.json``.

    Args:
        run_dir: the run's folder.
        required: the keys the configuration must have.

    A configuration made by an older version is upgraded (:func:`~bearer_gan.cli.config.upgrade_config`).

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
        config = upgrade_config(config)  # keys added since the run was made take the values it trained with
    except ValueError as error:
        raise UsageError(f'cannot resume {run_dir!r}: {path} {error}') from None
    missing = set(required) - set(config)
    if missing:
        raise UsageError(f'cannot resume {run_dir!r}: {path} lacks {", ".join(sorted(missing))}')
    return config


def check_device(run_dir: str, config: dict) -> dict:
    """Check that this machine has the device ``config`` trains on.

    Raises:
        UsageError: for a run on a GPU when this machine has none.
    """
    if str(config['device']).startswith('cuda') and not torch.cuda.is_available():
        raise UsageError(f'cannot resume {run_dir!r} here: it trains on {config["device"]} and no CUDA GPU is '
                         'available (add --device cpu to continue it on the CPU)')
    return config
