"""What a run prints: plain lines in a log, errors and the summary with --quiet, the grid drawn in a terminal."""
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import bearer_gan
from bearer_gan.callbacks.preview import UPPER_HALF_BLOCK, render_half_blocks
from bearer_gan.cli.train import main as train_main
from bearer_gan.config import RunConfig

ROOT = Path(__file__).resolve().parents[1]
TINY = ['--dataset', 'mnist-5k', '--batch-size', '16', '--steps', '20', '--sample-interval', '10',
        '--log-interval', '5', '--no-eval', '--device', 'cpu']
PROGRESS_LINE = re.compile(r'^step (\d+)/20 \(\d+%\)  [\d.]+ steps/s  ETA \S+  augment_p=\S+ d_g_z=\S+ d_loss=\S+ d_x=\S+ '
                           r'g_loss=\S+$')  # augment_p: MNIST's recipe augments with ADA


def test_a_log_gets_one_plain_line_per_log_interval_and_stays_small(tmp_path):
    """A real process with its output in a file: newline-terminated lines, no carriage return, no escape code."""
    log_path = tmp_path / 'train.log'
    with open(log_path, 'w') as log:
        subprocess.run([sys.executable, '-m', 'bearer_gan', 'train', *TINY, '--out', str(tmp_path / 'run')],
                       stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, check=True, timeout=600,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    text = log_path.read_text()
    assert '\r' not in text and '\x1b' not in text and text.endswith('\n')
    progress = [line for line in text.splitlines() if line.startswith('step ')]
    assert [int(PROGRESS_LINE.match(line).group(1)) for line in progress] == [5, 10, 15, 20], progress
    # The default run prints one such line every --log-interval steps; with its other lines it stays under 50 KB.
    lines_of_a_default_run = RunConfig().steps // RunConfig().log_interval
    longest = max(len(line) for line in progress) + len('15000/15000') - len('20/20') + 1
    other = len(text) - sum(len(line) + 1 for line in progress)
    assert lines_of_a_default_run * longest + other < 50_000, (lines_of_a_default_run, longest, other)


def test_quiet_prints_only_the_summary(tmp_path, capsys):
    train_main([*TINY, '--quiet', '--out', str(tmp_path / 'run')])
    out, err = capsys.readouterr()
    assert out.splitlines() == [line for line in out.splitlines() if line.startswith('trained to step 20 in ')]
    assert len(out.splitlines()) == 1 and err == ''
    train_main([*TINY, '--quiet', '--out', str(tmp_path / 'run')])  # the same command: finished, nothing to say
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 1 and out.startswith('trained to step 20') and err == ''


def test_a_line_printer_reports_rate_eta_and_every_metric():
    import torchbearer
    from bearer_gan import keys
    lines = []

    class Collect:
        def write(self, text):
            lines.append(text)

        def flush(self):
            pass
    printer = bearer_gan.LinePrinter(interval=2, stream=Collect())
    state = {keys.STEP: 10, torchbearer.STEPS: 4, torchbearer.METRICS: {'running_g_loss': 1.5, 'fid': 12.25}}
    printer.on_start_training(state)
    for step in (11, 12, 13):
        state[keys.STEP] = step
        printer.on_step_training(state)
    printer.on_end_training(state)
    text = ''.join(lines)
    assert [line.split()[1] for line in text.splitlines()] == ['12/14', '13/14']
    assert 'fid=12.25 g_loss=1.5' in text and 'ETA' in text and 'steps/s' in text
    state[torchbearer.METRICS].update(g_loss=9.0, running_d_x=0.5, d_x=0.75)  # after the epoch: its mean metrics too
    assert printer.line(state, time.perf_counter()).endswith('  d_x=0.5 fid=12.25 g_loss=1.5')


def test_half_blocks_in_256_colours_pick_the_nearest_grey_and_cube_colours():
    image = torch.zeros(3, 2, 2)
    image[:, 0, 0] = 1.0  # white above black in the first cell
    image[0, 0, 1] = 1.0  # red above black in the second
    text = render_half_blocks(image, width=2, colors_24bit=False)
    assert text.count(UPPER_HALF_BLOCK) == 2 and text.endswith('\x1b[0m\n')
    assert '\x1b[38;5;231m\x1b[48;5;16m' + UPPER_HALF_BLOCK in text  # white (cube 5,5,5) on black (cube 0,0,0)
    assert '\x1b[38;5;196m' in text  # pure red: cube (5, 0, 0)
    assert '\x1b[38;2;255;255;255m\x1b[48;2;0;0;0m' in render_half_blocks(image, width=2)


def run_in_a_terminal(argv, env, timeout=600):
    """Run a command with a pseudo-terminal as its standard output and error; return what it printed."""
    master, slave = pty.openpty()
    process = subprocess.Popen(argv, stdout=slave, stderr=slave, stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    output, deadline = b'', time.time() + timeout
    try:
        while time.time() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the terminal closed: the process has exited
                    break
                if not chunk:
                    break
                output += chunk
            elif process.poll() is not None:
                break
        process.wait(timeout=max(1, deadline - time.time()))
    finally:
        if process.poll() is None:
            process.kill()
        os.close(master)
    return process.returncode, output.decode('utf-8', 'replace')


def test_preview_draws_the_grid_in_a_terminal_in_24_bit_colour_and_nothing_elsewhere(tmp_path, capsys):
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLORTERM='truecolor', COLUMNS='80', LINES='40')
    returncode, output = run_in_a_terminal(
        [sys.executable, '-m', 'bearer_gan', 'train', *TINY, '--steps', '10', '--sample-interval', '5', '--preview',
         '--out', str(tmp_path / 'run')], env)
    assert returncode == 0, output[-2000:]
    assert 'samples at step 5' in output and 'samples at step 10' in output
    assert output.count(UPPER_HALF_BLOCK) >= 2 * 20  # two grids of at least 20 cells
    assert re.search(r'\x1b\[38;2;\d+;\d+;\d+m\x1b\[48;2;\d+;\d+;\d+m' + UPPER_HALF_BLOCK, output)
    assert not re.search(r'^step \d+/10 ', output, re.M) and '\r' in output  # the progress bar, not log lines

    train_main([*TINY, '--steps', '10', '--sample-interval', '5', '--preview', '--out', str(tmp_path / 'piped')])
    out, _ = capsys.readouterr()  # not a terminal: no drawing
    assert UPPER_HALF_BLOCK not in out and '\x1b[' not in out
