"""Callbacks that show and keep a run's progress: sample grids, the GIF, real images, history, models.

Each is a torchbearer :class:`~torchbearer.callbacks.Callback`, one idea per module. Callbacks
with something to remember implement ``state_dict`` / ``load_state_dict``, which
:class:`~bearer_gan.checkpoint.GANCheckpoint` saves and restores.
"""
from ..sampling import eval_mode, generate, sampling_generator, save_grid
from .ema import GeneratorEMA
from .history import LossHistory, plot_history
from .progress import FixedNoiseSampler, ProgressGif, RealImageGrid, steps_done, write_gif
from .saving import SaveModels, load_generator
from .schedule import SCHEDULES, LearningRateSchedule

__all__ = ['GeneratorEMA', 'FixedNoiseSampler', 'ProgressGif', 'RealImageGrid', 'LossHistory', 'SaveModels',
           'LearningRateSchedule', 'SCHEDULES',
           'load_generator', 'plot_history', 'steps_done', 'write_gif',
           'eval_mode', 'generate', 'sampling_generator', 'save_grid']
