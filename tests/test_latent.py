"""Latent noise, walks and truncation (bearer_gan.latent, sampling.walk_frames) and ``bearer-gan sample``'s
``--interpolate`` and ``--truncation``: seeded, exact at the ends, and every bad input one line and exit 2."""
import csv
import math
import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from torch.testing import assert_close

import bearer_gan.cli.main as bearer_gan_main
from bearer_gan import (build_from_spec, generate, generate_from, grid_array, latent_walk, model_spec, slerp,
                        truncated_normal, walk_frames)
from bearer_gan.cli import sample as sample_module
from bearer_gan.evaluation import evaluate_generator
from conftest import load_script, require

ROOT = Path(__file__).resolve().parents[1]
LATENT = 16


def tiny_generator(num_classes=None, seed=0):
    torch.manual_seed(seed)
    spec = model_spec('mlp256', latent_dim=LATENT, num_classes=num_classes)
    return build_from_spec(spec)[0].eval(), spec


def write_run(folder, num_classes=None):
    """A run folder whose generator.pt is written as SaveModels writes it (spec and state_dict)."""
    generator, spec = tiny_generator(num_classes)
    folder.mkdir()
    torch.save({**spec, 'state_dict': generator.state_dict()}, folder / 'generator.pt')
    return folder


# --- truncated_normal -----------------------------------------------------------------------------------------------

def test_untruncated_noise_is_exactly_the_noise_generate_always_drew():
    expected = torch.randn(300, LATENT, generator=torch.Generator().manual_seed(7))
    assert torch.equal(truncated_normal(300, LATENT, None, seed=7), expected)
    generator, _ = tiny_generator()
    with torch.no_grad():
        before = generator(expected)
    assert torch.equal(generate(generator, LATENT, 300, seed=7, batch_size=100), before)
    assert torch.equal(generate(generator, LATENT, 300, seed=7, truncation=None), before)


@pytest.mark.parametrize('truncation', [3.0, 2.0, 1.0, 0.5, 0.1])
def test_truncated_noise_stays_inside_is_seeded_and_leaves_the_global_stream_alone(truncation):
    state = torch.get_rng_state()
    z = truncated_normal(2000, LATENT, truncation, seed=3)
    assert torch.equal(torch.get_rng_state(), state)
    assert z.shape == (2000, LATENT) and z.abs().max() <= truncation
    assert torch.equal(z, truncated_normal(2000, LATENT, truncation, seed=3))
    assert not torch.equal(z, truncated_normal(2000, LATENT, truncation, seed=4))
    stream = torch.Generator().manual_seed(3)
    assert torch.equal(truncated_normal(2000, LATENT, truncation, generator=stream), z)


def test_out_of_range_entries_are_drawn_again_not_clipped():
    """The spread of the normal conditioned on |z| <= T, not a pile-up at +-T as clipping would give."""
    truncation = 1.0
    z = truncated_normal(20000, 8, truncation, seed=0)
    density = math.exp(-truncation ** 2 / 2) / math.sqrt(2 * math.pi)
    expected_std = math.sqrt(1 - 2 * truncation * density / math.erf(truncation / math.sqrt(2)))  # 0.5396
    assert abs(z.std().item() - expected_std) < 0.01
    assert (z.abs() == truncation).sum() == 0
    untouched = torch.randn(20000, 8, generator=torch.Generator().manual_seed(0))
    inside = untouched.abs() <= truncation
    assert torch.equal(z[inside], untouched[inside])  # entries already inside are kept as drawn


@pytest.mark.parametrize('truncation', [0.0, -1.0])
def test_truncation_must_be_above_zero(truncation):
    with pytest.raises(ValueError, match='above 0'):
        truncated_normal(4, LATENT, truncation)


def test_the_spread_of_samples_falls_as_truncation_falls():
    generator, _ = tiny_generator()
    spreads = [generate(generator, LATENT, 500, seed=1, truncation=t).std(0).mean().item()
               for t in (None, 2.0, 1.0, 0.5, 0.25)]
    assert spreads == sorted(spreads, reverse=True) and spreads[-1] < 0.5 * spreads[0], spreads


def test_evaluate_generator_draws_truncated_noise():
    class Spread:  # a scorer that reports how varied the images are
        num_classes = None

        def score(self, images, labels, batch_size, compare=True):
            return {'spread': images.std(0).mean().item(), 'images': images}

    generator, _ = tiny_generator()
    plain = evaluate_generator(generator, LATENT, n=200, scorer=Spread())
    assert torch.equal(plain['images'], generate(generator, LATENT, 200))
    truncated = evaluate_generator(generator, LATENT, n=200, scorer=Spread(), truncation=0.5)
    assert torch.equal(truncated['images'], generate(generator, LATENT, 200, truncation=0.5))
    assert truncated['spread'] < plain['spread']


# --- slerp ------------------------------------------------------------------------------------------------------------

def test_slerp_ends_exactly_at_its_endpoints():
    stream = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 100, generator=stream), torch.randn(5, 100, generator=stream)
    assert torch.equal(slerp(a, b, 0.0), a) and torch.equal(slerp(a, b, 1.0), b)
    path = slerp(a[None], b[None], torch.linspace(0, 1, 7)[:, None])
    assert path.shape == (7, 5, 100)
    assert torch.equal(path[0], a) and torch.equal(path[-1], b)


def test_slerp_moves_along_the_arc_and_keeps_the_norm():
    stream = torch.Generator().manual_seed(1)
    a, b = torch.randn(50, 100, generator=stream), torch.randn(50, 100, generator=stream)
    steps = torch.linspace(0, 1, 11)[:, None]
    path = slerp(a[None], b[None], steps)
    norms, low, high = path.norm(dim=-1), torch.minimum(a.norm(dim=-1), b.norm(dim=-1)), torch.maximum(
        a.norm(dim=-1), b.norm(dim=-1))
    assert (norms >= 0.99 * low).all() and (norms <= 1.01 * high).all()
    line_middle = (0.5 * (a + b)).norm(dim=-1)
    assert (line_middle < 0.85 * low).all()  # the straight line dips towards the origin; the arc does not
    same = b * (a.norm(dim=-1, keepdim=True) / b.norm(dim=-1, keepdim=True))  # |a| = |same|: on the great circle
    arc = slerp(a[None], same[None], steps)
    assert_close(arc.norm(dim=-1), a.norm(dim=-1).expand(11, -1))
    cosine = torch.nn.functional.cosine_similarity
    angle = torch.acos(cosine(a, b, dim=-1))  # at constant angular speed
    assert_close(torch.acos(cosine(arc, a[None], dim=-1).clamp(-1, 1)), steps * angle, atol=1e-3, rtol=0)


def test_slerp_of_parallel_vectors_is_the_line():
    a = torch.ones(4)
    assert_close(slerp(a, 3 * a, 0.5), 2 * a)
    assert torch.isfinite(slerp(a, a, 0.3)).all()


# --- walks --------------------------------------------------------------------------------------------------------

def test_a_walk_goes_from_its_first_draws_to_its_second():
    z, labels = latent_walk(4, 9, LATENT, truncation=0.7, seed=5)
    assert z.shape == (9, 4, LATENT) and labels is None
    stream = torch.Generator().manual_seed(5)
    start, end = (truncated_normal(4, LATENT, 0.7, generator=stream) for _ in range(2))
    assert torch.equal(z[0], start) and torch.equal(z[-1], end)
    assert z[0].abs().max() <= 0.7 and z[-1].abs().max() <= 0.7


def test_a_conditional_walk_draws_each_z_in_every_class():
    z, labels = latent_walk(2, 5, LATENT, classes=[3, 0, 7], seed=0)
    assert z.shape == (5, 6, LATENT) and labels.shape == (5, 6)
    assert labels.tolist() == [[3, 0, 7, 3, 0, 7]] * 5
    assert torch.equal(z[:, 0], z[:, 2]) and torch.equal(z[:, 3], z[:, 5]) and not torch.equal(z[:, 0], z[:, 3])


@pytest.mark.parametrize('walks, frames, classes', [(0, 5, None), (2, 1, None), (2, 5, [])])
def test_a_walk_needs_walks_frames_and_classes(walks, frames, classes):
    with pytest.raises(ValueError):
        latent_walk(walks, frames, LATENT, classes)


@pytest.mark.parametrize('num_classes, classes', [(None, None), (3, [0, 1, 2]), (3, [2])])
def test_walk_frames_start_and_end_at_the_generators_images_of_the_endpoints(num_classes, classes):
    generator, _ = tiny_generator(num_classes)
    frames = walk_frames(generator, LATENT, walks=4, frames=24, classes=classes, seed=2)
    cells = 4 * (len(classes) if classes else 1)
    assert frames.shape == (24, cells, 1, 28, 28)
    z, labels = latent_walk(4, 24, LATENT, classes, seed=2)
    for index in (0, -1):
        assert_close(frames[index], generate_from(generator, z[index], None if labels is None else labels[index]))
    steps = (frames[1:] - frames[:-1]).abs().mean().item()
    random_pairs = generate(generator, LATENT, 200, seed=9, labels=None if classes is None else
                            torch.tensor(classes).repeat(200)[:200])
    apart = (random_pairs[:100] - random_pairs[100:]).abs().mean().item()
    assert steps < 0.25 * apart, (steps, apart)


def test_grid_array_is_uint8_rgb_magnified_and_padded():
    images = torch.linspace(-1, 1, 3 * 28 * 28).reshape(3, 1, 28, 28)
    pixels = grid_array(images, nrow=3, scale=2, multiple=16)
    assert pixels.dtype == np.uint8 and pixels.shape == (64, 192, 3)  # (32 x 2 = 64, 92 x 2 = 184 -> 192)
    assert (pixels[:, 184:] == 255).all() and pixels[4:60, 4:60].min() == 0


# --- bearer-gan sample --interpolate / --truncation -----------------------------------------------------------------

@pytest.fixture
def runs(tmp_path):
    return {'plain': write_run(tmp_path / 'plain'), 'conditional': write_run(tmp_path / 'conditional', 3),
            'empty': (tmp_path / 'empty').mkdir() or tmp_path / 'empty'}


def run_cli(argv):
    bearer_gan_main.main([str(arg) for arg in argv])


def test_interpolate_writes_a_gif_of_the_walks(runs, tmp_path, capsys):
    out = tmp_path / 'out' / 'walk.gif'
    out.parent.mkdir()
    run_cli(['sample', '--run', runs['plain'], '--interpolate', 3, '--frames', 6, '--fps', 10, '--seed', 4,
             '--out', out])
    assert 'wrote 6 frames (3 walks' in capsys.readouterr().out
    frames = iio.imread(out, index=None)
    generator, _ = tiny_generator()
    first = grid_array(walk_frames(generator, LATENT, 3, 6, seed=4)[0], nrow=3, scale=3)
    assert frames.shape == (6, *first.shape)
    assert np.abs(frames[0].astype(int) - first).mean() < 2  # a GIF's palette may round a grey level
    assert iio.immeta(out, index=0)['duration'] == 100
    assert sorted(os.listdir(out.parent)) == ['walk.gif']


@pytest.mark.parametrize('flags, rows, columns', [([], 2, 3), (['--class', 1], 1, 2), (['--labels', '2,0'], 2, 2)])
def test_a_conditional_walk_has_a_row_per_walk_and_a_column_per_class(runs, tmp_path, flags, rows, columns):
    out = tmp_path / 'walk.gif'
    run_cli(['sample', '--run', runs['conditional'], '--interpolate', 2, '--frames', 3, '--out', out, *flags])
    frames = iio.imread(out, index=None)
    cell = 28 * 3 + 6  # magnified three times with make_grid's 2-pixel padding
    assert frames.shape == (3, rows * cell + 6, columns * cell + 6, 3)


def test_interpolate_writes_an_mp4_with_the_video_extra(runs, tmp_path):
    require(sample_module._has_ffmpeg, 'imageio-ffmpeg not installed: pip install -e ".[video]" (or ".[test]")')
    out = tmp_path / 'walk.mp4'
    run_cli(['sample', '--run', runs['plain'], '--interpolate', 2, '--frames', 5, '--out', out])
    frames = iio.imread(out, plugin='FFMPEG', index=None)
    assert frames.shape[0] == 5 and frames.shape[1] % 16 == 0 and frames.shape[2] % 16 == 0


def test_truncated_samples_are_the_library_s(runs, tmp_path):
    run_cli(['sample', '--run', runs['plain'], '--n', 20, '--truncation', 0.5, '--seed', 3,
             '--out', tmp_path / 't.npy'])
    generator, _ = tiny_generator()
    expected = generate(generator, LATENT, 20, seed=3, truncation=0.5)[:, 0].numpy()
    np.testing.assert_array_equal(np.load(tmp_path / 't.npy'), expected)
    run_cli(['sample', '--run', runs['plain'], '--n', 20, '--seed', 3, '--out', tmp_path / 'p.npy'])
    np.testing.assert_array_equal(np.load(tmp_path / 'p.npy'), generate(generator, LATENT, 20, seed=3)[:, 0].numpy())


@pytest.mark.parametrize('argv, message', [
    (['--run', '{empty}', '--interpolate', '2', '--out', '{out}/w.gif'], 'holds no generator.pt'),
    (['--run', '{plain}', '--truncation', '0', '--out', '{out}/x.npy'], 'positive number'),
    (['--run', '{plain}', '--truncation=-1', '--interpolate', '2', '--out', '{out}/w.gif'], 'positive number'),
    (['--run', '{plain}', '--interpolate', '2', '--out', '{out}/w.npy'], 'must name a .gif or .mp4'),
    (['--run', '{plain}', '--interpolate', '2', '--out', '{out}/w.png'], 'must name a .gif or .mp4'),
    (['--run', '{plain}', '--out', '{out}/w.gif'], 'must name a .npy file'),
    (['--run', '{plain}', '--interpolate', '0', '--out', '{out}/w.gif'], 'positive integer'),
    (['--run', '{plain}', '--interpolate', '2', '--frames', '1', '--out', '{out}/w.gif'], 'at least 2'),
    (['--run', '{plain}', '--frames', '5', '--out', '{out}/x.npy'], 'belong to --interpolate'),
    (['--run', '{plain}', '--interpolate', '2', '--n', '5', '--out', '{out}/w.gif'], '--n and --grid'),
    (['--run', '{plain}', '--interpolate', '2', '--grid', '{out}/g.png', '--out', '{out}/w.gif'], '--n and --grid'),
    (['--run', '{conditional}', '--interpolate', '2', '--class', '3', '--out', '{out}/w.gif'], 'classes 0 to 2; got 3'),
    (['--run', '{conditional}', '--interpolate', '2', '--labels', '0,9', '--out', '{out}/w.gif'], 'got 9'),
    (['--run', '{plain}', '--interpolate', '2', '--class', '0', '--out', '{out}/w.gif'], 'class-conditional run'),
])
def test_bad_interpolate_and_truncation_commands(runs, tmp_path, capsys, argv, message):
    out = tmp_path / 'out'
    out.mkdir()
    paths = dict(out=out, **runs)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(['sample'] + [arg.format(**paths) for arg in argv])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1 and 'Traceback' not in err, err
    assert err.startswith('bearer-gan sample: error: ') and message in err, err
    assert os.listdir(out) == [] and os.listdir(runs['empty']) == []


def test_mp4_without_imageio_ffmpeg_is_one_line(runs, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sample_module, '_has_ffmpeg', lambda: False)
    with pytest.raises(SystemExit) as exit_info:
        run_cli(['sample', '--run', runs['plain'], '--interpolate', 2, '--out', tmp_path / 'w.mp4'])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1 and 'imageio-ffmpeg' in err
    assert not (tmp_path / 'w.mp4').exists()


# --- benchmarks/truncation.py ---------------------------------------------------------------------------------------

def test_the_truncation_benchmark_writes_every_numeric_score_under_its_header(runs, tmp_path, monkeypatch, capsys):
    benchmark = load_script(ROOT / 'benchmarks' / 'truncation.py', 'truncation_benchmark')

    class Spread:  # numbers, a flag, a name and a list, as evaluate_generator's dict has them
        num_classes = None

        def score(self, images, labels, batch_size, compare=True):
            return {'spread': images.std(0).mean().item(), 'n': len(images), 'fid': None, 'scorer': 'spread',
                    'classes_covered': 3, 'class_shares': [0.5, 0.25, 0.25], 'skipped': False}

    monkeypatch.setattr(benchmark, 'scorer_for', lambda *args, **kwargs: Spread())
    out = tmp_path / 'docs' / 'truncation'
    benchmark.main(['--run', str(runs['plain']), '--n', '50', '--truncations', 'none', '1', '0.5', '--out', str(out)])
    text = out.with_suffix('.txt').read_text()
    for start in ('command: ', 'commit: ', 'machine: ', 'load average at start: ', 'generator.pt sha256: ',
                  'config.json: {}', 'load average at end: '):
        assert f'\n{start}' in '\n' + text, start
    assert benchmark.sha256(runs['plain'] / 'generator.pt') in text
    rows = list(csv.DictReader(open(out.with_suffix('.csv'))))
    assert list(rows[0]) == ['truncation', 'spread', 'classes_covered', 'smallest_share']
    assert [row['truncation'] for row in rows] == ['none', '1.0', '0.5']
    spreads = [float(row['spread']) for row in rows]
    assert spreads == sorted(spreads, reverse=True) and rows[0]['smallest_share'] == '0.25'
    assert text.splitlines()[-4].split() == ['truncation', 'spread', 'classes_covered', 'smallest_share']
