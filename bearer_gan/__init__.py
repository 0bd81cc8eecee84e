"""bearer_gan: a callback-driven GAN trainer built on torchbearer.

A GAN here is a :class:`torchbearer.Trial` whose model is the generator, with the discriminator,
optimizers and criteria in state (:mod:`bearer_gan.keys`), two ``base_closure``\\ s and a main
closure (:mod:`bearer_gan.closures`), and callbacks that show and keep the progress
(:mod:`bearer_gan.callbacks`).
"""
from . import distributed, keys
from .callbacks import (AdaptiveAugment, DiffAugment, FixedNoiseSampler, GeneratorEMA, LearningRateSchedule, LinePrinter, LossHistory, ProgressGif,
                        RealImageGrid, SaveModels, TensorBoardLogger, TerminalPreview, load_generator, read_history,
                        steps_done, write_gif)
from .closures import PRECISIONS, discriminator_closure, gan_closure, generator_closure
from .checkpoint import CheckpointError, GANCheckpoint, load_checkpoint, restore_checkpoint, upgrade_checkpoint
from .data import (DATASETS, DatasetError, FolderImages, ImageData, ShuffledBatchSampler, data_fingerprint,
                   dataset_batches, fingerprint_difference, image_batches, load_dataset, load_folder, load_mnist,
                   memory_budget, streamed_batches, to_unit_range)
from .evaluation import (FidEvaluator, LeNetClassifier, MnistClassifier, Scorer, class_coverage, conditional_accuracy,
                         density_coverage, evaluate_generator, evaluate_images, evaluate_run, fid, frechet_distance,
                         kernel_distance, load_classifier, manifold_metrics, precision_recall, scorer_for)
from .files import atomic_path, write_json
from .compatibility import check_callbacks
from .losses import (LOSSES, GANLoss, discriminator_criterion, discriminator_loss, discriminator_loss_from_logits,
                     generator_criterion, generator_loss, generator_loss_from_logits, register_loss)
from .metrics import StateValue, gan_metrics, reported_quantities
from .penalties import GradientPenalty, Penalty, R1Penalty, gradient_penalty, r1_penalty
from .models import (DEFAULT_LATENT_DIM, MODELS, apply_spectral_norm, build_from_spec, build_models, check_model_shape,
                     model_spec, read_model_spec, register_model, unregister_model)
from .safety import NonFiniteLossError, TrainingGuard
from .sampling import (class_rows, eval_mode, generate, generate_from, grid_array, sampling_generator, save_grid,
                       walk_frames)
from .latent import latent_walk, slerp, truncated_normal
from .augment import Policy, parse_augment
from .trial import default_device, gan_adam, gan_trial, run_gan
from .report import (REPORT, ReportPage, compare_runs, write_report)
from .report import (EXPORT_FORMATS, ExportCheckError, ExportError, export_generator, export_run,
                     read_export_metadata)
from .config import DATASET_RECIPES, SMALL_DATA_RECIPES, ConfigError, RunConfig
from .flags import Invocation, parse_run_flags
from .run_folder import choose_run
from . import recipe
from .recipe import (USER_ERRORS, PreparedRun, build_trial, make_batches, make_callbacks, make_evaluator, make_models,
                     make_spec, prepare_run, train)

__version__ = '0.1.0'

__all__ = [
    'distributed', 'keys',
    'FixedNoiseSampler', 'GeneratorEMA', 'LearningRateSchedule', 'LinePrinter', 'LossHistory', 'ProgressGif',
    'RealImageGrid', 'SaveModels', 'TensorBoardLogger', 'TerminalPreview', 'class_rows',
    'eval_mode', 'generate', 'load_generator', 'read_history', 'sampling_generator', 'save_grid', 'steps_done',
    'write_gif', 'generate_from', 'grid_array', 'walk_frames', 'latent_walk', 'slerp', 'truncated_normal',
    'CheckpointError', 'GANCheckpoint', 'load_checkpoint', 'restore_checkpoint', 'upgrade_checkpoint',
    'LeNetClassifier', 'MnistClassifier', 'load_classifier',
    'PRECISIONS', 'discriminator_closure', 'gan_closure', 'generator_closure',
    'DATASETS', 'DatasetError', 'ImageData', 'ShuffledBatchSampler', 'data_fingerprint', 'fingerprint_difference',
    'image_batches', 'load_dataset', 'load_mnist', 'to_unit_range', 'FolderImages', 'dataset_batches', 'load_folder',
    'memory_budget', 'streamed_batches',
    'Scorer', 'class_coverage', 'conditional_accuracy', 'evaluate_generator', 'evaluate_images', 'evaluate_run', 'fid',
    'frechet_distance', 'scorer_for', 'FidEvaluator', 'manifold_metrics', 'precision_recall', 'density_coverage',
    'kernel_distance',
    'atomic_path', 'write_json',
    'check_callbacks',
    'LOSSES', 'GANLoss', 'discriminator_criterion', 'discriminator_loss', 'discriminator_loss_from_logits',
    'generator_criterion', 'generator_loss', 'generator_loss_from_logits', 'register_loss',
    'StateValue', 'gan_metrics', 'reported_quantities',
    'GradientPenalty', 'Penalty', 'R1Penalty', 'gradient_penalty', 'r1_penalty',
    'DEFAULT_LATENT_DIM', 'MODELS', 'apply_spectral_norm', 'build_from_spec', 'build_models', 'check_model_shape',
    'model_spec', 'read_model_spec', 'register_model', 'unregister_model',
    'NonFiniteLossError', 'TrainingGuard',
    'default_device', 'gan_adam', 'gan_trial', 'run_gan',
    'DATASET_RECIPES', 'SMALL_DATA_RECIPES', 'ConfigError', 'RunConfig', 'Invocation', 'parse_run_flags',
    'choose_run',
    'recipe', 'USER_ERRORS', 'PreparedRun', 'build_trial', 'make_batches', 'make_callbacks', 'make_models', 'make_spec', 'prepare_run',
    'train',
    'EXPORT_FORMATS', 'ExportCheckError', 'ExportError', 'export_generator', 'export_run',
    'read_export_metadata', 'REPORT', 'ReportPage', 'write_report', 'compare_runs', 'make_evaluator',
    'AdaptiveAugment', 'DiffAugment', 'Policy', 'parse_augment',
]
