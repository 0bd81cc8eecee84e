"""The federation against one machine, over seeds: the server-optimizer sweep and the targets of the docs.

Each comparison is a list of settings, each a flag list for ``examples/federated_gan.py`` (Flower's
simulation runtime, the 5,000 embedded MNIST digits, the project's FID scored by the server after
every round). Every setting of a comparison makes the same generator updates in all, summed over
the owners; its first setting is the reference the others are divided by. Each setting runs once
per seed, and the table gives the median and range over the seeds of the last round's FID (the
global generator's, and the server's moving average of it), the smallest share of a digit among
the global generator's samples, and the ratio of the median FID to the reference's::

    python benchmarks/federated_targets.py sweep              # server optimizers, 5 IID owners, one seed
    python benchmarks/federated_targets.py owner-lr           # the owners' learning rate, against one machine's
    python benchmarks/federated_targets.py iid5 --seeds 0 1 2 # 5 IID owners against one machine, 16,000 updates
    python benchmarks/federated_targets.py iid2 --seeds 0 1 2 # 2 IID owners, 30 rounds of 100, 6,000 updates
    python benchmarks/federated_targets.py non-iid --seeds 0 1 2   # 5 owners with two digits each
    python benchmarks/federated_targets.py non-iid-conditional --seeds 0 1 2  # the same, owners train conditionally
    python benchmarks/federated_targets.py bad-owner --seeds 0 1 2 # 1 of 3 owners sends its update x100, or NaN

The targets run with FedAvg (the default), which the sweep found best: every server step that moved
further than the plain average, by momentum or a learning rate above 1, ended worse.

It writes ``docs/_static/federated_<comparison>.txt`` (the table, headed by the command, the commit,
the machine and the load), ``.json`` (the same, with every seed's figures) and ``.png`` (FID per round,
the median over the seeds, one line per setting). A run is kept under
``--out`` in a folder named by its flags and seed, and one that has finished is read, not trained
again: a setting shared by two comparisons (one machine's 16,000 updates; FedAvg's seed 0 of the sweep) is
trained once. The quality numbers do not depend on the machine's load.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gan_bench.provenance import ROOT, commit, header  # noqa: E402
from gan_bench.machine import load_average  # noqa: E402

sys.path.insert(0, str(ROOT))
from bearer_gan.federated import read_history  # noqa: E402

EXAMPLE = ROOT / 'examples' / 'federated_gan.py'


def _iid(owners, local_steps, *flags):
    return ['--owners', str(owners), '--local-steps', str(local_steps), '--split', 'iid', *flags]


def comparisons():
    """``name -> (rounds, {setting: flags})``; the first setting is the reference."""
    one_machine_16k = ['--owners', '1', '--local-steps', '400', '--split', 'iid']
    return {
        'sweep': (40, {
            'fedavg': _iid(5, 80),
            'fedavgm lr 1, momentum 0.9': _iid(5, 80, '--server-optimizer', 'fedavgm', '--server-lr', '1.0',
                                               '--server-momentum', '0.9'),
            'fedavgm lr 1, momentum 0.8': _iid(5, 80, '--server-optimizer', 'fedavgm', '--server-lr', '1.0',
                                               '--server-momentum', '0.8'),
            'fedavgm lr 1, momentum 0.5': _iid(5, 80, '--server-optimizer', 'fedavgm', '--server-lr', '1.0',
                                               '--server-momentum', '0.5'),
            'fedavgm lr 5, momentum 0': _iid(5, 80, '--server-optimizer', 'fedavgm', '--server-lr', '5.0',
                                             '--server-momentum', '0'),
            'fedavgm lr 2, momentum 0': _iid(5, 80, '--server-optimizer', 'fedavgm', '--server-lr', '2.0',
                                             '--server-momentum', '0'),
            'fedadam lr 0.01': _iid(5, 80, '--server-optimizer', 'fedadam', '--server-lr', '0.01'),
            'fedadam lr 0.003': _iid(5, 80, '--server-optimizer', 'fedadam', '--server-lr', '0.003'),
            'fedyogi lr 0.01': _iid(5, 80, '--server-optimizer', 'fedyogi', '--server-lr', '0.01'),
            'fedyogi lr 0.003': _iid(5, 80, '--server-optimizer', 'fedyogi', '--server-lr', '0.003'),
        }),
        'owner-lr': (40, {'one machine': one_machine_16k, 'one machine, lr 5e-4': one_machine_16k + ['--lr', '5e-4'],
                          '5 IID owners, lr 5e-4': _iid(5, 80, '--lr', '5e-4'),
                          '5 IID owners, lr 1e-3': _iid(5, 80, '--lr', '1e-3'),
                          '5 IID owners, lr 2e-3': _iid(5, 80, '--lr', '2e-3')}),
        'iid5': (40, {'one machine': one_machine_16k, '5 IID owners': _iid(5, 80),
                      "5 IID owners, owners' lr 1e-3": _iid(5, 80, '--lr', '1e-3')}),
        'iid2': (30, {'one machine': ['--owners', '1', '--local-steps', '200', '--split', 'iid'],
                      '2 IID owners': _iid(2, 100), "2 IID owners, owners' lr 5e-4": _iid(2, 100, '--lr', '5e-4')}),
        'non-iid': (40, {'one machine': one_machine_16k,
                         '5 owners x 2 digits': ['--owners', '5', '--local-steps', '80', '--split',
                                                 'classes-per-owner', '2'],
                         "5 owners x 2 digits, owners' lr 1e-3": ['--owners', '5', '--local-steps', '80', '--split',
                                                                  'classes-per-owner', '2', '--lr', '1e-3']}),
        'non-iid-conditional': (40, {
            'one machine, conditional': one_machine_16k + ['--conditional'],
            '5 owners x 2 digits, conditional': ['--owners', '5', '--local-steps', '80', '--split',
                                                 'classes-per-owner', '2', '--conditional']}),
        'bad-owner': (20, {'3 IID owners': _iid(3, 80),
                           'owner 0 sends x100': _iid(3, 80, '--drill-faulty-owner', '0:scale100'),
                           'owner 0 sends NaN': _iid(3, 80, '--drill-faulty-owner', '0:nan')}),
    }


def run_folder(out, flags, rounds, seed):
    name = re.sub(r'[^a-z0-9.]+', '-', ' '.join(flags + ['rounds', str(rounds), 'seed', str(seed)]))
    return Path(out) / name.strip('-')


def train(flags, rounds, seed, args):
    """The last-round row of the run (trained now unless a finished one is in its folder), and its folder."""
    folder = run_folder(args.out, flags, rounds, seed)
    history = folder / 'history.csv'
    if not (history.exists() and int(read_history(str(history))[-1]['round']) == rounds):
        command = [sys.executable, str(EXAMPLE), *flags, '--rounds', str(rounds), '--eval-samples',
                   str(args.eval_samples), '--dataset', 'mnist-5k', '--seed', str(seed), '--out', str(folder),
                   '--overwrite']
        print(f'   training: {" ".join(command[1:])}', flush=True)
        started = time.time()
        folder.parent.mkdir(parents=True, exist_ok=True)
        with open(folder.parent / f'{folder.name}.log', 'w') as log:  # beside the folder, which --overwrite empties
            subprocess.run(command, check=True, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, timeout=args.timeout)
        print(f'   {time.time() - started:.0f} s', flush=True)
    return read_history(str(history)), folder


def written_finite(folder):
    """Whether every floating tensor the run wrote (both networks, the checkpoint's weights) is finite."""
    import torch
    tensors = [torch.load(folder / name, weights_only=True)['state_dict'] for name in ('generator.pt',
                                                                                          'discriminator.pt')]
    checkpoint = torch.load(folder / 'checkpoint.pt', weights_only=True)
    tensors += [checkpoint['weights'], checkpoint['ema']]
    return all(torch.isfinite(tensor).all().item() for state in tensors for tensor in _tensors(state)
               if tensor.is_floating_point())


def _tensors(value):
    import torch
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tensors(item)


def figures(rows, folder):
    last = rows[-1]
    return {'fid': last['fid'], 'ema_fid': last['ema_fid'],
            'smallest_share': min(last[f'share_{digit}'] for digit in range(10)),
            'dropped': int(sum(row['dropped'] for row in rows[1:] if row['dropped'] == row['dropped'])),
            'finite': written_finite(folder)}


def median_range(values, spec='.1f'):
    return (f'{statistics.median(values):{spec}}' if len(values) == 1 else
            f'{statistics.median(values):{spec}} ({min(values):{spec}}-{max(values):{spec}})')


def flag(flags, name):
    return int(flags[flags.index(name) + 1])


def table(results, reference, settings, rounds):
    columns = ('setting', 'owners x updates per round', 'updates in all', 'FID', 'moving-average FID',
               'x reference', 'smallest digit share', 'replies dropped', 'all written finite')
    reference_median = statistics.median(seed['fid'] for seed in results[reference])
    lines = []
    for name, seeds in results.items():
        fids = [seed['fid'] for seed in seeds]
        owners, local_steps = flag(settings[name], '--owners'), flag(settings[name], '--local-steps')
        lines.append((name, f'{owners} x {local_steps}', str(owners * local_steps * rounds), median_range(fids),
                      median_range([seed['ema_fid'] for seed in seeds]),
                      f'{statistics.median(fids) / reference_median:.2f}',
                      median_range([100 * seed['smallest_share'] for seed in seeds]) + '%',
                      str(sum(seed['dropped'] for seed in seeds)),
                      'yes' if all(seed['finite'] for seed in seeds) else 'NO'))
    widths = [max(len(column), *(len(line[index]) for line in lines)) for index, column in enumerate(columns)]
    return ['  '.join(value.ljust(width) for value, width in zip(values, widths)).rstrip()
            for values in [columns] + lines]


def plot(histories, rounds, path):
    """FID per round, one line per setting (the median over its seeds), the moving average's dotted."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 4.5))
    for (name, runs), color in zip(histories.items(), plt.rcParams['axes.prop_cycle'].by_key()['color']):
        for prefix, style in (('', '-'), ('ema_', ':')):
            medians = [statistics.median(rows[index][f'{prefix}fid'] for rows in runs) for index in range(rounds + 1)]
            axis.plot(range(rounds + 1), medians, style, color=color, label=None if prefix else name)
    axis.set_yscale('log')
    axis.set_xlabel('round')
    axis.set_ylabel('FID (median over the seeds)')
    axis.grid(alpha=0.3)
    axis.legend(title="solid: global generator; dotted: the server's moving average", title_fontsize=8, fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('comparison', choices=sorted(comparisons()))
    parser.add_argument('--seeds', type=int, nargs='+', default=[0])
    parser.add_argument('--eval-samples', type=int, default=2000, help='images the server scores per round')
    parser.add_argument('--out', default=str(ROOT / 'runs' / 'federated-targets'))
    parser.add_argument('--static', default=str(ROOT / 'docs' / '_static'))
    parser.add_argument('--timeout', type=int, default=3600, help='seconds one run may take')
    parser.add_argument('--rounds', type=int, help="a quick look: this many rounds (default: the comparison's)")
    parser.add_argument('--only', nargs='+', metavar='SETTING',
                        help='train these settings of the comparison and print them, writing no file')
    args = parser.parse_args(argv)
    rounds, settings = comparisons()[args.comparison]
    rounds = args.rounds or rounds
    if args.only:
        unknown = sorted(set(args.only) - set(settings))
        if unknown:
            parser.error(f'{args.comparison} has no setting {unknown[0]!r}; it has {", ".join(map(repr, settings))}')
        settings = {name: flags for name, flags in settings.items() if name in args.only}
    load_before, measured_at = load_average(), commit()
    results, folders, histories = {}, {}, {}
    for name, flags in settings.items():
        print(f'== {name}', flush=True)
        results[name], histories[name] = [], []
        for seed in args.seeds:
            rows, folders[name, seed] = train(flags, rounds, seed, args)
            histories[name].append(rows)
            results[name].append(dict(seed=seed, **figures(rows, folders[name, seed])))
            print(f'   seed {seed}: FID {results[name][-1]["fid"]:.1f}', flush=True)
    reference = next(iter(settings))
    lines = header('cpu', load_before, measured_at) + [
        f'{rounds} rounds; seeds {" ".join(map(str, args.seeds))}; FID of the last round, median (range) over the '
        f'seeds; x reference: median FID / {reference!r}\'s', ''] + table(results, reference, settings, rounds)
    if args.only:
        print('\n'.join(lines))
        return
    os.makedirs(args.static, exist_ok=True)
    path = Path(args.static) / f'federated_{args.comparison.replace("-", "_")}'
    path.with_suffix('.txt').write_text('\n'.join(lines) + '\n')
    path.with_suffix('.json').write_text(json.dumps(
        {'header': lines[:4], 'rounds': rounds, 'seeds': args.seeds, 'eval_samples': args.eval_samples,
         'settings': settings, 'results': results}, indent=2) + '\n')
    plot(histories, rounds, path.with_suffix('.png'))
    print('\n'.join(lines))
    print(f'wrote {path}.txt, .json and .png')


if __name__ == '__main__':
    main()
