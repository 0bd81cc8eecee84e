"""A callback that scores the generator during training: FID and class coverage every few hundred steps.

The losses of a GAN do not say whether the samples improve; FID does (:mod:`bearer_gan.evaluation`).
Scoring 2,000 samples with a small shipped classifier (MNIST, Fashion-MNIST) takes well under a
second on a CPU, so it can run inside training and show in the progress bar next to the losses.
Inception-v3 (any other data set) costs about 6 GFLOPs per image: on a CPU, score rarely.

Given a run folder (``bearer-gan train --eval-interval N``), it also keeps what the scores are for:
``eval_history.csv`` (a row per score), ``fid.png`` (FID over steps) and ``generator.best.pt`` (the
generator at the best FID so far, in ``generator.pt``'s format), so a run that degrades late keeps
its best networks.
"""
import csv
import math
import os
from typing import Any, Dict, List, Optional, Tuple

import torchbearer
from torchbearer.callbacks import Callback

from .. import keys
from ..callbacks import sampling_generator, steps_done
from ..callbacks.saving import save_network
from ..files import atomic_path
from .evaluate import evaluate_generator
from .scorers import ScorerLike, scorer_for

__all__ = ['FidEvaluator', 'EVAL_COLUMNS', 'BEST_GENERATOR', 'read_eval_history', 'plot_fid']

#: The columns of ``eval_history.csv``, one row per score (empty where a value was not measured).
EVAL_COLUMNS = ('step', 'fid', 'classes_covered', 'kl_from_uniform')
#: The generator at the best FID so far, in ``generator.pt``'s format (:func:`~bearer_gan.callbacks.load_generator`).
BEST_GENERATOR = 'generator.best.pt'


class FidEvaluator(Callback):
    """Every ``interval`` steps, score ``num_samples`` generated images; keep the scores in :attr:`rows`.

    FID and class coverage only: the k-NN and kernel metrics of ``bearer-gan evaluate`` (precision,
    recall, density, coverage, KID) cost several times more and are left to the evaluation after training.

    The generator samples from the same seeded noise each time (the global random state is not
    touched), in eval mode, without gradients. The latest ``fid`` and ``classes_covered`` are put
    into the metrics on every step after the first score (each only when it was measured), so the
    progress bar keeps showing them and the epoch's history records them. The last step is also
    scored if it fell between two intervals: in ``on_end_training``, so that the epoch's history
    has it, or in ``on_end`` when training was interrupted (see :func:`bearer_gan.trial.run_gan`).

    Args:
        interval: steps between scores, at least 1.
        num_samples: images per score, at least 2. FID is biased upwards for small samples, so
            only compare FIDs computed on the same number of images.
        seed: seed of the noise.
        batch_size: images per forward pass.
        scorer: a :class:`~bearer_gan.evaluation.scorers.Scorer` (e.g. built by
            :func:`~bearer_gan.evaluation.scorers.scorer_for` with the training images as reference),
            or a data set name, or a function of the device returning a scorer: then the scorer is
            built on the training device at the first score.
            When FID cannot be computed here, it warns once and the rows hold None.
        num_classes: for a class-conditional generator: draw balanced labels
            (see :func:`~bearer_gan.evaluation.evaluate.evaluate_generator`).
        out_dir: the run's folder: after each score, write ``eval_history.csv`` and ``fid.png`` there, and
            ``generator.best.pt`` when the FID is the lowest so far. None writes nothing.
        spec: the model pair's spec (:func:`~bearer_gan.models.model_spec`), recorded in ``generator.best.pt``
            as in ``generator.pt``; needed with ``out_dir``.

    Attributes:
        scorer: the scorer; a data set name until the first score builds it.
        rows: one ``(step, fid, classes_covered, kl_from_uniform)`` per score, in step order; None
            for what the scorer cannot measure (``fid`` when skipped, the others without a classifier).

    State Requirements:
        - reads :data:`torchbearer.MODEL` (the generator), :data:`~bearer_gan.keys.LATENT_DIM`,
          :data:`torchbearer.DEVICE`, and :data:`~bearer_gan.keys.STEP` (through
          :func:`~bearer_gan.callbacks.steps_done`)
        - writes ``'fid'`` and ``'classes_covered'`` into :data:`torchbearer.METRICS`
    """

    def __init__(self, interval: int = 500, num_samples: int = 2000, seed: int = 0, batch_size: int = 500,
                 scorer: ScorerLike = 'mnist', num_classes: Optional[int] = None, out_dir: Optional[str] = None,
                 spec: Optional[Dict[str, Any]] = None):
        if interval < 1:
            raise ValueError(f'evaluation interval must be a positive integer, got {interval}')
        if num_samples < 2:
            raise ValueError(f'num_samples must be at least 2, got {num_samples}')
        if out_dir is not None and spec is None:
            raise ValueError('FidEvaluator needs the model spec to write generator.best.pt into out_dir')
        self.out_dir, self.spec = out_dir, spec
        self.interval, self.num_samples, self.seed, self.batch_size = interval, num_samples, seed, batch_size
        self.num_classes = num_classes
        self.rows: List[Tuple[int, Optional[float], Optional[int], Optional[float]]] = []
        self.step = 0
        self.scorer = scorer

    def score(self, state, step: int):
        """Score the generator in ``state`` now, as of ``step``, and append the row."""
        device = state[torchbearer.DEVICE]
        if isinstance(self.scorer, str):
            self.scorer = scorer_for(self.scorer, device)
        elif callable(self.scorer):  # a factory of the scorer on the training device
            self.scorer = self.scorer(device)
        result = evaluate_generator(sampling_generator(state), state[keys.LATENT_DIM], n=self.num_samples,
                                    device=device, seed=self.seed, batch_size=self.batch_size,
                                    scorer=self.scorer, num_classes=self.num_classes, compare=False)
        self.rows.append((step, result['fid'], result.get('classes_covered'), result.get('kl_from_uniform')))
        if self.out_dir is not None:
            self._write(state)

    def _write(self, state):
        fid_now, earlier = self.rows[-1][1], [row[1] for row in self.rows[:-1] if row[1] is not None]
        if fid_now is not None and (not earlier or fid_now < min(earlier)):
            save_network(os.path.join(self.out_dir, BEST_GENERATOR), dict(self.spec, latent_dim=state[keys.LATENT_DIM]),
                         sampling_generator(state))
        with atomic_path(os.path.join(self.out_dir, 'eval_history.csv')) as temporary, \
                open(temporary, 'w', newline='') as handle:
            writer = csv.writer(handle)
            writer.writerow(EVAL_COLUMNS)
            writer.writerows([['' if value is None else value for value in row] for row in self.rows])
        plot_fid(self.rows, os.path.join(self.out_dir, 'fid.png'))

    def _show(self, state):
        if self.rows:
            for name, value in zip(('fid', 'classes_covered'), self.rows[-1][1:3]):
                if value is not None:
                    state[torchbearer.METRICS][name] = value

    def on_step_training(self, state):
        self.step = steps_done(state)
        if self.step % self.interval == 0:
            self.score(state, self.step)
        self._show(state)

    def _score_last_step(self, state):
        if self.step and (not self.rows or self.rows[-1][0] != self.step):
            self.score(state, self.step)

    def on_end_training(self, state):
        self._score_last_step(state)
        self._show(state)

    def on_end(self, state):
        self._score_last_step(state)

    def state_dict(self):
        return {'rows': [list(row) for row in self.rows], 'step': self.step}

    def load_state_dict(self, state_dict):
        self.rows, self.step = [tuple(row) for row in state_dict['rows']], state_dict['step']
        return self


def read_eval_history(path: str) -> List[Dict[str, Optional[float]]]:
    """The rows of an ``eval_history.csv`` as ``{column: value}``; None where a value was not measured."""
    with open(path, newline='') as handle:
        return [{key: (float(value) if value != '' else None) for key, value in row.items()}
                for row in csv.DictReader(handle)]


def plot_fid(rows, path: str) -> None:
    """Plot FID over steps (rows ``(step, fid, ...)``, unmeasured FIDs left out) into the PNG ``path``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    points = [(row[0], row[1]) for row in rows if row[1] is not None and math.isfinite(row[1])]
    figure, axis = plt.subplots(figsize=(5.5, 4))
    if points:
        axis.plot(*zip(*points), marker='o', markersize=3)
        best = min(points, key=lambda point: point[1])
        axis.scatter([best[0]], [best[1]], color='C3', zorder=3, label=f'best: {best[1]:.1f} at step {best[0]}')
        axis.legend()
    axis.set_xlabel('step')
    axis.set_ylabel('FID (lower is better)')
    axis.set_title('FID of the moving-average generator')
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format='png', dpi=100)
    plt.close(figure)
