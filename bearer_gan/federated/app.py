"""The Flower app: a ``ClientApp`` for the data owners and a ``ServerApp`` for the aggregator.

This is the only module of bearer_gan that imports Flower (``pip install 'bearer_gan[federated]'``;
the simulation runtime also needs Ray: ``bearer_gan[federated-sim]``). Everything it wires
together works without Flower: the shards (:mod:`~bearer_gan.federated.split`), one owner's round
(:func:`~bearer_gan.federated.rounds.train_round`) and the server's averaging, scoring and
outputs (:class:`~bearer_gan.federated.server.FederatedServer`).

Each round the ``ServerApp`` sends the global networks (one ``ArrayRecord``: both
``state_dict`` s, buffers included) and the training config (a ``ConfigRecord``) to every
owner; each ``ClientApp`` trains on its shard, keeps its Adam moments and noise generator in
Flower's ``context.state`` (they never leave the node) and replies with its networks and a
``MetricRecord`` (losses, D outputs, ``num-examples``). :class:`GanFedAvg` is Flower's FedAvg
with the averaging and bookkeeping of :class:`~bearer_gan.federated.server.FederatedServer`.

Two ways to run it: :func:`run_simulation` (Flower's simulation runtime, one process) and a
deployment of separate SuperLink and SuperNode processes (:mod:`bearer_gan.federated.deployment`,
which submits this app with ``flwr run``).
"""
import contextlib
import logging
import os
import signal
import threading
import time
from typing import Iterable, Optional

import torch
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from .config import FederatedConfig
from .rounds import node_round
from .server import FederatedServer

__all__ = ['LOCAL_STATE', 'FederationStopped', 'client_app', 'server_app', 'make_server_app', 'GanFedAvg',
           'StoppableGrid', 'run_federation', 'run_simulation']

#: The key of the owner's local state (Adam moments, noise generator) in Flower's ``context.state``.
LOCAL_STATE = 'bearer-gan-local-state'


class FederationStopped(Exception):
    """Raised in the ``ServerApp`` when a stop was requested: the last finished round is checkpointed."""


# docs: client
client_app = ClientApp()


@client_app.train()
def train(message: Message, context: Context) -> Message:
    """One round on this node: the global networks in, the locally trained ones and their metrics out."""
    local = context.state[LOCAL_STATE].to_torch_state_dict() if LOCAL_STATE in context.state else None
    result = node_round(message.content['config'], context.node_config,  # node config: which owner this node is
                        message.content['arrays'].to_torch_state_dict(), local)
    context.state[LOCAL_STATE] = ArrayRecord(result.local_state)  # Adam moments and noise state stay on this node
    reply = RecordDict({'arrays': ArrayRecord(result.weights), 'metrics': MetricRecord(result.metrics)})
    return Message(reply, reply_to=message)
# docs: end client


# docs: strategy
class GanFedAvg(FedAvg):
    """Flower's FedAvg, every participating owner every round, with :class:`FederatedServer` averaging.

    ``configure_train`` is FedAvg's (it samples the nodes and sends them the global ``ArrayRecord``
    and the config), counting the bytes it sends; ``aggregate_train`` hands the replies to
    :meth:`FederatedServer.complete_round`, which averages them by shard size, buffers included,
    then scores, draws and checkpoints the result. Round numbers continue from ``first_round``,
    so a resumed federation goes on where it stopped.

    Args:
        server: the global networks and their outputs.
        first_round: the number of the first round :meth:`start` runs.
        stop: when set, the next round is not started and a round in progress is not averaged
            (:class:`FederationStopped` is raised).
    """

    def __init__(self, server: FederatedServer, first_round: int = 1, stop: Optional[threading.Event] = None):
        nodes = server.config.nodes
        super().__init__(fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=nodes, min_available_nodes=nodes)
        self.server, self.offset = server, first_round - 1
        self.stop = stop or threading.Event()
        self._sent, self._started = 0, 0.0

    def _check_stop(self, server_round):
        if self.stop.is_set():
            raise FederationStopped(f'stopped before finishing round {server_round + self.offset}; '
                                    f'round {self.server.round} is the last one checkpointed')

    def configure_train(self, server_round, arrays, config, grid):
        self._check_stop(server_round)
        self._started = time.perf_counter()
        messages = list(super().configure_train(server_round + self.offset, arrays, config, grid))
        self._sent = arrays.count_bytes() * len(messages)
        return messages

    def aggregate_train(self, server_round, replies):
        self._check_stop(server_round)
        replies = list(replies)
        answered = [reply for reply in replies if not reply.has_error() and 'arrays' in reply.content]
        if not answered:
            reasons = '; '.join(reply.error.reason for reply in replies if reply.has_error())[:2000]
            raise RuntimeError(f'round {server_round + self.offset}: no owner replied with weights: {reasons}')
        seconds = time.perf_counter() - self._started
        results = [(reply.content['arrays'].to_torch_state_dict(), dict(reply.content['metrics'])) for reply in answered]
        weights = self.server.complete_round(
            server_round + self.offset, results, failures=len(replies) - len(answered), bytes_to_owners=self._sent,
            bytes_from_owners=sum(reply.content['arrays'].count_bytes() for reply in answered), round_seconds=seconds)
        row = self.server.rows[-1]
        return ArrayRecord(weights), MetricRecord({'fid': row['fid'], 'classes_covered': row['classes_covered']})
# docs: end strategy


# docs: server
def run_federation(grid: Grid, server: FederatedServer, stop: Optional[threading.Event] = None) -> FederatedServer:
    """Run the rounds a started (or resumed) server has left with :class:`GanFedAvg`; with a ``stop``
    event, setting it ends the run early (:class:`FederationStopped`)."""
    if not server.finished:
        GanFedAvg(server, first_round=server.round + 1, stop=stop).start(
            grid=grid if stop is None else StoppableGrid(grid, stop), initial_arrays=ArrayRecord(server.weights),
            num_rounds=server.config.rounds - server.round, train_config=ConfigRecord(server.config.client_config()))
    return server


def make_server_app(server: Optional[FederatedServer] = None, stop: Optional[threading.Event] = None) -> ServerApp:
    """A ``ServerApp`` that runs ``server``'s remaining rounds; with None, it builds and starts the server
    from the run config Flower gives it (``flwr run``), whose key ``resume`` says whether to continue
    from the checkpoint in ``out``."""
    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        started = server
        if started is None:
            settings = dict(context.run_config)
            started = FederatedServer(FederatedConfig.from_flower(settings))
            started.start(resume=bool(settings.get('resume', False)))
        run_federation(grid, started, stop)

    return app


server_app = make_server_app()
# docs: end server


class StoppableGrid:
    """A Flower ``Grid`` whose ``send_and_receive`` stops waiting for replies as soon as ``stop`` is set.

    Flower's own waits up to the round's timeout (an hour by default), also for owners that a
    Ctrl-C has already stopped; this one polls the same ``push_messages`` / ``pull_messages``.
    Everything else is the wrapped grid's.
    """

    def __init__(self, grid: Grid, stop: threading.Event):
        self._grid, self._stop = grid, stop
        self._poll_seconds = getattr(grid, 'pull_interval', 3.0)  # the in-memory grid's own, or the HTTP grid's 3 s

    def __getattr__(self, name):
        return getattr(self._grid, name)

    def send_and_receive(self, messages: Iterable[Message], *, timeout: Optional[float] = None) -> Iterable[Message]:
        waiting = set(self._grid.push_messages(messages))
        deadline = None if timeout is None else time.monotonic() + timeout
        replies = []
        while waiting and not self._stop.is_set() and (deadline is None or time.monotonic() < deadline):
            received = list(self._grid.pull_messages(waiting))
            replies.extend(received)
            waiting -= {reply.metadata.reply_to_message_id for reply in received}
            if waiting:
                self._stop.wait(self._poll_seconds)
        return replies


# docs: simulation
def run_simulation(config: FederatedConfig, resume: bool = False, verbose: bool = False) -> FederatedServer:
    """Run the federation in Flower's simulation runtime and return its server.

    The server starts (round 0, or the checkpoint) here, before Ray does; then this process runs
    the ``ServerApp`` and Ray actors (one CPU each) run the ``ClientApp`` for ``config.nodes``
    virtual SuperNodes, whose node configs hold ``partition-id`` 0, 1, ...

    Ctrl-C stops it: the ``ServerApp`` finishes writing the round it is scoring, if any, starts no
    other, and :class:`KeyboardInterrupt` is raised once it has ended; ``resume=True`` continues
    after the last finished round.

    Raises:
        Whatever the server raised (a checkpoint in the way or missing, a round no owner finished).
    """
    from flwr.simulation import run_simulation as flower_simulation

    server = FederatedServer(config)
    server.start(resume)
    if server.finished:
        return server
    cpus = os.cpu_count() or 1
    gpus = 1.0 / min(config.nodes, cpus) if torch.cuda.is_available() else 0.0  # owners share the GPU
    backend_config = {'client_resources': {'num_cpus': 1, 'num_gpus': gpus},
                      'init_args': {'num_cpus': cpus, 'include_dashboard': False,
                                    'logging_level': 'INFO' if verbose else 'ERROR'}}
    stop, interrupted = threading.Event(), threading.Event()
    with _interrupts_noted(stop, interrupted):
        try:
            flower_simulation(server_app=make_server_app(server, stop), client_app=client_app,
                              num_supernodes=config.nodes, backend_config=backend_config, verbose_logging=verbose)
        except BaseException:
            stop.set()  # the ServerApp thread ends at its next check instead of waiting for stopped owners
            raise
    if interrupted.is_set():  # a Ctrl-C that the simulation's shutdown swallowed is still a Ctrl-C
        raise KeyboardInterrupt
    return server


@contextlib.contextmanager
def _interrupts_noted(stop: threading.Event, interrupted: threading.Event):
    """While the simulation runs, a SIGINT also sets ``stop`` and ``interrupted`` before it raises
    :class:`KeyboardInterrupt` as usual. The interrupt reaches Ray's driver and Flower's threads too, and
    depending on where the main thread is, their shutdown can end the simulation without it: the flag
    keeps it. Outside the main thread (where no handler can be set) nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    flower_log = logging.getLogger('flwr')

    def on_interrupt(signum, frame):
        interrupted.set()
        stop.set()
        flower_log.addFilter(_silent)  # what Flower logs of the owners the interrupt stops (tracebacks) is noise
        if callable(previous):
            previous(signum, frame)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        flower_log.removeFilter(_silent)


def _silent(record: logging.LogRecord) -> bool:
    return False
# docs: end simulation
