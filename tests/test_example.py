"""End-to-end: examples/gan.py trains on the embedded real digits, then `python -m bearer_gan sample` reads the run."""
import csv
import json
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = ('samples', 'real.png', 'progress.gif', 'losses.png', 'history.csv', 'generator.pt', 'discriminator.pt',
           'config.json')


def run(*args, timeout=600):
    result = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_example_trains_writes_every_output_and_sample_reads_the_run(tmp_path):
    out = tmp_path / 'run'
    result = run(ROOT / 'examples' / 'gan.py', '--dataset', 'mnist-5k', '--model', 'tutorial', '--steps', '300',
                 '--sample-interval', '100', '--device', 'cpu', '--out', out)
    assert all((out / name).exists() for name in OUTPUTS)
    assert str(out / 'progress.gif') in result.stdout and 'D(G(z))' in result.stdout and 'FID' in result.stdout
    assert json.loads((out / 'eval.json').read_text())['n'] == 10000
    frames = sorted(path.name for path in (out / 'samples').iterdir())
    assert frames == ['step_000000.png', 'step_000100.png', 'step_000200.png', 'step_000300.png']
    assert iio.imread(out / 'progress.gif', index=None).shape[0] == 4
    with open(out / 'history.csv') as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 300 and all(np.isfinite(float(row['g_loss'])) for row in rows)

    # the same command again is the same run: accepted, and it rewrites the same outputs
    run(ROOT / 'examples' / 'gan.py', '--dataset', 'mnist-5k', '--model', 'tutorial', '--steps', '300',
        '--sample-interval', '100', '--device', 'cpu', '--out', out)
    with open(out / 'history.csv') as handle:
        assert list(csv.DictReader(handle)) == rows  # seeded CPU runs repeat exactly

    result = run('-m', 'bearer_gan', 'sample', '--run', out, '--n', '100', '--out', tmp_path / 'x.npy',
                 '--grid', tmp_path / 'grid.png')
    images = np.load(tmp_path / 'x.npy')
    assert images.shape == (100, 28, 28) and images.dtype == np.float32
    assert images.min() >= -1 and images.max() <= 1 and images.std() > 0.1
    assert iio.imread(tmp_path / 'grid.png').ndim >= 2

    scores = json.loads(run('-m', 'bearer_gan', 'evaluate', '--run', out, '--n', '500').stdout)
    assert json.loads((out / 'eval.json').read_text()) == scores
    assert scores['n'] == 500 and len(scores['class_shares']) == 10 and scores['fid'] > 0


@pytest.mark.slow
def test_default_configuration_finishes_offline_within_ten_minutes(tmp_path):
    """The command a new user runs, with no flags (slow: the full default run)."""
    out = tmp_path / 'run'
    run(ROOT / 'examples' / 'gan.py', '--out', out, '--data-dir', tmp_path / 'data', timeout=600)
    assert all((out / name).exists() for name in OUTPUTS)
