"""The run builder: a :class:`~bearer_gan.config.RunConfig` turned into data, models, optimizers, callbacks and a
trial, and trained.

``bearer-gan train``, the benchmarks and each owner of a federation build their runs here, so a
flag means the same thing everywhere. ``examples/gan.py`` spells the same steps out one by one,
as a torchbearer program, and trains the identical run (a test compares their ``history.csv``).

A run is built in this order: :func:`prepare_run` (the data, checked against the config, and the
run folder), :func:`make_batches`, :func:`make_spec` and :func:`make_models` (the networks and
their Adam optimizers), :func:`make_callbacks`, :func:`build_trial`, and :func:`train` runs it.
"""
import functools
import os
from typing import Callable, List, NamedTuple, Optional, Sequence

import torch
import torchbearer

from . import distributed, keys
from .augment import parse_augment
from .callbacks import (AdaptiveAugment, DiffAugment, FixedNoiseSampler, GeneratorEMA, LearningRateSchedule, LossHistory, ProgressGif, RealImageGrid,
                        SaveModels)
from .callbacks.display import display_callbacks, progress_verbosity
from .callbacks.tensorboard import TENSORBOARD_MISSING, TensorBoardLogger, tensorboard_available
from .checkpoint import CheckpointError, GANCheckpoint, load_checkpoint, restore_checkpoint
from .config import ConfigError, RunConfig
from .evaluation import FidEvaluator, scorer_for
from .evaluation.evaluate import default_reference_images
from .data import (DatasetError, ImageData, data_fingerprint, dataset_batches, fingerprint_difference, image_subset,
                   load_dataset, memory_budget)
from .losses import LOSSES, loss_penalties
from .metrics import reported_quantities
from .models import build_from_spec, model_spec
from .report.page import ReportPage
from .run_folder import prepare_out_dir, writable_dir, write_config
from .trial import gan_adam, gan_trial, run_gan

__all__ = ['USER_ERRORS', 'make_data', 'make_batches', 'make_spec', 'make_models', 'penalties_of', 'make_augmentation',
           'history_quantities', 'make_evaluator', 'make_callbacks',
           'report_discriminator', 'build_trial', 'train', 'record_data', 'PreparedRun', 'prepare_run']

#: The errors a user can fix (a flag, the data, the run folder, a checkpoint, a setting torchrun cannot run):
#: the CLI and the example print them as one line and exit with code 2. Any other exception is a bug.
USER_ERRORS = (ConfigError, DatasetError, CheckpointError, distributed.UnsupportedUnderDDP)


def make_data(config: RunConfig) -> ImageData:
    """The data set of the run, decoded once into a ``uint8`` tensor ``(N, C, H, W)`` on the CPU
    (a folder too large for ``data_memory`` is decoded on demand instead); ``max_images`` of them, drawn
    with the run's seed, when it is set."""
    budget = memory_budget(config.data_memory, config.device)  # bytes the decoded images may take
    data = load_dataset(config.dataset, config.data_dir, image_size=config.image_size, channels=config.channels,
                        memory_limit=budget, num_workers=config.data_workers)
    return data if config.max_images is None else image_subset(data, config.max_images, config.seed)


def make_batches(data: ImageData, config: RunConfig, start_step: int = 0):
    """The images moved to the training device once, batched by index and scaled to [-1, 1] per batch
    (streamed ones are decoded by worker processes, in the same order). The order of the batches depends
    only on the seed and the step, so a resumed run starts at ``start_step``. Under torchrun each process
    takes its own slice of every batch."""
    return dataset_batches(data, config.batch_size, config.device, seed=config.seed, start_step=start_step,
                           num_workers=config.data_workers, rank=distributed.rank(),
                           world_size=distributed.world_size())


def make_spec(config: RunConfig, data: ImageData) -> dict:
    """The model pair's constructor arguments: its name and latent size from the config, the image shape (and,
    for a conditional run, the number of classes) from the data, spectral norm in the discriminator or not.

    Raises:
        ValueError: when the pair cannot build images of that shape.
    """
    num_classes = data.num_classes if config.conditional else None
    return model_spec(config.model, config.latent_dim, data.image_shape, num_classes, config.spectral_norm)


def make_models(config: RunConfig, spec: dict) -> tuple:
    """``(generator, discriminator, generator_optimizer, discriminator_optimizer)``: the pair of ``spec`` and one
    (fused) Adam optimizer for each, with its own learning rate. Seeded, so a run's networks start the same."""
    torch.manual_seed(config.seed)
    generator, discriminator = build_from_spec(spec)
    generator_optimizer = gan_adam(generator.parameters(), config.lr_g, config.beta1, config.beta2)
    discriminator_optimizer = gan_adam(discriminator.parameters(), config.lr_d, config.beta1, config.beta2)
    return generator, discriminator, generator_optimizer, discriminator_optimizer


def penalties_of(config: RunConfig) -> list:
    """The penalties the run adds to the discriminator's loss: the loss's own (WGAN-GP's), and R1 when asked for."""
    if config.train_generator_only:
        return []
    return loss_penalties(config.loss, config.gp_weight, config.r1_gamma, config.r1_interval)


@torchbearer.callbacks.on_end
def report_discriminator(state):
    """A callback from a plain function of state: the last step's D(x) and D(G(z)), read by their keys."""
    if keys.D_REAL in state:
        print(f'last step: D(x) = {state[keys.D_REAL].item():.3f}, D(G(z)) = {state[keys.D_FAKE].item():.3f}')


def make_augmentation(config: RunConfig) -> List[torchbearer.callbacks.Callback]:
    """``--augment``: :class:`~bearer_gan.callbacks.DiffAugment` or :class:`~bearer_gan.callbacks.AdaptiveAugment`
    with the run's operations; nothing without it. It trains, so every rank runs it."""
    if config.augment is None:
        return []
    method, operations = parse_augment(config.augment)
    return [DiffAugment(operations) if method == 'diffaugment' else AdaptiveAugment(operations)]


def history_quantities(config: RunConfig) -> tuple:
    """The state keys ``history.csv`` records at every step: the loss's and its penalties'
    (:func:`~bearer_gan.metrics.reported_quantities`), and ADA's ``p`` when it runs."""
    ada = config.augment is not None and parse_augment(config.augment)[0] == 'ada'
    return reported_quantities(config.loss, penalties_of(config)) + ((keys.AUGMENT_PROBABILITY,) if ada else ())


def make_evaluator(config: RunConfig, spec: dict) -> List[FidEvaluator]:
    """``--eval-interval``: a :class:`~bearer_gan.evaluation.FidEvaluator` scoring the run's generator on its data
    set (Inception features against the training images where no classifier is shipped), writing
    ``eval_history.csv``, ``fid.png`` and ``generator.best.pt`` into the run folder; nothing when not asked for."""
    if config.eval_interval is None:
        return []
    recorded = config.to_dict()
    scorer = functools.partial(scorer_for, config.dataset, cache_dir=config.data_dir,
                               reference_images=functools.partial(default_reference_images, recorded))
    return [FidEvaluator(config.eval_interval, seed=config.seed, scorer=scorer, num_classes=spec['num_classes'],
                         out_dir=config.out, spec=spec)]


def make_callbacks(config: RunConfig, spec: dict, *, quiet: bool = False,
                   preview: bool = False) -> List[torchbearer.callbacks.Callback]:
    """What the run shows and keeps. Order matters: the GIF is made after the sampler's last frame,
    and the checkpoint comes last, once every other callback has written its outputs. What is
    printed depends on where (:func:`~bearer_gan.callbacks.display.display_callbacks`). Under torchrun
    rank 0 writes and prints everything; the other ranks keep only what trains (the learning-rate
    schedule) and wait for each checkpoint at a barrier."""
    out, loss = config.out, LOSSES[config.loss]
    schedule = [LearningRateSchedule(config.lr_schedule, config.steps)] if config.lr_schedule != 'constant' else []
    schedule += make_augmentation(config)
    checkpoint = GANCheckpoint(out, config.checkpoint_interval, write=distributed.is_main_process(),
                               after_save=distributed.barrier)
    if not distributed.is_main_process():
        return schedule + [checkpoint]
    averaging = [GeneratorEMA(config.ema_decay)] if config.ema_decay > 0 else []
    sampler = FixedNoiseSampler(os.path.join(out, 'samples'), config.sample_interval, seed=config.seed)
    logs = [TensorBoardLogger(os.path.join(out, 'tensorboard'), config.log_interval, sampler)] if config.tensorboard else []
    return schedule + averaging + [
        sampler,
        ProgressGif(sampler, os.path.join(out, 'progress.gif')),
        RealImageGrid(os.path.join(out, 'real.png')),
        LossHistory(os.path.join(out, 'history.csv'), os.path.join(out, 'losses.png'),
                    quantities=history_quantities(config), probabilities=loss.probabilities),
        SaveModels(out, spec),
        *make_evaluator(config, spec),
        *logs,
        *display_callbacks(config.log_interval, sampler, quiet=quiet, preview=preview),  # log lines, a preview
        *([] if quiet else [report_discriminator]),
        ReportPage(out, config.checkpoint_interval),  # report.html, from the files written above
        checkpoint,
    ]


def build_trial(config: RunConfig, spec: dict, callbacks: Sequence[torchbearer.callbacks.Callback] = (), *,
                quiet: bool = False, preview: bool = False, run_callbacks: bool = True) -> torchbearer.Trial:
    """The run's :class:`torchbearer.Trial` (:func:`~bearer_gan.trial.gan_trial`) on its device, with the run's
    callbacks (:func:`make_callbacks`) and then ``callbacks`` (a benchmark's clock, for instance).

    ``run_callbacks=False`` leaves out the run's own callbacks, and with them every output (samples, history,
    checkpoints, moving average, schedule): a federation's owner trains the same recipe and writes nothing."""
    generator, discriminator, generator_optimizer, discriminator_optimizer = make_models(config, spec)
    own = make_callbacks(config, spec, quiet=quiet, preview=preview) if run_callbacks else []
    return gan_trial(
        generator, discriminator, generator_optimizer, discriminator_optimizer, latent_dim=spec['latent_dim'],
        num_classes=spec['num_classes'], loss=config.loss, real_label=config.real_label, gp_weight=config.gp_weight,
        r1_gamma=config.r1_gamma, r1_interval=config.r1_interval, d_steps=config.d_steps, precision=config.precision,
        compile=config.compile, train_generator_only=config.train_generator_only,
        train_discriminator_only=config.train_discriminator_only,
        callbacks=own + list(callbacks),
        device=config.device, verbose=progress_verbosity(quiet or not distributed.is_main_process()))


def train(config: RunConfig, data: ImageData, batches, checkpoint: Optional[dict] = None, *, quiet: bool = False,
          preview: bool = False, callbacks: Sequence[torchbearer.callbacks.Callback] = (), spec: Optional[dict] = None):
    """Build the run's trial and train it until ``config.steps`` updates; returns the trial's history.

    With a ``checkpoint`` (from :func:`bearer_gan.load_checkpoint`) the run continues where it stopped.
    ``spec`` is the model pair's (:attr:`PreparedRun.spec`; made from the data when None). Under torchrun
    both networks train with DistributedDataParallel (:mod:`bearer_gan.distributed`).
    """
    spec = make_spec(config, data) if spec is None else spec
    trial = build_trial(config, spec, callbacks, quiet=quiet, preview=preview)
    if checkpoint is not None:
        restore_checkpoint(trial, checkpoint, callbacks=distributed.is_main_process())
    generator, discriminator = trial.state[torchbearer.MODEL], trial.state[keys.DISCRIMINATOR]
    with distributed.guarded(trial):  # under torchrun: SIGTERM stops all ranks cleanly; a lost rank is named
        distributed.data_parallel(trial, sync_batch_norm=not config.no_sync_bn)
        history = run_gan(trial, batches, config.steps)
        distributed.check_replicas(generator, discriminator)
    return history


def record_data(config: RunConfig, data: ImageData, resumed: Optional[str] = None,
                warn: Callable[[str], None] = print) -> RunConfig:
    """``config`` with what the run trains on: ``dataset`` becomes the set actually loaded (``mnist-5k``
    after the offline fallback of ``mnist``) and ``data`` its fingerprint, with the set asked for.

    Raises:
        ConfigError: when resuming a run whose recorded data differ from ``data``.
    """
    loaded, recorded = data_fingerprint(data), config.data
    if resumed and isinstance(recorded, dict):
        difference = fingerprint_difference(recorded, loaded)
        if difference:
            raise ConfigError(f'cannot resume {resumed!r} on different data: {difference}')
    elif resumed:
        warn(f'{resumed} was made by an older version of bearer_gan that did not record its data; '
             f'from now on it records {loaded["dataset"]} ({loaded["images"]} images)')
    requested = recorded.get('requested', config.dataset) if isinstance(recorded, dict) else config.dataset
    return config.replace(dataset=data.name, data=dict(loaded, requested=requested))


class PreparedRun(NamedTuple):
    """A run ready to train: its config (recording its data, on this process's device), the checkpoint it
    continues from and that checkpoint's file (None for a new run), its data, and its model pair's spec
    (:func:`make_spec`, checked against the data)."""
    config: RunConfig
    checkpoint: Optional[dict]
    checkpoint_path: Optional[str]
    data: ImageData
    spec: dict


def prepare_run(config: RunConfig, resumed: Optional[str] = None, warn: Callable[[str], None] = print,
                device: Optional[str] = None) -> PreparedRun:
    """Load the run's data and check it against ``config``, then write the run folder: a :class:`PreparedRun`
    whose ``config`` records the data (:func:`record_data`) and, under torchrun, this process's device.

    ``resumed`` is the folder of a run to continue (:func:`~bearer_gan.run_folder.choose_run`): its newest
    readable checkpoint is loaded. The folder is only written once the data has loaded. ``device`` is this
    process's training device (under torchrun, the GPU that :func:`bearer_gan.distributed.process_group` gave
    it; ``config.device`` when None); rank 0 loads the data first and writes the folder.

    Raises:
        ConfigError: for a problem the user can fix (the data, the folder, a checkpoint past ``steps``);
            :class:`~bearer_gan.data.DatasetError`, :class:`~bearer_gan.checkpoint.CheckpointError` and
            :class:`~bearer_gan.distributed.UnsupportedUnderDDP` likewise.
    """
    checkpoint, path, main_process = None, None, distributed.is_main_process()
    if resumed:
        if main_process:
            writable_dir(resumed)
        checkpoint, path = load_checkpoint(resumed, warn=warn)
        if checkpoint['step'] > config.steps:
            raise ConfigError(f"{resumed!r} is at step {checkpoint['step']}, past --steps {config.steps}")
    if config.tensorboard and not tensorboard_available():
        raise ConfigError(TENSORBOARD_MISSING)
    data = distributed.one_rank_first(lambda: make_data(config))  # one rank downloads, the others wait
    try:
        distributed.check_same('data', f'{data.name} ({len(data.images)} images)')
    except distributed.UnsupportedUnderDDP as error:
        raise ConfigError(f'{error}; give every machine the same files in --data-dir')
    if config.conditional and data.labels is None:
        raise ConfigError(f"--conditional trains on class labels and {data.name!r} has none; put the images "
                          'in one sub-folder per class, or leave out --conditional')
    try:
        spec = make_spec(config, data)
    except ValueError as error:  # the pair cannot build these images: say so before anything is written
        raise ConfigError(str(error)) from error
    if config.batch_size > len(data.images):
        raise ConfigError(f'--batch-size {config.batch_size} is larger than the data set ({len(data.images)} images)')
    config = record_data(config, data, resumed, warn=warn)
    if main_process and resumed:
        write_config(resumed, config)
    elif main_process:
        prepare_out_dir(config.out, config)
    # config.json keeps 'cuda'; under torchrun each rank trains on its own GPU
    return PreparedRun(config.replace(device=device or config.device), checkpoint, path, data, spec)
