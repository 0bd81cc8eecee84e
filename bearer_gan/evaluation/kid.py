"""Kernel Inception Distance: an unbiased distance between two feature sets, with its spread over subsets.

FID is biased: the same generator scores higher on fewer samples, so FIDs compare only at equal
``n``. KID (Binkowski et al., 2018) is the squared maximum mean discrepancy between the two
feature distributions under the cubic polynomial kernel ``k(x, y) = (x . y / D + 1) ** 3``,
estimated without bias: its expectation does not depend on the number of samples, it is about
0 (and may be slightly negative) for two samples of one distribution, and it needs no Gaussian
fit. It is averaged over random subsets of the two sets, as the original code and torch-fidelity
do (100 subsets of ``min(1000, n)`` rows each), which bounds the cost at three
``subset_size x subset_size`` kernel matrices per subset, whatever ``n``, and gives a standard
deviation with it.

The kernel sums are computed in float64: the estimate is a small difference of large sums.
"""
import math
from typing import Tuple

import torch

__all__ = ['KID_SUBSETS', 'KID_SUBSET_SIZE', 'polynomial_kernel', 'mmd2_unbiased', 'kernel_distance']

#: Random subsets KID is averaged over.
KID_SUBSETS = 100
#: Rows of each set in a subset (fewer when a set is smaller).
KID_SUBSET_SIZE = 1000


def polynomial_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The cubic kernel ``(x . y / D + 1) ** 3``, ``(M, N)``: each row of ``x`` ``(M, D)`` with each row of ``y``.

    ``y`` is ``(N, D)``. Dividing by ``D`` keeps the kernel's scale from growing with the feature
    width. Computed in place on the one ``(M, N)`` matrix (half the time of the plain expression
    in float64).
    """
    return torch.addmm(x.new_ones(()), x, y.T, alpha=1 / x.shape[1]).pow_(3)


def mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased squared MMD between the samples ``x`` ``(M, D)`` and ``y`` ``(N, D)``, ``M, N >= 2``, cubic kernel.

    ``mean_{i != j} k(x_i, x_j) + mean_{i != j} k(y_i, y_j) - 2 mean_{i, j} k(x_i, y_j)``: the
    within-set means leave out each point's kernel with itself, which is what removes the bias.
    """
    if x.dim() != 2 or y.dim() != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f'expected features (M, D) and (N, D), got {tuple(x.shape)} and {tuple(y.shape)}')
    if len(x) < 2 or len(y) < 2:
        raise ValueError(f'the unbiased MMD needs at least 2 rows in each set, got {len(x)} and {len(y)}')
    x, y = x.double(), y.double()
    m, n = len(x), len(y)
    k_xx, k_yy = polynomial_kernel(x, x), polynomial_kernel(y, y)
    within_x = (k_xx.sum() - k_xx.diagonal().sum()) / (m * (m - 1))
    within_y = (k_yy.sum() - k_yy.diagonal().sum()) / (n * (n - 1))
    return float(within_x + within_y - 2 * polynomial_kernel(x, y).sum() / (m * n))


def kernel_distance(real: torch.Tensor, fake: torch.Tensor, subsets: int = KID_SUBSETS,
                    subset_size: int = KID_SUBSET_SIZE, seed: int = 0) -> Tuple[float, float]:
    """KID of ``fake`` ``(M, D)`` against ``real`` ``(N, D)``: the mean and standard deviation of
    :func:`mmd2_unbiased` over ``subsets`` random subsets.

    Each subset draws ``min(subset_size, N, M)`` rows of each set without replacement, from a
    :class:`torch.Generator` seeded with ``seed`` (the global random state is left alone). The
    standard deviation is that of the subsets' values (0 for one subset), a measure of how much
    the subsets disagree, not a standard error of the mean.

    Raises:
        ValueError: for fewer than 2 rows in either set, or ``subsets < 1``.
    """
    if subsets < 1:
        raise ValueError(f'subsets must be a positive integer, got {subsets}')
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError(f'KID needs at least 2 real and 2 generated rows, got {len(real)} and {len(fake)}')
    generator = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(subsets):
        real_rows = torch.randperm(len(real), generator=generator)[:size].to(real.device)
        fake_rows = torch.randperm(len(fake), generator=generator)[:size].to(fake.device)
        values.append(mmd2_unbiased(real[real_rows], fake[fake_rows]))
    mean = sum(values) / len(values)
    return mean, math.sqrt(sum((value - mean) ** 2 for value in values) / len(values))
