"""benchmarks/throughput.py runs: every variant, (e) included, for two steps (a smoke test, not a measurement)."""
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
