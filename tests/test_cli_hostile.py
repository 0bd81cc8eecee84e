"""Property-based: hostile command-line values are rejected with one line and exit code 2, and change nothing."""
import hashlib
import math
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import bearer_gan.cli.main as bearer_gan_main
from bearer_gan.cli.train import main as train_main

ROOT = Path(__file__).resolve().parents[1]

INTEGER_FLAGS = ['--steps', '--batch-size', '--sample-interval', '--d-steps', '--checkpoint-interval', '--latent-dim',
                 '--r1-interval']
UNIT_INTERVAL_FLAGS = ['--beta1', '--beta2', '--ema-decay']  # in [0, 1)
POSITIVE_FLAGS = ['--lr', '--lr-g', '--lr-d', '--real-label', '--gp-weight']


def not_a_number(text):
    try:
        return not math.isfinite(float(text))
    except ValueError:
        return True


junk = st.text(max_size=12).filter(not_a_number)
non_positive_integers = st.integers(max_value=0).map(str)
huge_or_special = st.sampled_from(['nan', 'NaN', 'inf', '-inf', '1e400', '-1e400', '', ' ', '0x10', '1_0e', '--'])
bad_integers = st.one_of(non_positive_integers, huge_or_special, junk,
                         st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: x != int(x)).map(repr))
bad_positive = st.one_of(st.floats(max_value=0.0).map(repr), huge_or_special, junk)
bad_unit = st.one_of(st.floats(min_value=1.0).map(repr), st.floats(max_value=-1e-9).map(repr), huge_or_special, junk)

HEALTH = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)


def tree_digest(folder):
    digest = hashlib.sha256()
    for path in sorted(Path(folder).rglob('*')):
        digest.update(str(path).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def assert_rejected(main, argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, (argv, err)
    assert len(err.strip().splitlines()) == 1 and 'Traceback' not in err, (argv, err)


@pytest.fixture(scope='module')
def existing_run(tmp_path_factory):
    """A finished 6-step run directory: the thing a rejected command must leave alone."""
    out = tmp_path_factory.mktemp('existing') / 'run'
    train_main(['--dataset', 'mnist-5k', '--steps', '6', '--batch-size', '8', '--sample-interval', '3',
                      '--device', 'cpu', '--no-eval', '--out', str(out)])
    return out


@given(flag=st.sampled_from(INTEGER_FLAGS), value=bad_integers)
@settings(**HEALTH)
def test_hostile_integer_flags(capsys, existing_run, flag, value):
    before = tree_digest(existing_run)
    fresh = Path(tempfile.mkdtemp()) / 'run'
    assert_rejected(train_main, [f'{flag}={value}', '--out', str(fresh)], capsys)
    assert_rejected(train_main, [f'{flag}={value}', '--out', str(existing_run)], capsys)
    assert not fresh.exists() and tree_digest(existing_run) == before


@given(flag=st.sampled_from(POSITIVE_FLAGS + UNIT_INTERVAL_FLAGS), data=st.data())
@settings(**HEALTH)
def test_hostile_number_flags(capsys, existing_run, flag, data):
    value = data.draw(bad_unit if flag in UNIT_INTERVAL_FLAGS else bad_positive)
    before = tree_digest(existing_run)
    assert_rejected(train_main, [f'{flag}={value}', '--out', str(existing_run)], capsys)
    assert tree_digest(existing_run) == before


@given(name=st.text(min_size=1, max_size=10).filter(lambda name: '/' not in name and name not in ('.', '..')))
@settings(**HEALTH)
def test_hostile_paths_for_out_data_dir_and_resume(capsys, existing_run, name):
    before = tree_digest(existing_run)
    a_file = existing_run / 'config.json'
    for argv in (['--out', str(a_file)], ['--out', str(a_file / name)], ['--data-dir', str(a_file)],
                 ['--resume', str(a_file)], ['--resume', str(existing_run / 'missing' / name)],
                 ['--resume', str(existing_run), '--steps', '5'], ['--out', str(existing_run), '--steps', '7']):
        assert_rejected(train_main, argv, capsys)
    assert tree_digest(existing_run) == before


@given(command=st.sampled_from(['sample', 'evaluate']), n=bad_integers)
@settings(**HEALTH)
def test_hostile_sample_and_evaluate_values(capsys, existing_run, command, n):
    before = tree_digest(existing_run)
    out = ['--out', str(existing_run / 'x.npy')] if command == 'sample' else []
    assert_rejected(bearer_gan_main.main, [command, '--run', str(existing_run), f'--n={n}', *out], capsys)
    assert tree_digest(existing_run) == before


@given(command=st.sampled_from(['sample', 'evaluate']), name=st.text(min_size=1, max_size=10))
@settings(**HEALTH)
def test_hostile_run_and_out_paths_for_sample_and_evaluate(capsys, existing_run, command, name):
    before = tree_digest(existing_run)
    empty = Path(tempfile.mkdtemp())
    runs = [existing_run / 'config.json', empty, existing_run / 'missing' / name.replace('/', '_')]
    for run in runs:
        out = ['--out', str(empty / 'x.npy')] if command == 'sample' else []
        assert_rejected(bearer_gan_main.main, [command, '--run', str(run), *out], capsys)
    if command == 'sample':
        for out in (existing_run / 'samples', existing_run / 'config.json' / 'x.npy', existing_run / f'{name}.png'):
            assert_rejected(bearer_gan_main.main, ['sample', '--run', str(existing_run), '--out', str(out)], capsys)
    assert tree_digest(existing_run) == before and not os.listdir(empty)
