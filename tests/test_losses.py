import math

import pytest
import torch
import torch.nn.functional as F
import torchbearer
from torch.testing import assert_close

import bearer_gan
from bearer_gan import keys
from bearer_gan.losses import (LOSSES, GANLoss, discriminator_criterion, discriminator_loss,
                               discriminator_loss_from_logits, generator_criterion, generator_loss,
                               generator_loss_from_logits, get_loss, register_loss)

# two real and two fake logits, small enough to compute every loss by hand
REAL = torch.tensor([[2.0], [-1.0]])
FAKE = torch.tensor([[0.5], [-3.0]])


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_losses_match_binary_cross_entropy_on_moderate_logits():
    torch.manual_seed(0)
    real, fake = torch.randn(16, 1), torch.randn(16, 1)
    bce = torch.nn.BCELoss()
    assert_close(generator_loss_from_logits(fake), bce(torch.sigmoid(fake), torch.ones_like(fake)))
    expected = 0.5 * (bce(torch.sigmoid(real), torch.ones_like(real)) + bce(torch.sigmoid(fake), torch.zeros_like(fake)))
    assert_close(discriminator_loss_from_logits(real, fake), expected)


def test_losses_and_gradients_stay_finite_when_the_discriminator_saturates():
    # D is certain and right (real +1e4, fake -1e4) or certain and wrong: Sigmoid + BCELoss would give log(0)
    for sign in (1.0, -1.0):
        real = torch.full((8, 1), sign * 1e4, requires_grad=True)
        fake = torch.full((8, 1), -sign * 1e4, requires_grad=True)
        g_loss, d_loss = generator_loss_from_logits(fake), discriminator_loss_from_logits(real, fake)
        (g_loss + d_loss).backward()
        assert torch.isfinite(g_loss) and torch.isfinite(d_loss)
        assert torch.isfinite(real.grad).all() and torch.isfinite(fake.grad).all()
    # a generator facing a certain discriminator still gets a gradient (non-saturating loss)
    fake = torch.full((4, 1), -30.0, requires_grad=True)
    generator_loss_from_logits(fake).backward()
    assert (fake.grad < -0.2).all()


def test_label_smoothing_changes_only_the_real_term():
    real, fake = torch.zeros(4, 1), torch.zeros(4, 1)
    smooth = discriminator_loss_from_logits(real, fake, real_label=0.9)
    assert_close(smooth, 0.5 * (F.binary_cross_entropy_with_logits(real, torch.full_like(real, 0.9)) + F.softplus(fake).mean()))


@pytest.mark.parametrize('name, generator_value, discriminator_value', [
    # hinge: G = -mean(0.5, -3) = 1.25; D = mean(relu(1-2), relu(1+1)) + mean(relu(1+0.5), relu(1-3)) = 1 + 0.75
    ('hinge', 1.25, 1.75),
    # lsgan: G = mean((0.5-1)^2, (-3-1)^2) / 2 = 4.0625; D = mean(1, 4) / 2 + mean(0.25, 9) / 2 = 1.25 + 2.3125
    ('lsgan', 4.0625, 3.5625),
    # wasserstein: G = -mean(fake) = 1.25; D = mean(fake) - mean(real) = -1.25 - 0.5
    ('wgan-gp', 1.25, -1.75),
    # bce: G = mean(-log s(0.5), -log s(-3)); D = (mean(-log s(2), -log s(-1)) + mean(-log(1 - s(0.5)), -log(1 - s(-3)))) / 2
    ('bce', -(math.log(sigmoid(0.5)) + math.log(sigmoid(-3))) / 2,
     -((math.log(sigmoid(2)) + math.log(sigmoid(-1))) / 2 + (math.log(1 - sigmoid(0.5)) + math.log(1 - sigmoid(-3))) / 2) / 2),
])
def test_each_loss_matches_a_hand_computation(name, generator_value, discriminator_value):
    loss = LOSSES[name]
    assert_close(loss.generator(FAKE), torch.tensor(generator_value), atol=1e-5, rtol=0)
    assert_close(loss.discriminator(REAL, FAKE), torch.tensor(discriminator_value), atol=1e-5, rtol=0)


@pytest.mark.parametrize('name', ['hinge', 'lsgan', 'wgan-gp'])
def test_loss_gradients_match_a_hand_computation(name):
    real, fake = REAL.clone().requires_grad_(True), FAKE.clone().requires_grad_(True)
    LOSSES[name].discriminator(real, fake).backward()
    expected_real, expected_fake = {
        'hinge': ([[0.0], [-0.5]], [[0.5], [0.0]]),        # d/dr relu(1-r)/2 = -1/2 inside the margin; 0 outside
        'lsgan': ([[0.5], [-1.0]], [[0.25], [-1.5]]),      # d/dr (r-1)^2/4 = (r-1)/2; d/df f^2/4 = f/2
        'wgan-gp': ([[-0.5], [-0.5]], [[0.5], [0.5]]),      # -1/B and +1/B
    }[name]
    assert_close(real.grad, torch.tensor(expected_real))
    assert_close(fake.grad, torch.tensor(expected_fake))


def state_of(logits, batch, extra=None):
    return {keys.DISCRIMINATOR_LOGITS: logits, torchbearer.X: torch.zeros(batch, 1, 2, 2), **(extra or {})}


def test_bce_criteria_split_real_and_fake_and_report_probabilities():
    logits = torch.tensor([[10.0], [10.0], [-10.0], [-10.0]])
    state = state_of(logits, 2, {keys.REAL_LABEL: 1.0})
    loss = discriminator_loss(state)
    assert loss.item() < 1e-4
    assert state[keys.D_REAL].item() > 0.99 and state[keys.D_FAKE].item() < 0.01

    state = {keys.DISCRIMINATOR: lambda images: images.flatten(1).mean(1, keepdim=True),
             keys.FAKE_IMAGES: torch.zeros(3, 1, 28, 28), keys.NOISE: torch.zeros(3, 100)}
    assert_close(generator_loss(state), torch.log(torch.tensor(2.0)))
    assert_close(state[keys.D_FAKE], torch.tensor(0.5))


@pytest.mark.parametrize('name', ['hinge', 'lsgan', 'wgan-gp'])
def test_other_criteria_report_mean_raw_outputs_and_wgan_its_wasserstein_estimate(name):
    # rows after the first 2B belong to a penalty (the gradient penalty's interpolates): the criterion ignores them
    logits = torch.cat([REAL, FAKE, torch.tensor([[100.0], [100.0]])])
    state = state_of(logits, 2)
    loss = discriminator_criterion(name)(state)
    assert_close(loss, LOSSES[name].discriminator(REAL, FAKE))
    assert_close(state[keys.D_REAL], torch.tensor(0.5))     # mean(2, -1), not a probability
    assert_close(state[keys.D_FAKE], torch.tensor(-1.25))   # mean(0.5, -3)
    if name == 'wgan-gp':
        assert_close(state[keys.WASSERSTEIN_ESTIMATE], torch.tensor(1.75))
    else:
        assert keys.WASSERSTEIN_ESTIMATE not in state


def test_the_generator_criterion_shows_the_fakes_labels_to_a_conditional_discriminator():
    seen = {}

    def discriminator(images, labels):
        seen['labels'] = labels
        return images.flatten(1).mean(1, keepdim=True) + labels.float().unsqueeze(1)
    labels = torch.tensor([0, 3])
    state = {keys.DISCRIMINATOR: discriminator, keys.FAKE_IMAGES: torch.zeros(2, 1, 2, 2),
             keys.NOISE: (torch.zeros(2, 5), labels)}
    loss = generator_criterion('hinge')(state)
    assert seen['labels'] is labels
    assert_close(loss, torch.tensor(-1.5))


def test_real_label_belongs_to_bce_only():
    assert [name for name, loss in LOSSES.items() if loss.takes_real_label] == ['bce']
    with pytest.raises(TypeError):  # the pure functions of the other losses take no target
        LOSSES['hinge'].discriminator(REAL, FAKE, real_label=0.9)


def test_the_registry_is_read_only_and_extended_by_register_loss():
    with pytest.raises(TypeError):
        LOSSES['mine'] = LOSSES['hinge']
    with pytest.raises(ValueError, match='already registered'):
        register_loss('hinge', LOSSES['hinge'])
    with pytest.raises(ValueError, match='must be a GANLoss'):
        register_loss('mine', lambda logits: logits)
    with pytest.raises(ValueError, match="unknown loss 'nope'; choose one of: bce, hinge, lsgan, wgan-gp"):
        get_loss('nope')
    custom = GANLoss(lambda fake: -fake.mean(), lambda real, fake: (fake - real).mean(), torch.tanh)
    assert get_loss(custom) == ('custom', custom)
    assert bearer_gan.LOSSES is LOSSES
