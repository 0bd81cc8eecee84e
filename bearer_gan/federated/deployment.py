"""A real Flower deployment on this machine: a SuperLink and one SuperNode per owner, as separate processes.

Unlike the simulation (one process, Ray actors), this runs Flower's own long-running services
over its network API, as a federation across machines would, only on ``127.0.0.1``:

1. Credentials, fresh for this deployment, in ``LOG_DIR/credentials``
   (:mod:`~bearer_gan.federated.credentials`): a CA, the SuperLink's certificate signed by it, and
   one key pair per SuperNode; or those of a folder made beforehand, checked first.
2. ``flower-superlink --ssl-ca-certfile ... --ssl-certfile ... --ssl-keyfile ...
   --enable-supernode-auth --disable-runtime-dependency-installation`` on a free port; it serves
   the Fleet, Control and runtime APIs on that one port over TLS (Flower 1.42) and launches a
   SuperExec that starts the ``ServerApp`` of each run. ``flwr supernode register`` then registers
   each SuperNode's public key: no other SuperNode is admitted.
3. ``flower-supernode --root-certificates CA --auth-supernode-private-key KEY --superlink
   127.0.0.1:PORT --node-config "partition-id=i num-partitions=N"``, one per owner, each with its
   own free runtime port; the node config tells the ``ClientApp`` which shard is its own.
4. ``flwr run APP CONNECTION --run-config ... --format json`` submits the app
   (``bearer_gan/federated/flower_app``) to a SuperLink connection written into a private
   ``FLWR_HOME`` (with ``root-certificates``, the CA); it returns as soon as the run is *submitted*.
5. ``flwr ls CONNECTION --run-id ID --format json`` is polled until the run's status is
   ``finished:...``: ``flwr run`` exits 0 even for a run that later fails, so only this status
   says whether it ``completed``.

``secure=False`` runs all of it in plaintext (``--insecure``) and admits any SuperNode, with a warning.

Offline: runtime dependency installation is off (SuperNodes only install with an explicit
``--allow-runtime-dependency-installation``; the SuperLink needs the flag above), so every
process imports the installed ``bearer_gan``; Flower's telemetry and update check are turned off
by their environment variables.

Cleanup: SuperLinks and SuperNodes start further processes in sessions of their own (SuperExec,
``flwr-serverapp``, ``flwr-clientapp``), which a process group does not reach. Every process
started here carries a unique marker in its environment, which its children inherit; on exit
(also after an error, a timeout or Ctrl-C) every process carrying the marker is sent SIGTERM, then
SIGKILL after a grace period, by PID (:mod:`~bearer_gan.federated.processes`, Linux's ``/proc``).
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence

from bearer_gan.files import write_json

from .config import FederatedConfig
from .credentials import Credentials, make_credentials, superlink_args, supernode_args
from .processes import MARKER, marked_processes

__all__ = ['APP_DIR', 'DeploymentError', 'LocalDeployment', 'deployment_run_config', 'record_security',
           'run_deployment']

#: The Flower app ``flwr run`` submits: a ``pyproject.toml`` naming ``bearer_gan.federated.app``'s components.
APP_DIR = Path(__file__).parent / 'flower_app'
CONNECTION = 'bearer-gan'
FINISHED = 'finished:'
COMPLETED = 'finished:completed'


class DeploymentError(RuntimeError):
    """The deployment could not start, or its run did not complete (the message says why and where the logs are)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, str):
        if '"' in value or '\\' in value:
            raise ValueError(f'a run config string cannot contain quotes or backslashes: {value!r}')
        return f'"{value}"'
    return repr(value)


def deployment_run_config(config: FederatedConfig, resume: bool = False) -> Dict[str, object]:
    """The run config of ``config`` for ``flwr run``, with absolute paths (the ``ServerApp`` runs
    in another process and folder) and the ``resume`` switch.

    Raises:
        ValueError: for a path or setting with a quote or backslash, which ``--run-config`` cannot carry.
    """
    values = config.to_flower()
    values.update({'out': os.path.abspath(config.out), 'data-dir': os.path.abspath(config.data_dir), 'resume': resume})
    for value in values.values():
        _toml_value(value)  # fails now for what --run-config cannot carry
    return values


class LocalDeployment:
    """A SuperLink and ``nodes`` SuperNodes on 127.0.0.1, started on enter and stopped, every process of them, on exit.

    Args:
        nodes: SuperNodes to start; node ``i`` gets ``partition-id=i num-partitions=nodes``.
        log_dir: folder for each process's output (``superlink.log``, ``supernode-<i>.log``), the
            credentials (``credentials/``, made afresh on every start unless ``credentials`` is given) and, once a
            run has finished, its own log (``run.log``).
        bin_dir: folder of the Flower executables; that of the running Python when None.
        startup_timeout: seconds to wait for the SuperLink to listen.
        log: called with progress lines.
        secure: TLS on every connection and only the registered SuperNodes admitted; False: plaintext, any
            SuperNode admitted (``--insecure``), with a warning.
        credentials: credentials made beforehand and checked (:func:`~bearer_gan.federated.credentials.load_credentials`),
            to use instead of fresh ones.
    """

    def __init__(self, nodes: int, log_dir: str, bin_dir: Optional[str] = None, startup_timeout: float = 120.0,
                 log: Callable[[str], None] = print, secure: bool = True, credentials: Optional[Credentials] = None):
        self.nodes, self.log_dir, self.startup_timeout, self.log = nodes, log_dir, startup_timeout, log
        self.secure, self.given_credentials = secure, credentials
        self.credentials: Optional[Credentials] = credentials
        self.bin_dir = bin_dir or os.path.dirname(sys.executable)
        self.marker = uuid.uuid4().hex
        self.children: List[subprocess.Popen] = []
        self.port: Optional[int] = None
        self._home: Optional[tempfile.TemporaryDirectory] = None
        missing = [name for name in ('flower-superlink', 'flower-supernode', 'flwr')
                   if shutil.which(name, path=self.bin_dir) is None]
        if missing:
            raise DeploymentError(f"{', '.join(missing)} not found in {self.bin_dir}: install bearer_gan[federated]")

    @property
    def env(self) -> Dict[str, str]:
        return dict(os.environ, PATH=self.bin_dir + os.pathsep + os.environ.get('PATH', ''), **{MARKER: self.marker},
                    FLWR_HOME=self._home.name, FLWR_TELEMETRY_ENABLED='0', FLWR_DISABLE_UPDATE_CHECK='1',
                    PYTHONUNBUFFERED='1')

    def _launch(self, name: str, *args: str) -> subprocess.Popen:
        with open(os.path.join(self.log_dir, f'{name}.log'), 'wb') as output:
            process = subprocess.Popen([os.path.join(self.bin_dir, args[0]), *args[1:]], stdout=output,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env,
                                       cwd=self.log_dir, start_new_session=True)
        self.children.append(process)
        return process

    def __enter__(self) -> 'LocalDeployment':
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # docs: start
    def start(self) -> None:
        """Make the credentials, start the SuperLink, wait until it listens, register the SuperNodes' public
        keys, then start the SuperNodes."""
        os.makedirs(self.log_dir, exist_ok=True)
        self._home = tempfile.TemporaryDirectory(prefix='bearer-gan-flwr-home-')
        self.port = _free_port()
        if self.secure and self.given_credentials is None:
            shutil.rmtree(os.path.join(self.log_dir, 'credentials'), ignore_errors=True)  # a previous start's
            self.credentials = make_credentials(os.path.join(self.log_dir, 'credentials'), self.nodes)
        if self.secure:
            transport = f'root-certificates = "{self.credentials.ca_cert}"'
        else:
            warnings.warn('insecure deployment: plaintext connections, and any SuperNode that reaches the SuperLink '
                          'may join', stacklevel=2)
            transport = 'insecure = true'
        Path(self._home.name, 'config.toml').write_text(
            f'[superlink]\ndefault = "{CONNECTION}"\n\n'
            f'[superlink.{CONNECTION}]\naddress = "127.0.0.1:{self.port}"\n{transport}\n')
        tls = superlink_args(self.credentials) if self.secure else ('--insecure',)
        superlink = self._launch('superlink', 'flower-superlink', *tls, '--disable-runtime-dependency-installation',
                                 '--host', '127.0.0.1', '--port', str(self.port))
        self._wait_for_port(superlink)
        for node in range(self.nodes):
            if self.secure:
                self.flwr('supernode', 'register', self.credentials.node_keys[node][1], CONNECTION, timeout=120)
            self.launch_supernode(node)
        self.log(f'SuperLink on 127.0.0.1:{self.port} and {self.nodes} SuperNodes started '
                 f"({'TLS, registered SuperNodes only' if self.secure else 'insecure'}); logs in {self.log_dir}")
    # docs: end start

    def launch_supernode(self, node: int, *extra: str, name: Optional[str] = None,
                         security: Optional[Sequence[str]] = None) -> subprocess.Popen:
        """Start a SuperNode for partition ``node`` with ``extra`` flags, logging to ``name`` (``supernode-<node>``).

        ``security`` replaces its TLS and key flags (by default the CA and node ``node``'s key, or ``--insecure``)."""
        if security is None:
            security = supernode_args(self.credentials, node) if self.secure else ['--insecure']
        return self._launch(name or f'supernode-{node}', 'flower-supernode', *security, *extra,
                            '--superlink', f'127.0.0.1:{self.port}',
                            '--node-config', f'partition-id={node} num-partitions={self.nodes}',
                            '--host', '127.0.0.1', '--port', str(_free_port()))

    def _wait_for_port(self, process: subprocess.Popen) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise DeploymentError(f'flower-superlink exited with code {process.returncode}: '
                                      f'{self.tail("superlink")}')
            try:
                socket.create_connection(('127.0.0.1', self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.5)
        raise DeploymentError(f'flower-superlink did not listen on port {self.port} within {self.startup_timeout:.0f} s')

    def tail(self, name: str, lines: int = 15) -> str:
        """The last lines of a process's log, on one line."""
        path = os.path.join(self.log_dir, f'{name}.log')
        text = Path(path).read_text(errors='replace') if os.path.exists(path) else ''
        return ' | '.join(line.strip() for line in text.splitlines()[-lines:] if line.strip())

    def flwr(self, *args: str, timeout: float = 300.0) -> dict:
        """Run the ``flwr`` command line with ``--format json`` against this deployment; its JSON answer."""
        result = subprocess.run([os.path.join(self.bin_dir, 'flwr'), *args, '--format', 'json'], capture_output=True,
                                text=True, env=self.env, timeout=timeout, stdin=subprocess.DEVNULL)
        try:
            answer = json.loads(result.stdout)
        except ValueError:
            answer = None
        if result.returncode != 0 or not isinstance(answer, dict) or not answer.get('success', False):
            reason = (answer or {}).get('error-message') if isinstance(answer, dict) else None
            raise DeploymentError(f'flwr {args[0]} failed (exit {result.returncode}): '
                                  f'{reason or (result.stdout + result.stderr).strip()[-1500:]}')
        return answer

    # docs: submit
    def submit(self, run_config: Mapping[str, object], app_dir: str = str(APP_DIR)) -> int:
        """Submit the app with ``flwr run``; returns the run's id (the run itself goes on in the background)."""
        overrides = ' '.join(f'{key}={_toml_value(value)}' for key, value in run_config.items())
        answer = self.flwr('run', app_dir, CONNECTION, '--run-config', overrides)
        return int(answer['run-id'])

    def wait(self, run_id: int, timeout: float, poll_seconds: float = 3.0) -> dict:
        """Poll ``flwr ls`` until the run has finished; returns its entry (``status``, ``network-traffic``, ...).

        Raises:
            DeploymentError: when it finished other than ``finished:completed`` (a failed run, for
                which ``flwr run`` still exited 0), or after ``timeout`` seconds (the run is stopped first).
        """
        deadline = time.monotonic() + timeout
        while True:
            runs = self.flwr('ls', CONNECTION, '--run-id', str(run_id))['runs']
            run = next(entry for entry in runs if int(entry['run-id']) == run_id)
            if run['status'].startswith(FINISHED):
                break
            dead = [process.args[0] for process in self.children if process.poll() is not None]
            if dead or time.monotonic() > deadline:
                try:
                    self.flwr('stop', str(run_id), CONNECTION, timeout=60)
                except (DeploymentError, subprocess.TimeoutExpired):
                    pass
                why = f'{os.path.basename(dead[0])} exited' if dead else f'it ran past {timeout:.0f} s'
                raise DeploymentError(f'run {run_id} stopped: {why}; logs in {self.log_dir}')
            time.sleep(poll_seconds)
        self.save_run_log(run_id)
        if run['status'] != COMPLETED:
            raise DeploymentError(f"run {run_id} ended {run['status']} ({run.get('status-details', '')}): "
                                  f"{self.tail('run')}")
        return run

    def save_run_log(self, run_id: int) -> None:
        """Write the run's own log (what its ``ServerApp`` printed, as ``flwr log --show`` gives it) to ``run.log``."""
        result = subprocess.run([os.path.join(self.bin_dir, 'flwr'), 'log', str(run_id), CONNECTION, '--show'],
                                capture_output=True, text=True, env=self.env, timeout=120, stdin=subprocess.DEVNULL)
        Path(self.log_dir, 'run.log').write_text(result.stdout + result.stderr)
    # docs: end submit

    # docs: stop
    def stop(self, grace: float = 10.0) -> None:
        """Stop every process this deployment started, and theirs: SIGTERM, then SIGKILL after ``grace`` seconds."""
        if self._home is None:
            return
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            for pid in marked_processes(self.marker):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + wait
            while marked_processes(self.marker) and time.monotonic() < deadline:
                time.sleep(0.2)
        for process in self.children:  # reap our own children
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        left = marked_processes(self.marker)
        self._home.cleanup()
        self._home = None
        if left:
            raise DeploymentError(f'processes {left} survived SIGKILL')
    # docs: end stop

    def running(self) -> List[int]:
        """PIDs of the processes of this deployment that are still running."""
        return marked_processes(self.marker) if self._home is not None else []


def record_security(out: str, secure: bool) -> None:
    """Add how the run was reached, ``tls`` and ``node_authentication``, to the ``config.json`` its ``ServerApp``
    wrote into ``out`` (which knows nothing of it); nothing when there is none yet."""
    path = os.path.join(out, 'config.json')
    try:
        values = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return
    write_json(path, dict(values, tls=secure, node_authentication=secure))


def run_deployment(config: FederatedConfig, resume: bool = False, timeout: float = 24 * 3600,
                   log: Callable[[str], None] = print, secure: bool = True, credentials: Optional[Credentials] = None
                   ) -> dict:
    """Run a federation as a local deployment: start it, submit the app, wait for the run, stop everything.

    The processes' logs (and the credentials, unless ``credentials`` made beforehand are given) go to
    ``config.out/deployment``; ``config.json`` records ``secure`` as ``tls`` and ``node_authentication``.
    Returns the run's ``flwr ls`` entry.

    Raises:
        DeploymentError: when a process does not start, the run fails or times out.
    """
    log_dir = os.path.join(os.path.abspath(config.out), 'deployment')
    with LocalDeployment(config.nodes, log_dir, log=log, secure=secure, credentials=credentials) as deployment:
        run_id = deployment.submit(deployment_run_config(config, resume))
        log(f'submitted run {run_id}; polling its status with flwr ls')
        try:
            return deployment.wait(run_id, timeout)
        finally:
            record_security(os.path.abspath(config.out), secure)
