"""A federation from its settings to its summary, in the steps ``bearer-gan federate`` and the example take.

:func:`prepare_federation` turns the settings into a run that can start (the ``--out`` folder: a new run,
the same one again, or ``--resume``; the data split once; a deployment's credentials checked), so that a
user's mistake fails before anything is written. :func:`run_rounds` runs its rounds in Flower's simulation
runtime or as a local deployment, and :func:`federation_summary` says what they made. No step prints an
error or exits: the command line (:mod:`bearer_gan.cli.federate`) turns their exceptions into one line and
an exit code.
"""
import contextlib
import logging
import os
import warnings
from dataclasses import dataclass
from typing import List, Optional

from .. import flags
from ..data import DatasetError
from ..run_folder import writable_dir
from .checks import RoundRejected
from .config import FederatedConfig
from .run_folder import check_data, check_extras, clear_outputs, resolve_run
from .server import read_history, scores_text

__all__ = ['USER_MISTAKES', 'Federation', 'FederationFailed', 'prepare_federation', 'run_rounds', 'federation_summary']


#: What :func:`prepare_federation` raises for a mistake the user can fix (a one-line message): flags that make no
#: federation (:class:`~bearer_gan.config.ConfigError` and the settings' other :class:`ValueError` s, credentials
#: that do not match), data that cannot be loaded or split.
USER_MISTAKES = (ValueError, DatasetError)


class FederationFailed(RuntimeError):
    """A federation that started but could not finish: a round too few owners got right
    (:class:`~bearer_gan.federated.checks.RoundRejected`) or a deployment that failed or timed out. Its last
    finished round stays checkpointed, and ``--resume`` continues from it."""


@dataclass(frozen=True)
class Federation:
    """A federation ready to run: its settings, whether it continues a stopped run, a deployment's checked
    credentials (:class:`~bearer_gan.federated.credentials.Credentials`; None: made for it, or plaintext) and
    how many images the first owner holds (what the opening line reports)."""
    config: FederatedConfig
    resume: bool
    credentials: Optional[object] = None
    first_shard: int = 0

    def describe(self, deploy: bool = False) -> str:
        """The opening line: who trains what, where."""
        config = self.config
        where = 'a local deployment (SuperLink + SuperNodes)' if deploy else "Flower's simulation runtime"
        return (f'{config.nodes} of {config.owners} owners ({config.split}; owner 0 holds {self.first_shard} '
                f'images), {config.rounds} rounds of {config.local_steps} local steps, in {where}')


def prepare_federation(config: Optional[FederatedConfig], resume_dir: Optional[str] = None, overwrite: bool = False,
                       deploy: bool = False, credentials_dir: Optional[str] = None) -> Optional[Federation]:
    """The federation ``config`` asks for (None with ``resume_dir``: the stopped run there), checked before
    anything is written; None when that run has finished already (the same command again).

    Raises:
        USER_MISTAKES: a mistake the user can fix (the message is one line).
    """
    resolved = resolve_run(config, resume_dir, overwrite)
    if resolved is None:
        return None
    config, resume = resolved
    if deploy and config.drill_faulty_owner:  # a rehearsal, never a real federation's
        raise flags.UsageError('--drill-faulty-owner is a rehearsal for the simulation; a deployment refuses it')
    first_shard = check_data(config)
    check_extras(deploy)
    if deploy:
        from .deployment import deployment_run_config
        deployment_run_config(config, resume)  # paths that `flwr run --run-config` cannot carry fail here
    credentials = None
    if credentials_dir:  # a certificate or key that does not match fails now, with nothing written
        from .credentials import load_credentials
        credentials = load_credentials(credentials_dir, config.nodes)
    if not resume:
        writable_dir(config.out)
        clear_outputs(config.out)
    return Federation(config, resume, credentials, first_shard)


def run_rounds(federation: Federation, deploy: bool = False, secure: bool = True, timeout: Optional[float] = None,
               verbose: bool = False) -> Optional[str]:
    """Run the rounds ``federation`` has left: in Flower's simulation runtime
    (:func:`~bearer_gan.federated.app.run_simulation`: one process, the owners as Ray actors), or with ``deploy``
    as a SuperLink and SuperNodes on this machine (:func:`~bearer_gan.federated.deployment.run_deployment`, over
    TLS with node authentication unless ``secure`` is False). Returns a deployment's closing line, else None.

    Unless ``verbose``, Flower's log below WARNING and Ray's tips are left out: the server prints a line per round.

    Raises:
        FederationFailed: a round too few owners got right, or a deployment that failed or timed out (nothing of
            it is left running); the message is one line.
        KeyboardInterrupt: Ctrl-C, once every finished round is checkpointed.
    """
    with _flower_quiet(not verbose):
        if not deploy:
            from .app import run_simulation
            try:
                run_simulation(federation.config, federation.resume, verbose=verbose)
            except RoundRejected as error:
                raise FederationFailed(str(error)) from error
            return None
        from .deployment import DeploymentError, run_deployment
        try:
            outcome = run_deployment(federation.config, federation.resume, timeout=timeout, secure=secure,
                                     credentials=federation.credentials)
        except DeploymentError as error:
            raise FederationFailed(str(error)) from error
    return (f"run {outcome['run-id']} {outcome['status']}; "
            f"Flower counted {outcome['network-traffic']['total-bytes']:,} bytes in all")


@contextlib.contextmanager
def _flower_quiet(quiet: bool):
    """While a federation runs: Flower's INFO log and Ray's tips hidden when ``quiet``, as before afterwards."""
    flower_log = logging.getLogger('flwr')  # a filter, as Flower sets its logger's level when it is imported
    below_warning = lambda record: record.levelno >= logging.WARNING  # noqa: E731
    with warnings.catch_warnings():
        if quiet:
            warnings.filterwarnings('ignore', message='Tip: In future versions of Ray')
            flower_log.addFilter(below_warning)
        try:
            yield
        finally:
            flower_log.removeFilter(below_warning)


def federation_summary(config: FederatedConfig) -> List[str]:
    """The lines printed after the federation ``config`` ran: the last round's scores (its moving average's too,
    when it keeps one), the traffic per round, where the outputs are."""
    out = config.out
    rows = read_history(os.path.join(out, 'history.csv'))
    last, trained = rows[-1], rows[1:]
    lines = [f"after round {int(last['round'])}: {scores_text(last)}"
             + (f"; moving average {scores_text(last, 'ema_')}" if config.ema_decay > 0 else '')]
    if trained:
        lines.append(f"per round: {trained[-1]['bytes_to_owners']:,.0f} bytes to the owners, "
                     f"{trained[-1]['bytes_from_owners']:,.0f} back, "
                     f"{sum(row['round_seconds'] for row in trained) / len(trained):.1f} s on average")
    for name, what in (('samples', 'grids per round'), ('progress.gif', 'GIF across rounds'),
                       ('history.csv', 'history per round'), ('generator.pt', 'generator'),
                       ('checkpoint.pt', 'checkpoint')):
        lines.append(f'{what:>18}: {os.path.join(out, name)}')
    return lines
