"""The measurement protocol behind every quality comparison in the docs: equal compute, several seeds, one file.

A comparison is a set of recipes (:class:`Recipe`: the :class:`~bearer_gan.RunConfig` fields each sets).
:func:`measure` runs all of them in one invocation:

1. **Calibration.** Every recipe trains a few short runs single-threaded, the recipes taking turns so
   that each sees the load of the same minutes, and its CPU seconds per step is the median over those
   steps (:func:`cpu_seconds_per_step`). CPU time, unlike wall-clock, barely depends on what else the
   machine runs, and a recipe that costs more per step (a larger model, augmentation) is charged for it.
2. **Equal budget.** Each recipe trains ``budget / (its CPU seconds per step)`` steps: the same CPU
   time of one core for every recipe, whatever the number of threads the runs then use.
3. **Seeds.** Every recipe trains with each seed (3 by default) through the run builder
   (:mod:`bearer_gan.recipe`, exactly what ``bearer-gan train`` runs), and its generator is scored
   on 10,000 samples as ``bearer-gan evaluate`` scores it (:func:`bearer_gan.evaluate_run`).
   ``jobs`` runs that many at once, each single-threaded in its own process: the steps are fixed
   by the calibration, so this shortens the wall-clock without changing what a run trains.
4. **One file.** :func:`write_report` writes ``NAME.txt`` (the table: the median over seeds and the
   range) and ``NAME.json`` (every run) under ``docs/_static``, headed by the command, the commit, the
   machine and its load (:func:`gan_bench.provenance.header`), and a sample grid of every recipe's
   first seed under ``docs/_static/img/NAME/``.

Why not a wall-clock budget: on a 2-core machine a second process halves every step, and the docs'
figures must be reproducible on another machine. A CPU-time budget is, up to the noise of the
calibration.
"""
import multiprocessing
import os
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Sequence

import torch

from bearer_gan import RunConfig, evaluate_run, load_generator
from bearer_gan.files import write_json
from bearer_gan.recipe import make_batches, prepare_run, train

from .budget import CpuClock, draw_grid
from .machine import load_average
from .provenance import commit, header

__all__ = ['Recipe', 'recipe_config', 'cpu_seconds_per_step', 'train_and_score', 'summarize', 'measure',
           'write_report', 'SCORES']

#: What each run reports, from :func:`bearer_gan.evaluate_run`'s dict; the table shows the median and range of each.
SCORES = ('fid', 'kid', 'precision', 'recall', 'density', 'coverage', 'classes_covered', 'smallest_share')


@dataclass(frozen=True)
class Recipe:
    """One row of a comparison: a name and the :class:`~bearer_gan.RunConfig` fields it sets (the data set
    included); every other field is the data set's own recipe (``RunConfig.for_dataset``) or the default."""
    name: str
    values: Mapping[str, object] = field(default_factory=dict)


def recipe_config(recipe: Recipe, out: str, steps: int, seed: int) -> RunConfig:
    """The CPU run of ``recipe`` for ``steps`` steps with ``seed`` into ``out``."""
    values = dict(recipe.values)
    dataset = values.pop('dataset', 'mnist-5k')
    return RunConfig.for_dataset(dataset, **dict(values, out=out, steps=steps, seed=seed, device='cpu'))


def cpu_seconds_per_step(recipes: Sequence[Recipe], steps: int = 150, rounds: int = 3, warm: int = 20
                         ) -> Dict[str, float]:
    """Each recipe's single-threaded CPU seconds per training step: the median over ``rounds`` runs of
    ``steps`` steps each (the first ``warm`` of a run left out), the recipes taking turns."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    clocks = {recipe.name: CpuClock(warm=warm) for recipe in recipes}
    try:
        with tempfile.TemporaryDirectory() as folder:
            for turn in range(rounds):
                for recipe in recipes:
                    out = os.path.join(folder, f'{recipe.name}-{turn}')
                    prepared = prepare_run(recipe_config(recipe, out, steps, 0))
                    train(prepared.config, prepared.data, make_batches(prepared.data, prepared.config),
                          callbacks=[clocks[recipe.name]], quiet=True, spec=prepared.spec)
    finally:
        torch.set_num_threads(threads)
    return {name: statistics.median(clock.seconds) for name, clock in clocks.items()}


def train_and_score(recipe: Recipe, seed: int, steps: int, out: str, samples: int = 10000) -> dict:
    """Train ``recipe`` with ``seed`` for ``steps`` into ``out`` and score its generator; returns its row."""
    prepared = prepare_run(recipe_config(recipe, out, steps, seed))
    started = time.perf_counter()
    train(prepared.config, prepared.data, make_batches(prepared.data, prepared.config), quiet=True,
          spec=prepared.spec)
    seconds = time.perf_counter() - started
    row = {'recipe': recipe.name, 'seed': seed, 'steps': steps, 'seconds': round(seconds, 1), 'out': out}
    return dict(row, **score(out, samples))


def score(out: str, samples: int = 10000) -> dict:
    """The scores of a row (:data:`SCORES`) for the run in ``out``, on ``samples`` generated images; the
    reason, when the real features that precision, recall, KID and coverage need were not found."""
    scores = evaluate_run(out, n=samples, device='cpu')
    row = {name: scores.get(name) for name in SCORES if name != 'smallest_share'}
    row['smallest_share'] = min(scores['class_shares']) if scores.get('class_shares') else None
    if scores.get('reference_features_skipped'):
        row['reference_features_skipped'] = scores['reference_features_skipped']
    return row


def rescore(result: dict, samples: int) -> dict:
    """``result`` (what :func:`measure` returned, as its report's JSON holds it) with every run scored again on
    ``samples`` images: the same generators, steps and calibration. For a comparison scored where the real
    features were missing (the MNIST test set), once they are found."""
    rows = []
    for row in result['runs']:
        kept = {key: value for key, value in row.items() if key != 'reference_features_skipped'}
        rows.append(dict(kept, **score(row['out'], samples)))
        _print_row(rows[-1])
    return dict(result, samples=samples, runs=rows, summary=summarize(rows), rescored_at=commit())


def summarize(rows: Sequence[Mapping[str, object]]) -> Dict[str, Dict[str, object]]:
    """Per recipe, in order of first appearance: the median, min and max of each score over its seeds."""
    summary: Dict[str, Dict[str, object]] = {}
    for name in dict.fromkeys(row['recipe'] for row in rows):
        own = [row for row in rows if row['recipe'] == name]
        summary[name] = {'seeds': [row['seed'] for row in own], 'steps': own[0]['steps']}
        for score in SCORES:
            values = [row[score] for row in own if row.get(score) is not None]
            if values:
                summary[name][score] = {'median': statistics.median(values), 'min': min(values), 'max': max(values)}
    return summary


def _print_row(row: Mapping[str, object]) -> None:
    skipped = row.get('reference_features_skipped')
    print(f"{row['recipe']} seed {row['seed']}: {row['steps']} steps in {row['seconds']:.0f} s, FID {row['fid']:.2f}, "
          + (f'precision, recall and coverage skipped: {skipped}' if skipped else
             f"precision {row['precision']}, recall {row['recall']}"), flush=True)


def _run_all(work: Sequence[tuple], jobs: int) -> List[dict]:
    """:func:`train_and_score` of every argument tuple, ``jobs`` at a time (each in a fresh single-threaded
    process when more than one); the rows in the order of ``work``."""
    if jobs == 1:
        rows = []
        for arguments in work:
            rows.append(train_and_score(*arguments))
            _print_row(rows[-1])
        return rows
    # spawn: a forked child would inherit the parent's torch thread pool; the children get the parent's sys.path
    with ProcessPoolExecutor(jobs, multiprocessing.get_context('spawn'), initializer=torch.set_num_threads,
                             initargs=(1,)) as pool:
        futures = [pool.submit(train_and_score, *arguments) for arguments in work]
        try:
            for future in futures:
                _print_row(future.result())
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        return [future.result() for future in futures]


def measure(recipes: Sequence[Recipe], budget: float, seeds: Sequence[int], runs: str, samples: int = 10000,
            calibration_steps: int = 150, jobs: int = 1) -> dict:
    """Calibrate every recipe, then train and score each with every seed on the equal CPU ``budget``
    (seconds of one core), ``jobs`` runs at a time; returns the calibration, the runs' rows and their summary."""
    load_before, measured_at = load_average(), commit()
    per_step = cpu_seconds_per_step(recipes, calibration_steps)
    steps = {name: max(1, round(budget / seconds)) for name, seconds in per_step.items()}
    for name, seconds in per_step.items():
        print(f'  {name}: {seconds * 1000:.2f} ms CPU per step -> {steps[name]} steps', flush=True)
    # seeds outermost: an interrupted comparison has every recipe at the first seeds
    work = [(recipe, seed, steps[recipe.name], os.path.join(runs, recipe.name, f'seed_{seed}'), samples)
            for seed in seeds for recipe in recipes]
    rows = _run_all(work, jobs)
    return {'budget_cpu_seconds': budget, 'seeds': list(seeds), 'samples': samples, 'jobs': jobs,
            'threads': 1 if jobs > 1 else torch.get_num_threads(),
            'load_before': load_before, 'measured_at': measured_at,
            'recipes': {recipe.name: dict(recipe.values) for recipe in recipes},
            'cpu_ms_per_step': {name: round(seconds * 1000, 3) for name, seconds in per_step.items()},
            'steps': steps, 'runs': rows, 'summary': summarize(rows)}


def _cell(summary: Mapping[str, object], score: str, digits: int) -> str:
    if score not in summary:
        return '-'
    values = summary[score]
    return f"{values['median']:.{digits}f} ({values['min']:.{digits}f}-{values['max']:.{digits}f})"


def write_report(result: dict, stem: str, title: str) -> List[str]:
    """Write ``stem.txt`` (headed table) and ``stem.json`` and a grid per recipe (first seed) under
    ``img/NAME/`` beside them; returns the text's lines."""
    head = header('cpu', result['load_before'], result['measured_at'])
    os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
    width = max(28, *(len(name) + 1 for name in result['summary']))
    at_once = f", {result['jobs']} runs at once" if result.get('jobs', 1) > 1 else ''
    rescored = [f"scored again (--rescore) at commit {result['rescored_at']}; trained at the commit above"
                ] if result.get('rescored_at') else []
    lines = head + rescored + [f"threads: {result['threads']}{at_once}", '', title, '',
                    f"Budget: {result['budget_cpu_seconds']:g} s of one core's CPU time per run; steps = budget / the "
                    f"recipe's CPU seconds per step, measured single-threaded in this invocation. Seeds "
                    f"{', '.join(map(str, result['seeds']))}; scores on {result['samples']:,} samples. Each cell: median "
                    f"over the seeds (min-max).", '',
                    f"{'recipe':<{width}} {'ms/step':>8} {'steps':>6}  {'FID':<22} {'precision':<20} {'recall':<20} "
                    f"{'coverage':<20} {'smallest share':<20}"]
    for name, summary in result['summary'].items():
        lines.append(f"{name:<{width}} {result['cpu_ms_per_step'][name]:>8.2f} {summary['steps']:>6}  "
                     f"{_cell(summary, 'fid', 1):<22} {_cell(summary, 'precision', 3):<20} "
                     f"{_cell(summary, 'recall', 3):<20} {_cell(summary, 'coverage', 3):<20} "
                     f"{_cell(summary, 'smallest_share', 3):<20}")
    lines += ['', 'Recipes (RunConfig fields over the data set\'s own recipe):']
    lines += [f'  {name}: {values}' for name, values in result['recipes'].items()]
    with open(stem + '.txt', 'w') as handle:
        handle.write('\n'.join(lines) + '\n')
    write_json(stem + '.json', dict(result, header=head))
    images = os.path.join(os.path.dirname(stem), 'img', os.path.basename(stem))
    os.makedirs(images, exist_ok=True)
    for name in result['summary']:
        first = next(row for row in result['runs'] if row['recipe'] == name)
        generator, spec = load_generator(first['out'])
        draw_grid(generator, spec, os.path.join(images, f'{name}.png'))
    return lines
