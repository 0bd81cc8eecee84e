"""The sample grid drawn inside the terminal, as training goes (``--preview``).

Each character cell shows two pixels, one above the other: the upper half block ``▀`` in the
upper pixel's colour on a background of the lower pixel's colour. Terminal cells are about twice
as tall as they are wide, so the pixels come out square. Colours are 24-bit where the terminal
says it has them (``COLORTERM=truecolor`` or ``24bit``) and the nearest of xterm's 256 colours
otherwise. Libraries that draw images in terminals exist (climage, term-image, rich-pixels); the
few lines below need none of their dependencies.
"""
import os
import shutil
import sys
from typing import Optional, TextIO

import torch
import torch.nn.functional as F
from torchbearer.callbacks import Callback
from torchvision.utils import make_grid

from .. import keys
from .progress import FixedNoiseSampler

__all__ = ['UPPER_HALF_BLOCK', 'TerminalPreview', 'render_half_blocks', 'true_color']

#: The character each cell is drawn with: its foreground is the upper pixel, its background the lower.
UPPER_HALF_BLOCK = '\u2580'
RESET = '\x1b[0m'


def true_color(environ=None) -> bool:
    """Whether the terminal declares 24-bit colour (``COLORTERM``)."""
    return (os.environ if environ is None else environ).get('COLORTERM', '').lower() in ('truecolor', '24bit')


def _xterm_256(rgb: torch.Tensor) -> torch.Tensor:
    """The nearest xterm-256 colour index of each ``uint8`` colour ``(..., 3)``: the 6 x 6 x 6 cube or the grey ramp."""
    levels = torch.tensor([0, 95, 135, 175, 215, 255])
    rgb = rgb.long()
    cube_index = (rgb.unsqueeze(-1) - levels).abs().argmin(-1)  # (..., 3), each 0..5
    cube = levels[cube_index]
    grey_index = ((rgb.float().mean(-1) - 8) / 10).round().clamp(0, 23).long()
    grey = (8 + 10 * grey_index).unsqueeze(-1)
    cube_error = ((cube - rgb) ** 2).sum(-1)
    grey_error = ((grey - rgb) ** 2).sum(-1)
    cube_code = 16 + 36 * cube_index[..., 0] + 6 * cube_index[..., 1] + cube_index[..., 2]
    return torch.where(grey_error < cube_error, 232 + grey_index, cube_code)


def render_half_blocks(image: torch.Tensor, width: int, colors_24bit: bool = True) -> str:
    """An RGB image as lines of half blocks, ``width`` cells wide (the height keeps the aspect ratio).

    Args:
        image: ``(3, H, W)`` or ``(1, H, W)`` in ``[0, 1]``.
        width: the number of character cells per line; the image is resized to it (area averaging).
        colors_24bit: 24-bit colour codes; else the nearest of xterm's 256 colours.

    Returns:
        the lines, each ending with a colour reset and a newline.
    """
    image = image.detach().float().cpu()
    if image.shape[0] == 1:
        image = image.expand(3, -1, -1)
    height = max(2, 2 * round(image.shape[1] * width / image.shape[2] / 2))
    pixels = F.interpolate(image[None], size=(height, width), mode='area')[0]
    pixels = (pixels.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0)  # (height, width, 3)
    if colors_24bit:
        codes = [[';'.join(map(str, pixel)) for pixel in row] for row in pixels.tolist()]
        foreground, background = '\x1b[38;2;{}m', '\x1b[48;2;{}m'
    else:
        codes = _xterm_256(pixels).tolist()
        foreground, background = '\x1b[38;5;{}m', '\x1b[48;5;{}m'
    lines = []
    for upper, lower in zip(codes[0::2], codes[1::2]):
        cells = ''.join(foreground.format(top) + background.format(bottom) + UPPER_HALF_BLOCK
                        for top, bottom in zip(upper, lower))
        lines.append(cells + RESET + '\n')
    return ''.join(lines)


class TerminalPreview(Callback):
    """Draw the sampler's newest grid in the terminal each time it renders one; nothing when not on a terminal.

    Place it after its :class:`~bearer_gan.callbacks.FixedNoiseSampler`. The grid (its first
    ``num_images`` images) is drawn as wide as the terminal allows, at most ``max_width``
    cells, above the progress bar (through :func:`tqdm.tqdm.external_write_mode`).

    Args:
        sampler: the sampler whose frames to show.
        num_images: how many of its images to draw (a square grid reads best: 16 is 4 x 4).
        max_width: the widest drawing, in character cells.
        stream: where to draw; ``sys.stdout`` (looked up at each frame) when None.

    State Requirements:
        - reads :data:`~bearer_gan.keys.STEP`
    """

    def __init__(self, sampler: FixedNoiseSampler, num_images: int = 16, max_width: int = 96,
                 stream: Optional[TextIO] = None):
        self.sampler, self.num_images, self.max_width, self.stream = sampler, num_images, max_width, stream
        self.drawn_step: Optional[int] = None

    def on_step_training(self, state):
        frames = self.sampler.frame_steps
        if frames and frames[-1] == state[keys.STEP] and self.sampler.images is not None:
            self.draw(state[keys.STEP])

    def on_end(self, state):
        frames = self.sampler.frame_steps
        if frames and frames[-1] != self.drawn_step and self.sampler.images is not None:
            self.draw(frames[-1])

    def draw(self, step: int):
        """Draw the sampler's last grid, titled with ``step``, if the stream is a terminal."""
        stream = self.stream or sys.stdout
        if not (hasattr(stream, 'isatty') and stream.isatty()):
            return
        images = self.sampler.images[:self.num_images]
        grid = make_grid(images, nrow=max(1, round(len(images) ** 0.5)), padding=1, normalize=True,
                         value_range=(-1, 1), pad_value=1.0)
        columns = shutil.get_terminal_size(fallback=(80, 24)).columns - 1
        width = max(8, min(self.max_width, columns, grid.shape[2]))
        text = f'samples at step {step}\n' + render_half_blocks(grid, width, true_color())
        from tqdm import tqdm
        with tqdm.external_write_mode(file=stream):
            stream.write(text)
            stream.flush()
        self.drawn_step = step
