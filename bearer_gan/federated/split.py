"""Owner shards: which images each data owner of a simulated federation holds.

In a real federation every owner already holds its own images. To simulate one on a single data
set, each node cuts the same data set the same way and keeps only its own piece, so no image
ever moves between nodes: the cut is a pure function of the labels, the number of owners, the
split and the seed, and every node computes it from its own copy of the labels and its node
config (which says which owner it is).

Splits:

* ``iid``: a seeded random permutation cut into ``owners`` nearly equal parts (sizes differ by at
  most one). Every owner sees every class in about the same proportion.
* ``classes-per-owner K``: pathological non-IID. Owner ``i`` holds the classes
  ``i*K, i*K+1, ..., i*K+K-1`` (modulo the number of classes), and a class held by several
  owners is dealt out evenly among them. With ``owners * K >= classes`` every image is used; with
  fewer, the classes nobody holds are left out. 5 owners x 2 digits: owner 0 holds 0 and 1,
  owner 1 holds 2 and 3, and so on.
* ``dirichlet ALPHA``: for each class, the shares of the owners are drawn from a symmetric
  Dirichlet distribution with concentration ``ALPHA`` (small: each class goes mostly to a few
  owners; large: close to IID). Draws that leave an owner empty are redrawn (with the same seeded
  generator, so the result stays deterministic).

Every split returns disjoint, sorted index tensors, one per owner, none empty; ``iid`` and
``dirichlet`` use every image.
"""
from dataclasses import dataclass
from typing import List, Sequence, Union

import numpy as np
import torch

__all__ = ['SPLITS', 'Split', 'parse_split', 'split_indices', 'owner_shard']

#: Split names and whether each takes a parameter.
SPLITS = {'iid': False, 'classes-per-owner': True, 'dirichlet': True}
_DIRICHLET_ATTEMPTS = 1000


@dataclass(frozen=True)
class Split:
    """How a data set is cut among owners: ``name`` (a key of :data:`SPLITS`) and its parameter
    (``K`` for ``classes-per-owner``, ``ALPHA`` for ``dirichlet``, 0 for ``iid``)."""
    name: str
    parameter: float = 0.0

    def __str__(self) -> str:
        if self.name == 'iid':
            return 'iid'
        value = int(self.parameter) if self.name == 'classes-per-owner' else self.parameter
        return f'{self.name} {value}'


def parse_split(words: Union[str, Sequence[str]]) -> Split:
    """Read ``iid``, ``classes-per-owner K`` or ``dirichlet ALPHA`` (a string or its words).

    Raises:
        ValueError: for an unknown name, a missing or extra parameter, ``K < 1`` or ``ALPHA <= 0``.
    """
    words = words.split() if isinstance(words, str) else list(words)
    if not words or words[0] not in SPLITS:
        raise ValueError(f"unknown split {' '.join(words)!r}; use iid, 'classes-per-owner K' or 'dirichlet ALPHA'")
    name, rest = words[0], words[1:]
    if not SPLITS[name]:
        if rest:
            raise ValueError(f"split iid takes no parameter, got {' '.join(rest)!r}")
        return Split('iid')
    if len(rest) != 1:
        raise ValueError(f'split {name} takes one parameter, got {len(rest)}')
    if name == 'classes-per-owner':
        try:
            classes = int(rest[0])
        except ValueError:
            raise ValueError(f'classes-per-owner takes a whole number of classes, got {rest[0]!r}') from None
        if classes < 1:
            raise ValueError(f'classes-per-owner must be at least 1, got {classes}')
        return Split(name, float(classes))
    try:
        alpha = float(rest[0])
    except ValueError:
        raise ValueError(f'dirichlet takes a concentration ALPHA, got {rest[0]!r}') from None
    if not np.isfinite(alpha) or alpha <= 0:
        raise ValueError(f'dirichlet ALPHA must be a positive number, got {rest[0]}')
    return Split(name, alpha)


def _iid(labels: np.ndarray, owners: int, rng: np.random.Generator) -> List[np.ndarray]:
    return np.array_split(rng.permutation(len(labels)), owners)


def _classes_per_owner(labels: np.ndarray, owners: int, per_owner: int, rng: np.random.Generator) -> List[np.ndarray]:
    classes = np.unique(labels)
    if per_owner > len(classes):
        raise ValueError(f'cannot give each owner {per_owner} classes: the data set has only {len(classes)}')
    held = [[classes[(owner * per_owner + j) % len(classes)] for j in range(per_owner)] for owner in range(owners)]
    parts = [[] for _ in range(owners)]
    for label in classes:
        holders = [owner for owner in range(owners) if label in held[owner]]
        if not holders:  # owners * K < classes: nobody holds this one
            continue
        for owner, piece in zip(holders, np.array_split(rng.permutation(np.flatnonzero(labels == label)), len(holders))):
            parts[owner].append(piece)
    return [np.concatenate(pieces) if pieces else np.empty(0, np.int64) for pieces in parts]


def _dirichlet(labels: np.ndarray, owners: int, alpha: float, rng: np.random.Generator) -> List[np.ndarray]:
    by_class = [rng.permutation(np.flatnonzero(labels == label)) for label in np.unique(labels)]
    for _ in range(_DIRICHLET_ATTEMPTS):
        parts = [[] for _ in range(owners)]
        for indices in by_class:
            shares = rng.dirichlet(np.full(owners, alpha))
            cuts = (np.cumsum(shares)[:-1] * len(indices)).round().astype(np.int64)
            for owner, piece in enumerate(np.split(indices, cuts)):
                parts[owner].append(piece)
        parts = [np.concatenate(pieces) for pieces in parts]
        if all(len(part) for part in parts):
            return parts
    raise ValueError(f'dirichlet {alpha} left an owner without images in {_DIRICHLET_ATTEMPTS} draws; '
                     'use fewer owners or a larger ALPHA')


def split_indices(labels: Union[torch.Tensor, np.ndarray], owners: int, split: Union[Split, str],
                  seed: int = 0) -> List[torch.Tensor]:
    """Cut a labelled data set among ``owners``: one sorted ``int64`` index tensor per owner.

    Args:
        labels: class labels ``(N,)``, integers.
        owners: number of owners, between 1 and ``N``.
        split: a :class:`Split` or its text (``'classes-per-owner 2'``).
        seed: seed of every random choice; the same arguments always give the same shards.

    Raises:
        ValueError: for an owner count outside ``[1, N]``, more classes per owner than classes, or
            a split that leaves an owner without images (the message says which).
    """
    labels = np.asarray(labels.cpu() if isinstance(labels, torch.Tensor) else labels).reshape(-1)
    split = parse_split(split) if isinstance(split, str) else split
    if not isinstance(owners, (int, np.integer)) or not 1 <= owners <= len(labels):
        raise ValueError(f'the number of owners must be between 1 and the number of images ({len(labels)}), '
                         f'got {owners}')
    rng = np.random.default_rng(seed)
    if split.name == 'iid':
        parts = _iid(labels, owners, rng)
    elif split.name == 'classes-per-owner':
        parts = _classes_per_owner(labels, owners, int(split.parameter), rng)
    elif split.name == 'dirichlet':
        parts = _dirichlet(labels, owners, split.parameter, rng)
    else:
        raise ValueError(f'unknown split {split.name!r}')
    empty = [owner for owner, part in enumerate(parts) if len(part) == 0]
    if empty:
        raise ValueError(f'split {split} leaves owner {empty[0]} of {owners} without images')
    return [torch.from_numpy(np.sort(part).astype(np.int64)) for part in parts]


def owner_shard(labels: Union[torch.Tensor, np.ndarray], owners: int, owner: int, split: Union[Split, str],
                seed: int = 0) -> torch.Tensor:
    """The sorted indices owner ``owner`` (``0 <= owner < owners``) holds: :func:`split_indices`'s entry for it.

    Every node calls this with its own owner number and the federation's common ``owners``,
    ``split`` and ``seed``, and gets its piece of one and the same partition.
    """
    if not 0 <= owner < owners:
        raise ValueError(f'owner must be between 0 and {owners - 1}, got {owner}')
    return split_indices(labels, owners, split, seed)[owner]
