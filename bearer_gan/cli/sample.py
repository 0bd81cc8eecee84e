"""``bearer-gan sample``: images from a trained run as ``.npy``, or latent walks as a GIF or MP4.

* ``sample --run RUN_DIR --n N --out FILE.npy [--grid FILE.png]`` writes N generated images as
  float32 in ``[-1, 1]``, ``(N, H, W)`` for one channel and ``(N, C, H, W)`` for more, from the
  run's ``generator.pt`` (the moving average when the run kept one; eval mode). For a
  class-conditional run it also writes their labels, int64 ``(N,)``, beside them as
  ``FILE.labels.npy``: every class in turn, or only ``--class K``, or ``--labels 0,1,2`` repeated.
* ``sample --run RUN_DIR --interpolate K --out FILE.gif`` (or ``FILE.mp4``, with the ``video``
  extra) animates K latent walks (:func:`bearer_gan.latent.latent_walk`): each walk goes along
  the arc from one random ``z`` to another in ``--frames`` frames (default 48) shown at ``--fps``
  (default 12), and each frame is a grid with one cell per walk (8 to a row; small images are
  magnified by whole pixels to at least 64 pixels high). For a class-conditional run each row
  is one walk and each column one class (every class, or ``--labels``), all drawn from the same
  ``z``, so a row shows how one ``z`` looks in every class; ``--class K`` draws only class K,
  one cell per walk.
* ``--truncation T`` draws ``z`` with every entry in ``[-T, T]``
  (:func:`bearer_gan.latent.truncated_normal`; for walks, their ends): more typical and less
  varied images as ``T`` falls. ``--seed`` picks the noise in every case.
"""
import argparse
import importlib.util
import os

import imageio.v3 as iio
import numpy as np
import torch

from .. import flags as parsing
from .. import run_folder as run_dir
from ..files import atomic_path
from ..sampling import generate, grid_array, save_grid, walk_frames
from .tools import add_run_arguments, load_run

__all__ = ['ANIMATIONS', 'add_sample_arguments', 'labels_path', 'asked_classes', 'sample_labels', 'write_animation',
           'sample']

#: The files ``--interpolate`` writes, by extension: a GIF needs only Pillow, an MP4 imageio's ffmpeg plugin.
ANIMATIONS = ('.gif', '.mp4')

FRAMES, FPS, N = 48, 12.0, 64  # the defaults of --frames, --fps and --n
CELL_PIXELS = 64  # an animation's images are magnified (each pixel repeated) to at least this height


def add_sample_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument('--n', type=parsing.positive_int, help=f'number of images (default: {N})')
    parser.add_argument('--out', required=True,
                        help='.npy file to write; with --interpolate, the .gif or .mp4 animation to write')
    parser.add_argument('--grid', help='also save the first 64 images as a PNG grid')
    which = parser.add_mutually_exclusive_group()
    which.add_argument('--class', dest='class_', metavar='K', type=int,
                       help='class-conditional runs: draw only class K (default: every class in turn)')
    which.add_argument('--labels', type=_label_list,
                       help='class-conditional runs: draw these classes in turn, e.g. 0,1,2')
    parser.add_argument('--truncation', metavar='T', type=parsing.positive_float,
                        help='draw z with every entry in [-T, T]: more typical, less varied images (default: no limit)')
    parser.add_argument('--interpolate', metavar='K', type=parsing.positive_int,
                        help='write K latent walks as an animation (--out FILE.gif or FILE.mp4) instead of images')
    parser.add_argument('--frames', type=int,
                        help=f'--interpolate: frames of each walk, at least 2 (default: {FRAMES})')
    parser.add_argument('--fps', type=parsing.positive_float,
                        help=f'--interpolate: frames per second (default: {FPS:g})')
    add_run_arguments(parser)
    return parser


def _label_list(text: str):
    try:
        labels = [int(label) for label in text.split(',')]
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not a comma-separated list of class indices, e.g. 0,1,2')
    return labels


def labels_path(out: str) -> str:
    """Where ``sample`` writes the labels of the images it writes to ``out``: ``x.npy`` -> ``x.labels.npy``."""
    return out[:-len('.npy')] + '.labels.npy'


def asked_classes(num_classes, class_=None, labels=None):
    """The classes to draw, in order: ``[class_]``, ``labels``, or every class; None when unconditional.

    Raises:
        UsageError: for classes asked of an unconditional run, or classes it does not have.
    """
    asked = [class_] if class_ is not None else labels
    if num_classes is None:
        if asked is not None:
            raise parsing.UsageError('--class and --labels need a class-conditional run (trained with --conditional)')
        return None
    asked = list(range(num_classes)) if asked is None else asked
    wrong = [label for label in asked if not 0 <= label < num_classes]
    if wrong:
        raise parsing.UsageError(f'the run has classes 0 to {num_classes - 1}; got {wrong[0]}')
    return asked


def sample_labels(num_classes, n: int, class_=None, labels=None):
    """The labels ``(n,)`` to draw: :func:`asked_classes` in turn; None when unconditional.

    Raises:
        UsageError: as :func:`asked_classes`.
    """
    asked = asked_classes(num_classes, class_, labels)
    if asked is None:
        return None
    return torch.tensor(asked, dtype=torch.int64).repeat((n + len(asked) - 1) // len(asked))[:n]


def _has_ffmpeg() -> bool:
    return importlib.util.find_spec('imageio_ffmpeg') is not None


def write_animation(frames: np.ndarray, path: str, fps: float = FPS):
    """Write ``uint8`` RGB frames ``(F, H, W, 3)`` as a looping GIF or an H.264 MP4 (by ``path``'s extension),
    atomically.

    A GIF keeps each frame for ``1000 / fps`` ms rounded to its 10 ms steps (and Pillow merges
    identical neighbours). An MP4 needs the ``imageio-ffmpeg`` package and sides that are
    multiples of 16 (:func:`~bearer_gan.sampling.grid_array` pads them).
    """
    extension = os.path.splitext(path)[1].lower()
    with atomic_path(path) as temporary:
        if extension == '.gif':
            iio.imwrite(temporary, frames, extension='.gif', duration=1000 / fps, loop=0)
        elif extension == '.mp4':
            iio.imwrite(temporary, frames, plugin='FFMPEG', fps=fps, codec='libx264', macro_block_size=16)
        else:
            raise ValueError(f'an animation is a {" or ".join(ANIMATIONS)} file, got {path!r}')


def _check(args: argparse.Namespace, parser: argparse.ArgumentParser):
    """Refuse flags that do not go together, before anything is loaded or written (one line, exit 2)."""
    if args.interpolate is None:
        if not args.out.endswith('.npy'):
            parser.error(f'--out must name a .npy file (or a .gif or .mp4 with --interpolate), got {args.out!r}')
        if args.frames is not None or args.fps is not None:
            parser.error('--frames and --fps belong to --interpolate')
        return
    extension = os.path.splitext(args.out)[1].lower()
    if extension not in ANIMATIONS:
        parser.error(f'--interpolate writes an animation: --out must name a .gif or .mp4 file, got {args.out!r}')
    if extension == '.mp4' and not _has_ffmpeg():
        parser.error("writing .mp4 needs the imageio-ffmpeg package: pip install 'bearer_gan[video]' (or write a .gif)")
    if args.n is not None or args.grid:
        parser.error('--n and --grid belong to images (.npy); --interpolate draws --interpolate K walks of --frames')
    if args.frames is not None and args.frames < 2:
        parser.error(f'--frames must be at least 2 (the two ends of each walk), got {args.frames}')


def sample(args: argparse.Namespace, parser: argparse.ArgumentParser):
    """Write ``args.n`` images of the run's generator to ``args.out`` (and a grid to ``args.grid``), or with
    ``args.interpolate`` the animation of that many latent walks."""
    _check(args, parser)
    if os.path.isdir(args.out) or (args.grid and os.path.isdir(args.grid)):
        parser.error('--out and --grid must name files, not directories')
    generator, spec = load_run(args.run, args.device)
    if args.interpolate is not None:
        return _interpolate(args, generator, spec)
    n = N if args.n is None else args.n
    labels = sample_labels(spec['num_classes'], n, args.class_, args.labels)
    for path in filter(None, (args.out, args.grid)):
        run_dir.writable_dir(os.path.dirname(os.path.abspath(path)))
    images = generate(generator, spec['latent_dim'], n, args.seed, device=args.device, labels=labels,
                      truncation=args.truncation).cpu()
    array = images.numpy().astype(np.float32)
    array = array[:, 0] if array.shape[1] == 1 else array  # (N, H, W) for one channel, else (N, C, H, W)
    np.save(args.out, array)
    print(f"wrote {n} images ({' x '.join(map(str, array.shape))} float32 in [-1, 1]) to {args.out}")
    if labels is not None:
        np.save(labels_path(args.out), labels.numpy())
        print(f'wrote their labels ({n} int64) to {labels_path(args.out)}')
    if args.grid:
        save_grid(images[:64], args.grid)
        print(f'wrote a grid of {min(n, 64)} of them to {args.grid}')


def _interpolate(args: argparse.Namespace, generator: torch.nn.Module, spec):
    """The ``--interpolate`` half of :func:`sample`: draw the walks' frames, grid each, write the animation."""
    classes = asked_classes(spec['num_classes'], args.class_, args.labels)
    run_dir.writable_dir(os.path.dirname(os.path.abspath(args.out)))
    walks, frames, fps = args.interpolate, FRAMES if args.frames is None else args.frames, args.fps or FPS
    images = walk_frames(generator, spec['latent_dim'], walks, frames, classes, args.truncation, args.seed,
                         device=args.device)
    columns = len(classes) if classes is not None and len(classes) > 1 else min(walks, 8)
    scale = -(-CELL_PIXELS // images.shape[-2])  # at least CELL_PIXELS high: whole pixels, no blur
    multiple = 16 if args.out.lower().endswith('.mp4') else 1
    grids = np.stack([grid_array(frame, nrow=columns, scale=scale, multiple=multiple) for frame in images])
    write_animation(grids, args.out, fps)
    layout = (f'{walks} walks x {len(classes)} classes' if classes is not None and len(classes) > 1
              else f'{walks} walks' + (f' of class {classes[0]}' if classes is not None else ''))
    print(f'wrote {frames} frames ({layout}, {grids.shape[2]} x {grids.shape[1]} px, {fps:g} fps) to {args.out}')
