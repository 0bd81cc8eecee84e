"""The truncation trick measured: fidelity against diversity as the noise is cut at ``|z| <= T``.

For each ``T`` (None: the plain normal), the run's generator (``generator.pt``: the moving
average when the run kept one) draws ``--n`` images from the same seed with
:func:`bearer_gan.evaluation.evaluate_generator` (``truncation=T``), scored against the run's own
data set as ``bearer-gan evaluate`` scores it. Every numeric score it returns becomes a column
(FID, classes covered, the KL divergence of the class shares from uniform, ... and whatever the
evaluation adds later), plus the smallest class share. A smaller ``T`` gives more typical
images and less variety: the classes drift from uniform and FID, which counts both, rises.

    python benchmarks/truncation.py --run runs/mnist          # writes docs/_static/truncation.txt and .csv

The table is headed by the command, the commit (``-dirty`` when the tree has changes), the
machine and its load, the run's ``config.json`` and the sha256 of its ``generator.pt``.
"""
import argparse
import csv
import functools
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import torch

from bearer_gan import load_generator
from bearer_gan.evaluation import evaluate_generator, read_run_config, scorer_for
from bearer_gan.evaluation.evaluate import default_reference_images
from gan_bench.machine import load_average, machine_name
from gan_bench.provenance import ROOT, commit

TRUNCATIONS = (None, 2.0, 1.5, 1.0, 0.7, 0.5, 0.25)
SKIPPED = ('n', 'latent_dim')  # bookkeeping, the same in every row (the header says them)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def numeric_scores(scores: Dict[str, object]) -> Dict[str, float]:
    """The scores that are one number (not flags, names or lists), and the smallest class share."""
    row = {key: value for key, value in scores.items()
           if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in SKIPPED}
    if isinstance(scores.get('class_shares'), list) and scores['class_shares']:
        row['smallest_share'] = min(scores['class_shares'])
    return row


def table(rows: List[Dict[str, object]], columns: List[str]) -> List[str]:
    """Aligned text lines: a header and one line per row, numbers to four significant digits."""
    def shown(value):
        if value is None:
            return '-'
        return f'{value:.4g}' if isinstance(value, float) else str(value)
    cells = [columns] + [[shown(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(line[index]) for line in cells) for index in range(len(columns))]
    return ['  '.join(cell.rjust(width) for cell, width in zip(line, widths)) for line in cells]


def measure(run: Path, truncations, n: int, seed: int, device: str, batch_size: int):
    """``(rows, seconds)``: each truncation's numeric scores, ``truncation`` first, and the time each took."""
    generator, spec = load_generator(str(run), device)
    config = read_run_config(str(run))
    dataset = str(config.get('dataset') or 'mnist')
    scorer = scorer_for(dataset, device, reference_images=functools.partial(default_reference_images, config),
                        cache_dir=config.get('data_dir'))  # built once, as evaluate_run builds it
    rows, seconds = [], []
    for truncation in truncations:
        start = time.perf_counter()
        scores = evaluate_generator(generator, spec['latent_dim'], n=n, device=device, seed=seed,
                                    batch_size=batch_size, scorer=scorer, num_classes=spec['num_classes'],
                                    truncation=truncation)
        seconds.append(time.perf_counter() - start)
        rows.append({'truncation': 'none' if truncation is None else truncation, **numeric_scores(scores)})
        print(f'T={rows[-1]["truncation"]}: ' + ', '.join(f'{key} {value:.4g}' for key, value in rows[-1].items()
                                                        if key != 'truncation'), flush=True)
    return rows, seconds


def truncation_value(text: str) -> Optional[float]:
    if text.lower() == 'none':
        return None
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f'a truncation is above 0 (or none), got {text}')
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--run', required=True, type=Path, help='a trained run folder (generator.pt, config.json)')
    parser.add_argument('--truncations', nargs='+', type=truncation_value, default=list(TRUNCATIONS),
                        help='the values of T, "none" for the plain normal (default: %(default)s)')
    parser.add_argument('--n', type=int, default=10000, help='generated images scored per value')
    parser.add_argument('--seed', type=int, default=0, help='seed of the noise (the same for every value)')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--batch-size', type=int, default=500)
    parser.add_argument('--threads', type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument('--out', default=str(ROOT / 'docs' / '_static' / 'truncation'),
                        help='write OUT.txt (header and table) and OUT.csv (the table)')
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not (args.run / 'generator.pt').is_file():
        parser.error(f'{str(args.run)!r} holds no generator.pt')
    header = [f'command: {" ".join([Path(sys.executable).name] + (sys.argv if argv is None else [__file__] + argv))}',
              f'commit: {commit()}',
              f'machine: {machine_name(args.device)}; device {args.device}; torch {torch.__version__}, '
              f'{torch.get_num_threads()} threads',
              f'load average at start: {load_average()}',
              f'generator.pt sha256: {sha256(args.run / "generator.pt")}',
              f'scored: {args.n} images per value, seed {args.seed}',
              'config.json: ' + json.dumps(read_run_config(str(args.run)), sort_keys=True)]
    print('\n'.join(header), flush=True)
    rows, seconds = measure(args.run, args.truncations, args.n, args.seed, args.device, args.batch_size)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    header += [f'load average at end: {load_average()}; {sum(seconds):.0f} s in all', '']
    lines = table(rows, columns)
    out = Path(args.out)
    os.makedirs(out.parent, exist_ok=True)
    out.with_suffix('.txt').write_text('\n'.join(header + lines) + '\n')
    with open(out.with_suffix('.csv'), 'w', newline='') as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)
    print('\n'.join(lines))
    print(f"wrote {out.with_suffix('.txt')} and {out.with_suffix('.csv')}")


if __name__ == '__main__':
    main()
