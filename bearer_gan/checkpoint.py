"""Checkpoints: everything needed to continue a run exactly where it stopped, written atomically.

A checkpoint holds the torchbearer trial's own ``state_dict`` parts (the generator, the
history) and what a GAN adds beside them: the discriminator, both optimizers, the step, the
random number generator states (torch CPU and CUDA, the training GPU's apart so that it
restores onto whichever GPU continues the run, Python, NumPy), the ``state_dict`` of
every callback that has one (sample frames, per-step history, the generator's moving average)
and the last value of each penalty (a lazy one reports it on the steps between computations).
The data order needs nothing saved: it is a function of the seed and the step
(:class:`~bearer_gan.data.ShuffledBatchSampler`), and so is the fixed noise.

``checkpoint.pt`` is replaced atomically (temporary file, ``fsync``, :func:`os.replace`) after
the previous one has been moved to ``checkpoint.prev.pt``, so a kill at any moment leaves at
least one complete checkpoint. Everything in it is a tensor, a number, a string or a container
of those, so it loads with ``torch.load(weights_only=True)``.

Checkpoints carry their format number (:data:`FORMAT`). When what a checkpoint holds changes,
the number goes up and :data:`UPGRADES` gains the function that turns the previous format into
the new one, so that a checkpoint made by an older version is migrated step by step as it is
loaded (and reported as such), and one made by a newer version is refused with that reason,
not as "corrupt".
"""
import os
import random
from typing import Callable, Dict, Optional, Tuple

import numpy as np
import torch
import torchbearer
from torchbearer.callbacks import Callback

from . import keys
from .files import atomic_path
from .tb_internals import callback_states, callbacks_of, trial_state_dict

__all__ = ['CHECKPOINT', 'PREVIOUS_CHECKPOINT', 'FORMAT', 'UPGRADES', 'CheckpointError', 'GANCheckpoint',
           'upgrade_checkpoint', 'load_checkpoint', 'restore_checkpoint']

CHECKPOINT = 'checkpoint.pt'
PREVIOUS_CHECKPOINT = 'checkpoint.prev.pt'
#: The format of the checkpoints this version writes (see :data:`UPGRADES`).
FORMAT = 2


class CheckpointError(RuntimeError):
    """No usable checkpoint: the message names each file tried and why it failed."""


class _FormatError(ValueError):
    """A bearer_gan checkpoint of a format this version cannot read (the message says which and why)."""


def _history_length_only(checkpoint: dict) -> dict:
    """Format 1 -> 2: :class:`~bearer_gan.callbacks.LossHistory` keeps the CSV's length instead of every row.

    The rows a format-1 checkpoint carried are passed on under ``'rows'``, and the CSV is
    rewritten from them when the run resumes.
    """
    checkpoint['callbacks'] = [
        (name, {'rows_written': len(state['rows']), 'bytes': 0, 'rows': state['rows']}
         if name == 'LossHistory' and 'rows' in state else state)
        for name, state in checkpoint['callbacks']]
    return checkpoint


#: ``{format: function}``: each function turns a checkpoint of that format into one of the next.
UPGRADES: Dict[int, Callable[[dict], dict]] = {
    1: _history_length_only,
}


def upgrade_checkpoint(checkpoint: dict) -> Tuple[dict, int]:
    """Migrate a loaded checkpoint to :data:`FORMAT`, one format at a time: ``(checkpoint, its original format)``.

    Raises:
        ValueError: for a checkpoint of a newer format, or an older one no upgrade reaches.
    """
    original = checkpoint['format']
    if not isinstance(original, int) or original > FORMAT:
        raise _FormatError(f'made by a newer version of bearer_gan (checkpoint format {original}; this version '
                           f'reads formats up to {FORMAT}): upgrade bearer_gan to resume it')
    while checkpoint['format'] < FORMAT:
        upgrade = UPGRADES.get(checkpoint['format'])
        if upgrade is None:
            raise _FormatError(f'made by an older version of bearer_gan (checkpoint format {original}), which this '
                               'version cannot migrate')
        checkpoint = dict(upgrade(dict(checkpoint)), format=checkpoint['format'] + 1)
    return checkpoint, original


def _on_cuda(device) -> bool:
    return device is not None and torch.device(device).type == 'cuda'


def _rng_states(device=None) -> dict:
    numpy_state = np.random.get_state()
    states = {
        'torch': torch.get_rng_state(),
        'cuda': torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        'python': random.getstate(),
        'numpy': [numpy_state[0], torch.from_numpy(numpy_state[1].astype(np.int64)), *numpy_state[2:]],
    }
    if _on_cuda(device):  # the generator the noise comes from; under DDP every rank's GPU has this state
        states['training_device'] = torch.cuda.get_rng_state(device)
    return states


def _set_rng_states(states: dict, device=None):
    torch.set_rng_state(states['torch'])
    if states['cuda'] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states['cuda'])
    if 'training_device' in states and _on_cuda(device):  # also when resuming on another GPU, or on rank r's
        torch.cuda.set_rng_state(states['training_device'], device)
    version, internal, gauss_next = states['python']
    random.setstate((version, tuple(internal), gauss_next))
    name, keys_, *rest = states['numpy']
    np.random.set_state((name, keys_.numpy().astype(np.uint32), *rest))


def _has_state(callback: Callback) -> bool:
    """Whether ``callback`` keeps a state (a non-empty ``state_dict``): progress displays (a bar, log
    lines, a preview) keep none, so they may differ between a run and its resumption."""
    return bool(callback.state_dict())


class GANCheckpoint(Callback):
    """Write ``run_dir/checkpoint.pt`` every ``interval`` steps and when the run ends or is stopped.

    A step whose losses are not finite is never checkpointed, so the last checkpoint is a good one.

    Args:
        run_dir: folder of the run.
        interval: steps between checkpoints.
        write: False to write nothing when a checkpoint is due and only call ``after_save``: what
            every rank but the first does under DistributedDataParallel.
        after_save: called with no arguments each time a checkpoint is due, after writing it: under
            DDP a barrier (:func:`bearer_gan.distributed.barrier`), so no rank runs ahead of a checkpoint.

    State Requirements:
        - reads :data:`torchbearer.SELF` (the trial), :data:`~bearer_gan.keys.STEP`,
          :data:`~bearer_gan.keys.DISCRIMINATOR`, both optimizers, :data:`~bearer_gan.keys.NON_FINITE`,
          :data:`~bearer_gan.keys.PENALTIES` and each penalty's value
    """

    def __init__(self, run_dir: str, interval: int = 1000, write: bool = True,
                 after_save: Optional[Callable[[], None]] = None):
        if interval < 1:
            raise ValueError(f'checkpoint interval must be a positive integer, got {interval}')
        self.run_dir, self.interval, self.write, self.after_save = run_dir, interval, write, after_save

    def on_step_training(self, state):
        if state[keys.STEP] % self.interval == 0 and keys.NON_FINITE not in state:
            self.save(state)

    def on_end(self, state):
        if keys.NON_FINITE not in state:  # again even after a periodic one: callbacks wrote more in on_end
            self.save(state)

    def save(self, state):
        """Write the checkpoint of ``state`` now (unless ``write`` is False), keeping the previous one as
        ``checkpoint.prev.pt``; then call ``after_save``."""
        if self.write:
            self._write(state)
        if self.after_save is not None:
            self.after_save()

    def _write(self, state):
        trial_state = trial_state_dict(state)  # torchbearer's own: model, history, callback states
        checkpoint = {
            'format': FORMAT,
            'step': state[keys.STEP],
            'generator': trial_state[torchbearer.MODEL],
            'history': [dict(epoch) for epoch in trial_state[torchbearer.HISTORY]],
            'discriminator': state[keys.DISCRIMINATOR].state_dict(),
            'generator_optimizer': state[keys.GENERATOR_OPTIMIZER].state_dict(),
            'discriminator_optimizer': state[keys.DISCRIMINATOR_OPTIMIZER].state_dict(),
            'callbacks': [(callback_type.__name__, callback_state)
                          for callback_type, callback_state in callback_states(trial_state)],
            'rng': _rng_states(state[torchbearer.DEVICE] if torchbearer.DEVICE in state else None),
            # a lazy penalty reports its last value on the steps between two computations: keep it for those
            'penalty_values': {str(penalty.key): state[penalty.key] for penalty in state.get(keys.PENALTIES) or ()
                               if penalty.key in state},
        }
        path = os.path.join(self.run_dir, CHECKPOINT)
        with atomic_path(path) as temporary:
            torch.save(checkpoint, temporary)
            if os.path.exists(path):
                os.replace(path, os.path.join(self.run_dir, PREVIOUS_CHECKPOINT))


def load_checkpoint(run_dir: str, device: str = 'cpu', warn=print) -> Tuple[dict, str]:
    """Load the newest readable checkpoint of ``run_dir``: ``checkpoint.pt``, else ``checkpoint.prev.pt``.

    Args:
        run_dir: folder of the run.
        device: where to map the tensors.
        warn: called with a one-line message when ``checkpoint.pt`` is unreadable and the previous one is used.

    Returns:
        ``(checkpoint, path)``

    Raises:
        CheckpointError: when neither file can be read (the message names both).
    """
    problems = []
    for name in (CHECKPOINT, PREVIOUS_CHECKPOINT):
        path = os.path.join(run_dir, name)
        if not os.path.exists(path):
            problems.append(f'{path} does not exist')
            continue
        try:
            checkpoint = torch.load(path, map_location=device, weights_only=True)
            if not isinstance(checkpoint, dict) or 'format' not in checkpoint:
                raise ValueError('not a bearer_gan checkpoint')
        except Exception as error:  # truncated or garbage: try the previous one
            problems.append(f'{path} is corrupt or truncated ({type(error).__name__}: {" ".join(str(error).split())[:200]})')
            continue
        try:
            checkpoint, original = upgrade_checkpoint(checkpoint)
        except _FormatError as error:
            problems.append(f'{path} was {error}')
            continue
        if original != FORMAT:
            warn(f'{path} was made by an older version of bearer_gan (checkpoint format {original}); '
                 f'migrated to format {FORMAT}')
        if problems:
            warn(f'{problems[-1]}; resuming from {path} instead')
        return checkpoint, path
    raise CheckpointError('no usable checkpoint: ' + '; '.join(problems))


def restore_checkpoint(trial: torchbearer.Trial, checkpoint: dict, callbacks: bool = True) -> int:
    """Put ``checkpoint`` into a trial built with the same configuration and callbacks; returns its step.

    Only callbacks that keep a state are matched, by type and in order; the rest (what a run
    displays) may differ between a run and its resumption.

    Args:
        callbacks: False to restore only what training needs (networks, optimizers, history, random
            state, penalty values, step) into a trial without the output callbacks: every rank but the
            first under DDP.

    Raises:
        CheckpointError: when the checkpoint's stateful callbacks differ from the trial's.
    """
    stateful = [callback for callback in callbacks_of(trial.state) if _has_state(callback)] if callbacks else []
    saved = [(name, state) for name, state in checkpoint['callbacks'] if state]
    saved_names = [name for name, _ in saved]
    if callbacks and saved_names != [type(callback).__name__ for callback in stateful]:
        raise CheckpointError(f'the checkpoint was written with the stateful callbacks {saved_names}, this run has '
                              f'{[type(callback).__name__ for callback in stateful]}')
    trial.state[torchbearer.MODEL].load_state_dict(checkpoint['generator'])
    trial.state[keys.DISCRIMINATOR].load_state_dict(checkpoint['discriminator'])
    trial.state[keys.GENERATOR_OPTIMIZER].load_state_dict(checkpoint['generator_optimizer'])
    trial.state[keys.DISCRIMINATOR_OPTIMIZER].load_state_dict(checkpoint['discriminator_optimizer'])
    trial.state[torchbearer.HISTORY] = [dict(epoch) for epoch in checkpoint['history']]
    for callback, (_, callback_state) in zip(stateful, saved):
        callback.load_state_dict(callback_state)
    _set_rng_states(checkpoint['rng'], trial.state[torchbearer.DEVICE] if torchbearer.DEVICE in trial.state else None)
    for penalty in trial.state.get(keys.PENALTIES) or ():
        if str(penalty.key) in checkpoint.get('penalty_values', {}):
            trial.state[penalty.key] = checkpoint['penalty_values'][str(penalty.key)]
    trial.state[keys.STEP] = checkpoint['step']
    return checkpoint['step']
