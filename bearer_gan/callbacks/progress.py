"""Showing a run's progress: the generator on one fixed noise batch, the GIF of those frames, real images.

Each is a torchbearer :class:`~torchbearer.callbacks.Callback`. They write in ``on_end``, which
also runs when training stops early (Ctrl-C, SIGTERM, a non-finite loss), so a stopped run still
leaves its frames and GIF behind. Steps are counted over the whole run
(:data:`~bearer_gan.keys.STEP`): step ``s`` means ``s`` updates have been made.
"""
import os
from typing import List

import imageio.v3 as iio
import numpy as np
import torch
import torchbearer
from PIL import Image, ImageDraw
from torchbearer.callbacks import Callback

from .. import keys
from ..files import atomic_path
from ..sampling import class_rows, eval_mode, sampling_generator, save_grid

__all__ = ['steps_done', 'FixedNoiseSampler', 'ProgressGif', 'write_gif', 'RealImageGrid']


def steps_done(state) -> int:
    """Updates made so far in the run, across epochs and resumes."""
    return state[keys.STEP]


class FixedNoiseSampler(Callback):
    """Render the generator on one fixed noise batch every ``interval`` steps into ``samples/step_<NNNNNN>.png``.

    Frames are written at step 0 (before any update), at every multiple of ``interval`` and at
    the last step, so the frames show one fixed set of ``z`` turning into digits. The generator
    is put in eval mode (batch norm uses its running statistics) and back into train mode, and
    renders without gradients. In a class-conditional run (:data:`~bearer_gan.keys.NUM_CLASSES`
    set) each row of the grid is one class, ``nrow`` images of class 0 in the first row, of
    class 1 in the second, and so on, so the GIF shows every class forming; ``num_images`` is
    then ``num_classes * nrow``.

    Args:
        sample_dir: folder for the frames; created if missing.
        interval: steps between frames, at least 1.
        num_images: images per grid (unconditional runs).
        seed: seed of the fixed noise, so two runs with the same seed draw the same ``z``.
        nrow: images per grid row.

    State Requirements:
        - reads :data:`torchbearer.MODEL` (the generator) or :data:`~bearer_gan.keys.EMA_GENERATOR`,
          :data:`~bearer_gan.keys.LATENT_DIM`, :data:`~bearer_gan.keys.NUM_CLASSES` (absent or None:
          unconditional), :data:`torchbearer.DEVICE`
        - writes :data:`~bearer_gan.keys.FIXED_NOISE`, ``(num_images, latent_dim)`` or that and its labels
    """

    def __init__(self, sample_dir: str, interval: int = 200, num_images: int = 64, seed: int = 0, nrow: int = 8):
        if interval < 1:
            raise ValueError(f'sample interval must be a positive integer, got {interval}')
        self.sample_dir, self.interval, self.num_images, self.seed, self.nrow = sample_dir, interval, num_images, seed, nrow
        self.frame_steps: List[int] = []
        self.fixed_noise = None
        self.step = 0
        self.images = None  # the last frame's images, (num_images, C, H, W) in [-1, 1], for other displays

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
        num_classes = state.get(keys.NUM_CLASSES)
        num_images = self.num_images if num_classes is None else num_classes * self.nrow
        noise = torch.randn(num_images, state[keys.LATENT_DIM], generator=noise_generator)
        inputs = (noise,) if num_classes is None else (noise, class_rows(num_classes, self.nrow))
        self.fixed_noise = tuple(part.to(state[torchbearer.DEVICE]) for part in inputs)
        state[keys.FIXED_NOISE] = self.fixed_noise[0] if num_classes is None else self.fixed_noise
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
            images = generator(*self.fixed_noise)
        save_grid(images, self.frame_path(step), self.nrow)
        self.frame_steps.append(step)
        self.images = images


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
