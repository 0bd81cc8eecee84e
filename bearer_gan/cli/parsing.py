"""Command-line parsing shared by every entry point: argument types and one-line errors.

A user's mistake on the command line gets one line on stderr and exit code 2, never a
traceback: the argument types below reject bad values while parsing, and :func:`fail` turns
later problems (an unwritable folder, a missing generator) into the same one-line answer.
"""
import argparse
import math
import os
import sys
from typing import Callable, NoReturn, Sequence

import torch

__all__ = ['UsageError', 'ArgumentParser', 'fail', 'positive_int', 'positive_float', 'probability',
           'torch_device', 'existing_dir', 'non_negative_int', 'non_negative_float', 'image_size',
           'dataset_or_folder']


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


def non_negative_int(text: str) -> int:
    value = _number(text, int)
    if value < 0:
        raise argparse.ArgumentTypeError(f'must be 0 or a positive integer, got {text}')
    return value


def non_negative_float(text: str) -> float:
    value = _number(text, float)
    if value < 0:
        raise argparse.ArgumentTypeError(f'must be 0 or a positive number, got {text}')
    return value


def image_size(text: str) -> int:
    """An image side in pixels, at least 8 (the smallest the models and the evaluation take)."""
    value = _number(text, int)
    if value < 8:
        raise argparse.ArgumentTypeError(f'must be at least 8 pixels, got {text}')
    return value


def dataset_or_folder(names: Sequence[str]) -> Callable[[str], str]:
    """An argument type taking one of ``names`` or the path of an existing folder (a name wins over a folder
    of that name: write ``./mnist`` for the folder)."""
    def dataset(text: str) -> str:
        if text in names:
            return text
        if os.path.isdir(text):
            return text
        if os.path.exists(text):
            raise argparse.ArgumentTypeError(f'{text!r} is a file, not a folder of images')
        raise argparse.ArgumentTypeError(f'{text!r} is neither a data set ({", ".join(names)}) nor a folder')
    return dataset


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
