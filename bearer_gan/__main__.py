"""``python -m bearer_gan``: draw samples from a trained run, and score them.

* ``sample --run RUN_DIR --n N --out FILE.npy [--grid FILE.png]`` writes N generated images as
  float32 ``N x 28 x 28`` in ``[-1, 1]`` from the run's ``generator.pt`` (eval mode).
* ``evaluate --run RUN_DIR [--n 10000]`` prints FID and class coverage (scored against the run's
  data set, see :mod:`bearer_gan.evaluation`) as one line of JSON and writes them to
  ``RUN_DIR/eval.json``.
"""
import json
import os

import numpy as np

from . import cli
from .callbacks import generate, load_generator, save_grid
from .files import write_json

__all__ = ['main']


def _load(run_dir: str, device: str):
    try:
        return load_generator(run_dir, device)
    except (FileNotFoundError, ValueError) as error:
        raise cli.UsageError(str(error))


def _sample(args):
    generator, latent_dim, _ = _load(args.run, args.device)
    for path in filter(None, (args.out, args.grid)):
        cli.writable_dir(os.path.dirname(os.path.abspath(path)))
    images = generate(generator, latent_dim, args.n, args.seed, device=args.device).cpu()
    np.save(args.out, images.squeeze(1).numpy().astype(np.float32))
    print(f'wrote {args.n} images ({args.n} x 28 x 28 float32 in [-1, 1]) to {args.out}')
    if args.grid:
        save_grid(images[:64], args.grid)
        print(f'wrote a grid of {min(args.n, 64)} of them to {args.grid}')


def _evaluate(args):
    from .evaluation import evaluate_run, read_run_config
    _load(args.run, args.device)  # a missing or corrupt generator.pt or config.json: one line, exit 2
    try:
        read_run_config(args.run)
    except ValueError as error:
        raise cli.UsageError(str(error))
    cli.writable_dir(args.run)
    scores = evaluate_run(args.run, n=args.n, device=args.device, seed=args.seed)  # the scorer follows config.json
    write_json(os.path.join(args.run, 'eval.json'), scores)
    print(json.dumps(scores, sort_keys=True))


def main(argv=None):
    parser = cli.ArgumentParser(prog='python -m bearer_gan', description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest='command', required=True)
    sample = commands.add_parser('sample', help='write generated images from a trained run to .npy')
    sample.add_argument('--n', type=cli.positive_int, default=64, help='number of images')
    sample.add_argument('--out', required=True, help='.npy file to write')
    sample.add_argument('--grid', help='also save the first 64 images as a PNG grid')
    evaluate = commands.add_parser('evaluate', help="score a trained run's generator: FID and class coverage")
    evaluate.add_argument('--n', type=cli.positive_int, default=10000, help='number of generated images to score')
    for command in (sample, evaluate):
        command.add_argument('--run', required=True, type=cli.existing_dir, help='run folder holding generator.pt')
        command.add_argument('--seed', type=int, default=0, help='seed of the noise the images are drawn from')
        command.add_argument('--device', type=cli.torch_device, default='cpu')
    args = parser.parse_args(argv)
    if args.command == 'sample':
        if not args.out.endswith('.npy'):
            parser.error(f'--out must name a .npy file, got {args.out!r}')
        if os.path.isdir(args.out) or (args.grid and os.path.isdir(args.grid)):
            parser.error('--out and --grid must name files, not directories')
    elif args.n < 2:
        parser.error('--n must be at least 2 to estimate a covariance')
    try:
        _sample(args) if args.command == 'sample' else _evaluate(args)
    except cli.UsageError as error:
        cli.fail(parser.prog, error)


if __name__ == '__main__':
    main()
