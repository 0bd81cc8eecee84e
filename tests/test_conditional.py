"""Class-conditional runs: labels through torchbearer's tuple inputs, one class per grid row, labelled samples."""
import json

import imageio.v3 as iio
import numpy as np
import pytest
import torch
import torchbearer

import bearer_gan
from bearer_gan import keys, recipe
from bearer_gan.cli.main import main as bearer_gan_main
from bearer_gan.cli.train import main as train_main


@pytest.fixture(scope='module')
def shuffled_digits():
    images, labels = bearer_gan.load_mnist('mnist-5k')
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
    return bearer_gan.to_unit_range(images[order]), labels[order]


class Recording(torch.nn.Module):
    """Wraps a conditional network and records the labels of every call."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.labels = inner, []

    def forward(self, inputs, labels):
        self.labels.append(labels.clone())
        return self.inner(inputs, labels)


def test_labels_travel_as_tuple_inputs_to_both_networks(shuffled_digits):
    images, labels = shuffled_digits[0][:64], shuffled_digits[1][:64]
    torch.manual_seed(0)
    generator, discriminator = bearer_gan.build_models('tutorial', num_classes=10)
    generator, discriminator = Recording(generator), Recording(discriminator)
    kinds = []

    @torchbearer.callbacks.on_step_training
    def inputs_are_tuples(state):
        kinds.append((type(state[keys.NOISE]), type(state[keys.DISCRIMINATOR_INPUT])))
    trial = bearer_gan.gan_trial(generator, discriminator, torch.optim.Adam(generator.parameters()),
                                 torch.optim.Adam(discriminator.parameters()), 100, num_classes=10, loss='wgan-gp',
                                 callbacks=[inputs_are_tuples], device='cpu', verbose=0)
    bearer_gan.run_gan(trial, bearer_gan.image_batches(images, labels, 16, seed=3), 2)
    assert len(generator.labels) == 2 and len(discriminator.labels) == 4  # G step and D step, twice
    fake_labels = generator.labels[-1]
    assert fake_labels.dtype == torch.int64 and 0 <= fake_labels.min() and fake_labels.max() < 10
    assert torch.equal(discriminator.labels[-2], fake_labels)  # the generator step shows D the fakes' labels
    real_labels = next(iter(bearer_gan.image_batches(images, labels, 16, seed=3, start_step=1)))[1]
    # the discriminator step: real labels, the fakes' labels, the real labels again for the interpolates
    assert torch.equal(discriminator.labels[-1], torch.cat([real_labels, fake_labels, real_labels]))
    assert kinds == [(tuple, tuple)] * 2


def test_the_fakes_labels_follow_fake_label_probabilities_where_state_holds_them(shuffled_digits):
    """Uniform over the classes by default; a federated owner's shard frequencies (here 2s and 5s) otherwise."""
    images, labels = shuffled_digits[0][:64], shuffled_digits[1][:64]
    drawn = {}
    for probabilities in (None, torch.tensor([0, 0, 0.25, 0, 0, 0.75, 0, 0, 0, 0])):
        torch.manual_seed(0)
        generator, discriminator = bearer_gan.build_models('tutorial', num_classes=10)
        generator = Recording(generator)
        trial = bearer_gan.gan_trial(generator, discriminator, torch.optim.Adam(generator.parameters()),
                                     torch.optim.Adam(discriminator.parameters()), 100, num_classes=10,
                                     device='cpu', verbose=0)
        trial.state[keys.FAKE_LABEL_PROBABILITIES] = probabilities
        bearer_gan.run_gan(trial, bearer_gan.image_batches(images, labels, 32, seed=3), 4)
        drawn[probabilities is None] = torch.cat(generator.labels)
    assert len(drawn[True].unique()) == 10
    assert drawn[False].unique().tolist() == [2, 5] and (drawn[False] == 5).sum() > (drawn[False] == 2).sum()


def test_the_fixed_noise_grid_puts_one_class_per_row(tmp_path):
    sampler = bearer_gan.FixedNoiseSampler(str(tmp_path), interval=10, nrow=6)
    state = {keys.LATENT_DIM: 4, keys.NUM_CLASSES: 3, torchbearer.DEVICE: 'cpu'}

    class ClassShades(torch.nn.Module):
        """Draws a flat image whose shade is its class: -1, 0 or 1."""

        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(()))

        def forward(self, z, labels):
            return (labels.float() - 1).view(-1, 1, 1, 1).expand(-1, 1, 8, 8) * self.scale

    state[torchbearer.MODEL] = ClassShades()
    sampler.on_start(state)
    noise, labels = state[keys.FIXED_NOISE]
    assert noise.shape == (18, 4) and labels.tolist() == [0] * 6 + [1] * 6 + [2] * 6
    grid = iio.imread(sampler.frames[0])
    # make_grid pads each 8 x 8 image by 2 pixels: the centre of row r is at 2 + 10 r + 4
    shades = [int(grid[2 + 10 * row + 4, 2 + 10 * column + 4].mean()) for row in range(3) for column in range(6)]
    assert shades == [0] * 6 + [128] * 6 + [255] * 6


def classify(images):
    return bearer_gan.load_classifier()(images).argmax(dim=1)


def test_a_short_conditional_run_draws_the_asked_for_digits_and_its_grid_rows_follow_the_classes(
        tmp_path, shuffled_digits):
    images, labels = shuffled_digits
    torch.manual_seed(0)
    generator, discriminator = bearer_gan.build_models('tutorial', num_classes=10)
    averaging = bearer_gan.GeneratorEMA(0.99)
    sampler = bearer_gan.FixedNoiseSampler(str(tmp_path), interval=1000, nrow=10)
    trial = bearer_gan.gan_trial(generator, discriminator, bearer_gan.gan_adam(generator.parameters()),
                                 bearer_gan.gan_adam(discriminator.parameters()), 100, num_classes=10,
                                 real_label=0.9, callbacks=[averaging, sampler], device='cpu', verbose=0)
    bearer_gan.run_gan(trial, bearer_gan.image_batches(images, labels, 64), 500)
    scores = bearer_gan.evaluate_generator(averaging.averaged.module, 100, n=1000, num_classes=10)
    assert scores['conditional_accuracy'] >= 0.9, scores['conditional_accuracy']
    z = torch.randn(100, 100, generator=torch.Generator().manual_seed(1))
    with bearer_gan.eval_mode(averaging.averaged.module), torch.no_grad():
        grid_images = averaging.averaged.module(*sampler.fixed_noise)
        # each class's samples still vary with z: pixel standard deviation measured at least 0.091 (mean 0.110);
        # at least 0.030 (mean 0.047) when the label embedding started at N(0, 1), the start of one image per class
        spread = [averaging.averaged.module(z, torch.full((100,), k)).std(dim=0).mean() for k in range(10)]
    assert min(spread) > 0.07, spread
    rows = classify(grid_images).view(10, 10)  # the last frame: row k asked for digit k
    assert [int(row.mode().values) for row in rows] == list(range(10))
    assert sampler.frame_steps == [0, 500]


# --- the command line -------------------------------------------------------------------------------------------

BASE = ['--dataset', 'mnist-5k', '--batch-size', '16', '--steps', '3', '--sample-interval', '3', '--device', 'cpu',
        '--no-eval']


@pytest.fixture(scope='module')
def conditional_run(tmp_path_factory):
    out = tmp_path_factory.mktemp('conditional') / 'run'
    train_main(BASE + ['--conditional', '--spectral-norm', '--loss', 'hinge', '--out', str(out)])
    return out


def test_a_conditional_run_records_its_classes(conditional_run):
    config = json.loads((conditional_run / 'config.json').read_text())
    assert config['conditional'] is True and config['spectral_norm'] is True
    saved = torch.load(conditional_run / 'generator.pt', weights_only=True)
    assert saved['num_classes'] == 10 and saved['spectral_norm'] is True
    grid = iio.imread(conditional_run / 'samples' / 'step_000003.png')
    assert grid.shape[0] == 2 + 10 * 30  # ten rows of 28 px images, one class each, padded by 2


@pytest.mark.parametrize('argv, expected', [
    (['--n', '5', '--class', '3'], [3, 3, 3, 3, 3]),
    (['--n', '5', '--labels', '0,1,2'], [0, 1, 2, 0, 1]),
    (['--n', '12'], list(range(10)) + [0, 1]),
])
def test_sample_writes_the_labels_beside_the_images(tmp_path, conditional_run, argv, expected):
    out = tmp_path / 'x.npy'
    bearer_gan_main(['sample', '--run', str(conditional_run), '--out', str(out)] + argv)
    assert np.load(out).shape == (len(expected), 28, 28)
    labels = np.load(tmp_path / 'x.labels.npy')
    assert labels.dtype == np.int64 and labels.tolist() == expected


def rejected(argv, capsys, main=bearer_gan_main):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and len(err.strip().splitlines()) == 1 and 'Traceback' not in err, err
    return err


def test_sample_refuses_classes_a_run_does_not_have(tmp_path, capsys, conditional_run):
    out = str(tmp_path / 'x.npy')
    assert 'classes 0 to 9; got 12' in rejected(['sample', '--run', str(conditional_run), '--out', out,
                                                 '--class', '12'], capsys)
    assert 'is not a comma-separated list' in rejected(['sample', '--run', str(conditional_run), '--out', out,
                                                        '--labels', '1,x'], capsys)
    assert 'not allowed with argument' in rejected(['sample', '--run', str(conditional_run), '--out', out,
                                                    '--class', '1', '--labels', '1'], capsys)
    unconditional = tmp_path / 'plain'
    train_main(BASE + ['--no-conditional', '--out', str(unconditional)])
    capsys.readouterr()  # the run's own output
    assert 'need a class-conditional run' in rejected(['sample', '--run', str(unconditional), '--out', out,
                                                      '--class', '1'], capsys)
    assert not (tmp_path / 'x.npy').exists()


def test_conditional_on_an_unlabelled_data_set_is_one_line(tmp_path, capsys, monkeypatch):
    images = torch.zeros(32, 1, 28, 28, dtype=torch.uint8)
    monkeypatch.setattr(recipe, 'make_data',
                        lambda config: bearer_gan.ImageData(images, None, None, 'my-photos'))
    err = rejected(BASE + ['--conditional', '--out', str(tmp_path / 'run')], capsys, main=train_main)
    assert "--conditional trains on class labels and 'my-photos' has none" in err
    assert not (tmp_path / 'run').exists()
