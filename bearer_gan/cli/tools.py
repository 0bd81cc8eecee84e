"""``bearer-gan sample`` and ``bearer-gan evaluate``: draw images from a trained run, and score them.

* ``sample --run RUN_DIR --n N --out FILE.npy [--grid FILE.png]`` writes N generated images as
  float32 in ``[-1, 1]``, ``(N, H, W)`` for one channel and ``(N, C, H, W)`` for more, from the
  run's ``generator.pt`` (eval mode).
* ``evaluate --run RUN_DIR [--n 10000]`` prints FID and class coverage as one line of JSON and
  writes them to ``RUN_DIR/eval.json``.
"""
import argparse
import json
import os

import numpy as np

from ..callbacks import load_generator
from ..files import write_json
from ..sampling import generate, save_grid
from . import parsing, run_dir

__all__ = ['add_sample_arguments', 'add_evaluate_arguments', 'sample', 'evaluate']


def _load(run: str, device: str):
    try:
        return load_generator(run, device)
    except (FileNotFoundError, ValueError) as error:
        raise parsing.UsageError(str(error))


def _add_run_arguments(parser: argparse.ArgumentParser):
    parser.add_argument('--run', required=True, type=parsing.existing_dir, help='run folder holding generator.pt')
    parser.add_argument('--seed', type=int, default=0, help='seed of the noise the images are drawn from')
    parser.add_argument('--device', type=parsing.torch_device, default='cpu')


def add_sample_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument('--n', type=parsing.positive_int, default=64, help='number of images')
    parser.add_argument('--out', required=True, help='.npy file to write')
    parser.add_argument('--grid', help='also save the first 64 images as a PNG grid')
    _add_run_arguments(parser)
    return parser


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument('--n', type=parsing.positive_int, default=10000, help='number of generated images to score')
    _add_run_arguments(parser)
    return parser


def sample(args: argparse.Namespace, parser: argparse.ArgumentParser):
    """Write ``args.n`` images of the run's generator to ``args.out`` (and a grid to ``args.grid``)."""
    if not args.out.endswith('.npy'):
        parser.error(f'--out must name a .npy file, got {args.out!r}')
    if os.path.isdir(args.out) or (args.grid and os.path.isdir(args.grid)):
        parser.error('--out and --grid must name files, not directories')
    generator, spec = _load(args.run, args.device)
    for path in filter(None, (args.out, args.grid)):
        run_dir.writable_dir(os.path.dirname(os.path.abspath(path)))
    images = generate(generator, spec['latent_dim'], args.n, args.seed, device=args.device).cpu()
    array = images.numpy().astype(np.float32)
    array = array[:, 0] if array.shape[1] == 1 else array  # (N, H, W) for one channel, else (N, C, H, W)
    np.save(args.out, array)
    print(f"wrote {args.n} images ({' x '.join(map(str, array.shape))} float32 in [-1, 1]) to {args.out}")
    if args.grid:
        save_grid(images[:64], args.grid)
        print(f'wrote a grid of {min(args.n, 64)} of them to {args.grid}')


def evaluate(args: argparse.Namespace, parser: argparse.ArgumentParser):
    """Score the run's generator; print the scores as one line of JSON and write them to ``eval.json``."""
    from ..evaluation import evaluate_generator
    if args.n < 2:
        parser.error('--n must be at least 2 to estimate a covariance')
    generator, spec = _load(args.run, args.device)
    run_dir.writable_dir(args.run)
    scores = evaluate_generator(generator, spec['latent_dim'], n=args.n, device=args.device, seed=args.seed)
    scores = {'model': spec['model'], 'latent_dim': spec['latent_dim'], **scores}  # as evaluate_run reports them
    write_json(os.path.join(args.run, 'eval.json'), scores)
    print(json.dumps(scores, sort_keys=True))
