"""Fashion-MNIST in ten minutes of a CPU: which recipe trains the best generator in a fixed training budget.

A recipe is a set of ``bearer-gan train`` flags. Each trains on the 60,000 Fashion-MNIST training
images until ``--budget-seconds`` of training wall-clock are spent (loading the data, building the
networks and scoring are not counted; the sample grids and checkpoints that every run writes are),
through the same steps as ``bearer-gan train`` (:mod:`bearer_gan.recipe`). Its generator is then
scored on 10,000 samples with the project's Fashion-MNIST scorer (FID on the shipped classifier's
features against the test set, class coverage, smallest class share) and drawn as a 10 x 10 grid.
Along the way it is scored at ``--curve`` points, with the clock paused, for a plot of FID over the budget.

Writes ``docs/_static/fashion_budget.csv`` and ``fashion_budget.inc`` (the table, as CSV and as a ``csv-table``
to include), ``docs/_static/img/fashion/`` (a grid per recipe and ``fid_curve.png``). Each run keeps its folder in
``runs/fashion-budget``, with ``budget.json`` holding its row, so the table can be rebuilt with some recipes rerun.
The recipe choice among the MLPs is measured under the protocol instead: ``benchmarks/protocol.py fashion``.

    python benchmarks/fashion_budget.py                          # every recipe, 600 s each (~45 min quiet)
    python benchmarks/fashion_budget.py --recipes dcgan resnet   # rerun two; the table keeps the others' rows
    python benchmarks/fashion_budget.py --recipe mine "--model dcgan --lr 5e-4" --docs /tmp/mine   # your own
    python benchmarks/fashion_budget.py --recipes mlp --seed 1 --runs runs/fashion-seed1 --docs /tmp/seed1   # another seed

The clock is only fair on a quiet machine. On a busy one, ``--calibrate S`` replaces it with a step
count per recipe: ``budget x S x r``, where ``S`` is the ``mlp`` recipe's steps per second on the
quiet machine and ``r`` a recipe's speed relative to ``mlp``, measured as single-threaded CPU time
per step in short alternating runs (CPU time, unlike wall-clock, barely depends on what else runs).
Such a table is provisional: rerun without ``--calibrate`` on a quiet machine to publish. ``--cpu-budget``
makes the budget one core's CPU time instead: each recipe trains ``budget / (its CPU seconds per step)`` steps,
both measured single-threaded as above, which any machine reproduces up to the noise of that measurement.
"""
import argparse
import csv
import functools
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple

import torch

import bearer_gan
from bearer_gan import flags, keys, models
from bearer_gan.config import DATASET_RECIPES, ConfigError, RunConfig, flag_fields
from bearer_gan.evaluation import scorer_for
from bearer_gan.files import atomic_path, write_json
from bearer_gan.recipe import make_batches, prepare_run, train
from gan_bench.budget import Budget, CpuClock, draw_grid, scores_of  # benchmarks/ is on the path of its scripts

ROOT = Path(__file__).resolve().parents[1]
DATASET = 'fashion-mnist'
#: The default run's values (``RunConfig()``, MNIST's) of the fields the recipes change and of those
#: Fashion-MNIST's own recipe sets (``bearer_gan.config.DATASET_RECIPES``): a recipe that gives these
#: trains MNIST's settings, whatever Fashion-MNIST's own recipe is.
PLAIN = {name: getattr(RunConfig(), name) for name in ('model', 'batch_size', 'precision', *DATASET_RECIPES[DATASET])}

# docs: recipes
#: The recipes, as the values of the run's fields (:class:`bearer_gan.RunConfig`, the training flags) each
#: gives; a field a recipe leaves out takes Fashion-MNIST's own recipe (``DATASET_RECIPES``) or the
#: default, ``steps`` comes from the budget.
RECIPES = {
    # MNIST's defaults: the torchbearer tutorial's MLPs, Adam 2e-4 / beta1 0.5, batch 128,
    # one-sided label smoothing 0.9, samples from a moving average (0.999) of the generator.
    'mlp': dict(PLAIN),
    # The same under bfloat16 autocast: more steps in the budget on a CPU with bfloat16 instructions.
    'mlp-bf16': dict(PLAIN, precision='bf16'),
    # ... with both learning rates decayed linearly to 0 over the steps.
    'mlp-bf16-linear': dict(PLAIN, precision='bf16', lr_schedule='linear'),
    # The package's DCGAN (width 32) with the same optimiser and batch: what --model dcgan trains.
    'dcgan': dict(PLAIN, model='dcgan'),
    # The DCGAN under bfloat16 autocast, in which its convolutions run about 1.7x as fast on this CPU,
    # at batch 128 and at batch 64 (twice the steps).
    'dcgan-bf16': dict(PLAIN, model='dcgan', precision='bf16'),
    'dcgan-b64-bf16': dict(PLAIN, model='dcgan', batch_size=64, precision='bf16'),
    # The SNGAN ResNet with its spectral-normalised discriminator, at width 32: the package's 64
    # makes about half as many steps in the budget. Batch 64 as in SNGAN; bf16 autocast.
    'resnet': dict(PLAIN, model='resnet32-sn', batch_size=64, precision='bf16'),
    # The MLPs with the Wasserstein loss and gradient penalty, the best start at 1,000 steps on
    # Fashion-MNIST in benchmarks/compare_losses.py; bf16 autocast.
    'mlp-wgan-gp-bf16': dict(PLAIN, loss='wgan-gp', precision='bf16'),
    # The MLPs class-conditional (--conditional: G(z, y), projection D(x, y)) on the data set's
    # labels, scored with balanced labels. In fp32 and under bf16 autocast.
    'mlp-conditional': dict(PLAIN, conditional=True),
    'mlp-conditional-bf16': dict(PLAIN, conditional=True, precision='bf16'),
    # ... at a learning rate of 5e-4, with samples from a ten times longer moving average of the
    # generator (0.9999): Fashion-MNIST's own recipe (DATASET_RECIPES).
    'mlp-conditional-lr5e-4-ema0.9999': dict(PLAIN, conditional=True, lr=5e-4, ema_decay=0.9999),
}
# docs: end recipes


def _resnet32_sn_discriminator(image_shape):
    return models.apply_spectral_norm(models.ResNetDiscriminator(image_shape, width=32))


#: Pairs the recipes use that the package does not register under a name of its own:
#: ``name -> (generator_factory, discriminator_factory, latent_dim, description)``.
BENCHMARK_MODELS = {
    'resnet32-sn': (functools.partial(models.ResNetGenerator, width=32), _resnet32_sn_discriminator, 128,
                    'the SNGAN ResNet at width 32, spectral norm in the discriminator'),
}

COLUMNS = ('recipe', 'flags', 'steps', 'training (s)', 'steps/s', 'FID', 'classes covered', 'smallest class share')

#: The fields a table's flags show, with their defaults as declared (``lr_g`` None, not the ``lr`` it resolves
#: to): every flag but where and how long a run trains, the model first.
SHOWN = {spec.name: spec.default for spec in sorted(flag_fields(), key=lambda spec: spec.name != 'model')
         if spec.name not in ('steps', 'dataset', 'data_dir', 'out', 'seed', 'device')}


def register_benchmark_models():
    for name, (generator, discriminator, latent_dim, description) in BENCHMARK_MODELS.items():
        models.register_model(name, generator, discriminator, latent_dim, check_shape=models.conv_plan,
                              description=description, replace=True)


def flag_text(name: str, value) -> str:
    """A field's value as its training flag: ``--lr 0.0005``, ``--conditional``, ``--no-conditional``."""
    flag = '--' + name.replace('_', '-')
    return (flag if value else f'--no-{flag[2:]}') if isinstance(value, bool) else f'{flag} {value}'


#: What ``bearer-gan train --dataset fashion-mnist`` gives each shown field when no flag does: its declared default,
#: or Fashion-MNIST's own recipe (``DATASET_RECIPES``).
ON_DATASET = dict(SHOWN, **{name: value for name, value in DATASET_RECIPES[DATASET].items() if name in SHOWN})


def shown_flags(config: Mapping) -> str:
    """The complete flags that, after ``bearer-gan train --dataset fashion-mnist``, train the run of ``config`` (a
    run's ``config.json``, :meth:`RunConfig.to_dict`): its values that differ from :data:`ON_DATASET`, so that a
    row copied from the table trains that row's recipe. Older runs lack newer fields, which count as their
    declared defaults."""
    values = {name: config.get(name, default) for name, default in SHOWN.items()}
    return ' '.join(flag_text(name, values[name]) for name, given in ON_DATASET.items()
                    if values[name] != given) or "(Fashion-MNIST's defaults)"


def recipe_config(values: Mapping, out: str, data_dir: str, steps: int) -> RunConfig:
    """A recipe's run on Fashion-MNIST on the CPU: ``values`` (which win) on Fashion-MNIST's own recipe."""
    return RunConfig.for_dataset(**dict(dict(dataset=DATASET, out=out, data_dir=data_dir, steps=steps, device='cpu'),
                                        **values))


def given_values(text: str) -> dict:
    """The fields that ``bearer-gan train`` flags given as text (``--recipe NAME FLAGS``) set, and only those."""
    parser = flags.add_run_flags(flags.ArgumentParser(prog='fashion_budget.py --recipe'))
    return vars(parser.parse_args(shlex.split(text)))


def measure_speeds(recipes: Dict[str, dict], data_dir: str, steps: int = 200, rounds: int = 3
                   ) -> Tuple[Dict[str, float], Dict[str, float]]:
    """Each recipe's speed relative to ``mlp``, and its single-threaded CPU seconds per step.

    Every recipe trains ``steps`` steps, ``rounds`` times, the recipes taking turns so that each
    sees the machine's load of the same minutes; a recipe's time per step is the median over all
    its steps (so that a burst of contention does not count), the first 20 of each run left out.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    names = ['mlp'] + [name for name in recipes if name != 'mlp']
    clocks = {name: CpuClock(warm=20) for name in names}
    try:
        with tempfile.TemporaryDirectory() as folder:
            for _ in range(rounds):
                for name in names:
                    values = recipes[name] if name in recipes else RECIPES['mlp']
                    config, _, _, data, _ = prepare_run(recipe_config(values, folder, data_dir, steps))
                    train(config, data, make_batches(data, config), callbacks=[clocks[name]])
    finally:
        torch.set_num_threads(threads)
    per_step = {name: statistics.median(clock.seconds) for name, clock in clocks.items()}
    for name in names:
        print(f'  {name}: {per_step[name] * 1000:.1f} ms CPU per step (median of {len(clocks[name].seconds)})')
    return {name: per_step['mlp'] / per_step[name] for name in names}, per_step


def run_recipe(name: str, values: Mapping, options, steps: Optional[int]) -> dict:
    """Train one recipe in its budget and score it; returns its row (also kept in ``budget.json``).

    Its grid is drawn with every other recipe's by :func:`write_outputs`, from the saved generator."""
    out = os.path.join(options.runs, name.replace(' ', '-'))
    config, _, _, data, _ = prepare_run(recipe_config(values, out, options.data_dir, steps or 10 ** 9))
    batches = make_batches(data, config)
    scorer = scorer_for(DATASET, 'cpu')
    budget = Budget(options.budget_seconds, steps, options.curve,
                    lambda state: scores_of(bearer_gan.sampling_generator(state), state[keys.LATENT_DIM], scorer,
                                            state.get(keys.NUM_CLASSES)))
    print(f'{name}: {shown_flags(config.to_dict())}, '
          + (f'{steps} steps' if steps else f'{options.budget_seconds:g} s'), flush=True)
    train(config, data, batches, callbacks=[budget])
    generator, spec = bearer_gan.load_generator(out)
    final = scores_of(generator, spec['latent_dim'], scorer, spec.get('num_classes'))
    done = budget.step
    curve = budget.curve + [dict(step=done, seconds=round(budget.elapsed, 1), **final)]
    seconds = options.budget_seconds if steps else budget.elapsed  # a step count stands in for the budget
    row = {'recipe': name, 'steps': done,  # 'flags' are filled in by write_outputs, from the config
           'training (s)': round(seconds), 'steps/s': round(done / seconds, 1),
           'FID': f"{final['fid']:.1f}", 'classes covered': f"{final['classes_covered']}/10",
           'smallest class share': f"{final['smallest_share']:.1%}"}
    clock = 'cpu' if options.cpu_budget else 'steps' if steps else 'wall-clock'
    result = dict(row=row, curve=curve, config=config.to_dict(), clock=clock,
                  wall_seconds=round(budget.elapsed, 1),
                  budget_seconds=options.budget_seconds, threads=torch.get_num_threads(), torch=torch.__version__,
                  machine=machine(), load_average=os.getloadavg(),
                  calibration=dict(mlp_steps_per_s=options.calibrate, relative_speed=options.ratios[name])
                  if name in options.ratios else None)
    write_json(os.path.join(out, 'budget.json'), result)
    print(f"{name}: {done} steps in {budget.elapsed:.0f} s, FID {final['fid']:.1f}, "
          f"{final['classes_covered']}/10 classes, smallest share {final['smallest_share']:.1%}", flush=True)
    return result


def machine() -> str:
    """The CPU's model name and core count, for the table's caption."""
    name = platform.processor() or platform.machine()
    if os.path.exists('/proc/cpuinfo'):
        with open('/proc/cpuinfo') as handle:
            name = next((line.split(':', 1)[1].strip() for line in handle if line.startswith('model name')), name)
    return f'{name} ({os.cpu_count()} cores)'


def write_outputs(results: List[dict], options):
    """The table (CSV and a reStructuredText ``csv-table``) and the FID curves of every recipe with a result."""
    docs = Path(options.docs)
    docs.mkdir(parents=True, exist_ok=True)
    for result in results:  # from the config, so that older runs show their flags as this version writes them
        result['row']['flags'] = shown_flags(result['config'])
    with atomic_path(str(docs / 'fashion_budget.csv')) as path, open(path, 'w', newline='') as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        writer.writerows(result['row'] for result in results)
    clocks = {result['clock'] for result in results}
    first = results[0]
    if clocks == {'wall-clock'}:
        how = f"{first['budget_seconds']:g} s of training wall-clock each"
    elif clocks == {'cpu'}:
        how = (f"{first['budget_seconds']:g} s of one core's CPU time each: steps = {first['budget_seconds']:g} s / the "
               f"recipe's single-threaded CPU seconds per step, measured beforehand (training (s) is that budget, "
               f"steps/s the steps per CPU second)")
    else:
        how = (f"provisional: step counts standing in for {first['budget_seconds']:g} s on a quiet machine "
               f"(training (s) and steps/s show that budget, not a measurement)")
    caption = (f"Fashion-MNIST, {how}, on {first['machine']} with torch {first['torch']} and "
               f"{first['threads']} thread(s); FID by the Fashion-MNIST classifier on 10,000 samples")
    lines = [f'.. csv-table:: {caption}', '   :header-rows: 1', '']
    for values in [COLUMNS] + [[result['row'][column] for column in COLUMNS] for result in results]:
        lines.append('   ' + ','.join('"{}"'.format(str(value).replace('"', '""')) for value in values))
    with atomic_path(str(docs / 'fashion_budget.inc')) as path:
        Path(path).write_text('\n'.join(lines) + '\n')
    (docs / 'img' / 'fashion').mkdir(parents=True, exist_ok=True)
    for result in results:  # each recipe's grid, drawn again from its run's generator
        name = result['row']['recipe'].replace(' ', '-')
        generator, spec = bearer_gan.load_generator(os.path.join(options.runs, name))
        draw_grid(generator, spec, str(docs / 'img' / 'fashion' / f'{name}.png'))
    plot_curves(results, docs / 'img' / 'fashion' / 'fid_curve.png')


def plot_curves(results: List[dict], path: Path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(figsize=(8.5, 3.6))
    colours = plt.get_cmap('tab10').colors
    for index, result in enumerate(results):  # past ten recipes the colours repeat, dashed
        curve, budget = result['curve'], result['budget_seconds']
        last = curve[-1]['step']
        seconds = [point['seconds'] if result['clock'] == 'wall-clock' else budget * point['step'] / last
                   for point in curve]
        axes.plot(seconds, [point['fid'] for point in curve], marker='o', label=result['row']['recipe'],
                  color=colours[index % len(colours)], linestyle='-' if index < len(colours) else '--')
    axes.set_yscale('log')
    axes.set_xlabel('training seconds' + {'wall-clock': '', 'cpu': ' (CPU time of one core)'}.get(
        results[0]['clock'], ' (calibrated steps)'))
    axes.set_ylabel('FID (log scale)')
    axes.grid(True, which='both', alpha=0.3)
    axes.legend(loc='upper left', bbox_to_anchor=(1.02, 1.0), fontsize='small')  # beside the curves, not on them
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(str(path)) as temporary:
        figure.savefig(temporary, format='png', dpi=100)
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--recipes', nargs='*', choices=list(RECIPES), default=list(RECIPES), metavar='NAME',
                        help=f"recipes to train (default: all of {', '.join(RECIPES)}; none: only --recipe ones)")
    parser.add_argument('--recipe', nargs=2, action='append', default=[], metavar=('NAME', 'FLAGS'),
                        help='also train a recipe of your own, given as bearer-gan train flags')
    parser.add_argument('--budget-seconds', type=float, default=600.0, help='training wall-clock per recipe')
    parser.add_argument('--calibrate', type=float, metavar='MLP_STEPS_PER_S',
                        help="train budget x MLP_STEPS_PER_S x (relative speed) steps instead of watching the clock")
    parser.add_argument('--cpu-budget', action='store_true',
                        help='a budget of single-threaded CPU seconds: budget / (CPU seconds per step) steps each')
    parser.add_argument('--steps', nargs='+', default=[], metavar='NAME=STEPS',
                        help='train these recipes for a number of steps instead of watching the clock')
    parser.add_argument('--curve', type=int, default=6, help='points at which each run is scored, the end included')
    parser.add_argument('--seed', type=int,
                        help="train every recipe with this seed (default: bearer-gan train's, 0); a recipe's own wins")
    parser.add_argument('--threads', type=int, help="torch threads (default: torch's own, one per core)")
    parser.add_argument('--data-dir', default='/usr/share/datasets/fashion-mnist')
    parser.add_argument('--runs', default='runs/fashion-budget', help='folder for the runs')
    parser.add_argument('--docs', default=str(ROOT / 'docs' / '_static'), help='folder for the table and images')
    options = parser.parse_args(argv)
    if options.threads:
        torch.set_num_threads(options.threads)
    register_benchmark_models()
    recipes = {name: dict(RECIPES[name]) for name in options.recipes}
    recipes.update((name, given_values(text)) for name, text in options.recipe)
    if options.seed is not None:  # under a recipe's own values, which win
        recipes = {name: dict(dict(seed=options.seed), **values) for name, values in recipes.items()}
    for name, values in recipes.items():  # a recipe that makes no run stops here, not after the others trained
        try:
            recipe_config(values, options.runs, options.data_dir, 1)
        except ConfigError as error:
            parser.error(f'recipe {name}: {error}')
    print(f"{' '.join(sys.argv)}\ntorch {torch.__version__}, {torch.get_num_threads()} threads, {machine()}, "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    steps, options.ratios = {name: None for name in recipes}, {}
    if options.calibrate or options.cpu_budget:
        ratios, per_step = measure_speeds(recipes, options.data_dir)
        if options.cpu_budget:  # the mlp recipe's steps per CPU second on one core
            options.calibrate = 1 / per_step['mlp']
        steps = {name: round(options.budget_seconds * options.calibrate * ratios[name]) for name in recipes}
        options.ratios = ratios
        print('calibrated steps: ' + ', '.join(f'{name} {count} ({ratios[name]:.3f} x mlp)'
                                              for name, count in steps.items()), flush=True)
    for name, count in (item.split('=') for item in options.steps):
        if name not in recipes:
            parser.error(f'--steps {name}={count}: {name!r} is not a recipe being trained')
        steps[name] = int(count)
    for name, values in recipes.items():
        run_recipe(name, values, options, steps[name])
    results = []
    trained = sorted(os.listdir(options.runs)) if os.path.isdir(options.runs) else []  # this run's and earlier ones
    for name in list(RECIPES) + [name for name in trained if name not in RECIPES]:
        path = os.path.join(options.runs, name.replace(' ', '-'), 'budget.json')
        if os.path.exists(path):
            with open(path) as handle:
                results.append(json.load(handle))
    write_outputs(results, options)
    for result in results:
        print('  '.join(f'{column}: {result["row"][column]}' for column in COLUMNS))
    print(f"wrote {options.docs}/fashion_budget.csv, fashion_budget.inc and img/fashion/")


if __name__ == '__main__':
    main()
