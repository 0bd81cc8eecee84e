"""--augment: DiffAugment's transforms and ADA's adaptive probability, on their own and inside real runs."""
import csv

import numpy as np
import pytest
import torch
import torchbearer

from bearer_gan import keys
from bearer_gan.augment import CUTOUT, TRANSLATION, Policy, color, cutout, parse_augment, translation
from bearer_gan.callbacks import AdaptiveAugment
from bearer_gan.cli.train import main as train_main
from bearer_gan.config import ConfigError, RunConfig

TINY = ['--dataset', 'mnist-5k', '--batch-size', '16', '--device', 'cpu', '--no-eval', '--quiet',
        '--sample-interval', '4', '--checkpoint-interval', '4']


def history(path):
    with open(path / 'history.csv') as handle:
        rows = list(csv.reader(handle))
    return rows[0], np.array([[float(value) for value in row] for row in rows[1:]])


@pytest.mark.parametrize('operation', [translation, cutout, color])
def test_each_transform_lets_gradients_through(operation):
    images = torch.rand(6, 1, 28, 28, requires_grad=True)
    torch.manual_seed(0)
    (operation(images) * torch.rand(6, 1, 28, 28)).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_the_generator_step_scores_augmented_fakes_and_its_gradient_flows_through_them():
    from bearer_gan import build_models, generator_criterion
    torch.manual_seed(0)
    generator, discriminator = build_models('tutorial')
    z = torch.randn(8, 100)
    gradients = []
    for policy in (None, Policy(('translation', 'cutout', 'color'))):
        generator.zero_grad()
        state = {keys.DISCRIMINATOR: discriminator, keys.FAKE_IMAGES: generator(z), keys.NOISE: z, keys.AUGMENT: policy}
        torch.manual_seed(1)
        generator_criterion('bce')(state).backward()
        gradients.append(torch.cat([parameter.grad.flatten() for parameter in generator.parameters()]))
    assert gradients[1].abs().sum() > 0 and not torch.allclose(gradients[0], gradients[1])


def test_the_same_seed_gives_the_same_augmentation():
    images = torch.rand(8, 3, 16, 16) * 2 - 1
    policy = Policy(('color', 'translation', 'cutout'))
    torch.manual_seed(3)
    first = policy(images)
    torch.manual_seed(3)
    assert torch.equal(policy(images), first)
    torch.manual_seed(4)
    assert not torch.equal(policy(images), first)


def test_translation_moves_pixels_by_up_to_an_eighth_and_fills_with_black():
    images = -torch.ones(400, 1, 32, 32)
    images[:, :, 16, 16] = 1  # one white pixel
    torch.manual_seed(0)
    moved = translation(images)
    where = (moved[:, 0] == 1).nonzero()
    dy, dx = where[:, 1] - 16, where[:, 2] - 16
    limit = round(32 * TRANSLATION)  # 4 pixels
    assert len(where) == 400  # never pushed out
    assert set(dy.tolist()) == set(dx.tolist()) == set(range(-limit, limit + 1))
    torch.manual_seed(0)
    shifted = translation(torch.ones(400, 1, 32, 32))
    black_rows = (shifted[:, 0] == -1).all(dim=2).sum(dim=1)  # rows the shift filled
    assert torch.equal(black_rows, dy.abs())


def test_cutout_zeroes_a_square_of_half_the_side():
    torch.manual_seed(0)
    cut = cutout(torch.ones(500, 1, 28, 28))
    zeros = (cut[:, 0] == 0)
    side = round(28 * CUTOUT)  # 14
    assert set(torch.unique(cut).tolist()) == {0.0, 1.0}
    areas = zeros.sum(dim=(1, 2))
    assert areas.max() == side * side and (areas > 0).all()  # whole when inside; clipped at the borders
    for mask in zeros[:50]:  # each is one rectangle
        rows, cols = mask.any(dim=1).nonzero().squeeze(1), mask.any(dim=0).nonzero().squeeze(1)
        assert mask.sum() == len(rows) * len(cols) and len(rows) <= side and len(cols) <= side


def test_a_policy_with_probability_zero_changes_nothing_and_moves_the_random_state_the_same():
    images = torch.rand(8, 1, 28, 28)
    torch.manual_seed(0)
    assert torch.equal(Policy(('translation', 'cutout'), p=0.0)(images), images)
    after_zero = torch.rand(1)
    torch.manual_seed(0)
    Policy(('translation', 'cutout'), p=1.0)(images)
    assert torch.equal(torch.rand(1), after_zero)


def ada_state(real_logit: float, batch=8):
    return {torchbearer.X: torch.zeros(batch, 1, 28, 28), torchbearer.DEVICE: 'cpu', torchbearer.METRICS: {},
            keys.DISCRIMINATOR_LOGITS: torch.cat([torch.full((batch, 1), real_logit), -torch.ones(batch, 1)]),
            keys.STEP: 0}


@pytest.mark.parametrize('real_logit, start, direction', [(3.0, 0.0, 1), (-3.0, 0.5, -1)])
def test_ada_raises_p_when_the_discriminator_is_always_right_and_lowers_it_otherwise(real_logit, start, direction):
    ada = AdaptiveAugment(('translation',), interval=4, speed_images=320, p=start)
    state = ada_state(real_logit)
    ada.on_start(state)
    assert state[keys.AUGMENT] is ada.policy
    seen = []
    for step in range(1, 13):
        state[keys.STEP] = step
        ada.on_sample(state)
        ada.on_step_training(state)
        seen.append(ada.p)
    # every 4 steps p moves by the 32 real images seen over 320
    assert seen[3] == pytest.approx(start + direction * 0.1) and seen[11] == pytest.approx(start + direction * 0.3)
    assert seen[:3] == [start] * 3 and state[torchbearer.METRICS]['augment_p'] == ada.p
    restored = AdaptiveAugment(('translation',)).load_state_dict(ada.state_dict())
    assert restored.p == ada.p


def test_ada_keeps_p_between_zero_and_one():
    ada = AdaptiveAugment(('translation',), interval=1, speed_images=1, p=0.5)
    state = ada_state(-1.0)
    ada.on_start(state)
    state[keys.STEP] = 1
    ada.on_step_training(state)
    assert ada.p == 0.0


def test_the_flag_names_a_method_and_its_operations():
    assert parse_augment('diffaugment') == ('diffaugment', ('translation',))
    assert parse_augment('ada:cutout,translation') == ('ada', ('translation', 'cutout'))
    assert RunConfig(augment='ada:color').augment == 'ada:color'
    with pytest.raises(ConfigError, match='--augment must be diffaugment or ada'):
        RunConfig(augment='ada:blur')


@pytest.mark.parametrize('flags', [
    ['--augment', 'diffaugment:translation,cutout,color'],
    ['--augment', 'ada', '--loss', 'wgan-gp'],
    ['--augment', 'ada:translation,color', '--loss', 'hinge', '--r1-gamma', '1', '--spectral-norm'],
    ['--augment', 'diffaugment', '--conditional', '--loss', 'lsgan'],
])
def test_augmentation_trains_with_every_loss_penalty_and_conditioning(tmp_path, flags):
    train_main(TINY + flags + ['--steps', '6', '--out', str(tmp_path / 'run')])
    header, rows = history(tmp_path / 'run')
    assert rows.shape[0] == 6 and np.isfinite(rows).all()
    assert ('augment_p' in header) == flags[1].startswith('ada')


def test_a_resumed_run_with_ada_is_bit_identical(tmp_path):
    whole, split = tmp_path / 'whole', tmp_path / 'split'
    flags = TINY + ['--augment', 'ada:translation,cutout,color']
    train_main(flags + ['--steps', '8', '--out', str(whole)])
    train_main(flags + ['--steps', '4', '--out', str(split)])
    train_main(['--resume', str(split), '--steps', '8', '--no-eval', '--quiet'])
    assert (split / 'history.csv').read_bytes() == (whole / 'history.csv').read_bytes()
    header, rows = history(whole)
    assert rows[-1, header.index('augment_p')] > 0  # p moved, and the resumed run continued it
    for name in ('generator.pt', 'discriminator.pt'):
        first, second = (torch.load(run / name, weights_only=True)['state_dict'] for run in (whole, split))
        assert all(torch.equal(first[key], second[key]) for key in first)


def test_without_augment_nothing_is_drawn():
    """No --augment: the discriminator sees the images themselves, and the random state does not move."""
    from bearer_gan.augment import augmented
    images = torch.rand(4, 1, 28, 28)
    torch.manual_seed(0)
    assert augmented({}, images) is images and augmented({keys.AUGMENT: None}, images) is images
    after = torch.rand(1)
    torch.manual_seed(0)
    assert torch.equal(torch.rand(1), after)


def test_two_ranks_with_ada_train_the_one_process_run_and_agree_on_p(tmp_path):
    from test_distributed import history as ddp_history, torchrun
    # mlp256 has no batch norm, which under DDP on CPUs would see only its rank's rows
    flags = ['--model', 'mlp256', '--dataset', 'mnist-5k', '--steps', '8', '--batch-size', '32', '--device', 'cpu',
             '--no-eval', '--sample-interval', '4', '--checkpoint-interval', '4',
             '--augment', 'ada:translation,cutout,color']
    train_main(flags + ['--quiet', '--out', str(tmp_path / 'one')])
    code, output = torchrun(flags + ['--out', str(tmp_path / 'two')], tmp_path)
    assert code == 0, output[-3000:]
    one, two = ddp_history(tmp_path / 'one'), ddp_history(tmp_path / 'two')
    assert one.shape == two.shape == (8, 6)
    np.testing.assert_allclose(two, one, rtol=0, atol=1e-5)
    assert (one[:, 5] > 0).any() and np.array_equal(one[:, 5], two[:, 5])  # p, the same on every rank
