"""A federation on a folder of images, as ``bearer-gan train --dataset FOLDER`` trains one: each owner cuts its
shard of the folder (its class sub-folders are the labels), and the server scores what it can without a
classifier (FID through Inception where the weights can be had; skipped, with the rest of the run intact, where not)."""
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bearer_gan.federated import FederatedConfig, read_history
from bearer_gan.federated.rounds import federation_data, load_shard
from bearer_gan.federated.run_folder import check_data
from conftest import needs, require_module

ROOT = Path(__file__).resolve().parents[1]
TINTS = {'red': (1.0, 0.3, 0.3), 'green': (0.3, 1.0, 0.3)}  # one colour per class sub-folder


@pytest.fixture(scope='module')
def folder(tmp_path_factory, digits):
    """32 real digits as RGB PNGs (28 x 28), 16 tinted red in ``red/`` and 16 tinted green in ``green/``."""
    root = tmp_path_factory.mktemp('folder') / 'images'
    images = ((digits[0][:32, 0].numpy() + 1) * 127.5)  # (32, 28, 28) in [0, 255]
    for index, image in enumerate(images):
        name = list(TINTS)[index % 2]
        rgb = np.stack([image * weight for weight in TINTS[name]], axis=-1).round().astype(np.uint8)
        (root / name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).save(root / name / f'{index:02d}.png')
    return root


def test_owners_cut_a_folder_by_its_class_sub_folders(folder, tmp_path):
    config = FederatedConfig(dataset=str(folder), data_dir=str(tmp_path / 'cache'), owners=2,
                             split='classes-per-owner 1', out=str(tmp_path / 'run'))
    assert check_data(config) == 16  # owner 0 holds one class sub-folder
    data = federation_data(config.dataset, config.data_dir)
    assert tuple(data.images.shape[1:]) == (3, 28, 28) and tuple(data.classes) == ('green', 'red')
    for owner in (0, 1):
        shard = load_shard(config.dataset, config.data_dir, 2, owner, config.split, config.seed)
        assert shard.labels.unique().tolist() == [owner] and len(shard.labels) == 16
        red = float(shard.images[:, 0].float().mean()) > float(shard.images[:, 1].float().mean())
        assert red == (data.classes[owner] == 'red')  # the shard holds that sub-folder's images


def test_a_folder_that_is_not_there_is_one_line_and_exit_2(tmp_path):
    result = subprocess.run([sys.executable, '-m', 'bearer_gan', 'federate', '--dataset', str(tmp_path / 'nothing'),
                             '--owners', '2', '--out', str(tmp_path / 'run')],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert 'nothing' in result.stderr and not (tmp_path / 'run').exists()


@needs(require_module, 'flwr', 'ray', extra='federated-sim')
def test_a_two_owner_federation_trains_on_an_rgb_folder(folder, tmp_path):
    out = tmp_path / 'run'
    result = subprocess.run(
        [sys.executable, '-m', 'bearer_gan', 'federate', '--dataset', str(folder), '--data-dir', str(tmp_path / 'cache'),
         '--owners', '2', '--rounds', '1', '--local-steps', '2', '--batch-size', '8', '--eval-samples', '16',
         '--split', 'iid', '--device', 'cpu', '--out', str(out)],
        capture_output=True, text=True, cwd=ROOT, timeout=600, env=dict(os.environ, FLWR_TELEMETRY_ENABLED='0'))
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'after round 1:' in result.stdout and 'classes' not in result.stdout.split('after round 1:')[1].split('\n')[0]
    rows = read_history(out / 'history.csv')
    assert [row['round'] for row in rows] == [0, 1] and rows[1]['owners'] == 2 and rows[1]['num_examples'] == 32
    assert math.isnan(rows[1]['classes_covered'])  # no classifier for a folder: no class scores, not zeros
    assert math.isnan(rows[1]['fid']) or rows[1]['fid'] > 0  # skipped without Inception's weights, else measured
    samples = subprocess.run([sys.executable, '-m', 'bearer_gan', 'sample', '--run', str(out), '--n', '4',
                              '--out', str(tmp_path / 'samples.npy')], capture_output=True, text=True, cwd=ROOT,
                             timeout=300)
    assert samples.returncode == 0, samples.stderr
    assert np.load(tmp_path / 'samples.npy').shape == (4, 3, 28, 28)  # the federation's generator draws RGB
