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
from typing import List, Optional

import torch
import torchbearer

from .. import distributed, keys
from ..checkpoint import CHECKPOINT, CheckpointError, GANCheckpoint, load_checkpoint, restore_checkpoint
from ..callbacks import FixedNoiseSampler, GeneratorEMA, LossHistory, ProgressGif, RealImageGrid, SaveModels
from ..data import DatasetError, ImageData, image_batches, load_dataset
from ..evaluation import evaluate_run
from ..files import write_json
from ..losses import discriminator_loss, generator_loss
from ..models import DEFAULT_LATENT_DIM, build_models
from ..safety import NonFiniteLossError
from ..trial import default_device, gan_adam, gan_trial, run_gan
from . import args as train_args
from . import parsing, run_dir

__all__ = ['make_data', 'make_batches', 'make_models', 'make_callbacks', 'report_discriminator', 'train',
           'parse', 'prepare', 'clean_exits', 'report', 'main']


# docs: data
def make_data(config: dict) -> ImageData:
    """The data set of the run, decoded once into a ``uint8`` tensor ``(N, C, H, W)`` on the CPU."""
    return load_dataset(config['dataset'], config['data_dir'])


def make_batches(data: ImageData, config: dict, start_step: int = 0):
    """The images moved to the training device once, batched by index and scaled to [-1, 1] per batch.

    The order of the batches depends only on the seed and the step, so a resumed run starts at ``start_step``.
    """
    images = data.images.to(config['device'])
    labels = None if data.labels is None else data.labels.to(config['device'])
    return image_batches(images, labels, config['batch_size'], seed=config['seed'], start_step=start_step,
                         rank=distributed.rank(), world_size=distributed.world_size())  # this process's slice
# docs: end data


# docs: models
def make_models(config: dict):
    """The generator / discriminator pair by name, and one (fused) Adam optimizer for each."""
    generator, discriminator = build_models(config['model'], config['latent_dim'])
    generator_optimizer = gan_adam(generator.parameters(), config['lr'], config['beta1'])
    discriminator_optimizer = gan_adam(discriminator.parameters(), config['lr'], config['beta1'])
    return generator, discriminator, generator_optimizer, discriminator_optimizer
# docs: end models


# docs: callbacks
def make_callbacks(config: dict) -> List[torchbearer.callbacks.Callback]:
    """What the run shows and keeps. Order matters: the GIF is made after the sampler's last frame,
    and the checkpoint comes last, once every other callback has written its outputs. Under torchrun
    rank 0 writes everything; the other ranks only wait for each checkpoint at a barrier."""
    out = config['out']
    checkpoint = GANCheckpoint(out, config['checkpoint_interval'], write=distributed.is_main_process(),
                               after_save=distributed.barrier)
    if not distributed.is_main_process():
        return [checkpoint]
    averaging = [GeneratorEMA(config['ema_decay'])] if config['ema_decay'] > 0 else []
    sampler = FixedNoiseSampler(os.path.join(out, 'samples'), config['sample_interval'], seed=config['seed'])
    return averaging + [
        sampler,
        ProgressGif(sampler, os.path.join(out, 'progress.gif')),
        RealImageGrid(os.path.join(out, 'real.png')),
        LossHistory(os.path.join(out, 'history.csv'), os.path.join(out, 'losses.png')),
        SaveModels(out, config['model']),
        report_discriminator,
        checkpoint,
    ]


@torchbearer.callbacks.on_end
def report_discriminator(state):
    """A callback from a plain function of state: the last step's D(x) and D(G(z)), read by their keys."""
    if keys.D_REAL in state:
        print(f'last step: D(x) = {state[keys.D_REAL].item():.3f}, D(G(z)) = {state[keys.D_FAKE].item():.3f}')
# docs: end callbacks


# docs: training
def train(config: dict, batches, checkpoint: Optional[dict] = None):
    """Build the trial on the configured device and run it until ``config['steps']`` updates; returns the history.

    With a ``checkpoint`` (from :func:`bearer_gan.load_checkpoint`) the run continues where it stopped.
    Under torchrun both networks train with DistributedDataParallel (:mod:`bearer_gan.distributed`).
    """
    torch.manual_seed(config['seed'])
    generator, discriminator, generator_optimizer, discriminator_optimizer = make_models(config)
    trial = gan_trial(
        generator, discriminator, generator_optimizer, discriminator_optimizer,
        latent_dim=config['latent_dim'] or DEFAULT_LATENT_DIM[config['model']],
        generator_criterion=generator_loss, discriminator_criterion=discriminator_loss,
        d_steps=config['d_steps'], real_label=config['real_label'], precision=config['precision'],
        compile=config['compile'], train_generator_only=config['train_generator_only'],
        train_discriminator_only=config['train_discriminator_only'],
        callbacks=make_callbacks(config), device=config['device'], verbose=2 if distributed.is_main_process() else 0)
    if checkpoint is not None:
        restore_checkpoint(trial, checkpoint, callbacks=distributed.is_main_process())
    with distributed.guarded(trial):  # under torchrun: SIGTERM stops all ranks cleanly; a lost rank is named
        distributed.data_parallel(trial, sync_batch_norm=not config['no_sync_bn'])
        history = run_gan(trial, batches, config['steps'])
        distributed.check_replicas(generator, discriminator)
    return history
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

    Under torchrun this also joins the process group (:func:`bearer_gan.distributed.start`); rank 0
    loads the data first, writes ``--out`` and prints, and the others train on their own GPU.
    """
    main_process = distributed.is_main_process()
    warnings.showwarning = (lambda message, *_, **__: _warn(message)) if main_process else (lambda *_, **__: None)
    try:
        return _prepare(args)
    except (parsing.UsageError, DatasetError, CheckpointError, distributed.UnsupportedUnderDDP) as error:
        distributed.stop()
        if main_process:
            parsing.fail(parser.prog, error)
        sys.exit(2)  # the other ranks leave the one line to rank 0
    except distributed.RankFailure:  # rank 0 could not load the data, and said why
        sys.exit(2)


def _prepare(args):
    checkpoint, main_process = None, distributed.is_main_process()
    if args.resume:
        config = run_dir.read_config(args.resume, set(train_args.DEFAULTS) | {'device'})
        if main_process:
            run_dir.writable_dir(args.resume)
        checkpoint, path = load_checkpoint(args.resume, warn=_warn if main_process else lambda message: None)
        if main_process:
            print(f'resuming {args.resume} from {path} at step {checkpoint["step"]} of {config["steps"]}')
    else:
        config = train_args.train_config(args, default_device())
        run_dir.check_out_dir(args.out, config, args.overwrite)  # changes nothing: a rejected run leaves --out as it was
    try:
        distributed.check_global_batch(config['batch_size'])
    except distributed.UnsupportedUnderDDP as error:
        raise parsing.UsageError(f'--batch-size: {error}')
    device = distributed.start(config['device'])
    data = distributed.one_rank_first(lambda: make_data(config))  # one rank downloads, the others wait
    try:
        distributed.check_same('data', f'{data.name} ({len(data.images)} images)')
    except distributed.UnsupportedUnderDDP as error:
        raise parsing.UsageError(f'{error}; give every machine the same files in --data-dir')
    if config['batch_size'] > len(data.images):
        raise parsing.UsageError(f"--batch-size {config['batch_size']} is larger than the data set "
                                 f"({len(data.images)} images)")
    if not args.resume and main_process:
        run_dir.prepare_out_dir(args.out, config)
    config = dict(config, device=device)  # config.json keeps 'cuda'; under torchrun each rank trains on its own GPU
    batches = make_batches(data, config, start_step=checkpoint['step'] if checkpoint else 0)
    return config, checkpoint, data, batches


@contextlib.contextmanager
def clean_exits(config: dict, program: str):
    """A run that stops on a non-finite loss exits with code 1, one stopped by Ctrl-C or SIGTERM with 130;
    both say where the outputs and the checkpoint are (:func:`bearer_gan.trial.run_gan` has written them).

    Under torchrun every rank stops at the same step and exits with the same code; rank 0 prints the
    message and the others one line each. A lost rank ends the run with code 1 and one line naming it.
    On the way out the process group is left (:func:`bearer_gan.distributed.stop`).
    """
    out, main_process = config['out'], distributed.is_main_process()
    checkpoint_path = os.path.join(out, CHECKPOINT)
    try:
        yield
    except NonFiniteLossError as error:
        distributed.stop()
        last_good = (f'the last good checkpoint is {checkpoint_path}' if os.path.exists(checkpoint_path)
                     else 'no checkpoint was due before it')
        if main_process:
            print(f'{program}: {error}. The GIF and history so far are in {out}; {last_good}. Try a lower --lr.',
                  file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt as error:
        distributed.stop()
        if main_process:
            print(f'\nstopped: the outputs so far and a checkpoint are in {out}; continue with '
                  f'{program} --resume {out}', file=sys.stderr)
        else:
            print(f'rank {distributed.rank()}: {str(error) or "stopped"}', file=sys.stderr)
        sys.exit(130)
    except distributed.RankFailure as error:  # no goodbye to the group: a rank is gone
        if error.report:
            print(f'{program}: error: {error}. The last checkpoint is {checkpoint_path}; continue with '
                  f'{program} --resume {out}', file=sys.stderr)
        sys.exit(1)
    except distributed.UnsupportedUnderDDP as error:
        distributed.stop()
        if main_process:
            parsing.fail(program, error)
        sys.exit(2)
    distributed.stop()


def report(config: dict, history, seconds: float, evaluate: bool = True):
    """Print the summary of a finished run, score its generator into ``eval.json``, and list its outputs
    (rank 0 under torchrun; the other ranks have nothing to report)."""
    if not distributed.is_main_process():
        return
    out, metrics = config['out'], history[-1]
    print(f'trained to step {config["steps"]} in {seconds:.0f} s on {config["device"]}: '
          f"running D(x) = {metrics['running_d_x']:.3f}, D(G(z)) = {metrics['running_d_g_z']:.3f}, "
          f"g_loss = {metrics['running_g_loss']:.3f}, d_loss = {metrics['running_d_loss']:.3f}")
    if evaluate:
        scores = evaluate_run(out, n=10000, device=config['device'])
        write_json(os.path.join(out, 'eval.json'), scores)
        print(f"FID {scores['fid']:.1f} (MNIST test set, bearer_gan's classifier features), "
              f"{scores['classes_covered']}/10 digits covered, smallest share {min(scores['class_shares']):.1%}")
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
        history = train(config, batches, checkpoint)
    report(config, history, time.time() - began, evaluate=not args.no_eval)
