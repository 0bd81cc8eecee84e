"""TensorBoard logs of a run (``--tensorboard``, the optional extra ``bearer_gan[tensorboard]``).

Written with :class:`torch.utils.tensorboard.SummaryWriter`, which needs the ``tensorboard``
package; this is the only module that imports it, and only when a run starts. torchbearer's own
:class:`~torchbearer.callbacks.TensorBoard` callbacks do not fit a GAN run: they need
tensorboardX, count steps within an epoch (a resumed run would start again at 0) and draw images
with ``make_grid(range=...)``, which current torchvision rejects.
"""
from typing import Optional

import torchbearer
from torchbearer.callbacks import Callback
from torchvision.utils import make_grid

from .. import keys
from .progress import FixedNoiseSampler

__all__ = ['TENSORBOARD_MISSING', 'tensorboard_available', 'TensorBoardLogger', 'write_scores']

#: What to do when the ``tensorboard`` package is missing.
TENSORBOARD_MISSING = "--tensorboard needs the tensorboard package: pip install 'bearer_gan[tensorboard]'"


def tensorboard_available() -> bool:
    """Whether :class:`torch.utils.tensorboard.SummaryWriter` can be imported (the ``tensorboard`` package)."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        return False
    return True


class TensorBoardLogger(Callback):
    """Write a run's scalars and sample grids into a TensorBoard log folder, at its global steps.

    Every ``interval`` steps (and at the last one): each numeric metric of
    :data:`torchbearer.METRICS` under ``metrics/`` (bearer_gan's running means of the losses,
    D(x) and D(G(z)): ``metrics/running_g_loss``, ...) and each optimizer's learning rate
    (``lr/generator``, ``lr/discriminator``). Each frame the ``sampler`` renders, as the image
    ``samples``. Each score of a ``scorer`` (:class:`~bearer_gan.FidEvaluator`) at the step it
    was measured: ``eval/fid``, ``eval/classes_covered``. A resumed run drops the events a
    stopped run wrote after its checkpoint (``purge_step``), so no step is shown twice.
    A new run (step 0) logs its first frame too.

    Args:
        log_dir: the folder (``<out>/tensorboard`` for a command-line run).
        interval: steps between scalars.
        sampler: the sampler whose frames to log, or None.
        scorer: an in-training scorer with ``rows`` of ``(step, fid, classes_covered, ...)``, or None.

    State Requirements:
        - reads :data:`~bearer_gan.keys.STEP`, :data:`torchbearer.METRICS`,
          :data:`~bearer_gan.keys.GENERATOR_OPTIMIZER`, :data:`~bearer_gan.keys.DISCRIMINATOR_OPTIMIZER`
    """

    def __init__(self, log_dir: str, interval: int = 100, sampler: Optional[FixedNoiseSampler] = None,
                 scorer=None):
        if interval < 1:
            raise ValueError(f'TensorBoard interval must be a positive integer, got {interval}')
        self.log_dir, self.interval, self.sampler, self.scorer = log_dir, interval, sampler, scorer
        self.writer = None
        self._frames_written = self._scores_written = 0
        self._last_scalars = None

    def on_start(self, state):
        from torch.utils.tensorboard import SummaryWriter
        step = state[keys.STEP]
        self.writer = SummaryWriter(self.log_dir, purge_step=step + 1 if step else None)  # after the checkpoint
        # a resumed run's earlier frames and scores are in the log already (up to its checkpoint's step)
        self._frames_written = self._up_to(self.sampler.frame_steps, step) if self.sampler and step else 0
        self._scores_written = self._up_to([row[0] for row in self.scorer.rows], step) if self.scorer and step else 0
        self._last_scalars = step
        self._write_new(state)

    @staticmethod
    def _up_to(steps, step: int) -> int:
        return sum(1 for done in steps if done <= step)

    def on_step_training(self, state):
        step = state[keys.STEP]
        if step % self.interval == 0:
            self._write_scalars(state, step)
        self._write_new(state)

    def on_end_training(self, state):
        if state[keys.STEP] != self._last_scalars:
            self._write_scalars(state, state[keys.STEP])

    def on_end(self, state):
        if self.writer is not None:
            self._write_new(state)
            self.writer.close()
            self.writer = None

    def _write_scalars(self, state, step: int):
        for name, value in state[torchbearer.METRICS].items():
            try:
                self.writer.add_scalar(f'metrics/{name}', float(value), step)
            except (TypeError, ValueError, RuntimeError):  # not one number (a tensor of several, None)
                pass
        for network, key in (('generator', keys.GENERATOR_OPTIMIZER), ('discriminator', keys.DISCRIMINATOR_OPTIMIZER)):
            optimizer = state[key] if key in state else None
            if optimizer is not None:
                self.writer.add_scalar(f'lr/{network}', optimizer.param_groups[0]['lr'], step)
        self._last_scalars = step

    def _write_new(self, state):
        """Frames and scores made since the last call."""
        if self.sampler is not None and len(self.sampler.frame_steps) > self._frames_written:
            if self.sampler.images is not None:  # the newest frame's images; earlier ones are gone
                grid = make_grid(self.sampler.images.detach().float().cpu(), nrow=self.sampler.nrow,
                                 normalize=True, value_range=(-1, 1), pad_value=1.0)
                self.writer.add_image('samples', grid, self.sampler.frame_steps[-1])
            self._frames_written = len(self.sampler.frame_steps)
        if self.scorer is not None:
            for step, fid, covered, *_ in self.scorer.rows[self._scores_written:]:
                for name, value in (('fid', fid), ('classes_covered', covered)):
                    if value is not None:
                        self.writer.add_scalar(f'eval/{name}', float(value), step)
            self._scores_written = len(self.scorer.rows)


def write_scores(log_dir: str, scores: dict, step: int):
    """Log a finished run's scores (``eval.json``'s ``fid`` and ``classes_covered``) at ``step``, as ``eval/...``."""
    from torch.utils.tensorboard import SummaryWriter
    with SummaryWriter(log_dir) as writer:
        for name in ('fid', 'classes_covered'):
            if scores.get(name) is not None:
                writer.add_scalar(f'eval/{name}', float(scores[name]), step)
