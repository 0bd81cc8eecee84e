"""Spectral normalisation of a whole discriminator (Miyato et al., 2018), for any pair.

Each weight is divided by an estimate of its largest singular value, kept up to date by one
power iteration per forward pass in train mode, so every layer is about 1-Lipschitz and the
discriminator cannot sharpen without bound. SNGAN normalises every linear and convolutional layer
of the discriminator and the class embedding of the projection; :func:`apply_spectral_norm` does
the same to any module through :func:`torch.nn.utils.parametrizations.spectral_norm`, so the
``state_dict`` holds each weight as ``<layer>.parametrizations.weight.original`` with its power
iteration vectors ``_u`` and ``_v``. Batch norm and activations are left alone.
"""
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

__all__ = ['SPECTRAL_NORM_LAYERS', 'apply_spectral_norm']

#: Layer types whose ``weight`` :func:`apply_spectral_norm` normalises.
SPECTRAL_NORM_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
                        nn.ConvTranspose3d, nn.Embedding)


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Spectral-normalise the weight of every linear, convolutional and embedding layer of ``module``.

    Layers already normalised are left as they are, so applying it twice changes nothing.

    Returns:
        ``module``, changed in place.
    """
    for layer in list(module.modules()):  # parametrizing adds submodules: list the layers first
        if isinstance(layer, SPECTRAL_NORM_LAYERS) and not parametrize.is_parametrized(layer, 'weight'):
            spectral_norm(layer)
    return module
