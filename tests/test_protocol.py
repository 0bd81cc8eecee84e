"""benchmarks/protocol.py and gan_bench/protocol.py: every recipe of a comparison gets the same CPU budget from
its own calibration, trains every seed through the run builder, and the table's cells are the median and range
over the seeds, written with the command, commit, machine and load that produced them."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import load_script, needs, require_data

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def script():
    module = load_script(ROOT / 'benchmarks' / 'protocol.py', 'protocol_benchmark')
    sys.path.insert(0, str(ROOT / 'benchmarks'))  # the module's own gan_bench, as the script imported it
    yield module
    sys.path.remove(str(ROOT / 'benchmarks'))


def test_summary_is_the_median_and_range_over_seeds(script):
    protocol = sys.modules['gan_bench.protocol']
    rows = [dict(recipe='a', seed=seed, steps=10, fid=fid, precision=None) for seed, fid in ((0, 30.0), (1, 10.0), (2, 20.0))]
    rows.append(dict(recipe='b', seed=0, steps=5, fid=7.0))
    summary = protocol.summarize(rows)
    assert list(summary) == ['a', 'b']
    assert summary['a']['fid'] == {'median': 20.0, 'min': 10.0, 'max': 30.0}
    assert summary['a']['seeds'] == [0, 1, 2] and summary['a']['steps'] == 10
    assert 'precision' not in summary['a']  # no value, no cell: not a zero
    assert summary['b']['fid'] == {'median': 7.0, 'min': 7.0, 'max': 7.0}


def test_each_recipe_trains_the_budget_over_its_own_cost_with_every_seed(script, monkeypatch, tmp_path):
    protocol = sys.modules['gan_bench.protocol']
    recipes = [protocol.Recipe('cheap', {}), protocol.Recipe('dear', {'augment': 'diffaugment'})]
    monkeypatch.setattr(protocol, 'cpu_seconds_per_step', lambda recipes, steps: {'cheap': 0.01, 'dear': 0.04})
    calls = []

    def fake(recipe, seed, steps, out, samples):
        calls.append((recipe.name, seed, steps))
        return dict(recipe=recipe.name, seed=seed, steps=steps, fid=float(steps + seed), out=out, seconds=1.0,
                    precision=0.5, recall=0.5)
    monkeypatch.setattr(protocol, 'train_and_score', fake)
    result = protocol.measure(recipes, budget=60.0, seeds=[0, 1, 2], runs=str(tmp_path), samples=100)
    assert result['steps'] == {'cheap': 6000, 'dear': 1500}
    assert calls == [(name, seed, steps) for seed in (0, 1, 2) for name, steps in (('cheap', 6000), ('dear', 1500))]
    assert result['summary']['dear']['fid']['median'] == 1501.0


def test_a_recipe_is_a_runconfig_on_its_data_sets_own_recipe(script, tmp_path):
    protocol = sys.modules['gan_bench.protocol']
    recipes = {recipe.name: recipe for recipe in script.data_efficiency()}
    assert len(recipes) == 9
    config = protocol.recipe_config(recipes['fashion-10%-ada'], str(tmp_path), 123, 2)
    assert (config.dataset, config.max_images, config.augment, config.steps, config.seed, config.device) == (
        'fashion-mnist', 6000, 'ada', 123, 2, 'cpu')
    assert config.conditional and config.lr == 5e-4  # Fashion-MNIST's own recipe under the comparison's fields
    assert protocol.recipe_config(recipes['fashion-100%-none'], str(tmp_path), 1, 0).max_images is None


def test_small_data_compares_adas_policies_on_the_same_tenth_of_fashion_mnist(script, tmp_path):
    protocol = sys.modules['gan_bench.protocol']
    configs = [protocol.recipe_config(recipe, str(tmp_path), 10, 0) for recipe in script.small_data()]
    assert [config.augment for config in configs] == [None, 'ada:translation', 'ada:translation,cutout',
                                                      'ada:translation,color']
    assert {(config.dataset, config.max_images, config.conditional, config.lr) for config in configs} == {
        ('fashion-mnist', 6000, True, 5e-4)}  # only the augmentation differs


def test_bad_arguments_are_one_line_and_exit_2(script, capsys):
    for argv in (['mnist-augment', '--fractions', '10'], ['mnist-augment', '--budget', '0'],
                 ['nothing'], ['mnist-augment', '--recipes', 'none', 'nothing']):
        with pytest.raises(SystemExit) as stopped:
            script.main(argv)
        assert stopped.value.code == 2
        assert len([line for line in capsys.readouterr().err.splitlines() if 'error' in line]) == 1


MNIST_TEST = os.environ.get('BEARER_GAN_MNIST_TEST', str(ROOT.parent / 'shared' / 'data' / 'mnist'))


@needs(require_data, MNIST_TEST, 'the MNIST test set (BEARER_GAN_MNIST_TEST), whose features precision compares with')
def test_a_tiny_comparison_writes_its_table_with_provenance_and_grids(script, tmp_path):
    report = tmp_path / 'docs' / 'mnist_augment'
    subprocess.run([sys.executable, 'benchmarks/protocol.py', 'mnist-augment', '--recipes', 'none', 'ada-translation',
                    '--budget', '0.3', '--seeds', '0',
                    '--samples', '200', '--calibration-steps', '24', '--threads', '2', '--runs', str(tmp_path / 'runs'),
                    '--report', str(report)], cwd=ROOT, check=True, timeout=600,
                   env=dict(os.environ, BEARER_GAN_MNIST_TEST=MNIST_TEST))
    text = (tmp_path / 'docs' / 'mnist_augment.txt').read_text().splitlines()
    assert text[0].startswith('command: python benchmarks/protocol.py mnist-augment --recipes none ada-translation --budget 0.3')
    assert text[1].startswith('commit: ') and text[2].startswith('machine: ') and 'load average' in text[3]
    result = json.loads((tmp_path / 'docs' / 'mnist_augment.json').read_text())
    assert [row['recipe'] for row in result['runs']] == ['none', 'ada-translation']
    for row in result['runs']:  # each run trained its own steps through the builder and was scored
        config = json.loads((Path(row['out']) / 'config.json').read_text())
        assert config['steps'] == row['steps'] == result['steps'][row['recipe']]
        assert config['augment'] == result['recipes'][row['recipe']].get('augment')
        assert row['fid'] > 0 and 0 <= row['precision'] <= 1
        assert (tmp_path / 'docs' / 'img' / 'mnist_augment' / f"{row['recipe']}.png").exists()


@needs(require_data, MNIST_TEST, 'the MNIST test set (BEARER_GAN_MNIST_TEST), whose features precision compares with')
def test_rescore_scores_the_same_runs_again_once_the_test_set_is_found(script, tmp_path, monkeypatch, capsys):
    protocol = sys.modules['gan_bench.protocol']
    monkeypatch.setenv('BEARER_GAN_MNIST_TEST', str(tmp_path / 'nowhere'))
    monkeypatch.setattr(protocol, 'cpu_seconds_per_step', lambda recipes, steps: {'none': 0.1})
    report = str(tmp_path / 'docs' / 'mnist_augment')
    argv = ['mnist-augment', '--recipes', 'none', '--budget', '0.4', '--seeds', '0', '--samples', '64',
            '--runs', str(tmp_path / 'runs'), '--report', report]
    script.main(argv)
    first = json.loads(Path(report + '.json').read_text())
    assert first['runs'][0]['precision'] is None and first['runs'][0]['reference_features_skipped']
    assert 'precision, recall and coverage skipped' in capsys.readouterr().out
    trained = Path(first['runs'][0]['out'], 'generator.pt').stat().st_mtime_ns
    monkeypatch.setenv('BEARER_GAN_MNIST_TEST', MNIST_TEST)
    script.main(argv + ['--rescore'])
    again = json.loads(Path(report + '.json').read_text())
    row = again['runs'][0]
    assert 0 <= row['precision'] <= 1 and 'reference_features_skipped' not in row
    assert row['fid'] == first['runs'][0]['fid'] and row['steps'] == first['runs'][0]['steps'] == 4  # the same run
    assert Path(row['out'], 'generator.pt').stat().st_mtime_ns == trained  # scored, not trained again
    assert again['summary']['none']['precision']['median'] == row['precision']
    assert Path(report + '.txt').read_text().splitlines()[4].startswith('scored again (--rescore) at commit ')


@needs(require_data, MNIST_TEST, 'the MNIST test set (BEARER_GAN_MNIST_TEST), whose features precision compares with')
def test_runs_at_once_train_and_score_what_one_at_a_time_does(script, tmp_path, monkeypatch):
    protocol = sys.modules['gan_bench.protocol']
    monkeypatch.setenv('BEARER_GAN_MNIST_TEST', MNIST_TEST)
    recipes = [protocol.Recipe('none', {'augment': None}), protocol.Recipe('hinge', {'loss': 'hinge'})]
    work = lambda folder: [(recipe, seed, 4, str(tmp_path / folder / f'{recipe.name}-{seed}'), 64)
                           for seed in (0, 1) for recipe in recipes]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what each process of --jobs runs with
    try:
        alone = protocol._run_all(work('alone'), jobs=1)
    finally:
        torch.set_num_threads(threads)
    together = protocol._run_all(work('together'), jobs=2)
    assert [(row['recipe'], row['seed']) for row in together] == [('none', 0), ('hinge', 0), ('none', 1), ('hinge', 1)]
    for one, other in zip(alone, together):
        assert one['fid'] == other['fid'] and one['precision'] == other['precision']
    assert len({row['fid'] for row in together}) == 4  # four different runs, not one result four times
