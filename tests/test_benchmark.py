"""benchmarks/throughput.py runs: every variant, (e) included, for two steps, and (c) and (d) on 32 x 32 RGB images
(smoke tests, not measurements)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_throughput_benchmark_runs_every_variant_for_two_steps(tmp_path):
    report = tmp_path / 'throughput.txt'
    result = subprocess.run(
        [sys.executable, str(ROOT / 'benchmarks' / 'throughput.py'), '--steps', '2', '--warmup', '1', '--reps', '1',
         '--e-steps', '2', '--batch-size', '16', '--no-memory', '--threads', '1', '--out', str(report)],
        capture_output=True, text=True, timeout=900, env={'PYTHONPATH': str(ROOT), 'PATH': '/usr/bin:/bin'})
    assert result.returncode == 0, result.stderr[-3000:]
    lines = report.read_text().splitlines()
    for variant in 'abcde':
        row = next(line for line in lines if line.startswith(f'({variant}) '))
        assert int(row.split()[-7]) == 2 and float(row.split()[-6]) > 0, row  # its timed steps and steps/s
    assert any(line.startswith('d/a = ') and 'e/d = ' in line for line in lines)
    assert any(line.startswith('(e) per step:') for line in lines)


def test_the_throughput_benchmark_trains_dcgan_on_32_pixel_rgb_digits_with_the_plain_loop_and_bearer_gan(tmp_path):
    report = tmp_path / 'throughput.txt'
    result = subprocess.run(
        [sys.executable, str(ROOT / 'benchmarks' / 'throughput.py'), '--model', 'dcgan', '--image-size', '32',
         '--channels', '3', '--steps', '2', '--warmup', '1', '--reps', '1', '--batch-size', '16', '--no-memory',
         '--threads', '1', '--out', str(report)],
        capture_output=True, text=True, timeout=900, env={'PYTHONPATH': str(ROOT), 'PATH': '/usr/bin:/bin'})
    assert result.returncode == 0, result.stderr[-3000:]
    lines = report.read_text().splitlines()
    assert any('resized to 3 x 32 x 32' in line for line in lines)
    rows = {line[1] for line in lines if line[:1] == '(' and line[2:4] == ') ' and 'per step' not in line}
    assert rows == {'c', 'd'}, lines  # (a) and (b) read 28 x 28 grey digits only
    for variant in 'cd':
        row = next(line for line in lines if line.startswith(f'({variant}) '))
        assert int(row.split()[-7]) == 2 and float(row.split()[-6]) > 0, row
    assert any(line.startswith('d/c = ') and 'd/a' not in line and 'e/d' not in line for line in lines)
    assert any(line.startswith('d/c per repetition') for line in lines)


def test_the_throughput_benchmark_refuses_the_pil_variants_at_another_shape(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / 'benchmarks' / 'throughput.py'), '--model', 'dcgan', '--image-size', '32',
         '--channels', '3', '--variants', 'acd', '--steps', '1', '--warmup', '0', '--reps', '1', '--no-memory'],
        capture_output=True, text=True, timeout=300, env={'PYTHONPATH': str(ROOT), 'PATH': '/usr/bin:/bin'})
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and '(a) and (b)' in result.stderr, result.stderr
