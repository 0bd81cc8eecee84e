"""torchbearer's own callbacks on a GAN trial: each row of the documentation's table ("works" or "refused") tested here."""
import os
from pathlib import Path

import pytest
import torch
import torchbearer
from torchbearer import callbacks as tb

import bearer_gan
from bearer_gan import keys
from bearer_gan.compatibility import refusal
from conftest import batches, make_trial, require_module

ROOT = Path(__file__).resolve().parents[1]


def run(digits, steps, callbacks, **options):
    trial, generator, discriminator = make_trial(callbacks=callbacks, **options)
    history = bearer_gan.run_gan(trial, batches(digits), steps)
    return trial, generator, discriminator, history


# --- refused, with a one-line message -------------------------------------------------------------------------------

REFUSED = [
    (tb.StepLR(step_size=10), "torchbearer's StepLR schedules the trial's one optimizer"),
    (tb.MultiStepLR(milestones=[5]), 'use bearer_gan.LearningRateSchedule, which drives both'),
    (tb.ExponentialLR(gamma=0.9), "torchbearer's ExponentialLR"),
    (tb.CosineAnnealingLR(T_max=10), "torchbearer's CosineAnnealingLR"),
    (tb.LambdaLR(lambda epoch: 1.0), "torchbearer's LambdaLR"),
    (tb.ReduceLROnPlateau(monitor='running_d_loss'), "torchbearer's ReduceLROnPlateau"),
    (tb.CyclicLR(base_lr=1e-4, max_lr=1e-3), "torchbearer's CyclicLR"),
    (tb.EarlyStopping(monitor='running_d_loss'), 'pass step_on_batch=True'),
    (tb.ModelCheckpoint('model.pt'), "saves only the trial's model (the generator)"),
    (tb.MostRecent('model.pt'), 'use bearer_gan.GANCheckpoint'),
    (tb.Best('model.pt', monitor='running_g_loss'), "torchbearer's Best saves only"),
    (tb.Interval('model.pt', period=1), "torchbearer's Interval saves only"),
    (tb.TensorBoard(write_graph=True), 'pass write_graph=False'),
    (tb.L1WeightDecay(), 'L1WeightDecay adds its term to torchbearer\'s LOSS'),
    (tb.L2WeightDecay(), 'pass weight_decay to the optimizers'),
    (tb.GradientNormClipping(1.0), 'clips the first backward pass only'),
]


@pytest.mark.parametrize('callback, message', REFUSED, ids=lambda value: type(value).__name__)
def test_callbacks_that_cannot_work_are_refused_in_one_line(callback, message):
    with pytest.raises(ValueError, match='^.*$') as error:
        make_trial(callbacks=[callback])
    assert message in str(error.value)
    assert '\n' not in str(error.value)
    assert refusal(callback) == str(error.value)


def test_the_documentation_table_quotes_every_refusal():
    page = (ROOT / 'docs' / 'callbacks.rst').read_text()
    text = ' '.join(page.split())
    quoted = [refusal(callback) for callback, _ in REFUSED
              if isinstance(callback, (tb.StepLR, tb.EarlyStopping, tb.MostRecent, tb.TensorBoard, tb.L2WeightDecay,
                                       tb.GradientNormClipping))]
    assert len(quoted) == 6 and all(message in text for message in quoted)
    named = ['StepLR', 'MultiStepLR', 'ExponentialLR', 'CosineAnnealingLR', 'LambdaLR', 'ReduceLROnPlateau', 'CyclicLR',
             'ModelCheckpoint', 'MostRecent', 'Best', 'Interval', 'L1WeightDecay', 'L2WeightDecay', 'GradientClipping']
    assert all(f'``{name}' in page for name in named)


def test_torchbearer_schedulers_really_would_change_nothing(digits):
    # why they are refused: built on the trial's mock optimizer, StepLR leaves both real learning rates alone
    trial, _, _ = make_trial()
    scheduler = tb.StepLR(step_size=1, gamma=0.1, step_on_batch=True)
    trial.state[torchbearer.CALLBACK_LIST].append([scheduler])
    bearer_gan.run_gan(trial, batches(digits), 3)
    assert [group['lr'] for key in (keys.GENERATOR_OPTIMIZER, keys.DISCRIMINATOR_OPTIMIZER)
            for group in trial.state[key].param_groups] == [2e-4, 2e-4]


def test_gradient_norm_clipping_without_a_list_really_clips_only_once(digits):
    # why it is refused: torchbearer keeps filter(...) over the parameters, empty after the first clip
    clipper = tb.GradientNormClipping(1e-3)  # its on_start sets params = filter(..., generator.parameters())
    norms = []
    trial, generator, _ = make_trial()
    step = trial.state[keys.GENERATOR_OPTIMIZER].step

    def recorded(*args, **kwargs):
        norms.append(torch.nn.utils.get_total_norm([p.grad for p in generator.parameters()]).item())
        return step(*args, **kwargs)
    trial.state[keys.GENERATOR_OPTIMIZER].step = recorded
    trial.state[torchbearer.CALLBACK_LIST].append([clipper])  # past gan_trial's check
    bearer_gan.run_gan(trial, batches(digits), 3)
    assert norms[0] <= 1e-3 * 1.01 and all(norm > 1e-2 for norm in norms[1:])


# --- works ----------------------------------------------------------------------------------------------------------

def gradients_at_each_step(trial, network, key):
    """Record the gradient norm and largest gradient of ``network`` each time the optimizer under ``key`` steps."""
    seen = []
    optimizer = trial.state[key]
    step = optimizer.step

    def recorded(*args, **kwargs):
        grads = [p.grad for p in network.parameters()]
        seen.append((torch.nn.utils.get_total_norm(grads).item(), max(grad.abs().max().item() for grad in grads)))
        return step(*args, **kwargs)
    optimizer.step = recorded
    return seen


@pytest.mark.parametrize('network', ['generator', 'discriminator'])
def test_gradient_clipping_works_on_either_network(digits, network):
    torch.manual_seed(0)
    generator, discriminator = bearer_gan.build_models('tutorial')
    target = {'generator': generator, 'discriminator': discriminator}[network]
    clippers = [tb.GradientNormClipping(0.05, params=list(target.parameters())),
                tb.GradientClipping(1e-4, params=None if network == 'generator' else target.parameters())]
    for clipper in clippers:
        trial = bearer_gan.gan_trial(generator, discriminator, torch.optim.Adam(generator.parameters()),
                                     torch.optim.Adam(discriminator.parameters()), 100, callbacks=[clipper],
                                     device='cpu', verbose=0)
        key = keys.GENERATOR_OPTIMIZER if network == 'generator' else keys.DISCRIMINATOR_OPTIMIZER
        seen = gradients_at_each_step(trial, target, key)
        bearer_gan.run_gan(trial, batches(digits), 4)
        assert len(seen) == 4
        if isinstance(clipper, tb.GradientNormClipping):
            assert all(norm <= 0.05 * 1.001 for norm, _ in seen)  # at every step, not only the first
        else:
            assert all(largest <= 1e-4 for _, largest in seen)


def test_without_clipping_those_gradients_are_larger(digits):
    # so that the bounds above are not met by every run anyway
    trial, generator, discriminator = make_trial()
    seen = {name: gradients_at_each_step(trial, network, key) for name, network, key in (
        ('g', generator, keys.GENERATOR_OPTIMIZER), ('d', discriminator, keys.DISCRIMINATOR_OPTIMIZER))}
    bearer_gan.run_gan(trial, batches(digits), 4)
    assert all(norm > 0.05 and largest > 1e-4 for rows in seen.values() for norm, largest in rows)


def test_early_stopping_on_batch_stops_the_gan_trial(digits):
    stopper = tb.EarlyStopping(monitor='running_g_loss', mode='max', patience=2, step_on_batch=True)
    # running means refresh every 10 steps, so the monitored value stalls at once and patience runs out
    trial, generator, _, _ = run(digits, 50, [stopper])
    assert trial.state[keys.STEP] == 3  # the trial stopped at a step boundary, not after 50 steps
    assert stopper.wait == 2


def test_any_stop_training_ends_the_run_at_that_step_with_a_checkpoint(tmp_path, digits):
    @torchbearer.callbacks.on_step_training
    def stop_at_step_4(state):
        if state[keys.STEP] == 4:
            state[torchbearer.STOP_TRAINING] = True
    trial, _, _, _ = run(digits, 20, [stop_at_step_4, bearer_gan.GANCheckpoint(str(tmp_path), interval=100)])
    assert trial.state[keys.STEP] == 4
    assert torch.load(tmp_path / 'checkpoint.pt', weights_only=True)['step'] == 4


def read_scalars(path):
    """``(tag, step)`` of every scalar in a TensorBoard event file (TFRecord framing: length, crc, event, crc)."""
    from tensorboardX.proto import event_pb2
    scalars, data = [], open(path, 'rb').read()
    position = 0
    while position < len(data):
        length = int.from_bytes(data[position:position + 8], 'little')
        event = event_pb2.Event.FromString(data[position + 12:position + 12 + length])
        scalars += [(value.tag, event.step) for value in event.summary.value]
        position += 12 + length + 4
    return scalars


def test_tensorboard_without_the_graph_writes_the_gan_metrics(tmp_path, digits):
    require_module('tensorboardX', extra='test')  # torchbearer's TensorBoard callback writes through it
    board = tb.TensorBoard(log_dir=str(tmp_path), write_graph=False, write_batch_metrics=True, batch_step_size=1)
    run(digits, 3, [board])
    scalars = [scalar for folder, _, names in os.walk(tmp_path) for name in names
               for scalar in read_scalars(os.path.join(folder, name))]
    assert {('batch/running_d_loss', step) for step in range(3)} <= set(scalars)
    assert ('epoch/running_g_loss', 0) in scalars


def test_learning_rate_schedule_works_where_torchbearers_schedulers_do_not(digits):
    trial, _, _, _ = run(digits, 4, [bearer_gan.LearningRateSchedule('linear', steps=8)])
    # the last of the four steps followed 3 updates: lr = 2e-4 * (1 - 3 / 8) for both networks
    assert [group['lr'] for key in (keys.GENERATOR_OPTIMIZER, keys.DISCRIMINATOR_OPTIMIZER)
            for group in trial.state[key].param_groups] == pytest.approx([2e-4 * 5 / 8] * 2)
