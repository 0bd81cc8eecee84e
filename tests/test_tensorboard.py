"""--tensorboard: scalars, learning rates, sample grids and in-training FID, read back with TensorBoard's event reader."""
import pytest

import bearer_gan
from bearer_gan.callbacks.tensorboard import tensorboard_available
from bearer_gan.cli.train import main as train_main
from conftest import batches, make_trial, needs, require

pytestmark = needs(require, tensorboard_available, "tensorboard not installed: pip install -e \".[tensorboard]\"")


def read_events(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    events = EventAccumulator(str(log_dir), size_guidance={'scalars': 0, 'images': 0})
    events.Reload()
    return events


def steps(events, tag, kind='scalars'):
    return [event.step for event in (events.Scalars(tag) if kind == 'scalars' else events.Images(tag))]


def test_a_run_logs_its_metrics_learning_rates_and_grids_and_a_resumed_run_continues_them(tmp_path):
    out = tmp_path / 'run'
    flags = ['--dataset', 'mnist-5k', '--batch-size', '16', '--sample-interval', '4', '--log-interval', '3',
             '--device', 'cpu', '--quiet', '--out', str(out)]
    train_main([*flags, '--steps', '8', '--tensorboard', '--no-eval'])
    events = read_events(out / 'tensorboard')
    for tag in ('metrics/running_g_loss', 'metrics/running_d_loss', 'metrics/running_d_x', 'metrics/running_d_g_z',
                'lr/generator', 'lr/discriminator'):
        assert steps(events, tag) == [3, 6, 8], tag
    assert [event.value for event in events.Scalars('lr/generator')] == pytest.approx([5e-4] * 3)  # MNIST's recipe
    assert steps(events, 'samples', 'images') == [0, 4, 8]
    image = events.Images('samples')[-1]
    assert (image.width, image.height) == (8 * 28 + 9 * 2, 10 * 28 + 11 * 2)  # conditional: a row per class

    train_main(['--resume', str(out), '--steps', '10', '--quiet'])  # extends it, and scores it at the end
    events = read_events(out / 'tensorboard')
    assert steps(events, 'metrics/running_g_loss') == [3, 6, 8, 9, 10]
    assert steps(events, 'samples', 'images') == [0, 4, 8, 10]
    assert steps(events, 'eval/fid') == [10] and events.Scalars('eval/fid')[0].value > 0


def test_fid_is_logged_at_the_steps_the_in_training_scorer_measured_it(tmp_path, digits):
    scorer = bearer_gan.FidEvaluator(interval=3, num_samples=64)
    logger = bearer_gan.TensorBoardLogger(str(tmp_path), interval=100, scorer=scorer)
    trial, _, _ = make_trial(callbacks=[scorer, logger])
    bearer_gan.run_gan(trial, batches(digits), 7)
    events = read_events(tmp_path)
    assert steps(events, 'eval/fid') == [3, 6, 7]
    assert [event.value for event in events.Scalars('eval/fid')] == pytest.approx([row[1] for row in scorer.rows])
    assert steps(events, 'metrics/running_g_loss') == [7]  # only the last step: the interval is longer than the run
