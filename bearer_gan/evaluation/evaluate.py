"""Score images, a generator, or a saved run against the data set it was trained on.

A GAN's losses say how the two networks are doing against each other, not how good the samples
are. These functions sample a generator and score the samples with the data set's
:class:`~bearer_gan.evaluation.scorers.Scorer` (see :func:`~bearer_gan.evaluation.scorers.scorer_for`):

* **FID**: the Fréchet distance between Gaussians fitted to the feature network's features of
  the samples and of the real images. Lower is better; it drops with both quality and diversity.
* **Precision, recall, density, coverage and KID**, on the same features: fidelity and diversity
  apart (:mod:`~bearer_gan.evaluation.manifold`), and a distance unbiased at small ``n``
  (:mod:`~bearer_gan.evaluation.kid`).
* **Class coverage** (data sets with a classifier): the share of samples the classifier puts in each
  class. Mode collapse shows as missing classes and a large KL divergence from uniform.
* **Conditional accuracy** (class-conditional generators ``G(z, k)``, data sets with a
  classifier): the share of ``G(z, k)`` that the classifier assigns to ``k``.

Images are float ``(N, C, H, W)`` in ``[-1, 1]``, the project's convention.
"""
import functools
import json
import os
from typing import Callable, Dict, Optional

import torch

from ..callbacks import generate, load_generator
from .fid import FidUnavailable
from .scorers import ScorerLike, as_scorer, scorer_for

__all__ = ['score_summary', 'fid', 'class_coverage', 'evaluate_images', 'evaluate_generator', 'read_run_config',
           'default_reference_images', 'evaluate_run']

def evaluate_images(images: torch.Tensor, scorer: ScorerLike = 'mnist', batch_size: int = 500,
                    labels: Optional[torch.Tensor] = None) -> Dict[str, object]:
    """Score ``images`` in one pass: see :meth:`~bearer_gan.evaluation.scorers.Scorer.score` for the keys.

    Args:
        images: float ``(N, C, H, W)`` in ``[-1, 1]``, ``N >= 2``.
        scorer: a :class:`~bearer_gan.evaluation.scorers.Scorer`, or a data set name (``'mnist'``,
            ``'fashion-mnist'``, ...) whose scorer is built on the images' device.
        batch_size: images per forward pass.
        labels: ``(N,)`` the classes the images were generated for, for conditional accuracy.
    """
    return as_scorer(scorer, images.device).score(images, labels, batch_size)


def fid(images: torch.Tensor, scorer: ScorerLike = 'mnist', batch_size: int = 500) -> Optional[float]:
    """FID of ``images`` (``(N, C, H, W)`` in ``[-1, 1]``) against the scorer's real images; None when skipped.

    Small ``N`` biases FID upwards: compare FIDs computed on the same number of images.
    """
    return evaluate_images(images, scorer, batch_size)['fid']


def class_coverage(images: torch.Tensor, scorer: ScorerLike = 'mnist', batch_size: int = 500) -> Dict[str, object]:
    """Which classes the scorer's classifier sees in ``images`` (``(N, C, H, W)`` in ``[-1, 1]``).

    Returns:
        :func:`~bearer_gan.evaluation.coverage.coverage_of_logits`'s keys.

    Raises:
        ValueError: when the scorer has no classifier.
    """
    scorer = as_scorer(scorer, images.device)
    if scorer.head is None:
        raise ValueError(f'the {scorer.name} scorer has no classifier, so it cannot measure class coverage')
    result = scorer.score(images, batch_size=batch_size)
    return {key: result[key] for key in ('class_shares', 'classes_covered', 'kl_from_uniform', 'mean_confidence')}


@torch.no_grad()
def evaluate_generator(generator: torch.nn.Module, latent_dim: int, n: int = 10000, device: Optional[str] = None,
                       seed: int = 0, batch_size: int = 500, scorer: ScorerLike = 'mnist',
                       num_classes: Optional[int] = None, truncation: Optional[float] = None,
                       compare: bool = True) -> Dict[str, object]:
    """Sample ``n`` images from ``generator`` and score them with :func:`evaluate_images`.

    The noise comes from its own seeded :class:`torch.Generator`, so repeated evaluations see the
    same ``z`` and the global random state (and with it training) is left untouched. The generator
    samples in eval mode (batch norm uses running statistics) and is put back in its previous mode.

    Args:
        generator: maps ``(B, latent_dim)`` noise (and, when ``num_classes`` is given, ``(B,)``
            labels) to ``(B, C, H, W)`` images in ``[-1, 1]``.
        latent_dim: size of ``z``.
        n: images to sample, at least 2; use the same ``n`` for FIDs you compare.
        device: where the noise goes and a named scorer is built; the generator must be there
            already. The generator's device when None.
        seed: seed of the noise.
        batch_size: images per forward pass.
        scorer: a :class:`~bearer_gan.evaluation.scorers.Scorer` or a data set name.
        num_classes: for a class-conditional generator ``G(z, labels)``: it draws
            ``labels = torch.arange(n) % num_classes`` (balanced classes) and, where the scorer
            has a classifier with as many classes, the result gains ``conditional_accuracy``.
        truncation: draw ``z`` truncated at ``|z| <= truncation`` (:func:`~bearer_gan.latent.truncated_normal`);
            None (the default) draws the plain normal.
        compare: also the k-NN and kernel metrics (precision, recall, density, coverage, KID); see
            :meth:`~bearer_gan.evaluation.scorers.Scorer.score`.

    Raises:
        ValueError: when ``num_classes`` differs from the scorer's classifier's.
    """
    device = next(generator.parameters()).device if device is None else torch.device(device)
    scorer = as_scorer(scorer, device)
    labels = None
    if num_classes is not None:
        if scorer.num_classes is not None and num_classes != scorer.num_classes:
            raise ValueError(f'the generator draws {num_classes} classes but the {scorer.name} classifier '
                             f'knows {scorer.num_classes}')
        labels = torch.arange(n) % num_classes
    images = generate(generator, latent_dim, n, seed, batch_size, device, labels=labels, truncation=truncation)
    return scorer.score(images, labels if scorer.num_classes is not None else None, batch_size, compare=compare)


def read_run_config(run_dir: str) -> Dict[str, object]:
    """``run_dir/config.json`` as a dict; ``{}`` when the run has none (runs made before it existed).

    Raises:
        ValueError: when the file is not a JSON object (the message names it).
    """
    path = os.path.join(run_dir, 'config.json')
    if not os.path.isfile(path):
        return {}
    try:
        with open(path) as handle:
            config = json.load(handle)
    except (OSError, ValueError) as error:
        raise ValueError(f'cannot read {path!r}: {error}') from error
    if not isinstance(config, dict):
        raise ValueError(f'{path!r} does not hold a JSON object')
    return config


#: Most training images a reference set holds when the data set is streamed from disk: a seeded
#: sample of them is decoded instead of the whole set, which did not fit in memory.
STREAMED_REFERENCE_IMAGES = 10000


def default_reference_images(config: Dict[str, object]) -> torch.Tensor:
    """The training images of a run, ``uint8`` ``(N, C, H, W)``, loaded as the run loaded them:
    :func:`~bearer_gan.data.load_dataset` with the run's ``dataset``, ``data_dir``, ``image_size``
    and ``channels`` (no download: training put the files there; a folder's decoded cache is reused).
    A folder too large for memory, which training streamed from disk, is represented by a
    seeded sample of :data:`STREAMED_REFERENCE_IMAGES` of its images.

    Raises:
        FidUnavailable: when the data cannot be loaded any more (the reason in one line).
    """
    from ..data import DatasetError, load_dataset, memory_budget
    try:
        images = load_dataset(str(config.get('dataset')), str(config.get('data_dir', './data')),
                              image_size=config.get('image_size'), channels=config.get('channels'),
                              memory_limit=memory_budget(config.get('data_memory'))).images
        if isinstance(images, torch.Tensor):
            return images
        sample = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:STREAMED_REFERENCE_IMAGES]
        return images[sample.sort().values]  # decoded from disk, in data set order
    except DatasetError as error:
        raise FidUnavailable(f'the training images of {config.get("dataset")!r} cannot be loaded: {error}') from error


def evaluate_run(run_dir: str, n: int = 10000, device: str = 'cpu', seed: int = 0, batch_size: int = 500,
                 reference_images: Optional[Callable[[Dict[str, object]], torch.Tensor]] = None
                 ) -> Dict[str, object]:
    """Score the generator saved in ``run_dir/generator.pt`` (by :class:`~bearer_gan.callbacks.SaveModels`).

    The scorer follows the run's ``config.json`` (:func:`read_run_config`):

    * ``dataset`` picks it (:func:`~bearer_gan.evaluation.scorers.scorer_for`); MNIST when the
      key or the file is missing (older runs).
    * For data sets without a shipped classifier, ``data_dir`` is where the reference statistics
      are cached, and ``reference_images(config)`` loads the training images on a first
      evaluation (:func:`default_reference_images` when None). For MNIST, ``data_dir`` is where
      the test set, whose features precision, recall and KID compare with, is looked for when
      ``$BEARER_GAN_MNIST_TEST`` is not set.
    * A class-conditional generator (its model spec has ``num_classes``) is scored on balanced
      labels, with its conditional accuracy where the data set has a classifier.

    Returns:
        :func:`evaluate_generator`'s dict, plus ``model`` (the architecture's name), ``latent_dim``
        and ``dataset``.

    Raises:
        FileNotFoundError, ValueError: from :func:`~bearer_gan.callbacks.load_generator` and
            :func:`read_run_config`, for a missing or unreadable run.
    """
    generator, spec = load_generator(run_dir, device)
    config = read_run_config(run_dir)
    dataset = str(config.get('dataset') or 'mnist')
    loader = default_reference_images if reference_images is None else reference_images
    scorer = scorer_for(dataset, device, reference_images=functools.partial(loader, config),
                        cache_dir=config.get('data_dir'))
    scores = evaluate_generator(generator, spec['latent_dim'], n=n, device=device, seed=seed, batch_size=batch_size,
                                scorer=scorer, num_classes=spec['num_classes'])
    return {'model': spec['model'], 'latent_dim': spec['latent_dim'], 'dataset': dataset, **scores}


def score_summary(scores: dict) -> str:
    """One line for ``eval.json``'s scores: FID (or why it was skipped), precision and recall where measured, class
    coverage and conditional accuracy where the data set's scorer has classes."""
    if scores.get('fid') is None:
        parts = [f"FID skipped: {scores.get('fid_skipped', 'no scorer')}"]
    else:
        parts = [f"FID {scores['fid']:.1f} ({scores.get('scorer', 'mnist')} scorer, {scores['n']} samples)"]
    if scores.get('precision') is not None and scores.get('recall') is not None:
        parts.append(f"precision {scores['precision']:.2f}, recall {scores['recall']:.2f}")
    if 'class_shares' in scores:
        shares = scores['class_shares']
        parts.append(f"{scores['classes_covered']}/{len(shares)} classes covered, smallest share {min(shares):.1%}")
    if 'conditional_accuracy' in scores:
        parts.append(f"conditional accuracy {scores['conditional_accuracy']:.1%}")
    return ', '.join(parts)
