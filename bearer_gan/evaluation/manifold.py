"""Precision, recall, density and coverage: fidelity and diversity apart, from k-nearest-neighbour balls.

FID folds two failures into one number: samples that look like no real image (poor fidelity)
and real images the generator never draws (poor diversity). These metrics keep them apart. Each
feature vector gets a ball reaching its ``k``-th nearest neighbour in its own set, and the balls
of one set estimate where the other set's distribution lies:

* **precision** (Kynkäänniemi et al., 2019): the share of generated samples inside at least one
  real ball, i.e. that look real;
* **recall** (same paper): the share of real samples inside at least one generated ball, i.e.
  how much of the real data the generator draws;
* **density** (Naeem et al., 2020): how many real balls hold a generated sample, on average,
  divided by ``k``; about 1 when the two sets are alike, above 1 where samples crowd the dense
  regions of the real data; a real outlier's large ball adds at most one to a sample's count, so
  it sways density less than precision;
* **coverage** (same paper): the share of real samples whose ball holds at least one generated
  sample; like recall, but counted on the real balls, so generated outliers cannot inflate it.

Balls are closed (a point on the boundary is inside), as in the papers; whether a point lying
exactly on a boundary is inside is then up to the rounding of :func:`torch.cdist` (exact for
small integer coordinates in float64). Distances are computed in chunks of rows, so that about
:data:`CHUNK_ELEMENTS` of them are held at once: 10,000 real and 10,000 generated feature vectors
take three passes over 10,000 x 10,000 distances (real-real for the real radii, which a caller
can keep between evaluations, generated-generated, real-generated), never a 400 MB matrix. The
functions work on any feature network's output; :class:`~bearer_gan.evaluation.scorers.Scorer`
feeds them the features FID uses.
"""
from typing import Dict, Optional, Tuple

import torch

__all__ = ['MANIFOLD_K', 'CHUNK_ELEMENTS', 'knn_radii', 'manifold_metrics', 'precision_recall', 'density_coverage']

#: The ``k`` of the k-nearest-neighbour balls (the papers use 3 for precision and recall).
MANIFOLD_K = 3
#: Most distances held in memory at once (float32: 64 MiB).
CHUNK_ELEMENTS = 1 << 24


def _rows_per_chunk(columns: int) -> int:
    return max(1, CHUNK_ELEMENTS // max(1, columns))


def _check(features: torch.Tensor, k: int, what: str) -> None:
    if features.dim() != 2:
        raise ValueError(f'{what} features must be (N, D), got {tuple(features.shape)}')
    if k < 1:
        raise ValueError(f'k must be a positive integer, got {k}')
    if len(features) < k + 1:
        raise ValueError(f'{what} features need at least k + 1 = {k + 1} rows for a k-nearest-neighbour ball, '
                         f'got {len(features)}')


def knn_radii(features: torch.Tensor, k: int = MANIFOLD_K) -> torch.Tensor:
    """Distance from each row to its ``k``-th nearest *other* row: the radius of its ball.

    Args:
        features: ``(N, D)``, ``N >= k + 1``.
        k: which neighbour; the row itself (distance 0) is not counted.

    Returns:
        ``(N,)`` Euclidean distances, in the features' dtype and device.
    """
    _check(features, k, 'the')
    step, radii = _rows_per_chunk(len(features)), []
    for start in range(0, len(features), step):
        nearest = torch.cdist(features[start:start + step], features).topk(k + 1, dim=1, largest=False).values
        radii.append(nearest[:, k])  # the k + 1 smallest distances include the row's own 0
    return torch.cat(radii)


def manifold_metrics(real: torch.Tensor, fake: torch.Tensor, k: int = MANIFOLD_K,
                     real_radii: Optional[torch.Tensor] = None) -> Dict[str, float]:
    """Precision, recall, density and coverage of ``fake`` against ``real``, in one pass over their distances.

    Args:
        real: features of real images ``(N, D)``, ``N >= k + 1``.
        fake: features of generated images ``(M, D)``, ``M >= k + 1``, same dtype and device.
        k: the balls reach the ``k``-th nearest neighbour.
        real_radii: :func:`knn_radii` of ``real`` with this ``k`` ``(N,)``, when already known
            (the reference set is the same for every evaluation); computed when None.

    Returns:
        ``precision``, ``recall``, ``coverage`` in ``[0, 1]``; ``density`` in ``[0, N / k]``.
        For identical sets of distinct points precision, recall and coverage are 1 and density is
        ``(k + 1) / k`` (each ball holds its centre and ``k`` neighbours); all four are 0 for sets
        farther apart than any radius.
    """
    _check(real, k, 'real')
    _check(fake, k, 'generated')
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f'real and generated features differ in width: {real.shape[1]} and {fake.shape[1]}')
    real_radii = knn_radii(real, k) if real_radii is None else real_radii
    if real_radii.shape != (len(real),):
        raise ValueError(f'expected one radius per real row, ({len(real)},), got {tuple(real_radii.shape)}')
    fake_radii = knn_radii(fake, k)
    balls_holding = torch.zeros(len(fake), dtype=torch.int32, device=fake.device)  # real balls around each sample
    recalled, covered = [], []
    step = _rows_per_chunk(len(fake))
    for start in range(0, len(real), step):
        distances = torch.cdist(real[start:start + step], fake)  # (rows, M)
        inside_real = distances <= real_radii[start:start + step, None]
        balls_holding += inside_real.sum(dim=0, dtype=torch.int32)
        covered.append(inside_real.any(dim=1))
        recalled.append((distances <= fake_radii[None, :]).any(dim=1))
    return {'precision': float((balls_holding > 0).double().mean()),
            'recall': float(torch.cat(recalled).double().mean()),
            'density': float(balls_holding.double().sum() / (k * len(fake))),
            'coverage': float(torch.cat(covered).double().mean())}


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = MANIFOLD_K) -> Tuple[float, float]:
    """Precision and recall of ``fake`` ``(M, D)`` against ``real`` ``(N, D)`` (see :func:`manifold_metrics`)."""
    scores = manifold_metrics(real, fake, k)
    return scores['precision'], scores['recall']


def density_coverage(real: torch.Tensor, fake: torch.Tensor, k: int = MANIFOLD_K) -> Tuple[float, float]:
    """Density and coverage of ``fake`` ``(M, D)`` against ``real`` ``(N, D)`` (see :func:`manifold_metrics`)."""
    scores = manifold_metrics(real, fake, k)
    return scores['density'], scores['coverage']
