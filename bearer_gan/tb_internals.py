"""Every place bearer_gan relies on how torchbearer works inside, rather than on what it documents.

A GAN trial bends a :class:`torchbearer.Trial` further than its documentation goes: it reads the
state of a run after the run, writes into the trial's own state from a callback, fills in the
history entry of an epoch a callback stopped, saves callback states from torchbearer's own
``state_dict`` layout, calls DDP-wrapped networks past torchbearer's ``state`` keyword, and reads
the settings of torchbearer's callbacks to refuse those that cannot work on a GAN. Each such
reliance is one small function or class here, whose docstring says what torchbearer (0.5.5) does
and why bearer_gan depends on it, and ``tests/test_tb_internals.py`` has one test per item that
fails when torchbearer changes that behaviour. A torchbearer upgrade then means reading this
module and running those tests, not searching the package.

What torchbearer documents (state keys, :class:`~torchbearer.callbacks.Callback` and its hooks,
``base_closure``, metrics, ``Trial``'s builder methods) is used directly, everywhere.
"""
from typing import Callable, Iterable, List, Optional, Tuple

import torchbearer
from torchbearer.callbacks import Callback, CallbackList, EarlyStopping, GradientNormClipping, TensorBoard
from torchbearer.callbacks import torch_scheduler as _torch_scheduler

__all__ = ['RunStateKeeper', 'keep_in_trial', 'callbacks_of', 'trial_state_dict',
           'callback_states', 'WithoutState', 'TorchScheduler', 'steps_on_batch', 'writes_graph',
           'clipped_parameters']


# --- the state of a run ----------------------------------------------------------------------------------------------

class RunStateKeeper(Callback):
    """A callback that keeps the state of the current (or last) run in :attr:`run_state`.

    ``Trial.run`` builds a new :class:`torchbearer.State` at every call, local to the method,
    copies the trial's own state (``trial.state``) into it and hands that copy to every callback.
    The two are different dicts: what the closures and callbacks write during the run (the step
    count, a non-finite loss, ``STOP_TRAINING``, the last ``METRICS``, ``EPOCH`` and ``BATCH``) is in
    the run's state only, and torchbearer drops it when ``run`` returns or raises. A callback that
    keeps the reference it gets in ``on_start`` is the only way to read where a run ended:
    :class:`~bearer_gan.safety.TrainingGuard` is one, and :func:`~bearer_gan.trial.run_gan` reads it
    (and :meth:`unrecorded_epoch`).

    Attributes:
        run_state: the run's state, from its ``on_start``; None before the first run.
    """

    def __init__(self):
        super().__init__()
        self.run_state = None

    def on_start(self, state):
        self.run_state = state

    def unrecorded_epoch(self, trial: torchbearer.Trial) -> Optional[dict]:
        """The history entry torchbearer did not append for the last epoch of :attr:`run_state`; None when it did.

        ``Trial.run`` appends ``dict(METRICS, train_steps=..., validation_steps=...)`` to the trial's
        ``HISTORY`` only when an epoch runs to its end: an epoch a callback stopped (``STOP_TRAINING``
        in ``_fit_pass``) leaves its final metrics in the run's state and no entry. The loop variable
        of that pass is ``run_state[BATCH]``, the index of the last step made, so the entry returned
        here has the epoch's metrics and ``train_steps`` ``BATCH + 1``. :func:`~bearer_gan.trial.run_gan`
        appends it, so a run stopped early still returns its history.
        """
        if len(trial.state[torchbearer.HISTORY]) >= self.run_state[torchbearer.EPOCH] + 1:
            return None
        steps_run = {str(torchbearer.TRAIN_STEPS): self.run_state[torchbearer.BATCH] + 1}
        return dict(self.run_state[torchbearer.METRICS], **steps_run)


def keep_in_trial(state, key) -> None:
    """Write ``state[key]`` (the run's state, inside ``Trial.run``) into the trial's own state as well.

    At the start of every pass torchbearer copies the trial's own state over the run's
    (``state.update(self.state)`` in ``Trial._fit_pass`` and ``Trial._validation_pass``, which runs
    after every training pass, with validation data or not), so a value a callback writes only into
    the run's state is back to the trial's value by ``on_end_epoch`` and ``on_end``, and at the next
    epoch. The trial is ``state[torchbearer.SELF]`` and its own state its undocumented ``state``
    attribute. :class:`~bearer_gan.safety.TrainingGuard` keeps the step count there at every step,
    so the callbacks' ``on_end`` (the final checkpoint, the history) and
    :func:`~bearer_gan.trial.run_gan` see the step the run reached.
    """
    state[torchbearer.SELF].state[key] = state[key]


# --- the callbacks and their states ----------------------------------------------------------------------------------

def callbacks_of(state) -> List[Callback]:
    """The callbacks given to a trial, in their order, without the printer torchbearer adds, from the
    trial's own state (``trial.state``) or from the state of one of its runs.

    The trial keeps them as a :class:`~torchbearer.callbacks.CallbackList` under
    ``CALLBACK_LIST``; while it runs (and after a run that raised) that list is wrapped in a
    ``CallbackListInjection`` that calls its progress printer first (a ``Tqdm``, or a plain
    ``Callback`` at ``verbose=0``). Iterating either yields the trial's own callbacks only, which
    is what :func:`~bearer_gan.trial.run_gan` (to find the guard, and to end an interrupted run) and
    :func:`~bearer_gan.checkpoint.restore_checkpoint` (to match saved states) need.
    """
    return list(state[torchbearer.CALLBACK_LIST])


def trial_state_dict(state) -> dict:
    """torchbearer's ``state_dict`` of the trial running ``state`` (``state[torchbearer.SELF]``).

    ``Trial.state_dict`` holds ``MODEL`` (the generator's ``state_dict``), ``OPTIMIZER`` (the mock
    optimizer's, empty), ``HISTORY`` (the trial's history list itself, not a copy) and
    ``CALLBACK_LIST`` (:func:`callback_states` reads it). :class:`~bearer_gan.checkpoint.GANCheckpoint`
    takes the generator, the history and the callback states of a checkpoint from it.
    """
    return state[torchbearer.SELF].state_dict()


def callback_states(trial_state: dict) -> List[Tuple[type, dict]]:
    """``(callback class, its state_dict)`` for every callback in a :func:`trial_state_dict`, in order.

    ``CallbackList.state_dict`` keeps two parallel lists, the classes under
    ``CallbackList.CALLBACK_TYPES`` and the states under ``CallbackList.CALLBACK_STATES``, one
    entry per callback given to the trial, stateless ones included (``{}``); inside a run too, the
    printer torchbearer injects is not among them (``CallbackListInjection.state_dict`` is its inner
    list's). A checkpoint stores each class's name beside its state, and
    :func:`~bearer_gan.checkpoint.restore_checkpoint` matches the non-empty ones by name and order
    against :func:`callbacks_of`.
    """
    saved = trial_state[torchbearer.CALLBACK_LIST]
    return list(zip(saved[CallbackList.CALLBACK_TYPES], saved[CallbackList.CALLBACK_STATES]))


# --- how torchbearer calls a model -----------------------------------------------------------------------------------

class WithoutState:
    """Call ``module`` the way torchbearer calls models, ``model(*x, state=state)``, without passing ``state`` on.

    torchbearer's ``base_closure`` calls the model with the ``state`` keyword first and, on any
    exception, calls it again without (``torchbearer.bases._forward_with_exceptions``). A
    DistributedDataParallel wrapper hands every keyword to its network, which fails, so each
    forward would run twice, the first time half-way into DDP's bookkeeping for the backward. This
    wrapper takes the keyword and drops it: one forward, through DDP, with the inputs only
    (:func:`~bearer_gan.distributed.data_parallel`).

    Attributes:
        module: the wrapped network (a :class:`~torch.nn.parallel.DistributedDataParallel`).
    """

    def __init__(self, module: Callable):
        self.module = module

    def __call__(self, *inputs, state=None):
        return self.module(*inputs)


# --- the settings of torchbearer's callbacks (bearer_gan.compatibility) ----------------------------------------------

#: The base class of torchbearer's learning rate scheduler callbacks (``StepLR``, ``ReduceLROnPlateau``
#: and the rest), which ``torchbearer.callbacks`` does not export: all of them schedule the trial's
#: one optimizer, so :mod:`bearer_gan.compatibility` refuses any instance of it.
TorchScheduler = _torch_scheduler.TorchScheduler


def steps_on_batch(early_stopping: EarlyStopping) -> bool:
    """Whether ``early_stopping`` checks its monitor after every step (its ``step_on_batch`` argument).

    torchbearer keeps the argument as the undocumented attribute ``step_on_batch`` and checks in
    ``on_step_training`` when it is set, else in ``on_end_epoch``; a GAN run is one epoch, so
    :mod:`bearer_gan.compatibility` refuses an EarlyStopping without it.
    """
    return early_stopping.step_on_batch


def writes_graph(tensorboard: TensorBoard) -> bool:
    """Whether ``tensorboard`` traces the model's graph (its ``write_graph`` argument, kept as an attribute).

    With it, torchbearer's TensorBoard traces the trial's model with an input shaped like the data
    (the images), which the generator does not take: :mod:`bearer_gan.compatibility` refuses it.
    """
    return tensorboard.write_graph


def clipped_parameters(clipper: GradientNormClipping) -> Optional[Iterable]:
    """The parameters ``clipper`` was given (its ``params`` argument, kept as an attribute), None when none were.

    Given none, torchbearer's GradientNormClipping sets ``params`` in ``on_start`` to
    ``filter(...)`` over the model's parameters: a one-pass iterator that the first clip exhausts,
    so every later step clips nothing. :mod:`bearer_gan.compatibility` refuses a clipper whose
    parameters are not a list or a tuple.
    """
    return clipper.params
