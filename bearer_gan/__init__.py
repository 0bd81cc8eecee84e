"""bearer_gan: a callback-driven GAN trainer built on torchbearer.

A GAN here is a :class:`torchbearer.Trial` whose model is the generator, with the discriminator,
optimizers and criteria in state (:mod:`bearer_gan.keys`), two ``base_closure``\\ s and a main
closure (:mod:`bearer_gan.closures`), and callbacks that show and keep the progress
(:mod:`bearer_gan.callbacks`).
"""
from . import distributed, keys
from .callbacks import (FixedNoiseSampler, GeneratorEMA, LossHistory, ProgressGif, RealImageGrid, SaveModels,
                        load_generator, steps_done, write_gif)
from .closures import PRECISIONS, discriminator_closure, gan_closure, generator_closure
from .checkpoint import CheckpointError, GANCheckpoint, load_checkpoint, restore_checkpoint
from .classifier import MnistClassifier, load_classifier
from .data import (DATASETS, DatasetError, ImageData, ShuffledBatchSampler, image_batches, load_dataset, load_mnist,
                   to_unit_range)
from .evaluation import class_coverage, evaluate_generator, evaluate_images, evaluate_run, fid, frechet_distance
from .evaluation_callback import FidEvaluator
from .files import atomic_path, write_json
from .losses import discriminator_loss, discriminator_loss_from_logits, generator_loss, generator_loss_from_logits
from .metrics import StateValue, gan_metrics
from .models import DEFAULT_LATENT_DIM, MODELS, build_models
from .safety import NonFiniteLossError, TrainingGuard
from .sampling import eval_mode, generate, sampling_generator, save_grid
from .trial import default_device, gan_adam, gan_trial, run_gan

__version__ = '0.1.0'

__all__ = [
    'distributed', 'keys',
    'FixedNoiseSampler', 'GeneratorEMA', 'LossHistory', 'ProgressGif', 'RealImageGrid', 'SaveModels',
    'eval_mode', 'generate', 'load_generator', 'sampling_generator', 'save_grid', 'steps_done', 'write_gif',
    'CheckpointError', 'GANCheckpoint', 'load_checkpoint', 'restore_checkpoint',
    'MnistClassifier', 'load_classifier',
    'PRECISIONS', 'discriminator_closure', 'gan_closure', 'generator_closure',
    'DATASETS', 'DatasetError', 'ImageData', 'ShuffledBatchSampler', 'image_batches', 'load_dataset', 'load_mnist',
    'to_unit_range',
    'class_coverage', 'evaluate_generator', 'evaluate_images', 'evaluate_run', 'fid', 'frechet_distance', 'FidEvaluator',
    'atomic_path', 'write_json',
    'discriminator_loss', 'discriminator_loss_from_logits', 'generator_loss', 'generator_loss_from_logits',
    'StateValue', 'gan_metrics',
    'DEFAULT_LATENT_DIM', 'MODELS', 'build_models',
    'NonFiniteLossError', 'TrainingGuard',
    'default_device', 'gan_adam', 'gan_trial', 'run_gan',
]
