"""Callbacks that show and keep a run's progress: sample grids, the GIF, real images, history, models,
log lines, a terminal preview, TensorBoard; and the augmentation of what the discriminator sees.

Each is a torchbearer :class:`~torchbearer.callbacks.Callback`, one idea per module. Callbacks
with something to remember implement ``state_dict`` / ``load_state_dict``, which
:class:`~bearer_gan.checkpoint.GANCheckpoint` saves and restores.
"""
from ..sampling import eval_mode, generate, sampling_generator, save_grid
from .augment import AdaptiveAugment, DiffAugment
from .display import display_callbacks, on_terminal, progress_verbosity
from .ema import GeneratorEMA, ema_decay
from .history import PANELS, QUANTITIES, LossHistory, plot_history, read_history
from .preview import TerminalPreview, render_half_blocks
from .printer import LinePrinter
from .progress import FixedNoiseSampler, ProgressGif, RealImageGrid, steps_done, write_gif
from .saving import SaveModels, load_generator
from .schedule import SCHEDULES, LearningRateSchedule
from .tensorboard import TensorBoardLogger, tensorboard_available

__all__ = ['display_callbacks', 'on_terminal', 'progress_verbosity', 'GeneratorEMA', 'ema_decay', 'QUANTITIES', 'PANELS', 'LossHistory', 'plot_history', 'read_history',
           'TerminalPreview', 'render_half_blocks', 'LinePrinter',
           'FixedNoiseSampler', 'ProgressGif', 'RealImageGrid', 'steps_done', 'write_gif', 'SaveModels',
           'load_generator', 'TensorBoardLogger', 'tensorboard_available', 'LearningRateSchedule', 'SCHEDULES',
           'eval_mode', 'generate', 'sampling_generator', 'save_grid', 'DiffAugment', 'AdaptiveAugment']
