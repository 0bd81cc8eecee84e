"""The aggregator without Flower: averaging, per-round scores and outputs, checkpoints and resuming; the config."""
import csv
import dataclasses
import json
import tomllib
from pathlib import Path

import imageio.v3 as iio
import pytest
import torch

import bearer_gan
from bearer_gan.config import RunConfig
from bearer_gan.federated import (RECIPE_FIELDS, FederatedConfig, FederatedServer, RoundConfig,
                                  load_federated_checkpoint, read_history, split_indices, train_round, weighted_average)
from bearer_gan.federated.config import UNSET_AS_ZERO
from bearer_gan.federated.server import HISTORY_COLUMNS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def data():
    images, labels = bearer_gan.load_mnist('mnist-5k')  # sorted by digit: take a shuffled 400
    chosen = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))[:400]
    return images[chosen], labels[chosen]


def settings(out, **changes):
    values = dict(owners=2, rounds=3, local_steps=2, batch_size=16, eval_samples=50, out=str(out), device='cpu',
                  split='classes-per-owner 5')
    values.update(changes)
    return FederatedConfig(**values)


def numbers(rows):
    """Rows without their NaNs (missing values), which never compare equal."""
    return [{key: value for key, value in row.items() if value == value} for row in rows]


def owners_round(server, data, server_round):
    """What the owners would send back in ``server_round``: each trains the global networks on its shard."""
    images, labels = data
    config = server.config
    results = []
    for owner, indices in enumerate(split_indices(labels, config.owners, config.split, config.seed)):
        round_config = RoundConfig.from_mapping(config.client_config(), owner=owner, server_round=server_round,
                                                device='cpu')
        result = train_round(server.weights, round_config, (images[indices], labels[indices]))
        results.append((result.weights, result.metrics))
    return results


def test_a_federation_scores_draws_averages_and_checkpoints_every_round(tmp_path, data):
    config = settings(tmp_path / 'run')
    server = FederatedServer(config, log=lambda line: None)
    server.start()
    assert server.round == 0 and json.loads((tmp_path / 'run' / 'config.json').read_text()) == config.to_dict()
    for server_round in (1, 2):
        results = owners_round(server, data, server_round)
        expected = weighted_average([weights for weights, _ in results], [m['num-examples'] for _, m in results])
        new = server.complete_round(server_round, results, bytes_to_owners=100, bytes_from_owners=90, round_seconds=1.5)
        assert all(torch.equal(new[key], expected[key]) for key in expected)
        if server_round == 1:  # the moving average starts at the first global generator ...
            assert torch.equal(server.ema.averaged.module.net[0].weight, server.generator.net[0].weight)
    # ... and then lags behind it
    assert not torch.equal(server.ema.averaged.module.net[0].weight, server.generator.net[0].weight)

    out = tmp_path / 'run'
    frames = sorted(path.name for path in (out / 'samples').iterdir())
    assert frames == [f'{prefix}round_000{n}.png' for prefix in ('ema_', '') for n in range(3)]
    assert iio.imread(out / 'progress.gif', index=None).shape[0] == 3
    assert iio.imread(out / 'progress_ema.gif', index=None).shape[0] == 3
    with open(out / 'history.csv') as handle:
        assert tuple(next(csv.reader(handle))) == HISTORY_COLUMNS
    rows = read_history(out / 'history.csv')
    assert [row['round'] for row in rows] == [0, 1, 2] and [row['steps'] for row in rows] == [0, 2, 4]
    assert rows[1]['owners'] == 2 and rows[1]['num_examples'] == 400 and rows[1]['bytes_to_owners'] == 100
    assert all(0 < row['fid'] and 0 <= row['classes_covered'] <= 10 for row in rows)
    assert abs(sum(rows[2][f'share_{d}'] for d in range(10)) - 1) < 1e-9
    assert all(row['g_loss'] == row['g_loss'] for row in rows[1:]) and rows[0]['g_loss'] != rows[0]['g_loss']
    owners = json.loads((out / 'owners.json').read_text())['owners']  # the cut of the whole data set
    assert [owner['owner'] for owner in owners] == [0, 1] and sum(owner['images'] for owner in owners) == 5000
    assert all(sum(owner['class_counts']) == owner['images'] for owner in owners)
    assert [sum(count > 0 for count in owner['class_counts']) for owner in owners] == [5, 5]  # classes-per-owner 5
    page = (out / 'report.html').read_text()  # rewritten after every round
    assert 'round 2 of 3' in page and '<section id="owners">' in page
    generator, spec = bearer_gan.load_generator(str(out))  # what `bearer-gan sample` reads
    assert (spec['latent_dim'], spec['model']) == (100, 'tutorial')
    assert torch.equal(generator.net[0].weight, server.ema.averaged.module.net[0].weight)

    checkpoint, _ = load_federated_checkpoint(str(out))
    assert checkpoint['round'] == 2 and all(torch.equal(checkpoint['weights'][k], server.weights[k]) for k in new)
    with pytest.raises(FileExistsError, match='already holds'):
        FederatedServer(config).start()

    resumed = FederatedServer(config, log=lambda line: None)
    weights = resumed.start(resume=True)
    assert resumed.round == 2 and not resumed.finished and numbers(resumed.rows) == numbers(server.rows)
    assert all(torch.equal(weights[key], server.weights[key]) for key in weights)
    assert torch.equal(resumed.ema.averaged.module.net[0].weight, server.ema.averaged.module.net[0].weight)
    resumed.complete_round(3, owners_round(resumed, data, 3))
    assert resumed.finished and [row['round'] for row in read_history(out / 'history.csv')] == [0, 1, 2, 3]
    assert iio.imread(out / 'progress.gif', index=None).shape[0] == 4

    with pytest.raises(ValueError, match='different settings: local_steps'):
        FederatedServer(dataclasses.replace(config, local_steps=3)).start(resume=True)
    with pytest.raises(RuntimeError, match='none of the owners'):
        resumed.complete_round(4, [], failures=2)


def test_resuming_without_a_checkpoint_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match='no usable federated checkpoint'):
        FederatedServer(settings(tmp_path)).start(resume=True)


def test_a_run_without_moving_average_samples_the_global_generator(tmp_path, data):
    server = FederatedServer(settings(tmp_path, ema_decay=0.0, rounds=1), log=lambda line: None)
    server.start()
    server.complete_round(1, owners_round(server, data, 1))
    assert server.ema is None and not (tmp_path / 'progress_ema.gif').exists()
    generator = bearer_gan.load_generator(str(tmp_path))[0]
    assert torch.equal(generator.net[0].weight, server.generator.net[0].weight)
    assert read_history(tmp_path / 'history.csv')[1]['ema_fid'] != read_history(tmp_path / 'history.csv')[1]['ema_fid']


def test_config_round_trips_through_flowers_flat_form():
    config = FederatedConfig(owners=3, split='dirichlet 0.3', train_generator_only=True, lr=1e-3)
    flat = config.to_flower()
    assert flat['local-steps'] == 100 and flat['train-generator-only'] is True
    assert FederatedConfig.from_flower(flat) == config
    assert FederatedConfig.from_flower({**flat, 'resume': True, 'rounds': 4.0}).rounds == 4  # unknown keys ignored
    client = config.client_config()
    assert {'owners', 'split', 'dataset', 'data-dir', 'optimizer-state', 'local-steps', 'lr'} <= set(client)
    assert 'out' not in client and 'rounds' not in client  # an owner needs neither
    assert RoundConfig.from_mapping(client, owner=1).recipe.lr == 1e-3


def test_a_federation_trains_bearer_gan_trains_default_recipe():
    """The recipe the federation hands its owners has RunConfig's defaults (0 for its None), so by default an owner
    trains what ``bearer-gan train`` trains with no flags, on the data set a federation starts with."""
    federation = FederatedConfig()
    for name in RECIPE_FIELDS:
        if name != 'dataset':
            default = RunConfig.__dataclass_fields__[name].default
            assert getattr(federation, name) == (UNSET_AS_ZERO[name] if default is None else default), name
    assert federation.recipe('cpu') == RunConfig(dataset='mnist-5k', device='cpu')
    assert RoundConfig().local_steps == federation.local_steps and federation.noise_size == 100


def test_the_flower_apps_run_config_defaults_are_the_configs_defaults():
    with open(ROOT / 'bearer_gan' / 'federated' / 'flower_app' / 'pyproject.toml', 'rb') as handle:
        app = tomllib.load(handle)['tool']['flwr']['app']
    defaults = app['config']
    assert defaults.pop('resume') is False
    assert defaults == FederatedConfig().to_flower()
    assert app['components'] == {'serverapp': 'bearer_gan.federated.app:server_app',
                                 'clientapp': 'bearer_gan.federated.app:client_app'}


@pytest.mark.parametrize('changes, message', [
    (dict(owners=0), 'owners must be at least 1'), (dict(rounds=0), 'rounds must be at least 1'),
    (dict(participants=6), 'participants'), (dict(split='classes-per-owner'), 'one parameter'),
    (dict(optimizer_state='average'), 'optimizer-state'), (dict(model='big'), '--model must be one of'),
    (dict(train_generator_only=True, train_discriminator_only=True), 'exclude each other'),
    (dict(eval_samples=1), 'eval-samples'), (dict(ema_decay=1.0), 'ema-decay'),
    (dict(loss='hinge', real_label=0.9), 'belongs to the bce loss'), (dict(r1_interval=4), 'needs --r1-gamma')])
def test_config_rejects_bad_settings(changes, message):
    with pytest.raises(ValueError, match=message):
        FederatedConfig(**changes)
