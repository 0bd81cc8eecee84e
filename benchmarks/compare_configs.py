"""Score the torchbearer tutorial's GAN configuration against bearer_gan's plain defaults, in one run.

Both train the tutorial's MLPs on the same data for the same number of steps, on the same
machine, one after the other; each generator is then scored on 10,000 samples with
``bearer_gan.evaluate_run`` (FID against the MNIST test set on the shipped classifier's
features, and class coverage). The tutorial configuration is Adam lr 0.002, betas (0.5, 0.999),
batch 128, real label 1.0, samples from the raw generator; ours is :class:`bearer_gan.RunConfig`'s
plain defaults (Adam 2e-4, label smoothing, a moving average), unconditional and without augmentation:
``bearer-gan train`` with no flags adds MNIST's own recipe on top of them (``DATASET_RECIPES``;
docs: Better samples for the same compute). Both are built and trained by
:mod:`bearer_gan.recipe`. (Our tutorial MLPs use batch norm's intended eps, not the tutorial's 0.8 slip.)

    python benchmarks/compare_configs.py                 # 15,000 steps each, embedded digits
    python benchmarks/compare_configs.py --steps 2000    # a quicker look
"""
import argparse
import csv
import os
import sys
import time
from pathlib import Path

import torch

import bearer_gan
from bearer_gan.config import RunConfig
from bearer_gan.recipe import make_batches, prepare_run, train

ROOT = Path(__file__).resolve().parents[1]

#: Each configuration as the fields it changes from :class:`~bearer_gan.RunConfig`'s defaults.
TUTORIAL = dict(lr=2e-3, beta1=0.5, batch_size=128, real_label=1.0, ema_decay=0.0)
CONFIGURATIONS = {'torchbearer tutorial': TUTORIAL, 'bearer_gan plain defaults': {}}
COLUMNS = ('configuration', 'steps', 'batch', 'lr', 'FID', 'digits covered', 'smallest share', 'largest share',
           'KL from uniform', 'train time (s)')


def run_config(values, steps, dataset, out, device) -> RunConfig:
    """The run of a configuration's ``values`` on ``dataset`` for ``steps`` steps, into ``out``: on the defaults,
    not on a data set's own recipe (``DATASET_RECIPES``), so both configurations are what the table says."""
    return RunConfig(dataset=dataset, steps=steps, out=out, device=device, **values)


def run(name, values, steps, dataset, out, device):
    folder = os.path.join(out, name.replace(' ', '_'))
    config, _, _, data, _ = prepare_run(run_config(values, steps, dataset, folder, device))
    batches = make_batches(data, config)
    start = time.time()
    train(config, data, batches)
    seconds = time.time() - start
    scores = bearer_gan.evaluate_run(config.out, n=10000, device=device)
    shares = scores['class_shares']
    return {'configuration': name, 'steps': steps, 'batch': config.batch_size, 'lr': config.lr,
            'FID': f"{scores['fid']:.1f}", 'digits covered': scores['classes_covered'],
            'smallest share': f'{min(shares):.1%}', 'largest share': f'{max(shares):.1%}',
            'KL from uniform': f"{scores['kl_from_uniform']:.3f}", 'train time (s)': f'{seconds:.0f}'}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--steps', type=int, default=RunConfig().steps)
    parser.add_argument('--dataset', default='mnist-5k', choices=bearer_gan.DATASETS)
    parser.add_argument('--device', default=bearer_gan.default_device())
    parser.add_argument('--out', default='runs/compare', help='folder for both runs')
    parser.add_argument('--csv', default=str(ROOT / 'docs' / '_static' / 'comparison.csv'))
    args = parser.parse_args(argv)
    print(f'{" ".join(sys.argv)}\ntorch {torch.__version__}, {torch.get_num_threads()} threads, {args.device}, '
          f'{args.dataset}, {args.steps} steps each', flush=True)
    rows = [run(name, values, args.steps, args.dataset, args.out, args.device)
            for name, values in CONFIGURATIONS.items()]
    widths = [max(len(column), *(len(str(row[column])) for row in rows)) for column in COLUMNS]
    for values in [COLUMNS] + [[row[column] for column in COLUMNS] for row in rows]:
        print('  '.join(str(value).rjust(width) for value, width in zip(values, widths)))
    os.makedirs(os.path.dirname(args.csv), exist_ok=True)
    with open(args.csv, 'w', newline='') as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    print(f'wrote {args.csv}')


if __name__ == '__main__':
    main()
