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
from typing import List, NoReturn, Optional, Sequence

import torch
import torchbearer

from .. import distributed, keys
from ..checkpoint import (CHECKPOINT, PREVIOUS_CHECKPOINT, CheckpointError, GANCheckpoint, load_checkpoint,
                          restore_checkpoint)
from ..callbacks import (FixedNoiseSampler, GeneratorEMA, LearningRateSchedule, LossHistory, ProgressGif, RealImageGrid,
                         SaveModels)
from ..callbacks.tensorboard import TENSORBOARD_MISSING, TensorBoardLogger, tensorboard_available, write_scores
from ..data import (DatasetError, ImageData, data_fingerprint, dataset_batches, fingerprint_difference, load_dataset,
                    memory_budget)
from ..evaluation import evaluate_run
from ..files import write_json
from ..losses import LOSSES
from ..metrics import reported_quantities
from ..models import build_from_spec, model_spec
from ..penalties import loss_penalties
from ..safety import NonFiniteLossError
from ..trial import default_device, gan_adam, gan_trial, run_gan
from . import args as train_args
from . import parsing, run_dir
from .config import RESUME_FLAGS, same_run
from .display import display_callbacks, progress_verbosity

__all__ = ['make_data', 'make_batches', 'make_spec', 'make_models', 'make_callbacks', 'report_discriminator',
           'penalties_of', 'train', 'parse', 'prepare', 'record_data', 'clean_exits', 'score_summary', 'report', 'main']


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
                           num_workers=config['data_workers'],
                           rank=distributed.rank(), world_size=distributed.world_size())  # this process's slice
# docs: end data


# docs: models
def make_spec(config: dict, data: ImageData) -> dict:
    """The model pair's constructor arguments: its name and latent size from the flags, the image shape (and,
    for ``--conditional``, the number of classes) from the data, spectral norm in the discriminator or not.

    Raises:
        ValueError: when the pair cannot build images of that shape.
    """
    num_classes = data.num_classes if config['conditional'] else None
    return model_spec(config['model'], config['latent_dim'], data.image_shape, num_classes, config['spectral_norm'])


def make_models(config: dict, spec: dict):
    """The generator / discriminator pair of ``spec``, and one (fused) Adam optimizer for each, with its own learning rate."""
    generator, discriminator = build_from_spec(spec)
    generator_optimizer = gan_adam(generator.parameters(), config['lr_g'], config['beta1'], config['beta2'])
    discriminator_optimizer = gan_adam(discriminator.parameters(), config['lr_d'], config['beta1'], config['beta2'])
    return generator, discriminator, generator_optimizer, discriminator_optimizer
# docs: end models


# docs: callbacks
def make_callbacks(config: dict, spec: dict, *, quiet: bool = False,
                   preview: bool = False) -> List[torchbearer.callbacks.Callback]:
    """What the run shows and keeps. Order matters: the GIF is made after the sampler's last frame,
    and the checkpoint comes last, once every other callback has written its outputs. What is
    printed depends on where (:func:`~bearer_gan.cli.display.display_callbacks`). Under torchrun
    rank 0 writes and prints everything; the other ranks keep only what trains (the learning-rate
    schedule) and wait for each checkpoint at a barrier."""
    out, loss = config['out'], LOSSES[config['loss']]
    schedule = [LearningRateSchedule(config['lr_schedule'], config['steps'])] if config['lr_schedule'] != 'constant' else []
    checkpoint = GANCheckpoint(out, config['checkpoint_interval'], write=distributed.is_main_process(),
                               after_save=distributed.barrier)
    if not distributed.is_main_process():
        return schedule + [checkpoint]
    averaging = [GeneratorEMA(config['ema_decay'])] if config['ema_decay'] > 0 else []
    sampler = FixedNoiseSampler(os.path.join(out, 'samples'), config['sample_interval'], seed=config['seed'])
    logs = ([TensorBoardLogger(os.path.join(out, 'tensorboard'), config['log_interval'], sampler)]
            if config['tensorboard'] else [])
    return schedule + averaging + [
        sampler,
        ProgressGif(sampler, os.path.join(out, 'progress.gif')),
        RealImageGrid(os.path.join(out, 'real.png')),
        LossHistory(os.path.join(out, 'history.csv'), os.path.join(out, 'losses.png'),
                    quantities=reported_quantities(loss, penalties_of(config)), probabilities=loss.probabilities),
        SaveModels(out, spec),
        *logs,
        *display_callbacks(config, sampler, quiet=quiet, preview=preview),  # log lines, a terminal preview
        *([] if quiet else [report_discriminator]),
        checkpoint,
    ]


@torchbearer.callbacks.on_end
def report_discriminator(state):
    """A callback from a plain function of state: the last step's D(x) and D(G(z)), read by their keys."""
    if keys.D_REAL in state:
        print(f'last step: D(x) = {state[keys.D_REAL].item():.3f}, D(G(z)) = {state[keys.D_FAKE].item():.3f}')


def penalties_of(config: dict) -> list:
    """The penalties the run adds to the discriminator's loss: the loss's own (WGAN-GP's), and R1 when asked for."""
    if config['train_generator_only']:
        return []
    return loss_penalties(config['loss'], config['gp_weight'], config['r1_gamma'], config['r1_interval'])
# docs: end callbacks


# docs: training
def train(config: dict, data: ImageData, batches, checkpoint: Optional[dict] = None, *, quiet: bool = False,
          preview: bool = False, callbacks: Sequence[torchbearer.callbacks.Callback] = ()):
    """Build the trial on the configured device and run it until ``config['steps']`` updates; returns the history.

    With a ``checkpoint`` (from :func:`bearer_gan.load_checkpoint`) the run continues where it
    stopped. On a terminal torchbearer draws its progress bar (``verbose=2``); elsewhere the run
    prints log lines instead (:mod:`bearer_gan.cli.display`); ``quiet`` prints neither.
    ``callbacks`` run after the run's own (:func:`make_callbacks`): a benchmark's clock, for instance.
    Under torchrun both networks train with DistributedDataParallel (:mod:`bearer_gan.distributed`).
    """
    torch.manual_seed(config['seed'])
    spec = make_spec(config, data)
    generator, discriminator, generator_optimizer, discriminator_optimizer = make_models(config, spec)
    trial = gan_trial(
        generator, discriminator, generator_optimizer, discriminator_optimizer, latent_dim=spec['latent_dim'],
        num_classes=spec['num_classes'], loss=config['loss'], real_label=config['real_label'],
        gp_weight=config['gp_weight'], r1_gamma=config['r1_gamma'], r1_interval=config['r1_interval'],
        d_steps=config['d_steps'], precision=config['precision'],
        compile=config['compile'], train_generator_only=config['train_generator_only'],
        train_discriminator_only=config['train_discriminator_only'],
        callbacks=make_callbacks(config, spec, quiet=quiet, preview=preview) + list(callbacks),
        device=config['device'], verbose=progress_verbosity(quiet or not distributed.is_main_process()))
    if checkpoint is not None:
        restore_checkpoint(trial, checkpoint, callbacks=distributed.is_main_process())
    with distributed.guarded(trial):  # under torchrun: SIGTERM stops all ranks cleanly; a lost rank is named
        distributed.data_parallel(trial, sync_batch_norm=not config['no_sync_bn'])
        history = run_gan(trial, batches, config['steps'])
        distributed.check_replicas(generator, discriminator)
    return history
# docs: end training


def _warn(text: str):
    """Print a warning on stderr, once per run: under torchrun only rank 0 prints it."""
    if distributed.is_main_process():
        print(f'warning: {text}', file=sys.stderr)


def _usage_exit(program: str, error: Exception) -> NoReturn:
    """Leave the process group and exit with code 2; rank 0 prints ``error`` on one line, the others nothing."""
    distributed.stop()
    if distributed.is_main_process():
        parsing.fail(program, error)
    sys.exit(2)


def parse(argv: Optional[List[str]] = None, prog: Optional[str] = None):
    """The training flags (:mod:`bearer_gan.cli.args`) parsed and checked: ``(parser, args)``; a bad flag exits 2."""
    parser = train_args.add_train_arguments(parsing.ArgumentParser(prog=prog, description='Train a GAN with bearer_gan.'))
    return parser, train_args.parse_train_args(parser, argv)


def prepare(args, parser) -> tuple:
    """The run to train: ``(config, checkpoint, data, batches)``.

    * ``--resume RUN``: the run's own ``config.json`` (with the flags ``--resume`` takes) and its
      newest readable checkpoint.
    * A folder ``--out`` that holds this very run (the same command again, e.g. a requeued job)
      with a checkpoint: that run, resumed, and one line that says so. Nothing is deleted;
      ``--overwrite`` is the only way to start over.
    * Else a new configuration, after checking that ``--out`` may take it.

    A resumed run must find the data it trained on (:func:`~bearer_gan.data.data_fingerprint`).
    ``--out`` is only written once the data has loaded. A problem the user can fix (a folder, the
    data, a checkpoint) ends the program with one line and exit code 2.

    Under torchrun this also joins the process group (:func:`bearer_gan.distributed.start`); rank 0
    loads the data first, writes ``--out`` and prints, and the others train on their own GPU.
    """
    warnings.showwarning = lambda message, *_, **__: _warn(message)
    try:
        return _prepare(args)
    except (parsing.UsageError, DatasetError, CheckpointError, distributed.UnsupportedUnderDDP) as error:
        _usage_exit(parser.prog, error)
    except distributed.RankFailure:  # rank 0 could not load the data, and said why
        sys.exit(2)


def _has_checkpoint(folder: str) -> bool:
    return any(os.path.exists(os.path.join(folder, name)) for name in (CHECKPOINT, PREVIOUS_CHECKPOINT))


def _resumed_config(args) -> tuple:
    """``(config, run folder)`` of the run to resume, or ``(config, None)`` for a new run."""
    if args.resume:
        config = run_dir.read_config(args.resume, set(train_args.DEFAULTS) | {'device'})
        config.update({name: getattr(args, name) for name in RESUME_FLAGS if name in args.given and name in config})
        return run_dir.check_device(args.resume, dict(config, out=args.resume)), args.resume
    config = train_args.train_config(args, default_device())
    recorded = run_dir.recorded_config(args.out)
    if args.overwrite or recorded is None or not same_run(recorded, config) or not _has_checkpoint(args.out):
        run_dir.check_out_dir(args.out, config, args.overwrite)  # changes nothing: a rejected run leaves --out alone
        return config, None
    config = dict(run_dir.read_config(args.out, set(train_args.DEFAULTS) | {'device'}), device=config['device'])
    return config, args.out


def _prepare(args):
    config, resumed = _resumed_config(args)
    checkpoint, main_process = None, distributed.is_main_process()
    if resumed:
        if main_process:
            run_dir.writable_dir(resumed)
        checkpoint, path = load_checkpoint(resumed, warn=_warn)
        if checkpoint['step'] > config['steps']:
            raise parsing.UsageError(f"{resumed!r} is at step {checkpoint['step']}, past --steps {config['steps']}")
    if config['tensorboard'] and not tensorboard_available():
        raise parsing.UsageError(TENSORBOARD_MISSING)
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
    if config['conditional'] and data.labels is None:
        raise parsing.UsageError(f"--conditional trains on class labels and {data.name!r} has none; put the images "
                                 'in one sub-folder per class, or leave out --conditional')
    try:
        make_spec(config, data)
    except ValueError as error:  # the pair cannot build these images: say so before anything is written
        raise parsing.UsageError(str(error)) from error
    if config['batch_size'] > len(data.images):
        raise parsing.UsageError(f"--batch-size {config['batch_size']} is larger than the data set "
                                 f"({len(data.images)} images)")
    record_data(config, data, resumed)
    if resumed and main_process:
        run_dir.write_config(resumed, config)
        if not args.quiet:
            print(_resumed_line(args, resumed, path, checkpoint['step'], config['steps']))
    elif main_process:
        run_dir.prepare_out_dir(args.out, config)
    config = dict(config, device=device)  # config.json keeps 'cuda'; under torchrun each rank trains on its own GPU
    batches = make_batches(data, config, start_step=checkpoint['step'] if checkpoint else 0)
    return config, checkpoint, data, batches


def record_data(config: dict, data: ImageData, resumed: Optional[str] = None, warn=_warn) -> dict:
    """Record in ``config`` what the run trains on: ``dataset`` becomes the set actually loaded (``mnist-5k``
    after the offline fallback of ``mnist``) and ``data`` its fingerprint, with the set asked for.
    ``warn`` prints the note about a run that recorded no data (by default on rank 0 only).

    Raises:
        UsageError: when resuming a run whose recorded data differ from ``data``.
    """
    loaded = data_fingerprint(data)
    recorded = config.get('data')
    if resumed and isinstance(recorded, dict):
        difference = fingerprint_difference(recorded, loaded)
        if difference:
            raise parsing.UsageError(f'cannot resume {resumed!r} on different data: {difference}')
    elif resumed:
        warn(f'{resumed} was made by an older version of bearer_gan that did not record its data; '
              f'from now on it records {loaded["dataset"]} ({loaded["images"]} images)')
    requested = recorded.get('requested', config['dataset']) if isinstance(recorded, dict) else config['dataset']
    config.update(dataset=data.name, data=dict(loaded, requested=requested))
    return config


def _resumed_line(args, run: str, path: str, step: int, steps: int) -> str:
    how = (f'from {path}' if args.resume else
           f'from {path}: it holds this run (the same command); --overwrite starts it over')
    if step >= steps:
        return f'{run} already trained all {steps} steps; nothing to train (--resume {run} --steps N extends it)'
    return f'resuming {run} at step {step} of {steps} {how}'


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
        _usage_exit(program, error)
    distributed.stop()


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


def report(config: dict, history, seconds: float, evaluate: bool = True, quiet: bool = False):
    """Print the summary of a finished run, score its generator into ``eval.json``, and list its outputs
    (``quiet``: the summary and the scores only). Under torchrun rank 0 does; the others have nothing to report."""
    if not distributed.is_main_process():
        return
    out, metrics = config['out'], (history[-1] if history else {})
    step = metrics.get('step', config['steps'])
    means = ', '.join(f'{label} = {metrics[name]:.3f}' for name, label in (
        ('running_d_x', 'D(x)'), ('running_d_g_z', 'D(G(z))'), ('running_g_loss', 'g_loss'),
        ('running_d_loss', 'd_loss')) if isinstance(metrics.get(name), (int, float)))
    ended = f'trained to step {step}' if step >= config['steps'] else f'stopped at step {step} of {config["steps"]}'
    print(f'{ended} in {seconds:.0f} s on {config["device"]}' + (f': running {means}' if means else ''))
    if evaluate:
        scores = evaluate_run(out, n=10000, device=config['device'])
        write_json(os.path.join(out, 'eval.json'), scores)
        print(score_summary(scores))
        if config.get('tensorboard'):
            write_scores(os.path.join(out, 'tensorboard'), scores, step)
    if quiet:
        return
    for name, what in (('samples', 'sample grids'), ('progress.gif', 'training GIF'), ('real.png', 'real images'),
                       ('losses.png', 'loss plot'), ('history.csv', 'per-step history'),
                       ('generator.pt', 'generator'), ('discriminator.pt', 'discriminator'),
                       ('eval.json', 'scores'), ('checkpoint.pt', 'checkpoint'), ('tensorboard', 'TensorBoard logs')):
        if name != 'tensorboard' or config.get('tensorboard'):
            print(f'{what:>17}: {os.path.join(out, name)}')


def main(argv: Optional[List[str]] = None, prog: Optional[str] = None):
    """``bearer-gan train [flags]``: exit code 2 on a user's mistake, 1 on a non-finite loss, 130 on Ctrl-C."""
    parser, args = parse(argv, prog)
    config, checkpoint, data, batches = prepare(args, parser)
    began = time.time()
    with clean_exits(config, parser.prog):
        history = train(config, data, batches, checkpoint, quiet=args.quiet, preview=args.preview)
    report(config, history, time.time() - began, evaluate=not args.no_eval, quiet=args.quiet)
