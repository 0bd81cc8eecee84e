"""RunConfig, the one schema of a run: its defaults, its checks (ConfigError naming the flag), a data set's
recipe for the fields not given, its flags, config.json of any format read back, and what makes two runs the same.

The recipe mechanism is tested with a recipe of several fields given to Fashion-MNIST here; the tests
named test_shipped_* check the recipe that ships."""
import argparse
import dataclasses
import json
import os
import re

import pytest

import bearer_gan
from bearer_gan import config as run_config
from bearer_gan.config import (ADDED_KEYS, CONFIG_FORMAT, KINDS, ConfigError, RunConfig, flag_fields, run_difference,
                               same_run, upgrade_config)
from bearer_gan.flags import UsageError, parse_run_flags, train_parser
from bearer_gan.recipe import prepare_run
from bearer_gan.run_folder import choose_run
from conftest import require_data

FASHION = dict(model='dcgan', precision='bf16')
SHIPPED = dict(run_config.DATASET_RECIPES)  # before the fixture replaces it
#: The value of every flag that ``bearer-gan train`` trains with no flags (None: resolved from others).
DEFAULTS = {spec.name: spec.default for spec in flag_fields()}


@pytest.fixture(autouse=True)
def fashion_recipe(monkeypatch):
    monkeypatch.setattr(run_config, 'DATASET_RECIPES', {'fashion-mnist': FASHION})


FASHION_DIR = os.environ.get('BEARER_GAN_FASHION_MNIST', '/usr/share/datasets/fashion-mnist')


def flag(name):
    return '--' + name.replace('_', '-')


def config_of(argv, tmp_path):
    """The configuration ``config.json`` would record for ``argv``."""
    config, invocation = parse_run_flags(argv + ['--out', str(tmp_path / 'run')])
    assert invocation.resume is None
    return config.to_dict()


# --- a data set's recipe ----------------------------------------------------------------------------------------

def test_fashion_mnist_without_flags_trains_its_recipe(tmp_path):
    config = config_of(['--dataset', 'fashion-mnist'], tmp_path)
    assert FASHION and {name: config[name] for name in FASHION} == FASHION
    untouched = {name for name, value in DEFAULTS.items() if value is not None} - set(FASHION) - {
        'dataset', 'out'}  # those that default to None are resolved from others (lr_g from lr, ...)
    assert {name: config[name] for name in untouched} == {name: DEFAULTS[name] for name in untouched}


@pytest.mark.parametrize('name', sorted(FASHION))
@pytest.mark.parametrize('form', ['separate', 'equals'])
def test_a_flag_given_wins_over_the_data_sets_default(tmp_path, name, form):
    value = DEFAULTS[name]
    assert value != FASHION[name]
    given = [f'{flag(name)}={value}'] if form == 'equals' else [flag(name), str(value)]
    config = config_of(['--dataset', 'fashion-mnist'] + given, tmp_path)
    assert config[name] == value
    assert {other: config[other] for other in FASHION if other != name} == \
        {other: FASHION[other] for other in FASHION if other != name}


@pytest.mark.parametrize('name', sorted(FASHION))
def test_a_value_given_to_for_dataset_wins_over_the_data_sets_default(name):
    config = RunConfig.for_dataset('fashion-mnist', **{name: DEFAULTS[name]})
    assert getattr(config, name) == DEFAULTS[name]
    assert {other: getattr(config, other) for other in FASHION if other != name} == \
        {other: FASHION[other] for other in FASHION if other != name}


def test_mnist_keeps_the_defaults(tmp_path):
    for argv in ([], ['--dataset', 'mnist'], ['--dataset', 'mnist-5k']):
        config = config_of(argv, tmp_path)
        assert {name: config[name] for name in FASHION} == {name: DEFAULTS[name] for name in FASHION}
    assert RunConfig.for_dataset('mnist') == RunConfig() and RunConfig.for_dataset() == RunConfig()


def test_an_abbreviated_flag_counts_as_given(tmp_path):
    # argparse takes --mod for --model: the data set's default must not overwrite it
    config = config_of(['--dataset', 'fashion-mnist', '--mod', 'tutorial'], tmp_path)
    assert config['model'] == 'tutorial' != FASHION['model']


def test_config_json_records_the_recipe_used(tmp_path):
    require_data(FASHION_DIR, 'Fashion-MNIST (apt-get install dataset-fashion-mnist, or set BEARER_GAN_FASHION_MNIST)')
    out = tmp_path / 'run'
    config, invocation = parse_run_flags(['--dataset', 'fashion-mnist', '--data-dir', FASHION_DIR, '--out', str(out),
                                          '--batch-size', '32'])
    prepare_run(*choose_run(config, invocation))
    config = json.loads((out / 'config.json').read_text())
    assert config['batch_size'] == 32
    assert {name: config[name] for name in FASHION if name != 'batch_size'} == \
        {name: value for name, value in FASHION.items() if name != 'batch_size'}


@pytest.mark.parametrize('argv, conditional', [
    (['--dataset', 'fashion-mnist'], True),  # its measured best recipe (docs: Your own images)
    (['--dataset', 'fashion-mnist', '--no-conditional'], False),
    (['--dataset', 'mnist'], True),  # its own measured best recipe (docs: Better samples)
    (['--dataset', 'mnist-5k', '--no-conditional'], False),
])
def test_shipped_mnist_and_fashion_mnist_train_class_conditional_unless_told_not_to(tmp_path, monkeypatch, argv, conditional):
    monkeypatch.setattr(run_config, 'DATASET_RECIPES', SHIPPED)
    config = config_of(argv, tmp_path)
    assert config['conditional'] is conditional
    assert {name: config[name] for name in ('model', 'precision', 'loss', 'batch_size')} == \
        {name: DEFAULTS[name] for name in ('model', 'precision', 'loss', 'batch_size')}


@pytest.mark.parametrize('argv, learning_rates, ema_decay', [
    (['--dataset', 'fashion-mnist'], (5e-4, 5e-4), 0.9999),  # its measured best recipe
    (['--dataset', 'fashion-mnist', '--lr-g', '1e-4'], (1e-4, 5e-4), 0.9999),  # the other network keeps 5e-4
    (['--dataset', 'fashion-mnist', '--lr', '2e-4', '--ema-decay', '0.999'], (2e-4, 2e-4), 0.999),
    (['--dataset', 'mnist'], (5e-4, 5e-4), 0.9999),
    (['--dataset', 'mnist-5k', '--lr', '2e-4', '--ema-decay', '0.999'], (2e-4, 2e-4), 0.999),
])
def test_shipped_fashion_mnist_trains_at_its_own_learning_rate_and_moving_average(tmp_path, monkeypatch, argv,
                                                                                    learning_rates, ema_decay):
    monkeypatch.setattr(run_config, 'DATASET_RECIPES', SHIPPED)
    config = config_of(argv, tmp_path)
    assert (config['lr_g'], config['lr_d']) == learning_rates
    assert config['ema_decay'] == ema_decay


def test_shipped_the_replaced_defaults_given_train_the_default_configuration(tmp_path, monkeypatch):
    """What a comparison across data sets wants (benchmarks/compare_losses.py): the default configuration on
    Fashion-MNIST, not its recipe, by giving the defaults of the fields the recipe replaces."""
    monkeypatch.setattr(run_config, 'DATASET_RECIPES', SHIPPED)
    plain = {name: getattr(RunConfig(), name) for name in run_config.DATASET_RECIPES['fashion-mnist']}
    assert set(plain) == set(SHIPPED['fashion-mnist']) == {'conditional', 'lr', 'ema_decay'}
    assert RunConfig.for_dataset('fashion-mnist', **plain) == RunConfig(dataset='fashion-mnist')
    assert RunConfig.for_dataset('fashion-mnist') != RunConfig(dataset='fashion-mnist')
    # the same on the command line: a switch given in its --no- form also overrides the recipe
    config = config_of(['--dataset', 'fashion-mnist', '--no-conditional', '--lr', '0.0002', '--ema-decay', '0.999'],
                       tmp_path)
    assert config == dict(RunConfig(dataset='fashion-mnist', out=str(tmp_path / 'run')).to_dict())
    assert {name: config[name] for name in plain} == {name: DEFAULTS[name] for name in plain}


def test_shipped_the_run_with_no_flags_is_mnists_recipe_and_augment_none_turns_its_augmentation_off(tmp_path,
                                                                                                   monkeypatch):
    monkeypatch.setattr(run_config, 'DATASET_RECIPES', SHIPPED)
    default, _ = parse_run_flags([])
    assert default == RunConfig.for_dataset('mnist') != RunConfig()
    assert (default.conditional, default.lr, default.ema_decay, default.augment) == (
        True, 5e-4, 0.9999, 'ada:translation')
    assert (default.steps, default.model, default.loss, default.batch_size) == (15000, 'tutorial', 'bce', 128)
    assert RunConfig.for_dataset('mnist-5k') == default.replace(dataset='mnist-5k')
    plain, _ = parse_run_flags(['--augment', 'none', '--dataset', 'mnist-5k'])
    assert plain.augment is None and plain.conditional
    assert parse_run_flags(['--augment', 'ada:color'])[0].augment == 'ada:color'
    assert RunConfig.for_dataset(str(tmp_path)) == RunConfig(dataset=str(tmp_path))  # a folder: the plain defaults


def test_shipped_few_fashion_images_train_with_ada_and_the_subset_is_what_decides(tmp_path, monkeypatch):
    """SMALL_DATA_RECIPES: on at most 6,000 Fashion-MNIST images (--max-images) the recipe adds ADA, on more it
    does not; a flag still overrides it, and config.json records what was trained."""
    monkeypatch.setattr(run_config, 'DATASET_RECIPES', SHIPPED)
    few, _ = parse_run_flags(['--dataset', 'fashion-mnist', '--max-images', '6000'])
    assert (few.augment, few.conditional, few.lr, few.max_images) == ('ada', True, 5e-4, 6000)
    assert RunConfig.for_dataset('fashion-mnist', max_images=12000).augment is None
    assert RunConfig.for_dataset('fashion-mnist').augment is None
    assert parse_run_flags(['--dataset', 'fashion-mnist', '--max-images', '600', '--augment', 'none'])[0].augment is None
    assert RunConfig.for_dataset('mnist-5k', max_images=600).augment == 'ada:translation'  # its own recipe
    assert config_of(['--dataset', 'fashion-mnist', '--max-images', '600'], tmp_path)['augment'] == 'ada'


def test_the_recipe_is_read_when_asked_for(monkeypatch):
    """for_dataset reads bearer_gan.config.DATASET_RECIPES when called, so a patched recipe takes effect."""
    assert RunConfig.for_dataset('fashion-mnist').model == 'dcgan'
    monkeypatch.setattr(run_config, 'DATASET_RECIPES', {'mnist-5k': dict(steps=7)})
    assert RunConfig.for_dataset('mnist-5k').steps == 7 and RunConfig.for_dataset('fashion-mnist').model == 'tutorial'


# --- defaults and resolved values -------------------------------------------------------------------------------

def test_the_default_run_and_its_resolved_values():
    config = RunConfig()
    assert (config.steps, config.batch_size, config.lr, config.model, config.loss, config.dataset, config.out) == (
        15000, 128, 2e-4, 'tutorial', 'bce', 'mnist', 'runs/gan')
    assert (config.lr_g, config.lr_d) == (2e-4, 2e-4)  # from lr
    assert config.latent_dim == bearer_gan.DEFAULT_LATENT_DIM['tutorial'] == 100  # the model's own
    assert config.real_label == run_config.BCE_REAL_LABEL == 0.9 and config.gp_weight is None  # bce's label smoothing
    assert config.device == bearer_gan.default_device() and config.config_format == CONFIG_FORMAT
    assert config.data is None
    wgan = RunConfig(loss='wgan-gp', model='mlp256', lr=1e-3, lr_d=4e-4)
    assert (wgan.real_label, wgan.gp_weight, wgan.latent_dim, wgan.lr_g, wgan.lr_d) == (
        None, 10.0, bearer_gan.DEFAULT_LATENT_DIM['mlp256'], 1e-3, 4e-4)
    given = RunConfig(latent_dim=7, real_label=1.0, device='cpu')
    assert (given.latent_dim, given.real_label, given.device) == (7, 1.0, 'cpu')


def test_a_config_is_frozen_and_replace_checks_again():
    config = RunConfig(device='cpu')
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.steps = 5
    assert config.replace(steps=5).steps == 5 and config.steps == 15000
    with pytest.raises(ConfigError, match='--steps must be a positive integer, got 0'):
        config.replace(steps=0)
    with pytest.raises(ConfigError, match='--real-label belongs to the bce loss'):
        config.replace(loss='hinge')  # the resolved real label stays: give real_label=None with a new loss
    assert config.replace(loss='hinge', real_label=None).real_label is None
    # resolved values are kept; give them as None to resolve them again
    assert config.replace(lr=1e-3).lr_g == 2e-4
    assert (config.replace(lr=1e-3, lr_g=None, lr_d=None).lr_g, config.replace(lr=1e-3, lr_d=None).lr_d) == (1e-3, 1e-3)


def test_identity_leaves_out_the_device_the_format_and_the_data():
    config = RunConfig(device='cpu', data=dict(dataset='mnist-5k', images=5000, requested='mnist'), dataset='mnist-5k')
    identity = config.identity()
    assert not {'device', 'config_format', 'data'} & set(identity)
    assert identity['dataset'] == 'mnist'  # as asked for, also when it fell back to mnist-5k
    assert set(identity) == {spec.name for spec in flag_fields()} - {'device'}


# --- validation: ConfigError naming the flag --------------------------------------------------------------------

NAN, INF = float('nan'), float('inf')
#: Values each kind of field rejects (None is rejected too, where a field is not optional).
BAD_VALUES = {
    'positive_int': [0, -3, 2.5, 3.0, True, '7', NAN],
    'non_negative_int': [-1, 1.5, False, '0'],
    'positive_float': [0, 0.0, -0.1, NAN, INF, True, '1e-3'],
    'non_negative_float': [-1e-9, -1, NAN, -INF, INF, False, '0'],
    'probability': [1, 1.0, 1.5, -0.1, NAN, True, '0.5'],
    'image_size': [7, 0, -8, 8.0, True, '32'],
    'int': [1.5, True, '0', NAN],
    'text': ['', 3, True, b'runs'],
    'dataset': ['', 3],
    'device': ['', 0],
    'switch': [1, 0, 'yes', 'False'],
    'augment': ['', 'blur', 'ada:', 'ada:blur', 'diffaugment:translation,blur', 3, True],
}
#: A valid value of every kind.
GOOD_VALUES = {'positive_int': 3, 'non_negative_int': 0, 'positive_float': 0.5, 'non_negative_float': 1.5,
               'probability': 0.0, 'image_size': 8, 'int': -2, 'text': 'elsewhere', 'dataset': 'mnist-5k',
               'device': 'cpu', 'switch': True, 'augment': 'ada:translation,cutout'}
#: What a field's good value needs besides itself.
NEEDS = {'r1_interval': dict(r1_gamma=1.0), 'gp_weight': dict(loss='wgan-gp')}


def bad_cases():
    for spec in flag_fields():
        meta = spec.metadata
        values = ['nope', '', 2, None] if meta['choices'] is not None and meta['kind'] == 'text' else []
        if meta['choices'] is not None and meta['kind'] == 'int':
            values = [2, 0, -1, '1', 1.5, True, 1.0]  # channels: 1 or 3, integers only
        values = values or BAD_VALUES[meta['kind']]
        values = [value for value in values if value is not None] + ([] if meta['optional'] else [None])
        for value in values:
            yield pytest.param(spec.name, value, id=f'{spec.name}={value!r}')


@pytest.mark.parametrize('name, value', list(bad_cases()))
def test_a_bad_value_of_any_field_is_a_config_error_naming_its_flag(name, value):
    with pytest.raises(ConfigError) as error:
        RunConfig(**{name: value})
    assert str(error.value).startswith(f'{flag(name)} must be'), str(error.value)
    assert not isinstance(error.value, UsageError)  # UsageError is the CLI's kind of ConfigError
    assert issubclass(UsageError, ConfigError) and issubclass(ConfigError, ValueError)


def test_every_kind_has_bad_values_and_a_good_one():
    kinds = {spec.metadata['kind'] for spec in flag_fields()}
    assert kinds <= set(BAD_VALUES) and kinds <= set(GOOD_VALUES)
    assert set(KINDS) <= set(BAD_VALUES)
    for name, kind in KINDS.items():
        assert kind.check(GOOD_VALUES[name]) and not any(kind.check(value) for value in BAD_VALUES[name]), name


@pytest.mark.parametrize('spec', flag_fields(), ids=lambda spec: spec.name)
def test_a_good_value_of_any_field_is_kept(spec):
    meta = spec.metadata
    value = meta['choices']()[-1] if meta['choices'] is not None else GOOD_VALUES[meta['kind']]
    assert getattr(RunConfig(**{spec.name: value}, **NEEDS.get(spec.name, {})), spec.name) == value
    if meta['optional']:
        RunConfig(**{spec.name: None})


@pytest.mark.parametrize('given, message', [
    (dict(train_generator_only=True, train_discriminator_only=True),
     '--train-generator-only and --train-discriminator-only exclude each other'),
    (dict(loss='hinge', real_label=0.9), '--real-label belongs to the bce loss; --loss hinge has no target'),
    (dict(loss='wgan-gp', real_label=0.9), '--real-label belongs to the bce loss; --loss wgan-gp has no target'),
    (dict(real_label=1.5), '--real-label must be in (0, 1], got 1.5'),
    (dict(gp_weight=5.0), '--gp-weight belongs to the wgan-gp loss; --loss bce has no gradient penalty'),
    (dict(loss='lsgan', gp_weight=5.0), '--gp-weight belongs to the wgan-gp loss; --loss lsgan has no'),
    (dict(compile=True, loss='wgan-gp'), '--compile cannot train a penalty'),
    (dict(compile=True, r1_gamma=1.0), '--compile cannot train a penalty'),
    (dict(r1_interval=4), '--r1-interval needs --r1-gamma (R1 is off)'),
])
def test_a_combination_that_makes_no_run_is_a_config_error_naming_the_flags(given, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        RunConfig(**given)


@pytest.mark.parametrize('given', [
    dict(real_label=1.0), dict(loss='wgan-gp', gp_weight=5.0), dict(compile=True, loss='wgan-gp',
                                                                    train_generator_only=True),
    dict(compile=True, r1_gamma=1.0, train_generator_only=True), dict(r1_interval=4, r1_gamma=1.0),
    dict(compile=True, loss='hinge'), dict(train_discriminator_only=True),
])
def test_combinations_that_make_a_run(given):
    config = RunConfig(**given)
    assert {name: getattr(config, name) for name in given} == given


# --- the flags ----------------------------------------------------------------------------------------------------

INVOCATION_FLAGS = {'--help', '--resume', '--overwrite', '--quiet', '--preview', '--no-eval'}


def options_of(parser):
    return {option: action for action in parser._actions for option in action.option_strings}


def test_every_field_with_flag_metadata_is_a_flag_and_every_flag_a_field_or_this_invocations():
    options = options_of(train_parser('bearer-gan train'))
    fields = {spec.name for spec in flag_fields()}
    assert fields and {flag(name) for name in fields} <= set(options)
    for spec in flag_fields():
        action = options[flag(spec.name)]
        assert action.dest == spec.name and action.default is argparse.SUPPRESS  # no default of its own
        assert spec.metadata['help'].split('(')[0].strip() in action.help
        switch = spec.metadata['kind'] == 'switch'
        assert (flag(spec.name).replace('--', '--no-', 1) in options) == (switch and not spec.metadata['store_true'])
    negated = {'--no-' + flag(spec.name)[2:] for spec in flag_fields()
               if spec.metadata['kind'] == 'switch' and not spec.metadata['store_true']}
    assert set(options) - {'-h'} - INVOCATION_FLAGS - negated == {flag(name) for name in fields}
    others = {spec.name for spec in dataclasses.fields(RunConfig)} - fields
    assert others == {'config_format', 'data'} and not {flag(name) for name in others} & set(options)


@pytest.mark.parametrize('spec', flag_fields(), ids=lambda spec: spec.name)
def test_a_flag_parses_into_its_field(tmp_path, spec):
    meta = spec.metadata
    if meta['kind'] == 'switch':
        argv = [flag(spec.name)]
        value = True
    else:
        value = meta['choices']()[-1] if meta['choices'] is not None else GOOD_VALUES[meta['kind']]
        argv = [flag(spec.name), str(value)]
    for name, needed in NEEDS.get(spec.name, {}).items():
        argv += [flag(name), str(needed)]
    argv += [] if spec.name == 'out' else ['--out', str(tmp_path / 'run')]
    config, invocation = parse_run_flags(argv)
    assert getattr(config, spec.name) == value and set(invocation.given) >= {spec.name}
    if meta['kind'] == 'switch' and not meta['store_true']:
        assert getattr(parse_run_flags([f"--no-{flag(spec.name)[2:]}", '--out', str(tmp_path)])[0], spec.name) is False


def test_a_bad_combination_on_the_command_line_is_one_line_naming_the_flag(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse_run_flags(['--r1-interval', '4', '--out', str(tmp_path)], prog='bearer-gan train')
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count('\n') == 1
    assert err.startswith('bearer-gan train: error: --r1-interval needs --r1-gamma')


# --- config.json: written, read back, upgraded; the same run --------------------------------------------------------

def test_to_dict_and_from_dict_round_trip_through_json():
    config = RunConfig(steps=30, lr=1e-3, loss='wgan-gp', conditional=True, device='cpu',
                       data=dict(dataset='mnist-5k', images=5000, requested='mnist'), dataset='mnist-5k')
    recorded = json.loads(json.dumps(config.to_dict()))
    assert set(recorded) == {spec.name for spec in dataclasses.fields(RunConfig)}
    assert recorded['config_format'] == CONFIG_FORMAT and recorded['lr_g'] == 1e-3 and recorded['gp_weight'] == 10.0
    assert RunConfig.from_dict(recorded) == config


def format_1(config):
    """``config`` as a version before config formats existed recorded it."""
    recorded = config.to_dict()
    for key, (added_in, _) in ADDED_KEYS.items():
        if added_in > 1:
            recorded.pop(key)
    for key in ('config_format', 'data'):
        recorded.pop(key)
    return dict(recorded, latent_dim=None)


def test_from_dict_upgrades_a_format_1_config_with_the_values_runs_had_then():
    # every field a format-1 config.json lacks is given here a value other than the one runs had then
    config = RunConfig(steps=30, lr=1e-3, batch_size=16, seed=3, ema_decay=0.99, device='cpu', dataset='mnist-5k',
                       compile=True, log_interval=5, tensorboard=True, image_size=32, channels=3, data_memory=1.0,
                       data_workers=2, loss='hinge', real_label=None, lr_g=5e-4, lr_d=4e-4, beta2=0.9,
                       lr_schedule='cosine', r1_gamma=1.0, r1_interval=2, conditional=True, spectral_norm=True,
                       no_sync_bn=True, train_generator_only=True,  # (so that --compile may take R1)
                       eval_interval=5, max_images=1000, augment='diffaugment')
    then = {key: value for key, (_, value) in ADDED_KEYS.items()}
    assert all(getattr(config, key) != value for key, value in then.items() if key != 'gp_weight')
    recorded = format_1(config)
    assert 'config_format' not in recorded and not set(ADDED_KEYS) & set(recorded)
    assert upgrade_config(recorded) == dict(recorded, config_format=CONFIG_FORMAT, **then)
    upgraded = RunConfig.from_dict(recorded)
    assert upgraded.config_format == CONFIG_FORMAT
    assert {key: getattr(upgraded, key) for key in ADDED_KEYS} == dict(then, lr_g=1e-3, lr_d=1e-3)  # from lr
    assert (upgraded.latent_dim, upgraded.real_label, upgraded.gp_weight) == (100, 0.9, None)
    assert upgraded == config.replace(real_label=0.9, **then)
    # a format-2 config lacks only what format 3 added; a format-3 one lacking it is refused
    two = dict(config.to_dict(), config_format=2)
    two.pop('no_sync_bn')
    assert RunConfig.from_dict(two) == config.replace(no_sync_bn=False)
    with pytest.raises(ConfigError, match='it lacks no_sync_bn'):
        RunConfig.from_dict(dict(two, config_format=3))
    # format 4 added --eval-interval, --max-images and --augment
    three = dict(config.to_dict(), config_format=3)
    for key in ('eval_interval', 'max_images', 'augment'):
        three.pop(key)
    assert RunConfig.from_dict(three) == config.replace(eval_interval=None, max_images=None, augment=None)
    with pytest.raises(ConfigError, match='it lacks (eval_interval|max_images|augment)'):
        RunConfig.from_dict(dict(three, config_format=4))


@pytest.mark.parametrize('change, message', [
    (dict(config_format=CONFIG_FORMAT + 1), 'made by a newer version of bearer_gan'),
    (dict(config_format='3'), 'made by a newer version of bearer_gan'),
    (dict(colour='blue'), 'it has keys this version does not know: colour'),
    (dict(steps=0), '--steps must be a positive integer'),
    (dict(loss='wgan'), '--loss must be one of'),
])
def test_from_dict_refuses_what_makes_no_run(change, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        RunConfig.from_dict(dict(RunConfig(device='cpu').to_dict(), **change))


def test_from_dict_refuses_a_config_that_lacks_a_field_but_the_device():
    recorded = RunConfig(device='cpu').to_dict()
    recorded.pop('seed')
    with pytest.raises(ConfigError, match='it lacks seed$'):
        RunConfig.from_dict(recorded)
    recorded = RunConfig(device='cpu').to_dict()
    recorded.pop('device')  # a config without a device is not refused for it: it trains on this machine's
    assert RunConfig.from_dict(recorded).device == bearer_gan.default_device()


def test_same_run_ignores_the_device_the_format_and_a_data_sets_fallback():
    config = RunConfig(steps=30, device='cpu', dataset='mnist')
    recorded = config.to_dict()
    assert same_run(recorded, config)
    assert same_run(dict(recorded, device='cuda'), config)  # the same run, elsewhere
    assert same_run(format_1(config), config)  # an older config.json of the same run
    assert same_run(dict(recorded, dataset='mnist-5k', data=dict(dataset='mnist-5k', images=5000,
                                                                  requested='mnist')), config)  # offline fallback
    assert same_run(recorded, config.replace(data=dict(dataset='mnist', images=60000, requested='mnist')))


def test_same_run_and_run_difference_tell_a_different_run():
    config = RunConfig(steps=30, device='cpu')
    recorded = config.to_dict()
    assert not same_run(recorded, config.replace(steps=20))
    assert run_difference(recorded, config.replace(steps=20)) == '--steps 20 (the run: 30)'
    other = config.replace(steps=20, lr=1e-3, lr_g=None, lr_d=None, seed=2, batch_size=8)
    assert not same_run(recorded, other)
    assert run_difference(recorded, other) == (
        '--batch-size 8 (the run: 128), --lr 0.001 (the run: 0.0002), --lr-d 0.001 (the run: 0.0002) and 3 more')
    assert run_difference(recorded, other, limit=10).count('(the run:') == 6
    for garbage in ({'steps': 1}, dict(recorded, config_format=CONFIG_FORMAT + 1), dict(recorded, steps=-1), {}):
        assert not same_run(garbage, config)  # never an exception: a folder that holds something else
    assert 'newer version' in run_difference(dict(recorded, config_format=CONFIG_FORMAT + 1), config)
    assert 'it lacks' in run_difference({'steps': 1}, config)
