"""The installed package: a wheel installed without the checkout trains, samples and scores, and no message
sends a user to the checkout's examples/ or scripts/ folders, which a wheel does not have."""
import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / 'bearer_gan'


def run(command, **kwargs):
    result = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=900, **kwargs)
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-3000:])
    return result


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """``pip install --no-deps --target SITE`` of a wheel built, offline, from a copy of the package's sources."""
    tmp = tmp_path_factory.mktemp('wheel')
    source = tmp / 'source'
    source.mkdir()
    for name in ('setup.py', 'README.md'):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(PACKAGE, source / 'bearer_gan', ignore=shutil.ignore_patterns('__pycache__'))
    run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '--no-index', '--quiet',
         '-w', tmp / 'dist', source])
    wheel, = (tmp / 'dist').glob('bearer_gan-*.whl')
    run([sys.executable, '-m', 'pip', 'install', '--no-deps', '--no-index', '--quiet', '--target', tmp / 'site', wheel])
    elsewhere = tmp / 'elsewhere'  # a working directory far from the checkout
    elsewhere.mkdir()
    env = {name: value for name, value in os.environ.items() if name != 'PYTHONPATH'}
    return dict(site=tmp / 'site', cwd=elsewhere, env=dict(env, PYTHONPATH=str(tmp / 'site')))


def test_the_wheel_gives_the_whole_command_line_and_trains_without_the_checkout(installed):
    where = run([sys.executable, '-c', 'import bearer_gan; print(bearer_gan.__file__)'],
                cwd=installed['cwd'], env=installed['env']).stdout
    assert where.strip().startswith(str(installed['site']))  # the wheel's copy, not the checkout's

    help_text = run([sys.executable, '-m', 'bearer_gan', 'train', '--help'], cwd=installed['cwd'],
                    env=installed['env']).stdout
    assert all(flag in help_text for flag in ('--steps', '--resume', '--log-interval', '--tensorboard', '--preview'))
    script = installed['site'] / 'bin' / 'bearer-gan'
    assert 'train' in run([sys.executable, script, '--help'], cwd=installed['cwd'], env=installed['env']).stdout

    trained = run([sys.executable, '-m', 'bearer_gan', 'train', '--dataset', 'mnist-5k', '--steps', '5',
                   '--batch-size', '16', '--sample-interval', '5', '--device', 'cpu', '--no-eval', '--out', 'run'],
                  cwd=installed['cwd'], env=installed['env'])
    assert 'trained to step 5' in trained.stdout
    run([sys.executable, '-c', 'from bearer_gan.evaluation import load_classifier, load_reference_statistics; '
         "[(load_classifier(name), load_reference_statistics(name)) for name in ('mnist', 'fashion-mnist')]"],
        cwd=installed['cwd'], env=installed['env'])  # the shipped classifiers and statistics came along
    run([sys.executable, '-m', 'bearer_gan', 'sample', '--run', 'run', '--n', '4', '--out', 'x.npy'],
        cwd=installed['cwd'], env=installed['env'])
    assert (installed['cwd'] / 'x.npy').exists() and (installed['cwd'] / 'run' / 'generator.pt').exists()


def user_facing_strings(path: Path):
    """The string constants of a module that are not docstrings (messages, help texts, f-string parts)."""
    tree = ast.parse(path.read_text())
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings]


def test_no_message_points_at_files_a_wheel_lacks():
    found = [f'{path.relative_to(ROOT)}:{line}: {text!r}' for path in sorted(PACKAGE.rglob('*.py'))
             for line, text in user_facing_strings(path) if 'examples/' in text or 'scripts/' in text]
    assert not found, found
