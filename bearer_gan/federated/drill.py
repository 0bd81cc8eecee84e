"""A rehearsal of a faulty owner: one owner corrupts its reply on purpose, to see the server drop it.

``--drill-faulty-owner K:KIND`` (:attr:`~bearer_gan.federated.config.FederatedConfig.drill_faulty_owner`)
makes owner ``K`` train its round as usual and then, in
:func:`~bearer_gan.federated.rounds.node_round`, spoil the networks it sends back:

* ``nan``: every floating tensor (parameters and floating buffers) is NaN;
* ``scale100``: its update (its networks minus the global ones it started from) is 100 times larger,
  as a diverged or malicious owner's would be;
* ``shape``: one tensor (the first one with a dimension) has an extra row.

The server's checks (:mod:`bearer_gan.federated.checks`) should drop that reply, log it and count it
in ``history.csv``. It is a drill, for rehearsing on a simulation or a test: it breaks the training of
the run it is used in, and a deployment (``--deploy``) refuses it.
"""
from typing import Dict, Mapping, Optional, Tuple

import torch

__all__ = ['DRILL_KINDS', 'parse_drill', 'corrupt_reply']

#: What a drilled owner does to its reply.
DRILL_KINDS = ('nan', 'scale100', 'shape')
SCALE = 100.0


def parse_drill(text: str, owners: int) -> Optional[Tuple[int, str]]:
    """``(owner, kind)`` of a drill written ``K:KIND`` (``K`` below ``owners``), or None for ``''`` (no drill).

    Raises:
        ValueError: for any other text, naming the expected form.
    """
    if not text:
        return None
    owner, _, kind = text.partition(':')
    if not owner.isdigit() or kind not in DRILL_KINDS or int(owner) >= owners:
        raise ValueError(f"drill-faulty-owner must be K:{'|'.join(DRILL_KINDS)} with owner K from 0 to "
                         f'{owners - 1}, got {text!r}')
    return int(owner), kind


def corrupt_reply(weights: Mapping[str, torch.Tensor], start: Mapping[str, torch.Tensor],
                  kind: str) -> Dict[str, torch.Tensor]:
    """A spoilt copy of an owner's trained ``weights``; ``start`` is the global networks its round began from."""
    spoilt = dict(weights)
    if kind == 'shape':
        key = next(key for key, value in weights.items() if value.dim() > 0)
        spoilt[key] = torch.cat([weights[key], weights[key][:1]])
        return spoilt
    for key, value in weights.items():
        if value.is_floating_point():
            spoilt[key] = (torch.full_like(value, float('nan')) if kind == 'nan'
                           else start[key] + SCALE * (value - start[key]))
    return spoilt
