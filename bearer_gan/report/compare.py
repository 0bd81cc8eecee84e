"""A page comparing runs side by side: how people choose between them.

``bearer-gan report RUN [RUN ...] --out compare.html`` shows, for every run: a grid drawn on the
same noise (the same seed gives the same ``z`` to every generator of the same latent size), the
scores of its ``eval.json`` in one table, its curves overlaid on the others', and the settings in
which the runs differ. Grids and charts are embedded, so the page is one file; it links to each
run's own ``report.html`` by a path relative to where it is written.
"""
import base64
import io
import math
import os
from typing import List, Optional, Sequence

import numpy as np

from ..callbacks.saving import GeneratorFileError, load_generator
from ..files import atomic_path
from ..sampling import class_rows, generate, save_grid
from . import html
from .charts import MAX_POINTS, overlay_chart
from .facts import RunFacts, read_run
from .page import REPORT, SCORE_ORDER, version

__all__ = ['same_noise_grid', 'differences', 'compare_runs']

#: Smoothing of the overlaid loss curves, in history rows.
WINDOW = 200


def same_noise_grid(run_dir: str, seed: int = 0, device: str = 'cpu') -> Optional[str]:
    """The run's generator on the noise of ``seed`` as a PNG ``data:`` URI: 64 samples, or 8 of each class
    (one class per row) for a class-conditional run; None when the run has no readable ``generator.pt``."""
    try:
        generator, spec = load_generator(run_dir, device)
    except (FileNotFoundError, GeneratorFileError):
        return None
    labels = None if spec['num_classes'] is None else class_rows(spec['num_classes'], 8)
    images = generate(generator, spec['latent_dim'], 64 if labels is None else len(labels), seed=seed,
                      device=device, labels=labels).cpu()
    buffer = io.BytesIO()
    save_grid(images, buffer)
    return 'data:image/png;base64,' + base64.b64encode(buffer.getvalue()).decode('ascii')


def differences(runs: Sequence[RunFacts]) -> List[str]:
    """The ``config.json`` settings whose values differ between ``runs`` (not the output folder), sorted."""
    keys = sorted({key for facts in runs for key in facts.config} - {'out', 'data', 'config_format'})
    return [key for key in keys if len({repr(facts.config.get(key)) for facts in runs}) > 1]


def _smoothed(facts: RunFacts, column: str):
    values = np.asarray(facts.column(column), dtype=np.float64)
    if len(values) == 0:
        return None
    window = max(1, min(WINDOW, len(values)))
    smooth = np.convolve(values, np.ones(window) / window, mode='valid')
    steps = np.asarray(facts.column(facts.columns[0]))[window - 1:]
    stride = max(1, math.ceil(len(smooth) / MAX_POINTS))
    return steps[::stride], smooth[::stride]


def _curves(runs: Sequence[RunFacts], labels: Sequence[str]) -> Optional[str]:
    fid, per_round, losses, d_real = {}, {}, {}, {}
    for label, facts in zip(labels, runs):
        scored = [(row['step'], row['fid']) for row in facts.eval_rows if row.get('fid') is not None]
        if scored:
            fid[label] = tuple(zip(*scored))
        if facts.federated:
            if facts.column('fid'):
                per_round[label] = (facts.column('round'), facts.column('ema_fid') or facts.column('fid'))
            continue
        for series, column in ((losses, 'g_loss'), (d_real, 'd_x')):
            drawn = _smoothed(facts, column)
            if drawn is not None:
                series[label] = drawn
    return overlay_chart([('FID over steps (--eval-interval)', 'step', fid),
                          ('federations: FID of the moving average per round', 'round', per_round),
                          (f'g_loss ({WINDOW}-step moving average)', 'step', losses),
                          (f'D(x) ({WINDOW}-step moving average)', 'step', d_real)])


def compare_runs(run_dirs: Sequence[str], out: str, seed: int = 0, device: str = 'cpu') -> str:
    """Write the comparison page of ``run_dirs`` to ``out`` (atomically); returns ``out``.

    Runs are labelled by their paths as given. Grids are drawn on the noise of ``seed``; generators
    of different latent sizes cannot share noise, which the grid's caption says.
    """
    runs = [read_run(path) for path in run_dirs]
    labels = list(run_dirs)
    here = os.path.dirname(os.path.abspath(out))
    latent = {facts.config.get('latent_dim') for facts in runs}
    grids = []
    for label, facts in zip(labels, runs):
        grid = same_noise_grid(facts.path, seed, device)
        caption = label + ('' if len(latent) == 1 else f' (latent size {facts.config.get("latent_dim")})')
        grids.append(html.figure(grid, caption, pixels=True, width=260) if grid else
                     f'<figure><p>{html.escape(label)}: no generator.pt yet</p></figure>')
    note = ('' if len(latent) == 1 else '<p>The runs differ in latent size, so they cannot share noise: each grid '
            'has its own.</p>')
    sections = [html.section('samples', f'Samples on the same noise (seed {seed})', note,
                             f'<div class="figures">{"".join(grids)}</div>')]
    scores = [key for key in SCORE_ORDER if any(key in facts.scores for facts in runs)]
    progress = [('&mdash;' if facts.progress is None else f'{facts.progress:,}')
                + (f' of {facts.planned:,}' if facts.planned else '') for facts in runs]
    rows = [['progress (step or round)'] + progress] + [
        [html.escape(key)] + [html.number(facts.scores.get(key)) for facts in runs] for key in scores]
    sections.append(html.section('scores', 'Scores (eval.json)', html.table(['', *labels], rows, html_cells=True)))
    chart = _curves(runs, labels)
    if chart:
        sections.append(html.section('curves', 'Curves', html.figure(chart, 'each run\'s curves, overlaid')))
    changed = differences(runs)
    rows = [[html.escape(key)] + [html.number(facts.config.get(key)) for facts in runs] for key in changed]
    sections.append(html.section('differences', 'Settings that differ',
                                 html.table(['', *labels], rows, html_cells=True) if rows
                                 else '<p>None: the runs were made with the same settings.</p>'))
    links = [f'<li><a href="{html.escape(os.path.relpath(os.path.join(facts.path, REPORT), here))}">'
             f'{html.escape(label)}</a></li>' for label, facts in zip(labels, runs)
             if os.path.isfile(os.path.join(facts.path, REPORT))]
    if links:
        sections.append(html.section('runs', "Each run's page", '<ul>' + ''.join(links) + '</ul>'))
    os.makedirs(here, exist_ok=True)
    page = html.document('bearer_gan: ' + ', '.join(labels), f'{len(runs)} runs compared',
                         ' &middot; '.join(html.escape(label) for label in labels), sections,
                         f'Written by bearer_gan {html.escape(version())}.')
    with atomic_path(out) as temporary, open(temporary, 'w', encoding='utf-8') as handle:
        handle.write(page)
    return out
