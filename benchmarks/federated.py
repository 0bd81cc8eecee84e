"""Federated against centralized training on the 5,000 embedded MNIST digits, at the same number of generator updates.

Four settings, each run with ``examples/federated_gan.py`` in Flower's simulation runtime and
scored after every round by the server (FID against the MNIST test set on the project
classifier's features, and the digits covered) on the global generator and its moving average:

* ``centralized``: one owner holding all 5,000 digits, ``owners x local steps`` updates per
  round. One owner with its optimizer state kept makes exactly the updates of centralized
  training (``tests/test_federated_rounds.py`` checks it), so this is centralized training,
  scored at the same points;
* ``5 IID owners``: 1,000 random digits each, ``local steps`` updates each per round;
* ``5 owners x 2 digits``: owner ``i`` holds only the digits ``2i`` and ``2i+1``;
* ``one owner alone``: the first of the 5 IID owners, without the other four, making the
  updates the five make together.

Every setting makes ``owners x local steps x rounds`` generator updates in all (summed over the
owners), with the same recipe, seed, batch size and evaluation. The script writes, under
``--static`` (``docs/_static``): ``federated.csv`` (one row per setting and round: FID and digits
covered of both generators, bytes sent and received, seconds of training and of evaluation),
``federated_summary.csv`` (the last round of each setting), ``federated.json`` (the command, the
machine, the settings and the summary), ``federated.png`` (FID and digits covered per round, one
line per setting) and ``federated_samples.png`` (each setting's last grid side by side).

    python benchmarks/federated.py                          # 40 rounds x 80 local steps x 5 owners
    python benchmarks/federated.py --rounds 4 --local-steps 20 --static /tmp/federated   # a quick look

Runs go to ``--out`` (``runs/federated-benchmark``); a setting whose run there has finished is
read, not trained again (delete the folder, or pass ``--fresh``, to retrain). Times and bytes are
printed too; times depend on the machine and on what else runs on it, the quality numbers do not.
"""
import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bearer_gan.federated import read_history  # noqa: E402
from gan_bench.provenance import commit  # noqa: E402  (benchmarks/ is on the path of its scripts)

EXAMPLE = ROOT / 'examples' / 'federated_gan.py'
COLUMNS = ('setting', 'round', 'updates', 'fid', 'classes_covered', 'ema_fid', 'ema_classes_covered',
           'bytes_to_owners', 'bytes_from_owners', 'round_seconds', 'eval_seconds')
SUMMARY = ('setting', 'owners taking part', 'digits per owner', 'updates', 'FID', 'digits covered', 'smallest share',
           'largest share', 'average FID', 'average digits covered', 'bytes per round', 'seconds per round')


def settings(owners: int, local_steps: int):
    """``name -> (example flags, owners taking part)``, each making ``owners * local_steps`` updates per round."""
    alone = owners * local_steps
    return {
        'centralized': (['--owners', '1', '--local-steps', str(alone), '--split', 'iid'], 1),
        f'{owners} IID owners': (['--owners', str(owners), '--local-steps', str(local_steps), '--split', 'iid'], owners),
        f'{owners} owners x 2 digits': (['--owners', str(owners), '--local-steps', str(local_steps),
                                         '--split', 'classes-per-owner', '2'], owners),
        'one owner alone': (['--owners', str(owners), '--participants', '1', '--local-steps', str(alone),
                             '--split', 'iid'], 1),
    }


def run_setting(name, flags, args):
    out = os.path.join(args.out, name.replace(' ', '_'))
    command = [sys.executable, str(EXAMPLE), *flags, '--rounds', str(args.rounds), '--eval-samples',
               str(args.eval_samples), '--dataset', 'mnist-5k', '--seed', str(args.seed), '--out', out]
    command += ['--overwrite'] if args.fresh else []
    print(f'\n== {name}: {" ".join(command[1:])}', flush=True)
    started = time.time()
    subprocess.run(command, check=True, cwd=ROOT)
    print(f'   {time.time() - started:.0f} s', flush=True)
    return out, read_history(os.path.join(out, 'history.csv'))


def summary_row(name, rows, nodes, digits, updates_per_round):
    last, trained = rows[-1], rows[1:]
    shares = [last[f'share_{digit}'] for digit in range(10)]
    return {'setting': name, 'owners taking part': nodes, 'digits per owner': digits,
            'updates': int(last['round']) * updates_per_round, 'FID': f"{last['fid']:.1f}",
            'digits covered': int(last['classes_covered']), 'smallest share': f'{min(shares):.1%}',
            'largest share': f'{max(shares):.1%}', 'average FID': f"{last['ema_fid']:.1f}",
            'average digits covered': int(last['ema_classes_covered']),
            'bytes per round': f"{trained[-1]['bytes_to_owners'] + trained[-1]['bytes_from_owners']:,.0f}",
            'seconds per round': f"{np.mean([row['round_seconds'] for row in trained]):.1f}"}


def plot(histories, updates_per_round, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    figure, (fid_axis, covered_axis) = plt.subplots(1, 2, figsize=(12, 4.5))
    for (name, rows), color in zip(histories.items(), plt.rcParams['axes.prop_cycle'].by_key()['color']):
        updates = [row['round'] * updates_per_round for row in rows]
        for prefix, style, label in (('', '-', name), ('ema_', ':', None)):
            fid_axis.plot(updates, [row[f'{prefix}fid'] for row in rows], style, color=color, label=label)
            covered_axis.plot(updates, [row[f'{prefix}classes_covered'] for row in rows], style, color=color,
                              label=label, marker='o' if not prefix else None, markersize=3)
    fid_axis.set_yscale('log')
    fid_axis.set_title('FID against the MNIST test set (lower is better)')
    covered_axis.set_title('digits covered (at least 2% of the samples)')
    covered_axis.set_ylim(0, 10.5)
    for axis in (fid_axis, covered_axis):
        axis.set_xlabel('generator updates, summed over the owners')
        axis.grid(alpha=0.3)
    fid_axis.legend(title='solid: global generator; dotted: its moving average', title_fontsize=8, fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def sample_strip(outs, rounds, path):
    """Each setting's last grid of the moving average, side by side, with the setting's name above it."""
    grids = [Image.open(os.path.join(out, 'samples', f'ema_round_{rounds:04d}.png')).convert('RGB') for out in outs.values()]
    width, height = grids[0].size
    strip = Image.new('RGB', (len(grids) * (width + 10) - 10, height + 18), 'white')
    draw = ImageDraw.Draw(strip)
    for index, (name, grid) in enumerate(zip(outs, grids)):
        strip.paste(grid, (index * (width + 10), 18))
        draw.text((index * (width + 10) + 2, 3), name, fill=(0, 0, 0))
    strip.save(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--owners', type=int, default=5)
    parser.add_argument('--rounds', type=int, default=40)
    parser.add_argument('--local-steps', type=int, default=80, help='updates per owner per round (5 owners)')
    parser.add_argument('--eval-samples', type=int, default=2000, help='images scored per round and generator')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', default=str(ROOT / 'runs' / 'federated-benchmark'))
    parser.add_argument('--static', default=str(ROOT / 'docs' / '_static'), help='where the tables and plots go')
    parser.add_argument('--fresh', action='store_true', help='train every setting again')
    args = parser.parse_args(argv)
    os.makedirs(args.static, exist_ok=True)
    load, measured_at = os.getloadavg(), commit()  # the commit the measurement started from
    print(f'{" ".join(sys.argv)}\n{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, '
          f'load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}', flush=True)
    updates_per_round = args.owners * args.local_steps
    histories, outs, summary = {}, {}, []
    for name, (flags, nodes) in settings(args.owners, args.local_steps).items():
        outs[name], histories[name] = run_setting(name, flags, args)
        summary.append(summary_row(name, histories[name], nodes, 2 if 'digits' in name else 10, updates_per_round))

    with open(os.path.join(args.static, 'federated.csv'), 'w', newline='') as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for name, rows in histories.items():
            for row in rows:
                writer.writerow([name, int(row['round']), int(row['round']) * updates_per_round]
                                + ['' if row[column] != row[column] else f'{row[column]:.6g}' for column in COLUMNS[3:]])
    with open(os.path.join(args.static, 'federated_summary.csv'), 'w', newline='') as handle:
        writer = csv.DictWriter(handle, SUMMARY)
        writer.writeheader()
        writer.writerows(summary)
    shares = {name: [round(rows[-1][f'share_{digit}'], 4) for digit in range(10)] for name, rows in histories.items()}
    with open(os.path.join(args.static, 'federated.json'), 'w') as handle:
        json.dump({'command': ' '.join(['python', 'benchmarks/federated.py', *(argv or sys.argv[1:])]),
                   'commit': measured_at,
                   'machine': f'{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs',
                   'load_average_at_start': load, 'rounds': args.rounds, 'owners': args.owners,
                   'local_steps': args.local_steps, 'eval_samples': args.eval_samples, 'seed': args.seed,
                   'settings': {name: flags for name, (flags, _) in settings(args.owners, args.local_steps).items()},
                   'summary': summary, 'last_round_digit_shares': shares}, handle, indent=2)
    plot(histories, updates_per_round, os.path.join(args.static, 'federated.png'))
    sample_strip(outs, args.rounds, os.path.join(args.static, 'federated_samples.png'))

    widths = [max(len(column), *(len(str(row[column])) for row in summary)) for column in SUMMARY]
    print()
    for values in [SUMMARY] + [[row[column] for column in SUMMARY] for row in summary]:
        print('  '.join(str(value).rjust(width) for value, width in zip(values, widths)))
    print('\nshare of each digit 0-9 in the last round (global generator):')
    for name, values in shares.items():
        print(f'{name:>22}: ' + ' '.join(f'{value:5.1%}' for value in values))
    print(f'\nwrote federated.csv, federated_summary.csv, federated.json, federated.png, federated_samples.png '
          f'to {args.static}')


if __name__ == '__main__':
    main()
