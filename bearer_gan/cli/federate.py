"""``bearer-gan federate``: federated GAN training across data owners on Flower, as ``examples/federated_gan.py``.

The flags are :mod:`bearer_gan.federated.flags` (FederatedConfig's fields, and ``--resume``, ``--deploy``, ...),
the steps :mod:`bearer_gan.federated.launch`'s: the run prepared (the resume policy, the data, the credentials),
its rounds run in Flower's simulation runtime or, with ``--deploy``, a local deployment, and its summary. What
this module adds is what a command line needs: a
user's mistake is one line and exit code 2, a run that fails (a deployment's error, a round too few owners got
right) exit code 1, Ctrl-C exit code 130 with every finished round checkpointed, and a summary at the end.
"""
import argparse
import contextlib
import os
import signal
import sys
import warnings
from typing import Iterator, List, Optional

from .. import flags
from ..federated.flags import add_federation_flags, config_from_args, parse_federation_flags
from ..federated.launch import (USER_MISTAKES, Federation, FederationFailed, federation_summary, prepare_federation,
                                run_rounds)

__all__ = ['add_federate_arguments', 'run', 'federation_exits', 'main']


def add_federate_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``bearer-gan federate``'s flags, for the CLI reference: the federation's (:mod:`bearer_gan.federated.flags`)."""
    return add_federation_flags(parser)


def run(args: argparse.Namespace, program: str, again: str) -> None:
    """Run the federation that the parsed flags ``args`` ask for (:func:`parse_federation_flags`); ``program``
    opens an error line, ``again`` is the command that continues a stopped run (``bearer-gan federate``)."""
    with warnings.catch_warnings():  # one-line warnings for this run only, then as before
        warnings.showwarning = lambda message, *_, **__: print(f'warning: {message}', file=sys.stderr)
        _run(args, program, again)


def _run(args: argparse.Namespace, program: str, again: str) -> None:
    try:
        federation = prepare_federation(None if args.resume else config_from_args(args), args.resume,
                                        args.overwrite, deploy=args.deploy, credentials_dir=args.credentials)
    except USER_MISTAKES as error:
        flags.fail(program, error)
    if federation is None:  # finished already: the same command again does nothing
        return
    print(federation.describe(args.deploy))
    with federation_exits(federation, program, again, args.deploy):
        closing = run_rounds(federation, deploy=args.deploy, secure=not args.insecure, timeout=args.timeout,
                             verbose=args.verbose)
    if closing:
        print(closing)
    print('\n'.join(federation_summary(federation.config)))


@contextlib.contextmanager
def federation_exits(federation: Federation, program: str, again: str, deploy: bool = False) -> Iterator[None]:
    """While ``federation``'s rounds run (:func:`run_rounds`): a run that fails is one line opened by ``program`` and
    exit code 1 (too few owners got a round right, a deployment failed), Ctrl-C exit code 130 with the command that
    continues it (``again --resume OUT``); its finished rounds are checkpointed either way.

    With ``deploy``, Ctrl-C stops the deployment even when this process started with SIGINT ignored (a script's
    background job), as it stops ``bearer-gan train`` and the simulation, which install their own handlers.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler) if deploy else None
    try:
        yield
    except FederationFailed as error:
        print(f'{program}: {error}', file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        out = federation.config.out
        print(f'\nstopped: every finished round is checkpointed in {out}; continue with {again} --resume {out}',
              file=sys.stderr)
        sys.exit(130)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def main(argv: Optional[List[str]] = None, prog: str = 'bearer-gan federate') -> None:
    """``bearer-gan federate [flags]``: parse the flags, then :func:`run` the federation."""
    os.environ.setdefault('FLWR_TELEMETRY_ENABLED', '0')  # offline: no usage events to Flower's servers
    run(parse_federation_flags(argv, prog=prog), prog, again=prog)
