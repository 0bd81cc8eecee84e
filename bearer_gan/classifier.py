"""A small MNIST classifier: the feature network behind :mod:`bearer_gan.evaluation`.

The Fréchet Inception Distance needs a pretrained feature network. Inception-v3 weights cannot
be downloaded here (no network), and ImageNet features say little about 28x28 digits anyway, so
the package ships this LeNet-style classifier instead, trained on MNIST by
``scripts/train_classifier.py``. Its 128 penultimate features (after ReLU) play the role of
Inception's pool features, and its class predictions measure which digits a generator draws.

FIDs computed with it are *MNIST-specific*: comparable between runs of this package, not with
Inception FIDs published elsewhere.
"""
from pathlib import Path

import torch
from torch import nn

__all__ = ['FEATURE_DIM', 'CLASSIFIER_PATH', 'MnistClassifier', 'load_classifier']

#: Size of the feature vector returned by :meth:`MnistClassifier.features`.
FEATURE_DIM = 128
#: The shipped weights (a float32 ``state_dict``), written by ``scripts/train_classifier.py``.
CLASSIFIER_PATH = Path(__file__).parent / 'assets' / 'mnist_classifier.pt'


class MnistClassifier(nn.Module):
    """LeNet-style CNN: ``(1, 28, 28) -conv5-> (32, 24, 24) -pool-> (32, 12, 12) -conv5-> (64, 8, 8)
    -pool-> (64, 4, 4) -> 128 features -> 10 logits``.

    Input images are ``(N, 1, 28, 28)`` in ``[-1, 1]``, the project's convention (see
    :func:`bearer_gan.data.to_unit_range`), so generator output can be scored as it comes.
    """

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 4 * 4, FEATURE_DIM), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(0.5), nn.Linear(FEATURE_DIM, 10))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Penultimate features ``(N, 128)``, non-negative (after ReLU): what FID compares."""
        return self.body(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Class logits ``(N, 10)`` for the digits 0-9."""
        return self.head(self.body(images))


def load_classifier(device: str = 'cpu') -> MnistClassifier:
    """The shipped classifier on ``device``, in eval mode (dropout off).

    Raises:
        FileNotFoundError: when the weights are missing (run ``scripts/train_classifier.py``).
    """
    if not CLASSIFIER_PATH.is_file():
        raise FileNotFoundError(f'classifier weights not found at {CLASSIFIER_PATH}; '
                                'run scripts/train_classifier.py to create them')
    classifier = MnistClassifier()
    classifier.load_state_dict(torch.load(CLASSIFIER_PATH, map_location=device, weights_only=True))
    return classifier.to(device).eval()
