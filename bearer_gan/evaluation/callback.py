"""A callback that scores the generator during training: FID and class coverage every few hundred steps.

The losses of a GAN do not say whether the samples improve; FID does (:mod:`bearer_gan.evaluation`).
Scoring 2,000 samples with a small shipped classifier (MNIST, Fashion-MNIST) takes well under a
second on a CPU, so it can run inside training and show in the progress bar next to the losses.
Inception-v3 (any other data set) costs about 6 GFLOPs per image: on a CPU, score rarely.
"""
from typing import List, Optional, Tuple

import torchbearer
from torchbearer.callbacks import Callback

from .. import keys
from ..callbacks import sampling_generator, steps_done
from .evaluate import evaluate_generator
from .scorers import ScorerLike, scorer_for

__all__ = ['FidEvaluator']


class FidEvaluator(Callback):
    """Every ``interval`` steps, score ``num_samples`` generated images; keep the scores in :attr:`rows`.

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
            or a data set name whose scorer is built on the training device at the first score.
            When FID cannot be computed here, it warns once and the rows hold None.
        num_classes: for a class-conditional generator: draw balanced labels
            (see :func:`~bearer_gan.evaluation.evaluate.evaluate_generator`).

    Attributes:
        scorer: the scorer; a data set name until the first score builds it.
        rows: one ``(step, fid, classes_covered, kl_from_uniform)`` per score, in step order; None
            for what the scorer cannot measure (``fid`` when skipped, the others without a classifier).

    State Requirements:
        - reads :data:`torchbearer.MODEL` (the generator), :data:`~bearer_gan.keys.LATENT_DIM`,
          :data:`torchbearer.DEVICE`, and :data:`torchbearer.EPOCH`, :data:`torchbearer.TRAIN_STEPS`,
          :data:`torchbearer.BATCH` (through :func:`~bearer_gan.callbacks.steps_done`)
        - writes ``'fid'`` and ``'classes_covered'`` into :data:`torchbearer.METRICS`
    """

    def __init__(self, interval: int = 500, num_samples: int = 2000, seed: int = 0, batch_size: int = 500,
                 scorer: ScorerLike = 'mnist', num_classes: Optional[int] = None):
        if interval < 1:
            raise ValueError(f'evaluation interval must be a positive integer, got {interval}')
        if num_samples < 2:
            raise ValueError(f'num_samples must be at least 2, got {num_samples}')
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
        result = evaluate_generator(sampling_generator(state), state[keys.LATENT_DIM], n=self.num_samples,
                                    device=device, seed=self.seed, batch_size=self.batch_size,
                                    scorer=self.scorer, num_classes=self.num_classes)
        self.rows.append((step, result['fid'], result.get('classes_covered'), result.get('kl_from_uniform')))

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
