"""The Fréchet distance, and the feature statistics it compares.

FID fits a Gaussian to the features a pretrained network gives the generated images, another to
those of real images, and measures the distance between the two (Heusel et al., 2017). This
module holds that arithmetic, independent of which network gives the features
(:mod:`~bearer_gan.evaluation.classifiers` for MNIST and Fashion-MNIST,
:mod:`~bearer_gan.evaluation.inception` for everything else).
"""
import warnings
from typing import Callable, Optional, Tuple

import numpy as np
import torch
from scipy import linalg

__all__ = ['FidUnavailable', 'frechet_distance', 'as_unit_range', 'extract_features', 'statistics_of',
           'feature_statistics']


class FidUnavailable(RuntimeError):
    """FID cannot be computed here (an optional package or its weights missing, no reference images); one line why."""


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


def as_unit_range(images: torch.Tensor) -> torch.Tensor:
    """Float ``(N, C, H, W)`` in ``[-1, 1]`` from float images in ``[-1, 1]`` or ``uint8`` in ``[0, 255]``.

    ``(N, H, W)`` gets a channel axis. Data sets are kept as ``uint8``; converting batch by batch
    spares a float copy of the whole set.
    """
    if images.dtype == torch.uint8:
        images = images.float().div_(127.5).sub_(1.0)
    return images.unsqueeze(1) if images.dim() == 3 else images


@torch.no_grad()
def extract_features(images: torch.Tensor, network: Callable[[torch.Tensor], torch.Tensor], batch_size: int = 500,
                     device: Optional[torch.device] = None) -> torch.Tensor:
    """``network``'s features of ``images``, float32 ``(N, D)`` on the CPU, in batches.

    Args:
        images: float ``(N, C, H, W)`` in ``[-1, 1]`` or ``uint8`` in ``[0, 255]`` (see
            :func:`as_unit_range`), on any device.
        network: maps a float batch in ``[-1, 1]`` to ``(B, D)`` features.
        batch_size: images per forward pass.
        device: where each batch is moved before ``network`` sees it; the images' device when None.
    """
    device = images.device if device is None else device
    return torch.cat([network(as_unit_range(images[start:start + batch_size].to(device))).float().cpu()
                      for start in range(0, len(images), batch_size)])


def statistics_of(features: torch.Tensor) -> Tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and covariance ``(D, D)``, float64, of ``features`` ``(N, D)``, ``N >= 2``."""
    if len(features) < 2:
        raise ValueError(f'need at least 2 images for feature statistics, got {len(features)}')
    values = features.numpy().astype(np.float64)
    return values.mean(axis=0), np.cov(values, rowvar=False)


def feature_statistics(images: torch.Tensor, network: Callable[[torch.Tensor], torch.Tensor], batch_size: int = 500,
                       device: Optional[torch.device] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and covariance ``(D, D)``, float64, of ``network``'s features of ``images``.

    Args:
        images: see :func:`extract_features`; ``N >= 2``.
        network: e.g. a classifier's :meth:`~bearer_gan.evaluation.classifiers.LeNetClassifier.features`.
        batch_size: images per forward pass.
        device: where the network is; the images' device when None.
    """
    return statistics_of(extract_features(images, network, batch_size, device))
