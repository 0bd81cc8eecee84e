"""Stopping a run cleanly: at a step boundary, on a non-finite loss or on SIGINT / SIGTERM.

A run stopped halfway through a step (the generator updated, the discriminator not) cannot be
checkpointed and resumed exactly. So the first Ctrl-C (or SIGTERM) only asks training to stop:
:class:`TrainingGuard` ends the epoch after the current step, torchbearer runs every callback's
``on_end`` (the GIF, the history, the models and a checkpoint are written), and
:func:`~bearer_gan.trial.run_gan` then raises :class:`KeyboardInterrupt`. A second Ctrl-C
interrupts at once.
"""
import contextlib
import math
import signal
import threading

import torch
import torchbearer
from torchbearer.callbacks import Callback

from . import keys

__all__ = ['NonFiniteLossError', 'TrainingGuard', 'stop_requests']


class NonFiniteLossError(ArithmeticError):
    """A loss became NaN or infinite; the message names the step and the loss."""

    def __init__(self, step: int, name: str, value: float):
        super().__init__(f'{name} became {value} at step {step}; training stopped there')
        self.step, self.name, self.value = step, name, value


class TrainingGuard(Callback):
    """First in every GAN trial: stops training at a step boundary when a loss is not finite or a stop was requested.

    Checking finiteness reads the two losses once per step (a device synchronisation on GPU,
    nothing on CPU): the price of stopping at the very first bad step, before it is checkpointed.
    Under DistributedDataParallel the losses it reads are the ranks' average, and a stop request
    counts when any rank had one (:data:`~bearer_gan.keys.STOP_AGREED`, written by the step's one
    all-reduce, :mod:`bearer_gan.distributed`), so every rank stops at the same step.

    Attributes:
        run_state: the state of the current or last run (torchbearer keeps it local to ``Trial.run``).
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
        self.run_state = None
        self.stop_requested = threading.Event()
        self.stopped_by_request = False

    def on_start(self, state):
        self.run_state = state
        self.stopped_by_request = False
        state[keys.STOP_REQUESTED] = self.stop_requested

    def on_step_training(self, state):
        # torchbearer copies the trial's state over the run's at every pass; keep the step count there too
        state[torchbearer.SELF].state[keys.STEP] = state[keys.STEP]
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


@contextlib.contextmanager
def stop_requests(guard: TrainingGuard):
    """While training, turn the first SIGINT / SIGTERM into a stop request; a second SIGINT interrupts at once.

    Only in the main thread (Python delivers signals there); elsewhere it changes nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(signum, frame):
        if guard.stop_requested.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        guard.stop_requested.set()

    previous = {signum: signal.signal(signum, request_stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
