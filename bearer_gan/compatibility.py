"""Which of torchbearer's own callbacks work on a GAN trial, and a one-line refusal for those that would not.

A GAN trial is a :class:`torchbearer.Trial` whose model is the generator and whose optimizer is
torchbearer's mock: the discriminator, both real optimizers and both losses live in state under
:mod:`bearer_gan.keys`. Most callbacks work unchanged (metrics, printers, any function of state,
anything that sets :data:`torchbearer.STOP_TRAINING`). A few are built on the trial's one model,
optimizer or loss and would silently do nothing, or the wrong thing, on a GAN:
:func:`check_callbacks` refuses them with a message that says what to use instead. The
documentation's table of torchbearer callbacks on a GAN trial is backed by ``tests/test_compatibility.py``.
The callbacks' settings are read through :mod:`bearer_gan.tb_internals` (torchbearer keeps them as
undocumented attributes).
"""
from typing import Callable, Optional, Sequence, Tuple

from torchbearer.callbacks import (Best, EarlyStopping, GradientNormClipping, Interval, MostRecent, TensorBoard,
                                   WeightDecay)

from .tb_internals import TorchScheduler, clipped_parameters, steps_on_batch, writes_graph

__all__ = ['RULES', 'refusal', 'check_callbacks']


def _name(callback) -> str:
    return type(callback).__name__


#: ``(applies(callback), message(callback))`` for every callback a GAN trial refuses, in order.
RULES: Tuple[Tuple[Callable[[object], bool], Callable[[object], str]], ...] = (
    (lambda callback: isinstance(callback, TorchScheduler),
     lambda callback: f"torchbearer's {_name(callback)} schedules the trial's one optimizer, which a GAN trial does "
                      'not have (its two optimizers are in state), so it would change nothing; use '
                      'bearer_gan.LearningRateSchedule, which drives both'),
    (lambda callback: isinstance(callback, EarlyStopping) and not steps_on_batch(callback),
     lambda callback: 'EarlyStopping checks at the end of each epoch and a GAN run is one torchbearer epoch, so it '
                      'would check once, when training is over; pass step_on_batch=True (and monitor a running '
                      "metric, e.g. 'running_d_loss')"),
    (lambda callback: isinstance(callback, (MostRecent, Best, Interval)),
     lambda callback: f"torchbearer's {_name(callback)} saves only the trial's model (the generator): the "
                      'discriminator, both optimizers and the step would be lost; use bearer_gan.GANCheckpoint '
                      '(everything, every interval steps) or SaveModels (both networks at the end)'),
    (lambda callback: isinstance(callback, TensorBoard) and writes_graph(callback),
     lambda callback: 'TensorBoard(write_graph=True) traces the generator with an input shaped like the images, but '
                      'the generator takes noise; pass write_graph=False'),
    (lambda callback: isinstance(callback, WeightDecay),
     lambda callback: f"{_name(callback)} adds its term to torchbearer's LOSS, which a GAN trial does not "
                      "back-propagate (each network's loss has its own key); pass weight_decay to the optimizers "
                      'instead (e.g. torch.optim.AdamW)'),
    (lambda callback: isinstance(callback, GradientNormClipping)
                  and not isinstance(clipped_parameters(callback), (list, tuple)),
     lambda callback: 'GradientNormClipping without a list of parameters clips the first backward pass only (it '
                      'keeps a one-pass iterator); pass params=list(generator.parameters()) or the '
                      "discriminator's"),
)


def refusal(callback) -> Optional[str]:
    """Why a GAN trial refuses ``callback``, in one line, or None when it works."""
    return next((message(callback) for applies, message in RULES if applies(callback)), None)


def check_callbacks(callbacks: Sequence) -> None:
    """Refuse the first callback that would not work on a GAN trial.

    Raises:
        ValueError: one line naming the callback, why, and what to use instead.
    """
    for callback in callbacks:
        message = refusal(callback)
        if message is not None:
            raise ValueError(message)
