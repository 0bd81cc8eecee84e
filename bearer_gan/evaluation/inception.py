"""Inception-v3 features for FID on any image data set, through the optional torch-fidelity package.

Papers report FID on the 2048 pool features of the Inception-v3 network that TensorFlow's
original FID code used. torch-fidelity (``pip install 'bearer_gan[inception]'``) ships a PyTorch
port of it, with TensorFlow's weights and resizing (``inception-v3-compat``; torchmetrics' FID
uses the same extractor), so its numbers compare with published ones. The weights download at
first use into torch's hub cache (``~/.cache/torch/hub/checkpoints``) and are reused from there.

This is the only module that imports torch_fidelity. Without the package, or when the weights
cannot be downloaded, :func:`load_inception` raises
:class:`~bearer_gan.evaluation.fid.FidUnavailable` with a one-line reason, and the evaluation
reports FID as skipped instead of failing.
"""
import contextlib
import io
from typing import Callable, Optional

import torch
from torch import nn

from .fid import FidUnavailable

__all__ = ['INCEPTION_WEIGHTS', 'InceptionFeatures', 'load_inception']

#: The file torch-fidelity downloads into ``<torch.hub.get_dir()>/checkpoints`` at first use.
INCEPTION_WEIGHTS = 'weights-inception-2015-12-05-6726825d.pth'


class InceptionFeatures(nn.Module):
    """Images of any size in the project's convention to the feature network's ``uint8`` RGB input.

    torch-fidelity's extractor takes ``uint8`` ``(N, 3, H, W)`` in ``[0, 255]`` of any ``H, W`` and
    resizes them to 299 x 299 itself, with TensorFlow 1's bilinear interpolation, as the original
    FID code did. This wrapper feeds it that: images in ``[-1, 1]`` are mapped to ``[0, 255]``,
    rounded and clamped to ``uint8``, and one grey channel is repeated into three. It does not
    resize (the extractor does).

    Args:
        extractor: maps ``uint8`` ``(N, 3, H, W)`` to ``(N, D)`` features, or to a tuple whose first
            item they are (torch-fidelity's convention). :func:`load_inception` gives the real one;
            tests give a small stand-in.
    """

    def __init__(self, extractor: Callable[[torch.Tensor], torch.Tensor]):
        super().__init__()
        self.extractor = extractor

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Features ``(N, D)`` of float ``(N, C, H, W)`` in ``[-1, 1]`` with ``C`` 1 or 3, any ``H, W``."""
        if images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f'expected images of shape (N, 1 or 3, H, W), got {tuple(images.shape)}')
        pixels = images.add(1).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)
        features = self.extractor(pixels.expand(-1, 3, -1, -1))
        return features[0] if isinstance(features, tuple) else features


def load_inception(device: str = 'cpu', weights_path: Optional[str] = None) -> InceptionFeatures:
    """torch-fidelity's Inception-v3 (2048 pool features) on ``device``, wrapped in :class:`InceptionFeatures`.

    Args:
        device: where it runs; a GPU is much faster (about 6 GFLOPs per image at 299 x 299).
        weights_path: a local copy of :data:`INCEPTION_WEIGHTS`; downloaded (once) when None.

    Raises:
        FidUnavailable: without torch-fidelity, or when the weights cannot be downloaded.
    """
    try:
        from torch_fidelity import FeatureExtractorInceptionV3
    except ImportError as error:
        raise FidUnavailable(f"Inception FID needs torch-fidelity ({error}); "
                                        "pip install 'bearer_gan[inception]'") from error
    try:  # torch.hub announces the download on stderr even when it fails; the reason goes into the exception
        with contextlib.redirect_stderr(io.StringIO()):
            extractor = FeatureExtractorInceptionV3('inception-v3-compat', ['2048'],
                                                    feature_extractor_weights_path=weights_path)
    except OSError as error:  # URLError, HTTPError, a missing or unreadable file
        hub = f'{torch.hub.get_dir()}/checkpoints'
        raise FidUnavailable(
            f'the Inception-v3 weights could not be loaded ({type(error).__name__}: {error}); run once online, '
            f'or put {INCEPTION_WEIGHTS} in {hub}') from error
    return InceptionFeatures(extractor).to(device).eval()
