"""Server optimizers: the update rules against hand computations, buffers averaged, settings checked, exact resume."""
import math
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from bearer_gan.federated import FederatedConfig, FederatedServer, ServerOptimizer, pack_weights, parameter_keys
from bearer_gan.federated.server import CHECKPOINT
from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]


def steps(optimizer, current, averages):
    """The global weights after each average in turn, the global moving to each step's result."""
    results = []
    for average in averages:
        current = optimizer.step(current, average)
        results.append(current)
    return results


def weights(w, running_mean=0.0, tracked=3):
    return {'w': torch.tensor(w), 'bn.running_mean': torch.tensor([running_mean]),
            'bn.num_batches_tracked': torch.tensor(tracked)}


def test_fedavg_is_the_average_itself():
    average = weights([1.5, -2.5], 0.3, 5)
    new = ServerOptimizer('fedavg', {'w'}, lr=0.5).step(weights([1.0, -2.0]), average)
    assert all(new[key] is average[key] for key in average)


def test_fedavgm_steps_the_parameters_with_momentum_and_averages_the_buffers():
    optimizer = ServerOptimizer('fedavgm', {'w'}, lr=0.5, momentum=0.9)
    first, second = steps(optimizer, weights([1.0, -2.0]), [weights([1.5, -2.5], 0.3, 5), weights([1.0, -2.0], 0.2, 7)])
    # round 1: gradient (1.0 - 1.5, -2.0 + 2.5) = (-0.5, 0.5) is the momentum; 1.0 + 0.5 * 0.5 = 1.25
    assert_close(first['w'], torch.tensor([1.25, -2.25]))
    # round 2: gradient (1.25 - 1.0, ...) = (0.25, -0.25); momentum 0.9 * -0.5 + 0.25 = -0.2; 1.25 + 0.5 * 0.2 = 1.35
    assert_close(second['w'], torch.tensor([1.35, -2.35]))
    assert second['bn.running_mean'].item() == pytest.approx(0.2) and second['bn.num_batches_tracked'].item() == 7
    assert second['bn.num_batches_tracked'].dtype == torch.int64 and optimizer.steps == 2


def test_fedavgm_without_momentum_at_rate_one_is_the_average_as_in_flower():
    average = weights([1.5, -2.5])
    optimizer = ServerOptimizer('fedavgm', {'w'}, lr=1.0, momentum=0.0)
    assert optimizer.step(weights([1.0, -2.0]), average)['w'] is average['w']


def test_fedadam_matches_a_hand_computation():
    optimizer = ServerOptimizer('fedadam', {'w'}, lr=0.1, beta1=0.9, beta2=0.99, tau=1e-3)
    first = optimizer.step(weights([1.0, -1.0]), weights([1.2, -1.2], 0.5))
    # delta 0.2: m = 0.1 * 0.2 = 0.02, v = 0.01 * 0.04 = 0.0004; Flower's bias correction with exponent t + 1 = 2
    rate = 0.1 * math.sqrt(1 - 0.99 ** 2) / (1 - 0.9 ** 2)
    move = rate * 0.02 / (0.02 + 1e-3)
    assert_close(first['w'], torch.tensor([1 + move, -1 - move]))
    assert first['bn.running_mean'].item() == 0.5  # a buffer takes the average
    # delta -0.1: m = 0.9 * 0.02 - 0.1 * 0.1 = 0.008, v = 0.99 * 0.0004 + 0.01 * 0.01 = 0.000496, exponent 3
    x = 1 + move
    second = optimizer.step(first, weights([x - 0.1, -x + 0.1], 0.5))
    rate = 0.1 * math.sqrt(1 - 0.99 ** 3) / (1 - 0.9 ** 3)
    move = rate * 0.008 / (math.sqrt(0.000496) + 1e-3)
    assert_close(second['w'], torch.tensor([x + move, -x - move]))
    assert_close(optimizer.moments['v']['w'], torch.tensor([0.000496, 0.000496]))


def test_fedyogi_matches_a_hand_computation():
    optimizer = ServerOptimizer('fedyogi', {'w'}, lr=0.01, beta1=0.9, beta2=0.99, tau=1e-3)
    first = optimizer.step(weights([1.0, -1.0]), weights([1.2, -1.2]))
    # delta 0.2: m = 0.02; v = 0 - 0.01 * 0.04 * sign(0 - 0.04) = 0.0004; no bias correction
    move = 0.01 * 0.02 / (0.02 + 1e-3)
    assert_close(first['w'], torch.tensor([1 + move, -1 - move]))
    x = 1 + move
    second = optimizer.step(first, weights([x - 0.1, -x + 0.1]))
    # delta -0.1: m = 0.008; v = 0.0004 - 0.01 * 0.01 * sign(0.0004 - 0.01) = 0.0005
    move = 0.01 * 0.008 / (math.sqrt(0.0005) + 1e-3)
    assert_close(second['w'], torch.tensor([x + move, -x - move]))
    assert_close(optimizer.moments['v']['w'], torch.tensor([0.0005, 0.0005]))


@pytest.mark.parametrize('name', ['fedavgm', 'fedadam', 'fedyogi'])
def test_only_parameters_take_the_step_buffers_take_the_average(name):
    generator = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    discriminator = nn.Sequential(nn.utils.spectral_norm(nn.Linear(4, 1)))
    current = pack_weights(generator, discriminator)
    parameters = parameter_keys({'generator': generator, 'discriminator': discriminator})
    assert parameters == {'generator.0.weight', 'generator.0.bias', 'generator.1.weight', 'generator.1.bias',
                          'discriminator.0.bias', 'discriminator.0.weight_orig'}
    buffers = set(current) - parameters  # running statistics, the count and spectral norm's vectors
    assert buffers == {'generator.1.running_mean', 'generator.1.running_var', 'generator.1.num_batches_tracked',
                       'discriminator.0.weight_u', 'discriminator.0.weight_v'}
    average = {key: value + 1 if value.is_floating_point() else value + 5 for key, value in current.items()}
    new = ServerOptimizer(name, parameters, lr=0.5).step(current, average)
    assert all(torch.equal(new[key], average[key]) for key in buffers)
    assert new['generator.1.num_batches_tracked'].dtype == torch.int64
    assert not any(torch.equal(new[key], average[key]) for key in parameters)


@pytest.mark.parametrize('changes, message', [
    (dict(server_lr=0.0), 'server-lr must be a positive number, got 0.0'), (dict(server_lr=-1e-2), 'server-lr'),
    (dict(server_lr=math.inf), 'server-lr'), (dict(server_momentum=1.0), 'server-momentum must be in'),
    (dict(server_beta1=-0.1), 'server-beta1'), (dict(server_beta2=1.0), 'server-beta2'),
    (dict(server_tau=0.0), 'server-tau'), (dict(server_optimizer='sgd'), 'server-optimizer must be one of')])
def test_bad_server_settings_are_rejected(changes, message):
    with pytest.raises(ValueError, match=message):
        FederatedConfig(**changes)


def test_each_optimizer_takes_its_own_learning_rate_unless_one_is_given():
    from bearer_gan.federated.flags import config_from_args, parse_federation_flags
    from bearer_gan.federated.server_optimizer import DEFAULT_LRS
    assert DEFAULT_LRS['fedadam'] < DEFAULT_LRS['fedavgm']  # an adaptive step moves every weight by about lr
    for name in ('fedavgm', 'fedadam', 'fedyogi'):
        config = config_from_args(parse_federation_flags(['--server-optimizer', name]))
        assert config.server_lr == DEFAULT_LRS[name] == config.to_dict()['server_lr']  # config.json holds the rate
        assert ServerOptimizer.from_config(config).lr == DEFAULT_LRS[name]
    given = config_from_args(parse_federation_flags(['--server-optimizer', 'fedadam', '--server-lr', '0.02']))
    assert given.server_lr == 0.02 and FederatedConfig.from_flower(given.to_flower()) == given


def test_a_bad_server_lr_is_one_line_and_exit_code_2_in_the_example(tmp_path, capsys):
    example = load_script(ROOT / 'examples' / 'federated_gan.py', 'federated_gan_example')
    with pytest.raises(SystemExit) as exit_info:
        example.main(['--server-optimizer', 'fedadam', '--server-lr', '0', '--out', str(tmp_path / 'run')])
    stderr = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(stderr.strip().splitlines()) == 1, stderr
    assert 'server-lr must be a positive number' in stderr and not (tmp_path / 'run').exists()


def test_the_settings_travel_in_flowers_form_and_older_configs_take_the_defaults():
    config = FederatedConfig(server_optimizer='fedadam', server_lr=0.01, server_beta2=0.999, server_tau=1e-4)
    flat = config.to_flower()
    assert (flat['server-optimizer'], flat['server-lr'], flat['server-tau']) == ('fedadam', 0.01, 1e-4)
    assert FederatedConfig.from_flower(flat) == config
    older = {key: value for key, value in FederatedConfig().to_dict().items() if not key.startswith('server_')}
    assert FederatedConfig(**older) == FederatedConfig() and FederatedConfig().server_optimizer == 'fedavg'


def settings(out, **changes):
    values = dict(owners=2, rounds=3, local_steps=1, batch_size=16, eval_samples=50, ema_decay=0.0, out=str(out),
                  device='cpu')
    values.update(changes)
    return FederatedConfig(**values)


def fake_replies(global_weights, server_round):
    """Two owners' replies, a fixed function of the global weights and the round."""
    noise = torch.Generator().manual_seed(server_round)
    replies = []
    for count in (300, 100):
        reply = {key: value + 0.01 * torch.randn(value.shape, generator=noise) if value.is_floating_point()
                 else value + 1 for key, value in global_weights.items()}
        replies.append((reply, {'num-examples': count, 'g_loss': 1.0, 'd_loss': 1.0, 'd_x': 0.5, 'd_g_z': 0.5}))
    return replies


def run_rounds(server, rounds):
    for server_round in rounds:
        server.complete_round(server_round, fake_replies(server.weights, server_round))


@pytest.mark.parametrize('name', ['fedadam', 'fedavgm'])
def test_a_resumed_federation_continues_its_server_optimizer_exactly(tmp_path, name):
    quiet = dict(log=lambda line: None)
    unstopped = FederatedServer(settings(tmp_path / 'a', server_optimizer=name, server_lr=0.01), **quiet)
    unstopped.start()
    run_rounds(unstopped, (1, 2, 3))
    assert 'generator.net.0.weight' in unstopped.optimizer.parameters
    assert not any('running' in key or 'tracked' in key for key in unstopped.optimizer.parameters)

    config = settings(tmp_path / 'b', server_optimizer=name, server_lr=0.01)
    stopped = FederatedServer(config, **quiet)
    stopped.start()
    run_rounds(stopped, (1, 2))
    resumed = FederatedServer(config, **quiet)
    resumed.start(resume=True)
    assert resumed.optimizer.steps == 2
    run_rounds(resumed, (3,))
    assert all(torch.equal(resumed.weights[key], unstopped.weights[key]) for key in unstopped.weights)
    state, expected = resumed.optimizer.state_dict(), unstopped.optimizer.state_dict()
    assert state['steps'] == expected['steps'] == 3 and state['moments'].keys() == expected['moments'].keys()
    for moment, tensors in expected['moments'].items():
        assert tensors and all(torch.equal(state['moments'][moment][key], tensors[key]) for key in tensors)


def test_a_checkpoint_from_before_server_optimizers_resumes_with_fresh_state(tmp_path):
    config = settings(tmp_path, rounds=2)
    server = FederatedServer(config, log=lambda line: None)
    server.start()
    run_rounds(server, (1,))
    path = tmp_path / CHECKPOINT
    checkpoint = torch.load(path, weights_only=True)
    del checkpoint['server_optimizer']  # as written before this change, with a config without the new fields
    checkpoint['config'] = {key: value for key, value in checkpoint['config'].items() if not key.startswith('server_')}
    torch.save(checkpoint, path)
    resumed = FederatedServer(config, log=lambda line: None)
    resumed.start(resume=True)
    assert resumed.round == 1 and resumed.config.server_optimizer == 'fedavg'

    config = settings(tmp_path / 'adam', rounds=2, server_optimizer='fedadam', server_lr=0.01)
    server = FederatedServer(config, log=lambda line: None)
    server.start()
    run_rounds(server, (1,))
    checkpoint = torch.load(tmp_path / 'adam' / CHECKPOINT, weights_only=True)
    assert checkpoint['server_optimizer']['steps'] == 1
    del checkpoint['server_optimizer']
    torch.save(checkpoint, tmp_path / 'adam' / CHECKPOINT)
    resumed = FederatedServer(config, log=lambda line: None)
    resumed.start(resume=True)
    assert resumed.optimizer.steps == 0 and resumed.optimizer.moments == {'m': {}, 'v': {}}
    run_rounds(resumed, (2,))
    assert resumed.optimizer.steps == 1 and resumed.finished
    with pytest.raises(ValueError, match='state of fedadam, not fedyogi'):
        ServerOptimizer('fedyogi').load_state_dict(resumed.optimizer.state_dict())
