"""Run one quality comparison of the docs under the measurement protocol (:mod:`gan_bench.protocol`).

Every recipe of the comparison is calibrated in this invocation, trains the same CPU-time budget
(seconds of one core) with each seed, and is scored on 10,000 samples; the table of medians and
ranges goes to ``docs/_static/NAME.txt`` (with ``NAME.json`` and a grid per recipe under
``docs/_static/img/NAME/``), headed by this command, the commit, the machine and its load.

    python benchmarks/protocol.py data-efficiency                      # Fashion-MNIST 100/20/10% x augmentation
    python benchmarks/protocol.py data-efficiency --fractions 10 --budget 240   # only the 10% row
    python benchmarks/protocol.py small-data --budget 240 --jobs 2     # ADA's policies on 10% of Fashion-MNIST
    python benchmarks/protocol.py mnist-augment                        # the default run's augmentation policies
    python benchmarks/protocol.py mnist-augment --budget 20 --seeds 0 --samples 500 --report /tmp/look   # a quick look
    python benchmarks/protocol.py mnist-default --budget 200           # the default run's recipe against the others
    python benchmarks/protocol.py losses --budget 200 --jobs 2         # the four losses in the default run
    python benchmarks/protocol.py losses --rescore                     # its runs scored again, same steps
    python benchmarks/protocol.py fashion --budget 240 --jobs 2        # the candidates for Fashion-MNIST's recipe

Comparisons (``--list`` prints their recipes):

* ``data-efficiency``: Fashion-MNIST's own recipe on 100%, 20% and 10% of its 60,000 training
  images (``--max-images``), with no augmentation, ``diffaugment`` and ``ada``;
* ``small-data``: Fashion-MNIST's own recipe on 10% of its training images, with no augmentation and
  with ADA on each policy (translation; translation and cutout; translation and colour);
* ``mnist-augment``: the default run (``mnist-5k``) with no augmentation and with each augmentation
  policy, the comparison that picks the default policy;
* ``mnist-default``: the candidates for MNIST's own recipe (``DATASET_RECIPES``), each spelled out;
* ``losses``: the default run (``mnist-5k``, MNIST's recipe) with each loss of :data:`bearer_gan.LOSSES`;
* ``fashion``: the candidates for Fashion-MNIST's own recipe without augmentation, each spelled out
  (``data-efficiency`` compares the augmentations on it).

``--jobs 2`` trains two runs at once, each single-threaded: on a 2-core machine about twice the runs
per hour, and the same runs, since every run's steps come from the calibration.
"""
import argparse
import json
import os
import sys
from typing import Dict, List

import torch

import bearer_gan
from gan_bench.protocol import Recipe, measure, rescore, write_report  # benchmarks/ is on the path of its scripts
from gan_bench.provenance import ROOT

FASHION = dict(dataset='fashion-mnist', data_dir='/usr/share/datasets/fashion-mnist')
FASHION_IMAGES = 60000
FRACTIONS = (100, 20, 10)
AUGMENTATIONS = {'none': None, 'diffaugment': 'diffaugment', 'ada': 'ada'}


def data_efficiency(fractions=FRACTIONS) -> List[Recipe]:
    """Fashion-MNIST at each percentage of its training images, with each augmentation."""
    recipes = []
    for fraction in fractions:
        subset = {} if fraction == 100 else {'max_images': FASHION_IMAGES * fraction // 100}
        for name, augment in AUGMENTATIONS.items():
            recipes.append(Recipe(f'fashion-{fraction}%-{name}', dict(FASHION, augment=augment, **subset)))
    return recipes


def small_data() -> List[Recipe]:
    """Fashion-MNIST at 10% of its training images (6,000) without augmentation and with ADA on each policy: which
    operations ADA should apply where the data is scarcest (``data-efficiency`` has ADA with translation alone)."""
    subset = dict(FASHION, max_images=FASHION_IMAGES // 10)
    policies = ('ada:translation', 'ada:translation,cutout', 'ada:translation,color')
    return [Recipe('fashion-10%-none', dict(subset, augment=None))] + [
        Recipe('fashion-10%-' + policy.replace(':', '-').replace(',', '+'), dict(subset, augment=policy))
        for policy in policies]


def mnist_augment() -> List[Recipe]:
    """The default run without augmentation (``--augment none``: MNIST's recipe has translation) and with each
    policy of :mod:`bearer_gan.augment`."""
    policies = ('diffaugment:translation', 'diffaugment:translation,cutout', 'diffaugment:translation,color',
                'ada:translation')
    return [Recipe('none', {'augment': None})] + [
        Recipe(policy.replace(':', '-').replace(',', '+'), {'augment': policy}) for policy in policies]


def mnist_default() -> List[Recipe]:
    """Candidates for the default run on ``mnist-5k``, each spelled out so that the table stays true whatever the
    default becomes: the default until now (unconditional, learning rate 2e-4, moving average 0.999), and
    Fashion-MNIST's recipe (class-conditional, 5e-4, 0.9999) without and with translation."""
    conditional = dict(conditional=True, lr=5e-4, ema_decay=0.9999)
    return [Recipe('unconditional-lr2e-4-ema0.999', dict(conditional=False, lr=2e-4, ema_decay=0.999, augment=None)),
            Recipe('conditional-lr5e-4-ema0.9999', dict(conditional, augment=None)),
            Recipe('conditional-lr5e-4-ema0.9999+translation', dict(conditional, augment='diffaugment:translation'))]


def losses() -> List[Recipe]:
    """The default run with each loss, every other field MNIST's recipe (``wgan-gp`` with its own penalty weight,
    and, like ``hinge`` and ``lsgan``, no label smoothing: ``real_label`` belongs to ``bce``)."""
    return [Recipe(name, {'loss': name}) for name in bearer_gan.LOSSES]


def fashion() -> List[Recipe]:
    """Candidates for Fashion-MNIST's own recipe on all of its training images, without augmentation: the plain
    defaults (unconditional, learning rate 2e-4, moving average 0.999), the same class-conditional, and the
    conditional recipe with 5e-4 and 0.9999 (Fashion-MNIST's recipe until now)."""
    plain = dict(lr=2e-4, ema_decay=0.999, augment=None)
    return [Recipe('unconditional-lr2e-4-ema0.999', dict(FASHION, conditional=False, **plain)),
            Recipe('conditional-lr2e-4-ema0.999', dict(FASHION, conditional=True, **plain)),
            Recipe('conditional-lr5e-4-ema0.9999', dict(FASHION, conditional=True, lr=5e-4, ema_decay=0.9999,
                                                        augment=None))]


COMPARISONS = {
    'data-efficiency': ('Fashion-MNIST on part of its training images, with and without augmentation.',
                        data_efficiency),
    'small-data': ('Fashion-MNIST on 10% of its training images, without augmentation and with ADA on each policy.',
                   small_data),
    'mnist-augment': ('The default run (mnist-5k) without augmentation and with each policy.', mnist_augment),
    'mnist-default': ('Candidates for the default recipe on mnist-5k.', mnist_default),
    'losses': ('The default run (mnist-5k, MNIST\'s recipe) with each loss.', losses),
    'fashion': ('Candidates for the recipe on Fashion-MNIST (all 60,000 training images), without augmentation.',
                fashion),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('comparison', choices=list(COMPARISONS))
    parser.add_argument('--budget', type=float, default=600.0, help="CPU seconds of one core per run (default 600)")
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--samples', type=int, default=10000, help='generated images scored per run')
    parser.add_argument('--fractions', type=int, nargs='+', choices=FRACTIONS,
                        help='data-efficiency only: the percentages of the images to train on (default: all)')
    parser.add_argument('--recipes', nargs='+', metavar='NAME',
                        help="only these of the comparison's recipes (--list names them); the table is then theirs")
    parser.add_argument('--calibration-steps', type=int, default=150,
                        help='steps of each calibration run (3 per recipe; the first 20 are not timed)')
    parser.add_argument('--threads', type=int, help="torch threads for training (default: torch's own)")
    parser.add_argument('--jobs', type=int, default=1,
                        help='runs trained at once, each single-threaded in its own process (default 1)')
    parser.add_argument('--runs', help='folder for the runs (default: runs/protocol/COMPARISON)')
    parser.add_argument('--report', help='writes REPORT.txt, REPORT.json and img/ (default: docs/_static/NAME, '
                                         'NAME being the comparison and its --fractions)')
    parser.add_argument('--list', action='store_true', help="print the comparison's recipes and stop")
    parser.add_argument('--rescore', action='store_true',
                        help="score the runs of the comparison's report again (the same generators and steps; "
                             '--samples), as when the MNIST test set that precision and recall need was missing')
    args = parser.parse_args(argv)
    if args.fractions and args.comparison != 'data-efficiency':
        parser.error('--fractions applies to data-efficiency only')
    if args.budget <= 0 or args.samples < 2 or args.calibration_steps < 22:
        parser.error('--budget must be positive, --samples at least 2 and --calibration-steps at least 22')
    if args.jobs < 1 or (args.jobs > 1 and args.threads):
        parser.error('--jobs must be at least 1, and runs at once are single-threaded: leave out --threads')
    title, build = COMPARISONS[args.comparison]
    recipes = build(tuple(args.fractions)) if args.fractions else build()
    unknown = sorted(set(args.recipes or ()) - {recipe.name for recipe in recipes})
    if unknown:
        parser.error(f"{args.comparison} has no recipe {', '.join(unknown)}: --list names them")
    recipes = [recipe for recipe in recipes if args.recipes is None or recipe.name in args.recipes]
    if args.list:
        for recipe in recipes:
            print(f'{recipe.name}: {recipe.values}')
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    name = args.comparison.replace('-', '_') + ''.join(f'_{fraction}' for fraction in args.fractions or ())
    report = args.report or str(ROOT / 'docs' / '_static' / name)
    runs = args.runs or os.path.join('runs', 'protocol', name)
    if args.rescore:
        if not os.path.exists(report + '.json'):
            parser.error(f'--rescore: no {report}.json to score again (--report names it)')
        with open(report + '.json') as handle:
            result = rescore(json.load(handle), args.samples)
    else:
        result = measure(recipes, args.budget, args.seeds, runs, args.samples, args.calibration_steps, args.jobs)
    print('\n'.join(write_report(result, report, title)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
