"""The code of the recipes page (``docs/recipes.rst``), included there by ``:pyobject:``.

It lives in a file, not in the page, so that ``tests/test_docs.py`` can run every recipe for a
few steps: the documentation shows code that works with the library as it is.
"""
import torch
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


def train_hinge(batches, steps: int):
    """Another loss by name: ``hinge``, ``lsgan`` or ``wgan-gp`` (``bce`` is the default)."""
    generator, discriminator = bearer_gan.build_models('tutorial')
    trial = bearer_gan.gan_trial(generator, discriminator, adam(generator), adam(discriminator), latent_dim=100,
                                 loss='hinge')
    return bearer_gan.run_gan(trial, batches, steps)


def train_wgan_gp(batches, steps: int):
    """WGAN-GP as its paper trains it: five critic updates per generator update, Adam betas (0, 0.9)."""
    generator, discriminator = bearer_gan.build_models('tutorial')
    trial = bearer_gan.gan_trial(
        generator, discriminator, bearer_gan.gan_adam(generator.parameters(), 1e-4, beta1=0.0, beta2=0.9),
        bearer_gan.gan_adam(discriminator.parameters(), 1e-4, beta1=0.0, beta2=0.9), latent_dim=100,
        loss='wgan-gp', gp_weight=10.0, d_steps=5)
    return bearer_gan.run_gan(trial, batches, steps)


def train_with_lazy_r1(batches, steps: int):
    """R1 on real images added to any loss, computed every 16 steps and weighted 16 times (StyleGAN2's lazy R1)."""
    generator, discriminator = bearer_gan.build_models('tutorial')
    trial = bearer_gan.gan_trial(generator, discriminator, adam(generator), adam(discriminator), latent_dim=100,
                                 loss='hinge', r1_gamma=1.0, r1_interval=16)
    return bearer_gan.run_gan(trial, batches, steps)


def least_squares_on_raw_outputs(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """A discriminator loss of your own: least squares with targets +1 and -1 instead of 1 and 0."""
    return 0.5 * ((real_logits - 1) ** 2).mean() + 0.5 * ((fake_logits + 1) ** 2).mean()


def register_own_loss():
    """Add a loss to the registry once; then ``gan_trial(loss='lsgan-symmetric')`` trains with it."""
    if 'lsgan-symmetric' not in bearer_gan.LOSSES:
        bearer_gan.register_loss('lsgan-symmetric', bearer_gan.GANLoss(
            generator=lambda fake_logits: 0.5 * ((fake_logits - 1) ** 2).mean(),
            discriminator=least_squares_on_raw_outputs,
            outputs=lambda logits: logits,  # D(x), D(G(z)) reported as mean raw outputs, not probabilities
            description='least squares, targets +1 and -1'))
    return bearer_gan.LOSSES['lsgan-symmetric']


def train_own_loss(batches, steps: int):
    """A registered loss trains like the built-in ones."""
    register_own_loss()
    generator, discriminator = bearer_gan.build_models('tutorial')
    trial = bearer_gan.gan_trial(generator, discriminator, adam(generator), adam(discriminator), latent_dim=100,
                                 loss='lsgan-symmetric')
    return bearer_gan.run_gan(trial, batches, steps)


def train_conditional(batches, steps: int):
    """A class-conditional pair, G(z, y) and a projection D(x, y), trained on the batches' labels (0 to 9)."""
    generator, discriminator = bearer_gan.build_models('tutorial', num_classes=10)
    trial = bearer_gan.gan_trial(generator, discriminator, adam(generator), adam(discriminator), latent_dim=100,
                                 num_classes=10, real_label=0.9, callbacks=[bearer_gan.GeneratorEMA(0.999)])
    return bearer_gan.run_gan(trial, batches, steps)


def draw_digit(generator: nn.Module, digit: int, n: int = 64) -> torch.Tensor:
    """``n`` images of one class from a conditional generator, ``(n, 1, 28, 28)`` in ``[-1, 1]``."""
    return bearer_gan.generate(generator, 100, n, labels=torch.full((n,), digit))


def train_spectral_norm(batches, steps: int):
    """Spectral norm on every layer of the discriminator (SNGAN), here with the hinge loss it was made with."""
    generator, discriminator = bearer_gan.build_models('dcgan', spectral_norm=True)
    trial = bearer_gan.gan_trial(generator, discriminator, adam(generator), adam(discriminator), latent_dim=64,
                                 loss='hinge')
    return bearer_gan.run_gan(trial, batches, steps)


def train_two_rates_cosine(batches, steps: int):
    """Two learning rates (the discriminator's four times the generator's) decayed to 0 along a cosine."""
    generator, discriminator = bearer_gan.build_models('tutorial')
    trial = bearer_gan.gan_trial(
        generator, discriminator, bearer_gan.gan_adam(generator.parameters(), 1e-4),
        bearer_gan.gan_adam(discriminator.parameters(), 4e-4), latent_dim=100,
        callbacks=[bearer_gan.LearningRateSchedule('cosine', steps)])
    return bearer_gan.run_gan(trial, batches, steps)


def train_with_fid(batches, steps: int, interval: int = 500):
    """Score 2,000 samples every ``interval`` steps; returns ``(step, fid, classes_covered, kl)`` rows."""
    generator, discriminator = bearer_gan.build_models('tutorial')
    scorer = bearer_gan.FidEvaluator(interval=interval, num_samples=2000)
    trial = bearer_gan.gan_trial(generator, discriminator, adam(generator), adam(discriminator), latent_dim=100,
                                 callbacks=[bearer_gan.GeneratorEMA(0.999), scorer])
    bearer_gan.run_gan(trial, batches, steps)
    return scorer.rows
