"""What a run folder says about its run, read once for the report page and the comparison page.

A run folder is read, never trusted: every file may be missing (a run still training, an older
version's run, a folder copied without its images) or unreadable, and the pages show what there
is. Both kinds of run are read: a single-machine run (``history.csv`` per step) and a federation's
server (``history.csv`` per round, ``owners.json``).
"""
import csv
import glob
import json
import math
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

__all__ = ['RunFacts', 'read_run', 'latest_grid']


@dataclass
class RunFacts:
    """The facts of one run folder.

    Attributes:
        path: the folder.
        name: its name (the folder's base name).
        config: ``config.json`` as recorded ({} when missing or unreadable).
        federated: whether it is a federation's folder (its config has ``rounds``).
        columns: ``history.csv``'s header; ``step`` (or ``round``) first.
        rows: its rows, floats (NaN for an empty cell), oldest first.
        scores: ``eval.json`` ({} when there is none).
        eval_rows: ``eval_history.csv``'s rows as ``{column: value or None}`` (``--eval-interval``).
        owners: ``owners.json``'s owners (a federation): ``{'owner', 'images', 'class_counts'}`` each.
        images: which of the run's own images exist, by role (``gif``, ``gif_ema``, ``grid``, ``real``,
            ``fid``), as paths relative to :attr:`path`.
    """
    path: str
    name: str
    config: Dict[str, object] = field(default_factory=dict)
    federated: bool = False
    columns: Sequence[str] = ()
    rows: List[List[float]] = field(default_factory=list)
    scores: Dict[str, object] = field(default_factory=dict)
    eval_rows: List[Dict[str, Optional[float]]] = field(default_factory=list)
    owners: List[Dict[str, object]] = field(default_factory=list)
    images: Dict[str, str] = field(default_factory=dict)

    @property
    def progress(self) -> Optional[int]:
        """The last step (a federation: round) recorded in ``history.csv``; None before the first."""
        return int(self.rows[-1][0]) if self.rows else None

    @property
    def planned(self) -> Optional[int]:
        """The steps (a federation: rounds) the run was asked for."""
        value = self.config.get('rounds' if self.federated else 'steps')
        return value if isinstance(value, int) else None

    def column(self, name: str) -> List[float]:
        """One column of ``history.csv`` ([] when the run has none)."""
        if name not in self.columns:
            return []
        index = list(self.columns).index(name)
        return [row[index] for row in self.rows]


def _json(path: str) -> Dict[str, object]:
    try:
        with open(path) as handle:
            value = json.load(handle)
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _number(text: str) -> float:
    try:
        return float(text) if text != '' else math.nan
    except ValueError:
        return math.nan


def _csv(path: str):
    try:
        with open(path, newline='') as handle:
            reader = csv.reader(handle)
            header = tuple(next(reader, ()))
            rows = [[_number(value) for value in row] for row in reader if len(row) == len(header)]
    except OSError:
        return (), []
    return header, rows


def latest_grid(path: str, federated: bool = False) -> Optional[str]:
    """The newest sample grid under ``path/samples`` (relative to ``path``): ``step_NNNNNN.png``, or for a
    federation ``ema_round_NNNN.png`` (the moving average) else ``round_NNNN.png``; None when there is none."""
    patterns = ('ema_round_*.png', 'round_*.png') if federated else ('step_*.png',)
    for pattern in patterns:
        found = sorted(glob.glob(os.path.join(path, 'samples', pattern)))
        if found:
            return os.path.relpath(found[-1], path)
    return None


def read_run(path: str) -> RunFacts:
    """Read what ``path`` holds; missing or unreadable files leave their facts empty."""
    config = _json(os.path.join(path, 'config.json'))
    facts = RunFacts(path=path, name=os.path.basename(os.path.abspath(path)), config=config,
                     federated='rounds' in config)
    facts.columns, facts.rows = _csv(os.path.join(path, 'history.csv'))
    facts.scores = _json(os.path.join(path, 'eval.json'))
    columns, rows = _csv(os.path.join(path, 'eval_history.csv'))
    facts.eval_rows = [{name: (None if math.isnan(value) else value) for name, value in zip(columns, row)}
                       for row in rows]
    owners = _json(os.path.join(path, 'owners.json')).get('owners')
    facts.owners = [owner for owner in owners if isinstance(owner, dict)] if isinstance(owners, list) else []
    candidates = {'gif': 'progress.gif', 'gif_ema': 'progress_ema.gif', 'real': 'real.png', 'fid': 'fid.png',
                  'grid': latest_grid(path, facts.federated)}
    facts.images = {role: name for role, name in candidates.items()
                    if name is not None and os.path.isfile(os.path.join(path, name))}
    return facts
