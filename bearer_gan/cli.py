"""Command-line plumbing shared by ``examples/gan.py`` and ``python -m bearer_gan``.

A user's mistake on the command line gets one line on stderr and exit code 2, never a
traceback: the argument types below reject bad values while parsing, and :func:`fail` turns
later problems (an unwritable folder, a missing generator) into the same one-line answer.
"""
import argparse
import json
import math
import os
import sys
from typing import NoReturn

import torch

__all__ = ['UsageError', 'ArgumentParser', 'fail', 'positive_int', 'positive_float', 'probability',
           'torch_device', 'writable_dir', 'existing_dir', 'check_out_dir', 'prepare_out_dir', 'RUN_OUTPUTS']

#: Everything a training run writes into its ``--out`` folder.
RUN_OUTPUTS = ('samples', 'real.png', 'progress.gif', 'losses.png', 'history.csv', 'generator.pt',
               'discriminator.pt', 'config.json', 'eval.json', 'checkpoint.pt', 'checkpoint.prev.pt')


class UsageError(Exception):
    """A mistake the user can fix; its message is printed as one line and the program exits with code 2."""


def fail(program: str, message: str) -> NoReturn:
    """Print ``program: error: message`` on one line of stderr and exit with code 2."""
    print(f'{program}: error: {" ".join(str(message).split())}', file=sys.stderr)
    sys.exit(2)


class ArgumentParser(argparse.ArgumentParser):
    """:class:`argparse.ArgumentParser` whose errors are one line (argparse also prints the usage)."""

    def error(self, message):
        fail(self.prog, f'{message} (see --help)')

    def parse_args(self, args=None, namespace=None):
        args = sys.argv[1:] if args is None else list(args)
        for arg in args:  # argparse drops a '--' value and silently keeps the default
            if arg == '--' or arg.endswith('=--'):
                self.error(f"{arg!r}: '--' is not a value")
        return super().parse_args(args, namespace)


def _number(text: str, kind):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f'{text!r} is not {"an integer" if kind is int else "a number"}')
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f'{text!r} is not a finite number')
    return value


def positive_int(text: str) -> int:
    value = _number(text, int)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be a positive integer, got {text}')
    return value


def positive_float(text: str) -> float:
    value = _number(text, float)
    if value <= 0:
        raise argparse.ArgumentTypeError(f'must be a positive number, got {text}')
    return value


def probability(text: str) -> float:
    """A number in ``[0, 1)``."""
    value = _number(text, float)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f'must be in [0, 1), got {text}')
    return value


def torch_device(text: str) -> str:
    """A device string torch understands and this machine has (``cuda`` only with a GPU)."""
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f'{text!r} is not a device (use cpu or cuda)')
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f'{text!r} was asked for but no CUDA GPU is available (use --device cpu)')
    if device.type == 'cuda' and device.index is not None and device.index >= torch.cuda.device_count():
        raise argparse.ArgumentTypeError(f'{text!r}: there are only {torch.cuda.device_count()} GPUs')
    if device.type not in ('cpu', 'cuda'):
        raise argparse.ArgumentTypeError(f'{text!r} is not supported (use cpu or cuda)')
    return text


def existing_dir(text: str) -> str:
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f'{text!r} is not a directory')
    return text


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
