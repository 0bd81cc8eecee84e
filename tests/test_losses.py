import torch
import torch.nn.functional as F
from torch.testing import assert_close

from bearer_gan import keys
from bearer_gan.losses import (discriminator_loss, discriminator_loss_from_logits, generator_loss,
                               generator_loss_from_logits)


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


def test_state_criteria_split_real_and_fake_and_report_discriminator_outputs():
    logits = torch.tensor([[10.0], [10.0], [-10.0], [-10.0]])
    state = {keys.DISCRIMINATOR_LOGITS: logits, keys.REAL_LABEL: 1.0}
    loss = discriminator_loss(state)
    assert loss.item() < 1e-4
    assert state[keys.D_REAL].item() > 0.99 and state[keys.D_FAKE].item() < 0.01

    state = {keys.DISCRIMINATOR: lambda images: images.flatten(1).mean(1, keepdim=True),
             keys.FAKE_IMAGES: torch.zeros(3, 1, 28, 28)}
    assert_close(generator_loss(state), torch.log(torch.tensor(2.0)))
    assert_close(state[keys.D_FAKE], torch.tensor(0.5))
