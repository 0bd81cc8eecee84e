"""Learning-rate schedules for both optimizers: the rates at chosen steps, and the same rates across a resume."""
import math

import pytest
import torch
import torchbearer

import bearer_gan
from bearer_gan import keys
from conftest import batches, make_trial


def plain_state(lr_g=1e-3, lr_d=4e-3, step=0):
    generator_optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr_g)
    discriminator_optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=lr_d)
    return {keys.GENERATOR_OPTIMIZER: generator_optimizer, keys.DISCRIMINATOR_OPTIMIZER: discriminator_optimizer,
            keys.STEP: step}


def rates(state):
    return [state[key].param_groups[0]['lr'] for key in (keys.GENERATOR_OPTIMIZER, keys.DISCRIMINATOR_OPTIMIZER)]


@pytest.mark.parametrize('schedule, step, factor', [
    ('constant', 7, 1.0),
    ('linear', 0, 1.0), ('linear', 25, 0.75), ('linear', 99, 0.01),
    ('cosine', 0, 1.0), ('cosine', 50, 0.5), ('cosine', 25, 0.5 * (1 + math.cos(math.pi / 4))),
])
def test_both_learning_rates_follow_the_schedule_on_a_plain_state(schedule, step, factor):
    callback, state = bearer_gan.LearningRateSchedule(schedule, steps=100), plain_state()
    callback.on_start(state)
    state[keys.STEP] = step
    callback.on_sample(state)
    assert rates(state) == pytest.approx([1e-3 * factor, 4e-3 * factor])  # each network keeps its own base rate


def test_unknown_schedules_and_lengths_are_refused():
    with pytest.raises(ValueError, match="unknown learning-rate schedule 'step'; choose one of: constant, linear, cosine"):
        bearer_gan.LearningRateSchedule('step', steps=10)
    with pytest.raises(ValueError, match='positive number of steps'):
        bearer_gan.LearningRateSchedule('linear', steps=0)
    callback = bearer_gan.LearningRateSchedule('linear', steps=10)
    with pytest.raises(ValueError, match="made with the 'cosine' learning-rate schedule, this run has 'linear'"):
        callback.load_state_dict({'schedule': 'cosine', 'steps': 10})


class RecordRates(torchbearer.callbacks.Callback):
    """The learning rates each step was made with (read after the step), by step; kept in checkpoints."""

    def __init__(self):
        self.rows = []

    def on_step_training(self, state):
        self.rows.append([state[keys.STEP]] + rates(state))

    def state_dict(self):
        return {'rows': [list(row) for row in self.rows]}

    def load_state_dict(self, state_dict):
        self.rows = [list(row) for row in state_dict['rows']]
        return self


def scheduled_trial(run_dir, steps, seed=0):
    recorder = RecordRates()
    callbacks = [bearer_gan.LearningRateSchedule('cosine', steps), recorder, bearer_gan.GANCheckpoint(str(run_dir), 100)]
    torch.manual_seed(seed)
    generator, discriminator = bearer_gan.build_models('tutorial')
    trial = bearer_gan.gan_trial(generator, discriminator,
                                 bearer_gan.gan_adam(generator.parameters(), lr=2e-4),
                                 bearer_gan.gan_adam(discriminator.parameters(), lr=1e-3),
                                 100, callbacks=callbacks, device='cpu', verbose=0)
    return trial, recorder


def test_a_resumed_run_continues_the_same_schedule_for_both_optimizers(tmp_path, digits):
    reference, split = tmp_path / 'reference', tmp_path / 'split'
    reference.mkdir(), split.mkdir()
    trial, recorded = scheduled_trial(reference, 10)
    bearer_gan.run_gan(trial, batches(digits), 10)
    expected = [[step + 1, 2e-4 * (1 + math.cos(math.pi * step / 10)) / 2, 1e-3 * (1 + math.cos(math.pi * step / 10)) / 2]
                for step in range(10)]
    torch.testing.assert_close(torch.tensor(recorded.rows, dtype=torch.float64), torch.tensor(expected, dtype=torch.float64))

    trial, _ = scheduled_trial(split, 10)
    bearer_gan.run_gan(trial, batches(digits), 4)
    trial, resumed = scheduled_trial(split, 10, seed=99)  # a new process: fresh optimizers at the base rates
    checkpoint, _ = bearer_gan.load_checkpoint(str(split))
    bearer_gan.restore_checkpoint(trial, checkpoint)
    bearer_gan.run_gan(trial, bearer_gan.image_batches(*digits, 32, seed=0, start_step=4), 10)
    assert resumed.rows == recorded.rows  # exactly the same rates at every step, before and after the resume
    for name in ('generator', 'discriminator'):
        final = torch.load(split / 'checkpoint.pt', weights_only=True)[name]
        assert all(torch.equal(tensor, torch.load(reference / 'checkpoint.pt', weights_only=True)[name][key])
                   for key, tensor in final.items())
