"""The GAN losses compared: each loss with and without spectral norm, per model and data set, at one step budget.

Every cell is a ``bearer-gan train`` run (the package's own steps: :mod:`bearer_gan.recipe`)
with the default configuration and only the cell's fields changed, for the same number of steps,
then scored with :func:`bearer_gan.evaluate_run` (FID and class coverage against the run's own
data set's test set, on its shipped classifier's features; conditional accuracy for conditional
runs). Each cell's final sample grid is copied beside the table, and the training speed is
the cell's steps divided by the time its trial ran (data loading and scoring excluded).

    python benchmarks/compare_losses.py                          # every cell, 3,000 steps each
    python benchmarks/compare_losses.py --steps 20 --samples 500 --datasets mnist-5k --models tutorial
    python benchmarks/compare_losses.py --targets                # the conditional MNIST target runs

Cells already trained and scored (``cell.json`` in their run folder) are reused, so an interrupted
comparison continues where it stopped; ``--rescore`` scores the saved generators again.
Results go to ``docs/_static/loss_grid.csv`` (the table), ``docs/_static/loss_grid.txt`` (the command,
the machine and its load) and ``docs/_static/img/loss_grid/`` (a grid per cell).
"""
import argparse
import csv
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Dict, List, Mapping

import torch

import bearer_gan
from bearer_gan.config import DATASET_RECIPES, RunConfig
from bearer_gan.recipe import make_batches, prepare_run, train
from bearer_gan.evaluation import score_summary
from gan_bench.provenance import commit  # benchmarks/ is on the path of its scripts

ROOT = Path(__file__).resolve().parents[1]
LOSS_NAMES = tuple(bearer_gan.LOSSES)
COLUMNS = ('data set', 'model', 'loss', 'spectral norm', 'conditional', 'steps', 'FID', 'classes covered',
           'smallest share', 'conditional accuracy', 'steps/s', 'grid')

#: The plain defaults of the fields MNIST's own recipe replaces (``--no-conditional --lr 0.0002 ...``).
PLAIN_MNIST = {name: getattr(RunConfig(), name) for name in DATASET_RECIPES['mnist']}
#: The target runs: the plain default configuration, unconditional and conditional, on MNIST (offline:
#: mnist-5k); and the conditional run cut to the unconditional one's CPU time: a conditional step took 1.10
#: times the CPU time of an unconditional one (25.4 against 23.1 ms on one core, 28 x 28 images,
#: fashion_budget.py's calibration), so 15,000 / 1.10 = 13,600 steps.
TARGETS = {'default': PLAIN_MNIST, 'default --conditional': dict(PLAIN_MNIST, conditional=True),
           'default --conditional --steps 13600': dict(PLAIN_MNIST, conditional=True, steps=13600)}


def cell_name(dataset: str, model: str, loss: str, spectral_norm: bool, conditional: bool) -> str:
    return '-'.join([dataset, model, loss] + ['sn'] * spectral_norm + ['conditional'] * conditional)


def cells(datasets, models, losses, conditional_losses) -> List[dict]:
    """Every (data set, model, loss, spectral norm) cell; after the first data set's, its conditional ones
    (first model, no spectral norm)."""
    grid = []
    for index, dataset in enumerate(datasets):
        grid += [dict(dataset=dataset, model=model, loss=loss, spectral_norm=spectral_norm, conditional=False)
                 for model in models for loss in losses for spectral_norm in (False, True)]
        if index == 0:
            grid += [dict(dataset=dataset, model=models[0], loss=loss, spectral_norm=False, conditional=True)
                     for loss in conditional_losses]
    return grid


def cell_values(cell: dict) -> dict:
    """The cell's fields on the default configuration: those a data set's own recipe replaces (Fashion-MNIST's
    conditional, learning rate and moving average) are given the defaults, ``conditional`` the cell's."""
    plain = {name: getattr(RunConfig(), name) for name in DATASET_RECIPES.get(cell['dataset'], {})}
    return {'dataset': cell['dataset'], 'model': cell['model'], 'loss': cell['loss'],
            'spectral_norm': cell['spectral_norm'], **plain, 'conditional': cell['conditional']}


def flags_of(values: Mapping) -> List[str]:
    """The ``bearer-gan train`` flags that give ``values`` (a switch's ``--no-`` form for False), for the record."""
    words = []
    for name, value in values.items():
        flag = name.replace('_', '-')
        if isinstance(value, bool):
            words.append(f'--{flag}' if value else f'--no-{flag}')
        else:
            words += [f'--{flag}', 'none' if value is None else str(value)]
    return words


def cell_config(values: Mapping, out: Path, args) -> RunConfig:
    """The run of a cell (or a target) of ``values``: ``args``' steps, batch, device and data folder, one sample
    grid at the end, into ``out``; the cell's own values (a target's ``steps``) win."""
    data_dir = args.fashion_dir if values['dataset'] == 'fashion-mnist' else args.data_dir
    run = dict(steps=args.steps, batch_size=args.batch_size, device=args.device, data_dir=data_dir,
               sample_interval=args.steps, out=str(out))
    return RunConfig.for_dataset(**dict(run, **values))


def train_and_score(name: str, values: Mapping, args) -> dict:
    """Train the run of ``values`` into ``args.out/name`` (unless it is there already), score it; its ``cell.json``."""
    out = Path(args.out) / name
    record = out / 'cell.json'
    if record.exists() and not args.rescore:
        return dict(json.loads(record.read_text()), reused=True)
    if not (record.exists() and args.rescore):
        config, checkpoint, _, data, _ = prepare_run(cell_config(values, out, args))
        batches = make_batches(data, config)
        began = time.perf_counter()
        train(config, data, batches, checkpoint)
        seconds = time.perf_counter() - began
        trained = dict(name=name, flags=flags_of(values), steps=config.steps, seconds=seconds, dataset_used=data.name)
    else:
        trained = json.loads(record.read_text())
    scores = bearer_gan.evaluate_run(str(out), n=args.samples, device=args.device)
    result = dict(trained, scores=scores, samples=args.samples)
    bearer_gan.write_json(str(record), result)
    print(f"{name}: {score_summary(scores)}; {trained['steps'] / trained['seconds']:.1f} steps/s", flush=True)
    return result


def copy_grid(name: str, args) -> str:
    """Copy the cell's last sample grid next to the table; returns its path relative to the docs."""
    frames = sorted((Path(args.out) / name / 'samples').glob('step_*.png'))
    target = Path(args.docs) / 'img' / 'loss_grid' / f'{name}.png'
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(frames[-1], target)
    return str(target.relative_to(Path(args.docs).parent))


def row(cell: dict, result: dict, grid: str) -> Dict[str, object]:
    scores = result['scores']
    shares = scores.get('class_shares')
    accuracy = scores.get('conditional_accuracy')
    return {'data set': result.get('dataset_used', cell['dataset']), 'model': cell['model'], 'loss': cell['loss'],
            'spectral norm': 'yes' if cell['spectral_norm'] else 'no',
            'conditional': 'yes' if cell['conditional'] else 'no', 'steps': result['steps'],
            'FID': 'skipped' if scores.get('fid') is None else f"{scores['fid']:.1f}",
            'classes covered': '' if shares is None else f"{scores['classes_covered']}/{len(shares)}",
            'smallest share': '' if shares is None else f'{min(shares):.1%}',
            'conditional accuracy': '' if accuracy is None else f'{accuracy:.1%}',
            'steps/s': f"{result['steps'] / result['seconds']:.1f}", 'grid': grid}


def load_average() -> str:
    return ' '.join(f'{value:.2f}' for value in os.getloadavg())


def write_outputs(rows: List[dict], log: List[str], args, name: str):
    docs = Path(args.docs)
    with open(docs / f'{name}.csv', 'w', newline='') as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    (docs / f'{name}.txt').write_text('\n'.join(log) + '\n')
    print(f"wrote {docs / f'{name}.csv'} and {docs / f'{name}.txt'}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--steps', type=int, default=None,
                        help='generator updates per cell (default: 3000; for --targets the default run\'s 15000)')
    parser.add_argument('--batch-size', type=int, default=128)
    parser.add_argument('--samples', type=int, default=10000, help='generated images scored per cell')
    parser.add_argument('--datasets', nargs='+', default=['mnist-5k', 'fashion-mnist'])
    parser.add_argument('--models', nargs='+', default=['tutorial', 'dcgan'])
    parser.add_argument('--losses', nargs='+', default=list(LOSS_NAMES), choices=LOSS_NAMES)
    parser.add_argument('--conditional-losses', nargs='*', default=list(LOSS_NAMES), choices=LOSS_NAMES,
                        help='losses also run class-conditional (first data set and model)')
    parser.add_argument('--data-dir', default='./data', help='where MNIST is (or is downloaded to)')
    parser.add_argument('--fashion-dir', default='/usr/share/datasets/fashion-mnist',
                        help="Fashion-MNIST's four files (Debian's dataset-fashion-mnist puts them here)")
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=None, help='torch threads (default: torch\'s own)')
    parser.add_argument('--out', default='runs/compare_losses', help='folder for the runs')
    parser.add_argument('--docs', default=str(ROOT / 'docs' / '_static'))
    parser.add_argument('--rescore', action='store_true', help='score the saved generators again')
    parser.add_argument('--targets', action='store_true',
                        help='instead of the table: the default run and the conditional ones on MNIST (TARGETS)')
    args = parser.parse_args(argv)
    if args.steps is None:
        args.steps = RunConfig().steps if args.targets else 3000
    if args.threads:
        torch.set_num_threads(args.threads)
    log = [f'command: {" ".join([Path(sys.executable).name] + sys.argv)}', f'commit: {commit()}',
           f'machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs; device {args.device}; '
           f'torch {torch.__version__}, {torch.get_num_threads()} threads',
           f'load average at start: {load_average()}']
    print('\n'.join(log), flush=True)
    if args.targets:
        results = [train_and_score(f'target-{name.replace(" ", "")}', dict(dataset='mnist', **values), args)
                   for name, values in TARGETS.items()]
        for name, result in zip(TARGETS, results):
            scores = result['scores']
            reused = ' (trained by an earlier run, reused)' if result.get('reused') else ''
            log.append(f"{name}: {result['steps']} steps on {result['dataset_used']} in {result['seconds']:.0f} s; "
                       f'{score_summary(scores)}{reused}')
        log.append(f'load average at end: {load_average()}')
        (Path(args.docs) / 'losses_targets.txt').write_text('\n'.join(log) + '\n')
        print('\n'.join(log[3:]))
        return
    rows = []
    for cell in cells(args.datasets, args.models, args.losses, args.conditional_losses):
        name = cell_name(**cell)
        result = train_and_score(name, cell_values(cell), args)
        rows.append(row(cell, result, copy_grid(name, args)))
        write_outputs(rows, log + [f'load average now: {load_average()}'], args, 'loss_grid')
    log.append(f'load average at end: {load_average()}')
    write_outputs(rows, log, args, 'loss_grid')


if __name__ == '__main__':
    main()
