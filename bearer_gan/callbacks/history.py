"""The per-step history of a run: ``history.csv`` as training goes, and ``losses.png`` at the end.

The CSV is only ever appended to: every ``write_interval`` steps the rows recorded since the
last write are added at its end, so writing costs the same at step 100 and at step 100,000. A
checkpoint keeps only how many rows (and bytes) the file had when it was written, never the rows
themselves, so its size does not grow with the run; a resumed run cuts the file back to that
length (dropping the rows a killed run wrote after its last checkpoint) and appends from there.
"""
import csv
import os
import warnings
from typing import List, Optional, Sequence

import numpy as np
import torch
import torchbearer
from torchbearer.callbacks import Callback

from ..files import atomic_path
from ..metrics import BASE_QUANTITIES
from .progress import steps_done

__all__ = ['QUANTITIES', 'PANELS', 'LossHistory', 'read_history', 'history_figure', 'plot_history']

#: What :class:`LossHistory` records when not told otherwise: both losses, D(x) and D(G(z))
#: (:func:`~bearer_gan.metrics.reported_quantities` gives those of a loss and its penalties).
QUANTITIES = BASE_QUANTITIES

#: The plot's panels: which columns each shows.
PANELS = (('losses', ('g_loss', 'd_loss')), ('discriminator output', ('d_x', 'd_g_z', 'wasserstein')),
          ('penalties (unweighted)', ('gradient_penalty', 'r1_penalty')))


class LossHistory(Callback):
    """Record scalar state values at every step into ``history.csv``; plot them into ``losses.png`` at the end.

    Values stay on the training device until they are written (every ``write_interval`` steps,
    at a checkpoint and at the end), so recording costs no host-device synchronisation per step:
    a step only keeps references to the detached tensors.

    Args:
        csv_path: the CSV: a ``step`` column, then one column per quantity named after its key.
        plot_path: the PNG plotted at the end; None for no plot.
        write_interval: steps between appends to the CSV.
        quantities: the state keys to record, each a scalar tensor at every step;
            :data:`QUANTITIES` (losses, D(x), D(G(z))) when None.
        probabilities: whether D(x) and D(G(z)) are probabilities (the ``bce`` loss), so that the
            plot's axis is clamped to ``[0, 1]``; other losses report raw outputs.

    Attributes:
        columns: the CSV's header.
        rows_written: the rows the CSV holds as of the last write.

    State Requirements:
        - reads each of ``quantities`` (:data:`~bearer_gan.keys.GENERATOR_LOSS`,
          :data:`~bearer_gan.keys.DISCRIMINATOR_LOSS`, :data:`~bearer_gan.keys.D_REAL`,
          :data:`~bearer_gan.keys.D_FAKE` by default) and :data:`~bearer_gan.keys.STEP`
    """

    def __init__(self, csv_path: str, plot_path: Optional[str] = None, write_interval: int = 500,
                 quantities: Optional[Sequence[torchbearer.StateKey]] = None, probabilities: bool = True):
        if write_interval < 1:
            raise ValueError(f'write interval must be a positive integer, got {write_interval}')
        self.csv_path, self.plot_path, self.write_interval = csv_path, plot_path, write_interval
        self.quantities = tuple(QUANTITIES if quantities is None else quantities)
        self.columns = ('step',) + tuple(str(key) for key in self.quantities)
        self.probabilities = probabilities
        self.rows_written, self._bytes = 0, 0
        self._pending: List[torch.Tensor] = []
        self._pending_steps: List[int] = []
        self._restore_rows: Optional[List[list]] = None

    def on_start(self, state):
        if self._restore_rows is not None:  # a checkpoint that carried the rows themselves (format 1)
            rows, self._restore_rows = self._restore_rows, None
            self._rewrite(rows)
        elif self._bytes == 0:  # a new run: a new file with its header
            self._rewrite([])
        else:
            self._cut_back()

    def on_step_training(self, state):
        self._pending.extend([state[key].detach().float() for key in self.quantities])
        self._pending_steps.append(steps_done(state))
        if len(self._pending_steps) >= self.write_interval:
            self.write_csv()

    def write_csv(self):
        """Append the rows recorded since the last write to the CSV."""
        if not self._pending_steps:
            return
        values = torch.stack(self._pending).float().view(len(self._pending_steps), len(self.quantities)).cpu().tolist()
        with open(self.csv_path, 'a', newline='') as handle:
            csv.writer(handle).writerows([step] + row for step, row in zip(self._pending_steps, values))
            self._bytes = handle.tell()
        self.rows_written += len(self._pending_steps)
        self._pending, self._pending_steps = [], []

    def read(self) -> List[List[float]]:
        """The rows written so far (after writing the pending ones), each ``[step, value, ...]``."""
        self.write_csv()
        return read_history(self.csv_path)[1]

    def on_end(self, state):
        self.write_csv()
        if self.plot_path and self.rows_written:
            header, rows = read_history(self.csv_path)
            plot_history(rows, self.plot_path, columns=header, probabilities=self.probabilities)

    def state_dict(self):
        self.write_csv()
        if self._bytes and os.path.exists(self.csv_path):
            with open(self.csv_path, 'rb') as handle:  # the checkpoint will say these rows are on disk
                os.fsync(handle.fileno())
        return {'rows_written': self.rows_written, 'bytes': self._bytes}

    def load_state_dict(self, state_dict):
        """Take the history of the run so far: the CSV's length at the checkpoint (or, from an older
        checkpoint format, the rows themselves under ``'rows'``, which the CSV is rewritten from)."""
        self._pending, self._pending_steps = [], []
        if 'rows' in state_dict:
            self._restore_rows = [list(row) for row in state_dict['rows']]
            self.rows_written, self._bytes = len(self._restore_rows), 0
        else:
            self.rows_written, self._bytes = state_dict['rows_written'], state_dict['bytes']
        return self

    def _rewrite(self, rows: List[list]):
        with atomic_path(self.csv_path) as temporary, open(temporary, 'w', newline='') as handle:
            writer = csv.writer(handle)
            writer.writerow(self.columns)
            writer.writerows(rows)
            self._bytes = handle.tell()
        self.rows_written = len(rows)

    def _cut_back(self):
        """Drop whatever a stopped run appended after the checkpoint this one resumes from."""
        size = os.path.getsize(self.csv_path) if os.path.exists(self.csv_path) else 0
        if size >= self._bytes:
            os.truncate(self.csv_path, self._bytes)
            return
        warnings.warn(f'{self.csv_path} is shorter than when the checkpoint was written ({size} < {self._bytes} '
                      'bytes); its earlier rows are lost, new ones are appended')
        if size == 0:
            self._rewrite([])
        else:
            self._bytes = size


def read_history(path: str):
    """``(header, rows)`` of a history CSV; each row is ``[step, value, ...]`` as floats (``step`` an int)."""
    with open(path, newline='') as handle:
        reader = csv.reader(handle)
        header = tuple(next(reader, ()))
        rows = [[int(row[0])] + [float(value) for value in row[1:]] for row in reader if row]
    return header, rows


def history_figure(rows: List[List[float]], window: int = 50,
                   columns: Sequence[str] = ('step',) + tuple(str(key) for key in QUANTITIES),
                   probabilities: bool = True):
    """A matplotlib figure of losses, discriminator outputs and penalties per step, raw (faint) and as a
    ``window``-step moving average: what ``losses.png`` shows, and what a run's ``report.html`` shows.

    Args:
        rows: ``[step, value, ...]`` per step, in the order of ``columns``.
        columns: the name of each column, ``step`` first; a panel is drawn for each group of
            :data:`PANELS` present.
        probabilities: clamp the discriminator-output axis to ``[0, 1]`` (only where they are probabilities).

    Returns:
        ``(figure, {panel title: (bottom, top)})``: the figure (close it with ``plt.close``) and the
        y-range each panel was drawn with.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    values = np.asarray(rows, dtype=np.float64)
    steps = values[:, 0]
    window = max(1, min(window, len(values)))
    kernel = np.ones(window) / window
    columns = list(columns)
    panels = [(title, [columns.index(name) for name in names if name in columns]) for title, names in PANELS]
    panels = [(title, indices) for title, indices in panels if indices]
    figure, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for axis, (title, indices) in zip(axes[0], panels):
        for column in indices:
            line, = axis.plot(steps, values[:, column], alpha=0.25, linewidth=0.8)
            smooth = np.convolve(values[:, column], kernel, mode='valid')
            axis.plot(steps[window - 1:], smooth, color=line.get_color(), label=columns[column])
        axis.set_xlabel('step')
        axis.set_title(title)
        axis.legend()
        if title == 'discriminator output':
            if probabilities:
                axis.set_title('discriminator output: D(x) real, D(G(z)) fake (probabilities)')
                axis.set_ylim(0, 1)
            else:
                axis.set_title('discriminator output: mean raw D(x), D(G(z))')
    figure.tight_layout()
    return figure, {axis.get_title(): axis.get_ylim() for axis in axes[0]}


def plot_history(rows: List[List[float]], path: str, window: int = 50,
                 columns: Sequence[str] = ('step',) + tuple(str(key) for key in QUANTITIES),
                 probabilities: bool = True) -> dict:
    """Plot :func:`history_figure` into the PNG ``path``; returns ``{panel title: (bottom, top)}``."""
    figure, ranges = history_figure(rows, window, columns, probabilities)  # selects the Agg backend first
    import matplotlib.pyplot as plt

    with atomic_path(path) as temporary:
        figure.savefig(temporary, format='png', dpi=100)
    plt.close(figure)
    return ranges
