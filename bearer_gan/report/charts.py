"""The report's charts: matplotlib figures embedded in the page as SVG ``data:`` URIs.

An embedded chart keeps the page self-contained (it travels with the HTML file alone) and is drawn
from the run's own CSV files each time the page is written, so it is as fresh as they are. A
single-machine history has a row per step (15,000 for the default run); it is thinned to at most
:data:`MAX_POINTS` rows first, which keeps a chart near 150 KB and its drawing near 0.1 s.
"""
import base64
import io
import math
from typing import Dict, List, Optional, Sequence, Tuple

from ..callbacks.history import history_figure
from ..losses import LOSSES
from .facts import RunFacts

__all__ = ['MAX_POINTS', 'figure_uri', 'history_chart', 'round_chart', 'overlay_chart']

#: Most rows of a history drawn in one chart; longer histories keep every k-th row.
MAX_POINTS = 750
#: The smoothing window of ``losses.png``, in steps.
WINDOW = 50

Series = Dict[str, Tuple[Sequence[float], Sequence[float]]]


def figure_uri(figure) -> str:
    """The matplotlib ``figure`` as an SVG ``data:`` URI; the figure is closed."""
    import matplotlib.pyplot as plt
    buffer = io.BytesIO()
    figure.savefig(buffer, format='svg')
    plt.close(figure)
    return 'data:image/svg+xml;base64,' + base64.b64encode(buffer.getvalue()).decode('ascii')


def _thinned(rows: List[List[float]]) -> Tuple[List[List[float]], int]:
    stride = max(1, math.ceil(len(rows) / MAX_POINTS))
    return rows[::stride], stride


def history_chart(facts: RunFacts) -> Optional[str]:
    """The losses and discriminator outputs of a single-machine run (``losses.png``'s panels), or None
    before its first row."""
    if facts.federated or not facts.rows or 'step' not in facts.columns[:1]:
        return None
    rows, stride = _thinned(facts.rows)
    loss = LOSSES.get(str(facts.config.get('loss', 'bce')))
    figure, _ = history_figure(rows, window=max(1, WINDOW // stride), columns=facts.columns,
                               probabilities=loss.probabilities if loss is not None else True)
    return figure_uri(figure)


def _axes(count: int, width: float = 5.5):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(1, count, figsize=(width * count, 4), squeeze=False)
    return figure, axes[0]


def _draw(axis, series: Series, title: str, xlabel: str, ylabel: str = '', marker: Optional[str] = None):
    for label, (x, y) in series.items():
        axis.plot(x, y, label=label, marker=marker, markersize=3)
    axis.set_title(title)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    if series:
        axis.legend()


def round_chart(facts: RunFacts) -> Optional[str]:
    """A federation's curves per round: FID of the global generator and of its moving average, classes
    covered, and the owners' mean losses; None before its first round."""
    if not facts.federated or not facts.rows:
        return None
    rounds = facts.column('round')

    def series(*names):
        return {name: (rounds, facts.column(name)) for name in names if facts.column(name)}
    panels = [('FID per round (lower is better)', series('fid', 'ema_fid')),
              ('classes covered', series('classes_covered', 'ema_classes_covered')),
              ("owners' mean losses", series('g_loss', 'd_loss'))]
    figure, axes = _axes(len(panels), width=4.5)
    for axis, (title, drawn) in zip(axes, panels):
        _draw(axis, drawn, title, 'round', marker='o')
    figure.tight_layout()
    return figure_uri(figure)


def overlay_chart(panels: Sequence[Tuple[str, str, Series]], ylabel: str = '') -> Optional[str]:
    """Several runs' curves overlaid, one panel per ``(title, x label, {run: (x, y)})``; panels without
    series are left out, and None is returned when none is left."""
    panels = [panel for panel in panels if panel[2]]
    if not panels:
        return None
    figure, axes = _axes(len(panels))
    for axis, (title, xlabel, series) in zip(axes, panels):
        _draw(axis, series, title, xlabel, ylabel)
    figure.tight_layout()
    return figure_uri(figure)
