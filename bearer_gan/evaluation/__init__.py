"""Evaluation that follows the data: FID, precision and recall, KID, class coverage and conditional accuracy.

* :mod:`~bearer_gan.evaluation.fid`: the Fréchet distance and feature statistics.
* :mod:`~bearer_gan.evaluation.manifold`: precision, recall, density and coverage from k-NN balls.
* :mod:`~bearer_gan.evaluation.kid`: the Kernel Inception Distance (unbiased MMD, cubic kernel).
* :mod:`~bearer_gan.evaluation.classifiers`: the shipped MNIST and Fashion-MNIST classifiers.
* :mod:`~bearer_gan.evaluation.inception`: Inception-v3 features (the optional ``inception`` extra).
* :mod:`~bearer_gan.evaluation.references`: training-set statistics, computed once and cached.
* :mod:`~bearer_gan.evaluation.scorers`: which scorer serves which data set.
* :mod:`~bearer_gan.evaluation.coverage`: class shares, coverage, KL, conditional accuracy.
* :mod:`~bearer_gan.evaluation.testsets`: the official MNIST and Fashion-MNIST files.
* :mod:`~bearer_gan.evaluation.evaluate`: score images, a generator, a saved run.
* :mod:`~bearer_gan.evaluation.callback`: :class:`FidEvaluator`, the same scores during training.
"""
from .callback import FidEvaluator
from .classifiers import (CLASSIFIER_PATH, CLASSIFIERS, FEATURE_DIM, REFERENCE_STATS_PATH, LeNetClassifier,
                          MnistClassifier, load_classifier, load_reference_statistics)
from .coverage import COVERED_SHARE, conditional_accuracy
from .evaluate import (class_coverage, default_reference_images, evaluate_generator, evaluate_images, evaluate_run,
                       fid, read_run_config, score_summary)
from .fid import FidUnavailable, feature_statistics, frechet_distance
from .inception import load_inception
from .kid import kernel_distance, mmd2_unbiased, polynomial_kernel
from .manifold import MANIFOLD_K, density_coverage, knn_radii, manifold_metrics, precision_recall
from .scorers import Scorer, scorer_for
from .testsets import MNIST_TEST_ENV, load_fashion_mnist, load_mnist_test

__all__ = [
    'FidEvaluator', 'score_summary',
    'CLASSIFIER_PATH', 'CLASSIFIERS', 'FEATURE_DIM', 'REFERENCE_STATS_PATH', 'LeNetClassifier', 'MnistClassifier',
    'load_classifier', 'load_reference_statistics',
    'COVERED_SHARE', 'conditional_accuracy',
    'class_coverage', 'default_reference_images', 'evaluate_generator', 'evaluate_images', 'evaluate_run', 'fid',
    'read_run_config',
    'FidUnavailable', 'feature_statistics', 'frechet_distance',
    'load_inception',
    'kernel_distance', 'mmd2_unbiased', 'polynomial_kernel',
    'MANIFOLD_K', 'density_coverage', 'knn_radii', 'manifold_metrics', 'precision_recall',
    'Scorer', 'scorer_for',
    'MNIST_TEST_ENV', 'load_fashion_mnist', 'load_mnist_test',
]
