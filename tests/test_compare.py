"""benchmarks/compare_losses.py and compare_configs.py: their runs are RunConfigs on the default configuration
(Fashion-MNIST's own recipe replaced), and (smoke tests on the embedded digits, two steps) they train through
bearer_gan.recipe and write their tables."""
import argparse
import csv
import json
from pathlib import Path

import pytest

import bearer_gan
from bearer_gan import RunConfig
from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope='module')
def losses():
    return load_script(ROOT / 'benchmarks' / 'compare_losses.py', 'compare_losses_benchmark')


@pytest.fixture(scope='module')
def configs():
    return load_script(ROOT / 'benchmarks' / 'compare_configs.py', 'compare_configs_benchmark')


def settings(tmp_path, steps=3000):
    return argparse.Namespace(steps=steps, batch_size=64, device='cpu', data_dir='./data', fashion_dir='/fashion',
                              out=str(tmp_path / 'runs'), docs=str(tmp_path / 'docs'), samples=100, rescore=False)


def test_every_cell_trains_the_default_configuration_with_only_its_own_fields_changed(losses, tmp_path):
    args, default = settings(tmp_path), RunConfig()
    grid = losses.cells(['mnist-5k', 'fashion-mnist'], ['tutorial', 'dcgan'], list(losses.LOSS_NAMES), ['hinge'])
    assert len(grid) == 2 * 2 * len(losses.LOSS_NAMES) * 2 + 1
    for cell in grid:
        config = losses.cell_config(losses.cell_values(cell), tmp_path / 'cell', args)
        own = dict(dataset=cell['dataset'], model=cell['model'], loss=cell['loss'], spectral_norm=cell['spectral_norm'],
                   conditional=cell['conditional'], steps=3000, batch_size=64, device='cpu', sample_interval=3000,
                   out=str(tmp_path / 'cell'), data_dir='/fashion' if cell['dataset'] == 'fashion-mnist' else './data')
        assert config == RunConfig(**own), cell  # Fashion-MNIST's conditional, lr and moving average: the defaults
        assert (config.lr, config.ema_decay) == (default.lr, default.ema_decay)
    flags = losses.flags_of(losses.cell_values(next(cell for cell in grid if cell['conditional'])))
    assert flags == ['--dataset', 'mnist-5k', '--model', 'tutorial', '--loss', 'hinge', '--no-spectral-norm',
                     '--conditional', '--lr', '0.0002', '--ema-decay', '0.999', '--augment', 'none']


def test_the_targets_train_mnists_default_run_and_a_target_s_own_steps_win(losses, tmp_path):
    args = settings(tmp_path, steps=15000)
    made = {name: losses.cell_config(dict(dataset='mnist', **values), tmp_path, args)
            for name, values in losses.TARGETS.items()}
    assert [(config.conditional, config.steps) for config in made.values()] == [(False, 15000), (True, 15000),
                                                                                 (True, 13600)]
    assert all(config.sample_interval == 15000 and config.dataset == 'mnist' for config in made.values())


def test_the_loss_comparison_trains_and_scores_its_cells_and_reuses_them(losses, tmp_path, capsys):
    argv = ['--steps', '2', '--samples', '100', '--batch-size', '32', '--datasets', 'mnist-5k', '--models', 'tutorial',
            '--losses', 'hinge', '--conditional-losses', '--out', str(tmp_path / 'runs'), '--docs', str(tmp_path / 'docs')]
    losses.main(argv)
    with open(tmp_path / 'docs' / 'loss_grid.csv') as handle:
        rows = list(csv.DictReader(handle))
    assert [(row['loss'], row['spectral norm'], row['steps']) for row in rows] == [('hinge', 'no', '2'),
                                                                                  ('hinge', 'yes', '2')]
    assert all(row['FID'] not in ('', 'skipped') and float(row['steps/s']) > 0 for row in rows)
    for name in ('mnist-5k-tutorial-hinge', 'mnist-5k-tutorial-hinge-sn'):
        run = tmp_path / 'runs' / name
        config = RunConfig.from_dict(json.loads((run / 'config.json').read_text()))
        assert (config.loss, config.steps, config.batch_size, config.sample_interval) == ('hinge', 2, 32, 2)
        assert config.spectral_norm == name.endswith('-sn')
        cell = json.loads((run / 'cell.json').read_text())
        assert cell['steps'] == 2 and cell['dataset_used'] == 'mnist-5k' and '--loss' in cell['flags']
    assert 'FID ' in capsys.readouterr().out
    names = ('mnist-5k-tutorial-hinge', 'mnist-5k-tutorial-hinge-sn')
    kept = lambda name: ((tmp_path / 'runs' / name / 'cell.json').read_text(),  # noqa: E731
                         (tmp_path / 'runs' / name / 'checkpoint.pt').stat().st_mtime_ns)
    before = [kept(name) for name in names]
    losses.main(argv)  # again: both cells reused, none trained or scored again
    assert [kept(name) for name in names] == before


def test_score_summary_says_fid_coverage_and_conditional_accuracy(losses):
    scores = dict(fid=12.345, scorer='mnist', n=100, class_shares=[0.05] + [0.95 / 9] * 9, classes_covered=10,
                  conditional_accuracy=0.875)
    assert losses.score_summary(scores) == ('FID 12.3 (mnist scorer, 100 samples), 10/10 classes covered, smallest '
                                            'share 5.0%, conditional accuracy 87.5%')
    assert losses.score_summary(dict(fid=None, fid_skipped='no scorer for it')) == 'FID skipped: no scorer for it'


def test_the_two_configurations_are_the_tutorials_and_the_default_on_the_defaults(configs, tmp_path):
    tutorial = configs.run_config(configs.CONFIGURATIONS['torchbearer tutorial'], 50, 'fashion-mnist', str(tmp_path),
                                  'cpu')
    assert tutorial == RunConfig(dataset='fashion-mnist', steps=50, out=str(tmp_path), device='cpu', lr=2e-3,
                                 real_label=1.0, ema_decay=0.0)
    default = configs.run_config(configs.CONFIGURATIONS['bearer_gan plain defaults'], 50, 'mnist-5k', str(tmp_path),
                                 'cpu')
    assert default == RunConfig(dataset='mnist-5k', steps=50, out=str(tmp_path), device='cpu')


def test_the_configuration_comparison_trains_both_and_writes_its_table(configs, tmp_path, monkeypatch):
    scored = []

    def fake_scores(out, n, device):  # 10,000 samples per run: not for a smoke test
        scored.append((Path(out).name, n, device))
        return dict(fid=50.0, classes_covered=10, class_shares=[0.1] * 10, kl_from_uniform=0.0123)

    monkeypatch.setattr(bearer_gan, 'evaluate_run', fake_scores)
    table = tmp_path / 'comparison.csv'
    configs.main(['--steps', '2', '--device', 'cpu', '--out', str(tmp_path / 'runs'), '--csv', str(table)])
    with open(table) as handle:
        rows = list(csv.DictReader(handle))
    assert [(row['configuration'], row['steps'], row['batch'], row['lr']) for row in rows] == [
        ('torchbearer tutorial', '2', '128', '0.002'), ('bearer_gan plain defaults', '2', '128', '0.0002')]
    assert scored == [('torchbearer_tutorial', 10000, 'cpu'), ('bearer_gan_plain_defaults', 10000, 'cpu')]
    for name, ema_decay in (('torchbearer_tutorial', 0.0), ('bearer_gan_plain_defaults', 0.999)):
        config = json.loads((tmp_path / 'runs' / name / 'config.json').read_text())
        assert (config['steps'], config['ema_decay'], config['dataset']) == (2, ema_decay, 'mnist-5k')
