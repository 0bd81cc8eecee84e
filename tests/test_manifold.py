"""Tests of bearer_gan.evaluation.manifold: precision, recall, density and coverage against hand computations.

The tiny sets are small integers in float64, so that every distance that should tie with a radius
does tie exactly, and the closed balls (``<=``) are tested at their boundaries.
"""
import math

import pytest
import torch

from bearer_gan.evaluation import density_coverage, knn_radii, manifold_metrics, precision_recall
from bearer_gan.evaluation import manifold as manifold_module

# Four real and four generated points in 2-D:
#
#   y                                real     r1 (0, 0)  r2 (0, 1)  r3 (1, 0)  r4 (2, 0)
#   3  f4 .  f1                      fake     f1 (2, 3)  f2 (0, 0)  f3 (1, 1)  f4 (0, 3)
#   2  .  .  .
#   1  r2 f3 .
#   0  r1 r3 r4     (f2 sits on r1)
#      0  1  2   x
REAL = torch.tensor([[0, 0], [0, 1], [1, 0], [2, 0]], dtype=torch.float64)
FAKE = torch.tensor([[2, 3], [0, 0], [1, 1], [0, 3]], dtype=torch.float64)
SQRT2, SQRT5 = math.sqrt(2), math.sqrt(5)


def reference_metrics(real, fake, k):
    """The papers' definitions written as plain loops over points: an independent check on larger sets."""
    real, fake = real.tolist(), fake.tolist()

    def radii(points):
        return [sorted(math.dist(p, q) for j, q in enumerate(points) if j != i)[k - 1] for i, p in enumerate(points)]

    real_radii, fake_radii = radii(real), radii(fake)
    holding = [sum(math.dist(f, r) <= radius for r, radius in zip(real, real_radii)) for f in fake]
    recalled = [any(math.dist(r, f) <= radius for f, radius in zip(fake, fake_radii)) for r in real]
    return {'precision': sum(count > 0 for count in holding) / len(fake),
            'recall': sum(recalled) / len(real),
            'density': sum(holding) / (k * len(fake)),
            'coverage': sum(any(math.dist(r, f) <= radius for f in fake) for r, radius in zip(real, real_radii))
            / len(real)}


def test_radii_reach_the_kth_nearest_other_point():
    # k = 1: each real point has a neighbour at distance 1 (r1-r2, r1-r3, r3-r4).
    torch.testing.assert_close(knn_radii(REAL, 1), torch.tensor([1, 1, 1, 1], dtype=torch.float64))
    # k = 2: r1's second neighbour is at 1 (r2 and r3), r2's at sqrt 2 (r3), r3's at 1 (r1 and r4), r4's at 2 (r1).
    torch.testing.assert_close(knn_radii(REAL, 2), torch.tensor([1, SQRT2, 1, 2], dtype=torch.float64))
    # generated, k = 1: f1 -> f4 at 2, f2 -> f3 at sqrt 2, f3 -> f2 at sqrt 2, f4 -> f1 at 2.
    torch.testing.assert_close(knn_radii(FAKE, 1), torch.tensor([2, SQRT2, SQRT2, 2], dtype=torch.float64))


def test_k1_against_a_hand_computation():
    # Real balls all have radius 1; generated balls: f1 2, f2 sqrt 2, f3 sqrt 2, f4 2.
    # precision: f2 lies on r1 (distance 0); f3 lies on the boundary of r2's and r3's balls (distance 1);
    #   f1 (3 from r4) and f4 (2 from r2) are in no real ball: 2/4.
    # recall: r1, r2, r3 are within 1 of f2 (radius sqrt 2); r4 is sqrt 2 from f3, on its boundary: 4/4.
    # density: f2 is in the balls of r1 (0), r2 (1), r3 (1), not r4 (2): 3; f3 in r2's and r3's: 2;
    #   f1, f4: 0. (3 + 2) / (k * 4) = 1.25.
    # coverage: r1, r2, r3 hold f2 (and r2, r3 also f3); r4's nearest sample is f3 at sqrt 2 > 1: 3/4.
    assert manifold_metrics(REAL, FAKE, k=1) == {'precision': 0.5, 'recall': 1.0, 'density': 1.25, 'coverage': 0.75}


def test_k2_against_a_hand_computation():
    # Real radii (above): r1 1, r2 sqrt 2, r3 1, r4 2. Generated radii, second neighbour: f1 sqrt 5 (f3),
    #   f2 3 (f4), f3 sqrt 5 (f4 and f1), f4 sqrt 5 (f3).
    # precision: f2 on r1; f3 1 from r2 (radius sqrt 2); f1 is 3 from r4 (radius 2) and sqrt 8 from r2; f4 2
    #   from r2: 2/4.
    # recall: f2's ball (radius 3) holds every real point (r4 at 2): 4/4.
    # density: f2 in all four real balls (r3 and r4 on their boundaries, 1 and 2); f3 in r2's (1), r3's (1,
    #   boundary) and r4's (sqrt 2 <= 2), not r1's (sqrt 2 > 1): (4 + 3) / (2 * 4) = 0.875.
    # coverage: every real ball holds f2: 4/4.
    assert manifold_metrics(REAL, FAKE, k=2) == {'precision': 0.5, 'recall': 1.0, 'density': 0.875, 'coverage': 1.0}


def test_the_pair_functions_are_the_combined_ones():
    assert precision_recall(REAL, FAKE, 1) == (0.5, 1.0)
    assert density_coverage(REAL, FAKE, 1) == (1.25, 0.75)


def test_k3_on_larger_sets_matches_the_definitions(monkeypatch):
    generator = torch.Generator().manual_seed(0)
    real = torch.randint(0, 6, (40, 3), generator=generator).double()  # a coarse grid: many exact ties
    fake = torch.randint(1, 7, (30, 3), generator=generator).double()
    expected = reference_metrics(real, fake, 3)
    assert 0 < expected['precision'] < 1 and 0 < expected['coverage'] < 1  # a case that discriminates
    assert manifold_metrics(real, fake, 3) == pytest.approx(expected, abs=1e-12)
    monkeypatch.setattr(manifold_module, 'CHUNK_ELEMENTS', 50)  # a few rows at a time: chunking changes nothing
    assert manifold_metrics(real, fake, 3) == pytest.approx(expected, abs=1e-12)


def test_known_radii_are_used_as_given():
    assert manifold_metrics(REAL, FAKE, 1, knn_radii(REAL, 1)) == manifold_metrics(REAL, FAKE, 1)
    assert manifold_metrics(REAL, FAKE, 1, torch.zeros(4, dtype=torch.float64))['precision'] == 0.25  # only f2


def test_identical_sets_score_one():
    features = torch.randn(500, 16, generator=torch.Generator().manual_seed(1))
    scores = manifold_metrics(features, features.clone())
    assert scores['precision'] == scores['recall'] == scores['coverage'] == 1.0
    assert scores['density'] == pytest.approx(4 / 3, abs=0.01)  # each ball holds its centre and k = 3 neighbours


def test_far_apart_sets_score_zero():
    generator = torch.Generator().manual_seed(2)
    real, fake = torch.randn(300, 8, generator=generator), torch.randn(200, 8, generator=generator) + 100
    assert manifold_metrics(real, fake) == {'precision': 0.0, 'recall': 0.0, 'density': 0.0, 'coverage': 0.0}


def test_a_collapsed_generator_keeps_precision_and_loses_recall_and_coverage():
    generator = torch.Generator().manual_seed(3)
    real = torch.randn(1000, 8, generator=generator)
    collapsed = real[real[:, 0] > 1.5] + 0.01 * torch.randn(1, 8, generator=generator)  # one corner only
    scores = manifold_metrics(real, collapsed)
    assert scores['precision'] > 0.9  # measured 1.0
    # measured 0.317 and 0.118: the few samples' large balls flatter recall; coverage counts on the real balls
    assert scores['coverage'] < 0.2 < scores['recall'] < 0.5


@pytest.mark.parametrize('real, fake, k, message', [
    (torch.zeros(5, 2), torch.zeros(3, 2), 3, 'k \\+ 1 = 4'),
    (torch.zeros(5), torch.zeros(5, 2), 1, r'\(N, D\)'),
    (torch.zeros(5, 2), torch.zeros(5, 3), 1, 'width'),
    (torch.zeros(5, 2), torch.zeros(5, 2), 0, 'positive'),
])
def test_nonsense_is_refused(real, fake, k, message):
    with pytest.raises(ValueError, match=message):
        manifold_metrics(real, fake, k)
