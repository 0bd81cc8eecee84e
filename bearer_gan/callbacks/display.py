"""What a training run prints, and where: a progress bar on a terminal, plain lines anywhere else.

* On a terminal (standard output and standard error both), torchbearer's progress bar
  (:class:`torchbearer.callbacks.Tqdm`, the trial's ``verbose=2``), and with ``--preview`` the
  sample grids drawn in the terminal (:class:`~bearer_gan.callbacks.TerminalPreview`).
* Anything else (a file, a pipe, CI, ``nohup``): one plain line every ``--log-interval`` steps
  on standard output (:class:`~bearer_gan.callbacks.LinePrinter`), and no preview.
* ``--quiet``: neither; errors and the final summary only.
"""
import sys
from typing import List

from torchbearer.callbacks import Callback

from .preview import TerminalPreview
from .printer import LinePrinter
from .progress import FixedNoiseSampler

__all__ = ['on_terminal', 'progress_verbosity', 'display_callbacks']


def on_terminal() -> bool:
    """Whether standard output and standard error are both a terminal (not redirected, piped or captured)."""
    return all(hasattr(stream, 'isatty') and stream.isatty() for stream in (sys.stdout, sys.stderr))


def progress_verbosity(quiet: bool = False) -> int:
    """torchbearer's ``verbose`` for the trial: 2 (a progress bar per epoch) on a terminal, else 0."""
    return 2 if on_terminal() and not quiet else 0


def display_callbacks(log_interval: int, sampler: FixedNoiseSampler, quiet: bool = False,
                      preview: bool = False) -> List[Callback]:
    """The callbacks that print a run's progress, besides torchbearer's bar: a log line every ``log_interval``
    steps when not on a terminal, the preview of ``sampler``'s grids when asked for on one, nothing when ``quiet``."""
    if quiet:
        return []
    if not on_terminal():
        return [LinePrinter(log_interval)]
    return [TerminalPreview(sampler)] if preview else []
