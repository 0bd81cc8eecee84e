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

from bearer_gan.cli import federate  # noqa: E402
from bearer_gan.federated.flags import parse_federation_flags  # noqa: E402
from bearer_gan.federated.run_folder import finished_round, recorded_settings  # noqa: E402,F401 (the tests')


def parse_args(argv=None):
    """The flags: one per field of FederatedConfig (the federation's settings and the owners' recipe, named as
    ``bearer-gan train`` names them), and this invocation's (``--resume``, ``--deploy``, ...)."""
    return parse_federation_flags(argv, prog=os.path.basename(sys.argv[0]))


def main(argv=None):
    """The steps ``bearer-gan federate`` takes (:mod:`bearer_gan.cli.federate`): the flags become a
    :class:`~bearer_gan.federated.FederatedConfig`; the ``--out`` folder is checked (a new run, the same run again,
    ``--resume``); the data is split once to fail early; Flower's simulation (or, with ``--deploy``, a SuperLink and
    SuperNodes) runs the rounds, each owner training its shard with :mod:`bearer_gan.recipe`; the summary is printed."""
    federate.run(parse_args(argv), os.path.basename(sys.argv[0]), again=f'python {sys.argv[0]}')


if __name__ == '__main__':
    main()
