import pytest
import torch
import torchbearer

import bearer_gan
from bearer_gan import keys
from conftest import batches, changed, make_trial, snapshot


def train(trial, digits, steps):
    return bearer_gan.run_gan(trial, batches(digits), steps)


def test_one_step_changes_every_parameter_of_both_networks(digits):
    trial, generator, discriminator = make_trial()
    g_before, d_before = snapshot(generator), snapshot(discriminator)
    train(trial, digits, 1)
    assert all(changed(g_before, generator))
    assert all(changed(d_before, discriminator))


@pytest.mark.parametrize('model', ['mlp256', 'dcgan'])
def test_every_model_pair_trains(digits, model):
    trial, generator, discriminator = make_trial(model)
    g_before, d_before = snapshot(generator), snapshot(discriminator)
    history = train(trial, digits, 2)
    assert all(changed(g_before, generator)) and all(changed(d_before, discriminator))
    assert all(torch.isfinite(torch.tensor(history[-1][name])) for name in ('g_loss', 'd_loss', 'd_x', 'd_g_z'))


def test_generator_only_leaves_the_discriminator_bit_identical(digits):
    trial, generator, discriminator = make_trial(train_generator_only=True)
    g_before, d_before = snapshot(generator), snapshot(discriminator)
    history = train(trial, digits, 3)
    assert all(changed(g_before, generator))
    assert not any(changed(d_before, discriminator))
    assert all(p.grad is None for p in discriminator.parameters())  # no gradients accumulated into D at all
    assert 0 < history[-1]['d_x'] < 1  # D is still evaluated, so its numbers are still reported


def test_discriminator_only_leaves_the_generator_bit_identical(digits):
    trial, generator, discriminator = make_trial(train_discriminator_only=True)
    g_before, d_before = snapshot(generator), snapshot(discriminator)
    train(trial, digits, 3)
    assert not any(changed(g_before, generator))
    assert all(changed(d_before, discriminator))


def state_tensors(module):
    """Parameters *and* buffers (batch norm's running statistics and counts, spectral norm's vectors), by name."""
    return {name: tensor.detach().clone() for name, tensor in module.state_dict().items()}


def test_the_untrained_network_keeps_its_buffers_bit_identical(digits):
    # the tutorial generator has batch norm: in train mode every forward would move its running statistics
    trial, generator, discriminator = make_trial(train_discriminator_only=True, d_steps=2)
    before = state_tensors(generator)
    assert any('running_mean' in name for name in before)
    train(trial, digits, 3)
    after = state_tensors(generator)
    assert all(torch.equal(before[name], after[name]) for name in before), [
        name for name in before if not torch.equal(before[name], after[name])]
    assert generator.training  # back in train mode after each step
    # a spectral-norm discriminator keeps power-iteration vectors as buffers: they must not move either
    torch.manual_seed(0)
    generator, discriminator = bearer_gan.build_models('tutorial')
    for layer in discriminator.modules():
        if isinstance(layer, torch.nn.Linear):
            torch.nn.utils.parametrizations.spectral_norm(layer)
    trial = bearer_gan.gan_trial(generator, discriminator, torch.optim.Adam(generator.parameters()),
                                 torch.optim.Adam(discriminator.parameters()), 100, train_generator_only=True,
                                 device='cpu', verbose=0)
    before = state_tensors(discriminator)
    assert any(name.endswith('_u') for name in before)
    train(trial, digits, 3)
    after = state_tensors(discriminator)
    assert all(torch.equal(before[name], after[name]) for name in before)


def test_a_trained_network_in_train_mode_does_move_its_buffers(digits):
    # the check above can fail: the same run with both networks trained moves the generator's statistics
    trial, generator, _ = make_trial()
    before = state_tensors(generator)
    train(trial, digits, 1)
    statistic = next(name for name in before if 'running_mean' in name)
    assert not torch.equal(before[statistic], generator.state_dict()[statistic])


def test_generator_step_accumulates_no_gradient_in_the_discriminator(digits):
    trial, generator, discriminator = make_trial()
    state = {torchbearer.X: digits[0][:8], torchbearer.MODEL: generator, **trial.state}
    closure = bearer_gan.gan_closure(train_discriminator=False)
    closure(state)
    assert all(p.grad is not None for p in generator.parameters())
    assert all(p.grad is None for p in discriminator.parameters())
    assert all(p.requires_grad for p in discriminator.parameters())  # unfrozen again


@pytest.mark.parametrize('d_steps', [1, 3])
def test_d_steps_discriminator_updates_per_generator_update(digits, d_steps):
    trial, _, _ = make_trial(d_steps=d_steps)
    calls = {'g': 0, 'd': 0}
    for name, key in (('g', keys.GENERATOR_OPTIMIZER), ('d', keys.DISCRIMINATOR_OPTIMIZER)):
        optimizer = trial.state[key]
        step = optimizer.step

        def counted(*args, _name=name, _step=step, **kwargs):
            calls[_name] += 1
            return _step(*args, **kwargs)
        optimizer.step = counted
    train(trial, digits, 4)
    assert calls == {'g': 4, 'd': 4 * d_steps}


def test_invalid_options_are_rejected_with_clear_messages():
    with pytest.raises(ValueError, match='exclude each other'):
        make_trial(train_generator_only=True, train_discriminator_only=True)
    with pytest.raises(ValueError, match='d_steps must be a positive integer'):
        make_trial(d_steps=0)
    with pytest.raises(ValueError, match='real_label'):
        make_trial(real_label=1.5)
    with pytest.raises(ValueError, match='unknown model'):
        bearer_gan.build_models('stylegan')
    with pytest.raises(ValueError, match="unknown precision 'fp16'"):
        make_trial(precision='fp16')


def test_bf16_autocast_follows_the_float32_run_and_keeps_float32_weights(digits, tmp_path):
    histories, product_dtypes = {}, {}
    for precision in ('fp32', 'bf16'):
        rows = bearer_gan.LossHistory(str(tmp_path / f'{precision}.csv'))
        trial, generator, discriminator = make_trial(precision=precision, callbacks=[rows])
        dtypes = product_dtypes[precision] = set()
        for layer in [*generator.modules(), *discriminator.modules()]:
            if isinstance(layer, torch.nn.Linear):
                layer.register_forward_hook(lambda module, inputs, output: dtypes.add(output.dtype))
        before = snapshot(generator) + snapshot(discriminator)
        trial.with_train_generator(batches(digits), steps=20)
        trial.run(1)
        histories[precision] = torch.tensor(rows.read())
        assert all(changed(before[:len(snapshot(generator))], generator))
        assert all(p.dtype == torch.float32 for p in [*generator.parameters(), *discriminator.parameters()])
    assert torch.isfinite(histories['bf16']).all()
    # the option took effect: every matrix product ran in bfloat16, and the numbers differ from float32's
    assert product_dtypes == {'fp32': {torch.float32}, 'bf16': {torch.bfloat16}}
    assert not torch.equal(histories['bf16'], histories['fp32'])
    # same maths at lower precision: every step's losses and D outputs within 0.01 of the float32 run's
    torch.testing.assert_close(histories["bf16"], histories["fp32"], atol=0.01, rtol=0)


def test_compiled_networks_train_like_eager_ones_and_keep_their_state_dict_keys(digits, tmp_path):
    histories, weights, graphs = {}, {}, {}
    for compiled in (False, True):
        rows = bearer_gan.LossHistory(str(tmp_path / f'{compiled}.csv'))
        averaging = bearer_gan.GeneratorEMA(0.5)
        torch._dynamo.reset()
        torch._dynamo.utils.counters.clear()
        trial, generator, discriminator = make_trial(compile=compiled, callbacks=[averaging, rows])
        trial.with_train_generator(batches(digits), steps=5)
        trial.run(1)
        graphs[compiled] = torch._dynamo.utils.counters['stats']['unique_graphs']
        histories[compiled] = torch.tensor(rows.read())
        weights[compiled] = {**generator.state_dict(), **{f'd.{k}': v for k, v in discriminator.state_dict().items()}}
        # the moving average computes with its own weights, not through the compiled generator's forward
        averaged, fresh = averaging.averaged.module, bearer_gan.build_models('tutorial')[0]
        fresh.load_state_dict(averaged.state_dict())
        noise = torch.randn(8, bearer_gan.DEFAULT_LATENT_DIM['tutorial'])
        with bearer_gan.eval_mode(averaged), bearer_gan.eval_mode(generator), torch.no_grad():
            torch.testing.assert_close(averaged(noise), fresh.eval()(noise))
            assert not torch.allclose(averaged(noise), generator(noise), atol=1e-4)
    assert torch.isfinite(histories[True]).all()
    assert graphs[False] == 0 and graphs[True] >= 2  # the option took effect: dynamo compiled both networks
    assert weights[True].keys() == weights[False].keys()  # checkpoints and saved models do not change
    torch.testing.assert_close(histories[True], histories[False], atol=1e-4, rtol=0)
    torch.testing.assert_close(weights[True], weights[False], atol=1e-4, rtol=1e-4)


class StatefulGenerator(torch.nn.Module):
    """A generator whose forward takes torchbearer's ``state`` keyword (the first path base_closure tries)."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.saw_state = inner, False

    def forward(self, z, state=None):
        self.saw_state = state is not None
        return self.inner(z)


def test_base_closure_paths_for_models_with_and_without_state(digits):
    # without `state`: base_closure's retry calls forward(z) (the models in bearer_gan.models)
    trial, generator, _ = make_trial()
    before = snapshot(generator)
    train(trial, digits, 1)
    assert all(changed(before, generator))
    # with `state`: forward(z, state=state) succeeds at the first try
    torch.manual_seed(0)
    inner, discriminator = bearer_gan.build_models('tutorial')
    generator = StatefulGenerator(inner)
    trial = bearer_gan.gan_trial(generator, discriminator, torch.optim.Adam(generator.parameters()),
                                 torch.optim.Adam(discriminator.parameters()), 100, device='cpu', verbose=0)
    train(trial, digits, 1)
    assert generator.saw_state


class BrokenGenerator(torch.nn.Module):
    def forward(self, z):
        raise RuntimeError('generator exploded at layer 3')


def test_errors_inside_forward_and_criterion_are_not_hidden(digits):
    _, discriminator = bearer_gan.build_models('tutorial')
    generator = BrokenGenerator()
    trial = bearer_gan.gan_trial(generator, discriminator, torch.optim.SGD([torch.zeros(1, requires_grad=True)], 0.1),
                                 torch.optim.Adam(discriminator.parameters()), 100, device='cpu', verbose=0)
    with pytest.raises(Exception, match='generator exploded at layer 3'):
        train(trial, digits, 1)

    def broken_criterion(state):
        raise ValueError('criterion could not read its key')
    trial, _, _ = make_trial(discriminator_criterion=broken_criterion)
    with pytest.raises(ValueError, match='criterion could not read its key'):
        train(trial, digits, 1)
