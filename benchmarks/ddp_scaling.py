"""Training steps/s on the CPU with 1 process and with 2 DDP processes (torchrun, gloo), for the small MLPs.

Run from the repository root on a quiet machine::

    python benchmarks/ddp_scaling.py --out docs/_static/ddp_scaling.txt

Each cell trains the same run (bearer_gan's trial with its metrics, no output callbacks) at the same
global batch for ``--warmup`` untimed then ``--steps`` timed steps, and reports the median over
``--reps`` repetitions of steps/s and images/s (global batch x steps/s), for three set-ups,
interleaved: one process with torch's own thread count (all cores), one process with one thread,
and two processes started by ``python -m torch.distributed.run --standalone --nproc_per_node 2``,
which gives each worker one thread (``OMP_NUM_THREADS=1``) and splits the same global batch in
two, with one gradient all-reduce per network and one all-reduce of the step's values per step.
Other work on the machine slows the multi-threaded process by far more than its share. On a 2-core CPU the two processes share the cores that one process
used alone, and pay for the all-reduces, so expect them to be slower: DDP is for several GPUs or
machines, not for one small CPU. Every number is measured by this run; nothing is hard-coded.
"""
import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

import torch

import bearer_gan
from bearer_gan import distributed
from gan_bench.provenance import commit  # benchmarks/ is on the path of its scripts

MODELS = ('tutorial', 'mlp256')


def worker(args):
    """One timed run in this process (under torchrun: one rank of it); rank 0 writes steps/s to ``--result``."""
    if args.threads:
        torch.set_num_threads(args.threads)
    distributed.start('cpu')
    images = bearer_gan.load_mnist('mnist-5k')[0]
    torch.manual_seed(0)
    generator, discriminator = bearer_gan.build_models(args.model)
    trial = bearer_gan.gan_trial(generator, discriminator, bearer_gan.gan_adam(generator.parameters()),
                                 bearer_gan.gan_adam(discriminator.parameters()),
                                 latent_dim=bearer_gan.DEFAULT_LATENT_DIM[args.model], device='cpu', verbose=0)
    distributed.data_parallel(trial)
    batches = bearer_gan.image_batches(images, None, args.batch_size, rank=distributed.rank(),
                                       world_size=distributed.world_size())
    bearer_gan.run_gan(trial, batches, args.warmup)
    distributed.barrier()
    began = time.perf_counter()
    bearer_gan.run_gan(trial, batches, args.warmup + args.steps)
    distributed.barrier()
    seconds = time.perf_counter() - began
    if distributed.is_main_process():
        with open(args.result, 'w') as handle:
            json.dump({'steps_per_second': args.steps / seconds, 'threads': torch.get_num_threads(),
                       'processes': distributed.world_size()}, handle)
    distributed.stop()


#: The set-ups timed: (name, processes, threads per process; None for torch's own choice)
SETUPS = (('1 process', 1, None), ('1 process, 1 thread', 1, 1), ('2 processes', 2, 1))


def measure(model: str, batch_size: int, processes: int, threads, steps: int, warmup: int) -> dict:
    with tempfile.TemporaryDirectory() as folder:
        result = os.path.join(folder, 'result.json')
        command = [__file__, '--worker', '--model', model, '--batch-size', str(batch_size), '--steps', str(steps),
                   '--warmup', str(warmup), '--result', result] + (['--threads', str(threads)] if threads else [])
        launcher = ([sys.executable] if processes == 1 else
                    [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', str(processes)])
        done = subprocess.run(launcher + command, timeout=1800, capture_output=True, text=True)
        if done.returncode:
            sys.exit(f'ddp_scaling.py: {model} batch {batch_size} on {processes} processes failed:\n'
                     f'{done.stdout[-2000:]}{done.stderr[-2000:]}')
        with open(result) as handle:
            return json.load(handle)


def cpu_name() -> str:
    try:
        with open('/proc/cpuinfo') as handle:
            return next(line.split(':', 1)[1].strip() for line in handle if line.startswith('model name'))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def load_average() -> str:
    try:
        return ' '.join(f'{value:.2f}' for value in os.getloadavg())
    except OSError:
        return 'unknown'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch-sizes', type=int, nargs='+', default=[64, 256], help='global batch sizes')
    parser.add_argument('--steps', type=int, default=200, help='timed steps per repetition')
    parser.add_argument('--warmup', type=int, default=20, help='untimed steps before them')
    parser.add_argument('--reps', type=int, default=3, help='repetitions per cell, 1 and 2 processes interleaved')
    parser.add_argument('--out', help='also write the report to this text file')
    parser.add_argument('--worker', action='store_true', help=argparse.SUPPRESS)
    parser.add_argument('--model', choices=MODELS, default='tutorial', help=argparse.SUPPRESS)
    parser.add_argument('--batch-size', type=int, default=64, help=argparse.SUPPRESS)
    parser.add_argument('--result', help=argparse.SUPPRESS)
    parser.add_argument('--threads', type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)

    lines = [f'command: {shlex.join([sys.executable] + sys.argv)}', f'commit: {commit()}',
             f'machine: {cpu_name()}, {os.cpu_count()} cores; torch {torch.__version__}; '
             f'load average at start: {load_average()}',
             f'{args.reps} repetitions x ({args.warmup} warm-up + {args.steps} timed) steps; median steps/s '
             '(images/s); 2 processes: torchrun, gloo, 1 thread each', '']
    header = (f'{"model":<9} {"global batch":>12} ' + ' '.join(f'{name:>24}' for name, _, _ in SETUPS)
              + f' {"2 proc. / 1":>12} {"2 proc. / 1 thr.":>17}')
    rows = [header, '-' * len(header)]
    for model in MODELS:
        for batch_size in args.batch_sizes:
            rates = {name: [] for name, _, _ in SETUPS}
            for _ in range(args.reps):
                for name, processes, threads in SETUPS:
                    found = measure(model, batch_size, processes, threads, args.steps, args.warmup)
                    rates[name].append(found['steps_per_second'])
                    print(f'{model} batch {batch_size}, {name}: {found}', file=sys.stderr, flush=True)
            medians = [statistics.median(rates[name]) for name, _, _ in SETUPS]
            cells = ' '.join(f'{f"{rate:.1f} ({rate * batch_size:.0f})":>24}' for rate in medians)
            rows.append(f'{model:<9} {batch_size:>12} {cells} {medians[2] / medians[0]:>12.2f} '
                        f'{medians[2] / medians[1]:>17.2f}')
    lines += rows + ['', f'load average at the end: {load_average()}']
    report = '\n'.join(lines)
    print(report)
    if args.out:
        with open(args.out, 'w') as handle:
            handle.write(report + '\n')


if __name__ == '__main__':
    main()
