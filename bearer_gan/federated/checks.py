"""Checks of every owner's reply before the server uses it, so one bad owner cannot spoil the global networks.

An owner whose hardware, software or intent is faulty can send back networks the server must not
average: tensors of another model, NaN or inf after a diverged round, or an update so large that
it drags the mean anywhere (a scaled update is the simplest model-poisoning attack).
:func:`check_replies` says, for each reply, why it must be dropped, or None:

1. **Structure**: the same keys as the global networks, each tensor of the same shape and dtype.
2. **Finite**: no NaN or inf in any floating tensor.
3. **Weight**: its ``num-examples`` is a positive, finite number (it weighs the mean).
4. **Update norm**: ``||owner - global||`` over every floating tensor (float64) is at most
   :data:`OUTLIER_FACTOR` (10) times the median of the update norms of the replies that passed
   1-3. Honest owners' updates differ by a small factor (shard sizes, class mixtures); one 10x
   larger than the typical one is an outlier. This needs a majority of honest replies to define
   "typical", so it is only applied with at least :data:`MIN_REPLIES_FOR_NORMS` (3) of them: with one
   or two replies there is nothing to compare against, and only checks 1-3 apply (a scaled update
   of one of two owners then goes through; ``--aggregation median`` does not help either, as the
   median of two is their mean). A median norm of 0 (most owners sent the global networks back
   unchanged) makes any other update an outlier.

:class:`~bearer_gan.federated.server.FederatedServer` drops the replies that fail, logs one line
each and counts them (``dropped`` in ``history.csv``); with fewer than ``--min-owners`` left it
raises :class:`RoundRejected` and keeps its last checkpoint. No Flower here.
"""
import math
import statistics
from typing import List, Mapping, Optional, Sequence

import torch

__all__ = ['OUTLIER_FACTOR', 'MIN_REPLIES_FOR_NORMS', 'RoundRejected', 'reply_problem', 'update_norm',
           'check_replies', 'non_finite']

#: An update norm more than this many times the median one is an outlier.
OUTLIER_FACTOR = 10.0
#: The fewest replies (passing the other checks) among which an update norm can be an outlier.
MIN_REPLIES_FOR_NORMS = 3


class RoundRejected(RuntimeError):
    """A round the server cannot use (too few replies passed the checks): the run stops, and its last
    checkpoint, that of the previous round, is left as it was."""


def non_finite(weights: Mapping[str, torch.Tensor]) -> Optional[str]:
    """The first floating tensor of ``weights`` holding NaN or inf, described, or None."""
    for key, value in weights.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            what = 'NaN' if bool(torch.isnan(value).any()) else 'inf'
            return f'{key} holds {what}'
    return None


def reply_problem(weights: Mapping[str, torch.Tensor], reference: Mapping[str, torch.Tensor],
                  count: float = 1.0) -> Optional[str]:
    """Why a reply is unusable regardless of the others (checks 1-3), or None.

    Args:
        weights: the owner's networks.
        reference: the global networks the round started from.
        count: the owner's ``num-examples``.
    """
    missing, extra = sorted(set(reference) - set(weights)), sorted(set(weights) - set(reference))
    if missing or extra:
        return f'other tensors than the global networks: missing {missing[:3]}, unexpected {extra[:3]}'
    for key, value in reference.items():
        if not isinstance(weights[key], torch.Tensor):
            return f'{key} is not a tensor'
        if weights[key].shape != value.shape:
            return f'{key} has shape {tuple(weights[key].shape)}, not {tuple(value.shape)}'
        if weights[key].dtype != value.dtype:
            return f'{key} has dtype {weights[key].dtype}, not {value.dtype}'
    problem = non_finite(weights)
    if problem:
        return problem
    if not (isinstance(count, (int, float)) and math.isfinite(count) and count > 0):
        return f'num-examples {count!r} is not a positive number'
    return None


def update_norm(weights: Mapping[str, torch.Tensor], reference: Mapping[str, torch.Tensor]) -> float:
    """``||weights - reference||`` over every floating tensor, in float64."""
    return math.sqrt(sum(float((weights[key].double() - value.double()).square().sum())
                         for key, value in reference.items() if value.is_floating_point()))


def check_replies(replies: Sequence[Mapping[str, torch.Tensor]], reference: Mapping[str, torch.Tensor],
                  counts: Optional[Sequence[float]] = None) -> List[Optional[str]]:
    """For each reply, why the server must drop it (checks 1-4 of the module's docstring), or None to keep it.

    Args:
        replies: the owners' networks.
        reference: the global networks the round started from.
        counts: each owner's ``num-examples`` (not checked when None).
    """
    counts = [1.0] * len(replies) if counts is None else list(counts)
    reasons = [reply_problem(weights, reference, count) for weights, count in zip(replies, counts)]
    norms = {index: update_norm(replies[index], reference) for index, reason in enumerate(reasons) if reason is None}
    if len(norms) >= MIN_REPLIES_FOR_NORMS:
        median = statistics.median(norms.values())
        for index, norm in norms.items():
            if norm > OUTLIER_FACTOR * median:
                reasons[index] = (f'update norm {norm:.4g} is more than {OUTLIER_FACTOR:g}x the median '
                                  f'{median:.4g} of {len(norms)} replies')
    return reasons
