"""Owner shards: disjoint, complete where they should be, deterministic, never empty, K classes per owner."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import bearer_gan
from bearer_gan.federated import Split, owner_shard, parse_split, split_indices


@pytest.fixture(scope='module')
def labels():
    """The 5,000 real MNIST labels (500 per digit)."""
    return bearer_gan.load_mnist('mnist-5k')[1]


def assert_disjoint_sorted(shards, total):
    joined = torch.cat(shards)
    assert len(torch.unique(joined)) == len(joined), 'an image is held by two owners'
    assert all(torch.equal(shard, shard.sort().values) for shard in shards)
    assert joined.min() >= 0 and joined.max() < total
    assert all(len(shard) > 0 for shard in shards)


@pytest.mark.parametrize('split', ['iid', 'classes-per-owner 2', 'dirichlet 0.3', 'dirichlet 100'])
def test_every_split_is_disjoint_complete_and_deterministic_on_mnist(labels, split):
    shards = split_indices(labels, 5, split, seed=3)
    assert_disjoint_sorted(shards, len(labels))
    assert sum(len(shard) for shard in shards) == len(labels)  # 5 x 2 = 10 classes: complete here too
    again = split_indices(labels, 5, split, seed=3)
    assert all(torch.equal(a, b) for a, b in zip(shards, again))
    assert all(torch.equal(owner_shard(labels, 5, owner, split, seed=3), shards[owner]) for owner in range(5))


def test_seed_changes_the_cut(labels):
    first, second = split_indices(labels, 5, 'iid', seed=0), split_indices(labels, 5, 'iid', seed=1)
    assert not torch.equal(first[0], second[0])


def test_iid_sizes_differ_by_at_most_one_and_hold_every_class(labels):
    shards = split_indices(labels, 7, 'iid')
    sizes = [len(shard) for shard in shards]
    assert max(sizes) - min(sizes) <= 1
    assert all(len(torch.unique(labels[shard])) == 10 for shard in shards)


def test_classes_per_owner_gives_each_owner_exactly_k_classes(labels):
    shards = split_indices(labels, 5, 'classes-per-owner 2')
    assert [sorted(torch.unique(labels[shard]).tolist()) for shard in shards] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert [len(shard) for shard in shards] == [1000] * 5


def test_classes_per_owner_shares_a_class_evenly_and_leaves_out_unheld_ones(labels):
    shared = split_indices(labels, 6, 'classes-per-owner 2')  # owner 5 wraps around to digits 0 and 1
    assert sorted(torch.unique(labels[shared[5]]).tolist()) == [0, 1]
    assert len(shared[0]) == len(shared[5]) == 500
    partial = split_indices(labels, 2, 'classes-per-owner 3')  # digits 6-9 are held by nobody
    held = torch.cat(partial)
    assert sorted(torch.unique(labels[held]).tolist()) == [0, 1, 2, 3, 4, 5] and len(held) == 3000


def test_dirichlet_small_alpha_skews_and_large_alpha_balances(labels):
    def largest_class_share(alpha):
        shards = split_indices(labels, 5, f'dirichlet {alpha}', seed=0)
        return np.mean([torch.bincount(labels[shard], minlength=10).max().item() / len(shard) for shard in shards])
    assert largest_class_share(0.1) > 0.3 > 0.15 > largest_class_share(1000)  # IID: about 0.1


@settings(max_examples=40, deadline=None)
@given(owners=st.integers(1, 40), classes=st.integers(1, 12), per_class=st.integers(1, 30),
       k=st.integers(1, 12), seed=st.integers(0, 2 ** 31))
def test_classes_per_owner_properties(owners, classes, per_class, k, seed):
    labels = torch.arange(classes).repeat_interleave(per_class)
    if owners > len(labels):
        with pytest.raises(ValueError, match='number of owners'):
            split_indices(labels, owners, f'classes-per-owner {k}', seed)
        return
    if k > classes:
        with pytest.raises(ValueError, match='classes'):
            split_indices(labels, owners, f'classes-per-owner {k}', seed)
        return
    try:
        shards = split_indices(labels, owners, f'classes-per-owner {k}', seed)
    except ValueError as error:  # more holders of a class than it has images
        assert 'without images' in str(error)
        assert any(per_class < sum(1 for o in range(owners) if c in {(o * k + j) % classes for j in range(k)})
                   for c in range(classes))
        return
    assert_disjoint_sorted(shards, len(labels))
    for owner, shard in enumerate(shards):
        assert set(labels[shard].tolist()) <= {(owner * k + j) % classes for j in range(k)}
    if owners * k >= classes:
        assert sum(len(shard) for shard in shards) == len(labels)


@settings(max_examples=40, deadline=None)
@given(owners=st.integers(1, 20), alpha=st.floats(0.05, 50), seed=st.integers(0, 2 ** 31))
def test_iid_and_dirichlet_are_complete_partitions(owners, alpha, seed):
    labels = torch.arange(5).repeat_interleave(40)
    for split in ('iid', f'dirichlet {alpha}'):
        try:
            shards = split_indices(labels, owners, split, seed)
        except ValueError as error:  # a very small ALPHA for many owners may leave one empty in every draw
            assert split != 'iid' and alpha < 0.5 and 'left an owner without images' in str(error)
            continue
        assert_disjoint_sorted(shards, len(labels))
        assert sum(len(shard) for shard in shards) == len(labels)


def test_bad_owner_counts_and_splits_are_rejected_with_a_reason(labels):
    for owners in (0, len(labels) + 1):
        with pytest.raises(ValueError, match='between 1 and the number of images'):
            split_indices(labels, owners, 'iid')
    with pytest.raises(ValueError, match='only 10'):
        split_indices(labels, 5, 'classes-per-owner 11')
    with pytest.raises(ValueError, match='owner 3 of 4 without images'):  # owners 1 and 3 share digit 1's one image
        split_indices(torch.tensor([0, 0, 0, 1]), 4, 'classes-per-owner 1')
    with pytest.raises(ValueError, match='left an owner without images'):
        split_indices(torch.arange(2).repeat(25), 50, 'dirichlet 0.001')
    with pytest.raises(ValueError, match='owner must be between'):
        owner_shard(labels, 5, 5, 'iid')


def test_parse_split_reads_words_and_text():
    assert parse_split('iid') == Split('iid') and str(parse_split(['dirichlet', '0.3'])) == 'dirichlet 0.3'
    assert parse_split('classes-per-owner 2') == Split('classes-per-owner', 2.0)
    assert str(parse_split('classes-per-owner 2')) == 'classes-per-owner 2'
    for bad in ('', 'iid 2', 'classes-per-owner', 'classes-per-owner 1.5', 'classes-per-owner 0', 'dirichlet 0',
                'dirichlet nan', 'dirichlet x', 'shuffle'):
        with pytest.raises(ValueError):
            parse_split(bad)
