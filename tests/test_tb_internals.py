"""What bearer_gan relies on inside torchbearer (:mod:`bearer_gan.tb_internals`): one test per reliance.

Each test states torchbearer's behaviour as bearer_gan uses it, on a bare :class:`torchbearer.Trial`
(no GAN), so that a torchbearer upgrade that changes it fails here, by name, rather than somewhere
in a training run.
"""
import pytest
import torch
import torchbearer
from torchbearer import callbacks as tb
from torchbearer.bases import base_closure
from torchbearer.callbacks import Callback, CallbackList

from bearer_gan import tb_internals
from bearer_gan.tb_internals import (RunStateKeeper, WithoutState, callback_states, callbacks_of, clipped_parameters,
                                     keep_in_trial, steps_on_batch, trial_state_dict, writes_graph)

KEY = torchbearer.state_key('tb_internals_test')


class OnStep(Callback):
    """Calls ``function(state)`` after every training step."""

    def __init__(self, function):
        super().__init__()
        self.function = function

    def on_step_training(self, state):
        self.function(state)


class Counter(Callback):
    """A callback with a state: the steps it saw."""

    def __init__(self):
        super().__init__()
        self.steps = 0

    def on_step_training(self, state):
        self.steps += 1

    def state_dict(self):
        return {'steps': self.steps}


def bare_trial(steps=3, model=None, callbacks=(), verbose=0):
    """A trial with no data that runs ``steps`` empty steps per epoch (the mock optimizer calls the closure)."""
    return torchbearer.Trial(model, None, callbacks=list(callbacks), verbose=verbose).with_closure(
        lambda state: None).for_train_steps(steps)


def test_a_run_has_a_state_of_its_own_that_only_a_callback_can_keep():
    keeper = RunStateKeeper()
    trial = bare_trial(3, callbacks=[keeper, OnStep(lambda state: state.update({KEY: state[torchbearer.BATCH]}))])
    assert keeper.run_state is None
    trial.run(1)
    assert keeper.run_state is not trial.state  # Trial.run made a State of its own and handed it to the callbacks
    assert keeper.run_state[KEY] == 2 and KEY not in trial.state  # written during the run: in the run's state only
    assert keeper.run_state[torchbearer.EPOCH] == 0 and keeper.run_state[torchbearer.BATCH] == 2  # where it ended


def test_each_pass_copies_the_trial_state_over_the_run_state_unless_kept_in_the_trial():
    def seen(keep: bool, epochs: int):
        def count(state):
            state[KEY] += 1
            if keep:
                keep_in_trial(state, KEY)
        starts, ends = [], []
        trial = bare_trial(3, callbacks=[OnStep(count), tb.on_start_training(lambda state: starts.append(state[KEY])),
                                         tb.on_end(lambda state: ends.append(state[KEY]))])
        trial.state[KEY] = 0
        trial.run(epochs)
        return starts, ends, trial.state[KEY]

    # the validation pass (run even without validation data) copies it back before on_end: 3 steps are forgotten
    assert seen(keep=False, epochs=1) == ([0], [0], 0)
    assert seen(keep=False, epochs=2) == ([0, 0], [0], 0)  # and each training pass starts from the trial's value
    assert seen(keep=True, epochs=1) == ([0], [3], 3)
    assert seen(keep=True, epochs=2) == ([0, 3], [6], 6)


def test_an_epoch_a_callback_stops_gets_no_history_entry():
    keeper = RunStateKeeper()
    complete = bare_trial(5, callbacks=[keeper])
    complete.run(1)
    history = complete.state[torchbearer.HISTORY]
    assert len(history) == 1 and history[0][str(torchbearer.TRAIN_STEPS)] == 5
    assert set(history[0]) == {str(torchbearer.TRAIN_STEPS), str(torchbearer.VALIDATION_STEPS)}  # METRICS are {}
    assert keeper.unrecorded_epoch(complete) is None

    def stop_at_the_third_step(state):
        state[torchbearer.STOP_TRAINING] = state[torchbearer.BATCH] == 2
    keeper = RunStateKeeper()
    stopped = bare_trial(5, callbacks=[keeper, OnStep(stop_at_the_third_step)])
    stopped.state[torchbearer.HISTORY].append({'earlier': 'epoch'})  # as after an earlier run_gan
    stopped.run(2)
    assert stopped.state[torchbearer.HISTORY] == [{'earlier': 'epoch'}]  # no entry for the stopped epoch
    assert keeper.run_state[torchbearer.EPOCH] == 1 and keeper.run_state[torchbearer.BATCH] == 2
    assert keeper.unrecorded_epoch(stopped) == {str(torchbearer.TRAIN_STEPS): 3}


def test_the_trial_iterates_over_its_own_callbacks_without_the_injected_printer():
    first, second, inside = Callback(), Counter(), []
    trial = bare_trial(1, callbacks=[first, second], verbose=2)
    spy = tb.on_start(lambda state: inside.append((type(state[torchbearer.CALLBACK_LIST]).__name__,
                                                   callbacks_of(state), callbacks_of(trial.state))))
    trial.state[torchbearer.CALLBACK_LIST].append([spy])
    assert callbacks_of(trial.state) == [first, second, spy]
    trial.run(1)
    assert inside == [('CallbackListInjection', [first, second, spy], [first, second, spy])]  # Tqdm is not listed


def test_the_trial_state_dict_holds_the_model_the_history_and_the_callback_states():
    model = torch.nn.Linear(3, 2)
    saved = []
    trial = bare_trial(2, model=model, callbacks=[Counter(), tb.on_end(lambda state: saved.append(
        trial_state_dict(state)))])
    trial.run(1)
    (state_dict,) = saved
    assert state_dict[torchbearer.MODEL].keys() == model.state_dict().keys()
    assert all(torch.equal(state_dict[torchbearer.MODEL][name], value) for name, value in model.state_dict().items())
    history = trial.state[torchbearer.HISTORY]
    assert state_dict[torchbearer.HISTORY] == history and len(history) == 1
    assert set(state_dict[torchbearer.CALLBACK_LIST]) == {CallbackList.CALLBACK_TYPES, CallbackList.CALLBACK_STATES}


@pytest.mark.parametrize('verbose', [0, 2])
def test_callback_states_pair_each_class_with_its_state_without_the_printer(verbose):
    saved = []
    save = tb.on_end(lambda state: saved.append(callback_states(trial_state_dict(state))))
    trial = bare_trial(2, callbacks=[Counter(), Callback(), save], verbose=verbose)
    trial.run(1)
    (pairs,) = saved  # inside the run: the injected printer (Tqdm at verbose 2) is not among them
    assert pairs == [(Counter, {'steps': 2}), (Callback, {}), (type(save), {})]  # classes, in order, all of them
    assert set(CallbackList([Counter()]).state_dict()) == {'callback_types', 'callback_states'}


def test_base_closure_retries_the_forward_without_state_and_without_state_calls_once():
    class Recorder:
        """A network that, like a DDP wrapper, passes every keyword on and fails on ``state``."""

        def __init__(self):
            self.calls = []

        def __call__(self, *inputs, **options):
            self.calls.append(sorted(options))
            if 'state' in options:
                raise TypeError("forward() got an unexpected keyword argument 'state'")
            return inputs[0] * 2

    class NoOptimizer:
        def zero_grad(self):
            pass

    def one_step(model):
        net, out, loss = (torchbearer.state_key(name) for name in ('test_net', 'test_out', 'test_loss'))
        state = torchbearer.State()
        state.update({torchbearer.X: torch.ones(2, requires_grad=True), net: model, torchbearer.Y_TRUE: None,
                      torchbearer.CRITERION: lambda state: state[out].sum(), torchbearer.OPTIMIZER: NoOptimizer(),
                      torchbearer.CALLBACK_LIST: CallbackList([]), torchbearer.BACKWARD_ARGS: {}})
        base_closure(torchbearer.X, net, out, torchbearer.Y_TRUE, torchbearer.CRITERION, loss, torchbearer.OPTIMIZER)(
            state)
        assert state[loss].item() == 4.0
        assert torch.equal(state[torchbearer.X].grad, torch.full((2,), 2.0))

    plain = Recorder()
    one_step(plain)
    assert plain.calls == [['state'], []]  # called with state, failed, called again without: two forwards
    wrapped = Recorder()
    one_step(WithoutState(wrapped))
    assert wrapped.calls == [[]]  # one forward, without state


SCHEDULERS = ['StepLR', 'MultiStepLR', 'ExponentialLR', 'CosineAnnealingLR', 'LambdaLR', 'ReduceLROnPlateau',
              'CyclicLR']


def test_every_torchbearer_scheduler_is_a_torch_scheduler():
    assert all(issubclass(getattr(tb, name), tb_internals.TorchScheduler) for name in SCHEDULERS)
    assert not issubclass(tb.EarlyStopping, tb_internals.TorchScheduler)


def test_early_stopping_keeps_step_on_batch_and_checks_per_epoch_without_it():
    assert steps_on_batch(tb.EarlyStopping(monitor='running_loss', step_on_batch=True)) is True
    per_epoch = tb.EarlyStopping(monitor='running_loss')
    assert steps_on_batch(per_epoch) is False
    state = {torchbearer.METRICS: {'running_loss': 1.0}, torchbearer.STOP_TRAINING: False}
    per_epoch.on_end_epoch(state)  # the best so far
    for _ in range(3):
        per_epoch.on_step_training(state)  # ignored without step_on_batch: a worse loss would go unseen all run
        state[torchbearer.METRICS]['running_loss'] += 1.0
    assert state[torchbearer.STOP_TRAINING] is False
    per_epoch.on_end_epoch(state)
    assert state[torchbearer.STOP_TRAINING] is True


def test_tensorboard_keeps_write_graph():
    assert writes_graph(tb.TensorBoard(write_graph=True)) is True
    assert writes_graph(tb.TensorBoard(write_graph=False)) is False


def test_gradient_norm_clipping_keeps_its_params_or_takes_a_one_pass_iterator():
    model = torch.nn.Linear(3, 2)
    given = list(model.parameters())
    assert clipped_parameters(tb.GradientNormClipping(1.0, params=given)) is given
    clipper = tb.GradientNormClipping(1.0)
    assert clipped_parameters(clipper) is None
    clipper.on_start({torchbearer.MODEL: model})
    params = clipped_parameters(clipper)
    assert iter(params) is params  # an iterator, not a list
    model(torch.ones(1, 3)).sum().backward()
    clipper.on_backward({})
    assert list(params) == []  # the first clip used it up
