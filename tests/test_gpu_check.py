"""benchmarks/gpu_check.sh: its arguments; its exit status, with a stand-in for python (a GPU that is there, sections
that pass, fail or run out of time); and (marked slow; CI runs it as a step of .ci/run) its CPU mode end to end."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / 'benchmarks' / 'gpu_check.sh'


def run(*args, timeout=60, python=sys.executable, **env):
    env = dict(os.environ, PYTHON=str(python), PYTHONPATH=str(ROOT), **env)
    return subprocess.run(['bash', str(SCRIPT), *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=timeout)


@pytest.mark.parametrize('args, message', [
    (['--device', 'tpu'], '--device must be cuda or cpu, got tpu'),
    (['--fast'], 'unknown argument --fast'),
    (['--budget', '5m'], '--budget must be whole seconds, got 5m'),
])
def test_bad_arguments_are_one_line(args, message):
    result = run(*args)
    assert result.returncode == 2 and f'gpu_check.sh: error: {message}' in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has a GPU')
def test_cuda_without_a_gpu_says_to_use_the_cpu_mode():
    result = run()
    assert result.returncode == 2 and 'no CUDA GPU here; run with --device cpu' in result.stderr


# python as the script calls it: the GPU probe, the header's version line, and the sections (the default run's -c
# program, bearer_gan evaluate, benchmarks/throughput.py). A section whose arguments hold $STAND_IN_MATCH exits
# with $STAND_IN_EXIT (124: as if its time limit ran out, the status timeout gives); the others print and pass.
STAND_IN = """#!/usr/bin/env bash
case "$*" in
    *torch.__version__*) echo "torch stand-in | stand-in GPU"; exit 0 ;;
    *'sys.exit(not torch.cuda.is_available())'*) exit "${STAND_IN_NO_GPU:-0}" ;;
esac
echo "stand-in ran: ${*: -4}"
if [ -n "${STAND_IN_MATCH:-}" ] && [[ "$*" == *"$STAND_IN_MATCH"* ]]; then exit "$STAND_IN_EXIT"; fi
"""


@pytest.fixture
def stand_in(tmp_path):
    python = tmp_path / 'python'
    python.write_text(STAND_IN)
    python.chmod(0o755)
    return python


@pytest.mark.parametrize('device', ['cuda', 'cpu'])
@pytest.mark.parametrize('args, env, status, says', [
    ([], {}, 0, 'every section finished'),
    ([], dict(STAND_IN_MATCH='--compile', STAND_IN_EXIT='124'), 3, '--compile: TIMED OUT after'),
    (['--budget', '9'], {}, 3, ': SKIPPED, the 9 s budget is spent'),
    ([], dict(STAND_IN_MATCH='--batch-size 1024', STAND_IN_EXIT='1'), 1, ': FAILED with exit code 1'),
])
def test_the_exit_status_says_whether_every_section_was_checked(tmp_path, stand_in, device, args, env, status, says):
    report = tmp_path / 'report.txt'
    result = run('--device', device, '--report', report, *args, python=stand_in, **env)
    text = report.read_text()
    assert result.returncode == status, result.stdout + result.stderr
    assert says in text and (status == 0 or f'(exit {status})' in text)
    assert text.count('\n== ') == 8  # every section has its line, checked or not
    if 'TIMED OUT' in says or 'SKIPPED' in says:
        assert 'FAILED' not in text


def test_timed_out_sections_are_named_and_the_others_still_run(tmp_path, stand_in):
    report = tmp_path / 'report.txt'
    result = run('--report', report, python=stand_in, STAND_IN_MATCH='--precision bf16', STAND_IN_EXIT='124')
    text = report.read_text()
    assert result.returncode == 3
    assert text.count(': TIMED OUT after') == 2 and text.count('stand-in ran:') == 8  # eager and compile ran too
    assert 'torch stand-in | stand-in GPU' in text


def test_without_a_gpu_the_cuda_mode_exits_2_before_any_section(tmp_path, stand_in):
    result = run('--report', tmp_path / 'report.txt', python=stand_in, STAND_IN_NO_GPU='1')
    assert result.returncode == 2 and 'no CUDA GPU here; run with --device cpu' in result.stderr


@pytest.mark.slow
def test_the_cpu_mode_runs_every_section(tmp_path):
    report = tmp_path / 'report.txt'
    result = run('--device', 'cpu', '--report', report, timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = report.read_text()
    assert 'FAILED' not in text and 'TIMED OUT' not in text and 'SKIPPED' not in text
    assert 'gpu_check.sh: every section finished' in text
    assert 'trained to step 30' in text and '"fid"' in text
    sections = [line for line in text.splitlines() if line.startswith('== throughput.py')]
    assert len(sections) == 6
    for batch, flags in [(batch, flags) for batch in (128, 1024) for flags in ('', '--precision bf16', '--compile')]:
        assert any(f'--batch-size {batch} ' in line and line.split(' (limit')[0].endswith(flags) for line in sections)
    assert text.count('d/a = ') == 6  # each throughput run reached its summary
