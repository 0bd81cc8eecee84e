"""Checks of the owners' replies, robust aggregation and the faulty-owner drill, without Flower."""
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from bearer_gan.federated import (FederatedConfig, FederatedServer, RoundRejected, aggregate, check_replies,
                                  coordinate_median, corrupt_reply, load_federated_checkpoint, node_round,
                                  read_history, trimmed_mean, weighted_average)
from bearer_gan.federated.checks import update_norm
from bearer_gan.federated.server import CLIENT_METRICS

ROOT = Path(__file__).resolve().parents[1]

GLOBAL = {'w': torch.zeros(2, 3), 'b': torch.zeros(3), 'n': torch.tensor(4)}


def reply(scale=1.0, **changes):
    """The global networks moved by ``scale`` (an update of norm ``scale * 3``), with ``changes``."""
    weights = {'w': torch.full((2, 3), scale), 'b': torch.full((3,), scale), 'n': torch.tensor(6)}
    weights.update(changes)
    return {key: value for key, value in weights.items() if value is not None}


@pytest.mark.parametrize('bad, reason', [
    (reply(b=None), "missing ['b']"), (reply(x=torch.zeros(1)), "unexpected ['x']"),
    (reply(w=torch.zeros(3, 2)), 'w has shape (3, 2), not (2, 3)'),
    (reply(w=torch.zeros(2, 3, dtype=torch.float64)), 'w has dtype torch.float64'),
    (reply(b=torch.tensor([0.0, math.nan, 0.0])), 'b holds NaN'),
    (reply(w=torch.full((2, 3), -math.inf)), 'w holds inf')])
def test_a_reply_of_other_tensors_or_not_finite_is_dropped(bad, reason):
    reasons = check_replies([reply(), bad, reply(2.0)], GLOBAL)
    assert reasons[0] is None and reasons[2] is None and reason in reasons[1]


def test_a_reply_without_a_positive_number_of_examples_is_dropped():
    assert check_replies([reply(), reply()], GLOBAL, [10, 0])[1] == 'num-examples 0 is not a positive number'
    assert check_replies([reply()], GLOBAL, [math.nan])[0].startswith('num-examples nan')


def test_an_update_ten_times_the_median_norm_is_dropped_and_a_normal_spread_is_not():
    assert update_norm(reply(2.0), GLOBAL) == pytest.approx(6.0)  # floating tensors only
    assert check_replies([reply(1.0), reply(3.0), reply(0.5), reply(9.0)], GLOBAL) == [None] * 4
    reasons = check_replies([reply(1.0), reply(1.2), reply(0.9), reply(100.0)], GLOBAL)
    assert reasons[:3] == [None] * 3 and 'more than 10x the median' in reasons[3]
    assert check_replies([reply(1.0), reply(12.0), reply(1.0)], GLOBAL)[1] is not None
    # with fewer than three replies there is no typical update to compare with
    assert check_replies([reply(1.0), reply(100.0)], GLOBAL) == [None, None]
    # the median is of the replies that passed the other checks
    assert check_replies([reply(1.0), reply(1.0), reply(100.0), reply(b=None)], GLOBAL)[2] is not None


def tiny(values, counts=(3, 2, 9)):
    return [{'x': torch.tensor(row, dtype=torch.float32), 'n': torch.tensor(count)}
            for row, count in zip(values, counts)]


def test_the_median_and_trimmed_mean_by_hand():
    three = tiny([[1.0, 5.0], [2.0, -4.0], [10.0, 0.5]])
    median = coordinate_median(three)
    assert median['x'].tolist() == [2.0, 0.5] and median['n'].item() == 3 and median['n'].dtype == torch.int64
    four = tiny([[1.0, 5.0], [2.0, -4.0], [10.0, 0.5], [4.0, 0.0]], (3, 2, 9, 6))
    assert coordinate_median(four)['x'].tolist() == [3.0, 0.25]  # the middle two's mean
    assert coordinate_median(four)['n'].item() == 4  # 4.5 rounds to the even 4, as torch.round does
    five = tiny([[1.0], [2.0], [10.0], [4.0], [-50.0]], (3, 2, 9, 6, 1))
    assert trimmed_mean(five, 0.2)['x'].item() == pytest.approx(7 / 3)  # int(0.2 * 5) = 1 per side
    assert trimmed_mean(five, 0.2)['n'].item() == 4  # (2 + 3 + 6) / 3 rounded
    assert trimmed_mean(five, 0.1)['x'].item() == pytest.approx(-33 / 5)  # int(0.5) = 0: the plain mean
    assert trimmed_mean(tiny([[1.0], [2.0], [10.0], [4.0], [-50.0], [3.0]], range(1, 7)), 0.34)['x'].tolist() == [2.5]


def test_the_robust_aggregations_match_flowers():
    flower = pytest.importorskip('flwr.serverapp.strategy.fedtrimmedavg')
    generator = torch.Generator().manual_seed(0)
    for owners in (3, 4, 5, 7, 10):
        weights = [{'x': torch.randn(4, 5, generator=generator)} for _ in range(owners)]
        stacked = np.stack([mapping['x'].numpy() for mapping in weights])
        assert np.array_equal(coordinate_median(weights)['x'].numpy(), np.median(stacked, axis=0))
        for fraction in (0.0, 0.2, 0.3, 0.45):
            torch.testing.assert_close(trimmed_mean(weights, fraction)['x'],
                                       torch.from_numpy(flower.trim_mean(stacked, fraction)))


def test_the_mean_is_still_the_weighted_average():
    generator = torch.Generator().manual_seed(1)
    weights = [{'x': torch.randn(3, 3, generator=generator), 'n': torch.tensor(step)} for step in (5, 6, 8)]
    mean, plain = aggregate(weights, [100, 30, 7]), weighted_average(weights, [100, 30, 7])
    assert all(torch.equal(mean[key], plain[key]) for key in plain)
    with pytest.raises(ValueError, match='aggregation must be one of'):
        aggregate(weights, [1, 1, 1], 'mode')


def test_the_drill_spoils_a_reply_three_ways():
    start, trained = {**GLOBAL, 'w': torch.ones(2, 3)}, reply(2.0)
    spoilt = corrupt_reply(trained, start, 'nan')
    assert spoilt['w'].isnan().all() and spoilt['b'].isnan().all() and spoilt['n'].item() == 6
    spoilt = corrupt_reply(trained, start, 'scale100')
    torch.testing.assert_close(spoilt['w'] - start['w'], 100 * (trained['w'] - start['w']))
    assert spoilt['b'].tolist() == [200.0] * 3 and spoilt['n'].item() == 6
    spoilt = corrupt_reply(trained, start, 'shape')
    assert spoilt['w'].shape == (3, 3) and check_replies([spoilt], GLOBAL)[0] == 'w has shape (3, 3), not (2, 3)'
    assert trained['w'].shape == (2, 3)  # the owner's own copy is left as it was


@pytest.mark.parametrize('changes, message', [
    (dict(aggregation='mode'), 'aggregation must be one of mean, median, trimmed-mean'),
    (dict(aggregation='trimmed-mean', owners=4), r'trims nothing from 4 owners \(int\(0.2 x 4\) = 0'),
    (dict(aggregation='trimmed-mean', owners=9, participants=3), 'trims nothing from 3 owners'),
    (dict(trim_fraction=0.5), r'trim-fraction must be in \[0, 0.5\)'),
    (dict(min_owners=0), 'min-owners must be between 1'), (dict(min_owners=6), 'min-owners must be between 1'),
    (dict(drill_faulty_owner='5:nan'), 'owner K from 0 to 4'), (dict(drill_faulty_owner='1:zero'), 'K:nan|scale100'),
    (dict(drill_faulty_owner='nan'), 'drill-faulty-owner must be')])
def test_the_new_settings_are_validated(changes, message):
    with pytest.raises(ValueError, match=message):
        FederatedConfig(**changes)


def test_the_new_settings_travel_and_an_older_config_still_reads():
    config = FederatedConfig(owners=5, aggregation='trimmed-mean', trim_fraction=0.25, min_owners=3,
                             drill_faulty_owner='4:scale100')
    assert FederatedConfig.from_flower(config.to_flower()) == config
    assert config.client_config()['drill-faulty-owner'] == '4:scale100'
    older = {key: value for key, value in FederatedConfig().to_dict().items()
             if key not in ('aggregation', 'trim_fraction', 'min_owners', 'drill_faulty_owner')}
    assert FederatedConfig(**older).identity() == FederatedConfig().identity()


def settings(out, **changes):
    values = dict(owners=3, rounds=3, local_steps=2, batch_size=16, eval_samples=50, out=str(out), device='cpu')
    values.update(changes)
    return FederatedConfig(**values)


def nodes_round(server, server_round):
    """Every owner's round as its node runs it (:func:`node_round`, drill included)."""
    config = dict(server.config.client_config(), **{'server-round': server_round})
    results = []
    for owner in range(server.config.nodes):
        result = node_round(config, {'partition-id': owner, 'device': 'cpu'}, server.weights)
        results.append((result.weights, result.metrics))
    return results


def floating_tensors(value):
    """Every floating tensor in a (nested) checkpoint."""
    if isinstance(value, torch.Tensor):
        return [value] if value.is_floating_point() else []
    items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    return [tensor for item in items for tensor in floating_tensors(item)]


def all_finite(path):
    tensors = floating_tensors(torch.load(path, map_location='cpu', weights_only=True))
    return len(tensors) > 3 and all(bool(torch.isfinite(tensor).all()) for tensor in tensors)


@pytest.mark.parametrize('kind, reason', [('scale100', 'more than 10x the median'), ('nan', 'holds NaN'),
                                          ('shape', 'has shape')])
def test_a_drilled_owner_is_dropped_and_the_round_goes_on(tmp_path, kind, reason):
    lines = []
    server = FederatedServer(settings(tmp_path, drill_faulty_owner=f'2:{kind}', ema_decay=0.0), log=lines.append)
    server.start()
    server.complete_round(1, nodes_round(server, 1))
    dropped = [line for line in lines if 'dropped' in line]
    assert len(dropped) == 1 and dropped[0].startswith('round 1: dropped the reply of owner 2: ')
    assert reason in dropped[0]
    row = read_history(tmp_path / 'history.csv')[1]
    assert (row['owners'], row['dropped'], row['failures']) == (2, 1, 0)
    for name in ('checkpoint.pt', 'generator.pt', 'discriminator.pt'):
        assert all_finite(tmp_path / name), name
    assert all(torch.isfinite(value).all() for value in server.weights.values() if value.is_floating_point())


def test_too_few_good_replies_stop_the_run_and_keep_the_last_checkpoint(tmp_path):
    config = settings(tmp_path, min_owners=2, ema_decay=0.0)
    server = FederatedServer(config, log=lambda line: None)
    server.start()
    good = [({key: value + 0.01 if value.is_floating_point() else value for key, value in server.weights.items()},
             dict(owner=owner, **{'num-examples': 10}, **dict.fromkeys(CLIENT_METRICS, 0.5))) for owner in range(3)]
    server.complete_round(1, good)
    files = {name: (tmp_path / name).read_bytes() for name in ('checkpoint.pt', 'history.csv', 'generator.pt')}
    bad = [(corrupt_reply(weights, server.weights, 'nan'), metrics) for weights, metrics in good[:2]] + good[2:]
    with pytest.raises(RoundRejected, match=r'1 of 3 replies passed the checks, fewer than min-owners \(2\).*round 1'):
        server.complete_round(2, bad)
    assert {name: (tmp_path / name).read_bytes() for name in files} == files and server.round == 1
    with pytest.raises(RoundRejected, match='not finite'):  # what a server optimizer could make of finite replies
        server._set_global(corrupt_reply(server.weights, server.weights, 'nan'))
    assert {name: (tmp_path / name).read_bytes() for name in files} == files
    assert all(bool(value.isfinite().all()) for value in server.weights.values() if value.is_floating_point())

    # a checkpoint written before the new settings and column resumes with their defaults
    checkpoint, path = load_federated_checkpoint(str(tmp_path))
    checkpoint['config'] = {key: value for key, value in checkpoint['config'].items() if key != 'min_owners'}
    checkpoint['rows'] = [{key: value for key, value in row.items() if key != 'dropped'} for row in checkpoint['rows']]
    torch.save(checkpoint, path)
    resumed = FederatedServer(dataclasses.replace(config, min_owners=1), log=lambda line: None)
    resumed.start(resume=True)
    assert resumed.round == 1 and math.isnan(resumed.rows[1]['dropped'])
    resumed.complete_round(2, bad)
    assert read_history(tmp_path / 'history.csv')[2]['dropped'] == 2


def test_the_example_refuses_the_drill_in_a_deployment_and_a_trim_of_nothing(tmp_path, capsys, monkeypatch):
    from conftest import load_script
    deployment = pytest.importorskip('bearer_gan.federated.deployment')

    def deploy(*args, **kwargs):
        raise AssertionError('a drill reached the deployment')

    monkeypatch.setattr(deployment, 'run_deployment', deploy)  # should it get that far
    example = load_script(ROOT / 'examples' / 'federated_gan.py', 'federated_gan_example_checks')
    for args, message in ((('--drill-faulty-owner', '1:nan', '--deploy'), 'a deployment refuses it'),
                          (('--aggregation', 'trimmed-mean', '--owners', '4'), 'trims nothing from 4 owners'),
                          (('--drill-faulty-owner', '1:zero'), 'drill-faulty-owner must be K:nan|scale100|shape')):
        with pytest.raises(SystemExit) as exit_info:
            example.main([*args, '--out', str(tmp_path / 'run')])
        stderr = capsys.readouterr().err
        assert exit_info.value.code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1, stderr
        assert not (tmp_path / 'run').exists()


def test_the_example_stops_a_rejected_round_with_one_line_and_exit_code_1(tmp_path, capsys, monkeypatch):
    app = pytest.importorskip('bearer_gan.federated.app')
    from conftest import load_script
    example = load_script(ROOT / 'examples' / 'federated_gan.py', 'federated_gan_example_checks')

    def rejected(*args, **kwargs):
        raise RoundRejected('round 2: 0 of 2 replies passed the checks, fewer than min-owners (1)')

    monkeypatch.setattr(app, 'run_simulation', rejected)
    with pytest.raises(SystemExit) as exit_info:
        example.main(['--owners', '2', '--rounds', '2', '--device', 'cpu', '--out', str(tmp_path / 'run')])
    stderr = capsys.readouterr().err
    assert exit_info.value.code == 1 and len(stderr.strip().splitlines()) == 1 and 'fewer than min-owners' in stderr
