"""The discriminator contract that class conditioning and spectral norm build on.

Every discriminator in :mod:`bearer_gan.models` is ``head(features(images))``: a feature map
``features(images) -> (N, F)`` and a final ``head``, a :class:`torch.nn.Linear` from ``F`` to one
logit. The projection discriminator (:mod:`~bearer_gan.models.conditional`) adds
``<embed(y), features(images)>`` to that logit, so any pair that keeps this contract becomes
class-conditional without code of its own.

The MLP and DCGAN discriminators are one :class:`torch.nn.Sequential` whose last layer is the
head; :class:`SequentialDiscriminator` exposes the split without renaming a layer, so their
``state_dict`` keys (``net.1.weight``, ...) and saved files stay as they were.
"""
import torch
from torch import nn

__all__ = ['SequentialDiscriminator', 'has_features_and_head']


class SequentialDiscriminator(nn.Module):
    """A discriminator ``self.net`` whose last layer is the linear head.

    Subclasses set ``self.net``: images ``(N, C, H, W)`` in ``[-1, 1]`` to logits ``(N, 1)``,
    ending in a :class:`torch.nn.Linear` to one output.
    """

    net: nn.Sequential

    @property
    def head(self) -> nn.Linear:
        """The final linear layer, ``F -> 1``."""
        return self.net[-1]

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Features ``(N, F)`` of images ``(N, C, H, W)``: everything but the head."""
        for layer in self.net[:-1]:
            images = layer(images)
        return images

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, 1)`` of images ``(N, C, H, W)`` in ``[-1, 1]``."""
        return self.net(images)


def has_features_and_head(discriminator: nn.Module) -> bool:
    """Whether ``discriminator`` keeps the contract: a ``features`` method and a linear ``head`` to one logit."""
    head = getattr(discriminator, 'head', None)
    return callable(getattr(discriminator, 'features', None)) and isinstance(head, nn.Linear) \
        and head.out_features == 1
