"""A run's folder: checked before anything is written, prepared for a new run, read back to resume one.

A training run owns its ``--out`` folder: its flags in ``config.json``, and the outputs named in
:data:`RUN_OUTPUTS`. A new run may only write into an empty folder, one holding the very same
run, or (with ``--overwrite``) another run's folder, whose outputs are then removed first.
"""
import json
import os

import torch

from .parsing import UsageError

__all__ = ['RUN_OUTPUTS', 'writable_dir', 'check_out_dir', 'prepare_out_dir', 'read_config']

#: Everything a training run writes into its ``--out`` folder.
RUN_OUTPUTS = ('samples', 'real.png', 'progress.gif', 'losses.png', 'history.csv', 'generator.pt',
               'discriminator.pt', 'config.json', 'eval.json', 'checkpoint.pt', 'checkpoint.prev.pt')


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


def _holds_same_run(path: str, config: dict) -> bool:
    try:
        with open(os.path.join(path, 'config.json')) as handle:
            return json.load(handle) == config
    except (OSError, ValueError):
        return False


def check_out_dir(path: str, config: dict, overwrite: bool) -> str:
    """Check, without changing anything, that a run with ``config`` may write into ``path``.

    A non-empty folder is accepted when it holds a run with the very same ``config`` (rerunning
    a command writes the same outputs again) or with ``overwrite``.

    Raises:
        UsageError: for a file, a folder that cannot be written, or a non-empty folder from a
            different run (without ``overwrite``).
    """
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f'--out {path!r} is a file, not a directory')
    if os.path.isdir(path) and os.listdir(path) and not (overwrite or _holds_same_run(path, config)):
        raise UsageError(f'--out {path!r} is not empty and holds a different run; choose another --out '
                         'or pass --overwrite to replace its outputs')
    parent = path
    while not os.path.exists(parent):
        parent = os.path.dirname(os.path.abspath(parent))
    if not os.path.isdir(parent) or not os.access(parent, os.W_OK):
        raise UsageError(f'cannot write to {path!r}: {parent!r} is not a writable directory')
    return path


def prepare_out_dir(path: str, config: dict) -> str:
    """Create ``path``, remove a previous run's outputs (only the names in :data:`RUN_OUTPUTS`, so no
    stale frame mixes into the GIF) and write ``config.json``. Call :func:`check_out_dir` first.
    """
    writable_dir(path)
    for name in RUN_OUTPUTS:
        target = os.path.join(path, name)
        if os.path.isdir(target):
            for frame in os.listdir(target):
                if frame.startswith('step_') and frame.endswith('.png'):
                    os.remove(os.path.join(target, frame))
        elif os.path.exists(target):
            os.remove(target)
    with open(os.path.join(path, 'config.json'), 'w') as handle:
        json.dump(config, handle, indent=2, sort_keys=True)
    return path


def read_config(run_dir: str, required) -> dict:
    """The configuration of the run in ``run_dir``, from its ``config.json``.

    Args:
        run_dir: the run's folder.
        required: the keys the configuration must have.

    Raises:
        UsageError: when it is missing, unreadable, lacks a key, or trained on a GPU this machine lacks.
    """
    path = os.path.join(run_dir, 'config.json')
    try:
        with open(path) as handle:
            config = json.load(handle)
    except (OSError, ValueError) as error:
        raise UsageError(f'cannot resume {run_dir!r}: {path} is missing or unreadable ({error})')
    if isinstance(config, dict):
        config.setdefault('compile', False)  # runs made before --compile existed
        config.setdefault('no_sync_bn', False)  # and before --no-sync-bn
    missing = set(required) - set(config) if isinstance(config, dict) else set(required)
    if missing:
        raise UsageError(f'cannot resume {run_dir!r}: {path} lacks {", ".join(sorted(missing))}')
    if str(config['device']).startswith('cuda') and not torch.cuda.is_available():
        raise UsageError(f'cannot resume {run_dir!r} here: it trains on {config["device"]} and no CUDA GPU is available')
    return config
