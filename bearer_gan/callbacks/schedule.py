"""Learning-rate schedules that drive both optimizers of a GAN, resumable from a checkpoint.

torchbearer's scheduler callbacks (``StepLR`` and the rest) bind to the trial's one optimizer,
which for a GAN trial is torchbearer's mock (the real optimizers live in state), so they would
change nothing; :func:`bearer_gan.trial.gan_trial` refuses them
(:mod:`bearer_gan.compatibility`). :class:`LearningRateSchedule` schedules both.

A schedule is a factor of the base learning rate as a function of the run's progress, so the
learning rate of a step depends only on the step: ``lr(s) = base_lr * factor(s / steps)`` for
the update that follows ``s`` completed ones. A resumed run therefore continues the same
schedule exactly: the base learning rates are kept in each optimizer's ``param_groups`` as
``initial_lr`` (torch's schedulers use the same name), which the checkpoint holds with the
optimizers, and the callback's own ``state_dict`` holds the schedule and its length.
"""
import math
from typing import Callable, Dict, Union

from torchbearer.callbacks import Callback

from .. import keys

__all__ = ['SCHEDULES', 'LearningRateSchedule']


def _constant(progress: float) -> float:
    return 1.0


def _linear(progress: float) -> float:
    return 1.0 - progress


def _cosine(progress: float) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * progress))


#: Schedules by name: ``factor(progress)`` for ``progress = step / steps`` in ``[0, 1)``.
#: ``constant`` keeps the learning rate; ``linear`` decays it to 0 at the last step; ``cosine``
#: follows half a cosine from the base learning rate to 0.
SCHEDULES: Dict[str, Callable[[float], float]] = {'constant': _constant, 'linear': _linear, 'cosine': _cosine}


class LearningRateSchedule(Callback):
    """Set the learning rate of both optimizers before every step: ``base_lr * factor(step / steps)``.

    Args:
        schedule: a name from :data:`SCHEDULES`, or any ``factor(progress) -> float``.
        steps: the length of the run the schedule spans (``--steps``).

    Raises:
        ValueError: for an unknown schedule name or ``steps < 1``.

    State Requirements:
        - reads :data:`~bearer_gan.keys.STEP`, :data:`~bearer_gan.keys.GENERATOR_OPTIMIZER`,
          :data:`~bearer_gan.keys.DISCRIMINATOR_OPTIMIZER`
        - writes the optimizers' ``param_groups`` ``lr`` (and ``initial_lr``, the base, once)
    """

    def __init__(self, schedule: Union[str, Callable[[float], float]], steps: int):
        if isinstance(schedule, str):
            if schedule not in SCHEDULES:
                raise ValueError(f"unknown learning-rate schedule {schedule!r}; choose one of: {', '.join(SCHEDULES)}")
            self.name, self.factor = schedule, SCHEDULES[schedule]
        else:
            self.name, self.factor = getattr(schedule, '__name__', 'custom'), schedule
        if not isinstance(steps, int) or steps < 1:
            raise ValueError(f'the schedule needs a positive number of steps, got {steps!r}')
        self.steps = steps

    @staticmethod
    def _groups(state):
        return [group for key in (keys.GENERATOR_OPTIMIZER, keys.DISCRIMINATOR_OPTIMIZER)
                for group in state[key].param_groups]

    def on_start(self, state):
        for group in self._groups(state):
            group.setdefault('initial_lr', group['lr'])

    def on_sample(self, state):
        factor = self.factor(min(state[keys.STEP], self.steps) / self.steps)
        for group in self._groups(state):
            group['lr'] = group['initial_lr'] * factor

    def state_dict(self):
        return {'schedule': self.name, 'steps': self.steps}

    def load_state_dict(self, state_dict):
        """Check that the checkpoint was made with the same schedule (the learning rates come with the optimizers).

        Raises:
            ValueError: when the checkpoint's schedule differs from this one.
        """
        if state_dict['schedule'] != self.name:
            raise ValueError(f"the checkpoint was made with the {state_dict['schedule']!r} learning-rate schedule, "
                             f'this run has {self.name!r}')
        return self
