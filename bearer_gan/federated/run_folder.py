"""A federation's ``--out`` folder and what is checked before a federation starts: the resume policy that
``bearer-gan federate`` and ``examples/federated_gan.py`` share.

A federated run owns its ``--out`` folder (:data:`OUTPUTS`; ``config.json`` holds its
:class:`~bearer_gan.federated.config.FederatedConfig`). A new run writes into an empty folder, one holding the very
same run when it has finished (nothing to do), or another run's folder with ``--overwrite``; ``--resume RUN``
continues a stopped one from its last finished round.
"""
import importlib.util
import json
import os
import shutil
from typing import Optional, Tuple

from ..flags import UsageError
from ..recipe import make_spec
from .config import FederatedConfig
from .rounds import federation_data
from .server import load_federated_checkpoint
from .split import split_indices

__all__ = ['OUTPUTS', 'check_extras', 'check_data', 'recorded_settings', 'finished_round', 'resolve_run',
           'clear_outputs']

#: Everything a federated run writes into its ``--out`` folder (what ``--overwrite`` removes).
OUTPUTS = ('samples', 'progress.gif', 'progress_ema.gif', 'history.csv', 'generator.pt', 'discriminator.pt',
           'config.json', 'checkpoint.pt', 'checkpoint.prev.pt', 'deployment')


def check_extras(deploy: bool) -> None:
    """Flower (and, for the simulation, Ray) must be installed; say how to install them otherwise."""
    extra = 'federated' if deploy else 'federated-sim'
    missing = [name for name in ('flwr',) + (() if deploy else ('ray',)) if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"{' and '.join(missing)} not installed: federated training needs "
                         f"pip install 'bearer_gan[{extra}]'")


def check_data(config: FederatedConfig) -> int:
    """Load the data and make the split once here, so that a split that cannot be made, or a model that cannot
    draw these images, fails now, in one line. Returns the images owner 0 holds."""
    data = federation_data(config.dataset, config.data_dir)
    make_spec(config.recipe('cpu'), data)
    shards = split_indices(data.labels, config.owners, config.parsed_split, config.seed)
    return len(shards[0])


def recorded_settings(values: dict) -> dict:
    """A ``config.json``'s settings, without what a deployment adds to it (``tls``, ``node_authentication``)."""
    return {name: value for name, value in values.items() if name not in ('tls', 'node_authentication')}


def finished_round(out: str) -> int:
    """The last round whose checkpoint ``out`` holds; 0 for none."""
    try:
        return int(load_federated_checkpoint(out)[0]['round'])
    except FileNotFoundError:
        return 0


def resolve_run(config: Optional[FederatedConfig], resume: Optional[str] = None,
                overwrite: bool = False) -> Optional[Tuple[FederatedConfig, bool]]:
    """``(config, resuming)`` for a command asking for ``config`` (None with ``resume``, the run folder to
    continue), or None when there is nothing to do; raises UsageError for an ``--out`` that holds another run,
    or this run stopped half-way (without ``--resume``)."""
    if resume:
        path = os.path.join(resume, 'config.json')
        try:
            with open(path) as handle:
                config = FederatedConfig(**recorded_settings(json.load(handle)))
        except (OSError, ValueError, TypeError) as error:
            raise UsageError(f'cannot resume {resume!r}: {path} is missing or unreadable ({error})')
        done = finished_round(resume)
        if done >= config.rounds:
            print(f'{resume} has finished all {config.rounds} rounds; nothing to do')
            return None
        if not os.path.exists(os.path.join(resume, 'checkpoint.pt')) and not done:
            raise UsageError(f'cannot resume {resume!r}: it holds no checkpoint')
        print(f'resuming {resume} after round {done} of {config.rounds}')
        return config, True
    out = config.out
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f'--out {out!r} is a file, not a directory')
    if os.path.isdir(out) and os.listdir(out) and not overwrite:
        try:
            with open(os.path.join(out, 'config.json')) as handle:
                same = FederatedConfig(**recorded_settings(json.load(handle))).identity() == config.identity()
        except (OSError, ValueError, TypeError):
            same = False
        if not same:
            raise UsageError(f'--out {out!r} is not empty and holds a different run; choose another --out '
                             'or pass --overwrite to replace its outputs')
        done = finished_round(out)
        if done >= config.rounds:
            print(f'{out} already holds this run, finished ({config.rounds} rounds); nothing to do '
                  '(--overwrite trains it again)')
            return None
        raise UsageError(f'{out!r} holds this run, stopped after round {done} of {config.rounds}; continue it '
                         f'with --resume {out}, or pass --overwrite to start again')
    return config, False


def clear_outputs(out: str) -> None:
    """Remove a previous run's outputs (only the names in :data:`OUTPUTS`)."""
    for name in OUTPUTS:
        target = os.path.join(out, name)
        if os.path.isdir(target):
            shutil.rmtree(target)
        elif os.path.exists(target):
            os.remove(target)
