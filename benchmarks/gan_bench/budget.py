"""What ``benchmarks/fashion_budget.py`` adds to a run: its clocks (:class:`Budget`, :class:`CpuClock`), the
scores of a generator (:func:`scores_of`) and its sample grid (:func:`draw_grid`).

The two clocks are torchbearer callbacks given to :func:`bearer_gan.recipe.train` after the run's own.
"""
import time
from typing import Optional

import torchbearer
from torchbearer.callbacks import Callback

import bearer_gan
from bearer_gan import keys
from bearer_gan.evaluation import evaluate_generator

__all__ = ['Budget', 'CpuClock', 'scores_of', 'draw_grid']


class Budget(Callback):
    """Stop training once ``seconds`` of training wall-clock are spent, or after ``steps``; score along the way.

    The clock starts at the first step and pauses while the generator is scored at the ``curve``
    points (evenly spaced fractions of the budget: of the seconds, or of the steps when given).

    Args:
        seconds: the training budget in seconds of wall-clock.
        steps: train this many steps instead of watching the clock (the run's own ``steps`` stops it).
        curve: points at which to score, the last one being the end of the budget (scored after training).
        score: ``score(state) -> dict`` of the generator's scores.

    State Requirements:
        - reads :data:`~bearer_gan.keys.STEP`
        - writes :data:`torchbearer.STOP_TRAINING` when the seconds are spent
    """

    def __init__(self, seconds: float, steps: Optional[int], curve: int, score):
        self.seconds, self.steps, self.score = seconds, steps, score
        self.points = [(index + 1) / curve for index in range(curve - 1)]
        self.elapsed, self.step, self.curve, self._started = 0.0, 0, [], None

    def on_start_training(self, state):
        self._started = time.perf_counter()

    def on_step_training(self, state):
        self.elapsed += time.perf_counter() - self._started
        step = self.step = state[keys.STEP]
        done = step / self.steps if self.steps else self.elapsed / self.seconds
        if self.points and done >= self.points[0]:
            self.points.pop(0)
            self.curve.append(dict(step=step, seconds=round(self.elapsed, 1), **self.score(state)))
            print(f'\n  step {step}, {self.elapsed:.0f} s: {self.curve[-1]}', flush=True)
        if not self.steps and self.elapsed >= self.seconds:
            state[torchbearer.STOP_TRAINING] = True
        self._started = time.perf_counter()


class CpuClock(Callback):
    """The process's CPU seconds of every step after the first ``warm`` of a run, in ``seconds``."""

    def __init__(self, warm: int):
        self.warm, self.seconds, self._last = warm, [], None

    def on_step_training(self, state):
        now = time.process_time()
        if state[keys.STEP] > self.warm:
            self.seconds.append(now - self._last)
        self._last = now


def scores_of(generator, latent_dim: int, scorer, num_classes: Optional[int] = None) -> dict:
    """FID, coverage and smallest class share of 10,000 samples (a conditional generator's labels balanced)."""
    scores = evaluate_generator(generator, latent_dim, n=10000, scorer=scorer, num_classes=num_classes)
    return dict(fid=round(scores['fid'], 2), classes_covered=scores['classes_covered'],
                smallest_share=round(min(scores['class_shares']), 4))


def draw_grid(generator, spec: dict, path: str):
    """A 10 x 10 grid of the generator's samples (one class per row for a conditional one)."""
    labels = None if spec.get('num_classes') is None else bearer_gan.class_rows(spec['num_classes'], 10)
    count = 100 if labels is None else len(labels)
    bearer_gan.save_grid(bearer_gan.generate(generator, spec['latent_dim'], count, seed=0, labels=labels), path, nrow=10)
