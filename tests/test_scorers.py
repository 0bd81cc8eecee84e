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
    extractor = pytest.importorskip('torch_fidelity.feature_extractor_inceptionv3')

    def offline(*args, **kwargs):
        print('Downloading: ...', file=sys.stderr)  # as torch.hub does before it fails
        raise urllib.error.URLError('[Errno -2] Name or service not known')

    monkeypatch.setattr(extractor, 'load_state_dict_from_url', offline)
    with pytest.warns(UserWarning) as caught:
        scorer = scorer_for('cifar10', reference_images=blobs(20))
    assert len(caught) == 1 and 'Inception-v3 weights' in str(caught[0].message)
    assert skipped_score(scorer)['fid_skipped'] == scorer.skipped and 'URLError' in scorer.skipped


def test_load_inception_names_a_missing_weights_file(tmp_path):
    pytest.importorskip('torch_fidelity')
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
