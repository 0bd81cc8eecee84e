"""``bearer-gan train`` with the loss family, penalties, two learning rates and a schedule: what the run records."""
import csv
import json

import numpy as np
import pytest

import bearer_gan
from bearer_gan.cli.train import main as train_main
from bearer_gan.config import flag_fields
from bearer_gan.run_folder import read_config

BASE = ['--dataset', 'mnist-5k', '--batch-size', '16', '--sample-interval', '5', '--device', 'cpu', '--no-eval']


def history(out):
    with open(out / 'history.csv') as handle:
        return list(csv.DictReader(handle))


def test_a_wgan_gp_run_with_lazy_r1_two_rates_and_a_schedule_records_what_it_used(tmp_path):
    out = tmp_path / 'run'
    train_main(BASE + ['--loss', 'wgan-gp', '--r1-gamma', '0.5', '--r1-interval', '2', '--lr-d', '4e-4',
                       '--beta1', '0', '--beta2', '0.9', '--lr-schedule', 'linear', '--steps', '6',
                       '--out', str(out)])
    config = json.loads((out / 'config.json').read_text())
    assert {key: config[key] for key in ('loss', 'real_label', 'gp_weight', 'r1_gamma', 'r1_interval', 'lr', 'lr_g',
                                         'lr_d', 'beta1', 'beta2', 'lr_schedule')} == dict(
        loss='wgan-gp', real_label=None, gp_weight=10.0, r1_gamma=0.5, r1_interval=2, lr=5e-4, lr_g=5e-4, lr_d=4e-4,
        beta1=0.0, beta2=0.9, lr_schedule='linear')
    rows = history(out)
    assert list(rows[0]) == ['step', 'g_loss', 'd_loss', 'd_x', 'd_g_z', 'wasserstein', 'gradient_penalty',
                             'r1_penalty', 'augment_p']  # augment_p: MNIST's recipe augments with ADA
    assert len(rows) == 6 and all(np.isfinite([float(value) for value in row.values()]).all() for row in rows)
    for row in rows:  # the Wasserstein estimate is the gap between the raw outputs
        assert float(row['wasserstein']) == pytest.approx(float(row['d_x']) - float(row['d_g_z']), abs=1e-5)
    assert (out / 'losses.png').stat().st_size > 0
    checkpoint = bearer_gan.load_checkpoint(str(out))[0]
    assert [group['lr'] for group in checkpoint['discriminator_optimizer']['param_groups']] == pytest.approx(
        [4e-4 * (1 - 5 / 6)])  # the last step's rate: the schedule drove the discriminator's own rate
    assert checkpoint['generator_optimizer']['param_groups'][0]['betas'] == (0.0, 0.9)


@pytest.mark.parametrize('loss', ['hinge', 'lsgan'])
def test_other_losses_record_no_real_label_and_raw_outputs(tmp_path, loss):
    out = tmp_path / loss
    train_main(BASE + ['--loss', loss, '--steps', '3', '--out', str(out)])
    config = json.loads((out / 'config.json').read_text())
    assert config['real_label'] is None and config['gp_weight'] is None and config['lr_g'] == config['lr'] == 5e-4
    assert list(history(out)[0]) == ['step', 'g_loss', 'd_loss', 'd_x', 'd_g_z', 'augment_p']


def test_the_default_run_keeps_its_label_smoothing(tmp_path):
    out = tmp_path / 'bce'
    train_main(BASE + ['--steps', '2', '--out', str(out)])
    config = json.loads((out / 'config.json').read_text())
    assert config['loss'] == 'bce' and config['real_label'] == 0.9 and config['lr_schedule'] == 'constant'
    values = [float(row['d_x']) for row in history(out)]
    assert all(0 < value < 1 for value in values)  # probabilities for bce


def test_a_config_made_before_the_loss_flags_resumes_with_the_values_it_trained_with(tmp_path):
    later = ('loss', 'lr_g', 'lr_d', 'beta2', 'lr_schedule', 'gp_weight', 'r1_gamma', 'r1_interval', 'conditional',
             'spectral_norm')
    defaults = {spec.name: spec.default for spec in flag_fields()}  # every flag's, as a run's config.json had them
    old = dict(defaults, real_label=0.9, device='cpu')
    for name in later:
        old.pop(name)
    (tmp_path / 'config.json').write_text(json.dumps(old))
    config = read_config(str(tmp_path))
    assert {key: getattr(config, key) for key in later} == dict(
        loss='bce', lr_g=2e-4, lr_d=2e-4, beta2=0.999, lr_schedule='constant', gp_weight=None, r1_gamma=0.0,
        r1_interval=1, conditional=False, spectral_norm=False)
    assert config.real_label == 0.9
