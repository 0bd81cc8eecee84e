"""Tests of bearer_gan.evaluation.kid: the cubic kernel, the unbiased MMD and KID over subsets."""
import itertools

import pytest
import torch

from bearer_gan.evaluation import kernel_distance, mmd2_unbiased, polynomial_kernel


def direct_mmd2(x, y):
    """The unbiased squared MMD with the cubic kernel, written out as loops over pairs."""
    dim = x.shape[1]

    def kernel(a, b):
        return (float(a @ b) / dim + 1) ** 3

    def within(points):
        pairs = list(itertools.permutations(range(len(points)), 2))
        return sum(kernel(points[i], points[j]) for i, j in pairs) / len(pairs)

    across = sum(kernel(a, b) for a in x for b in y) / (len(x) * len(y))
    return within(x) + within(y) - 2 * across


def test_the_cubic_kernel_by_hand():
    x = torch.tensor([[1.0, 2.0]])
    y = torch.tensor([[3.0, -1.0], [0.0, 0.0]])
    # x . y / D + 1 = (3 - 2) / 2 + 1 = 1.5 -> 3.375; with the origin: 0 + 1 -> 1.
    torch.testing.assert_close(polynomial_kernel(x, y), torch.tensor([[3.375, 1.0]]))


def test_mmd_of_a_one_dimensional_pair_by_hand():
    x, y = torch.tensor([[0.0], [1.0]]), torch.tensor([[2.0], [3.0]])
    # D = 1, k(a, b) = (a b + 1)^3. Within x (i != j): k(0, 1) = 1. Within y: k(2, 3) = 7^3 = 343.
    # Across: k(0, 2) = 1, k(0, 3) = 1, k(1, 2) = 27, k(1, 3) = 64: mean 93 / 4 = 23.25.
    # MMD^2 = 1 + 343 - 2 * 23.25 = 297.5.
    assert mmd2_unbiased(x, y) == pytest.approx(297.5, abs=1e-9)


def test_mmd_matches_the_loops_for_sets_of_different_sizes():
    generator = torch.Generator().manual_seed(0)
    x, y = torch.randn(5, 3, generator=generator), torch.randn(7, 3, generator=generator) + 0.5
    assert mmd2_unbiased(x, y) == pytest.approx(direct_mmd2(x.double(), y.double()), rel=1e-10)


def test_one_subset_of_everything_is_the_mmd_of_the_sets_with_no_spread():
    generator = torch.Generator().manual_seed(1)
    x, y = torch.randn(6, 4, generator=generator), torch.randn(6, 4, generator=generator) * 2
    mean, std = kernel_distance(x, y, subsets=1, subset_size=6)  # one subset holding all rows, in some order
    assert mean == pytest.approx(direct_mmd2(x.double(), y.double()), rel=1e-10)
    assert std == 0.0


def test_two_samples_of_one_distribution_score_about_zero_and_shifted_ones_clearly_more():
    generator = torch.Generator().manual_seed(2)
    real, same = torch.randn(2000, 16, generator=generator).relu(), torch.randn(2000, 16, generator=generator).relu()
    kid, kid_std = kernel_distance(real, same)
    assert abs(kid) < 0.005 and 0 < kid_std < 0.005  # measured -0.0002 +- 0.0009 (seeds 0-4: |kid| <= 0.001)
    shifted, shifted_std = kernel_distance(real, same + 0.2)
    assert shifted > 0.1 and shifted > 10 * shifted_std  # measured 0.24 +- 0.011
    assert 0.003 < kernel_distance(real, same * 1.1)[0] < shifted  # a smaller change, a smaller distance


def test_subsets_are_seeded_and_leave_the_global_random_state_alone():
    generator = torch.Generator().manual_seed(3)
    real, fake = torch.randn(300, 8, generator=generator), torch.randn(200, 8, generator=generator)
    state = torch.get_rng_state()
    first = kernel_distance(real, fake, subsets=10, subset_size=50)
    assert torch.equal(torch.get_rng_state(), state)
    assert kernel_distance(real, fake, subsets=10, subset_size=50) == first
    assert kernel_distance(real, fake, subsets=10, subset_size=50, seed=1) != first


def test_nonsense_is_refused():
    with pytest.raises(ValueError, match='at least 2'):
        kernel_distance(torch.zeros(1, 3), torch.zeros(5, 3))
    with pytest.raises(ValueError, match='subsets'):
        kernel_distance(torch.zeros(5, 3), torch.zeros(5, 3), subsets=0)
    with pytest.raises(ValueError, match=r'\(M, D\)'):
        mmd2_unbiased(torch.zeros(5, 3), torch.zeros(5, 4))
