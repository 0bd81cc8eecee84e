"""Every bad input gets one line on stderr and exit code 2, never a traceback, and changes nothing."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import bearer_gan.cli.main as bearer_gan_main
from bearer_gan.cli.train import main as train_main

ROOT = Path(__file__).resolve().parents[1]


def rejected(main, argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert 'Traceback' not in err
    return err


@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / 'a_file'
    path.write_text('not a folder')
    return path


@pytest.mark.parametrize('argv, message', [
    (['--steps', '0'], 'positive integer'),
    (['--steps', '-5'], 'positive integer'),
    (['--steps', 'many'], "'many' is not an integer"),
    (['--batch-size', '0'], 'positive integer'),
    (['--lr', '0'], 'positive number'),
    (['--lr', '-0.1'], 'positive number'),
    (['--lr', 'nan'], 'not a finite number'),
    (['--sample-interval', '0'], 'positive integer'),
    (['--d-steps', '0'], 'positive integer'),
    (['--beta1', '1.5'], 'must be in [0, 1)'),
    (['--real-label', '1.5'], 'must be in (0, 1]'),
    (['--train-generator-only', '--train-discriminator-only'], 'exclude each other'),
    (['--model', 'stylegan'], "invalid choice: 'stylegan'"),
    (['--dataset', 'cifar'], "'cifar' is neither a data set (mnist, mnist-5k, fashion-mnist, cifar10) nor a folder"),
    (['--device', 'tpu'], 'is not a device'),
    (['--precision', 'fp16'], "invalid choice: 'fp16'"),
    (['--loss', 'wgan'], "invalid choice: 'wgan'"),
    (['--loss', 'hinge', '--real-label', '0.9'], '--real-label belongs to the bce loss; --loss hinge has no target'),
    (['--gp-weight', '5'], '--gp-weight belongs to the wgan-gp loss; --loss bce has no gradient penalty'),
    (['--r1-gamma=-1'], 'must be 0 or a positive number'),
    (['--r1-interval', '4'], '--r1-interval needs --r1-gamma'),
    (['--r1-interval', '0', '--r1-gamma', '1'], 'positive integer'),
    (['--lr-g', '0'], 'positive number'),
    (['--lr-d=-1e-4'], 'positive number'),
    (['--beta2', '1'], 'must be in [0, 1)'),
    (['--lr-schedule', 'step'], "invalid choice: 'step'"),
    (['--compile', '--loss', 'wgan-gp'], '--compile cannot train a penalty'),
    (['--compile', '--r1-gamma', '1'], '--compile cannot train a penalty'),
])
def test_bad_training_flags(capsys, tmp_path, argv, message):
    err = rejected(train_main, argv + ['--out', str(tmp_path / 'run')], capsys)
    assert message in err
    assert not (tmp_path / 'run').exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has a GPU')
def test_cuda_without_a_gpu(capsys, tmp_path):
    assert 'no CUDA GPU is available' in rejected(train_main, ['--device', 'cuda', '--out', str(tmp_path)], capsys)


def test_unwritable_out_and_file_paths(capsys, tmp_path, a_file):
    assert 'is a file' in rejected(train_main, ['--out', str(a_file)], capsys)
    assert 'cannot write to' in rejected(train_main, ['--out', str(a_file / 'run')], capsys)
    assert 'is a file' in rejected(train_main, ['--data-dir', str(a_file), '--out', str(tmp_path / 'r')], capsys)


def test_corrupt_data_dir(capsys, tmp_path):
    raw = tmp_path / 'data' / 'MNIST' / 'raw'
    raw.mkdir(parents=True)
    for name in ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'):
        (raw / name).write_bytes(b'garbage')
    err = rejected(train_main, ['--data-dir', str(tmp_path / 'data'), '--out', str(tmp_path / 'run')], capsys)
    assert 'corrupt or incomplete' in err and str(raw) in err
    assert not (tmp_path / 'run').exists()


def test_batch_larger_than_the_data(capsys, tmp_path):
    err = rejected(train_main, ['--dataset', 'mnist-5k', '--batch-size', '6000', '--out', str(tmp_path)], capsys)
    assert '--batch-size 6000 is larger than the data set (5000 images)' in err
    assert not (tmp_path / 'config.json').exists()


def test_a_different_run_in_out_is_not_touched_without_overwrite(capsys, tmp_path):
    (tmp_path / 'notes.txt').write_text('mine')
    (tmp_path / 'config.json').write_text('{"steps": 1}')
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    assert 'pass --overwrite' in rejected(train_main, ['--out', str(tmp_path)], capsys)
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before


@pytest.mark.parametrize('argv, message', [
    (['sample', '--run', '{run}', '--out', '{tmp}/x.npy'], 'holds no generator.pt'),
    (['sample', '--run', '{tmp}/missing', '--out', '{tmp}/x.npy'], 'is not a directory'),
    (['sample', '--run', '{run}', '--n', '0', '--out', '{tmp}/x.npy'], 'positive integer'),
    (['sample', '--run', '{run}', '--n', '-3', '--out', '{tmp}/x.npy'], 'positive integer'),
    (['sample', '--run', '{run}', '--out', '{tmp}/x.png'], 'must name a .npy file'),
    (['sample', '--run', '{corrupt}', '--out', '{tmp}/x.npy'], 'cannot load'),
    (['sample'], 'required'),
    (['evaluate', '--run', '{run}'], 'holds no generator.pt'),
    (['evaluate', '--run', '{corrupt}'], 'cannot load'),
    (['evaluate', '--run', '{run}', '--n', '1'], 'at least 2'),
    (['train', '--steps', '0'], 'positive integer'),
    (['fit'], "invalid choice: 'fit'"),
])
def test_bad_sample_commands(capsys, tmp_path, argv, message):
    (tmp_path / 'run').mkdir()
    (tmp_path / 'corrupt').mkdir()
    (tmp_path / 'corrupt' / 'generator.pt').write_bytes(b'\x80truncated')
    paths = dict(run=tmp_path / 'run', tmp=tmp_path, corrupt=tmp_path / 'corrupt')
    err = rejected(bearer_gan_main.main, [arg.format(**paths) for arg in argv], capsys)
    assert message in err
    assert not (tmp_path / 'x.npy').exists()


def test_a_real_process_prints_one_line_and_exits_2():
    for command in ([sys.executable, str(ROOT / 'examples' / 'gan.py'), '--lr', 'fast'],
                    [sys.executable, '-m', 'bearer_gan', 'sample', '--run', str(ROOT), '--out', os.devnull + '.npy']):
        result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
        assert result.returncode == 2
        assert len(result.stderr.strip().splitlines()) == 1 and 'Traceback' not in result.stderr, result.stderr
