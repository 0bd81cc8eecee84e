"""The five variants, each built afresh and timed over whole training steps, and their interleaved repetitions.

(a) the torchbearer tutorial's set-up, (b) a plain loop over a PIL loader, (c) a plain loop over
tensor batches, (d) :func:`bearer_gan.gan_trial` with no output callbacks, and (e) the run
``examples/gan.py`` makes with its defaults: every default callback (moving average, sampler,
GIF, real grid, history, saved models, checkpoints) and its log lines, as a user runs it with the
output going to a log file (the lines go to ``os.devnull`` here). The top of
``benchmarks/throughput.py`` says what each does and how they are timed.
"""
import gc
import inspect
import math
import os
import shutil
import tempfile
import time

import torch
import torchbearer as tb
from torchbearer.bases import base_closure

import bearer_gan
from bearer_gan.config import RunConfig
from bearer_gan.recipe import make_callbacks

from .device import synchronize
from .setups import (BETAS, DISC_CRIT, DISC_IMGS, DISC_MODEL, DISC_OPT, FAKE, GEN_CRIT, GEN_OPT, LR, MNIST_SHAPE,
                     VALID, Setup, TutorialDiscriminator, TutorialGenerator, endless, make_models, pil_loader,
                     plain_step, seeded_image_batches, tensor_batches, tutorial_disc_crit, tutorial_gen_crit,
                     tutorial_metrics)

__all__ = ['VARIANTS', 'VARIANT_NAMES', 'StepTimer', 'default_cycle', 'run_variant', 'train_bearer_gan',
           'train_as_user', 'measure']

VARIANTS = ('a', 'b', 'c', 'd', 'e')
VARIANT_NAMES = {
    'a': 'torchbearer tutorial (PIL loader)',
    'b': 'plain loop + PIL loader',
    'c': 'plain loop + tensor batches',
    'd': 'bearer_gan (gan_trial defaults)',
    'e': 'examples/gan.py defaults, as run',
}


def default_cycle() -> int:
    """Steps after which the default run's periodic work repeats: the least common multiple of its
    sample, checkpoint, history-write and log intervals (1,000 with the defaults). Timing (e) over
    such a window counts each of them as often as a long run does."""
    defaults = RunConfig()
    history_writes = inspect.signature(bearer_gan.LossHistory).parameters['write_interval'].default
    return math.lcm(defaults.sample_interval, defaults.checkpoint_interval, defaults.log_interval, history_writes)


class StepTimer(tb.callbacks.Callback):
    """Reads the clock after training step ``warmup`` and after step ``warmup + steps``: two compares per step."""

    def __init__(self, warmup, steps, device):
        super().__init__()
        self.warmup, self.last, self.device = warmup, warmup + steps, device
        self.count, self.start, self.end = 0, None, None

    def on_start_training(self, state):
        if self.warmup == 0:
            synchronize(self.device)
            self.start = time.perf_counter()

    def on_step_training(self, state):
        self.count += 1
        if self.count == self.warmup:
            synchronize(self.device)
            self.start = time.perf_counter()
        elif self.count == self.last:
            synchronize(self.device)
            self.end = time.perf_counter()

    def seconds(self):
        if self.start is None or self.end is None:
            raise RuntimeError(f'timer saw {self.count} steps, expected {self.last}')
        return self.end - self.start


def time_plain(batches, generator, discriminator, g_opt, d_opt, setup: Setup, warmup, steps):
    ones = torch.ones(setup.batch_size, 1, device=setup.device)
    zeros = torch.zeros(setup.batch_size, 1, device=setup.device)
    start = None
    for index in range(warmup + steps):
        if index == warmup:
            synchronize(setup.device)
            start = time.perf_counter()
        real = next(batches).to(setup.device)
        plain_step(generator, discriminator, g_opt, d_opt, real, setup.latent_dim, ones, zeros)
    synchronize(setup.device)
    return time.perf_counter() - start


def _train_tutorial(generator, discriminator, g_opt, d_opt, setup: Setup, steps, timer):
    images, labels, _, _ = setup.data
    closure_gen = base_closure(tb.X, tb.MODEL, tb.Y_PRED, tb.Y_TRUE, GEN_CRIT, tb.LOSS, GEN_OPT)
    closure_disc = base_closure(tb.Y_PRED, DISC_MODEL, None, DISC_IMGS, DISC_CRIT, tb.LOSS, DISC_OPT)

    def closure(state):
        closure_gen(state)
        state[GEN_OPT].step()
        closure_disc(state)
        state[DISC_OPT].step()

    trial = tb.Trial(TutorialGenerator(generator, setup.latent_dim), None, metrics=tutorial_metrics(),
                     callbacks=[timer], verbose=0)
    trial.with_closure(closure)
    trial.state[DISC_MODEL] = TutorialDiscriminator(discriminator).to(setup.device)
    trial.state[DISC_OPT] = d_opt
    trial.state[GEN_OPT] = g_opt
    trial.state[GEN_CRIT] = tutorial_gen_crit
    trial.state[DISC_CRIT] = tutorial_disc_crit
    trial.state[VALID] = torch.ones(setup.batch_size, 1, device=setup.device)
    trial.state[FAKE] = torch.zeros(setup.batch_size, 1, device=setup.device)
    trial.to(setup.device)
    trial.with_train_generator(pil_loader(images, labels, setup.batch_size), steps=steps)
    trial.run(epochs=1)


def run_variant(variant, setup: Setup, warmup, steps, seed):
    """Build variant ``variant`` afresh and return the seconds its ``steps`` timed steps took."""
    images, labels, unit_images, _ = setup.data
    generator, discriminator, g_opt, d_opt = make_models(setup.model, setup.latent_dim, setup.device, seed,
                                                         setup.image_shape)
    if variant in ('b', 'c'):
        if variant == 'b':
            batches = (real for real, _ in endless(pil_loader(images, labels, setup.batch_size)))
        else:
            batches = tensor_batches(unit_images, setup.batch_size)
        return time_plain(batches, generator, discriminator, g_opt, d_opt, setup, warmup, steps)
    timer = StepTimer(warmup, steps, setup.device)
    if variant == 'a':
        _train_tutorial(generator, discriminator, g_opt, d_opt, setup, warmup + steps, timer)
    elif variant == 'd':
        train_bearer_gan(generator, discriminator, setup, warmup + steps, seed, timer)
    else:
        train_as_user(generator, discriminator, setup, warmup + steps, seed, timer)
    return timer.seconds()


def train_bearer_gan(generator, discriminator, setup: Setup, steps, seed, callback):
    """Variant (d): ``steps`` steps of :func:`bearer_gan.gan_trial` with its defaults (and the flags' precision and
    compilation), one ``callback`` (a timer or a profiler) and no output callbacks."""
    _, _, unit_images, unit_labels = setup.data
    # bearer_gan's default optimizer: the same Adam maths, fused into one kernel (bearer_gan.gan_adam)
    g_opt, d_opt = (bearer_gan.gan_adam(net.parameters(), LR, BETAS[0]) for net in (generator, discriminator))
    trial = bearer_gan.gan_trial(generator, discriminator, g_opt, d_opt, setup.latent_dim, callbacks=[callback],
                                 device=setup.device, verbose=0, precision=setup.precision, compile=setup.compile)
    bearer_gan.run_gan(trial, seeded_image_batches(unit_images, unit_labels, setup.batch_size, seed), steps)


def _shape_fields(image_shape) -> dict:
    """The run's fields that load ``mnist-5k`` at ``image_shape``: none for the digits' own shape."""
    if tuple(image_shape) == MNIST_SHAPE:
        return {}
    channels, size, _ = image_shape
    return dict(image_size=size, channels=channels)


def train_as_user(generator, discriminator, setup: Setup, steps, seed, callback):
    """Variant (e): ``steps`` steps of the run ``examples/gan.py`` makes with its defaults, through the same
    package functions (:mod:`bearer_gan.recipe`): its callbacks, all of them, with its outputs written into a
    temporary folder and its log lines into ``os.devnull``; ``callback`` (the timer) comes last, after them."""
    _, _, unit_images, unit_labels = setup.data
    out = tempfile.mkdtemp(prefix='bearer_gan_bench_')
    config = RunConfig.for_dataset('mnist-5k', model=setup.model, latent_dim=setup.latent_dim,
                                   batch_size=setup.batch_size, precision=setup.precision, seed=seed, out=out,
                                   compile=setup.compile, device=setup.device, **_shape_fields(setup.image_shape))
    spec = bearer_gan.model_spec(setup.model, setup.latent_dim, tuple(unit_images.shape[1:]))
    g_opt, d_opt = (bearer_gan.gan_adam(net.parameters(), config.lr, config.beta1)
                    for net in (generator, discriminator))
    try:
        with open(os.devnull, 'w') as log:
            callbacks = make_callbacks(config, spec, quiet=True)  # everything but what is printed ...
            callbacks.insert(-1, bearer_gan.callbacks.LinePrinter(config.log_interval, stream=log))  # ... and this
            trial = bearer_gan.gan_trial(
                generator, discriminator, g_opt, d_opt, latent_dim=spec['latent_dim'], d_steps=config.d_steps,
                loss=config.loss, real_label=config.real_label, precision=config.precision, compile=config.compile,
                callbacks=callbacks + [callback], device=setup.device, verbose=0)
            bearer_gan.run_gan(trial, seeded_image_batches(unit_images, unit_labels, setup.batch_size, seed), steps)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def measure(variants, setup: Setup, warmup, steps, reps, progress=None, steps_of=None):
    """Interleaved repetitions: ``{variant: [steps/s of each repetition]}``.

    Args:
        steps_of: ``{variant: timed steps}`` for variants timed over another number of steps than ``steps``.
    """
    steps_of = steps_of or {}
    rates = {variant: [] for variant in variants}
    for rep in range(reps):
        for variant in variants:
            gc.collect()
            timed = steps_of.get(variant, steps)
            seconds = run_variant(variant, setup, warmup, timed, seed=rep)
            rates[variant].append(timed / seconds)
            if progress:
                progress(f'  rep {rep + 1}/{reps} {variant}: {timed / seconds:8.1f} steps/s')
    return rates
