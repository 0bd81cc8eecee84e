"""``bearer-gan train``: one training run, built step by step from the package's parts.

Each step is a function of the run's configuration (the flags of :mod:`bearer_gan.cli.args`, as
``config.json`` records them): the data, the models and their optimizers, the callbacks, the
trial. :func:`main` runs them in order, after checking the flags and the output folder, and
turns a user's mistake into one line and exit code 2. ``examples/gan.py`` walks through the
same steps.
"""
import contextlib
import os
import sys
import time
import warnings
from typing import List, Optional, Sequence

import torch
import torchbearer

from .. import keys
from ..checkpoint import CHECKPOINT, CheckpointError, GANCheckpoint, load_checkpoint, restore_checkpoint
from ..callbacks import FixedNoiseSampler, GeneratorEMA, LossHistory, ProgressGif, RealImageGrid, SaveModels
from ..data import DatasetError, ImageData, dataset_batches, load_dataset, memory_budget
from ..evaluation import evaluate_run
from ..files import write_json
from ..losses import discriminator_loss, generator_loss
from ..models import build_from_spec, model_spec
from ..safety import NonFiniteLossError
from ..trial import default_device, gan_adam, gan_trial, run_gan
from . import args as train_args
from . import parsing, run_dir

__all__ = ['make_data', 'make_batches', 'make_spec', 'make_models', 'make_callbacks', 'report_discriminator', 'train',
           'parse', 'prepare', 'clean_exits', 'score_summary', 'report', 'main']


# docs: data
def make_data(config: dict) -> ImageData:
    """The data set of the run, decoded once into a ``uint8`` tensor ``(N, C, H, W)`` on the CPU
    (a folder too large for ``--data-memory`` is decoded on demand instead)."""
    budget = memory_budget(config['data_memory'], config['device'])  # bytes the decoded images may take
    return load_dataset(config['dataset'], config['data_dir'], image_size=config['image_size'],
                        channels=config['channels'], memory_limit=budget, num_workers=config['data_workers'])


def make_batches(data: ImageData, config: dict, start_step: int = 0):
    """The images moved to the training device once, batched by index and scaled to [-1, 1] per batch
    (streamed ones are decoded by worker processes, in the same order).

    The order of the batches depends only on the seed and the step, so a resumed run starts at ``start_step``.
    """
    return dataset_batches(data, config['batch_size'], config['device'], seed=config['seed'], start_step=start_step,
                           num_workers=config['data_workers'])
# docs: end data


# docs: models
def make_spec(config: dict, data: ImageData) -> dict:
    """The model pair's constructor arguments: its name and latent size from the flags, the image shape from the data.

    Raises:
        ValueError: when the pair cannot build images of that shape.
    """
    return model_spec(config['model'], config['latent_dim'], data.image_shape)


def make_models(config: dict, spec: dict):
    """The generator / discriminator pair of ``spec``, and one (fused) Adam optimizer for each."""
    generator, discriminator = build_from_spec(spec)
    generator_optimizer = gan_adam(generator.parameters(), config['lr'], config['beta1'])
    discriminator_optimizer = gan_adam(discriminator.parameters(), config['lr'], config['beta1'])
    return generator, discriminator, generator_optimizer, discriminator_optimizer
# docs: end models


# docs: callbacks
def make_callbacks(config: dict, spec: dict) -> List[torchbearer.callbacks.Callback]:
    """What the run shows and keeps. Order matters: the GIF is made after the sampler's last frame,
    and the checkpoint comes last, once every other callback has written its outputs."""
    out = config['out']
    averaging = [GeneratorEMA(config['ema_decay'])] if config['ema_decay'] > 0 else []
    sampler = FixedNoiseSampler(os.path.join(out, 'samples'), config['sample_interval'], seed=config['seed'])
    return averaging + [
        sampler,
        ProgressGif(sampler, os.path.join(out, 'progress.gif')),
        RealImageGrid(os.path.join(out, 'real.png')),
        LossHistory(os.path.join(out, 'history.csv'), os.path.join(out, 'losses.png')),
        SaveModels(out, spec),
        report_discriminator,
        GANCheckpoint(out, config['checkpoint_interval']),
    ]


@torchbearer.callbacks.on_end
def report_discriminator(state):
    """A callback from a plain function of state: the last step's D(x) and D(G(z)), read by their keys."""
    if keys.D_REAL in state:
        print(f'last step: D(x) = {state[keys.D_REAL].item():.3f}, D(G(z)) = {state[keys.D_FAKE].item():.3f}')
# docs: end callbacks


# docs: training
def train(config: dict, data: ImageData, batches, checkpoint: Optional[dict] = None,
          callbacks: Sequence[torchbearer.callbacks.Callback] = ()):
    """Build the trial on the configured device and run it until ``config['steps']`` updates; returns the history.

    With a ``checkpoint`` (from :func:`bearer_gan.load_checkpoint`) the run continues where it stopped.
    ``callbacks`` run after the run's own (:func:`make_callbacks`): a benchmark's clock, for instance.
    """
    torch.manual_seed(config['seed'])
    spec = make_spec(config, data)
    generator, discriminator, generator_optimizer, discriminator_optimizer = make_models(config, spec)
    trial = gan_trial(
        generator, discriminator, generator_optimizer, discriminator_optimizer, latent_dim=spec['latent_dim'],
        generator_criterion=generator_loss, discriminator_criterion=discriminator_loss,
        d_steps=config['d_steps'], real_label=config['real_label'], precision=config['precision'],
        compile=config['compile'], train_generator_only=config['train_generator_only'],
        train_discriminator_only=config['train_discriminator_only'],
        callbacks=make_callbacks(config, spec) + list(callbacks), device=config['device'])
    if checkpoint is not None:
        restore_checkpoint(trial, checkpoint)
    return run_gan(trial, batches, config['steps'])
# docs: end training


def _warn(text: str):
    print(f'warning: {text}', file=sys.stderr)


def parse(argv: Optional[List[str]] = None, prog: Optional[str] = None):
    """The training flags (:mod:`bearer_gan.cli.args`) parsed and checked: ``(parser, args)``; a bad flag exits 2."""
    parser = train_args.add_train_arguments(parsing.ArgumentParser(prog=prog, description='Train a GAN with bearer_gan.'))
    return parser, train_args.parse_train_args(parser, argv)


def prepare(args, parser) -> tuple:
    """The run to train: ``(config, checkpoint, data, batches)``. For ``--resume``, the run's own
    ``config.json`` and newest readable checkpoint; else a new configuration, after checking that
    ``--out`` may take it. ``--out`` is only written once the data has loaded. A problem the user
    can fix (a folder, the data, a checkpoint) ends the program with one line and exit code 2.
    """
    warnings.showwarning = lambda message, *_, **__: _warn(message)
    try:
        return _prepare(args)
    except (parsing.UsageError, DatasetError, CheckpointError) as error:
        parsing.fail(parser.prog, error)


def _prepare(args):
    checkpoint = None
    if args.resume:
        config = run_dir.read_config(args.resume, set(train_args.DEFAULTS) | {'device'})
        run_dir.writable_dir(args.resume)
        checkpoint, path = load_checkpoint(args.resume, warn=_warn)
        print(f'resuming {args.resume} from {path} at step {checkpoint["step"]} of {config["steps"]}')
    else:
        config = train_args.train_config(args, default_device())
        run_dir.check_out_dir(args.out, config, args.overwrite)  # changes nothing: a rejected run leaves --out as it was
    data = make_data(config)
    try:
        make_spec(config, data)
    except ValueError as error:  # the pair cannot build these images: say so before anything is written
        raise parsing.UsageError(str(error)) from error
    if config['batch_size'] > len(data.images):
        raise parsing.UsageError(f"--batch-size {config['batch_size']} is larger than the data set "
                                 f"({len(data.images)} images)")
    batches = make_batches(data, config, start_step=checkpoint['step'] if checkpoint else 0)
    if not args.resume:
        run_dir.prepare_out_dir(args.out, config)
    return config, checkpoint, data, batches


@contextlib.contextmanager
def clean_exits(config: dict, program: str):
    """A run that stops on a non-finite loss exits with code 1, one stopped by Ctrl-C or SIGTERM with 130;
    both say where the outputs and the checkpoint are (:func:`bearer_gan.trial.run_gan` has written them)."""
    out = config['out']
    try:
        yield
    except NonFiniteLossError as error:
        checkpoint_path = os.path.join(out, CHECKPOINT)
        last_good = (f'the last good checkpoint is {checkpoint_path}' if os.path.exists(checkpoint_path)
                     else 'no checkpoint was due before it')
        print(f'{program}: {error}. The GIF and history so far are in {out}; {last_good}. Try a lower --lr.',
              file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print(f'\nstopped: the outputs so far and a checkpoint are in {out}; continue with '
              f'{program} --resume {out}', file=sys.stderr)
        sys.exit(130)


def score_summary(scores: dict) -> str:
    """One line for ``eval.json``'s scores: FID (or why it was skipped), class coverage and conditional accuracy
    where the data set's scorer has classes."""
    if scores.get('fid') is None:
        parts = [f"FID skipped: {scores.get('fid_skipped', 'no scorer')}"]
    else:
        parts = [f"FID {scores['fid']:.1f} ({scores.get('scorer', 'mnist')} scorer, {scores['n']} samples)"]
    if 'class_shares' in scores:
        shares = scores['class_shares']
        parts.append(f"{scores['classes_covered']}/{len(shares)} classes covered, smallest share {min(shares):.1%}")
    if 'conditional_accuracy' in scores:
        parts.append(f"conditional accuracy {scores['conditional_accuracy']:.1%}")
    return ', '.join(parts)


def report(config: dict, history, seconds: float, evaluate: bool = True):
    """Print the summary of a finished run, score its generator into ``eval.json``, and list its outputs."""
    out, metrics = config['out'], history[-1]
    print(f'trained to step {config["steps"]} in {seconds:.0f} s on {config["device"]}: '
          f"running D(x) = {metrics['running_d_x']:.3f}, D(G(z)) = {metrics['running_d_g_z']:.3f}, "
          f"g_loss = {metrics['running_g_loss']:.3f}, d_loss = {metrics['running_d_loss']:.3f}")
    if evaluate:
        scores = evaluate_run(out, n=10000, device=config['device'])
        write_json(os.path.join(out, 'eval.json'), scores)
        print(score_summary(scores))
    for name, what in (('samples', 'sample grids'), ('progress.gif', 'training GIF'), ('real.png', 'real images'),
                       ('losses.png', 'loss plot'), ('history.csv', 'per-step history'),
                       ('generator.pt', 'generator'), ('discriminator.pt', 'discriminator'),
                       ('eval.json', 'scores'), ('checkpoint.pt', 'checkpoint')):
        print(f'{what:>17}: {os.path.join(out, name)}')


def main(argv: Optional[List[str]] = None, prog: Optional[str] = None):
    """``bearer-gan train [flags]``: exit code 2 on a user's mistake, 1 on a non-finite loss, 130 on Ctrl-C."""
    parser, args = parse(argv, prog)
    config, checkpoint, data, batches = prepare(args, parser)
    began = time.time()
    with clean_exits(config, parser.prog):
        history = train(config, data, batches, checkpoint)
    report(config, history, time.time() - began, evaluate=not args.no_eval)
