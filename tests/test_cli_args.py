"""Per-data-set defaults: a data set's recipe fills the flags not given, a flag given wins, MNIST is unchanged.

The mechanism is tested with a recipe of several flags given to Fashion-MNIST here; the last tests
check the shipped recipe."""
import json
import os

import pytest

from bearer_gan.cli import args as cli_args
from bearer_gan.cli import train as cli_train

FASHION = dict(model='dcgan', precision='bf16')
SHIPPED = dict(cli_args.DATASET_DEFAULTS)  # before the fixture replaces it


@pytest.fixture(autouse=True)
def fashion_recipe(monkeypatch):
    monkeypatch.setattr(cli_args, 'DATASET_DEFAULTS', {'fashion-mnist': FASHION})
FASHION_DIR = os.environ.get('BEARER_GAN_FASHION_MNIST', '/usr/share/datasets/fashion-mnist')


def config_of(argv, tmp_path):
    """The configuration ``config.json`` would record for ``argv``."""
    _, args = cli_train.parse(argv + ['--out', str(tmp_path / 'run')])
    return cli_args.train_config(args, 'cpu')


def test_fashion_mnist_without_flags_trains_its_recipe(tmp_path):
    config = config_of(['--dataset', 'fashion-mnist'], tmp_path)
    assert FASHION and {name: config[name] for name in FASHION} == FASHION
    untouched = {name for name, value in cli_args.DEFAULTS.items() if value is not None} - set(FASHION) - {
        'dataset', 'out'}  # those that default to None are resolved from others (lr_g from lr, ...)
    assert {name: config[name] for name in untouched} == {name: cli_args.DEFAULTS[name] for name in untouched}


@pytest.mark.parametrize('name', sorted(FASHION))
@pytest.mark.parametrize('form', ['separate', 'equals'])
def test_a_flag_given_wins_over_the_data_sets_default(tmp_path, name, form):
    value = cli_args.DEFAULTS[name]
    assert value != FASHION[name]
    flag = '--' + name.replace('_', '-')
    given = [f'{flag}={value}'] if form == 'equals' else [flag, str(value)]
    config = config_of(['--dataset', 'fashion-mnist'] + given, tmp_path)
    assert config[name] == value
    assert {other: config[other] for other in FASHION if other != name} == \
        {other: FASHION[other] for other in FASHION if other != name}


def test_mnist_keeps_the_defaults(tmp_path):
    for argv in ([], ['--dataset', 'mnist'], ['--dataset', 'mnist-5k']):
        config = config_of(argv, tmp_path)
        assert {name: config[name] for name in FASHION} == {name: cli_args.DEFAULTS[name] for name in FASHION}


def test_an_abbreviated_flag_counts_as_given(tmp_path):
    # argparse takes --mod for --model: the data set's default must not overwrite it
    config = config_of(['--dataset', 'fashion-mnist', '--mod', 'tutorial'], tmp_path)
    assert config['model'] == 'tutorial' != FASHION['model']


@pytest.mark.skipif(not os.path.isdir(FASHION_DIR), reason=f'Fashion-MNIST is not installed in {FASHION_DIR}')
def test_config_json_records_the_recipe_used(tmp_path):
    out = tmp_path / 'run'
    parser, args = cli_train.parse(['--dataset', 'fashion-mnist', '--data-dir', FASHION_DIR, '--out', str(out),
                                    '--batch-size', '32'])
    cli_train.prepare(args, parser)
    config = json.loads((out / 'config.json').read_text())
    assert config['batch_size'] == 32
    assert {name: config[name] for name in FASHION if name != 'batch_size'} == \
        {name: value for name, value in FASHION.items() if name != 'batch_size'}


@pytest.mark.parametrize('argv, conditional', [
    (['--dataset', 'fashion-mnist'], True),  # its measured best recipe (docs: Your own images)
    (['--dataset', 'fashion-mnist', '--no-conditional'], False),
    (['--dataset', 'mnist'], False),
    (['--dataset', 'mnist', '--conditional'], True),
])
def test_fashion_mnist_trains_class_conditional_unless_told_not_to(tmp_path, monkeypatch, argv, conditional):
    monkeypatch.setattr(cli_args, 'DATASET_DEFAULTS', SHIPPED)
    config = config_of(argv, tmp_path)
    assert config['conditional'] is conditional
    assert {name: config[name] for name in ('model', 'precision', 'loss', 'batch_size')} == \
        {name: cli_args.DEFAULTS[name] for name in ('model', 'precision', 'loss', 'batch_size')}


@pytest.mark.parametrize('argv, learning_rates, ema_decay', [
    (['--dataset', 'fashion-mnist'], (5e-4, 5e-4), 0.9999),  # its measured best recipe
    (['--dataset', 'fashion-mnist', '--lr-g', '1e-4'], (1e-4, 5e-4), 0.9999),  # the other network keeps 5e-4
    (['--dataset', 'fashion-mnist', '--lr', '2e-4', '--ema-decay', '0.999'], (2e-4, 2e-4), 0.999),
    (['--dataset', 'mnist'], (2e-4, 2e-4), 0.999),
])
def test_fashion_mnist_trains_at_its_own_learning_rate_and_moving_average(tmp_path, monkeypatch, argv,
                                                                            learning_rates, ema_decay):
    monkeypatch.setattr(cli_args, 'DATASET_DEFAULTS', SHIPPED)
    config = config_of(argv, tmp_path)
    assert (config['lr_g'], config['lr_d']) == learning_rates
    assert config['ema_decay'] == ema_decay


def test_flags_of_gives_a_switch_its_no_form_and_leaves_out_steps():
    assert cli_args.flags_of(dict(conditional=False, spectral_norm=True, lr=2e-4, steps=5)) == \
        ['--no-conditional', '--spectral-norm', '--lr', '0.0002']


def test_the_replaced_defaults_given_as_flags_train_the_default_configuration(tmp_path, monkeypatch):
    monkeypatch.setattr(cli_args, 'DATASET_DEFAULTS', SHIPPED)
    plain = cli_args.replaced_defaults('fashion-mnist')
    assert set(plain) == set(SHIPPED['fashion-mnist'])
    config = config_of(['--dataset', 'fashion-mnist'] + cli_args.flags_of(plain), tmp_path)
    assert {name: config[name] for name in plain} == {name: cli_args.DEFAULTS[name] for name in plain}
    assert cli_args.replaced_defaults('mnist') == {}
