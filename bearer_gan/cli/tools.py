"""``bearer-gan evaluate``, and what it shares with ``bearer-gan sample``: the run folder's generator.

* ``evaluate --run RUN_DIR [--n 10000]`` prints FID and class coverage (scored against the run's
  data set, see :mod:`bearer_gan.evaluation`) as one line of JSON and writes them to
  ``RUN_DIR/eval.json``.
* :func:`load_run` and :func:`add_run_arguments` are the run-reading half of both commands;
  ``sample`` (images, latent walks, truncation) is :mod:`bearer_gan.cli.sample`.
"""
import argparse
import json
import os

from ..callbacks.saving import GeneratorFileError, load_generator
from ..files import write_json
from .. import flags as parsing
from .. import run_folder as run_dir

__all__ = ['load_run', 'add_run_arguments', 'add_evaluate_arguments', 'evaluate']


def load_run(run: str, device: str):
    """``(generator, spec)`` of the run folder (:func:`~bearer_gan.callbacks.saving.load_generator`), or a
    :class:`~bearer_gan.flags.UsageError` (one line, exit 2) when it has no loadable ``generator.pt``."""
    try:
        return load_generator(run, device)
    except (FileNotFoundError, GeneratorFileError) as error:  # not every ValueError: a bug must show its traceback
        raise parsing.UsageError(str(error))


def add_run_arguments(parser: argparse.ArgumentParser):
    parser.add_argument('--run', required=True, type=parsing.existing_dir, help='run folder holding generator.pt')
    parser.add_argument('--seed', type=int, default=0, help='seed of the noise the images are drawn from')
    parser.add_argument('--device', type=parsing.torch_device, default='cpu')


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument('--n', type=parsing.positive_int, default=10000, help='number of generated images to score')
    add_run_arguments(parser)
    return parser


def evaluate(args: argparse.Namespace, parser: argparse.ArgumentParser):
    """Score the run's generator against its own data set (:func:`~bearer_gan.evaluation.evaluate_run`); print
    the scores as one line of JSON and write them to ``eval.json``."""
    from ..evaluation import evaluate_run, read_run_config
    if args.n < 2:
        parser.error('--n must be at least 2 to estimate a covariance')
    load_run(args.run, args.device)  # a missing or corrupt generator.pt: one line, exit 2
    try:
        read_run_config(args.run)
    except ValueError as error:  # an unreadable config.json
        raise parsing.UsageError(str(error))
    run_dir.writable_dir(args.run)
    scores = evaluate_run(args.run, n=args.n, device=args.device, seed=args.seed)
    write_json(os.path.join(args.run, 'eval.json'), scores)
    print(json.dumps(scores, sort_keys=True))
