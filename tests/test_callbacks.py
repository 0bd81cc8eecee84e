import csv
import os

import imageio.v3 as iio
import numpy as np
import pytest
import torch
import torchbearer

import bearer_gan
from bearer_gan import keys
from conftest import batches, make_trial


def run_with_outputs(tmp_path, digits, steps, interval, ema=None):
    """``ema``: a :class:`bearer_gan.GeneratorEMA` to train with, or None."""
    sampler = bearer_gan.FixedNoiseSampler(str(tmp_path / 'samples'), interval, num_images=16, nrow=4)
    callbacks = ([ema] if ema is not None else []) + [
        sampler, bearer_gan.ProgressGif(sampler, str(tmp_path / 'progress.gif')),
        bearer_gan.RealImageGrid(str(tmp_path / 'real.png')),
        bearer_gan.LossHistory(str(tmp_path / 'history.csv'), str(tmp_path / 'losses.png'), write_interval=4),
        bearer_gan.SaveModels(str(tmp_path), 'tutorial')]
    trial, generator, _ = make_trial(callbacks=callbacks)
    bearer_gan.run_gan(trial, batches(digits), steps)
    return sampler, generator


@pytest.mark.parametrize('steps, interval, expected', [(7, 3, [0, 3, 6, 7]), (6, 3, [0, 3, 6]), (2, 5, [0, 2])])
def test_sampler_writes_frames_at_exactly_the_right_steps_and_the_gif_has_them_all(tmp_path, digits, steps, interval,
                                                                                    expected):
    sampler, _ = run_with_outputs(tmp_path, digits, steps, interval)
    assert sampler.frame_steps == expected
    assert sorted(os.listdir(tmp_path / 'samples')) == [f'step_{step:06d}.png' for step in expected]
    grid = iio.imread(tmp_path / 'samples' / 'step_000000.png')
    assert grid.shape[:2] == (4 * 28 + 5 * 2, 4 * 28 + 5 * 2)  # 4 x 4 grid with make_grid's 2-pixel padding
    gif = iio.imread(tmp_path / 'progress.gif', index=None)[..., :3].astype(int)
    assert gif.shape[0] == len(expected)
    # Below the step label (top-left corner), each GIF frame is its PNG frame, up to the GIF's palette,
    # and the first and last frames show different images, not only different labels.
    below_label = slice(20, None)
    pngs = [iio.imread(sampler.frame_path(step))[..., :3].astype(int) for step in expected]
    for frame, png in zip(gif, pngs):
        assert np.abs(frame[below_label] - png[below_label]).mean() < 2
    changed_pixels = np.abs(pngs[0][below_label] - pngs[-1][below_label]).max(-1) > 0
    assert changed_pixels.mean() > 0.05, changed_pixels.mean()


def test_history_plot_real_grid_and_models_are_written(tmp_path, digits):
    run_with_outputs(tmp_path, digits, 9, 4)
    with open(tmp_path / 'history.csv') as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row['step']) for row in rows] == list(range(1, 10))
    assert all(np.isfinite(float(row[column])) for row in rows for column in ('g_loss', 'd_loss', 'd_x', 'd_g_z'))
    assert all(0 <= float(row['d_x']) <= 1 for row in rows)
    assert iio.imread(tmp_path / 'losses.png').shape[0] > 100
    assert iio.imread(tmp_path / 'real.png').shape[:2] == (4 * 28 + 5 * 2, 8 * 28 + 9 * 2)  # one batch of 32
    saved = torch.load(tmp_path / 'generator.pt', weights_only=True)
    assert saved['model'] == 'tutorial' and saved['latent_dim'] == 100
    assert not [name for name in os.listdir(tmp_path) if name.startswith('.')]  # no temporary files left over


def test_sampler_renders_in_eval_mode_without_gradients_and_restores_train_mode(tmp_path):
    """torchbearer-style unit test: the hooks on a plain state, no Trial."""
    generator, _ = bearer_gan.build_models('tutorial')
    modes = []
    generator.register_forward_hook(lambda module, inputs, output: modes.append((module.training, output.requires_grad)))
    sampler = bearer_gan.FixedNoiseSampler(str(tmp_path), interval=2, num_images=4)
    state = {torchbearer.MODEL: generator, keys.LATENT_DIM: 100, torchbearer.DEVICE: 'cpu', keys.STEP: 0}
    sampler.on_start(state)
    for _ in range(3):
        state[keys.STEP] += 1
        sampler.on_step_training(state)
    assert sampler.frame_steps == [0, 2]
    assert modes == [(False, False), (False, False)]
    assert generator.training
    assert state[keys.FIXED_NOISE].shape == (4, 100)
    again = bearer_gan.FixedNoiseSampler(str(tmp_path / 'again'), interval=2, num_images=4)
    again.on_start(dict(state))
    torch.testing.assert_close(again.fixed_noise, sampler.fixed_noise)  # same seed, same z


def test_ema_generator_is_what_gets_sampled_and_saved(tmp_path, digits):
    ema = bearer_gan.GeneratorEMA(0.9)
    sampler, generator = run_with_outputs(tmp_path, digits, 5, 5, ema=ema)
    saved = torch.load(tmp_path / 'generator.pt', weights_only=True)['state_dict']
    averaged, live = ema.averaged.module.state_dict(), generator.state_dict()
    assert saved.keys() == averaged.keys() == live.keys()
    for name in saved:  # exactly the moving average after the last step, buffers included
        assert torch.equal(saved[name], averaged[name]), name
    assert any(not torch.equal(saved[name], live[name]) for name in saved)  # the average, not the live weights
    with bearer_gan.eval_mode(ema.averaged.module), torch.no_grad():  # and the last frame was drawn from it
        torch.testing.assert_close(sampler.images, ema.averaged.module(*sampler.fixed_noise), rtol=0, atol=0)


def test_interrupted_run_still_writes_gif_history_and_models(tmp_path, digits):
    class Interrupt(torchbearer.callbacks.Callback):
        def on_step_training(self, state):
            if bearer_gan.steps_done(state) == 5:
                raise KeyboardInterrupt
    sampler = bearer_gan.FixedNoiseSampler(str(tmp_path / 'samples'), 2, num_images=4)
    callbacks = [sampler, bearer_gan.ProgressGif(sampler, str(tmp_path / 'progress.gif')),
                 bearer_gan.LossHistory(str(tmp_path / 'history.csv')), bearer_gan.SaveModels(str(tmp_path), 'tutorial'),
                 Interrupt()]
    trial, _, _ = make_trial(callbacks=callbacks)
    with pytest.raises(KeyboardInterrupt):
        bearer_gan.run_gan(trial, batches(digits), 100)
    assert sampler.frame_steps == [0, 2, 4, 5]
    assert iio.imread(tmp_path / 'progress.gif', index=None).shape[0] == 4
    with open(tmp_path / 'history.csv') as handle:
        assert len(list(csv.DictReader(handle))) == 5
    assert (tmp_path / 'generator.pt').exists() and (tmp_path / 'discriminator.pt').exists()


def test_bad_callback_arguments_are_rejected():
    with pytest.raises(ValueError, match='sample interval'):
        bearer_gan.FixedNoiseSampler('samples', 0)
    with pytest.raises(ValueError, match='EMA decay'):
        bearer_gan.GeneratorEMA(1.0)


def test_the_loss_plot_clamps_the_discriminator_axis_only_for_probabilities(tmp_path):
    from bearer_gan.callbacks.history import plot_history
    columns = ('step', 'g_loss', 'd_loss', 'd_x', 'd_g_z', 'wasserstein', 'gradient_penalty')
    rows = [[step, 1.0, -2.0, 6.0 + step, 3.0, 3.0 + step, 0.1] for step in range(1, 21)]
    raw = plot_history(rows, str(tmp_path / 'raw.png'), columns=columns, probabilities=False)
    assert list(raw) == ['losses', 'discriminator output: mean raw D(x), D(G(z))', 'penalties (unweighted)']
    bottom, top = raw['discriminator output: mean raw D(x), D(G(z))']
    assert top > 20  # raw outputs of 26 are shown, not cut at 1
    rows = [[step, 1.0, 0.5, 0.7, 0.3] for step in range(1, 21)]
    probabilities = plot_history(rows, str(tmp_path / 'bce.png'))
    assert probabilities['discriminator output: D(x) real, D(G(z)) fake (probabilities)'] == (0.0, 1.0)
    assert (tmp_path / 'raw.png').stat().st_size > 0 and (tmp_path / 'bce.png').stat().st_size > 0
