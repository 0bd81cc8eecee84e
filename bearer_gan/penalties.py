"""Penalties on the discriminator's input gradients: the WGAN-GP gradient penalty and R1, lazy or not.

Both need ``grad_x D(x)``, the gradient of the discriminator's output with respect to its
*input*, inside the discriminator's loss, so that its backward pass differentiates through it
(``torch.autograd.grad(..., create_graph=True)``).

* **Gradient penalty** (Gulrajani et al., 2017): ``weight * mean((|grad D(x_hat)|_2 - 1)^2)`` on
  interpolates ``x_hat = eps x + (1 - eps) G(z)``, ``eps ~ U(0, 1)`` per image.
* **R1** (Mescheder et al., 2018): ``gamma / 2 * mean(|grad D(x)|_2^2)`` on real images.
  *Lazy* R1 (StyleGAN2, Karras et al., 2020) applies it only every ``interval`` steps and
  multiplies it by ``interval``, so that it weighs as much on average.

How the trial computes them (:func:`~bearer_gan.closures.gan_closure`): the discriminator's input
gets ``requires_grad`` only on steps where a penalty is due, and everything goes through the
discriminator in its usual *single* forward pass. R1 differentiates the real rows that are there
anyway, so it costs no extra forward, only the double backward. The gradient penalty's
interpolates are appended to the batch of real and fake images (real, fake, interpolates: ``3B``
rows in one forward instead of ``2B``), which is 50% more discriminator forward work but no second
forward call. One forward per backward is also what :class:`~torch.nn.parallel.DistributedDataParallel`
needs: gradients with respect to inputs taken with ``torch.autograd.grad`` stay local to each
process, and the one ``backward()`` of loss plus penalty all-reduces the parameters' gradients
as usual. Each penalty is a function of the discriminator's logits and inputs only (no other
module), so a wrapped discriminator needs nothing special. Every rank has done the same number of
steps, so a lazy penalty falls due on all of them at once, and the interpolation weights are drawn
for the whole global batch (:data:`~bearer_gan.keys.BATCH_DRAW`), as in one process.

The pure functions (:func:`gradient_penalty_from_gradients`, :func:`r1_from_gradients`) and the
stand-alone :func:`gradient_penalty` and :func:`r1_penalty` (functions of a discriminator and its
inputs, with their own forward) compute the same values outside a trial.
"""
from typing import Callable, List, Optional, Sequence, Tuple

import torch
import torchbearer

from . import keys

__all__ = ['input_gradients', 'gradient_penalty_from_gradients', 'r1_from_gradients', 'interpolate',
           'gradient_penalty', 'r1_penalty', 'Penalty', 'GradientPenalty', 'R1Penalty', 'plan_penalties',
           'with_penalties']


def input_gradients(outputs: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """``d sum(outputs) / d inputs``, with a graph (``create_graph=True``) so that a loss built on it can be back-propagated.

    For a discriminator that scores each image on its own (no batch norm), row ``i`` of the result
    is the gradient of ``D(x_i)`` with respect to ``x_i``.
    """
    return torch.autograd.grad(outputs.sum(), inputs, create_graph=True)[0]


def gradient_penalty_from_gradients(gradients: torch.Tensor) -> torch.Tensor:
    """``mean((|g_i|_2 - 1)^2)`` over the rows ``g_i`` of ``gradients`` ``(N, ...)``: the WGAN-GP penalty, unweighted."""
    return (gradients.flatten(1).norm(2, dim=1) - 1.0).pow(2).mean()


def r1_from_gradients(gradients: torch.Tensor) -> torch.Tensor:
    """``mean(|g_i|_2^2)`` over the rows ``g_i`` of ``gradients`` ``(N, ...)``: R1, unweighted (without ``gamma / 2``)."""
    return gradients.flatten(1).pow(2).sum(dim=1).mean()


def interpolate(real: torch.Tensor, fake: torch.Tensor, draw: Optional[Callable[..., torch.Tensor]] = None
                ) -> torch.Tensor:
    """``eps * real + (1 - eps) * fake`` with one ``eps ~ U(0, 1)`` per image, from the global random state.

    Args:
        real, fake: images ``(N, C, H, W)``; ``fake`` should be detached.
        draw: how to draw per-image random numbers, a :data:`~bearer_gan.keys.BATCH_DRAW` (under
            DistributedDataParallel: this process's rows of the global batch's ``eps``); None draws them here.
    """
    shape = (real.size(0), *([1] * (real.dim() - 1)))
    options = dict(device=real.device, dtype=real.dtype)
    eps = torch.rand(*shape, **options) if draw is None else draw(torch.rand, *shape, **options)
    return eps * real + (1.0 - eps) * fake


def gradient_penalty(discriminator: Callable, real: torch.Tensor, fake: torch.Tensor, *conditioning,
                     interpolates: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The WGAN-GP penalty of ``discriminator`` (unweighted), with a forward pass of its own on the interpolates.

    Args:
        discriminator: maps images (and ``conditioning``, e.g. labels) to logits.
        real, fake: images ``(N, C, H, W)``.
        conditioning: further inputs of the discriminator (the real images' labels).
        interpolates: the points to penalise; :func:`interpolate` of ``real`` and ``fake.detach()`` when None.
    """
    points = interpolate(real, fake.detach()) if interpolates is None else interpolates
    points = points.detach().requires_grad_(True)
    return gradient_penalty_from_gradients(input_gradients(discriminator(points, *conditioning), points))


def r1_penalty(discriminator: Callable, real: torch.Tensor, *conditioning) -> torch.Tensor:
    """R1 of ``discriminator`` on ``real`` images (unweighted), with a forward pass of its own."""
    points = real.detach().requires_grad_(True)
    return r1_from_gradients(input_gradients(discriminator(points, *conditioning), points))


class Penalty:
    """A term of the discriminator's loss computed from the gradients of D's output with respect to its input.

    Subclasses say which rows of the discriminator's input they differentiate
    (:meth:`extra_inputs`: new rows appended to the batch, or None for the real rows) and how the
    gradients become a value (:meth:`value`).

    Args:
        weight: factor of the penalty in the discriminator's loss.
        interval: compute it only on steps ``s`` (updates completed before it) with ``s % interval == 0``,
            multiplied by ``interval`` (lazy regularisation); 1 for every step.
        key: the state key its unweighted value is written to, detached.
    """

    def __init__(self, weight: float, interval: int, key: torchbearer.StateKey):
        if not weight > 0:
            raise ValueError(f'{type(self).__name__} weight must be positive, got {weight}')
        if not isinstance(interval, int) or interval < 1:
            raise ValueError(f'{type(self).__name__} interval must be a positive integer, got {interval!r}')
        self.weight, self.interval, self.key = float(weight), interval, key

    def due(self, step: int) -> bool:
        """Whether the penalty is computed at a step that follows ``step`` completed updates."""
        return step % self.interval == 0

    def extra_inputs(self, real: torch.Tensor, fake: torch.Tensor,
                     draw: Optional[Callable[..., torch.Tensor]] = None) -> Optional[torch.Tensor]:
        """Rows to append to the discriminator's batch for this penalty, or None to use the real rows.

        ``draw``, when given, is how anything random per image must be drawn (:data:`~bearer_gan.keys.BATCH_DRAW`).
        """
        return None

    def value(self, gradients: torch.Tensor) -> torch.Tensor:
        """The unweighted penalty from the input gradients of its rows."""
        raise NotImplementedError

    def __call__(self, state, rows: slice) -> torch.Tensor:
        """The weighted penalty of the current discriminator update, from the rows ``rows`` of its input.

        State Requirements:
            - reads :data:`~bearer_gan.keys.PENALTY_INPUT`, :data:`~bearer_gan.keys.DISCRIMINATOR_LOGITS`
            - writes its :attr:`key` (the unweighted value, detached)
        """
        inputs = state[keys.PENALTY_INPUT]
        gradients = input_gradients(state[keys.DISCRIMINATOR_LOGITS][rows], inputs)[rows]
        value = self.value(gradients.float())
        state[self.key] = value.detach()
        return (self.weight * self.interval) * value

    def __repr__(self):
        return f'{type(self).__name__}(weight={self.weight}, interval={self.interval})'


class GradientPenalty(Penalty):
    """WGAN-GP's penalty ``weight * mean((|grad D(x_hat)|_2 - 1)^2)`` on interpolates of the real and fake batches.

    Its interpolates are appended to the discriminator's batch (with the real images' labels in a
    conditional run), so it costs ``B`` more rows in the one discriminator forward, not a second one.

    Args:
        weight: ``lambda`` of the paper, 10.

    State Requirements:
        - writes :data:`~bearer_gan.keys.GRADIENT_PENALTY`
    """

    def __init__(self, weight: float = 10.0):
        super().__init__(weight, 1, keys.GRADIENT_PENALTY)

    def extra_inputs(self, real: torch.Tensor, fake: torch.Tensor,
                     draw: Optional[Callable[..., torch.Tensor]] = None) -> torch.Tensor:
        return interpolate(real, fake, draw)

    def value(self, gradients: torch.Tensor) -> torch.Tensor:
        return gradient_penalty_from_gradients(gradients)


class R1Penalty(Penalty):
    """R1, ``gamma / 2 * mean(|grad D(x)|_2^2)`` on the real images, every ``interval`` steps times ``interval``.

    It differentiates the real rows of the discriminator's usual batch: no extra forward.

    Args:
        gamma: R1's ``gamma`` (StyleGAN2 uses 10 at 1024 px, far less for small images).
        interval: 1 for every step; 16 is StyleGAN2's lazy regularisation.

    State Requirements:
        - writes :data:`~bearer_gan.keys.R1_PENALTY`
    """

    def __init__(self, gamma: float, interval: int = 1):
        super().__init__(gamma / 2.0, interval, keys.R1_PENALTY)
        self.gamma = float(gamma)

    def value(self, gradients: torch.Tensor) -> torch.Tensor:
        return r1_from_gradients(gradients)

    def __repr__(self):
        return f'R1Penalty(gamma={self.gamma}, interval={self.interval})'


def plan_penalties(penalties: Sequence[Penalty], step: int, real: torch.Tensor, fake: torch.Tensor,
                   draw: Optional[Callable[..., torch.Tensor]] = None
                   ) -> Tuple[List[torch.Tensor], List[Tuple[Penalty, slice]]]:
    """The penalties due at ``step``: the rows they append to the discriminator's batch (after the
    ``2B`` real and fake rows) and, for each, the rows it differentiates. ``draw`` is passed on to
    :meth:`Penalty.extra_inputs` (:data:`~bearer_gan.keys.BATCH_DRAW` under DistributedDataParallel)."""
    batch = real.size(0)
    extra, due, end = [], [], 2 * batch
    for penalty in penalties:
        if not penalty.due(step):
            continue
        rows = penalty.extra_inputs(real, fake, draw)
        if rows is None:
            due.append((penalty, slice(0, batch)))
        else:
            extra.append(rows)
            due.append((penalty, slice(end, end + rows.size(0))))
            end += rows.size(0)
    return extra, due


def with_penalties(criterion: Callable) -> Callable:
    """A discriminator criterion plus the penalties due at this update (:data:`~bearer_gan.keys.DUE_PENALTIES`).

    State Requirements:
        - reads :data:`~bearer_gan.keys.DUE_PENALTIES` (none when absent) and what ``criterion`` and each penalty read
    """
    def penalized(state) -> torch.Tensor:
        loss = criterion(state)
        for penalty, rows in state.get(keys.DUE_PENALTIES) or ():
            loss = loss + penalty(state, rows)
        return loss
    penalized.criterion = criterion
    return penalized
