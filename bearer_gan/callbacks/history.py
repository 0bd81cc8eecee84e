"""The per-step history of a run: ``history.csv`` as training goes, and ``losses.png`` at the end."""
import csv
from typing import List, Optional, Sequence

import numpy as np
import torch
import torchbearer
from torchbearer.callbacks import Callback

from .. import keys
from ..files import atomic_path
from ..metrics import BASE_QUANTITIES
from .progress import steps_done

__all__ = ['LossHistory', 'PANELS', 'plot_history']


class LossHistory(Callback):
    """Record every step's losses, D(x) and D(G(z)) into ``history.csv``; plot them into ``losses.png`` at the end.

    Values stay on the training device until they are written (every ``write_interval`` steps and
    at the end), so recording costs no host-device synchronisation per step.

    Args:
        csv_path: the CSV to write: a ``step`` column and one per quantity, named after its key.
        plot_path: the PNG to plot into at the end; None for no plot.
        write_interval: steps between writes of the CSV.
        quantities: the state keys to record; the losses, D(x) and D(G(z)) when None
            (:func:`~bearer_gan.metrics.reported_quantities` gives those of a loss and its penalties).
        probabilities: whether D(x) and D(G(z)) are probabilities (the ``bce`` loss), so that the
            plot's axis is clamped to ``[0, 1]``; other losses report raw outputs.

    State Requirements:
        - reads ``quantities``: :data:`~bearer_gan.keys.GENERATOR_LOSS`, :data:`~bearer_gan.keys.DISCRIMINATOR_LOSS`,
          :data:`~bearer_gan.keys.D_REAL`, :data:`~bearer_gan.keys.D_FAKE` by default
    """

    def __init__(self, csv_path: str, plot_path: str = None, write_interval: int = 500,
                 quantities: Optional[Sequence[torchbearer.StateKey]] = None, probabilities: bool = True):
        self.csv_path, self.plot_path, self.write_interval = csv_path, plot_path, write_interval
        self.quantities = tuple(BASE_QUANTITIES if quantities is None else quantities)
        self.columns = ('step',) + tuple(str(key) for key in self.quantities)
        self.probabilities = probabilities
        self.rows: List[List[float]] = []
        self._pending: List[torch.Tensor] = []
        self._pending_steps: List[int] = []

    def on_step_training(self, state):
        self._pending.append(torch.stack([state[key].detach().float() for key in self.quantities]))
        self._pending_steps.append(steps_done(state))
        if len(self._pending) >= self.write_interval:
            self.write_csv()

    def _collect(self):
        if self._pending:
            values = torch.stack(self._pending).float().cpu().tolist()
            self.rows.extend([step] + row for step, row in zip(self._pending_steps, values))
            self._pending, self._pending_steps = [], []

    def write_csv(self):
        """Write all rows recorded so far (atomically)."""
        self._collect()
        with atomic_path(self.csv_path) as temporary, open(temporary, 'w', newline='') as handle:
            writer = csv.writer(handle)
            writer.writerow(self.columns)
            writer.writerows(self.rows)

    def on_end(self, state):
        self.write_csv()
        if self.plot_path and self.rows:
            plot_history(self.rows, self.plot_path, columns=self.columns, probabilities=self.probabilities)

    def state_dict(self):
        self._collect()
        return {'rows': [list(row) for row in self.rows]}

    def load_state_dict(self, state_dict):
        self.rows, self._pending, self._pending_steps = [list(row) for row in state_dict['rows']], [], []
        return self


#: The plot's panels: which columns each shows.
PANELS = (('losses', ('g_loss', 'd_loss')), ('discriminator output', ('d_x', 'd_g_z', 'wasserstein')),
          ('penalties (unweighted)', ('gradient_penalty', 'r1_penalty')))


def plot_history(rows: List[List[float]], path: str, window: int = 50,
                 columns: Sequence[str] = ('step',) + tuple(str(key) for key in BASE_QUANTITIES),
                 probabilities: bool = True) -> dict:
    """Plot losses, discriminator outputs and penalties per step, raw (faint) and as a ``window``-step moving average.

    Args:
        rows: ``[step, value, ...]`` per step, in the order of ``columns``.
        columns: the name of each column; a panel is drawn for each group of :data:`PANELS` present.
        probabilities: clamp the discriminator-output axis to ``[0, 1]`` (only where they are probabilities).

    Returns:
        ``{panel title: (bottom, top)}``, the y-range each panel was drawn with.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    values = np.asarray(rows, dtype=np.float64)
    steps = values[:, 0]
    window = max(1, min(window, len(values)))
    kernel = np.ones(window) / window
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
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format='png', dpi=100)
    ranges = {axis.get_title(): axis.get_ylim() for axis in axes[0]}
    plt.close(figure)
    return ranges
