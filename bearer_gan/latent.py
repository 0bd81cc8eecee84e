"""The generator's input: seeded (and optionally truncated) noise, and walks through it.

Why a module of its own: sampling, evaluation and ``bearer-gan sample --interpolate`` must draw
the same ``z`` for the same seed, and the truncation trick (BigGAN, Brock et al. 2019) changes
that noise, so it is written once here. Every function draws from its own seeded
:class:`torch.Generator`, never the global random state, so drawing samples never changes
training.

* :func:`truncated_normal`: ``z ~ N(0, I)`` with every entry in ``[-T, T]`` (entries outside are
  drawn again until they fall inside). A smaller ``T`` keeps ``z`` nearer the mode: images look
  more typical and vary less. ``T=None`` is the plain normal, the very numbers
  ``torch.randn`` gives.
* :func:`slerp`: the spherical interpolation between two noise vectors. A straight line between
  two draws of a high-dimensional normal passes near the origin, where the norm is about
  ``1/sqrt(2)`` of theirs and the generator has seen no noise; the arc keeps the norm.
* :func:`latent_walk`: the ``z`` (and labels) of every frame of ``walks`` walks, each from one
  random point to another, for one class or the same ``z`` across several classes.
"""
from typing import Optional, Sequence, Tuple, Union

import torch

__all__ = ['truncated_normal', 'slerp', 'latent_walk']


def truncated_normal(n: int, dim: int, truncation: Optional[float] = None, seed: int = 0,
                     generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """``(n, dim)`` standard normal noise, each entry in ``[-truncation, truncation]``.

    Entries outside are drawn again, from the same random stream, until every one is inside: the
    result is the normal distribution conditioned on ``|z| <= truncation``, entry by entry.
    ``truncation=None`` is untruncated and gives exactly ``torch.randn(n, dim)`` of the seeded
    stream, the noise :func:`~bearer_gan.sampling.generate` always drew.

    Args:
        truncation: the largest ``|z|`` allowed, above 0; 2 cuts off 5% of a normal's entries, 1 a
            third, 0.5 over 60% (and draws them again). None keeps every entry.
        seed: seed of the stream when ``generator`` is None.
        generator: draw from this stream instead (and advance it), e.g. to draw two batches in turn.

    Raises:
        ValueError: when ``truncation`` is not above 0.
    """
    if truncation is not None and not truncation > 0:
        raise ValueError(f'truncation must be above 0 (or None for none), got {truncation}')
    stream = torch.Generator().manual_seed(seed) if generator is None else generator
    z = torch.randn(n, dim, generator=stream)
    if truncation is None:
        return z
    flat = z.view(-1)
    outside = (flat.abs() > truncation).nonzero().squeeze(1)  # in order: the redraws are seeded too
    while len(outside):  # about n * dim / P(|z| <= T) draws in all: 1.05x at T=2, 5x at 0.25, 80x at 0.01
        redrawn = torch.randn(len(outside), generator=stream)
        flat[outside] = redrawn
        outside = outside[redrawn.abs() > truncation]
    return z


def slerp(a: torch.Tensor, b: torch.Tensor, t: Union[float, torch.Tensor]) -> torch.Tensor:
    """Spherical interpolation from ``a`` (at ``t=0``) to ``b`` (at ``t=1``) along the arc between them.

    ``sin((1 - t) w) / sin(w) * a + sin(t w) / sin(w) * b``, where ``w`` is the angle between
    ``a`` and ``b``. The endpoints are exactly ``a`` and ``b``; when ``|a| = |b|`` every point
    has that norm, otherwise the norm goes from ``|a|`` to ``|b|`` (a line would dip towards the
    origin in between). Nearly parallel vectors (``sin(w) < 1e-6``) are interpolated linearly.

    Args:
        a, b: ``(..., D)`` noise vectors of one shape (or shapes that broadcast).
        t: where on the arc, usually in ``[0, 1]``: a number, or a tensor that broadcasts with
            ``a.shape[:-1]`` (e.g. ``(S, 1)`` against ``(1, K, D)`` endpoints gives ``(S, K, D)``).

    Returns:
        ``(..., D)`` points, of the broadcast shape.
    """
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device).unsqueeze(-1)
    unit_a = a / a.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    unit_b = b / b.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    angle = torch.acos((unit_a * unit_b).sum(-1, keepdim=True).clamp(-1, 1))
    sine = torch.sin(angle)
    parallel = sine < 1e-6
    safe = torch.where(parallel, torch.ones_like(sine), sine)
    start = torch.where(parallel, 1 - t, torch.sin((1 - t) * angle) / safe)
    end = torch.where(parallel, t, torch.sin(t * angle) / safe)
    return start * a + end * b


def latent_walk(walks: int, frames: int, latent_dim: int, classes: Optional[Sequence[int]] = None,
                truncation: Optional[float] = None, seed: int = 0) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
    """The noise (and labels) of every frame of ``walks`` latent walks, for a grid animation.

    Walk ``k`` goes along the arc (:func:`slerp`) from ``z_a[k]`` to ``z_b[k]`` in ``frames`` even
    steps: its first frame is drawn from exactly ``z_a[k]`` and its last from exactly ``z_b[k]``.
    The endpoints are drawn by :func:`truncated_normal` from one stream seeded with ``seed``,
    ``z_a`` first; only they are truncated (between them the arc keeps their norm, not the box).
    With ``classes``, each walk's ``z`` is drawn once for every class: the cells of a frame are
    walk-major, ``walk * len(classes) + class index``, so a grid with ``len(classes)`` cells per
    row shows one walk per row and one class per column, the same ``z`` along each row.

    Args:
        walks: the number of walks, at least 1.
        frames: the number of frames, at least 2 (the two endpoints).
        classes: the labels of a class-conditional generator, one column each; None for an
            unconditional one.

    Returns:
        ``(z, labels)``: ``z`` is ``(frames, walks * C, latent_dim)`` with ``C = len(classes)`` (1
        when None); ``labels`` is ``(frames, walks * C)`` int64, or None without ``classes``.

    Raises:
        ValueError: for fewer than 1 walk or 2 frames, no classes, or ``truncation`` not above 0.
    """
    if walks < 1 or frames < 2:
        raise ValueError(f'a latent walk needs at least 1 walk and 2 frames, got {walks} and {frames}')
    if classes is not None and len(classes) == 0:
        raise ValueError('classes is empty: give at least one label, or None for an unconditional generator')
    stream = torch.Generator().manual_seed(seed)
    start = truncated_normal(walks, latent_dim, truncation, generator=stream)
    end = truncated_normal(walks, latent_dim, truncation, generator=stream)
    steps = torch.linspace(0, 1, frames)
    z = slerp(start[None], end[None], steps[:, None])  # (frames, walks, latent_dim)
    if classes is None:
        return z, None
    columns = len(classes)
    labels = torch.as_tensor(list(classes), dtype=torch.int64).repeat(walks)  # walk-major: 0 1 .. C-1 0 1 ..
    return z.repeat_interleave(columns, dim=1), labels.expand(frames, -1).clone()
