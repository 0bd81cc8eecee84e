"""Stopping a run cleanly: at a step boundary, on a non-finite loss or on SIGINT / SIGTERM.

A run stopped halfway through a step (the generator updated, the discriminator not) cannot be
checkpointed and resumed exactly. So the first Ctrl-C (or SIGTERM) only asks training to stop:
:class:`TrainingGuard` ends the epoch after the current step, torchbearer runs every callback's
``on_end`` (the GIF, the history, the models and a checkpoint are written), and
:func:`~bearer_gan.trial.run_gan` then raises :class:`KeyboardInterrupt`. A second Ctrl-C
interrupts at once.

SIGTERM takes one path, in one process and under torchrun alike: :func:`stop_requests` turns it
into a stop request, which :class:`TrainingGuard` honours at the next step boundary. Under torchrun
(which forwards SIGTERM to every rank) :func:`bearer_gan.distributed.guarded` only holds the same
handler for longer, and the step's all-reduce adds the agreement: a stop counts when any rank was
asked, so every rank stops at the same step.
"""
import contextlib
import math
import signal
import threading
from typing import Sequence

import torch
import torchbearer

from . import keys
from .tb_internals import RunStateKeeper, callbacks_of, keep_in_trial

__all__ = ['STOP_SIGNALS', 'NonFiniteLossError', 'TrainingGuard', 'stop_requests']

#: The signals that ask a run to stop at the next step boundary.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class NonFiniteLossError(ArithmeticError):
    """A loss became NaN or infinite; the message names the step and the loss."""

    def __init__(self, step: int, name: str, value: float):
        super().__init__(f'{name} became {value} at step {step}; training stopped there')
        self.step, self.name, self.value = step, name, value


class TrainingGuard(RunStateKeeper):
    """First in every GAN trial: stops training at a step boundary when a loss is not finite or a stop was requested.

    Checking finiteness reads the two losses once per step (a device synchronisation on GPU,
    nothing on CPU): the price of stopping at the very first bad step, before it is checkpointed.
    Under DistributedDataParallel the losses it reads are the ranks' average, and a stop request
    counts when any rank had one (:data:`~bearer_gan.keys.STOP_AGREED`, written by the step's one
    all-reduce, :mod:`bearer_gan.distributed`), so every rank stops at the same step.

    Attributes:
        run_state: the state of the current or last run (torchbearer keeps it local to ``Trial.run``;
            :class:`~bearer_gan.tb_internals.RunStateKeeper`).
        stop_requested: set by :func:`stop_requests` when SIGINT or SIGTERM arrives.
        stopped_by_request: whether the last run ended because of such a request.

    State Requirements:
        - reads :data:`~bearer_gan.keys.STEP`, :data:`~bearer_gan.keys.GENERATOR_LOSS`, :data:`~bearer_gan.keys.DISCRIMINATOR_LOSS`,
          :data:`~bearer_gan.keys.STOP_AGREED` when present
        - writes :data:`torchbearer.STOP_TRAINING`, :data:`~bearer_gan.keys.NON_FINITE`,
          :data:`~bearer_gan.keys.STOP_REQUESTED` (its :attr:`stop_requested`), and
          :data:`~bearer_gan.keys.STEP` into the trial's own state
    """

    def __init__(self):
        super().__init__()
        self.stop_requested = threading.Event()
        self.stopped_by_request = False

    def on_start(self, state):
        super().on_start(state)
        self.stopped_by_request = False
        state[keys.STOP_REQUESTED] = self.stop_requested

    def on_step_training(self, state):
        keep_in_trial(state, keys.STEP)  # torchbearer copies the trial's state over the run's at every pass
        losses = torch.stack([state[keys.GENERATOR_LOSS].detach(), state[keys.DISCRIMINATOR_LOSS].detach()])
        if not bool(torch.isfinite(losses).all()):
            values = losses.tolist()
            name, value = next((name, value) for name, value in zip(('g_loss', 'd_loss'), values)
                               if not math.isfinite(value))
            state[keys.NON_FINITE] = (state[keys.STEP], name, value)
            state[torchbearer.STOP_TRAINING] = True
        elif state[keys.STOP_AGREED] if keys.STOP_AGREED in state else self.stop_requested.is_set():
            self.stop_requested.clear()
            self.stopped_by_request = True
            state[torchbearer.STOP_TRAINING] = True

    @classmethod
    def of(cls, trial: torchbearer.Trial) -> 'TrainingGuard':
        """The guard of ``trial`` (:func:`~bearer_gan.trial.gan_trial` puts one first).

        Raises:
            ValueError: for a trial without one (not built by :func:`~bearer_gan.trial.gan_trial`).
        """
        guard = next((callback for callback in callbacks_of(trial.state) if isinstance(callback, cls)), None)
        if guard is None:
            raise ValueError('the trial has no TrainingGuard: build it with bearer_gan.gan_trial')
        return guard


@contextlib.contextmanager
def stop_requests(guard: TrainingGuard, signals: Sequence[int] = STOP_SIGNALS, keep_after_error: bool = False):
    """While training, turn the first SIGINT / SIGTERM into a stop request; a second SIGINT interrupts at once.

    The one handler of SIGTERM, for one process and torchrun alike: it sets ``guard.stop_requested``,
    which :class:`TrainingGuard` (under DDP, through the step's all-reduce) turns into a stop at the
    next step boundary. Only in the main thread (Python delivers signals there); elsewhere it changes
    nothing.

    Args:
        guard: the trial's guard (:meth:`TrainingGuard.of`).
        signals: the signals to handle, some of :data:`STOP_SIGNALS`.
        keep_after_error: leave the handlers in place when the block raises, for a process on its way
            out whose late SIGTERM must not cut its exit short (:func:`bearer_gan.distributed.guarded`);
            by default the previous handlers come back however the block ends.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(signum, frame):
        if guard.stop_requested.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        guard.stop_requested.set()

    previous = {signum: signal.signal(signum, request_stop) for signum in signals}
    try:
        yield
    except BaseException:
        if not keep_after_error:
            _restore(previous)
        raise
    _restore(previous)


def _restore(handlers: dict):
    for signum, handler in handlers.items():
        signal.signal(signum, handler)
