"""Folders of one's own images: layouts, formats, sizes, channels, damaged files, the cache, streaming, the CLI."""
import itertools
import json
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.datasets import ImageFolder

import bearer_gan
from bearer_gan.cli.train import main as train_main
from bearer_gan.data import image_files
from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
RNG_SEED = 0


def save(path, pixels, **options):
    """Write ``pixels`` (H, W) or (H, W, 3) uint8 to ``path``, in the format its extension names."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(path, **options)
    return path


def random_pixels(rng, height, width, channels=3):
    shape = (height, width, channels) if channels == 3 else (height, width)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def pil_pixels(path, mode):
    """The file as PIL decodes it, ``(C, H, W)``: what a folder load must hold."""
    with Image.open(path) as image:
        array = np.asarray(image.convert(mode))
    return torch.from_numpy(array.copy()).reshape(array.shape[0], array.shape[1], -1).permute(2, 0, 1)


def load(path, data_dir, **options):
    """:func:`load_folder` without progress lines, failing on any warning unless the test expects one."""
    return bearer_gan.load_folder(str(path), str(data_dir), progress=False, **options)


@pytest.fixture
def classes_folder(tmp_path):
    """Two classes of 16 x 16 RGB images, PNG and JPEG, plus a class with a sub-folder and an empty folder."""
    rng = np.random.default_rng(RNG_SEED)
    root = tmp_path / 'pictures'
    for name, count in (('cats', 3), ('dogs', 2)):
        for index in range(count):
            save(root / name / f'{index}.png', random_pixels(rng, 16, 16))
    save(root / 'dogs' / 'more' / 'x.jpg', random_pixels(rng, 16, 16), quality=95)
    (root / 'empty').mkdir()
    (root / 'dogs' / 'notes.txt').write_text('not an image')
    return root


# --- layouts, formats, channels ----------------------------------------------------------------------------------

def test_class_sub_folders_give_torchvisions_classes_and_labels(classes_folder, tmp_path):
    data = load(classes_folder, tmp_path / 'data')
    assert data.classes == ('cats', 'dogs') and data.num_classes == 2  # 'empty' has no image: not a class
    (classes_folder / 'empty').rmdir()  # torchvision refuses empty class folders
    reference = ImageFolder(str(classes_folder))
    assert data.classes == tuple(reference.classes)
    assert data.labels.dtype == torch.int64 and data.labels.tolist() == reference.targets
    assert data.images.shape == (6, 3, 16, 16) and data.images.dtype == torch.uint8 and data.name == str(classes_folder)
    for image, (path, _) in zip(data.images, reference.samples):  # PNG exactly, JPEG as PIL decodes it
        assert torch.equal(image, pil_pixels(path, 'RGB')), path


def test_a_flat_folder_has_no_labels_and_its_files_in_sorted_order(tmp_path):
    rng = np.random.default_rng(RNG_SEED)
    paths = [save(tmp_path / 'flat' / name, random_pixels(rng, 12, 12)) for name in ('b.png', 'a.bmp', 'c.tif')]
    data = load(tmp_path / 'flat', tmp_path / 'data')
    assert data.labels is None and data.classes is None and data.num_classes is None
    expected = [pil_pixels(path, 'RGB') for path in sorted(paths)]
    assert torch.equal(data.images, torch.stack(expected))
    _, labels = next(iter(bearer_gan.dataset_batches(data, 2)))
    assert labels.tolist() == [-1, -1]  # unlabelled, as for an in-memory set without labels


def test_greyscale_images_default_to_one_channel_and_mixed_to_three(tmp_path):
    rng = np.random.default_rng(RNG_SEED)
    grey = save(tmp_path / 'grey' / 'a.png', random_pixels(rng, 10, 10, channels=1))
    save(tmp_path / 'grey' / 'b.png', random_pixels(rng, 10, 10, channels=1))
    data = load(tmp_path / 'grey', tmp_path / 'data')
    assert data.image_shape == (1, 10, 10)
    assert torch.equal(data.images[0], pil_pixels(grey, 'L'))

    save(tmp_path / 'grey' / 'c.png', random_pixels(rng, 10, 10))  # one colour image among them
    mixed = load(tmp_path / 'grey', tmp_path / 'data')
    assert mixed.image_shape == (3, 10, 10)
    assert torch.equal(mixed.images[0], pil_pixels(grey, 'L').expand(3, -1, -1))  # grey repeated into R, G, B
    forced = load(tmp_path / 'grey', tmp_path / 'data', channels=1)
    assert forced.image_shape == (1, 10, 10)
    assert torch.equal(forced.images[2], pil_pixels(tmp_path / 'grey' / 'c.png', 'L'))


def test_image_size_resizes_the_shorter_side_and_crops_the_centre(tmp_path):
    wide = np.zeros((16, 48, 3), dtype=np.uint8)
    wide[:, 12:36] = 200  # bright beyond the centre square (16:32), dark margins outside it
    save(tmp_path / 'wide' / 'a.png', wide)
    data = load(tmp_path / 'wide', tmp_path / 'data', image_size=8)
    assert data.image_shape == (3, 8, 8)
    assert torch.equal(data.images[0], torch.full((3, 8, 8), 200, dtype=torch.uint8))  # only the centre is kept
    expected = bearer_gan.data.fit_images(pil_pixels(tmp_path / 'wide' / 'a.png', 'RGB').unsqueeze(0), 8)[0]
    assert torch.equal(data.images[0], expected)  # the same resize and crop as for named sets
    with pytest.raises(ValueError, match='at least 8 pixels'):
        load(tmp_path / 'wide', tmp_path / 'data', image_size=4)
    with pytest.raises(ValueError, match='channels must be 1 or 3'):
        load(tmp_path / 'wide', tmp_path / 'data', channels=2)


def test_images_of_different_sizes_are_brought_to_the_smallest_shorter_side(tmp_path, capsys):
    rng = np.random.default_rng(RNG_SEED)
    save(tmp_path / 'mixed' / 'a.png', random_pixels(rng, 20, 30))
    save(tmp_path / 'mixed' / 'b.jpg', random_pixels(rng, 40, 24))
    data = bearer_gan.load_folder(str(tmp_path / 'mixed'), str(tmp_path / 'data'))
    assert data.image_shape == (3, 20, 20)  # nothing enlarged, everything square
    assert '2 different sizes' in capsys.readouterr().out  # and the choice is said
    same = load(tmp_path / 'mixed', tmp_path / 'data2', image_size=20)
    assert torch.equal(same.images, data.images)
    save(tmp_path / 'same' / 'a.png', random_pixels(rng, 12, 20))
    assert load(tmp_path / 'same', tmp_path / 'data').image_shape == (3, 12, 20)  # one size: kept as it is


# --- damaged and missing data -------------------------------------------------------------------------------------

def test_damaged_files_are_skipped_with_one_warning_naming_them(tmp_path):
    rng = np.random.default_rng(RNG_SEED)
    good = [save(tmp_path / 'pics' / f'{index}.png', random_pixels(rng, 12, 12)) for index in range(3)]
    (tmp_path / 'pics' / 'garbage.jpg').write_bytes(os.urandom(200))  # no image header at all
    truncated = save(tmp_path / 'pics' / 'truncated.png', random_pixels(rng, 12, 12))
    truncated.write_bytes(truncated.read_bytes()[:80])  # a valid header, then the pixels stop
    for attempt in range(2):  # decoded, then cached: the warning is repeated, once
        with pytest.warns(UserWarning) as record:
            data = load(tmp_path / 'pics', tmp_path / 'data')
        assert len(record) == 1, [str(warning.message) for warning in record]
        message = str(record[0].message)
        assert 'skipped 2 unreadable image files' in message and 'garbage.jpg' in message
        assert 'truncated.png' in message
        assert torch.equal(data.images, torch.stack([pil_pixels(path, 'RGB') for path in good]))


def test_a_folder_of_only_damaged_files_is_an_error(tmp_path):
    (tmp_path / 'bad').mkdir()
    for name in ('a.png', 'b.jpg'):
        (tmp_path / 'bad' / name).write_bytes(b'not an image')
    with pytest.raises(bearer_gan.DatasetError, match="none of the 2 image files in .* can be read .*a.png, b.jpg"):
        load(tmp_path / 'bad', tmp_path / 'data')


@pytest.mark.parametrize('make, message', [
    (lambda root: root.mkdir(), 'holds no image files'),
    (lambda root: (root.mkdir(), (root / 'readme.txt').write_text('no images')), 'holds no image files'),
    (lambda root: None, 'is neither a data set .* nor an existing folder'),
    (lambda root: root.write_bytes(b'a file'), 'is a file, not a folder of images'),
])
def test_an_empty_folder_a_missing_path_or_a_file_is_a_one_line_error(tmp_path, make, message):
    make(tmp_path / 'folder')
    with pytest.raises(bearer_gan.DatasetError, match=message) as error:
        load(tmp_path / 'folder', tmp_path / 'data')
    assert '\n' not in str(error.value) and str(tmp_path / 'folder') in str(error.value)


# --- the cache ----------------------------------------------------------------------------------------------------

class CountingDecoder:
    """Stands in for :func:`image_files.decode_image` and counts its calls."""

    def __init__(self):
        self.calls, self.decode = 0, image_files.decode_image

    def __call__(self, *args):
        self.calls += 1
        return self.decode(*args)


def test_the_cache_is_used_the_second_time_and_rebuilt_when_the_files_or_settings_change(tmp_path, monkeypatch):
    rng = np.random.default_rng(RNG_SEED)
    root, data_dir = tmp_path / 'pics', tmp_path / 'data'
    for index in range(4):
        save(root / f'{index}.png', random_pixels(rng, 12, 12))
    decoder = CountingDecoder()
    monkeypatch.setattr(image_files, 'decode_image', decoder)

    def loads():
        before = decoder.calls
        data = load(root, data_dir)
        return data, decoder.calls - before

    first, decoded = loads()
    assert decoded == 4
    second, decoded = loads()
    assert decoded == 0 and torch.equal(first.images, second.images)  # read from the cache
    assert len(os.listdir(data_dir / 'folders')) == 2  # the plan and the images

    changed = random_pixels(rng, 12, 12)
    save(root / '1.png', changed)
    os.utime(root / '1.png', ns=(10 ** 18, 10 ** 18))  # a new time, whatever the clock's resolution
    data, decoded = loads()
    assert decoded == 4 and torch.equal(data.images[1], torch.from_numpy(changed).permute(2, 0, 1))
    assert len(os.listdir(data_dir / 'folders')) == 2  # the stale cache is gone

    save(root / '4.png', random_pixels(rng, 12, 12))
    data, decoded = loads()
    assert decoded == 5 and len(data) == 5
    (root / '0.png').unlink()
    data, decoded = loads()
    assert decoded == 4 and len(data) == 4

    before = decoder.calls
    assert load(root, data_dir, image_size=8).image_shape == (3, 8, 8) and decoder.calls - before == 4
    assert load(root, data_dir, channels=1).image_shape == (1, 12, 12) and decoder.calls - before == 8
    assert load(root, data_dir, image_size=8).image_shape == (3, 8, 8) and decoder.calls - before == 8  # both kept
    _, decoded = loads()
    assert decoded == 0


def test_a_file_rewritten_with_its_size_and_time_kept_is_not_noticed(tmp_path, monkeypatch):
    """The blind spot docs/own_images.rst documents, pinned as it is: a file replaced by other contents of the
    same size, its old modification time restored (as ``cp -p`` or ``rsync -t`` do), leaves the cache in use
    and the folder's fingerprint (``config.json``'s ``data``) unchanged; touching the file is noticed."""
    rng = np.random.default_rng(RNG_SEED)
    root, data_dir = tmp_path / 'pics', tmp_path / 'data'
    for index in range(3):
        save(root / f'{index}.bmp', random_pixels(rng, 12, 12))  # uncompressed: the size depends on the shape only
    decoder = CountingDecoder()
    monkeypatch.setattr(image_files, 'decode_image', decoder)
    first = load(root, data_dir)
    fingerprint = bearer_gan.data_fingerprint(first)
    path = root / '1.bmp'
    before = path.stat()
    save(path, random_pixels(rng, 12, 12))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    new_pixels = pil_pixels(path, 'RGB')
    assert not torch.equal(new_pixels, first.images[1])  # the contents did change

    calls = decoder.calls
    stale = load(root, data_dir)
    assert decoder.calls == calls and torch.equal(stale.images, first.images)  # the cache, with the old pixels
    assert bearer_gan.data_fingerprint(stale) == fingerprint  # so a --resume would not refuse it
    streamed = load(root, data_dir, memory_limit=0)
    assert bearer_gan.data_fingerprint(streamed) == fingerprint

    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 10 ** 9))  # `touch`: what the docs advise
    fresh = load(root, data_dir)
    assert decoder.calls == calls + 3 and torch.equal(fresh.images[1], new_pixels)
    assert bearer_gan.fingerprint_difference(fingerprint, bearer_gan.data_fingerprint(fresh)).startswith(
        'the images loaded now differ')


def test_a_cache_that_cannot_be_written_is_a_warning(tmp_path):
    rng = np.random.default_rng(RNG_SEED)
    save(tmp_path / 'pics' / 'a.png', random_pixels(rng, 12, 12))
    (tmp_path / 'not_a_dir').write_text('a file where the data folder would go')
    with pytest.warns(UserWarning, match='cannot cache the decoded images') as record:
        data = load(tmp_path / 'pics', tmp_path / 'not_a_dir')
    assert len(record) == 1 and data.image_shape == (3, 12, 12)


def test_a_damaged_cache_is_rebuilt(tmp_path):
    rng = np.random.default_rng(RNG_SEED)
    save(tmp_path / 'pics' / 'a.png', random_pixels(rng, 12, 12))
    first = load(tmp_path / 'pics', tmp_path / 'data')
    for name in os.listdir(tmp_path / 'data' / 'folders'):
        (tmp_path / 'data' / 'folders' / name).write_bytes(b'garbage')
    with pytest.warns(UserWarning, match='ignoring the unreadable cache'):
        second = load(tmp_path / 'pics', tmp_path / 'data')
    assert torch.equal(first.images, second.images)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        load(tmp_path / 'pics', tmp_path / 'data')  # rewritten: no warning now


# --- streaming ----------------------------------------------------------------------------------------------------

@pytest.fixture
def twenty_images(tmp_path):
    """20 labelled RGB images of assorted sizes (resized to 10 px) in three classes."""
    rng = np.random.default_rng(RNG_SEED)
    for index in range(20):
        save(tmp_path / 'pics' / f'class{index % 3}' / f'{index:02d}.{("png", "jpg")[index % 2]}',
             random_pixels(rng, 10 + index % 4, 12))
    return tmp_path / 'pics'


def batches_of(batches, count):
    return [(images.clone(), labels.clone()) for images, labels in itertools.islice(iter(batches), count)]


def test_streamed_batches_are_bit_identical_to_the_in_memory_ones_and_resume_at_a_step(twenty_images, tmp_path):
    in_memory = load(twenty_images, tmp_path / 'data', image_size=10)
    streamed = load(twenty_images, tmp_path / 'data', image_size=10, memory_limit=0)
    assert not in_memory.streamed and streamed.streamed
    assert isinstance(streamed.images, bearer_gan.FolderImages) and streamed.images.shape == in_memory.images.shape
    assert torch.equal(streamed.images[:], in_memory.images)  # the same decode path
    assert torch.equal(streamed.labels, in_memory.labels) and streamed.classes == in_memory.classes

    reference = batches_of(bearer_gan.dataset_batches(in_memory, 6, seed=3), 9)  # three passes of three batches
    workers = batches_of(bearer_gan.dataset_batches(streamed, 6, seed=3, num_workers=2), 9)
    for (images, labels), (streamed_images, streamed_labels) in zip(reference, workers):
        assert streamed_images.dtype == torch.float32 and torch.equal(streamed_images, images)
        assert torch.equal(streamed_labels, labels)
    resumed = batches_of(bearer_gan.dataset_batches(streamed, 6, seed=3, start_step=4, num_workers=1), 5)
    for (images, labels), (streamed_images, streamed_labels) in zip(reference[4:], resumed):
        assert torch.equal(streamed_images, images) and torch.equal(streamed_labels, labels)
    assert len(bearer_gan.dataset_batches(streamed, 6, num_workers=0)) == 3


def test_a_streamed_set_checks_every_file_once_and_caches_what_it_found(twenty_images, tmp_path, monkeypatch):
    (twenty_images / 'class0' / 'broken.png').write_bytes(b'broken')
    decoder = CountingDecoder()
    monkeypatch.setattr(image_files, 'decode_image', decoder)
    with pytest.warns(UserWarning, match='skipped 1 unreadable image file .*broken.png'):
        streamed = load(twenty_images, tmp_path / 'data', image_size=10, memory_limit=0, num_workers=0)
    assert decoder.calls == 20 and len(streamed) == 20  # every file checked once, the broken one left out
    assert os.listdir(tmp_path / 'data' / 'folders') == [name for name in os.listdir(tmp_path / 'data' / 'folders')
                                                          if not name.endswith('.images.pt')]  # no pixels kept
    with pytest.warns(UserWarning, match='broken.png'):
        again = load(twenty_images, tmp_path / 'data', image_size=10, memory_limit=0)
    assert decoder.calls == 20 and len(again) == 20  # the second start decodes nothing
    with pytest.warns(UserWarning, match='broken.png'):
        in_memory = load(twenty_images, tmp_path / 'data', image_size=10)  # more memory now: decoded into memory
    assert decoder.calls == 40 and torch.equal(in_memory.images, again.images[:])


def test_a_streamed_folder_is_scored_against_its_images_decoded_from_disk(twenty_images, tmp_path):
    """The reference images of FID: a folder training streamed (data_memory 0) comes back as a tensor, the same
    images an in-memory load holds (all of them: fewer than STREAMED_REFERENCE_IMAGES)."""
    from bearer_gan.evaluation.evaluate import default_reference_images
    config = {'dataset': str(twenty_images), 'data_dir': str(tmp_path / 'data'), 'image_size': 10, 'channels': None,
              'data_memory': 0}
    reference = default_reference_images(config)
    assert isinstance(reference, torch.Tensor)
    assert torch.equal(reference, load(twenty_images, tmp_path / 'data', image_size=10).images)


def test_the_memory_budget(monkeypatch):
    assert bearer_gan.memory_budget(1.5) == int(1.5 * 2 ** 30) and bearer_gan.memory_budget(0) == 0
    monkeypatch.setattr(bearer_gan.data.streaming, 'available_memory', lambda: 8 * 2 ** 30)
    assert bearer_gan.memory_budget() == 4 * 2 ** 30  # half of what is available
    if torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info()
        assert bearer_gan.memory_budget(device='cuda') == min(4 * 2 ** 30, free // 2)


# --- colour grids -------------------------------------------------------------------------------------------------

def test_the_real_image_grid_of_an_rgb_folder_keeps_its_colours(tmp_path):
    for index in range(8):
        colour = (255, 0, 0) if index % 2 else (0, 255, 0)
        save(tmp_path / 'colours' / f'{index}.png', np.full((8, 8, 3), colour))
    data = load(tmp_path / 'colours', tmp_path / 'data')
    images, _ = next(iter(bearer_gan.dataset_batches(data, 8)))
    grid = bearer_gan.RealImageGrid(str(tmp_path / 'real.png'), num_images=8, nrow=4)
    grid.on_sample({bearer_gan.keys.torchbearer.X: images})
    pixels = np.asarray(Image.open(tmp_path / 'real.png').convert('RGB')).reshape(-1, 3)
    colours = {tuple(pixel) for pixel in pixels}
    assert colours == {(255, 0, 0), (0, 255, 0), (255, 255, 255)}  # red, green and the white padding
    red = (pixels == (255, 0, 0)).all(axis=1).sum()
    assert red == (pixels == (0, 255, 0)).all(axis=1).sum() == 4 * 8 * 8


# --- the command line ---------------------------------------------------------------------------------------------

def rejected(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1 and 'Traceback' not in err, err
    return err


@pytest.fixture
def rgb_folder(tmp_path):
    """40 RGB images 30 x 36 in two classes: trained as 28 x 28 grey (--image-size 28 --channels 1)."""
    rng = np.random.default_rng(RNG_SEED)
    for index in range(40):
        save(tmp_path / 'rgb' / ('odd' if index % 2 else 'even') / f'{index}.png', random_pixels(rng, 30, 36))
    return tmp_path / 'rgb'


def test_bad_folder_flags_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, rgb_folder):
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'a.png').write_bytes(b'x')
    out = tmp_path / 'run'
    for argv, message in [(['--image-size', '4'], 'must be at least 8 pixels'),
                          (['--image-size', 'big'], "'big' is not an integer"),
                          (['--channels', '2'], 'invalid choice: 2'),
                          (['--data-memory', '-1'], 'must be 0 or a positive number'),
                          (['--data-workers', '-1'], 'must be 0 or a positive integer'),
                          (['--dataset', str(tmp_path / 'missing')], 'is neither a data set (mnist, mnist-5k'),
                          (['--dataset', str(tmp_path / 'a.png')], 'is a file, not a folder of images'),
                          (['--dataset', str(tmp_path / 'empty')], 'holds no image files'),
                          (['--dataset', str(rgb_folder), '--batch-size', '41'], 'larger than the data set (40')]:
        err = rejected(argv + ['--out', str(out), '--data-dir', str(tmp_path / 'data')], capsys)
        assert message in err, (argv, err)
        assert not out.exists()


def test_help_lists_the_named_data_sets(capsys):
    with pytest.raises(SystemExit):
        train_main(['--help'])
    assert '{mnist,mnist-5k,fashion-mnist,cifar10} or FOLDER' in capsys.readouterr().out


FOLDER_RUN = ['--model', 'mlp256', '--batch-size', '8', '--image-size', '28', '--channels', '1', '--no-eval',
              '--device', 'cpu', '--sample-interval', '4', '--checkpoint-interval', '4']


def test_training_on_a_folder_writes_its_outputs_and_records_the_data_flags(tmp_path, rgb_folder, capsys):
    out = tmp_path / 'run'
    train_main(['--dataset', str(rgb_folder), '--data-dir', str(tmp_path / 'data'), '--steps', '10',
                '--out', str(out)] + FOLDER_RUN)
    for name in ('real.png', 'progress.gif', 'history.csv', 'generator.pt', 'checkpoint.pt', 'samples'):
        assert (out / name).exists(), name
    config = json.loads((out / 'config.json').read_text())
    assert config['dataset'] == str(rgb_folder) and config['image_size'] == 28 and config['channels'] == 1
    assert config['data_memory'] is None and config['data_workers'] is None
    assert np.asarray(Image.open(out / 'real.png')).shape[:2] == (2 + 30, 2 + 8 * 30)  # one batch of 28 px images


def assert_same_run(first, second):
    for name in ('generator.pt', 'discriminator.pt'):
        one, other = (torch.load(run / name, weights_only=True)['state_dict'] for run in (first, second))
        assert one.keys() == other.keys() and all(torch.equal(one[key], other[key]) for key in one), name
    assert (first / 'history.csv').read_text() == (second / 'history.csv').read_text()


def test_a_folder_run_stopped_and_resumed_streamed_ends_bit_identical(tmp_path, rgb_folder, capsys):
    common = ['--dataset', str(rgb_folder), '--data-dir', str(tmp_path / 'data')] + FOLDER_RUN
    reference, split = tmp_path / 'reference', tmp_path / 'split'
    train_main(common + ['--steps', '7', '--out', str(reference)])
    train_main(common + ['--steps', '3', '--out', str(split)])  # in memory; ends at step 3 with a checkpoint
    config = json.loads((split / 'config.json').read_text())
    # as if it had been a 7-step run stopped at step 3, resumed on a machine where the folder must be streamed
    (split / 'config.json').write_text(json.dumps(dict(config, steps=7, data_memory=0, data_workers=1)))
    capsys.readouterr()
    train_main(['--resume', str(split)])
    output = capsys.readouterr().out
    assert 'resuming' in output and 'streaming' in output
    assert_same_run(reference, split)


def test_training_on_an_rgb_folder_at_32_px(tmp_path, rgb_folder):
    out = tmp_path / 'run'
    train_main(['--dataset', str(rgb_folder), '--data-dir', str(tmp_path / 'data'), '--image-size', '32',
                '--model', 'mlp256', '--batch-size', '8', '--steps', '6', '--no-eval', '--device', 'cpu',
                '--out', str(out)])
    real = np.asarray(Image.open(out / 'real.png').convert('RGB'))
    assert real.shape == (2 + 34, 2 + 8 * 34, 3) and not np.array_equal(real[..., 0], real[..., 1])  # in colour
    frame = np.asarray(Image.open(sorted((out / 'samples').iterdir())[-1]).convert('RGB'))
    assert frame.shape == (2 + 8 * 34, 2 + 8 * 34, 3) and not np.array_equal(frame[..., 0], frame[..., 1])


# --- the benchmark runs -------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def benchmark():
    return load_script(ROOT / 'benchmarks' / 'folders.py', 'folders_benchmark')



def test_the_loading_benchmark_runs(benchmark, capsys):
    benchmark.main(['--images', '30', '--size', '16', '--image-size', '8', '--workers', '0', '--skip', 'memory'])
    lines = capsys.readouterr().out.splitlines()
    rows = [line for line in lines if line.strip().startswith(('ImageFolder', 'load_folder'))]
    assert len(rows) == 5 and all(row.split()[-5] == '30' for row in rows), lines


@pytest.mark.slow
def test_the_memory_benchmark_runs(benchmark, capsys):
    benchmark.main(['--memory-images', '300', '--skip', 'loading'])
    out = capsys.readouterr().out
    for case in benchmark.MEMORY_CASES[1:]:
        assert f'  {case} ' in out and 'x the array' in out, out


def test_a_folder_is_fingerprinted_alike_in_memory_and_streamed_and_a_changed_file_shows(twenty_images, tmp_path):
    streamed = load(twenty_images, tmp_path / 'data', image_size=10, memory_limit=0)
    in_memory = load(twenty_images, tmp_path / 'data', image_size=10)
    first = bearer_gan.data_fingerprint(streamed)
    assert first == bearer_gan.data_fingerprint(in_memory) and first['images'] == len(streamed) == 20
    changed = sorted(Path(twenty_images).rglob('*.png'))[0]
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10 ** 9))
    reloaded = load(twenty_images, tmp_path / 'data', image_size=10, memory_limit=0)  # as a resumed run loads it
    assert bearer_gan.fingerprint_difference(first, bearer_gan.data_fingerprint(reloaded)).startswith(
        'the images loaded now differ')
