"""A pair's constructor arguments as a plain dict, so that saved networks rebuild without flags.

A *model spec* is ``{'model': name, 'latent_dim': int, 'image_shape': [C, H, W], 'num_classes':
int or None, 'spectral_norm': bool}``: strings, numbers, a list and None, which ``torch.save``
(loadable with ``weights_only=True``) and JSON keep. Saved generators and checkpoints record it
beside the weights, and :func:`build_from_spec` rebuilds the networks those weights fit.

Files written before shapes and classes existed hold only ``{'model': name, 'latent_dim': n,
'state_dict': ...}``; the defaults of the missing entries (``[1, 28, 28]``, unconditional, no
spectral norm) are what those files always were, so they rebuild too.
"""
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from torch import nn

from .registry import build_models, resolve_arguments

__all__ = ['SPEC_KEYS', 'model_spec', 'read_model_spec', 'build_from_spec']

#: The entries of a model spec, in :func:`~bearer_gan.models.build_models`' argument order.
SPEC_KEYS = ('model', 'latent_dim', 'image_shape', 'num_classes', 'spectral_norm')


def model_spec(name: str, latent_dim: Optional[int] = None, image_shape: Sequence[int] = (1, 28, 28),
               num_classes: Optional[int] = None, spectral_norm: bool = False) -> Dict[str, Any]:
    """The spec of the pair :func:`~bearer_gan.models.build_models` builds from these arguments.

    ``latent_dim=None`` is resolved to the pair's default, so the spec does not depend on it.

    Raises:
        ValueError: for any arguments ``build_models`` would refuse (checked without building).
    """
    return resolve_arguments(name, latent_dim, image_shape, num_classes, spectral_norm)


def read_model_spec(saved: Mapping[str, Any]) -> Dict[str, Any]:
    """The full, checked spec recorded in ``saved`` (a spec, or a saved file's dict holding one).

    Entries other than those of :data:`SPEC_KEYS` (``state_dict``, ...) are ignored; missing
    ones take the defaults of files written before they existed (see the module docstring).

    Raises:
        ValueError: when ``saved`` names no model, or its entries are not valid arguments.
    """
    if not isinstance(saved, Mapping) or 'model' not in saved:
        raise ValueError("not a model spec: it has no 'model' entry")
    return model_spec(saved['model'], **{key: saved[key] for key in SPEC_KEYS[1:] if key in saved})


def build_from_spec(spec: Mapping[str, Any]) -> Tuple[nn.Module, nn.Module]:
    """Rebuild the ``(generator, discriminator)`` pair of a spec (or of a saved file's dict holding one).

    Raises:
        ValueError: as :func:`read_model_spec`.
    """
    spec = read_model_spec(spec)
    return build_models(spec['model'], spec['latent_dim'], spec['image_shape'], spec['num_classes'],
                        spec['spectral_norm'])
