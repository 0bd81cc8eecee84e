"""The code of the recipes page (``docs/recipes.rst``), included there by ``:pyobject:``.

It lives in a file, not in the page, so that ``tests/test_docs.py`` can run every recipe for a
few steps: the documentation shows code that works with the library as it is.
"""
import torch
import torch.nn.functional as F
import torchbearer
from torch import nn

import bearer_gan
from bearer_gan import keys


def adam(module: nn.Module) -> torch.optim.Optimizer:
    """The default run's optimizer: Adam, learning rate 2e-4, beta1 0.5."""
    return torch.optim.Adam(module.parameters(), lr=2e-4, betas=(0.5, 0.999))


def train_one_network(batches, steps: int):
    """Train the generator against a discriminator that stays as it is."""
    generator, discriminator = bearer_gan.build_models('tutorial')
    trial = bearer_gan.gan_trial(generator, discriminator, adam(generator), adam(discriminator), latent_dim=100,
                                 train_generator_only=True)  # or train_discriminator_only=True
    return bearer_gan.run_gan(trial, batches, steps)


def train_more_discriminator_steps(batches, steps: int):
    """Five discriminator updates (on fresh fakes, against the same real batch) per generator update."""
    generator, discriminator = bearer_gan.build_models('tutorial')
    trial = bearer_gan.gan_trial(generator, discriminator, adam(generator), adam(discriminator), latent_dim=100,
                                 d_steps=5)
    return bearer_gan.run_gan(trial, batches, steps)


class SmallGenerator(nn.Module):
    """Noise ``(N, latent_dim)`` to images ``(N, 1, 28, 28)`` in ``[-1, 1]`` (a ``Tanh`` output)."""

    def __init__(self, latent_dim: int = 32):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, 256), nn.ReLU(), nn.Linear(256, 28 * 28), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, 1, 28, 28)


class SmallDiscriminator(nn.Module):
    """Images ``(N, 1, 28, 28)`` to one logit each, ``(N, 1)``: no sigmoid, no batch norm."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


def train_own_models(batches, steps: int, device: str = None):
    """Any generator / discriminator pair trains the same way; only ``latent_dim`` must match."""
    generator, discriminator = SmallGenerator(latent_dim=32), SmallDiscriminator()
    trial = bearer_gan.gan_trial(generator, discriminator, adam(generator), adam(discriminator), latent_dim=32,
                                 real_label=0.9, callbacks=[print_d_outputs], device=device)
    return bearer_gan.run_gan(trial, batches, steps)


@torchbearer.callbacks.on_step_training
def print_d_outputs(state):
    """Every 1000 steps, print D(x) and D(G(z)), read from state by their keys."""
    step = bearer_gan.steps_done(state)
    if step % 1000 == 0:
        print(f'step {step}: D(x) = {state[keys.D_REAL].item():.3f}, D(G(z)) = {state[keys.D_FAKE].item():.3f}')


class StopWhenDiscriminatorWins(torchbearer.callbacks.Callback):
    """Stop training once D(G(z)) has stayed below ``threshold`` for ``patience`` steps in a row.

    State Requirements:
        - reads :data:`~bearer_gan.keys.D_FAKE`
        - writes :data:`torchbearer.STOP_TRAINING`
    """

    def __init__(self, threshold: float = 0.01, patience: int = 500):
        self.threshold, self.patience, self.below = threshold, patience, 0

    def on_step_training(self, state):
        self.below = self.below + 1 if state[keys.D_FAKE].item() < self.threshold else 0
        if self.below >= self.patience:
            state[torchbearer.STOP_TRAINING] = True


def hinge_generator_loss(state) -> torch.Tensor:
    """Hinge generator loss ``-D(G(z))``; records D(G(z)) for the metrics, like the built-in criteria."""
    fake_logits = state[keys.DISCRIMINATOR](state[keys.FAKE_IMAGES])
    state[keys.D_FAKE] = torch.sigmoid(fake_logits.detach()).mean()
    return -fake_logits.mean()


def hinge_discriminator_loss(state) -> torch.Tensor:
    """Hinge discriminator loss on the real and fake halves of ``DISCRIMINATOR_LOGITS``."""
    real_logits, fake_logits = state[keys.DISCRIMINATOR_LOGITS].chunk(2)
    state[keys.D_REAL] = torch.sigmoid(real_logits.detach()).mean()
    state[keys.D_FAKE] = torch.sigmoid(fake_logits.detach()).mean()
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def train_hinge(batches, steps: int):
    """The same trial with other criteria: any functions of state that return a scalar loss."""
    generator, discriminator = bearer_gan.build_models('tutorial')
    trial = bearer_gan.gan_trial(generator, discriminator, adam(generator), adam(discriminator), latent_dim=100,
                                 generator_criterion=hinge_generator_loss,
                                 discriminator_criterion=hinge_discriminator_loss)
    return bearer_gan.run_gan(trial, batches, steps)


def train_with_fid(batches, steps: int, interval: int = 500):
    """Score 2,000 samples every ``interval`` steps; returns ``(step, fid, classes_covered, kl)`` rows."""
    generator, discriminator = bearer_gan.build_models('tutorial')
    scorer = bearer_gan.FidEvaluator(interval=interval, num_samples=2000)
    trial = bearer_gan.gan_trial(generator, discriminator, adam(generator), adam(discriminator), latent_dim=100,
                                 callbacks=[bearer_gan.GeneratorEMA(0.999), scorer])
    bearer_gan.run_gan(trial, batches, steps)
    return scorer.rows
