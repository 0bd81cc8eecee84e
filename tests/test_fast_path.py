"""bearer_gan's fast path trains exactly like the straightforward GAN loop.

bearer_gan saves work per step: the generator step scores the fakes with the discriminator
frozen (no gradients into its parameters), and the discriminator step reuses those fakes,
detached and concatenated after the real batch, in a single forward. None of that may change
the result: after a few steps from the same weights, on the same batches and the same noise,
every parameter must match a plain PyTorch loop written the obvious way.

One exception, which the reference loop shares: a bias that feeds straight into a BatchNorm
(the tutorial generator has two) has no effect on anything in training mode, since the batch
norm subtracts the batch mean, so its true gradient is zero. What autograd returns for it is
rounding noise (about 1e-10), and Adam divides each gradient by its own running magnitude, so
that noise becomes steps of up to about ``lr`` in a direction that depends on the last bits of
the arithmetic (the fast path's single discriminator forward on real and fake images together
rounds differently from two forwards). With Adam those biases are only checked to have moved
by no more than Adam's step bound, and the generators to compute the same function; with SGD,
which does not rescale gradients, every parameter is compared.
"""
import copy
import inspect

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import bearer_gan

STEPS, BATCH_SIZE, SEED, DATA_SEED = 3, 32, 1234, 7
LATENT_DIM = bearer_gan.DEFAULT_LATENT_DIM['tutorial']
OPTIMIZERS = {
    'adam': (torch.optim.Adam, dict(lr=2e-4, betas=(0.5, 0.999))),  # bearer_gan's example settings
    'sgd': (torch.optim.SGD, dict(lr=0.05, momentum=0.5)),  # no per-parameter rescaling: every parameter exact
}


def seeded_batches(images, labels):
    """The same shuffled batches every call, whether ``image_batches`` takes ``seed`` or a ``generator``."""
    if 'seed' in inspect.signature(bearer_gan.image_batches).parameters:
        return bearer_gan.image_batches(images, labels, BATCH_SIZE, seed=DATA_SEED)
    return bearer_gan.image_batches(images, labels, BATCH_SIZE, generator=torch.Generator().manual_seed(DATA_SEED))


def reference_training(generator, discriminator, g_opt, d_opt, images, labels, steps):
    """The textbook loop, in bearer_gan's order: the generator step (against the discriminator before
    its update), then the discriminator step on the same fakes; every D score is its own forward."""
    generator.train()
    discriminator.train()
    batches = iter(seeded_batches(images, labels))  # made before any noise is drawn, as torchbearer does
    for _ in range(steps):
        real, _ = next(batches)
        noise = torch.randn(real.size(0), LATENT_DIM, device=real.device, dtype=real.dtype)
        fake = generator(noise)  # the only generator forward of the step

        g_opt.zero_grad()
        fake_logits = discriminator(fake)
        g_loss = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
        g_loss.backward()  # also leaves gradients in D's parameters; D's zero_grad below drops them
        g_opt.step()

        d_opt.zero_grad()
        real_logits = discriminator(real)
        fake_logits = discriminator(fake.detach())
        d_loss = 0.5 * (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                        + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        d_loss.backward()
        d_opt.step()


def biases_before_batch_norm(module: nn.Module):
    """Names of the biases of layers followed directly by a batch norm (their true gradient is zero)."""
    names = set()
    for parent_name, parent in module.named_modules():
        children = list(parent.named_children())
        for (name, layer), (_, following) in zip(children, children[1:]):
            if getattr(layer, 'bias', None) is not None and isinstance(following, nn.modules.batchnorm._BatchNorm):
                names.add(f'{parent_name}.{name}.bias' if parent_name else f'{name}.bias')
    return names


def train_mode_output(generator, noise):
    probe = copy.deepcopy(generator).train()  # a copy: the probe's batch-norm statistics update is thrown away
    with torch.no_grad():
        return probe(noise)


@pytest.fixture
def one_thread():
    """Both paths on one thread: the same reduction order for both, and fast on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize('optimizer', sorted(OPTIMIZERS))
def test_fast_path_matches_the_straightforward_loop(digits, optimizer, one_thread):
    images, labels = digits
    make_optimizer, settings = OPTIMIZERS[optimizer]
    torch.manual_seed(SEED)
    generator, discriminator = bearer_gan.build_models('tutorial')
    reference_generator, reference_discriminator = copy.deepcopy(generator), copy.deepcopy(discriminator)
    initial = [p.detach().clone() for p in generator.parameters()] + [p.detach().clone() for p in discriminator.parameters()]

    trial = bearer_gan.gan_trial(generator, discriminator, make_optimizer(generator.parameters(), **settings),
                                 make_optimizer(discriminator.parameters(), **settings),
                                 latent_dim=LATENT_DIM, device='cpu', verbose=0)
    torch.manual_seed(SEED + 1)  # noise (and anything else drawn from the global generator) starts here
    bearer_gan.run_gan(trial, seeded_batches(images, labels), STEPS)

    torch.manual_seed(SEED + 1)
    reference_training(reference_generator, reference_discriminator,
                       make_optimizer(reference_generator.parameters(), **settings),
                       make_optimizer(reference_discriminator.parameters(), **settings), images, labels, STEPS)

    noise_only = {generator: biases_before_batch_norm(generator), discriminator: biases_before_batch_norm(discriminator)}
    assert noise_only == {generator: {'net.2.bias', 'net.5.bias'}, discriminator: set()}  # before G's two batch norms
    trained = [(network, name, parameter) for network in (generator, discriminator)
               for name, parameter in network.named_parameters()]
    assert all(not torch.equal(before, after) for before, (network, name, after) in zip(initial, trained)
               if name not in noise_only[network])  # training happened: every parameter with a gradient moved

    for network, reference in ((generator, reference_generator), (discriminator, reference_discriminator)):
        for (name, parameter), reference_parameter in zip(network.named_parameters(), reference.parameters()):
            label = f'{type(network).__name__}.{name}'
            if name in noise_only[network] and optimizer == 'adam':
                # Adam moves each parameter by under 1.2 lr per step (betas (0.5, 0.999), first steps),
                # whatever its gradient; both copies started equal. SGD checks these biases exactly.
                assert (parameter - reference_parameter).abs().max() <= 2 * STEPS * 1.2 * settings['lr'], label
                continue
            torch.testing.assert_close(parameter, reference_parameter, rtol=1e-5, atol=1e-5,
                                       msg=lambda message: f'{label}: {message}')
        for (name, buffer), reference_buffer in zip(network.named_buffers(), reference.buffers()):
            label = f'{type(network).__name__}.{name}'  # batch-norm running statistics and step counts
            torch.testing.assert_close(buffer, reference_buffer, rtol=1e-5, atol=1e-5,
                                       msg=lambda message: f'{label}: {message}')

    noise = torch.randn(64, LATENT_DIM, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(train_mode_output(generator, noise), train_mode_output(reference_generator, noise),
                               rtol=1e-5, atol=1e-5)
