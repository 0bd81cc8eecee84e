"""The per-step history of a run: ``history.csv`` as training goes, and ``losses.png`` at the end."""
import csv
from typing import List

import numpy as np
import torch
from torchbearer.callbacks import Callback

from .. import keys
from ..files import atomic_path
from .progress import steps_done

__all__ = ['LossHistory', 'plot_history']


class LossHistory(Callback):
    """Record every step's losses, D(x) and D(G(z)) into ``history.csv``; plot them into ``losses.png`` at the end.

    Values stay on the training device until they are written (every ``write_interval`` steps and
    at the end), so recording costs no host-device synchronisation per step.

    State Requirements:
        - reads :data:`~bearer_gan.keys.GENERATOR_LOSS`, :data:`~bearer_gan.keys.DISCRIMINATOR_LOSS`,
          :data:`~bearer_gan.keys.D_REAL`, :data:`~bearer_gan.keys.D_FAKE`
    """

    COLUMNS = ('step', 'g_loss', 'd_loss', 'd_x', 'd_g_z')

    def __init__(self, csv_path: str, plot_path: str = None, write_interval: int = 500):
        self.csv_path, self.plot_path, self.write_interval = csv_path, plot_path, write_interval
        self.rows: List[List[float]] = []
        self._pending: List[torch.Tensor] = []
        self._pending_steps: List[int] = []

    def on_step_training(self, state):
        self._pending.append(torch.stack([state[key].detach() for key in (
            keys.GENERATOR_LOSS, keys.DISCRIMINATOR_LOSS, keys.D_REAL, keys.D_FAKE)]))
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
            writer.writerow(self.COLUMNS)
            writer.writerows(self.rows)

    def on_end(self, state):
        self.write_csv()
        if self.plot_path and self.rows:
            plot_history(self.rows, self.plot_path)

    def state_dict(self):
        self._collect()
        return {'rows': [list(row) for row in self.rows]}

    def load_state_dict(self, state_dict):
        self.rows, self._pending, self._pending_steps = [list(row) for row in state_dict['rows']], [], []
        return self


def plot_history(rows: List[List[float]], path: str, window: int = 50):
    """Plot losses and D outputs per step, raw (faint) and as a ``window``-step moving average."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    values = np.asarray(rows, dtype=np.float64)
    steps = values[:, 0]
    window = max(1, min(window, len(values)))
    kernel = np.ones(window) / window
    figure, (loss_axis, d_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for axis, columns in ((loss_axis, (1, 2)), (d_axis, (3, 4))):
        for column in columns:
            line, = axis.plot(steps, values[:, column], alpha=0.25, linewidth=0.8)
            smooth = np.convolve(values[:, column], kernel, mode='valid')
            axis.plot(steps[window - 1:], smooth, color=line.get_color(), label=LossHistory.COLUMNS[column])
        axis.set_xlabel('step')
        axis.legend()
    loss_axis.set_title('losses')
    d_axis.set_title('discriminator output: D(x) real, D(G(z)) fake')
    d_axis.set_ylim(0, 1)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format='png', dpi=100)
    plt.close(figure)
