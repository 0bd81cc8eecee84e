"""Progress as plain lines, for logs: one newline-terminated line every few steps, nothing redrawn.

On a terminal torchbearer's progress bar (:class:`torchbearer.callbacks.Tqdm`, the trial's
``verbose=2``) redraws one line in place. Written to a file or a pipe (``nohup``, a cluster job,
CI) those redraws are carriage returns with no newline until the end: megabytes that ``tail -f``
cannot show. :class:`LinePrinter` is what a run prints there instead: one line every
``interval`` steps, so a default run's log is a few hundred lines (15,000 steps / 100 = 150).
"""
import sys
import time
from typing import Optional, TextIO

import torchbearer
from torchbearer.callbacks import Callback

from .. import keys

__all__ = ['LinePrinter', 'format_duration']


def format_duration(seconds: float) -> str:
    """``'1h02m'``, ``'3m07s'`` or ``'42s'``."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f'{hours}h{minutes:02d}m'
    return f'{minutes}m{seconds:02d}s' if minutes else f'{seconds}s'


class LinePrinter(Callback):
    """Print one plain line every ``interval`` steps, and one at the last step of a run::

        step 1500/15000 (10%)  101.3 steps/s  ETA 2m13s  d_g_z=0.312 d_loss=0.561 d_x=0.702 g_loss=1.240

    The values are the trial's metrics as torchbearer computes them for its progress bar: for
    bearer_gan's, running means of the losses and of D(x) and D(G(z)) over the last steps, and
    whatever other metric is in :data:`torchbearer.METRICS` (``fid`` when a
    :class:`~bearer_gan.FidEvaluator` scores the run), each once: where torchbearer holds both a
    running mean and the epoch's mean of a metric (after the epoch), the running one. The rate is that of the steps since the
    previous line; the ETA divides the steps left by the mean rate since this process started
    training. The steps between lines cost nothing but a comparison.

    Args:
        interval: steps between lines, at least 1.
        stream: where to print; ``sys.stdout`` (looked up at each line) when None.

    State Requirements:
        - reads :data:`~bearer_gan.keys.STEP`, :data:`torchbearer.STEPS`, :data:`torchbearer.METRICS`
    """

    def __init__(self, interval: int = 100, stream: Optional[TextIO] = None):
        if interval < 1:
            raise ValueError(f'log interval must be a positive integer, got {interval}')
        self.interval, self.stream = interval, stream
        self._total = self._first_step = self._last_step = 0
        self._started = self._last_time = None

    def on_start_training(self, state):
        self._first_step = self._last_step = state[keys.STEP]
        self._total = state[keys.STEP] + state[torchbearer.STEPS]
        self._started = self._last_time = time.perf_counter()

    def on_step_training(self, state):
        if state[keys.STEP] % self.interval == 0:
            self._print(state)

    def on_end_training(self, state):
        if state[keys.STEP] != self._last_step:
            self._print(state)

    def line(self, state, now: float) -> str:
        """The line for the current step of ``state``, at time ``now`` (:func:`time.perf_counter`)."""
        step = state[keys.STEP]
        rate = (step - self._last_step) / max(now - self._last_time, 1e-9)
        mean_rate = (step - self._first_step) / max(now - self._started, 1e-9)
        eta = (self._total - step) / mean_rate if mean_rate > 0 else 0.0
        shown = {}  # after an epoch torchbearer holds 'd_x' (the epoch's mean) beside 'running_d_x': show one
        for name, value in state[torchbearer.METRICS].items():
            if name.startswith('running_') or name not in shown:
                shown[name.replace('running_', '', 1)] = value
        metrics = ' '.join(f'{name}={_number(value)}' for name, value in sorted(shown.items()))
        return (f'step {step}/{self._total} ({100 * step / max(self._total, 1):.0f}%)  {rate:.1f} steps/s  '
                f'ETA {format_duration(eta)}  {metrics}').rstrip()

    def _print(self, state):
        now = time.perf_counter()
        print(self.line(state, now), file=self.stream or sys.stdout, flush=True)
        self._last_step, self._last_time = state[keys.STEP], now


def _number(value) -> str:
    try:
        return f'{float(value):.4g}'
    except (TypeError, ValueError):  # a tensor of several values, None, text: as it prints
        return ' '.join(str(value).split())
