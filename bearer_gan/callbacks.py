"""Callbacks that show and keep a run's progress: sample grids, the GIF, real images, history, models.

Each is a torchbearer :class:`~torchbearer.callbacks.Callback`. They write in ``on_end``, which
also runs when training stops early (Ctrl-C, SIGTERM, a non-finite loss), so a stopped run still
leaves its GIF, history and models behind. Steps are counted over the whole run
(:data:`~bearer_gan.keys.STEP`): step ``s`` means ``s`` updates have been made. Callbacks with
something to remember implement ``state_dict`` / ``load_state_dict``, which
:class:`~bearer_gan.checkpoint.GANCheckpoint` saves and restores.
"""
import contextlib
import csv
import os
from typing import List, Optional

import imageio.v3 as iio
import numpy as np
import torch
import torchbearer
from PIL import Image, ImageDraw
from torchbearer.callbacks import Callback
from torch.optim.swa_utils import AveragedModel
from torchvision.utils import save_image

from . import keys
from .models import build_models
from .files import atomic_path

__all__ = ['steps_done', 'sampling_generator', 'save_grid', 'GeneratorEMA', 'FixedNoiseSampler', 'ProgressGif',
           'RealImageGrid', 'LossHistory', 'SaveModels', 'load_generator', 'eval_mode', 'generate']


def steps_done(state) -> int:
    """Updates made so far in the run, across epochs and resumes."""
    return state[keys.STEP]


def sampling_generator(state) -> torch.nn.Module:
    """The generator to draw samples from: the moving average when :class:`GeneratorEMA` keeps one, else the model."""
    averaged = state[keys.EMA_GENERATOR] if keys.EMA_GENERATOR in state else None
    return averaged.module if averaged is not None else state[torchbearer.MODEL]


class GeneratorEMA(Callback):
    """Keep an exponential moving average of the generator's weights (and batch-norm statistics) for sampling.

    GAN generators oscillate around a good solution; the average of recent weights gives
    smoother, less noisy samples at no training cost. Uses :class:`torch.optim.swa_utils.AveragedModel`.
    The decay warms up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so that early
    in a run the average follows the generator instead of remembering its random initial weights.

    Args:
        decay: weight of the old average at each step, in ``(0, 1)``; 0.999 averages over ~1000 steps.

    State Requirements:
        - reads :data:`torchbearer.MODEL`
        - writes :data:`~bearer_gan.keys.EMA_GENERATOR`
    """

    def __init__(self, decay: float = 0.999):
        if not 0.0 < decay < 1.0:
            raise ValueError(f'EMA decay must be in (0, 1), got {decay}')
        self.decay = decay
        self.averaged = None
        self._resumed = None

    def on_start(self, state):
        if self.averaged is None:
            self.averaged = AveragedModel(state[torchbearer.MODEL], avg_fn=self._average, use_buffers=True)
            if self._resumed is not None:
                self.averaged.load_state_dict(self._resumed)
        state[keys.EMA_GENERATOR] = self.averaged

    def _average(self, averaged: torch.Tensor, current: torch.Tensor, num_averaged: torch.Tensor) -> torch.Tensor:
        decay = ((1 + num_averaged) / (10 + num_averaged)).clamp(max=self.decay)  # a tensor: no device sync
        return averaged + (current - averaged) * (1 - decay)

    def on_step_training(self, state):
        self.averaged.update_parameters(state[torchbearer.MODEL])

    def state_dict(self):
        return {'averaged': self.averaged.state_dict() if self.averaged is not None else None}

    def load_state_dict(self, state_dict):
        if self.averaged is not None and state_dict['averaged'] is not None:
            self.averaged.load_state_dict(state_dict['averaged'])
        else:
            self._resumed = state_dict['averaged']
        return self


@contextlib.contextmanager
def eval_mode(module: torch.nn.Module):
    """Put ``module`` in eval mode (batch norm uses its running statistics) and back into its previous mode."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


@torch.no_grad()
def generate(generator: torch.nn.Module, latent_dim: int, n: int, seed: int = 0, batch_size: int = 500,
             device=None, labels: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``n`` images ``(n, 1, 28, 28)`` in ``[-1, 1]`` from ``generator`` in eval mode, in batches.

    The noise comes from its own seeded :class:`torch.Generator`, so the same ``seed`` gives the
    same ``z`` and the global random state (and with it training) is left untouched.

    Args:
        device: where the noise goes (the generator must be there); the generator's device when None.
        labels: ``(n,)`` classes for a class-conditional generator, called as ``generator(z, labels)``;
            None calls ``generator(z)``.
    """
    device = next(generator.parameters()).device if device is None else device
    noise = torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))
    inputs = (noise,) if labels is None else (noise, labels)
    with eval_mode(generator):
        return torch.cat([generator(*(part[start:start + batch_size].to(device) for part in inputs))
                          for start in range(0, n, batch_size)])


def save_grid(images: torch.Tensor, path: str, nrow: int = 8):
    """Save images in ``[-1, 1]`` as one :func:`~torchvision.utils.make_grid` PNG."""
    save_image(images, path, nrow=nrow, normalize=True, value_range=(-1, 1), pad_value=1.0)


class FixedNoiseSampler(Callback):
    """Render the generator on one fixed noise batch every ``interval`` steps into ``samples/step_<NNNNNN>.png``.

    Frames are written at step 0 (before any update), at every multiple of ``interval`` and at
    the last step, so the frames show one fixed set of ``z`` turning into digits. The generator
    is put in eval mode (batch norm uses its running statistics) and back into train mode, and
    renders without gradients.

    Args:
        sample_dir: folder for the frames; created if missing.
        interval: steps between frames, at least 1.
        num_images: images per grid.
        seed: seed of the fixed noise, so two runs with the same seed draw the same ``z``.
        nrow: images per grid row.

    State Requirements:
        - reads :data:`torchbearer.MODEL` (the generator) or :data:`~bearer_gan.keys.EMA_GENERATOR`,
          :data:`~bearer_gan.keys.LATENT_DIM`, :data:`torchbearer.DEVICE`
        - writes :data:`~bearer_gan.keys.FIXED_NOISE`, ``(num_images, latent_dim)``
    """

    def __init__(self, sample_dir: str, interval: int = 200, num_images: int = 64, seed: int = 0, nrow: int = 8):
        if interval < 1:
            raise ValueError(f'sample interval must be a positive integer, got {interval}')
        self.sample_dir, self.interval, self.num_images, self.seed, self.nrow = sample_dir, interval, num_images, seed, nrow
        self.frame_steps: List[int] = []
        self.fixed_noise = None
        self.step = 0

    def frame_path(self, step: int) -> str:
        """Where the frame of ``step`` is written."""
        return os.path.join(self.sample_dir, f'step_{step:06d}.png')

    @property
    def frames(self) -> List[str]:
        """The frames written so far, in order."""
        return [self.frame_path(step) for step in self.frame_steps]

    def on_start(self, state):
        os.makedirs(self.sample_dir, exist_ok=True)
        noise_generator = torch.Generator().manual_seed(self.seed)
        self.fixed_noise = torch.randn(self.num_images, state[keys.LATENT_DIM], generator=noise_generator)
        self.fixed_noise = self.fixed_noise.to(state[torchbearer.DEVICE])
        state[keys.FIXED_NOISE] = self.fixed_noise
        if not self.frame_steps:
            self.render(sampling_generator(state), 0)

    def on_step_training(self, state):
        self.step = steps_done(state)
        if self.step % self.interval == 0:
            self.render(sampling_generator(state), self.step)

    def on_end(self, state):
        finite = keys.NON_FINITE not in state  # a generator with NaN weights draws nothing worth a frame
        if finite and self.fixed_noise is not None and self.frame_steps and self.frame_steps[-1] != self.step:
            self.render(sampling_generator(state), self.step)

    def state_dict(self):
        return {'frame_steps': list(self.frame_steps), 'step': self.step}

    def load_state_dict(self, state_dict):
        """Take the frames of the run so far; frames written after that point (by a run that was killed) are dropped."""
        self.frame_steps, self.step = list(state_dict['frame_steps']), state_dict['step']
        return self

    @torch.no_grad()
    def render(self, generator: torch.nn.Module, step: int):
        """Write the grid of ``generator(fixed_noise)`` for ``step`` and add it to :attr:`frames`."""
        with eval_mode(generator):
            images = generator(self.fixed_noise)
        save_grid(images, self.frame_path(step), self.nrow)
        self.frame_steps.append(step)


class ProgressGif(Callback):
    """At the end of training (or on Ctrl-C) assemble the sampler's frames, in order, into a looping GIF.

    Each frame gets its step written in the corner. Place this callback *after* its sampler, so
    that the sampler's last frame is written first.

    Args:
        sampler: the :class:`FixedNoiseSampler` whose frames to use.
        path: the GIF to write (atomically).
        frame_duration_ms: how long each frame shows; the last one shows four times as long.
    """

    def __init__(self, sampler: FixedNoiseSampler, path: str, frame_duration_ms: int = 120):
        self.sampler, self.path, self.frame_duration_ms = sampler, path, frame_duration_ms

    def on_end(self, state):
        if self.sampler.frame_steps:
            write_gif(self.sampler.frames, self.sampler.frame_steps, self.path, self.frame_duration_ms)


def write_gif(frame_paths: List[str], steps: List[int], path: str, frame_duration_ms: int = 120):
    """Write the PNG frames as a looping GIF with ``step N`` written on each frame."""
    frames = []
    for frame_path, step in zip(frame_paths, steps):
        image = Image.fromarray(iio.imread(frame_path)).convert('RGB')
        draw = ImageDraw.Draw(image)
        label = f'step {step}'
        left, top, right, bottom = draw.textbbox((2, 2), label)
        draw.rectangle((0, 0, right + 2, bottom + 2), fill=(255, 255, 255))
        draw.text((2, 2), label, fill=(200, 0, 0))
        frames.append(np.asarray(image))
    durations = [frame_duration_ms] * (len(frames) - 1) + [4 * frame_duration_ms]
    if len(frames) == 1:
        durations = durations[0]  # Pillow takes a list of durations only for animations
    with atomic_path(path) as temporary:
        iio.imwrite(temporary, frames, extension='.gif', duration=durations, loop=0)


class RealImageGrid(Callback):
    """Save a grid of the first training batch, to compare the samples with.

    State Requirements:
        - reads :data:`torchbearer.X`, real images ``(B, 1, 28, 28)`` in ``[-1, 1]``
    """

    def __init__(self, path: str, num_images: int = 64, nrow: int = 8):
        self.path, self.num_images, self.nrow = path, num_images, nrow
        self.saved = False

    def on_sample(self, state):
        if not self.saved:
            save_grid(state[torchbearer.X][:self.num_images], self.path, self.nrow)
            self.saved = True

    def state_dict(self):
        return {'saved': self.saved}

    def load_state_dict(self, state_dict):
        self.saved = state_dict['saved']
        return self


class LossHistory(Callback):
    """Record every step's losses, D(x) and D(G(z)) into ``history.csv``; plot them into ``losses.png`` at the end.

    Values stay on the training device until they are written (every ``write_interval`` steps and
    at the end), so recording costs no host-device synchronisation per step.

    State Requirements:
        - reads :data:`~bearer_gan.keys.GENERATOR_LOSS`, :data:`~bearer_gan.keys.DISCRIMINATOR_LOSS`,
          :data:`~bearer_gan.keys.D_REAL`, :data:`~bearer_gan.keys.D_FAKE`
    """

    COLUMNS = ('step', 'g_loss', 'd_loss', 'd_x', 'd_g_z')

    def __init__(self, csv_path: str, plot_path: str = None, write_interval: int = 500):
        self.csv_path, self.plot_path, self.write_interval = csv_path, plot_path, write_interval
        self.rows: List[List[float]] = []
        self._pending: List[torch.Tensor] = []
        self._pending_steps: List[int] = []

    def on_step_training(self, state):
        self._pending.append(torch.stack([state[key].detach() for key in (
            keys.GENERATOR_LOSS, keys.DISCRIMINATOR_LOSS, keys.D_REAL, keys.D_FAKE)]))
        self._pending_steps.append(steps_done(state))
        if len(self._pending) >= self.write_interval:
            self.write_csv()

    def _collect(self):
        if self._pending:
            values = torch.stack(self._pending).float().cpu().tolist()
            self.rows.extend([step] + row for step, row in zip(self._pending_steps, values))
            self._pending, self._pending_steps = [], []

    def write_csv(self):
        """Write all rows recorded so far (atomically)."""
        self._collect()
        with atomic_path(self.csv_path) as temporary, open(temporary, 'w', newline='') as handle:
            writer = csv.writer(handle)
            writer.writerow(self.COLUMNS)
            writer.writerows(self.rows)

    def on_end(self, state):
        self.write_csv()
        if self.plot_path and self.rows:
            plot_history(self.rows, self.plot_path)

    def state_dict(self):
        self._collect()
        return {'rows': [list(row) for row in self.rows]}

    def load_state_dict(self, state_dict):
        self.rows, self._pending, self._pending_steps = [list(row) for row in state_dict['rows']], [], []
        return self


def plot_history(rows: List[List[float]], path: str, window: int = 50):
    """Plot losses and D outputs per step, raw (faint) and as a ``window``-step moving average."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    values = np.asarray(rows, dtype=np.float64)
    steps = values[:, 0]
    window = max(1, min(window, len(values)))
    kernel = np.ones(window) / window
    figure, (loss_axis, d_axis) = plt.subplots(1, 2, figsize=(11, 4))
    for axis, columns in ((loss_axis, (1, 2)), (d_axis, (3, 4))):
        for column in columns:
            line, = axis.plot(steps, values[:, column], alpha=0.25, linewidth=0.8)
            smooth = np.convolve(values[:, column], kernel, mode='valid')
            axis.plot(steps[window - 1:], smooth, color=line.get_color(), label=LossHistory.COLUMNS[column])
        axis.set_xlabel('step')
        axis.legend()
    loss_axis.set_title('losses')
    d_axis.set_title('discriminator output: D(x) real, D(G(z)) fake')
    d_axis.set_ylim(0, 1)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, format='png', dpi=100)
    plt.close(figure)


class SaveModels(Callback):
    """Save the generator and the discriminator at the end of the run (and on Ctrl-C).

    ``generator.pt`` holds the generator that samples are drawn from (the moving average when
    :class:`GeneratorEMA` keeps one). Each file is a dict of plain values and tensors (loadable with ``torch.load(weights_only=True)``):
    ``{'model': name, 'latent_dim': int, 'state_dict': ...}``, so that
    ``python -m bearer_gan sample`` can rebuild the network by name.

    State Requirements:
        - reads :data:`torchbearer.MODEL` or :data:`~bearer_gan.keys.EMA_GENERATOR`, :data:`~bearer_gan.keys.DISCRIMINATOR`,
          :data:`~bearer_gan.keys.LATENT_DIM`
    """

    def __init__(self, out_dir: str, model_name: str):
        self.out_dir, self.model_name = out_dir, model_name

    def on_end(self, state):
        if keys.NON_FINITE in state:  # keep the networks of the last good checkpoint, not NaN weights
            return
        for filename, network in (('generator.pt', sampling_generator(state)),
                                  ('discriminator.pt', state[keys.DISCRIMINATOR])):
            with atomic_path(os.path.join(self.out_dir, filename)) as temporary:
                torch.save({'model': self.model_name, 'latent_dim': state[keys.LATENT_DIM],
                            'state_dict': network.state_dict()}, temporary)


def load_generator(run_dir: str, device: str = 'cpu'):
    """Rebuild the generator that :class:`SaveModels` wrote into ``run_dir``, in eval mode.

    Returns:
        ``(generator, latent_dim, model_name)``

    Raises:
        FileNotFoundError: when ``run_dir`` holds no ``generator.pt``.
        ValueError: when the file is truncated, corrupt or not a bearer_gan generator (the message names it).
    """
    path = os.path.join(run_dir, 'generator.pt')
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{run_dir!r} holds no generator.pt; train one with examples/gan.py --out {run_dir}')
    try:
        saved = torch.load(path, map_location=device, weights_only=True)  # a dict of str, int and tensors only
        generator = build_models(saved['model'], saved['latent_dim'])[0]
        generator.load_state_dict(saved['state_dict'])
    except Exception as error:  # truncated, garbage or foreign: name the file rather than show a traceback
        raise ValueError(f'cannot load {path!r}: {type(error).__name__}: {error}') from error
    return generator.to(device).eval(), saved['latent_dim'], saved['model']
