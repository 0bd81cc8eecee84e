"""Model pairs by name, and the one function that builds a pair for an image shape.

A pair is registered once with :func:`register_model` (the package registers its own in
:mod:`bearer_gan.models`) and built with :func:`build_models` for any image shape it supports,
unconditional or class-conditional (:mod:`~bearer_gan.models.conditional`), with or without
spectral norm (:mod:`~bearer_gan.models.spectral_norm`). :data:`MODELS` and
:data:`DEFAULT_LATENT_DIM` are read-only views of the registry: add pairs with
:func:`register_model`, not by editing a dict.
"""
import numbers
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Sequence, Tuple

from torch import nn

from .conditional import ConditionalDiscriminator, ConditionalGenerator
from .shapes import ImageShape, image_shape as check_image_shape
from .spectral_norm import apply_spectral_norm

__all__ = ['ModelEntry', 'MODELS', 'DEFAULT_LATENT_DIM', 'register_model', 'unregister_model', 'check_model_shape',
           'resolve_arguments', 'build_models']

#: ``generator_factory(latent_dim, image_shape)``: a generator from ``(N, latent_dim)`` noise to ``(N, C, H, W)``.
GeneratorFactory = Callable[[int, ImageShape], nn.Module]
#: ``discriminator_factory(image_shape)``: a discriminator from ``(N, C, H, W)`` images to ``(N, 1)`` logits.
DiscriminatorFactory = Callable[[ImageShape], nn.Module]


@dataclass(frozen=True)
class ModelEntry:
    """One registered pair.

    Attributes:
        generator: ``generator_factory(latent_dim, image_shape)``.
        discriminator: ``discriminator_factory(image_shape)``.
        latent_dim: the latent size the pair was designed with, used when none is given.
        check_shape: ``check_shape(image_shape)`` raises :class:`ValueError` (with the reason)
            for a shape the pair cannot build; None when it builds any shape.
        description: one line for listings.
    """

    generator: GeneratorFactory
    discriminator: DiscriminatorFactory
    latent_dim: int
    check_shape: Optional[Callable[[ImageShape], Any]] = None
    description: str = ''


_REGISTRY: Dict[str, ModelEntry] = {}

#: Registered pairs by name (read-only; add pairs with :func:`register_model`).
MODELS: Mapping[str, ModelEntry] = MappingProxyType(_REGISTRY)


class _LatentDims(Mapping):
    """``name -> latent_dim`` of every registered pair, read through to the registry."""

    def __getitem__(self, name: str) -> int:
        return _REGISTRY[name].latent_dim

    def __iter__(self) -> Iterator[str]:
        return iter(_REGISTRY)

    def __len__(self) -> int:
        return len(_REGISTRY)

    def __repr__(self) -> str:
        return repr(dict(self))


#: The latent size each pair was designed with, ``name -> int`` (a read-only view of :data:`MODELS`).
DEFAULT_LATENT_DIM: Mapping[str, int] = _LatentDims()


def _is_positive_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def register_model(name: str, generator_factory: GeneratorFactory, discriminator_factory: DiscriminatorFactory,
                   latent_dim: int, *, check_shape: Optional[Callable[[ImageShape], Any]] = None,
                   description: str = '', replace: bool = False) -> ModelEntry:
    """Register a generator / discriminator pair under ``name``, for :func:`build_models` and ``--model``.

    The generator must map ``(N, latent_dim)`` noise to images ``(N, C, H, W)`` in ``[-1, 1]``; the
    discriminator images to logits ``(N, 1)``. For class-conditional use the discriminator must
    also offer ``features(images) -> (N, F)`` and a linear ``head`` (see
    :mod:`~bearer_gan.models.base`). Pass other constructor arguments with
    :func:`functools.partial`, e.g. ``partial(DCGANGenerator, width=64)``, so that a saved
    generator rebuilds from its name alone.

    Args:
        name: the name to build it by.
        generator_factory: ``generator_factory(latent_dim, image_shape)``.
        discriminator_factory: ``discriminator_factory(image_shape)``.
        latent_dim: the latent size used when none is given.
        check_shape: raises :class:`ValueError` for an image shape the pair cannot build.
        description: one line for listings.
        replace: allow replacing a pair already registered under ``name``.

    Raises:
        ValueError: for an empty or taken name, a non-positive latent size or factories that are not callable.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f'a model name must be a non-empty string, got {name!r}')
    if name in _REGISTRY and not replace:
        raise ValueError(f'model {name!r} is already registered; pass replace=True to replace it')
    if not _is_positive_int(latent_dim):
        raise ValueError(f'latent_dim must be a positive integer, got {latent_dim!r}')
    if not (callable(generator_factory) and callable(discriminator_factory)) \
            or not (check_shape is None or callable(check_shape)):
        raise ValueError(f'model {name!r}: the factories and check_shape must be callable')
    entry = ModelEntry(generator_factory, discriminator_factory, int(latent_dim), check_shape, description)
    _REGISTRY[name] = entry
    return entry


def unregister_model(name: str) -> ModelEntry:
    """Remove the pair registered under ``name`` and return its entry.

    Raises:
        ValueError: for a name that is not registered.
    """
    entry = _entry(name)
    del _REGISTRY[name]
    return entry


def _entry(name: str) -> ModelEntry:
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def check_model_shape(name: str, image_shape: Sequence[int]) -> ImageShape:
    """Check that pair ``name`` can build images of ``image_shape``, before anything is built or written.

    Returns:
        the shape as a tuple ``(C, H, W)``.

    Raises:
        ValueError: for an unknown name, a malformed shape or one the pair cannot build; the
            one-line message says why (``model 'dcgan' cannot build 1x30x30 images: ...``).
    """
    entry = _entry(name)
    shape = check_image_shape(image_shape)
    if entry.check_shape is not None:
        try:
            entry.check_shape(shape)
        except ValueError as error:
            raise ValueError(f"model {name!r} cannot build {'x'.join(map(str, shape))} images: {error}") from None
    return shape


def resolve_arguments(name: str, latent_dim: Optional[int] = None, image_shape: Sequence[int] = (1, 28, 28),
                      num_classes: Optional[int] = None, spectral_norm: bool = False) -> Dict[str, Any]:
    """Check :func:`build_models`' arguments and fill in the pair's default latent size.

    Returns:
        the model spec (:mod:`~bearer_gan.models.spec`): ``model``, ``latent_dim``, ``image_shape``
        as a list ``[C, H, W]``, ``num_classes`` (None when unconditional) and ``spectral_norm``,
        plain values that ``torch.save`` and JSON keep.

    Raises:
        ValueError: with a one-line message, for any argument :func:`build_models` would refuse.
    """
    entry = _entry(name)
    latent_dim = entry.latent_dim if latent_dim is None else latent_dim
    if not _is_positive_int(latent_dim):
        raise ValueError(f'latent_dim must be a positive integer, got {latent_dim!r}')
    if num_classes is not None and not _is_positive_int(num_classes):
        raise ValueError(f'num_classes must be a positive integer or None, got {num_classes!r}')
    if not isinstance(spectral_norm, bool):
        raise ValueError(f'spectral_norm must be True or False, got {spectral_norm!r}')
    shape = check_model_shape(name, image_shape)
    return {'model': name, 'latent_dim': int(latent_dim), 'image_shape': list(shape),
            'num_classes': None if num_classes is None else int(num_classes), 'spectral_norm': spectral_norm}


def build_models(name: str, latent_dim: Optional[int] = None, image_shape: Sequence[int] = (1, 28, 28),
                 num_classes: Optional[int] = None, spectral_norm: bool = False) -> Tuple[nn.Module, nn.Module]:
    """Build a ``(generator, discriminator)`` pair by name (a key of :data:`MODELS`).

    Unconditional (``num_classes=None``): ``generator(z)`` maps ``(N, latent_dim)`` to images
    ``(N, C, H, W)`` in ``[-1, 1]`` and ``discriminator(images)`` returns logits ``(N, 1)``.
    Conditional: ``generator(z, labels)`` and ``discriminator(images, labels)`` with int64
    labels ``(N,)`` in ``[0, num_classes)`` (:mod:`~bearer_gan.models.conditional`).

    Args:
        name: which pair.
        latent_dim: size of ``z``; the pair's own default (:data:`DEFAULT_LATENT_DIM`) when None.
        image_shape: ``(C, H, W)`` of the images; MNIST's ``(1, 28, 28)`` by default.
        num_classes: number of labels for a class-conditional pair; None for an unconditional one.
        spectral_norm: spectral-normalise every linear, convolutional and embedding layer of the
            discriminator (:func:`~bearer_gan.models.apply_spectral_norm`).

    Raises:
        ValueError: for an unknown name, a non-positive latent size, an image shape the pair
            cannot build (see :func:`check_model_shape`) or a conditional pair whose
            discriminator has no ``features`` and ``head``.
    """
    arguments = resolve_arguments(name, latent_dim, image_shape, num_classes, spectral_norm)
    entry, latent_dim, shape = _REGISTRY[name], arguments['latent_dim'], tuple(arguments['image_shape'])
    if num_classes is None:
        generator, discriminator = entry.generator(latent_dim, shape), entry.discriminator(shape)
    else:
        try:
            generator = ConditionalGenerator(entry.generator(2 * latent_dim, shape), latent_dim, num_classes)
            discriminator = ConditionalDiscriminator(entry.discriminator(shape), num_classes)
        except ValueError as error:
            raise ValueError(f'model {name!r}: {error}') from None
    if spectral_norm:
        apply_spectral_norm(discriminator)
    return generator, discriminator
