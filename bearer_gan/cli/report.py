"""``bearer-gan report``: a run's page, or a page comparing runs.

* ``report RUN [RUN ...]`` (re)writes each run's ``report.html`` from what its folder holds now (training
  writes it too; this brings an older run's folder, or one still training, up to date).
* ``report RUN [RUN ...] --out compare.html`` writes one page comparing the runs instead
  (:func:`~bearer_gan.report.compare.compare_runs`).
"""
import argparse
import os

from .. import flags as parsing
from ..report.compare import compare_runs
from ..report.page import write_report
from ..run_folder import writable_dir

__all__ = ['add_report_arguments', 'report']


def add_report_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument('runs', nargs='+', metavar='RUN', type=parsing.existing_dir, help='run folders')
    parser.add_argument('--out', metavar='FILE.html',
                        help="write a page comparing the runs here (default: rewrite each run's own report.html)")
    parser.add_argument('--seed', type=int, default=0, help='seed of the noise every compared generator draws from')
    parser.add_argument('--device', type=parsing.torch_device, default='cpu')
    return parser


def _check_run(path: str) -> None:
    if not any(os.path.isfile(os.path.join(path, name)) for name in ('config.json', 'history.csv', 'generator.pt')):
        raise parsing.UsageError(f'{path!r} holds no bearer_gan run (no config.json, history.csv or generator.pt)')


def report(args: argparse.Namespace, parser: argparse.ArgumentParser):
    """Write the pages; every run is checked before anything is written."""
    for path in args.runs:
        _check_run(path)
    if args.out is None:
        for path in args.runs:
            writable_dir(path)
        for path in args.runs:
            print(f'wrote {write_report(path)}')
        return
    if not args.out.endswith('.html') or os.path.isdir(args.out):
        raise parsing.UsageError(f'--out must name an .html file, got {args.out!r}')
    writable_dir(os.path.dirname(os.path.abspath(args.out)))
    print(f'wrote {compare_runs(args.runs, args.out, seed=args.seed, device=args.device)}')
