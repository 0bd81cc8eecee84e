"""``bearer-gan sample`` and ``bearer-gan evaluate``: draw images from a trained run, and score them.

* ``sample --run RUN_DIR --n N --out FILE.npy [--grid FILE.png]`` writes N generated images as
  float32 in ``[-1, 1]``, ``(N, H, W)`` for one channel and ``(N, C, H, W)`` for more, from the
  run's ``generator.pt`` (eval mode). For a class-conditional run it also writes their labels,
  int64 ``(N,)``, beside them as ``FILE.labels.npy``: every class in turn, or only ``--class K``,
  or ``--labels 0,1,2`` repeated.
* ``evaluate --run RUN_DIR [--n 10000]`` prints FID and class coverage (scored against the run's
  data set, see :mod:`bearer_gan.evaluation`) as one line of JSON and writes them to
  ``RUN_DIR/eval.json``.
"""
import argparse
import json
import os

import numpy as np
import torch

from ..callbacks.saving import GeneratorFileError, load_generator
from ..files import write_json
from ..sampling import generate, save_grid
from .. import flags as parsing
from .. import run_folder as run_dir

__all__ = ['add_sample_arguments', 'add_evaluate_arguments', 'labels_path', 'sample_labels', 'sample', 'evaluate']


def _load(run: str, device: str):
    try:
        return load_generator(run, device)
    except (FileNotFoundError, GeneratorFileError) as error:  # not every ValueError: a bug must show its traceback
        raise parsing.UsageError(str(error))


def _add_run_arguments(parser: argparse.ArgumentParser):
    parser.add_argument('--run', required=True, type=parsing.existing_dir, help='run folder holding generator.pt')
    parser.add_argument('--seed', type=int, default=0, help='seed of the noise the images are drawn from')
    parser.add_argument('--device', type=parsing.torch_device, default='cpu')


def add_sample_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument('--n', type=parsing.positive_int, default=64, help='number of images')
    parser.add_argument('--out', required=True, help='.npy file to write')
    parser.add_argument('--grid', help='also save the first 64 images as a PNG grid')
    which = parser.add_mutually_exclusive_group()
    which.add_argument('--class', dest='class_', metavar='K', type=int,
                       help='class-conditional runs: draw only class K (default: every class in turn)')
    which.add_argument('--labels', type=_label_list, help='class-conditional runs: draw these classes in turn, e.g. 0,1,2')
    _add_run_arguments(parser)
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


def sample_labels(num_classes, n: int, class_=None, labels=None):
    """The labels ``(n,)`` to draw: ``class_`` only, ``labels`` in turn, or every class in turn; None when unconditional.

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
    return torch.tensor(asked, dtype=torch.int64).repeat((n + len(asked) - 1) // len(asked))[:n]


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
    labels = sample_labels(spec['num_classes'], args.n, args.class_, args.labels)
    for path in filter(None, (args.out, args.grid)):
        run_dir.writable_dir(os.path.dirname(os.path.abspath(path)))
    images = generate(generator, spec['latent_dim'], args.n, args.seed, device=args.device, labels=labels).cpu()
    array = images.numpy().astype(np.float32)
    array = array[:, 0] if array.shape[1] == 1 else array  # (N, H, W) for one channel, else (N, C, H, W)
    np.save(args.out, array)
    print(f"wrote {args.n} images ({' x '.join(map(str, array.shape))} float32 in [-1, 1]) to {args.out}")
    if labels is not None:
        np.save(labels_path(args.out), labels.numpy())
        print(f'wrote their labels ({args.n} int64) to {labels_path(args.out)}')
    if args.grid:
        save_grid(images[:64], args.grid)
        print(f'wrote a grid of {min(args.n, 64)} of them to {args.grid}')


def evaluate(args: argparse.Namespace, parser: argparse.ArgumentParser):
    """Score the run's generator against its own data set (:func:`~bearer_gan.evaluation.evaluate_run`); print
    the scores as one line of JSON and write them to ``eval.json``."""
    from ..evaluation import evaluate_run, read_run_config
    if args.n < 2:
        parser.error('--n must be at least 2 to estimate a covariance')
    _load(args.run, args.device)  # a missing or corrupt generator.pt: one line, exit 2
    try:
        read_run_config(args.run)
    except ValueError as error:  # an unreadable config.json
        raise parsing.UsageError(str(error))
    run_dir.writable_dir(args.run)
    scores = evaluate_run(args.run, n=args.n, device=args.device, seed=args.seed)
    write_json(os.path.join(args.run, 'eval.json'), scores)
    print(json.dumps(scores, sort_keys=True))
