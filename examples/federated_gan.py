"""Federated GAN training across data owners on Flower: ``python examples/federated_gan.py``.

Several owners each hold a shard of the data; each round every owner trains the global generator
and discriminator on its own shard with the project's recipe, and the server averages the
networks (FedAvg, weighted by shard size). Only networks travel; no image leaves its owner.

    python examples/federated_gan.py --owners 5 --rounds 20 --local-steps 100 --split classes-per-owner 2
    python examples/federated_gan.py --split iid              # every owner sees every digit
    python examples/federated_gan.py --split dirichlet 0.3    # skewed class mixtures
    python examples/federated_gan.py --loss hinge --spectral-norm --conditional  # any recipe bearer-gan train trains
    python examples/federated_gan.py --server-optimizer fedavgm  # a server step with momentum, not the bare average
    python examples/federated_gan.py --deploy                 # a SuperLink and SuperNodes as separate processes
    python examples/federated_gan.py --deploy --insecure      # the same in plaintext, any SuperNode admitted
    python examples/federated_gan.py --deploy --credentials DIR   # with certificates and node keys made beforehand

Each owner trains the recipe that ``bearer-gan train`` trains with the same flags (``--loss``,
``--lr-g``/``--lr-d``, ``--beta2``, ``--gp-weight``, ``--r1-gamma``, ``--conditional``,
``--spectral-norm``, ...: a :class:`bearer_gan.RunConfig`, built by :mod:`bearer_gan.recipe`).

By default it runs in Flower's simulation runtime (one process, the owners as Ray actors; needs
``pip install 'bearer_gan[federated-sim]'``). ``--deploy`` runs a real deployment on this machine
instead: a SuperLink and one SuperNode per owner on 127.0.0.1, the app submitted with ``flwr run``
and its status polled until it finishes (needs ``bearer_gan[federated]``), over TLS and admitting only
its own SuperNodes (credentials made for it in ``OUT/deployment/credentials``); ``--insecure`` turns both off.

Outputs in ``--out`` (default ``runs/federated``): ``samples/round_NNNN.png`` and
``samples/ema_round_NNNN.png`` (the global generator and its moving average across rounds, on
fixed noise), ``progress.gif`` / ``progress_ema.gif``, ``history.csv`` (per round: FID, digits
covered, the share of each digit, owners' losses, bytes sent and received, seconds),
``generator.pt`` / ``discriminator.pt`` (readable by ``python -m bearer_gan sample``),
``config.json`` and ``checkpoint.pt``. A stopped federation continues at its last finished round
with ``--resume OUT``; the same command on a finished run does nothing.
"""
import os
import sys

os.environ.setdefault('FLWR_TELEMETRY_ENABLED', '0')  # offline: no usage events to Flower's servers

from bearer_gan.cli.federate import federation_exits  # noqa: E402
from bearer_gan.federated.flags import config_from_args, parse_federation_flags  # noqa: E402
from bearer_gan.federated.launch import (USER_MISTAKES, federation_summary, prepare_federation,  # noqa: E402
                                         run_rounds)
from bearer_gan.federated.run_folder import finished_round, recorded_settings  # noqa: E402,F401 (the tests')
from bearer_gan.flags import fail  # noqa: E402

PROGRAM = os.path.basename(sys.argv[0])


def parse_args(argv=None):
    """The flags: one per field of FederatedConfig (the federation's settings and the owners' recipe, named as
    ``bearer-gan train`` names them), and this invocation's (``--resume``, ``--deploy``, ...)."""
    return parse_federation_flags(argv, prog=PROGRAM)


# docs: prepare
def prepare(args):
    """The federation the flags ask for, checked before anything is written: a new run in ``--out``, the same
    command again over a stopped run (``--resume``), the data split among the owners once, a deployment's
    credentials. None when that run has finished already."""
    config = None if args.resume else config_from_args(args)   # a bearer_gan.federated.FederatedConfig
    return prepare_federation(config, args.resume, args.overwrite, deploy=args.deploy, credentials_dir=args.credentials)
# docs: end prepare


def main(argv=None):
    args = parse_args(argv)
    try:
        federation = prepare(args)
    except USER_MISTAKES as error:  # a mistake the user can fix: one line, exit code 2
        fail(PROGRAM, error)
    if federation is None:
        return
    print(federation.describe(args.deploy))
    # docs: rounds
    # Each round the ServerApp (bearer_gan.federated.app.GanFedAvg, Flower's FedAvg) sends the global networks to
    # every owner; each owner's ClientApp trains them on its shard with the recipe `bearer-gan train` builds
    # (bearer_gan.federated.rounds.train_round) and replies; the server checks the replies, combines them
    # (--aggregation), takes the server optimizer's step, then scores, draws and checkpoints the result
    # (bearer_gan.federated.FederatedServer). Flower's simulation runs it all in this process (the owners as Ray
    # actors); --deploy starts a SuperLink and a SuperNode per owner and submits the app with `flwr run`.
    with federation_exits(federation, PROGRAM, again=f'python {sys.argv[0]}', deploy=args.deploy):
        # a run that fails: one line, exit code 1; Ctrl-C: exit code 130, every finished round checkpointed
        line = run_rounds(federation, deploy=args.deploy, secure=not args.insecure, timeout=args.timeout,
                          verbose=args.verbose)
    # docs: end rounds
    print('\n'.join(([line] if line else []) + federation_summary(federation.config)))


if __name__ == '__main__':
    main()
