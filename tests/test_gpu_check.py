"""benchmarks/gpu_check.sh: its arguments, and (marked slow; CI runs it as a step of .ci/run) its CPU mode end to end."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / 'benchmarks' / 'gpu_check.sh'


def run(*args, timeout=60):
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=str(ROOT))
    return subprocess.run(['bash', str(SCRIPT), *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=timeout)


@pytest.mark.parametrize('args, message', [
    (['--device', 'tpu'], '--device must be cuda or cpu, got tpu'),
    (['--fast'], 'unknown argument --fast'),
])
def test_bad_arguments_are_one_line(args, message):
    result = run(*args)
    assert result.returncode == 2 and f'gpu_check.sh: error: {message}' in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has a GPU')
def test_cuda_without_a_gpu_says_to_use_the_cpu_mode():
    result = run()
    assert result.returncode == 2 and 'no CUDA GPU here; run with --device cpu' in result.stderr


@pytest.mark.slow
def test_the_cpu_mode_runs_every_section(tmp_path):
    report = tmp_path / 'report.txt'
    result = run('--device', 'cpu', '--report', report, timeout=1500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = report.read_text()
    assert 'FAILED' not in text and 'TIMED OUT' not in text and 'SKIPPED' not in text
    assert 'trained to step 30' in text and '"fid"' in text
    sections = [line for line in text.splitlines() if line.startswith('== throughput.py')]
    assert len(sections) == 6
    for batch, flags in [(batch, flags) for batch in (128, 1024) for flags in ('', '--precision bf16', '--compile')]:
        assert any(f'--batch-size {batch} ' in line and line.split(' (limit')[0].endswith(flags) for line in sections)
    assert text.count('d/a = ') == 6  # each throughput run reached its summary
