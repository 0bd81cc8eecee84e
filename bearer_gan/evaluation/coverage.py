"""What a classifier sees in generated images: which classes, how evenly, and whether they are the asked-for ones.

FID mixes quality and diversity into one number. A classifier's predictions separate out the
two failures practitioners look for first: **mode collapse** (missing classes, a large KL
divergence of the class shares from uniform) and, for a class-conditional generator
``G(z, k)``, **ignored labels** (a low share of ``G(z, k)`` classified as ``k``).
"""
import math
from typing import Dict

import torch

__all__ = ['COVERED_SHARE', 'coverage_of_logits', 'conditional_accuracy']

#: A class counts as covered when at least this share of the samples is classified as it.
COVERED_SHARE = 0.02


def coverage_of_logits(logits: torch.Tensor) -> Dict[str, object]:
    """Class shares and coverage of images from a classifier's logits ``(N, K)``.

    Returns:
        ``class_shares``: share of images predicted as each class ``0..K-1`` (sums to 1);
        ``classes_covered``: classes with at least :data:`COVERED_SHARE` of the images;
        ``kl_from_uniform``: KL(shares || uniform) in nats, 0 for balanced classes, ``log K``
        (2.30 for 10 classes) for one class only; ``mean_confidence``: mean top softmax
        probability, low for images that look like no class.
    """
    num_classes = logits.shape[1]
    probabilities = logits.double().softmax(dim=1)
    shares = torch.bincount(probabilities.argmax(dim=1), minlength=num_classes).double() / len(logits)
    nonzero = shares[shares > 0]
    return {
        'class_shares': shares.tolist(),
        'classes_covered': int((shares >= COVERED_SHARE).sum()),
        'kl_from_uniform': float((nonzero * (nonzero * num_classes).log()).sum()),
        'mean_confidence': float(probabilities.max(dim=1).values.mean()),
    }


def conditional_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of images whose predicted class (argmax of ``logits`` ``(N, K)``) is the label asked for, ``(N,)``.

    For ``G(z, k)`` with balanced ``k``, a generator that ignores its label scores about ``1 / K``;
    one that draws the asked-for class scores up to the classifier's own test accuracy.
    """
    if logits.shape[:1] != labels.shape:
        raise ValueError(f'{len(logits)} logits but labels of shape {tuple(labels.shape)}')
    if len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < logits.shape[1]:
        raise ValueError(f'labels must lie in [0, {logits.shape[1] - 1}], the classifier\'s classes; '
                         f'got {int(labels.min())}..{int(labels.max())}')
    correct = (logits.argmax(dim=1).cpu() == labels.cpu()).double()
    return float(correct.mean()) if len(correct) else math.nan
