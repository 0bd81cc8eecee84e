"""A real Flower deployment on this machine: a SuperLink and 2 SuperNodes as processes, one failed run, one round.

Marked ``deployment`` (not in the default run): ``pytest -m deployment``.
"""
import os
import signal
import subprocess
import sys
import time

import pytest

from bearer_gan.federated import FederatedConfig, load_federated_checkpoint, read_history
from bearer_gan.federated.deployment import CONNECTION, DeploymentError, LocalDeployment, deployment_run_config
from bearer_gan.federated.processes import marked_processes
from conftest import needs, require_module

pytestmark = [pytest.mark.deployment, needs(require_module, 'flwr', extra='federated')]


def test_two_supernodes_run_one_round_a_failed_run_is_reported_and_no_process_is_left(tmp_path):
    started = time.monotonic()
    config = FederatedConfig(owners=2, rounds=1, local_steps=2, batch_size=16, eval_samples=100, device='cpu',
                             out=str(tmp_path / 'run'))
    with LocalDeployment(2, str(tmp_path / 'logs'), log=lambda line: None) as deployment:
        marker = deployment.marker
        assert len(deployment.running()) >= 3  # the SuperLink, the SuperNodes, and the SuperExecs they start
        # secure by default: TLS on the SuperLink's one port, and only the SuperNodes whose keys it registered
        assert deployment.secure and 'Uvicorn running on https://127.0.0.1' in deployment.tail('superlink', 200)
        # nothing to resume in an empty folder: the ServerApp fails, yet `flwr run` succeeded; the status tells
        failing = deployment.submit(deployment_run_config(config, resume=True))
        with pytest.raises(DeploymentError, match='finished:failed'):
            deployment.wait(failing, timeout=100)
        run = deployment.wait(deployment.submit(deployment_run_config(config)), timeout=100)
        assert [node['status'] for node in deployment.flwr('supernode', 'ls', CONNECTION)['nodes']] == ['online'] * 2
    assert marked_processes(marker) == []
    assert run['status'] == 'finished:completed'
    rows = read_history(tmp_path / 'run' / 'history.csv')
    assert [row['round'] for row in rows] == [0, 1] and rows[1]['owners'] == 2 and rows[1]['num_examples'] == 5000
    # the payload the server counted is what Flower counted on the wire, give or take its message framing
    traffic = run['network-traffic']
    for ours, flowers in ((rows[1]['bytes_from_owners'], traffic['inbound-bytes']),
                          (rows[1]['bytes_to_owners'], traffic['outbound-bytes'])):
        assert ours <= flowers < 1.01 * ours
    assert (tmp_path / 'logs' / 'run.log').read_text()  # the run's own log, fetched with flwr log
    assert time.monotonic() - started < 120


def test_a_run_past_its_timeout_is_stopped_and_every_process_with_it(tmp_path):
    """``wait`` stops a run that outlives its timeout (``flwr stop``) and raises; leaving the deployment then
    stops every process it started, the ServerApp's and ClientApps' included, by PID."""
    started = time.monotonic()
    config = FederatedConfig(owners=2, rounds=50, local_steps=2, batch_size=16, eval_samples=100, device='cpu',
                             out=str(tmp_path / 'run'))
    marker, children = None, []
    try:
        with pytest.raises(DeploymentError, match='ran past 15 s'):
            with LocalDeployment(2, str(tmp_path / 'logs'), log=lambda line: None) as deployment:
                marker, children = deployment.marker, [process.pid for process in deployment.children]
                assert len(children) == 3 and len(deployment.running()) >= 3
                run_id = deployment.submit(deployment_run_config(config))
                try:
                    deployment.wait(run_id, timeout=15)
                finally:  # the SuperLink still answers: the run was stopped, not left running
                    runs = deployment.flwr('ls', CONNECTION, '--run-id', str(run_id))['runs']
                    assert [run['status'] for run in runs] == ['finished:stopped']
        assert marked_processes(marker) == []
        assert not [pid for pid in children if os.path.exists(f'/proc/{pid}')]  # reaped, not left as zombies
        assert finished_round(tmp_path / 'run') < config.rounds
        assert time.monotonic() - started < 120
    finally:  # whatever failed above, no process of this test outlives it
        for pid in marked_processes(marker) if marker else []:
            os.kill(pid, signal.SIGKILL)


def finished_round(out):
    """The last round the server checkpointed in ``out``, 0 when it checkpointed none."""
    try:
        return int(load_federated_checkpoint(str(out))[0]['round'])
    except FileNotFoundError:
        return 0


def _children_marker(pid):
    """The deployment marker in the environment of any child of ``pid``, or None."""
    for entry in os.listdir('/proc'):
        try:
            with open(f'/proc/{entry}/stat') as handle:
                parent = int(handle.read().rsplit(')', 1)[1].split()[1])
            if parent != pid:
                continue
            with open(f'/proc/{entry}/environ', 'rb') as handle:
                for item in handle.read().split(b'\0'):
                    if item.startswith(b'BEARER_GAN_DEPLOYMENT='):
                        return item.split(b'=', 1)[1].decode()
        except (OSError, ValueError, IndexError):
            continue
    return None


def test_ctrl_c_during_a_deployment_exits_130_and_leaves_no_process(tmp_path):
    """Ctrl-C (SIGINT to the command) while the rounds run: exit code 130, the resume hint, every finished round
    checkpointed, and no SuperLink, SuperNode, SuperExec, ServerApp or ClientApp left."""
    out = tmp_path / 'run'
    command = [sys.executable, '-m', 'bearer_gan', 'federate', '--deploy', '--owners', '2', '--rounds', '50',
               '--local-steps', '2', '--batch-size', '16', '--eval-samples', '100', '--device', 'cpu',
               '--out', str(out)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    marker = None
    try:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline and finished_round(out) < 1:  # a round done: the run is under way
            marker = marker or _children_marker(process.pid)
            assert process.poll() is None, process.stderr.read()
            time.sleep(1)
        marker = marker or _children_marker(process.pid)
        assert marker and finished_round(out) >= 1
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=90)
        assert process.returncode == 130, stderr
        assert '--resume' in stderr
        assert marked_processes(marker) == []
        assert 1 <= finished_round(out) < 50
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        for pid in marked_processes(marker) if marker else []:
            os.kill(pid, signal.SIGKILL)
