"""Reference statistics and features of a training set, computed once and cached.

FID compares generated images with real ones. For MNIST and Fashion-MNIST the real side is the
official test set, whose statistics ship with the classifiers. For any other data set (CIFAR-10,
a folder of images) it is the training set itself, and running Inception-v3 over tens of
thousands of images takes minutes on a GPU and much longer on a CPU. So the statistics are
written to a cache folder the caller names (the run's data dir) and reused whenever the same
images meet the same feature network again.

Precision, recall, density, coverage and KID need the features themselves, not their mean and
covariance: :func:`cached_features` keeps those of a seeded sample of at most
:data:`REFERENCE_FEATURES` images the same way (a 10,000 x 2,048 float32 file, 80 MB, for
Inception).

The cache files are keyed by a SHA-256 of the images (their bytes, shape and dtype) and of the
feature network (its class, its ``repr`` and every tensor of its ``state_dict``): a changed
image, another ``--image-size`` or another network gives another file, never a stale hit.
"""
import hashlib
import os
from typing import Optional, Tuple

import numpy as np
import torch
from torch import nn

from ..files import atomic_path
from .fid import extract_features, feature_statistics

__all__ = ['REFERENCE_FEATURES', 'images_key', 'network_key', 'cache_path', 'cached_statistics', 'reference_sample',
           'cached_features']

#: Most real images whose features the nearest-neighbour metrics and KID compare with.
REFERENCE_FEATURES = 10000


def images_key(images: torch.Tensor) -> str:
    """SHA-256 (hex) of the images' dtype, shape and bytes: equal exactly for equal tensors."""
    digest = hashlib.sha256(f'{images.dtype} {tuple(images.shape)}'.encode())
    digest.update(images.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def network_key(network: nn.Module) -> str:
    """SHA-256 (hex) of a feature network's class, ``repr``, and the names and values of its ``state_dict``."""
    digest = hashlib.sha256(f'{type(network).__module__}.{type(network).__qualname__}\n{network!r}'.encode())
    for name, value in network.state_dict().items():
        digest.update(name.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def cache_path(cache_dir: str, images: torch.Tensor, network: nn.Module, kind: str = 'reference',
               suffix: str = '.npz') -> str:
    """``cache_dir/fid_<kind>_<key><suffix>``, the key from both hashes."""
    key = hashlib.sha256(f'{images_key(images)} {network_key(network)}'.encode()).hexdigest()[:24]
    return os.path.join(cache_dir, f'fid_{kind}_{key}{suffix}')


def cached_statistics(images: torch.Tensor, network: nn.Module, cache_dir: Optional[str] = None,
                      batch_size: int = 500, device: Optional[torch.device] = None) -> Tuple[np.ndarray, np.ndarray]:
    """Feature mean ``(D,)`` and covariance ``(D, D)`` of ``images``, from the cache when it has them.

    Args:
        images: the reference set, ``uint8`` ``(N, C, H, W)`` in ``[0, 255]`` (as data sets are kept)
            or float in ``[-1, 1]``; ``N >= 2``.
        network: the feature network (see :func:`~bearer_gan.evaluation.fid.extract_features`).
        cache_dir: folder for the cache file, created if missing; nothing is cached when None.
        batch_size: images per forward pass.
        device: where the network is; the images' device when None.
    """
    path = cache_path(cache_dir, images, network) if cache_dir is not None else None
    if path and os.path.isfile(path):
        with np.load(path) as stats:
            return stats['mu'], stats['sigma']
    mu, sigma = feature_statistics(images, network, batch_size, device)
    if path:
        os.makedirs(cache_dir, exist_ok=True)
        with atomic_path(path) as temporary:
            np.savez(temporary, mu=mu, sigma=sigma, n=len(images))
    return mu, sigma


def reference_sample(images: torch.Tensor, n: int = REFERENCE_FEATURES, seed: int = 0) -> torch.Tensor:
    """``images`` ``(N, ...)`` when ``N <= n``, else a seeded sample of ``n`` of them, kept in data set order."""
    if len(images) <= n:
        return images
    rows = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
    return images[rows.sort().values]


def cached_features(images: torch.Tensor, network: nn.Module, cache_dir: Optional[str] = None,
                    batch_size: int = 500, device: Optional[torch.device] = None) -> torch.Tensor:
    """Features float32 ``(N, D)`` of ``images`` (e.g. a :func:`reference_sample`), from the cache when it has them.

    Args:
        images: ``uint8`` ``(N, C, H, W)`` in ``[0, 255]`` or float in ``[-1, 1]``.
        network, batch_size, device: see :func:`cached_statistics`.
        cache_dir: folder for ``fid_features_<key>.npy``, created if missing; nothing is cached when None.
    """
    path = cache_path(cache_dir, images, network, 'features', '.npy') if cache_dir is not None else None
    if path and os.path.isfile(path):
        return torch.from_numpy(np.load(path))
    features = extract_features(images, network, batch_size, device)
    if path:
        os.makedirs(cache_dir, exist_ok=True)
        with atomic_path(path) as temporary:
            np.save(temporary, features.numpy())
    return features
