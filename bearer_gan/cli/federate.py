"""``bearer-gan federate``: federated GAN training across data owners on Flower, as ``examples/federated_gan.py``.

The flags are :mod:`bearer_gan.federated.flags` (FederatedConfig's fields, and ``--resume``, ``--deploy``, ...),
the resume policy :func:`bearer_gan.federated.run_folder.resolve_run`, the run Flower's simulation runtime
(:func:`bearer_gan.federated.app.run_simulation`) or, with ``--deploy``, a local deployment
(:func:`bearer_gan.federated.deployment.run_deployment`). What this module adds is what a command line needs: a
user's mistake is one line and exit code 2, a run that fails (a deployment's error, a round too few owners got
right) exit code 1, Ctrl-C exit code 130 with every finished round checkpointed, and a summary at the end.
"""
import argparse
import json
import logging
import os
import signal
import sys
import warnings
from typing import List, Optional

from .. import flags
from ..data import DatasetError
from ..federated.checks import RoundRejected
from ..federated.flags import add_federation_flags, config_from_args, parse_federation_flags
from ..federated.run_folder import check_data, check_extras, clear_outputs, resolve_run
from ..federated.server import read_history, scores_text
from ..run_folder import writable_dir

__all__ = ['add_federate_arguments', 'run', 'summary', 'main']


def add_federate_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``bearer-gan federate``'s flags, for the CLI reference: the federation's (:mod:`bearer_gan.federated.flags`)."""
    return add_federation_flags(parser)


def summary(out: str) -> List[str]:
    """The lines printed after a federation: the last round's scores, the traffic per round, where the outputs are."""
    rows = read_history(os.path.join(out, 'history.csv'))
    last, trained = rows[-1], rows[1:]
    with open(os.path.join(out, 'config.json')) as handle:
        averaged = json.load(handle).get('ema_decay', 0) > 0  # else the ema_ columns are empty
    lines = [f"after round {int(last['round'])}: {scores_text(last)}"
             + (f"; moving average {scores_text(last, 'ema_')}" if averaged else '')]
    if trained:
        lines.append(f"per round: {trained[-1]['bytes_to_owners']:,.0f} bytes to the owners, "
                     f"{trained[-1]['bytes_from_owners']:,.0f} back, "
                     f"{sum(row['round_seconds'] for row in trained) / len(trained):.1f} s on average")
    for name, what in (('samples', 'grids per round'), ('progress.gif', 'GIF across rounds'),
                       ('history.csv', 'history per round'), ('generator.pt', 'generator'),
                       ('checkpoint.pt', 'checkpoint')):
        lines.append(f'{what:>18}: {os.path.join(out, name)}')
    return lines


def run(args: argparse.Namespace, program: str, again: str) -> None:
    """Run the federation that the parsed flags ``args`` ask for (:func:`parse_federation_flags`); ``program``
    opens an error line, ``again`` is the command that continues a stopped run (``bearer-gan federate``)."""
    with warnings.catch_warnings():  # one-line warnings and the Ray filter for this run only, then as before
        warnings.showwarning = lambda message, *_, **__: print(f'warning: {message}', file=sys.stderr)
        warnings.filterwarnings('ignore', message='Tip: In future versions of Ray')
        _run(args, program, again)


def _run(args: argparse.Namespace, program: str, again: str) -> None:
    try:
        resolved = resolve_run(None if args.resume else config_from_args(args), args.resume, args.overwrite)
        if resolved is None:
            return
        config, resume = resolved
        if args.deploy and config.drill_faulty_owner:  # a rehearsal, never a real federation's
            raise flags.UsageError('--drill-faulty-owner is a rehearsal for the simulation; a deployment refuses it')
        first_shard = check_data(config)
        check_extras(args.deploy)
        if args.deploy:
            from ..federated.deployment import deployment_run_config
            deployment_run_config(config, resume)  # paths that `flwr run --run-config` cannot carry fail here
        credentials = None
        if args.credentials:  # a certificate or key that does not match fails now, with nothing written
            from ..federated.credentials import load_credentials
            credentials = load_credentials(args.credentials, config.nodes)
        if not resume:
            writable_dir(config.out)
            clear_outputs(config.out)
    except (flags.UsageError, DatasetError, ValueError) as error:
        flags.fail(program, error)
    if not args.verbose:  # a filter, as Flower sets its logger's level when it is imported
        logging.getLogger('flwr').addFilter(lambda record: record.levelno >= logging.WARNING)
    where = 'a local deployment (SuperLink + SuperNodes)' if args.deploy else "Flower's simulation runtime"
    print(f'{config.nodes} of {config.owners} owners ({config.split}; owner 0 holds {first_shard} images), '
          f'{config.rounds} rounds of {config.local_steps} local steps, in {where}')
    try:
        if args.deploy:
            from ..federated.deployment import DeploymentError, run_deployment
            # Ctrl-C stops the deployment even when this process started with SIGINT ignored (a script's
            # background job), as it stops `bearer-gan train` and the simulation, which install their own handlers
            previous = signal.signal(signal.SIGINT, signal.default_int_handler)
            try:
                outcome = run_deployment(config, resume, timeout=args.timeout, secure=not args.insecure,
                                         credentials=credentials)
            except DeploymentError as error:
                print(f'{program}: {error}', file=sys.stderr)
                sys.exit(1)
            finally:
                signal.signal(signal.SIGINT, previous)
            traffic = outcome['network-traffic']
            print(f"run {outcome['run-id']} {outcome['status']}; "
                  f"Flower counted {traffic['total-bytes']:,} bytes in all")
        else:
            from ..federated.app import run_simulation
            try:
                run_simulation(config, resume, verbose=args.verbose)
            except RoundRejected as error:  # a round too few owners got right: the previous one stays checkpointed
                print(f'{program}: {error}', file=sys.stderr)
                sys.exit(1)
    except KeyboardInterrupt:
        print(f'\nstopped: every finished round is checkpointed in {config.out}; continue with '
              f'{again} --resume {config.out}', file=sys.stderr)
        sys.exit(130)
    print('\n'.join(summary(config.out)))


def main(argv: Optional[List[str]] = None, prog: str = 'bearer-gan federate') -> None:
    """``bearer-gan federate [flags]``: parse the flags, then :func:`run` the federation."""
    os.environ.setdefault('FLWR_TELEMETRY_ENABLED', '0')  # offline: no usage events to Flower's servers
    run(parse_federation_flags(argv, prog=prog), prog, again=prog)
