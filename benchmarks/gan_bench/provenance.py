"""Where a measured number comes from: the command that measured it, the commit, the machine and its load.

Every figure in the README and the docs is read from a file under ``docs/_static`` that a benchmark
wrote; :func:`header` is the head of such a file, so that the figure can be traced and measured again.
"""
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import List

from .machine import load_average, machine_name

__all__ = ['ROOT', 'commit', 'command_line', 'header']

ROOT = Path(__file__).resolve().parents[2]


def commit() -> str:
    """``git rev-parse --short HEAD``, with ``-dirty`` when tracked files have changes; ``unknown`` outside git."""
    try:
        head = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'
    return head + ('-dirty' if dirty else '')


def command_line() -> str:
    """The command as typed, relative to the repository: ``python benchmarks/x.py --flag value``."""
    script = os.path.relpath(os.path.abspath(sys.argv[0]), ROOT)
    return ' '.join(['python', shlex.quote(script)] + [shlex.quote(argument) for argument in sys.argv[1:]])


def header(device: str = 'cpu', load_before: str = '', measured_at: str = '') -> List[str]:
    """The lines that head a measured file: the command, the commit (``measured_at``, the one taken when the
    measurement started, else now), the machine, the load before and now."""
    lines = [f'command: {command_line()}', f'commit: {measured_at or commit()}', f'machine: {machine_name(device)}']
    if load_before:
        lines.append(f'load average (1, 5, 15 min) before: {load_before}; after: {load_average()}')
    else:
        lines.append(f'load average (1, 5, 15 min): {load_average()}')
    return lines
