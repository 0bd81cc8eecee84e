"""One way to build a run: ``examples/gan.py`` (the torchbearer program the docs walk through) and
``bearer-gan train`` (which builds through :mod:`bearer_gan.recipe`) train the identical run, and the
README's Python example runs as written."""
import re
import runpy
import sys
from pathlib import Path

import pytest
import torch

from bearer_gan.cli.train import main as train_main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / 'examples' / 'gan.py'


def run_example(argv):
    """``python examples/gan.py ARGV`` in this process (its ``main``, as ``__main__`` runs it)."""
    module = runpy.run_path(str(EXAMPLE), run_name='gan_example')
    module['main'](argv)


@pytest.mark.parametrize('flags', [
    [],  # the default recipe
    ['--conditional', '--loss', 'wgan-gp', '--lr-schedule', 'cosine', '--spectral-norm', '--d-steps', '2'],
    ['--model', 'dcgan', '--r1-gamma', '1', '--r1-interval', '2', '--ema-decay', '0'],
], ids=['default', 'conditional-wgan-gp', 'dcgan-r1'])
def test_the_example_and_the_cli_train_byte_identical_histories(tmp_path, flags):
    common = ['--dataset', 'mnist-5k', '--steps', '30', '--sample-interval', '10', '--checkpoint-interval', '15',
              '--device', 'cpu', '--no-eval', '--quiet', '--data-dir', str(tmp_path / 'data')] + flags
    run_example(common + ['--out', str(tmp_path / 'example')])
    train_main(common + ['--out', str(tmp_path / 'cli')], prog='bearer-gan train')
    example, cli = (tmp_path / 'example' / 'history.csv').read_bytes(), (tmp_path / 'cli' / 'history.csv').read_bytes()
    assert len(example.splitlines()) == 31
    assert example == cli
    for name in ('generator.pt', 'checkpoint.pt'):
        assert (tmp_path / 'example' / name).exists() and (tmp_path / 'cli' / name).exists()


def test_the_example_takes_the_cli_flags_and_refuses_a_bad_one_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_example(['--steps', '0', '--out', str(tmp_path / 'run')])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and '--steps' in error and 'positive integer' in error
    with pytest.raises(SystemExit) as exit_info:
        run_example(['--loss', 'hinge', '--real-label', '0.8', '--out', str(tmp_path / 'run')])
    assert exit_info.value.code == 2 and '--real-label belongs to the bce loss' in capsys.readouterr().err
    assert not (tmp_path / 'run').exists()


@pytest.mark.parametrize('marker', ['bearer_gan.run_gan', 'bearer_gan.RunConfig'])
def test_the_readme_python_examples_run_as_written(tmp_path, monkeypatch, marker):
    readme = (ROOT / 'README.md').read_text()
    example = next(block for block in re.findall(r'```python\n(.*?)```', readme, re.S) if marker in block)
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(example, 'README.md', 'exec'), namespace)
    steps = int(re.search(r'steps=(\d+)', example).group(1))
    samples = tmp_path / ('samples' if marker == 'bearer_gan.run_gan' else 'runs/python/samples')
    frames = sorted(path.name for path in samples.iterdir())
    assert frames[0] == 'step_000000.png' and frames[-1] == f'step_{steps:06d}.png'
    if 'history' in namespace:
        assert namespace['history'][-1]['step'] == steps


@pytest.fixture
def two_threads():
    """The thread count the stored run was trained with: a convolution's sums run in another order on
    another count, so the same run differs in its last bits."""
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


#: The flags that give the fields MNIST's own recipe replaces their plain defaults.
PLAIN_MNIST = ('--no-conditional', '--lr', '2e-4', '--ema-decay', '0.999', '--augment', 'none')


def test_a_run_made_before_the_run_builder_resumes_exactly(tmp_path, two_threads):
    """``tests/data/run_237c7a6``: a 10-step DCGAN run written by bearer_gan at commit 237c7a6, before RunConfig
    and the run builder, with 2 threads. Resumed to 20 steps it writes the history of a new 20-step run, byte
    for byte."""
    import shutil
    old = tmp_path / 'old'
    shutil.copytree(ROOT / 'tests' / 'data' / 'run_237c7a6', old)
    train_main(['--resume', str(old), '--steps', '20', '--no-eval', '--quiet'], prog='bearer-gan train')
    train_main(['--dataset', 'mnist-5k', '--model', 'dcgan', '--steps', '20', '--sample-interval', '5',
                *PLAIN_MNIST,  # what the old run trained: the defaults before MNIST had a recipe of its own
                '--checkpoint-interval', '10', '--device', 'cpu', '--no-eval', '--quiet', '--data-dir',
                str(tmp_path / 'data'), '--out', str(tmp_path / 'new')], prog='bearer-gan train')
    resumed, new = (old / 'history.csv').read_bytes(), (tmp_path / 'new' / 'history.csv').read_bytes()
    assert len(resumed.splitlines()) == 21
    assert resumed == new
