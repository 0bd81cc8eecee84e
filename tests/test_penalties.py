"""The gradient penalty and R1: values and gradients against a hand computation, and how the trial computes them."""
import math

import pytest
import torch
import torchbearer
from torch import nn
from torch.testing import assert_close

import bearer_gan
from bearer_gan import keys
from bearer_gan.closures import _set_discriminator_input
from bearer_gan.penalties import (GradientPenalty, R1Penalty, gradient_penalty, gradient_penalty_from_gradients,
                                  r1_from_gradients, r1_penalty, with_penalties)
from conftest import batches, make_trial


class TwoLayer(nn.Module):
    """``D(x) = w2 . relu(W1 x + b1) + b2`` on 2-d inputs, so that ``grad_x D = W1^T (w2 * mask)`` by hand."""

    def __init__(self):
        super().__init__()
        self.first, self.second = nn.Linear(2, 2), nn.Linear(2, 1)
        with torch.no_grad():
            self.first.weight.copy_(torch.tensor([[1.0, 2.0], [-1.0, 1.0]]))
            self.first.bias.copy_(torch.tensor([0.0, 0.5]))
            self.second.weight.copy_(torch.tensor([[3.0, -2.0]]))
            self.second.bias.fill_(0.1)

    def forward(self, x):
        return self.second(torch.relu(self.first(x)))


W1 = torch.tensor([[1.0, 2.0], [-1.0, 1.0]])
W2 = torch.tensor([3.0, -2.0])
# x1 = (1, 1): W1 x + b1 = (3, 0.5), both units on, grad = W1^T w2 = (5, 4), |grad|^2 = 41
# x2 = (2, -0.5): W1 x + b1 = (1, -2), the first unit only, grad = W1^T (3, 0) = (3, 6), |grad|^2 = 45
POINTS = torch.tensor([[1.0, 1.0], [2.0, -0.5]])
MASKS = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
SQUARED_NORMS = torch.tensor([41.0, 45.0])


def hand_parameter_gradients(coefficients):
    """d/dW1 and d/dw2 of ``mean_i c_i |W1^T v_i|^2`` with ``v_i = mask_i * w2``: ``2 v v^T W1`` and ``2 mask * (W1 W1^T v)``."""
    grad_w1, grad_w2 = torch.zeros(2, 2), torch.zeros(2)
    for coefficient, mask in zip(coefficients, MASKS):
        v = mask * W2
        grad_w1 += coefficient * 2 * torch.outer(v, v) @ W1
        grad_w2 += coefficient * 2 * mask * (W1 @ W1.T @ v)
    return grad_w1 / len(MASKS), grad_w2 / len(MASKS)


def test_input_gradients_of_the_two_layer_network_are_the_hand_ones():
    network, points = TwoLayer(), POINTS.clone().requires_grad_(True)
    gradients = bearer_gan.penalties.input_gradients(network(points), points)
    assert_close(gradients, torch.tensor([[5.0, 4.0], [3.0, 6.0]]))


def test_r1_value_and_parameter_gradients_match_the_hand_computation():
    network = TwoLayer()
    value = r1_penalty(network, POINTS)
    assert_close(value, SQUARED_NORMS.mean())  # (41 + 45) / 2 = 43
    value.backward()
    grad_w1, grad_w2 = hand_parameter_gradients([1.0, 1.0])  # d|g|^2 = 2 v v^T W1 ...
    assert_close(network.first.weight.grad, grad_w1)
    assert_close(network.second.weight.grad[0], grad_w2)
    assert network.second.bias.grad is None or not network.second.bias.grad.any()  # b2 does not move the gradient


def test_gradient_penalty_value_and_parameter_gradients_match_the_hand_computation():
    network = TwoLayer()
    value = gradient_penalty(network, POINTS, POINTS, interpolates=POINTS)
    norms = SQUARED_NORMS.sqrt()
    assert_close(value, ((norms - 1) ** 2).mean())
    assert_close(value, torch.tensor(((math.sqrt(41) - 1) ** 2 + (math.sqrt(45) - 1) ** 2) / 2))
    value.backward()
    # d(|g| - 1)^2 = 2 (|g| - 1) / (2 |g|) d|g|^2
    grad_w1, grad_w2 = hand_parameter_gradients((norms - 1) / norms)
    assert_close(network.first.weight.grad, grad_w1)
    assert_close(network.second.weight.grad[0], grad_w2)


def test_pure_penalties_of_gradients():
    gradients = torch.tensor([[3.0, 4.0], [0.0, 0.0]])  # norms 5 and 0
    assert_close(gradient_penalty_from_gradients(gradients), torch.tensor((16.0 + 1.0) / 2))
    assert_close(r1_from_gradients(gradients), torch.tensor(25.0 / 2))
    assert_close(r1_from_gradients(gradients.view(2, 1, 1, 2)), torch.tensor(25.0 / 2))  # any image shape


def test_the_interpolates_lie_between_real_and_fake_with_one_eps_per_image():
    torch.manual_seed(0)
    real, fake = torch.zeros(64, 1, 2, 2), torch.ones(64, 1, 2, 2)
    points = bearer_gan.penalties.interpolate(real, fake)
    assert (points >= 0).all() and (points <= 1).all()
    assert (points == points[:, :1, :1, :1]).all()  # one eps per image
    assert points.flatten(1)[:, 0].std() > 0.2  # and different eps for different images


def trial_state(penalties, step=0, batch=2):
    """The state a discriminator update sees, on the two-layer network, with real and fake points."""
    return {torchbearer.X: POINTS[:batch], keys.FAKE_IMAGES: -POINTS[:batch], keys.NOISE: torch.zeros(batch, 3),
            keys.STEP: step, keys.DISCRIMINATOR: TwoLayer()}


@pytest.mark.parametrize('penalty, standalone', [
    (R1Penalty(gamma=4.0), lambda d, state: 2.0 * r1_penalty(d, state[torchbearer.X])),
    (GradientPenalty(10.0), lambda d, state: 10.0 * gradient_penalty(
        d, state[torchbearer.X], state[keys.FAKE_IMAGES], interpolates=state[keys.DISCRIMINATOR_INPUT][4:])),
])
def test_the_trials_single_forward_gives_the_standalone_penalty_and_its_gradients(penalty, standalone):
    torch.manual_seed(0)
    state = trial_state([penalty])
    _set_discriminator_input(state, [penalty])
    rows = 6 if isinstance(penalty, GradientPenalty) else 4  # real, fake (and interpolates): one batch
    assert state[keys.DISCRIMINATOR_INPUT].shape == (rows, 2)
    assert state[keys.PENALTY_INPUT] is state[keys.DISCRIMINATOR_INPUT] and state[keys.PENALTY_INPUT].requires_grad
    network = state[keys.DISCRIMINATOR]
    state[keys.DISCRIMINATOR_LOGITS] = network(state[keys.DISCRIMINATOR_INPUT])
    in_trial = with_penalties(lambda _: torch.zeros(()))(state)
    in_trial.backward()
    def gradients():
        return [torch.zeros_like(p) if p.grad is None else p.grad.clone() for p in network.parameters()]
    in_trial_grads = gradients()
    network.zero_grad()
    expected = standalone(network, state)
    expected.backward()
    assert_close(in_trial, expected)
    assert_close(in_trial_grads, gradients())
    assert any(grad.abs().sum() > 1 for grad in in_trial_grads)
    assert state[penalty.key] == in_trial.detach() / penalty.weight  # the unweighted value is recorded


def test_lazy_r1_is_due_every_interval_steps_and_scaled_by_it():
    penalty = R1Penalty(gamma=2.0, interval=4)
    assert [step for step in range(10) if penalty.due(step)] == [0, 4, 8]
    state = trial_state([penalty], step=4)
    _set_discriminator_input(state, [penalty])
    state[keys.DISCRIMINATOR_LOGITS] = state[keys.DISCRIMINATOR](state[keys.DISCRIMINATOR_INPUT])
    assert_close(with_penalties(lambda _: torch.zeros(()))(state), torch.tensor(4 * 1.0 * 43.0))  # interval * gamma/2 * R1
    state = trial_state([penalty], step=5)
    _set_discriminator_input(state, [penalty])
    assert state[keys.PENALTY_INPUT] is None and not state[keys.DISCRIMINATOR_INPUT].requires_grad
    assert state[keys.DUE_PENALTIES] == []


def test_compiled_networks_cannot_train_a_penalty():
    with pytest.raises(ValueError, match='torch.compile does not support'):
        make_trial(loss='wgan-gp', compile=True)


def test_invalid_penalties_are_refused():
    with pytest.raises(ValueError, match='weight must be positive'):
        GradientPenalty(0.0)
    with pytest.raises(ValueError, match='interval must be a positive integer'):
        R1Penalty(1.0, interval=0)


class CountingDiscriminator(nn.Module):
    """Wraps a discriminator; records, per forward, the batch size and whether its input needs gradients."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls = inner, []

    def forward(self, images):
        self.calls.append((images.size(0), images.requires_grad))
        return self.inner(images)


@pytest.mark.parametrize('options, d_rows, grad_steps', [
    (dict(), 64, []),                                              # bce: real + fake, no input gradients
    (dict(loss='wgan-gp'), 96, [0, 1, 2, 3, 4, 5]),                # + 32 interpolates, every step
    (dict(loss='hinge', r1_gamma=1.0, r1_interval=3), 64, [0, 3]),  # R1 on the real rows, lazily
])
def test_one_discriminator_forward_per_update_and_input_gradients_only_when_due(digits, options, d_rows, grad_steps):
    torch.manual_seed(0)
    generator, inner = bearer_gan.build_models('tutorial')
    discriminator = CountingDiscriminator(inner)
    trial = bearer_gan.gan_trial(generator, discriminator, torch.optim.Adam(generator.parameters()),
                                 torch.optim.Adam(discriminator.parameters()), 100, device='cpu', verbose=0, **options)
    bearer_gan.run_gan(trial, batches(digits), 6)
    # per step: one forward in the generator's step (32 fakes), one in the discriminator's (real, fake, penalty rows)
    assert [rows for rows, _ in discriminator.calls] == [32, d_rows] * 6
    assert [step for step, (_, needs_grad) in enumerate(discriminator.calls[1::2]) if needs_grad] == grad_steps
