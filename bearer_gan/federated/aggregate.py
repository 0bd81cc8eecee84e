"""Federated averaging of the owners' networks: one weighted mean per tensor, buffers included.

FedAvg (McMahan et al., 2017) replaces the global networks by the mean of the owners' networks,
each weighted by the number of images it trained on. Here that mean is taken over every entry of
both ``state_dict`` s (:data:`~bearer_gan.federated.rounds.Weights`):

* **parameters**: the weighted mean, computed in float64 and stored in the tensor's own dtype,
  so one owner (weight 1) returns its weights bit for bit.
* **floating buffers** (batch norm's ``running_mean`` and ``running_var``): the same weighted mean.
  In these generators batch norm normalises the generator's own activations on Gaussian noise,
  not the owners' data, so every owner estimates the same statistics of the same network and
  their mean is the better estimate. (Keeping them local, as FedBN does for data-dependent
  statistics, would leave the server's generator, which is sampled in eval mode, without any.)
* **integer buffers** (``num_batches_tracked``): the weighted mean rounded to the nearest
  integer. Every owner adds the same number of local steps, so they agree anyway; the count only
  matters to batch norm layers with ``momentum=None``.

What is not averaged: the optimizers' moments stay with their owners (see
:mod:`bearer_gan.federated.rounds`).
"""
from typing import Dict, Mapping, Sequence

import torch

__all__ = ['weighted_average']


def weighted_average(weights: Sequence[Mapping[str, torch.Tensor]], counts: Sequence[float]) -> Dict[str, torch.Tensor]:
    """The weighted mean of several flat tensor mappings with the same keys, shapes and dtypes.

    Args:
        weights: one mapping per owner.
        counts: each owner's weight (its number of images), positive.

    Raises:
        ValueError: for no owners, mismatched lengths, non-positive counts, or mappings that differ in keys or shapes.
    """
    if not weights or len(weights) != len(counts):
        raise ValueError(f'need one count per mapping and at least one of each, got {len(weights)} and {len(counts)}')
    if any(not count > 0 for count in counts):
        raise ValueError(f'counts must be positive, got {list(counts)}')
    keys = list(weights[0])
    for index, mapping in enumerate(weights[1:], 1):
        if list(mapping) != keys:
            raise ValueError(f'owner {index} sent different tensors: {sorted(set(mapping) ^ set(keys))[:5]}')
    total = float(sum(counts))
    average = {}
    for key in keys:
        first = weights[0][key]
        if any(mapping[key].shape != first.shape for mapping in weights):
            raise ValueError(f'owners sent {key!r} with different shapes')
        mean = sum(mapping[key].double() * (count / total) for mapping, count in zip(weights, counts))
        average[key] = (mean if first.is_floating_point() else mean.round()).to(first.dtype)
    return average

