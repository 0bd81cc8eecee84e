"""Which scorer serves which data set: a feature network, its reference statistics, and maybe a classifier.

Everything the evaluation reports comes from one pass of a network over the images: features for
FID and, where a classifier exists, class predictions for coverage and conditional accuracy. A
:class:`Scorer` bundles what that pass needs, and :func:`scorer_for` picks it by data set name:

============================== =================================================================
``--dataset``                  scorer
============================== =================================================================
``mnist``, ``mnist-5k``        the shipped MNIST classifier; MNIST test-set statistics
``fashion-mnist``              the shipped Fashion-MNIST classifier; its test-set statistics
anything else (``cifar10``, a  Inception-v3 through torch-fidelity (an optional extra); the
folder of images)              training set's statistics, computed once and cached
============================== =================================================================

When the Inception scorer cannot be had (the extra not installed, its weights not downloadable,
no reference images), :func:`scorer_for` warns once and returns a scorer that reports
``{'fid': None, 'fid_skipped': '<reason>'}``, so that training and evaluation still finish.

Precision, recall, density, coverage (:mod:`~bearer_gan.evaluation.manifold`) and KID
(:mod:`~bearer_gan.evaluation.kid`) compare the same features, but with those of real images
themselves rather than their mean and covariance: the test set's for the shipped classifiers (the
images the shipped statistics come from), a seeded sample of at most 10,000 training images for
Inception. A scorer computes them at its first score and keeps them in memory; where they cannot
be had (the MNIST test set not on this machine), those keys are None and
``reference_features_skipped`` says why.
"""
import functools
import warnings
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import DatasetError
from .classifiers import CLASSIFIERS, LeNetClassifier, load_classifier, load_reference_statistics, shipped_classifier
from .coverage import conditional_accuracy, coverage_of_logits
from .fid import FidUnavailable, as_unit_range, extract_features, frechet_distance, statistics_of
from .inception import load_inception
from .kid import kernel_distance
from .manifold import MANIFOLD_K, knn_radii, manifold_metrics
from .references import cached_features, cached_statistics, reference_sample
from .testsets import load_fashion_mnist, load_mnist_test

__all__ = ['REFERENCE_KEYS', 'ReferenceImages', 'ScorerLike', 'Scorer', 'classifier_scorer', 'inception_scorer',
           'scorer_for', 'as_scorer']

#: The scores computed against real features (None, with ``reference_features_skipped``, when they cannot be).
REFERENCE_KEYS = ('precision', 'recall', 'density', 'coverage', 'kid', 'kid_std')

def _first_line(error: Exception) -> str:
    lines = str(error).splitlines()
    return lines[0] if lines else type(error).__name__


#: Reference images: a tensor, or a function that loads them (their content is hashed for the cache key).
ReferenceImages = Union[torch.Tensor, Callable[[], torch.Tensor]]


@dataclass
class Scorer:
    """What scoring images against one data set needs.

    Attributes:
        name: which features FID is computed on: ``'mnist'``, ``'fashion-mnist'`` or ``'inception'``.
        features: maps a float batch ``(B, C, H, W)`` in ``[-1, 1]`` (after :meth:`fit`) to ``(B, D)``.
        reference: mean ``(D,)`` and covariance ``(D, D)`` of the real images' features.
        head: maps features to class logits ``(B, K)``, for coverage and conditional accuracy; None
            when the data set has no classifier.
        class_names: label ``k``'s name at index ``k``, with ``head``.
        image_shape: ``(C, H, W)`` the feature network takes; other images are fitted to it
            (:meth:`fit`). None when it takes any size.
        device: where the networks are.
        skipped: why FID cannot be computed here; then every score is ``{'fid': None, ...}``.
        real_features: returns the features ``(N_ref, D)`` of real images (:meth:`reference_features`),
            for the scores in :data:`REFERENCE_KEYS`; called at most once. It may raise
            :class:`~bearer_gan.evaluation.fid.FidUnavailable`, :class:`OSError`,
            :class:`~bearer_gan.data.DatasetError` or :class:`ValueError`, whose first line becomes
            the reason those scores are None. None: they are None.
    """
    name: str
    features: Optional[Callable[[torch.Tensor], torch.Tensor]] = None
    reference: Optional[Tuple[np.ndarray, np.ndarray]] = None
    head: Optional[Callable[[torch.Tensor], torch.Tensor]] = None
    class_names: Optional[Tuple[str, ...]] = None
    image_shape: Optional[Tuple[int, int, int]] = None
    device: torch.device = field(default_factory=lambda: torch.device('cpu'))
    skipped: Optional[str] = None
    real_features: Optional[Callable[[], torch.Tensor]] = None
    _reference: Union[None, str, Tuple[torch.Tensor, torch.Tensor]] = field(default=None, init=False, repr=False,
                                                                             compare=False)

    @property
    def num_classes(self) -> Optional[int]:
        """Number of classes of the classifier, None without one."""
        return len(self.class_names) if self.class_names is not None else None

    def fit(self, images: torch.Tensor) -> torch.Tensor:
        """``images`` ``(B, C, H, W)`` in ``[-1, 1]`` made the shape the feature network takes.

        A classifier scorer takes ``(1, 28, 28)``: RGB is averaged to grey and other sizes are
        resized bilinearly (antialiased), so a run at ``--image-size 32`` is still scored, though
        its FID then compares only with other runs at that size. Inception takes any size.
        """
        if self.image_shape is None:
            return images
        channels, height, width = self.image_shape
        if images.shape[1] != channels:
            if channels != 1:
                raise ValueError(f'the {self.name} scorer takes {channels} channels, got {images.shape[1]}')
            images = images.mean(dim=1, keepdim=True)
        if tuple(images.shape[2:]) != (height, width):
            images = F.interpolate(images, size=(height, width), mode='bilinear', align_corners=False, antialias=True)
        return images

    def reference_features(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """The real features ``(N_ref, D)`` on :attr:`device` and their k-NN radii ``(N_ref,)`` (k =
        :data:`~bearer_gan.evaluation.manifold.MANIFOLD_K`), computed at the first call and kept.

        Raises:
            FidUnavailable: with the reason they cannot be had (the first failure is kept too, so a
                missing test set is not searched for at every score).
        """
        if self._reference is None:
            try:
                if self.skipped is not None:
                    raise FidUnavailable(self.skipped)
                if self.real_features is None:
                    raise FidUnavailable('no real features to compare with')
                with torch.no_grad():
                    features = self.real_features().to(self.device, torch.float32)
                    self._reference = (features, knn_radii(features, MANIFOLD_K))
            except (FidUnavailable, OSError, DatasetError, ValueError) as error:
                self._reference = _first_line(error)
        if isinstance(self._reference, str):
            raise FidUnavailable(self._reference)
        return self._reference

    @torch.no_grad()
    def compare_features(self, features: torch.Tensor) -> Dict[str, object]:
        """The scores in :data:`REFERENCE_KEYS` of generated features ``(M, D)`` against :meth:`reference_features`.

        Precision, recall, density and coverage with ``k = 3``
        (:func:`~bearer_gan.evaluation.manifold.manifold_metrics`; ``M >= 4``), KID and its standard
        deviation over 100 subsets (:func:`~bearer_gan.evaluation.kid.kernel_distance`). When the
        real features cannot be had, or ``M`` is too small, each is None and
        ``reference_features_skipped`` says why, so that evaluation still finishes.
        """
        try:
            real, radii = self.reference_features()
            fake = features.to(self.device, torch.float32)
            scores: Dict[str, object] = manifold_metrics(real, fake, MANIFOLD_K, radii)
            scores['kid'], scores['kid_std'] = kernel_distance(real, fake)
            return scores
        except (FidUnavailable, ValueError) as error:
            return {**dict.fromkeys(REFERENCE_KEYS), 'reference_features_skipped': _first_line(error)}

    @torch.no_grad()
    def score(self, images: torch.Tensor, labels: Optional[torch.Tensor] = None,
              batch_size: int = 500, compare: bool = True) -> Dict[str, object]:
        """FID and, with a classifier, coverage (and conditional accuracy when ``labels`` are given), in one pass.

        Args:
            images: float ``(N, C, H, W)`` in ``[-1, 1]`` (or ``uint8`` in ``[0, 255]``), ``N >= 2``, any device.
            labels: ``(N,)`` the class each image was generated for, or None.
            batch_size: images per forward pass.
            compare: also compute :meth:`compare_features`'s k-NN and kernel metrics, which cost more
                than FID (the reference features on a first call, then distances between the sets);
                False leaves their keys out, as a score during training does.

        Returns:
            ``scorer`` (:attr:`name`), ``fid`` (None when :attr:`skipped`, then also
            ``fid_skipped``: the reason), ``n``; :meth:`compare_features`'s ``precision``, ``recall``,
            ``density``, ``coverage``, ``kid``, ``kid_std`` (or None with ``reference_features_skipped``);
            with a classifier,
            :func:`~bearer_gan.evaluation.coverage.coverage_of_logits`'s keys, and
            ``conditional_accuracy`` when ``labels`` are given. Plain Python values (JSON-serialisable).

        Raises:
            ValueError: for images that are not ``(N, C, H, W)`` with ``N >= 2``, or mismatched labels.
        """
        if images.dim() != 4:
            raise ValueError(f'expected images of shape (N, C, H, W), got {tuple(images.shape)}')
        if len(images) < 2:
            raise ValueError(f'need at least 2 images for feature statistics, got {len(images)}')
        if labels is not None and labels.shape != (len(images),):
            raise ValueError(f'expected one label per image, ({len(images)},), got {tuple(labels.shape)}')
        if self.skipped is not None:
            skipped = {**dict.fromkeys(REFERENCE_KEYS), 'reference_features_skipped': self.skipped} if compare else {}
            return {'scorer': self.name, 'fid': None, 'fid_skipped': self.skipped, 'n': len(images), **skipped}
        features, logits = [], []
        for start in range(0, len(images), batch_size):
            batch = self.fit(as_unit_range(images[start:start + batch_size]).to(self.device, torch.float32))
            batch_features = self.features(batch)
            features.append(batch_features.float().cpu())
            if self.head is not None:
                logits.append(self.head(batch_features).float().cpu())
        features = torch.cat(features)
        result = {'scorer': self.name, 'fid': frechet_distance(*statistics_of(features), *self.reference),
                  'n': len(images), **(self.compare_features(features) if compare else {})}
        if self.head is not None:
            logits = torch.cat(logits)
            result.update(coverage_of_logits(logits))
            if labels is not None:
                result['conditional_accuracy'] = conditional_accuracy(logits, labels)
        return result


def _test_set_features(name: str, classifier: LeNetClassifier, data_dir: Optional[str], device: torch.device,
                       batch_size: int = 500) -> torch.Tensor:
    """The classifier's features ``(10000, 128)`` of the test set the shipped statistics come from; no download."""
    if name == 'mnist':
        images = load_mnist_test(data_dir=data_dir or './data', download=False)[0]
    else:
        images = load_fashion_mnist(train=False)[0]
    return extract_features(reference_sample(images), classifier.features, batch_size, device)


def classifier_scorer(dataset: str = 'mnist', device: Union[str, torch.device] = 'cpu',
                      classifier: Optional[LeNetClassifier] = None, data_dir: Optional[str] = None) -> Scorer:
    """The scorer of a data set with a shipped classifier (:data:`~bearer_gan.evaluation.classifiers.CLASSIFIERS`).

    Its real features are those of the data set's official test set, read at the first score
    (:func:`~bearer_gan.evaluation.testsets.load_mnist_test` without downloading, or
    :func:`~bearer_gan.evaluation.testsets.load_fashion_mnist`).

    Args:
        dataset: ``'mnist'``, ``'mnist-5k'`` or ``'fashion-mnist'``.
        device: where the classifier is loaded.
        classifier: use this one (already on its device) instead of the shipped weights; the
            reference statistics are still the shipped ones.
        data_dir: where the MNIST test set is looked for when ``$BEARER_GAN_MNIST_TEST`` is not set
            (``./data`` when None).
    """
    shipped = shipped_classifier(dataset)
    classifier = load_classifier(dataset, device) if classifier is None else classifier
    device = next(classifier.parameters()).device
    return Scorer(shipped.name, classifier.features, load_reference_statistics(dataset), classifier.head,
                  shipped.class_names, (1, 28, 28), device,
                  real_features=functools.partial(_test_set_features, shipped.name, classifier, data_dir, device))


def _unavailable(reason: str) -> Scorer:
    warnings.warn(f'FID skipped: {reason}', stacklevel=3)
    return Scorer('inception', skipped=reason)


def inception_scorer(reference_images: Optional[ReferenceImages], device: Union[str, torch.device] = 'cpu',
                     cache_dir: Optional[str] = None, network: Optional[nn.Module] = None,
                     batch_size: int = 100) -> Scorer:
    """Inception-v3 FID against ``reference_images``, whose statistics are cached in ``cache_dir``.

    The network is loaded (and its weights downloaded, once) first; then the reference images are
    loaded and their statistics are read from the cache or computed and cached
    (:func:`~bearer_gan.evaluation.references.cached_statistics`). When any of this cannot be
    done here, it warns once and returns a scorer that reports why FID was skipped. The features
    of a seeded sample of at most 10,000 of the images, for the scores in :data:`REFERENCE_KEYS`,
    are read from the cache or computed at the first score
    (:func:`~bearer_gan.evaluation.references.cached_features`).

    Args:
        reference_images: the training set, ``uint8`` ``(N, C, H, W)`` in ``[0, 255]`` or float in
            ``[-1, 1]``, or a function returning it. A function that raises
            :class:`~bearer_gan.evaluation.fid.FidUnavailable`, :class:`FileNotFoundError` or
            :class:`~bearer_gan.data.DatasetError` makes FID skipped, with its message as the reason.
        device: where the network runs.
        cache_dir: the cache folder (e.g. the data dir); no caching when None.
        network: a feature network taking float ``(B, 1 or 3, H, W)`` in ``[-1, 1]`` instead of
            :func:`~bearer_gan.evaluation.inception.load_inception`'s (tests pass a small stand-in).
        batch_size: reference images per forward pass.
    """
    try:
        network = load_inception(device) if network is None else network
        if reference_images is None:
            raise FidUnavailable('no reference images to compare with')
        images = reference_images() if callable(reference_images) else reference_images
    except (FidUnavailable, FileNotFoundError, DatasetError) as error:
        return _unavailable(str(error).splitlines()[0])
    device = torch.device(device)
    reference = cached_statistics(images, network, cache_dir, batch_size, device)
    real_features = functools.partial(cached_features, reference_sample(images), network, cache_dir, batch_size,
                                      device)
    return Scorer('inception', network, reference, device=device, real_features=real_features)


def scorer_for(dataset: str = 'mnist', device: Union[str, torch.device] = 'cpu', *,
               reference_images: Optional[ReferenceImages] = None, cache_dir: Optional[str] = None,
               network: Optional[nn.Module] = None) -> Scorer:
    """The scorer of ``dataset`` (see the table above).

    Args:
        dataset: a ``--dataset`` value: a name or a folder path.
        device: where the networks run.
        reference_images, cache_dir, network: for data sets without a shipped classifier, see
            :func:`inception_scorer`; ignored otherwise, except that ``cache_dir`` (the run's data
            dir) is also where the MNIST test set is looked for (:func:`classifier_scorer`).
    """
    if dataset in CLASSIFIERS:
        return classifier_scorer(dataset, device, data_dir=cache_dir)
    return inception_scorer(reference_images, device, cache_dir, network)


#: A :class:`Scorer`, or a data set name to pick one with :func:`scorer_for`.
ScorerLike = Union[Scorer, str]


def as_scorer(scorer: ScorerLike, device: Union[str, torch.device] = 'cpu') -> Scorer:
    """``scorer`` itself, or :func:`scorer_for` of the data set it names, built on ``device``."""
    return scorer_for(scorer, device) if isinstance(scorer, str) else scorer
