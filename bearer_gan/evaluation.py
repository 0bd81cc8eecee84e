"""Measure what a generator draws: FID against the MNIST test set, and which digits it covers.

A GAN's losses say how the two networks are doing against each other, not how good the samples
are. This module scores samples with the shipped MNIST classifier (:mod:`bearer_gan.classifier`):

* **FID**: the Fréchet distance between Gaussians fitted to the classifier's 128 features of the
  samples and of the 10,000 MNIST test digits (statistics shipped in
  ``assets/mnist_test_stats.npz``). Lower is better; it drops with both quality and diversity.
* **Coverage**: the share of samples the classifier puts in each digit class. Mode collapse
  shows as missing classes and a large KL divergence from the uniform distribution.

All images are float ``(N, 1, 28, 28)`` in ``[-1, 1]``, the project's convention.
"""
import gzip
import os
import warnings
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np
import torch
from scipy import linalg

from .classifier import MnistClassifier, load_classifier
from .callbacks import generate, load_generator

__all__ = ['REFERENCE_STATS_PATH', 'COVERED_SHARE', 'load_mnist_test', 'load_reference_statistics',
           'frechet_distance', 'feature_statistics', 'fid', 'class_coverage', 'evaluate_images',
           'evaluate_generator', 'evaluate_run']

#: Feature mean ``(128,)`` and covariance ``(128, 128)`` (float64) of the MNIST test set,
#: written by ``scripts/train_classifier.py`` together with the classifier weights.
REFERENCE_STATS_PATH = Path(__file__).parent / 'assets' / 'mnist_test_stats.npz'
#: A digit counts as covered when at least this share of the samples is classified as it.
COVERED_SHARE = 0.02


def _read_idx(path: str, magic: int, shape_dims: int) -> np.ndarray:
    with gzip.open(path, 'rb') as handle:
        data = handle.read()
    header = np.frombuffer(data, dtype='>i4', count=1 + shape_dims)
    if header[0] != magic:
        raise ValueError(f'{path} is not an MNIST idx file (magic number {header[0]}, expected {magic})')
    shape = tuple(int(size) for size in header[1:])
    return np.frombuffer(data, dtype=np.uint8, offset=4 * (1 + shape_dims)).reshape(shape)


def load_mnist_test(test_dir: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """The 10,000 MNIST test digits: ``uint8`` images ``(N, 28, 28)`` in ``[0, 255]``, ``int64`` labels ``(N,)``.

    Reads ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz`` with gzip and numpy
    (nothing is written, so the folder may be read-only) from ``test_dir/MNIST/raw``, the
    :class:`torchvision.datasets.MNIST` layout, or from ``test_dir`` itself.

    Raises:
        FileNotFoundError: naming the folders searched when the files are in neither.
    """
    names = ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz')
    candidates = (os.path.join(test_dir, 'MNIST', 'raw'), test_dir)
    for folder in candidates:
        if all(os.path.isfile(os.path.join(folder, name)) for name in names):
            images = _read_idx(os.path.join(folder, names[0]), 2051, 3)
            labels = _read_idx(os.path.join(folder, names[1]), 2049, 1)
            return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))
    raise FileNotFoundError(f'MNIST test files {" and ".join(names)} not found in {candidates[0]!r} '
                            f'or {candidates[1]!r}')


def load_reference_statistics() -> Tuple[np.ndarray, np.ndarray]:
    """The shipped MNIST test-set feature mean ``(128,)`` and covariance ``(128, 128)``, float64."""
    if not REFERENCE_STATS_PATH.is_file():
        raise FileNotFoundError(f'reference statistics not found at {REFERENCE_STATS_PATH}; '
                                'run scripts/train_classifier.py to create them')
    with np.load(REFERENCE_STATS_PATH) as stats:
        return stats['mu'], stats['sigma']


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """Fréchet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    ``|mu1 - mu2|^2 + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))``, with the matrix square root
    from :func:`scipy.linalg.sqrtm`. When ``sigma1 sigma2`` is singular (features that never fire,
    fewer samples than features) the square root is unreliable, so ``eps * I`` is added to both
    covariances, in every term, and it is computed again. Rounding can leave tiny imaginary parts
    and a result just below 0; both are dropped.

    Args:
        mu1, mu2: means ``(D,)``.
        sigma1, sigma2: covariances ``(D, D)``.
        eps: the ridge added to singular covariances.

    Raises:
        ValueError: for mismatched shapes, or a square root with a large imaginary part.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    dim = mu1.shape[0]
    if mu1.shape != (dim,) or mu2.shape != (dim,) or sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
        raise ValueError(f'shapes do not match: mu {mu1.shape}, {mu2.shape}; sigma {sigma1.shape}, {sigma2.shape}')
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('error', linalg.LinAlgWarning)
            covmean = linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():
            raise linalg.LinAlgError('non-finite square root')
    except (linalg.LinAlgWarning, linalg.LinAlgError):
        sigma1, sigma2 = sigma1 + eps * np.eye(dim), sigma2 + eps * np.eye(dim)
        covmean = linalg.sqrtm(sigma1 @ sigma2)
    if np.iscomplexobj(covmean):
        largest = np.abs(covmean.imag).max()
        if largest > 1e-3 * max(1.0, np.abs(covmean.real).max()):
            raise ValueError(f'matrix square root has a large imaginary part ({largest:.3g})')
        covmean = covmean.real
    diff = mu1 - mu2
    return max(0.0, float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean)))


@torch.no_grad()
def _classify(images: torch.Tensor, classifier: MnistClassifier, batch_size: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Features ``(N, 128)`` and logits ``(N, 10)``, float32 on the CPU, in one pass over ``images``."""
    if images.dim() != 4 or tuple(images.shape[1:]) != (1, 28, 28):
        raise ValueError(f'expected images of shape (N, 1, 28, 28), got {tuple(images.shape)}')
    if len(images) < 2:
        raise ValueError(f'need at least 2 images for feature statistics, got {len(images)}')
    device = next(classifier.parameters()).device
    features, logits = [], []
    for start in range(0, len(images), batch_size):
        batch_features = classifier.features(images[start:start + batch_size].to(device, torch.float32))
        features.append(batch_features.cpu())
        logits.append(classifier.head(batch_features).cpu())
    return torch.cat(features), torch.cat(logits)


def _statistics(features: torch.Tensor) -> Tuple[np.ndarray, np.ndarray]:
    values = features.numpy().astype(np.float64)
    return values.mean(axis=0), np.cov(values, rowvar=False)


def _coverage(logits: torch.Tensor) -> Dict[str, object]:
    probabilities = logits.double().softmax(dim=1)
    shares = torch.bincount(probabilities.argmax(dim=1), minlength=10).double() / len(logits)
    nonzero = shares[shares > 0]
    return {
        'class_shares': shares.tolist(),
        'classes_covered': int((shares >= COVERED_SHARE).sum()),
        'kl_from_uniform': float((nonzero * (nonzero * 10).log()).sum()),
        'mean_confidence': float(probabilities.max(dim=1).values.mean()),
    }


def feature_statistics(images: torch.Tensor, classifier: MnistClassifier,
                       batch_size: int = 500) -> Tuple[np.ndarray, np.ndarray]:
    """Mean ``(128,)`` and covariance ``(128, 128)``, float64, of the classifier features of ``images``.

    Args:
        images: ``(N, 1, 28, 28)`` in ``[-1, 1]``, ``N >= 2``, on any device.
        classifier: the feature network, in eval mode.
        batch_size: images per forward pass.
    """
    return _statistics(_classify(images, classifier, batch_size)[0])


def fid(images: torch.Tensor, classifier: Optional[MnistClassifier] = None, batch_size: int = 500) -> float:
    """FID of ``images`` (``(N, 1, 28, 28)`` in ``[-1, 1]``) against the MNIST test set.

    Small ``N`` biases FID upwards: compare FIDs computed on the same number of images.
    """
    classifier = load_classifier() if classifier is None else classifier
    return frechet_distance(*feature_statistics(images, classifier, batch_size), *load_reference_statistics())


def class_coverage(images: torch.Tensor, classifier: Optional[MnistClassifier] = None,
                   batch_size: int = 500) -> Dict[str, object]:
    """Which digits the classifier sees in ``images`` (``(N, 1, 28, 28)`` in ``[-1, 1]``).

    Returns:
        ``class_shares``: share of images predicted as each digit 0-9 (sums to 1);
        ``classes_covered``: digits with at least :data:`COVERED_SHARE` of the images;
        ``kl_from_uniform``: KL(shares || uniform) in nats, 0 for balanced digits, ``log 10`` (2.30)
        for one digit only; ``mean_confidence``: mean top softmax probability, low for
        images that look like no digit.
    """
    classifier = load_classifier() if classifier is None else classifier
    return _coverage(_classify(images, classifier, batch_size)[1])


def evaluate_images(images: torch.Tensor, classifier: Optional[MnistClassifier] = None,
                    batch_size: int = 500) -> Dict[str, object]:
    """FID and coverage of ``images`` in one pass: ``{'fid', 'n'}`` plus :func:`class_coverage`'s keys.

    All values are plain Python numbers (JSON-serialisable).
    """
    classifier = load_classifier() if classifier is None else classifier
    features, logits = _classify(images, classifier, batch_size)
    score = frechet_distance(*_statistics(features), *load_reference_statistics())
    return {'fid': score, 'n': len(images), **_coverage(logits)}


@torch.no_grad()
def evaluate_generator(generator: torch.nn.Module, latent_dim: int, n: int = 10000, device: Optional[str] = None,
                       seed: int = 0, batch_size: int = 500, classifier: Optional[MnistClassifier] = None,
                       num_classes: Optional[int] = None) -> Dict[str, object]:
    """Sample ``n`` images from ``generator`` and score them with :func:`evaluate_images`.

    The noise comes from its own seeded :class:`torch.Generator`, so repeated evaluations see the
    same ``z`` and the global random state (and with it training) is left untouched. The generator
    samples in eval mode (batch norm uses running statistics) and is put back in its previous mode.

    Args:
        generator: maps ``(B, latent_dim)`` noise to ``(B, 1, 28, 28)`` images in ``[-1, 1]``.
        latent_dim: size of ``z``.
        n: images to sample, at least 2; use the same ``n`` for FIDs you compare.
        device: where the noise goes and the shipped classifier is loaded; the generator must be
            there already. The generator's device when None.
        seed: seed of the noise.
        batch_size: images per forward pass.
        classifier: the feature network; the shipped one (loaded on ``device``) when None.
        num_classes: for a class-conditional generator ``G(z, labels)``: it draws balanced labels
            ``arange(n) % num_classes`` and the result gains ``conditional_accuracy``, the share of
            ``G(z, k)`` the classifier assigns to ``k``.
    """
    device = next(generator.parameters()).device if device is None else torch.device(device)
    classifier = load_classifier(device) if classifier is None else classifier
    labels = None if num_classes is None else torch.arange(n) % num_classes
    images = generate(generator, latent_dim, n, seed, batch_size, device, labels=labels)
    scores = evaluate_images(images, classifier, batch_size)
    if labels is not None:
        predicted = _classify(images, classifier, batch_size)[1].argmax(dim=1)
        scores['conditional_accuracy'] = float((predicted == labels).double().mean())
    return scores


def evaluate_run(run_dir: str, n: int = 10000, device: str = 'cpu', seed: int = 0) -> Dict[str, object]:
    """Score the generator saved in ``run_dir/generator.pt`` (by :class:`~bearer_gan.callbacks.SaveModels`).

    Returns:
        :func:`evaluate_generator`'s dict, plus ``model`` (the architecture's name) and ``latent_dim``.
    """
    generator, spec = load_generator(run_dir, device)
    scores = evaluate_generator(generator, spec['latent_dim'], n=n, device=device, seed=seed,
                                num_classes=spec['num_classes'])
    return {'model': spec['model'], 'latent_dim': spec['latent_dim'], **scores}
