"""examples/federated_gan.py end to end: a 2-owner simulation on Flower, its reruns and resume; bad input exits 2."""
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import imageio.v3 as iio
import pytest

from bearer_gan.federated import read_history
from conftest import load_script, needs, require_module

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / 'examples' / 'federated_gan.py'
SMALL = ('--owners', '2', '--rounds', '2', '--local-steps', '3', '--batch-size', '16', '--eval-samples', '100',
         '--split', 'classes-per-owner', '5', '--device', 'cpu')
needs_simulation = needs(require_module, 'flwr', 'ray', extra='federated-sim')  # Flower's simulation runtime


example = load_script(EXAMPLE, 'federated_gan_example')


def run(*args, timeout=600):
    return subprocess.run([sys.executable, str(EXAMPLE), *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)


def exit_code(capsys, *args):
    """``(exit code, the part of the one-line message that matters)`` of the example run in this process."""
    with pytest.raises(SystemExit) as exit_info:
        example.main(list(args))
    stderr = capsys.readouterr().err
    assert len(stderr.strip().splitlines()) == 1 and 'Traceback' not in stderr, stderr
    return exit_info.value.code, next((part for part in ('holds a different run', f'--resume {args[-1]}')
                                       if part in stderr), stderr)


@needs_simulation
def test_two_owners_two_rounds_write_grids_gif_history_and_resume(tmp_path, capsys):
    out = tmp_path / 'run'
    result = run(*SMALL, '--out', out)
    assert result.returncode == 0, result.stderr[-3000:]
    assert 'after round 2' in result.stdout and 'bytes to the owners' in result.stdout
    frames = sorted(path.name for path in (out / 'samples').iterdir())
    assert frames == [f'{prefix}round_000{n}.png' for prefix in ('ema_', '') for n in range(3)]
    assert iio.imread(out / 'progress.gif', index=None).shape[0] == 3
    rows = read_history(out / 'history.csv')
    assert [row['round'] for row in rows] == [0, 1, 2] and all(row['owners'] == 2 for row in rows[1:])
    assert all(row['num_examples'] == 5000 and row['bytes_to_owners'] > 2 * 4_000_000 for row in rows[1:])
    assert rows[2]['fid'] < rows[0]['fid']

    # the same command on a finished run does nothing; another run may not write over it (in-process: no Ray)
    example.main([*SMALL, '--out', str(out)])
    assert 'nothing to do' in capsys.readouterr().out
    assert read_history(out / 'history.csv')[2]['fid'] == rows[2]['fid']
    assert exit_code(capsys, *SMALL, '--rounds', '3', '--out', str(out)) == (2, 'holds a different run')

    # a federation stopped after round 1 (its last checkpoint is round 1's) continues at round 2
    shutil.copy(out / 'checkpoint.prev.pt', out / 'checkpoint.pt')
    assert exit_code(capsys, *SMALL, '--out', str(out)) == (2, f'--resume {out}')
    resumed = run('--resume', out)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'after round 1 of 2' in resumed.stdout and 'after round 2:' in resumed.stdout
    after = read_history(out / 'history.csv')
    assert [row['round'] for row in after] == [0, 1, 2] and after[1]['fid'] == rows[1]['fid']
    assert iio.imread(out / 'progress.gif', index=None).shape[0] == 3


def processes_carrying(name, value):
    """PIDs of the live processes whose environment holds ``name=value`` (Linux ``/proc``): a process and every
    process it started, Ray's among them, as they inherit the environment."""
    found = []
    for entry in Path('/proc').iterdir():
        try:
            if entry.name.isdigit() and f'{name}={value}'.encode() in (entry / 'environ').read_bytes().split(b'\0') \
                    and (entry / 'stat').read_text().rsplit(')', 1)[1].split()[0] != 'Z':
                found.append(int(entry.name))
        except OSError:  # gone meanwhile, or not ours
            continue
    return found


@needs_simulation
def test_ctrl_c_stops_the_simulation_with_its_rounds_checkpointed_and_exit_code_130(tmp_path, capsys):
    """Ctrl-C (SIGINT to the whole process group, as a terminal sends it) once round 1 is checkpointed: the
    federation stops with its finished rounds written, exits 130 naming ``--resume``, and leaves no process."""
    out, marker = tmp_path / 'run', uuid.uuid4().hex
    thirty = tuple('30' if previous == '--rounds' else arg for previous, arg in zip(('',) + SMALL, SMALL))
    process = subprocess.Popen([sys.executable, str(EXAMPLE), *thirty, '--out', str(out)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=ROOT, start_new_session=True,
                               env=dict(os.environ, BEARER_GAN_TEST_MARKER=marker))
    try:
        deadline = time.monotonic() + 300
        while example.finished_round(str(out)) < 1:
            assert process.poll() is None and time.monotonic() < deadline, 'round 1 was never checkpointed'
            time.sleep(0.2)
        os.killpg(process.pid, signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
        deadline = time.monotonic() + 30  # Ray's own processes exit on their own, a moment later
        while processes_carrying('BEARER_GAN_TEST_MARKER', marker) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert processes_carrying('BEARER_GAN_TEST_MARKER', marker) == []
    finally:  # whatever failed above, no process of this test outlives it
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
        for pid in processes_carrying('BEARER_GAN_TEST_MARKER', marker):
            os.kill(pid, signal.SIGKILL)
    assert process.returncode == 130 and 'Traceback' not in stderr, stderr[-3000:]
    assert f'every finished round is checkpointed in {out}' in stderr and f'--resume {out}' in stderr
    done = example.finished_round(str(out))
    assert 1 <= done < 30
    assert [row['round'] for row in read_history(out / 'history.csv')] == list(range(done + 1))
    assert f'round {done}/30' in stdout and f'round {done + 1}/30' not in stdout  # no round finished after it
    assert (out / 'generator.pt').exists() and (out / 'samples' / f'round_{done:04d}.png').exists()
    # the same command again says how to continue it
    assert exit_code(capsys, *thirty, '--out', str(out)) == (2, f'--resume {out}')


@pytest.mark.parametrize('args, message', [
    (('--owners', '0'), '--owners: must be a positive integer'),
    (('--owners', '5001'), 'between 1 and the number of images (5000), got 5001'),
    (('--split', 'classes-per-owner', '11'), 'cannot give each owner 11 classes: the data set has only 10'),
    (('--split', 'dirichlet', '0'), 'ALPHA must be a positive number'),
    (('--rounds', '0'), '--rounds: must be a positive integer'),
    (('--participants', '3', '--owners', '2'), 'cannot exceed --owners'),
    (('--train-generator-only', '--train-discriminator-only'), 'exclude each other'),
    (('--resume', '.', '--rounds', '3'), 'takes no other flags'),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        example.main([*args, '--out', str(tmp_path / 'run')])
    stderr = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert not (tmp_path / 'run').exists()


@pytest.mark.parametrize('deploy, extra', [((), 'federated-sim'), (('--deploy',), 'federated')])
def test_a_missing_extra_is_one_line_and_exit_code_2(tmp_path, capsys, monkeypatch, deploy, extra):
    for name in ('flwr', 'ray'):
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed: find_spec answers None
    with pytest.raises(SystemExit) as exit_info:
        example.main(['--out', str(tmp_path / 'run'), *deploy])
    stderr = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(stderr.strip().splitlines()) == 1, stderr
    assert f"pip install 'bearer_gan[{extra}]'" in stderr
    assert not (tmp_path / 'run').exists()


@needs_simulation
def test_a_ctrl_c_swallowed_inside_the_simulation_still_stops_the_run():
    """The interrupt reaches Ray's driver and Flower's threads too, and a shutdown path may swallow the
    KeyboardInterrupt: run_simulation notes the signal itself, stops the ServerApp and raises it afterwards."""
    import threading
    from bearer_gan.federated.app import _interrupts_noted
    stop, interrupted, before = threading.Event(), threading.Event(), signal.getsignal(signal.SIGINT)
    with _interrupts_noted(stop, interrupted):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        except KeyboardInterrupt:
            pass  # swallowed, as a simulation's shutdown may
    assert interrupted.is_set() and stop.is_set() and signal.getsignal(signal.SIGINT) is before
