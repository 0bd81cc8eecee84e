"""Model pairs: every pair at every supported size, conditioning, spectral norm, specs, the registry."""
import functools
import io
import json

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

import bearer_gan
from bearer_gan import models
from bearer_gan.models import (DEFAULT_LATENT_DIM, MODELS, build_from_spec, build_models, check_model_shape,
                               model_spec, read_model_spec, register_model, unregister_model)

PAIRS = ['tutorial', 'mlp256', 'dcgan', 'resnet']
SHAPES = [(channels, side, side) for side in (28, 32, 64) for channels in (1, 3)]
BATCH = 4

#: ``state_dict`` keys and shapes of the 1x28x28 pairs before the models became shape-aware
#: (``git show 3289610:bearer_gan/models.py``): saved generators and checkpoints hold exactly these.
MNIST_KEYS = {
    'tutorial': (
        {'net.0.weight': (128, 100), 'net.0.bias': (128,), 'net.2.weight': (256, 128), 'net.2.bias': (256,),
         'net.3.weight': (256,), 'net.3.bias': (256,), 'net.3.running_mean': (256,), 'net.3.running_var': (256,),
         'net.3.num_batches_tracked': (), 'net.5.weight': (512, 256), 'net.5.bias': (512,), 'net.6.weight': (512,),
         'net.6.bias': (512,), 'net.6.running_mean': (512,), 'net.6.running_var': (512,),
         'net.6.num_batches_tracked': (), 'net.8.weight': (784, 512), 'net.8.bias': (784,)},
        {'net.1.weight': (512, 784), 'net.1.bias': (512,), 'net.3.weight': (256, 512), 'net.3.bias': (256,),
         'net.5.weight': (1, 256), 'net.5.bias': (1,)}),
    'mlp256': (
        {'net.0.weight': (256, 64), 'net.0.bias': (256,), 'net.2.weight': (256, 256), 'net.2.bias': (256,),
         'net.4.weight': (784, 256), 'net.4.bias': (784,)},
        {'net.1.weight': (256, 784), 'net.1.bias': (256,), 'net.3.weight': (256, 256), 'net.3.bias': (256,),
         'net.5.weight': (1, 256), 'net.5.bias': (1,)}),
    'dcgan': (
        {'project.0.weight': (3136, 64), 'project.1.weight': (3136,), 'project.1.bias': (3136,),
         'project.1.running_mean': (3136,), 'project.1.running_var': (3136,), 'project.1.num_batches_tracked': (),
         'upsample.0.weight': (64, 32, 4, 4), 'upsample.1.weight': (32,), 'upsample.1.bias': (32,),
         'upsample.1.running_mean': (32,), 'upsample.1.running_var': (32,), 'upsample.1.num_batches_tracked': (),
         'upsample.3.weight': (32, 1, 4, 4), 'upsample.3.bias': (1,)},
        {'net.0.weight': (32, 1, 4, 4), 'net.0.bias': (32,), 'net.2.weight': (64, 32, 4, 4), 'net.2.bias': (64,),
         'net.5.weight': (1, 3136), 'net.5.bias': (1,)}),
}


def key_shapes(module):
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}


def inputs(name, shape, num_classes, seed=0, latent_dim=None):
    """Seeded noise ``(BATCH, latent_dim)``, real-looking images in [-1, 1] and distinct labels (or None)."""
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(BATCH, latent_dim or DEFAULT_LATENT_DIM[name], generator=generator)
    images = torch.rand(BATCH, *shape, generator=generator) * 2 - 1
    labels = None if num_classes is None else torch.arange(BATCH) % num_classes
    return z, images, labels


def call(network, x, labels):
    return network(x) if labels is None else network(x, labels)


@pytest.mark.parametrize('num_classes', [None, 10], ids=['unconditional', 'conditional'])
@pytest.mark.parametrize('shape', SHAPES, ids=lambda shape: 'x'.join(map(str, shape)))
@pytest.mark.parametrize('name', PAIRS)
def test_every_pair_runs_forward_and_backward_at_every_size(name, shape, num_classes):
    torch.manual_seed(0)
    generator, discriminator = build_models(name, image_shape=shape, num_classes=num_classes)
    z, real, labels = inputs(name, shape, num_classes)
    fake = call(generator, z, labels)
    assert fake.shape == (BATCH, *shape)
    assert fake.min() >= -1 and fake.max() <= 1
    logits = call(discriminator, torch.cat([real, fake]), None if labels is None else torch.cat([labels, labels]))
    assert logits.shape == (2 * BATCH, 1)
    logits.square().mean().backward()
    for network in (generator, discriminator):
        for parameter_name, parameter in network.named_parameters():
            assert parameter.grad is not None, parameter_name
            assert torch.isfinite(parameter.grad).all(), parameter_name
            if parameter.dim() > 1:  # weights and embeddings; some biases feed batch norm, which cancels their gradient
                assert parameter.grad.abs().sum() > 0, parameter_name


@pytest.mark.parametrize('name', PAIRS)
def test_discriminators_are_their_head_on_their_features(name):
    _, discriminator = build_models(name, image_shape=(3, 32, 32))
    _, images, _ = inputs(name, (3, 32, 32), None)
    features = discriminator.features(images)
    assert features.dim() == 2 and features.shape[1] == discriminator.head.in_features
    torch.testing.assert_close(discriminator.head(features), discriminator(images))


def test_resnet_has_the_sngan_cifar_layout_at_32_px():
    generator, discriminator = build_models('resnet', image_shape=(3, 32, 32))
    assert generator.start_shape[1:] == (4, 4) and len(generator.blocks) == 3
    assert [type(block).__name__ for block in discriminator.blocks] == [
        'OptimizedDiscriminatorBlock', 'DiscriminatorBlock', 'DiscriminatorBlock', 'DiscriminatorBlock']
    assert discriminator.blocks(torch.zeros(1, 3, 32, 32)).shape[2:] == (8, 8)
    assert not any(isinstance(layer, nn.modules.batchnorm._BatchNorm) for layer in discriminator.modules())


@pytest.mark.parametrize('side', [8, 10, 12, 14, 20, 24, 48, 56])
@pytest.mark.parametrize('name', ['dcgan', 'resnet'])
def test_the_convolutional_pairs_build_every_side_the_rule_accepts(name, side):
    torch.manual_seed(0)
    generator, discriminator = build_models(name, image_shape=(2, side, side))
    images = generator(torch.randn(2, DEFAULT_LATENT_DIM[name]))
    assert images.shape == (2, 2, side, side) and discriminator(images).shape == (2, 1)


@pytest.mark.parametrize('side, start', [(28, 7), (32, 4), (64, 4)])
def test_dcgan_starts_from_a_small_map_and_doubles_channels_towards_it(side, start):
    generator, discriminator = build_models('dcgan', image_shape=(3, side, side))
    stages = {28: 2, 32: 3, 64: 4}[side]
    assert generator.start_shape == (32 * 2 ** (stages - 1), start, start)
    assert [layer.out_channels for layer in discriminator.net if isinstance(layer, nn.Conv2d)] == \
        [32 * 2 ** stage for stage in range(stages)]


@pytest.mark.parametrize('name', PAIRS)
def test_the_label_changes_the_generated_image_and_the_projection_adds_to_the_logit(name):
    torch.manual_seed(0)
    generator, discriminator = build_models(name, image_shape=(1, 28, 28), num_classes=10)
    generator.eval()
    z, images, _ = inputs(name, (1, 28, 28), 10)
    zeros, ones = torch.zeros(BATCH, dtype=torch.long), torch.ones(BATCH, dtype=torch.long)
    with torch.no_grad():
        assert (generator(z, zeros) - generator(z, ones)).abs().amax() > 1e-3
        features = discriminator.features(images)
        for labels in (zeros, ones):
            projection = (discriminator.embed(labels) * features).sum(dim=1, keepdim=True)
            torch.testing.assert_close(discriminator(images, labels), discriminator.head(features) + projection)
        assert (discriminator(images, zeros) - discriminator(images, ones)).abs().amax() > 1e-4


def largest_singular_value(layer, original=False) -> float:
    """Largest singular value of the weight as spectral norm reshapes it: dimension ``dim`` first, the rest flattened.

    Computed as the square root of the 2-norm of the smaller Gram matrix, in float64: the same
    number as ``matrix_norm(W, 2)``, without a full SVD of a 512 x 3072 matrix on a busy CPU.
    """
    dim = layer.parametrizations.weight[0].dim
    weight = (layer.parametrizations.weight.original if original else layer.weight).detach().double()
    matrix = weight.movedim(dim, 0).flatten(1)
    gram = matrix @ matrix.T if matrix.shape[0] <= matrix.shape[1] else matrix.T @ matrix
    return torch.linalg.matrix_norm(gram, 2).sqrt().item()


def test_largest_singular_value_is_the_matrix_2_norm():
    layer = torch.nn.utils.parametrizations.spectral_norm(nn.Linear(40, 9))
    weight = layer.parametrizations.weight.original.detach()
    assert largest_singular_value(layer, original=True) == pytest.approx(torch.linalg.matrix_norm(weight, 2).item(),
                                                                          rel=1e-5)


@pytest.mark.parametrize('name', PAIRS)
def test_spectral_norm_brings_every_discriminator_layer_to_a_largest_singular_value_of_one(name):
    # The power-iteration estimate u'Wv never exceeds the true largest singular value, so the
    # normalised weight's is at least 1 and falls towards 1 with every iteration, at the rate
    # (sigma_2 / sigma_1)^2: slow for freshly initialised layers, whose top singular values are
    # close. After the 15 iterations made when it is applied and 10 forward passes, the worst layer
    # of any pair measured 1.032 (resnet, 3x32x32); 1.06 leaves room for other seeds and sizes.
    torch.manual_seed(0)
    generator, discriminator = build_models(name, image_shape=(3, 32, 32), num_classes=10, spectral_norm=True)
    _, images, labels = inputs(name, (3, 32, 32), 10)
    layers = [layer for layer in discriminator.modules() if parametrize.is_parametrized(layer, 'weight')]
    expected = [layer for layer in discriminator.modules() if isinstance(layer, (nn.Linear, nn.Conv2d, nn.Embedding))]
    assert layers == expected and discriminator.embed in layers  # every layer, the projection's embedding too
    # unnormalised, they are not already at 1
    assert any(abs(largest_singular_value(layer, original=True) - 1) > 0.1 for layer in layers)
    discriminator.train()
    for _ in range(10):
        discriminator(images, labels)
    discriminator.eval()
    for layer in layers:
        assert 1 - 1e-4 <= largest_singular_value(layer) <= 1.06, layer
    assert not any(parametrize.is_parametrized(layer) for layer in generator.modules())  # the generator is left alone


def test_apply_spectral_norm_is_generic_and_idempotent():
    network = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 1), nn.Embedding(3, 4))
    once = models.apply_spectral_norm(network)
    keys = list(once.state_dict())
    models.apply_spectral_norm(network)
    assert list(network.state_dict()) == keys
    assert [parametrize.is_parametrized(layer) for layer in network] == [True, False, False, True, True]


def rebuild_and_compare(name, spec_arguments, seed=0):
    torch.manual_seed(seed)
    generator, discriminator = build_models(name, **spec_arguments)
    spec = model_spec(name, **spec_arguments)
    buffer = io.BytesIO()
    torch.save({**spec, 'state_dict': generator.state_dict()}, buffer)  # as a saved generator would hold it
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    assert json.loads(json.dumps(spec)) == spec  # plain values only
    rebuilt_generator, rebuilt_discriminator = build_from_spec(saved)
    rebuilt_generator.load_state_dict(saved['state_dict'], strict=True)
    rebuilt_discriminator.load_state_dict(discriminator.state_dict(), strict=True)
    num_classes = spec['num_classes']
    z, images, labels = inputs(name, tuple(spec['image_shape']), num_classes, latent_dim=spec['latent_dim'])
    for original, rebuilt, x in ((generator, rebuilt_generator, z), (discriminator, rebuilt_discriminator, images)):
        original.eval(), rebuilt.eval()
        with torch.no_grad():
            torch.testing.assert_close(call(rebuilt, x, labels), call(original, x, labels))


@pytest.mark.parametrize('shape, options', [
    ((1, 28, 28), {}),
    ((3, 32, 32), {'num_classes': 10, 'spectral_norm': True}),
    ((3, 64, 64), {'latent_dim': 7, 'spectral_norm': True}),
    ((1, 64, 64), {'num_classes': 3}),
], ids=['1x28x28', '3x32x32-conditional-sn', '3x64x64-latent7-sn', '1x64x64-conditional'])
@pytest.mark.parametrize('name', PAIRS)
def test_a_spec_rebuilds_networks_that_load_the_weights_strictly(name, shape, options):
    rebuild_and_compare(name, {'image_shape': shape, **options})


def test_a_spec_holds_the_constructor_arguments_with_the_default_latent_size_resolved():
    assert model_spec('dcgan', image_shape=(3, 32, 32), num_classes=10) == {
        'model': 'dcgan', 'latent_dim': 64, 'image_shape': [3, 32, 32], 'num_classes': 10, 'spectral_norm': False}


@pytest.mark.parametrize('name', sorted(MNIST_KEYS))
def test_old_files_rebuild_the_mnist_networks_with_unchanged_keys(name):
    old_generator_keys, old_discriminator_keys = MNIST_KEYS[name]
    generator, discriminator = build_models(name)
    assert key_shapes(generator) == old_generator_keys and key_shapes(discriminator) == old_discriminator_keys
    old_file = {'model': name, 'latent_dim': DEFAULT_LATENT_DIM[name], 'state_dict': generator.state_dict()}
    assert read_model_spec(old_file) == {'model': name, 'latent_dim': DEFAULT_LATENT_DIM[name],
                                         'image_shape': [1, 28, 28], 'num_classes': None, 'spectral_norm': False}
    rebuilt, _ = build_from_spec(old_file)
    rebuilt.load_state_dict(old_file['state_dict'], strict=True)
    assert key_shapes(rebuilt) == old_generator_keys


def test_the_old_call_signatures_still_build_the_mnist_pairs():
    generator, discriminator = bearer_gan.build_models('mlp256', 32)
    assert generator(torch.randn(2, 32)).shape == (2, 1, 28, 28)
    assert discriminator(torch.zeros(2, 1, 28, 28)).shape == (2, 1)
    assert models.DCGANGenerator(64)(torch.randn(2, 64)).shape == (2, 1, 28, 28)
    assert models.TutorialDiscriminator()(torch.zeros(2, 1, 28, 28)).shape == (2, 1)


@pytest.mark.parametrize('arguments, message', [
    (('stylegan',), r"^unknown model 'stylegan'; choose one of: dcgan, mlp256, resnet, tutorial$"),
    (('tutorial', 0), r'^latent_dim must be a positive integer, got 0$'),
    (('tutorial', -3), r'^latent_dim must be a positive integer, got -3$'),
    (('tutorial', 2.5), r'^latent_dim must be a positive integer, got 2.5$'),
    (('dcgan', None, (1, 30, 30)), r"^model 'dcgan' cannot build 1x30x30 images: the side must be 4 to 7 pixels "
                                   r'doubled one or more times \(8, 10, .*\), got 30$'),
    (('resnet', None, (3, 36, 36)), r"^model 'resnet' cannot build 3x36x36 images: .*got 36$"),
    (('dcgan', None, (1, 32, 28)), r"^model 'dcgan' cannot build 1x32x28 images: images must be square, got 32x28$"),
    (('resnet', None, (3, 4, 4)), r"^model 'resnet' cannot build 3x4x4 images: .*got 4$"),
    (('tutorial', None, (28, 28)), r'^image_shape must be three positive integers \(channels, height, width\), '
                                   r'got \(28, 28\)$'),
    (('mlp256', None, (0, 28, 28)), r'^image_shape must be three positive integers'),
    (('mlp256', None, (1, 28, 28), 0), r'^num_classes must be a positive integer or None, got 0$'),
    (('mlp256', None, (1, 28, 28), None, 'yes'), r"^spectral_norm must be True or False, got 'yes'$"),
])
def test_bad_arguments_are_refused_in_one_line_before_anything_is_built(arguments, message):
    for check in (build_models, model_spec):
        with pytest.raises(ValueError, match=message) as error:
            check(*arguments)
        assert '\n' not in str(error.value)


def test_check_model_shape_accepts_what_each_pair_builds():
    assert check_model_shape('tutorial', [3, 30, 17]) == (3, 30, 17)  # the MLPs take any shape
    assert check_model_shape('dcgan', [3, 48, 48]) == (3, 48, 48)
    with pytest.raises(ValueError, match="model 'dcgan' cannot build 3x30x17 images"):
        check_model_shape('dcgan', (3, 30, 17))
    with pytest.raises(ValueError, match="not a model spec: it has no 'model' entry"):
        build_from_spec({'latent_dim': 64})


class FlatGenerator(nn.Module):
    """A user's generator that knows nothing of the package: ``(N, latent_dim) -> (N, C, H, W)``."""

    def __init__(self, latent_dim, image_shape):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.net = nn.Sequential(nn.Linear(latent_dim, int(torch.tensor(image_shape).prod())), nn.Tanh())

    def forward(self, z):
        return self.net(z).view(-1, *self.image_shape)


class PlainDiscriminator(nn.Module):
    """A user's discriminator without ``features`` and ``head``: fine unconditionally only."""

    def __init__(self, image_shape):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(int(torch.tensor(image_shape).prod()), 1))

    def forward(self, images):
        return self.net(images)


@pytest.fixture
def registered():
    names = []

    def register(name, *args, **kwargs):
        entry = register_model(name, *args, **kwargs)
        names.append(name)
        return entry
    yield register
    for name in dict.fromkeys(names):  # once each, in order, even if registered twice
        unregister_model(name)
    assert set(MODELS) == set(PAIRS)


def test_a_registered_pair_builds_by_name_conditionally_and_from_its_spec(registered):
    tiny = functools.partial(models.DCGANGenerator, width=4), functools.partial(models.DCGANDiscriminator, width=4)
    registered('tiny-dcgan', *tiny, latent_dim=8, check_shape=models.conv_plan)
    assert 'tiny-dcgan' in MODELS and DEFAULT_LATENT_DIM['tiny-dcgan'] == 8
    generator, discriminator = build_models('tiny-dcgan', image_shape=(3, 16, 16), num_classes=3)
    assert generator.generator.start_shape == (8, 4, 4)  # built with width 4: 2 * 4 channels at 4x4
    images = generator(torch.randn(2, 8), torch.tensor([0, 2]))
    assert images.shape == (2, 3, 16, 16) and discriminator(images, torch.tensor([0, 2])).shape == (2, 1)
    rebuild_and_compare('tiny-dcgan', {'image_shape': (3, 16, 16), 'num_classes': 3, 'spectral_norm': True})
    with pytest.raises(ValueError, match="model 'tiny-dcgan' cannot build 3x30x30 images"):
        build_models('tiny-dcgan', image_shape=(3, 30, 30))


def test_a_user_pair_without_features_builds_unconditionally_and_is_refused_conditionally(registered):
    registered('plain', FlatGenerator, PlainDiscriminator, latent_dim=5)
    generator, discriminator = build_models('plain', image_shape=(3, 8, 8))
    assert discriminator(generator(torch.randn(2, 5))).shape == (2, 1)
    with pytest.raises(ValueError, match=r"^model 'plain': PlainDiscriminator cannot be class-conditional: it needs "
                                         r'features\(images\) -> \(N, F\) and a linear head F -> 1$'):
        build_models('plain', num_classes=10)


def test_register_model_refuses_taken_names_and_bad_entries(registered):
    with pytest.raises(ValueError, match=r"^model 'dcgan' is already registered; pass replace=True to replace it$"):
        register_model('dcgan', FlatGenerator, PlainDiscriminator, latent_dim=5)
    with pytest.raises(ValueError, match='latent_dim must be a positive integer, got 0'):
        register_model('mine', FlatGenerator, PlainDiscriminator, latent_dim=0)
    with pytest.raises(ValueError, match="model 'mine': the factories and check_shape must be callable"):
        register_model('mine', FlatGenerator, 'PlainDiscriminator', latent_dim=5)
    with pytest.raises(TypeError):
        MODELS['mine'] = MODELS['dcgan']  # a read-only view: register_model is the way in
    registered('mine', FlatGenerator, PlainDiscriminator, latent_dim=5)
    registered('mine', FlatGenerator, PlainDiscriminator, latent_dim=6, replace=True)
    assert DEFAULT_LATENT_DIM['mine'] == 6
    with pytest.raises(ValueError, match="unknown model 'nothing'"):
        unregister_model('nothing')
