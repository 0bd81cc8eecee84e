"""benchmarks/fashion_budget.py: its recipes are the runs of the published table, built as RunConfigs; a recipe of
one's own is read from its flags; and (smoke tests on the embedded digits, the scores faked) its runs train
through bearer_gan.recipe with its clocks and write their rows, table and grids."""
import argparse
import csv
import json
from pathlib import Path

import pytest
import torch

import bearer_gan
from bearer_gan import RunConfig
from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def budget():
    module = load_script(ROOT / 'benchmarks' / 'fashion_budget.py', 'fashion_budget_benchmark')
    module.register_benchmark_models()  # the resnet recipe's pair, for these tests only
    yield module
    for name in module.BENCHMARK_MODELS:
        bearer_gan.unregister_model(name)


def test_plain_is_the_default_run_of_the_fields_fashion_mnist_and_the_recipes_set(budget):
    assert budget.PLAIN == dict(model='tutorial', batch_size=128, precision='fp32', conditional=False, lr=2e-4,
                                ema_decay=0.999)


def test_each_recipe_trains_the_run_whose_flags_the_published_table_shows(budget, tmp_path):
    with open(ROOT / 'docs' / '_static' / 'fashion_budget.csv') as handle:
        published = {row['recipe']: row['flags'] for row in csv.DictReader(handle)}
    assert set(published) == set(budget.RECIPES)
    for name, values in budget.RECIPES.items():
        config = budget.recipe_config(values, str(tmp_path), '/fashion', 7)
        assert isinstance(config, RunConfig)
        assert (config.dataset, config.data_dir, config.steps, config.device, config.out) == (
            'fashion-mnist', '/fashion', 7, 'cpu', str(tmp_path))
        assert {field: getattr(config, field) for field in values} == values, name
        assert budget.shown_flags(config.to_dict()) == published[name], name


def test_shown_flags_of_older_runs_and_of_switches(budget):
    config = RunConfig.for_dataset('fashion-mnist', model='dcgan').to_dict()
    # complete after --dataset fashion-mnist: its own recipe (conditional, lr 5e-4, ema 0.9999) goes unsaid
    assert budget.shown_flags(config) == '--model dcgan --lr-g 0.0005 --lr-d 0.0005 --latent-dim 64 --real-label 0.9'
    plain = RunConfig().to_dict()
    older = {name: value for name, value in plain.items() if name not in ('loss', 'precision')}  # lacks newer keys
    assert budget.shown_flags(older) == budget.shown_flags(plain) == (
        '--lr 0.0002 --lr-g 0.0002 --lr-d 0.0002 --latent-dim 100 --real-label 0.9 --no-conditional --ema-decay 0.999')
    assert budget.flag_text('conditional', False) == '--no-conditional'
    assert budget.flag_text('lr', 5e-4) == '--lr 0.0005'


def test_a_recipe_of_ones_own_is_read_from_its_flags_and_fills_in_fashion_mnists_recipe(budget, tmp_path):
    values = budget.given_values('--lr 1e-3 --no-conditional --model dcgan')
    assert values == dict(lr=1e-3, conditional=False, model='dcgan')
    config = budget.recipe_config(values, str(tmp_path), '/fashion', 5)
    assert (config.lr, config.conditional, config.model, config.ema_decay) == (1e-3, False, 'dcgan', 0.9999)
    assert budget.recipe_config({}, str(tmp_path), '/fashion', 5).conditional is True
    with pytest.raises(SystemExit) as exit:
        budget.given_values('--lr -1')
    assert exit.value.code == 2


@pytest.mark.parametrize('flags', ['--loss hinge --real-label 0.5', '--lr 0', '--bogus 1'])
def test_a_recipe_that_makes_no_run_stops_the_benchmark_before_anything_trains(budget, tmp_path, capsys, flags):
    with pytest.raises(SystemExit) as exit:
        budget.main(['--recipes', '--recipe', 'bad', flags, '--runs', str(tmp_path / 'runs'),
                     '--docs', str(tmp_path / 'docs')])
    assert exit.value.code == 2
    assert not (tmp_path / 'runs').exists()
    assert 'error' in capsys.readouterr().err


@pytest.fixture
def on_digits(budget, monkeypatch):
    """The benchmark on the 5,000 embedded digits, its scores faked (a record of what they were asked about)."""
    asked = []

    def fake_scores(generator, latent_dim, scorer, num_classes=None):
        asked.append((latent_dim, num_classes))
        return dict(fid=12.34, classes_covered=10, smallest_share=0.0812)

    monkeypatch.setattr(budget, 'DATASET', 'mnist-5k')
    monkeypatch.setattr(budget, 'scorer_for', lambda dataset, device: None)
    monkeypatch.setattr(budget, 'scores_of', fake_scores)
    return asked


def test_measure_speeds_trains_every_recipe_and_mlp_in_turn_with_a_cpu_clock(budget, on_digits):
    threads = torch.get_num_threads()
    ratios, per_step = budget.measure_speeds({'mine': dict(budget.PLAIN, batch_size=64)}, './data', steps=23,
                                             rounds=1)
    assert set(ratios) == set(per_step) == {'mlp', 'mine'}
    assert ratios['mlp'] == 1 and all(seconds > 0 for seconds in per_step.values())
    assert torch.get_num_threads() == threads


def test_run_recipe_trains_its_steps_and_records_its_config_and_row(budget, on_digits, tmp_path, capsys):
    options = argparse.Namespace(runs=str(tmp_path / 'runs'), docs=str(tmp_path / 'docs'), data_dir='./data',
                                 budget_seconds=600.0, curve=2, cpu_budget=True, calibrate=40.0, ratios={'mlp': 1.0})
    values = dict(budget.RECIPES['mlp-conditional'], seed=3)
    result = budget.run_recipe('mlp', values, options, 4)
    run = tmp_path / 'runs' / 'mlp'
    assert json.loads((run / 'budget.json').read_text()) == json.loads(json.dumps(result))
    config = RunConfig.from_dict(result['config'])
    assert (config.steps, config.conditional, config.seed, config.dataset, config.device) == (4, True, 3, 'mnist-5k',
                                                                                               'cpu')
    assert json.loads((run / 'config.json').read_text()) == result['config']
    assert result['row']['steps'] == 4 and result['row']['steps/s'] == round(4 / 600.0, 1)
    assert result['row']['FID'] == '12.3' and result['clock'] == 'cpu'
    assert [point['step'] for point in result['curve']] == [2, 4]
    assert on_digits == [(100, 10), (100, 10)]  # at half the steps (in training) and at the end (saved generator)
    printed = capsys.readouterr().out  # the recipe's flags against Fashion-MNIST's own (conditional) recipe
    assert budget.shown_flags(result['config']) in printed and '--no-conditional' not in printed
    budget.write_outputs([result], options)
    with open(tmp_path / 'docs' / 'fashion_budget.csv') as handle:
        rows = list(csv.DictReader(handle))
    assert [row['flags'] for row in rows] == [budget.shown_flags(result['config'])]
    assert (tmp_path / 'docs' / 'img' / 'fashion' / 'mlp.png').exists()
    assert (tmp_path / 'docs' / 'img' / 'fashion' / 'fid_curve.png').exists()
