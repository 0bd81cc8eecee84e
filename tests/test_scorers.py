"""Tests of the scorer chosen per data set, and of the Inception-v3 path with a small stand-in network.

No test downloads anything: the Inception plumbing (uint8 RGB input, caching of the reference
statistics, FID) runs with a stand-in feature network made here, and the offline and
missing-extra paths are simulated.
"""
import json
import sys
import urllib.error
import warnings

import pytest
import torch
import torch.nn.functional as F
import torchbearer
from torch import nn

from bearer_gan import SaveModels, build_models, keys
from bearer_gan.evaluation import FidEvaluator, evaluate_images, evaluate_run, fid, scorer_for
from bearer_gan.evaluation.inception import InceptionFeatures, load_inception
from bearer_gan.evaluation.scorers import Scorer, inception_scorer
from conftest import require_module


class StandInExtractor(nn.Module):
    """Takes what torch-fidelity's Inception takes, ``uint8`` ``(N, 3, H, W)`` of any size, and returns a tuple
    ``((N, 48),)`` of pooled colours; remembers every input."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))  # a state_dict to hash
        self.inputs = []

    def forward(self, pixels):
        assert pixels.dtype == torch.uint8 and pixels.dim() == 4 and pixels.shape[1] == 3
        self.inputs.append(pixels.clone())
        return (F.adaptive_avg_pool2d(pixels.float() / 255, 4).flatten(1) * self.scale,)


def stand_in():
    return InceptionFeatures(StandInExtractor())


def blobs(n, channels=3, size=32, seed=0):
    """``uint8`` ``(n, channels, size, size)``: smooth random images, so that pooled features vary."""
    low = torch.rand(n, channels, 4, 4, generator=torch.Generator().manual_seed(seed))
    return (F.interpolate(low, size=(size, size), mode='bilinear', align_corners=False) * 255).round().to(torch.uint8)


def unit(images):
    return images.float() / 127.5 - 1


# --- which scorer -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('dataset, name', [('mnist', 'mnist'), ('mnist-5k', 'mnist'),
                                           ('fashion-mnist', 'fashion-mnist')])
def test_datasets_with_a_shipped_classifier_get_it(dataset, name):
    scorer = scorer_for(dataset)
    assert scorer.name == name and scorer.num_classes == 10 and scorer.image_shape == (1, 28, 28)
    assert scorer.head is not None and scorer.skipped is None


@pytest.mark.parametrize('dataset', ['cifar10', '/some/folder/of/images'])
def test_every_other_dataset_gets_inception(dataset):
    scorer = scorer_for(dataset, reference_images=blobs(20), network=stand_in())
    assert scorer.name == 'inception' and scorer.head is None and scorer.image_shape is None
    assert scorer.reference[0].shape == (48,) and scorer.skipped is None


# --- the Inception path with a stand-in network -------------------------------------------------------------------

def test_inception_features_feed_uint8_rgb_of_the_original_pixels():
    network, grey, rgb = stand_in(), blobs(4, channels=1), blobs(4, channels=3, size=64, seed=1)
    network(unit(grey))
    network(unit(rgb))
    first, second = network.extractor.inputs
    assert torch.equal(first, grey.expand(-1, 3, -1, -1))  # grey repeated into three channels, values exact
    assert torch.equal(second, rgb)  # no resizing here: the extractor resizes to 299 itself


def test_inception_features_refuse_two_channels():
    with pytest.raises(ValueError, match='1 or 3'):
        stand_in()(torch.zeros(2, 2, 8, 8))


def test_a_set_against_itself_scores_zero_and_another_set_more():
    images = blobs(300)
    scorer = inception_scorer(images, network=stand_in())
    assert fid(unit(images), scorer) == pytest.approx(0.0, abs=1e-6)
    same_kind = fid(unit(blobs(300, seed=1)), scorer)  # another sample of the same distribution
    darker = fid(unit(blobs(300, seed=1)) * 0.5 - 0.5, scorer)  # half the brightness and contrast
    assert 0 < same_kind < darker / 10


@pytest.mark.parametrize('channels, size', [(1, 32), (3, 32), (1, 64), (3, 64)])
def test_grey_and_rgb_at_32_and_64_pixels_are_scored(channels, size):
    scorer = inception_scorer(blobs(50, channels, size), network=stand_in())
    result = evaluate_images(unit(blobs(50, channels, size, seed=2)), scorer)
    assert result['scorer'] == 'inception' and result['n'] == 50 and 0 < result['fid'] < 1e3
    assert 'class_shares' not in result  # no classifier for these data sets
    json.dumps(result)


def test_the_reference_statistics_are_cached_by_content(tmp_path):
    images = blobs(40)
    network = stand_in()
    first = inception_scorer(images, cache_dir=str(tmp_path / 'cache'), network=network)
    calls = len(network.extractor.inputs)
    assert calls > 0 and len(list((tmp_path / 'cache').glob('fid_reference_*.npz'))) == 1
    second = inception_scorer(lambda: images.clone(), cache_dir=str(tmp_path / 'cache'), network=network)
    assert len(network.extractor.inputs) == calls  # a cache hit: the network never saw the images again
    torch.testing.assert_close(torch.from_numpy(second.reference[1]), torch.from_numpy(first.reference[1]))
    changed = images.clone()
    changed[0, 0, 0, 0] ^= 1
    inception_scorer(changed, cache_dir=str(tmp_path / 'cache'), network=network)
    assert len(network.extractor.inputs) > calls  # one changed pixel: a miss
    other_network = stand_in()
    other_network.extractor.scale.data.fill_(2.0)
    inception_scorer(images, cache_dir=str(tmp_path / 'cache'), network=other_network)
    assert len(list((tmp_path / 'cache').glob('fid_reference_*.npz'))) == 3  # another network: another file


# --- precision, recall, density, coverage and KID on the same features -------------------------------------------

REFERENCE_KEYS = ('precision', 'recall', 'density', 'coverage', 'kid', 'kid_std')


def test_a_set_against_itself_has_full_precision_recall_and_coverage():
    images = blobs(200)
    result = evaluate_images(unit(images), inception_scorer(images, network=stand_in()))
    assert result['precision'] == result['recall'] == result['coverage'] == 1.0
    assert result['density'] == pytest.approx(4 / 3, abs=0.05)  # each ball holds its centre and 3 neighbours
    # Unbiased: one set against itself scores 2 (mean k(x_i, x_j), i != j, minus mean k(x_i, x_i)) / n, just below 0.
    assert -0.01 < result['kid'] < 0 and 'reference_features_skipped' not in result
    json.dumps(result)


def test_darker_images_keep_precision_but_lose_recall_and_coverage():
    scorer = inception_scorer(blobs(300), network=stand_in())
    same_kind = evaluate_images(unit(blobs(300, seed=1)), scorer)
    darker = evaluate_images(unit(blobs(300, seed=1)) * 0.5 - 0.5, scorer)
    # Measured 0.85, 0.82, 1.00, 0.90 for another sample and 0.74, 0.00, 0.38, 0.03 for darker images: these
    # look like the dark part of the real set (precision), but draw none of the rest (recall, coverage).
    assert same_kind['precision'] > 0.7 and same_kind['recall'] > 0.7 and same_kind['coverage'] > 0.8
    assert darker['precision'] > 0.5 and darker['recall'] < 0.05 and darker['coverage'] < 0.1
    assert darker['density'] < same_kind['density'] / 2
    assert abs(same_kind['kid']) < 0.01 < 0.1 < darker['kid']  # measured -0.00004 and 0.31


def test_the_reference_features_are_computed_once_and_cached_by_content(tmp_path):
    images, network = blobs(60), stand_in()
    scorer = inception_scorer(images, cache_dir=str(tmp_path), network=network)
    before = len(network.extractor.inputs)  # the statistics' pass
    first = evaluate_images(unit(blobs(20, seed=1)), scorer)
    after_first = len(network.extractor.inputs)
    assert after_first > before + 1  # the reference features' pass, then the samples'
    assert len(list(tmp_path.glob('fid_features_*.npy'))) == 1
    assert evaluate_images(unit(blobs(20, seed=1)), scorer) == first
    assert len(network.extractor.inputs) == after_first + 1  # in memory: only the samples this time
    again = inception_scorer(images.clone(), cache_dir=str(tmp_path), network=network)
    assert evaluate_images(unit(blobs(20, seed=1)), again) == first
    assert len(network.extractor.inputs) == after_first + 2  # both read from the files: only the samples


def test_without_real_features_the_new_scores_are_none_with_the_reason():
    def not_there():
        raise FileNotFoundError('no test set in /nowhere\nsecond line')

    scorer = inception_scorer(blobs(40), network=stand_in())
    scorer.real_features = not_there
    result = evaluate_images(unit(blobs(40, seed=1)), scorer)
    assert result['fid'] > 0 and all(result[key] is None for key in REFERENCE_KEYS)
    assert result['reference_features_skipped'] == 'no test set in /nowhere'
    json.dumps(result)


def test_too_few_samples_for_the_balls_give_none_with_the_reason():
    result = evaluate_images(unit(blobs(3, seed=1)), inception_scorer(blobs(40), network=stand_in()))
    assert result['fid'] is not None and all(result[key] is None for key in REFERENCE_KEYS)
    assert 'k + 1 = 4' in result['reference_features_skipped']


def test_a_skipped_scorer_reports_the_new_scores_as_skipped_too():
    result = skipped_score(Scorer('inception', skipped='no extra'))
    assert all(result[key] is None for key in REFERENCE_KEYS) and result['reference_features_skipped'] == 'no extra'


def test_a_folder_run_reports_the_new_scores(tmp_path, monkeypatch):
    from bearer_gan.evaluation import evaluate, scorers
    monkeypatch.setattr(scorers, 'load_inception', lambda device: stand_in())
    generator = nn.Sequential(nn.Linear(16, 3 * 32 * 32), nn.Tanh(), nn.Unflatten(1, (3, 32, 32)))
    spec = {'model': 'linear', 'latent_dim': 16, 'image_shape': [3, 32, 32], 'num_classes': None}
    monkeypatch.setattr(evaluate, 'load_generator', lambda run_dir, device: (generator, spec))
    (tmp_path / 'config.json').write_text(json.dumps({'dataset': str(tmp_path / 'images'),
                                                      'data_dir': str(tmp_path / 'data')}))
    result = evaluate_run(str(tmp_path), n=50, reference_images=lambda config: blobs(80))
    assert result['scorer'] == 'inception' and 0 <= result['precision'] <= 1 and 0 <= result['coverage'] <= 1
    assert result['kid'] > 0 and result['kid_std'] >= 0
    assert len(list((tmp_path / 'data').glob('fid_features_*.npy'))) == 1


# --- when Inception cannot be had -----------------------------------------------------------------------------------

def skipped_score(scorer, n=10):
    return evaluate_images(unit(blobs(n)), scorer)


def test_without_the_extra_fid_is_skipped_with_one_warning(monkeypatch):
    monkeypatch.setitem(sys.modules, 'torch_fidelity', None)  # import torch_fidelity now raises ImportError
    with pytest.warns(UserWarning) as caught:
        scorer = scorer_for('cifar10', reference_images=blobs(20))
    assert len(caught) == 1 and 'torch-fidelity' in str(caught[0].message)
    assert "pip install 'bearer_gan[inception]'" in str(caught[0].message)
    result = skipped_score(scorer)
    assert result['fid'] is None and 'torch-fidelity' in result['fid_skipped'] and '\n' not in result['fid_skipped']


def test_offline_fid_is_skipped_with_one_warning(monkeypatch):
    require_module('torch_fidelity', extra='inception')
    from torch_fidelity import feature_extractor_inceptionv3 as extractor

    def offline(*args, **kwargs):
        print('Downloading: ...', file=sys.stderr)  # as torch.hub does before it fails
        raise urllib.error.URLError('[Errno -2] Name or service not known')

    monkeypatch.setattr(extractor, 'load_state_dict_from_url', offline)
    with pytest.warns(UserWarning) as caught:
        scorer = scorer_for('cifar10', reference_images=blobs(20))
    assert len(caught) == 1 and 'Inception-v3 weights' in str(caught[0].message)
    assert skipped_score(scorer)['fid_skipped'] == scorer.skipped and 'URLError' in scorer.skipped


def test_load_inception_names_a_missing_weights_file(tmp_path):
    require_module('torch_fidelity', extra='inception')
    with pytest.raises(Exception, match='could not be loaded'):
        load_inception(weights_path=str(tmp_path / 'missing.pth'))


def test_missing_reference_images_skip_fid_with_the_reason():
    def not_there():
        raise FileNotFoundError('no images in /nowhere')

    with pytest.warns(UserWarning, match='no images in /nowhere'):
        scorer = scorer_for('/nowhere', reference_images=not_there, network=stand_in())
    assert scorer.skipped == 'no images in /nowhere'


def test_a_cifar_run_evaluated_without_the_extra_says_why_fid_was_skipped(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'torch_fidelity', None)
    generator, discriminator = build_models('tutorial')
    SaveModels(str(tmp_path), 'tutorial').on_end(
        {torchbearer.MODEL: generator, keys.DISCRIMINATOR: discriminator, keys.LATENT_DIM: 100})
    (tmp_path / 'config.json').write_text(json.dumps({'dataset': 'cifar10', 'data_dir': str(tmp_path / 'data')}))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        result = evaluate_run(str(tmp_path), n=20)
    assert len(caught) == 1
    assert result['fid'] is None and result['fid_skipped'] and result['dataset'] == 'cifar10'
    json.dumps(result)


def test_fid_evaluator_runs_through_a_skipped_scorer():
    evaluator = FidEvaluator(interval=1, num_samples=10, scorer=Scorer('inception', skipped='no extra'))
    state = {torchbearer.MODEL: build_models('tutorial')[0], keys.LATENT_DIM: 100, keys.STEP: 1,
             torchbearer.METRICS: {}, torchbearer.DEVICE: 'cpu'}
    evaluator.on_step_training(state)
    assert evaluator.rows == [(1, None, None, None)] and state[torchbearer.METRICS] == {}


def test_fid_evaluator_scores_an_rgb_generator_with_inception():
    generator = nn.Sequential(nn.Linear(16, 3 * 32 * 32), nn.Tanh(), nn.Unflatten(1, (3, 32, 32)))
    evaluator = FidEvaluator(interval=1, num_samples=40, scorer=inception_scorer(blobs(40), network=stand_in()))
    state = {torchbearer.MODEL: generator, keys.LATENT_DIM: 16, keys.STEP: 1, torchbearer.METRICS: {},
             torchbearer.DEVICE: 'cpu'}
    evaluator.on_step_training(state)
    (step, score, covered, kl), = evaluator.rows
    assert step == 1 and score > 0 and covered is None and kl is None
    assert state[torchbearer.METRICS] == {'fid': score}
