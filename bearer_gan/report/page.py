"""``report.html``: a finished (or running) run at a glance, in one file that opens from disk.

Written into the run folder at each checkpoint and at the end of training (:class:`ReportPage`),
after each federated round, and by ``bearer-gan report RUN``. It shows the GIF, the latest sample
grid next to the real images, the loss and discriminator-output curves, FID over steps (with
``--eval-interval``), the evaluation with each class's share, the config and the data's
provenance, and for a federation its per-round curves and each owner's share of the data.

Charts are embedded (:mod:`~bearer_gan.report.charts`); the run's own images (GIF, grids) are
referenced by paths relative to the folder, so the folder can be zipped and mailed as it is.
"""
import datetime
import os
from typing import List, Optional

from torchbearer.callbacks import Callback

from ..callbacks import steps_done
from ..evaluation.classifiers import CLASSIFIERS
from ..files import atomic_path
from . import html
from .charts import history_chart, round_chart
from .facts import RunFacts, read_run

__all__ = ['REPORT', 'class_names', 'summary', 'run_sections', 'write_report', 'ReportPage', 'version']

#: The page's name in the run folder.
REPORT = 'report.html'
#: eval.json's entries shown in its table, in this order (others follow, sorted).
SCORE_ORDER = ('fid', 'fid_skipped', 'precision', 'recall', 'density', 'coverage', 'kid', 'kid_std',
               'classes_covered', 'kl_from_uniform', 'mean_confidence', 'conditional_accuracy', 'n', 'scorer',
               'dataset', 'model', 'latent_dim')


def version() -> str:
    """bearer_gan's installed version, for the footer (``unknown`` when it is not installed)."""
    from importlib import metadata
    try:
        return metadata.version('bearer_gan')
    except metadata.PackageNotFoundError:
        return 'unknown'


def class_names(facts: RunFacts, count: int) -> List[str]:
    """The names of the run's ``count`` classes: the shipped classifier's (MNIST digits, Fashion-MNIST's
    garments) when its data set has one, else their indices."""
    shipped = CLASSIFIERS.get(str(facts.scores.get('dataset') or facts.config.get('dataset')))
    names = list(shipped.class_names) if shipped is not None else []
    return names if len(names) == count else [str(index) for index in range(count)]


def summary(facts: RunFacts) -> str:
    """One line (HTML) about the run: its data, model and loss, how far it got, its FID."""
    config, unit = facts.config, 'round' if facts.federated else 'step'
    parts = [f'{html.escape(config.get("dataset", "?"))}, {html.escape(config.get("model", "?"))}']
    if 'loss' in config:
        parts[0] += f', {html.escape(config["loss"])} loss'
    if facts.progress is not None:
        planned = f' of {facts.planned:,}' if facts.planned else ''
        parts.append(f'{unit} {facts.progress:,}{planned}')
    if isinstance(facts.scores.get('fid'), (int, float)):
        parts.append(f'FID {facts.scores["fid"]:.1f} ({html.escape(facts.scores.get("scorer", ""))} features, '
                     f'{html.escape(facts.scores.get("n", "?"))} samples)')
    return ' &middot; '.join(parts)


def _samples(facts: RunFacts) -> str:
    images, figures = facts.images, []
    for role, caption in (('gif', 'training: samples from one fixed noise batch'),
                          ('gif_ema', 'training: the moving average of the generator')):
        if role in images:
            figures.append(html.figure(images[role], caption, pixels=True, width=280))
    if 'grid' in images:
        figures.append(html.figure(images['grid'], f'latest samples ({images["grid"]})', pixels=True, width=280))
    if 'real' in images:
        figures.append(html.figure(images['real'], 'real images', pixels=True, width=280))
    body = f'<div class="figures">{"".join(figures)}</div>' if figures else '<p>No samples yet.</p>'
    return html.section('samples', 'Samples', body)


def _curves(facts: RunFacts) -> Optional[str]:
    charts = []
    chart = round_chart(facts) if facts.federated else history_chart(facts)
    if chart:
        charts.append(html.figure(chart, 'per round' if facts.federated
                                  else 'losses and discriminator outputs per step (faint: raw; solid: moving average)'))
    if 'fid' in facts.images:
        best = [row for row in facts.eval_rows if row.get('fid') is not None]
        caption = 'FID over steps (--eval-interval)'
        if best:
            top = min(best, key=lambda row: row['fid'])
            caption += f'; best {top["fid"]:.1f} at step {int(top["step"]):,}, kept in generator.best.pt'
        charts.append(html.figure(facts.images['fid'], caption))
    return html.section('curves', 'Curves', *charts) if charts else None


def _evaluation(facts: RunFacts) -> Optional[str]:
    scores = facts.scores
    if not scores:
        return None
    order = [key for key in SCORE_ORDER if key in scores] + sorted(
        key for key in scores if key not in SCORE_ORDER and not isinstance(scores[key], (list, dict)))
    parts = [html.table(('score', 'value'), [[html.escape(key), html.number(scores[key])] for key in order],
                        html_cells=True)]
    shares = scores.get('class_shares')
    if isinstance(shares, list) and shares:
        parts.append('<h3>Share of each class among the samples</h3>')
        parts.append(html.bars(class_names(facts, len(shares)), shares))
    return html.section('evaluation', 'Evaluation (eval.json)', *parts)


def _federation(facts: RunFacts) -> Optional[str]:
    if not facts.owners:
        return None
    total = sum(int(owner.get('images', 0)) for owner in facts.owners) or 1
    rows = []
    for owner in facts.owners:
        counts = owner.get('class_counts') or []
        classes = ', '.join(f'{label}: {count}' for label, count in enumerate(counts) if count)
        share = int(owner.get('images', 0)) / total
        rows.append([html.escape(owner.get('owner', '?')), html.escape(owner.get('images', '?')),
                     f'<span class="bar" style="width: {12 * share:.2f}em"></span> {100 * share:.1f}%',
                     html.escape(classes)])
    return html.section('owners', "The owners' data", html.table(('owner', 'images', 'share', 'images per class'),
                                                                 rows, html_cells=True))


def _config(facts: RunFacts) -> str:
    config = facts.config
    if not config:
        return html.section('config', 'Config', '<p>No readable config.json.</p>')
    rows = [[html.escape(key), html.number(value)] for key, value in sorted(config.items())
            if not isinstance(value, (dict, list))]
    parts = [html.table(('setting', 'value'), rows, html_cells=True)]
    data = config.get('data')
    if isinstance(data, dict):
        parts.insert(0, '<h3>Data</h3>' + html.table(('', ''), sorted((key, str(value)) for key, value in data.items())))
        parts.insert(1, '<h3>Settings</h3>')
    return html.section('config', 'Config (config.json)', *parts)


def run_sections(facts: RunFacts) -> List[str]:
    """The sections of one run's page, those it has facts for, top to bottom."""
    return [part for part in (_samples(facts), _curves(facts), _evaluation(facts), _federation(facts),
                              _config(facts)) if part]


def write_report(run_dir: str) -> str:
    """Write ``run_dir/report.html`` from what the folder holds now (atomically); returns its path."""
    facts = read_run(run_dir)
    written = datetime.datetime.now().strftime('%Y-%m-%d %H:%M')
    page = html.document(f'{facts.name}: bearer_gan run', f'Run {facts.name}', summary(facts), run_sections(facts),
                         f'Written by bearer_gan {html.escape(version())} on {written} from the files in this folder.')
    path = os.path.join(run_dir, REPORT)
    with atomic_path(path) as temporary, open(temporary, 'w', encoding='utf-8') as handle:
        handle.write(page)
    return path


class ReportPage(Callback):
    """Write the run's ``report.html`` every ``interval`` steps and at the end (also after Ctrl-C).

    Put it after the callbacks whose files it shows and before the checkpoint, so that a page written
    at a checkpoint shows that step's history and samples. It reads only files, never the state's
    networks or random generators, so it cannot change training.

    State Requirements:
        - reads :data:`~bearer_gan.keys.STEP` (through :func:`~bearer_gan.callbacks.steps_done`)
    """

    def __init__(self, out_dir: str, interval: int = 1000):
        if interval < 1:
            raise ValueError(f'report interval must be a positive integer, got {interval}')
        self.out_dir, self.interval = out_dir, interval

    def on_step_training(self, state):
        if steps_done(state) % self.interval == 0:
            write_report(self.out_dir)

    def on_end(self, state):
        write_report(self.out_dir)
