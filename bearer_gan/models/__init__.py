"""Generator and discriminator pairs for images of any shape, selectable by name.

Generators map ``z`` of shape ``(N, latent_dim)`` to images ``(N, C, H, W)`` in ``[-1, 1]`` (a
``tanh`` output). Discriminators map images to one *logit* each, ``(N, 1)``: no sigmoid, so that
the losses can use the numerically safe ``binary_cross_entropy_with_logits``. Every pair is built
by :func:`build_models` from ``(latent_dim, image_shape, num_classes)``, and with
``num_classes`` becomes class-conditional: ``G(z, labels)`` and a projection ``D(images, labels)``.

The pairs registered here (add your own with :func:`register_model`):

* ``tutorial``: the MLPs of torchbearer's GAN tutorial (latent 100), any shape.
* ``mlp256``: the 3-layer, hidden-256 MLPs of the classic PyTorch MNIST GAN tutorial (latent 64), any shape.
* ``dcgan``: a small DCGAN (latent 64), square images of 8, 10, 12, 14, 16, 20, 24, 28, 32, 40,
  48, 56, 64, ... pixels (:mod:`~bearer_gan.models.shapes`).
* ``resnet``: the SNGAN ResNet of CIFAR-10 (latent 128), the same sizes as ``dcgan``.

The modules: :mod:`~bearer_gan.models.registry` (names, building),
:mod:`~bearer_gan.models.spec` (constructor arguments saved beside the weights),
:mod:`~bearer_gan.models.mlp`, :mod:`~bearer_gan.models.dcgan`, :mod:`~bearer_gan.models.resnet`
(the pairs), :mod:`~bearer_gan.models.base` (the ``features`` / ``head`` split of a
discriminator), :mod:`~bearer_gan.models.conditional`, :mod:`~bearer_gan.models.spectral_norm`
and :mod:`~bearer_gan.models.shapes`.
"""
from .base import SequentialDiscriminator
from .conditional import ConditionalDiscriminator, ConditionalGenerator
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .mlp import MLP256Discriminator, MLP256Generator, TutorialDiscriminator, TutorialGenerator
from .registry import (DEFAULT_LATENT_DIM, MODELS, ModelEntry, build_models, check_model_shape, register_model,
                       unregister_model)
from .resnet import ResNetDiscriminator, ResNetGenerator
from .shapes import ImageShape, conv_plan
from .spec import SPEC_KEYS, build_from_spec, model_spec, read_model_spec
from .spectral_norm import apply_spectral_norm

__all__ = ['TutorialGenerator', 'TutorialDiscriminator', 'MLP256Generator', 'MLP256Discriminator',
           'DCGANGenerator', 'DCGANDiscriminator', 'ResNetGenerator', 'ResNetDiscriminator',
           'SequentialDiscriminator', 'ConditionalGenerator', 'ConditionalDiscriminator', 'apply_spectral_norm',
           'ImageShape', 'ModelEntry', 'MODELS', 'DEFAULT_LATENT_DIM', 'register_model', 'unregister_model',
           'check_model_shape', 'build_models', 'SPEC_KEYS', 'model_spec', 'read_model_spec', 'build_from_spec']

register_model('tutorial', TutorialGenerator, TutorialDiscriminator, latent_dim=100,
               description="torchbearer's tutorial MLPs")
register_model('mlp256', MLP256Generator, MLP256Discriminator, latent_dim=64,
               description='hidden-256 MLPs of the classic PyTorch MNIST GAN')
register_model('dcgan', DCGANGenerator, DCGANDiscriminator, latent_dim=64, check_shape=conv_plan,
               description='a small DCGAN')
register_model('resnet', ResNetGenerator, ResNetDiscriminator, latent_dim=128, check_shape=conv_plan,
               description='the SNGAN ResNet of CIFAR-10')
