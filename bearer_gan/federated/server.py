"""The aggregator's side of a federation, without Flower: the global networks and what is kept of them.

:class:`FederatedServer` holds the global generator and discriminator, averages the owners'
networks each round (:func:`~bearer_gan.federated.aggregate.weighted_average`, weighted by shard
size; a :class:`~bearer_gan.federated.server_optimizer.ServerOptimizer` steps towards that average),
keeps a moving average of the global generator across rounds (the project's
:class:`~bearer_gan.callbacks.GeneratorEMA`, updated once per round), and after every round:

* scores the global generator and its average with the project's classifier (FID against the
  MNIST test set, classes covered, share of each digit) on the same fixed noise every round;
* writes ``samples/round_NNNN.png`` and ``samples/ema_round_NNNN.png`` (64 samples from fixed
  noise), ``progress.gif`` and ``progress_ema.gif`` (those grids across rounds), ``history.csv``
  (one row per round), ``generator.pt`` / ``discriminator.pt`` (the format of the main
  trainer, so ``python -m bearer_gan sample/evaluate --run OUT`` reads them) and
  ``checkpoint.pt``, from which a stopped federation resumes at the last finished round, and
  ``report.html`` (:mod:`bearer_gan.report.page`) with ``owners.json`` (each owner's share of the data).

The global networks are the pair the owners' recipe builds (:func:`bearer_gan.recipe.make_spec` on the
federation's data set: a conditional pair, spectral norm, ... as configured), seeded as a centralized run
with the same seed starts. A conditional generator is scored and drawn on balanced classes (one class per
row of the grids). Round 0 is the untrained starting point. Flower is wired to this class in
:mod:`bearer_gan.federated.app`.
"""
import csv
import math
import os
import time
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torchbearer

from bearer_gan import keys
from bearer_gan.callbacks import GeneratorEMA, SaveModels, write_gif
from bearer_gan.evaluation import default_reference_images, evaluate_generator, scorer_for
from bearer_gan.files import atomic_path, write_json
from bearer_gan.recipe import make_models, make_spec
from bearer_gan.report.page import write_report
from bearer_gan.sampling import class_rows, generate, save_grid

from .aggregate import aggregate
from .checks import RoundRejected, check_replies, non_finite
from .config import FederatedConfig
from .rounds import NETWORKS, Weights, federation_data, pack_weights, unpack_weights
from .server_optimizer import ServerOptimizer, parameter_keys
from .split import split_indices

__all__ = ['CHECKPOINT', 'PREVIOUS_CHECKPOINT', 'HISTORY_COLUMNS', 'CLIENT_METRICS', 'FederatedServer', 'scores_text',
           'load_federated_checkpoint', 'read_history']

CHECKPOINT = 'checkpoint.pt'
PREVIOUS_CHECKPOINT = 'checkpoint.prev.pt'
FORMAT = 'bearer_gan.federated/1'
#: Owner metrics averaged into each row (weighted by shard size): losses and D outputs over the round's steps.
CLIENT_METRICS = ('g_loss', 'd_loss', 'd_x', 'd_g_z')
_SCORES = ('fid', 'classes_covered', 'kl_from_uniform', 'mean_confidence') + tuple(f'share_{d}' for d in range(10))
#: The columns of ``history.csv``: one row per round, round 0 being the untrained networks.
HISTORY_COLUMNS = (('round', 'steps') + _SCORES + tuple(f'ema_{name}' for name in _SCORES)
                   + ('owners', 'failures', 'dropped', 'num_examples') + CLIENT_METRICS
                   + ('bytes_to_owners', 'bytes_from_owners', 'round_seconds', 'eval_seconds'))
_WHOLE_NUMBERS = ('round', 'steps', 'classes_covered', 'ema_classes_covered', 'owners', 'failures', 'dropped',
                  'num_examples',
                  'bytes_to_owners', 'bytes_from_owners')


def _scores(result: Mapping[str, object], prefix: str = '') -> Dict[str, float]:
    """The history's scores of one generator; what its scorer did not measure (FID without Inception, the class
    scores without a classifier) stays out, and is an empty cell."""
    row = {f'{prefix}{name}': result[name] for name in ('fid', 'classes_covered', 'kl_from_uniform', 'mean_confidence')
           if result.get(name) is not None}
    row.update({f'{prefix}share_{digit}': share for digit, share in enumerate(result.get('class_shares', ()))})
    return row


def load_federated_checkpoint(out: str) -> Tuple[dict, str]:
    """The newest readable server checkpoint in ``out`` (``checkpoint.pt``, else ``checkpoint.prev.pt``).

    Raises:
        FileNotFoundError: when neither exists or can be read (the message names both).
    """
    problems = []
    for name in (CHECKPOINT, PREVIOUS_CHECKPOINT):
        path = os.path.join(out, name)
        try:
            checkpoint = torch.load(path, map_location='cpu', weights_only=True)
            if not isinstance(checkpoint, dict) or checkpoint.get('format') != FORMAT:
                raise ValueError('not a federated bearer_gan checkpoint')
            return checkpoint, path
        except FileNotFoundError:
            problems.append(f'{path} does not exist')
        except Exception as error:  # truncated or foreign: try the previous one
            problems.append(f'{path} is unreadable ({type(error).__name__})')
    raise FileNotFoundError('no usable federated checkpoint: ' + '; '.join(problems))


def read_history(path: str) -> List[Dict[str, float]]:
    """Rows of a ``history.csv`` as numbers (missing values as NaN)."""
    with open(path, newline='') as handle:
        return [{key: float(value) if value != '' else math.nan for key, value in row.items()}
                for row in csv.DictReader(handle)]


def scores_text(row: Mapping[str, float], prefix: str = '') -> str:
    """``FID 61.2, 10/10 classes`` from a history row (FID skipped, no classes: what the scorer could not measure)."""
    fid, covered = row[f'{prefix}fid'], row[f'{prefix}classes_covered']
    text = 'FID skipped' if math.isnan(fid) else f'FID {fid:.1f}'
    classes = sum(1 for key in row if key.startswith(f'{prefix}share_'))  # the classifier's: a share column each
    return text if math.isnan(covered) else f'{text}, {int(covered)}/{classes} classes'


class FederatedServer:
    """The global networks of one federated run, their evaluation and everything written to ``config.out``.

    Args:
        config: the run's settings.
        device: where the networks are evaluated; ``config.device`` or the default device when None.
        log: called with one line per finished round.
    """

    def __init__(self, config: FederatedConfig, device: Optional[str] = None, log: Callable[[str], None] = print):
        self.config, self.log = config, log
        self.recipe = config.recipe(device or config.device or None)  # what the owners train, on this device
        self.device, self.noise_size = self.recipe.device, self.recipe.latent_dim
        self.spec = make_spec(self.recipe, federation_data(config.dataset, config.data_dir))
        self.num_classes = self.spec['num_classes']  # None unless conditional
        with torch.random.fork_rng():  # the caller's random state (CPU and CUDA) stays as it was
            # the initial networks of a centralized run with this seed (make_models seeds torch)
            self.generator, self.discriminator = make_models(self.recipe, self.spec)[:2]
        self.generator.to(self.device)
        self.weights: Weights = pack_weights(self.generator, self.discriminator)
        # parameters take the server optimizer's step, buffers the plain average
        self.optimizer = ServerOptimizer.from_config(
            config, parameter_keys(dict(zip(NETWORKS, (self.generator, self.discriminator)))))
        self.state = {torchbearer.MODEL: self.generator, keys.DISCRIMINATOR: self.discriminator,
                      keys.LATENT_DIM: self.noise_size}
        self.ema = GeneratorEMA(config.ema_decay) if config.ema_decay > 0 else None
        self.rows: List[Dict[str, float]] = []
        self._scorer = None

    @property
    def round(self) -> int:
        """The last finished round (0 before any)."""
        return int(self.rows[-1]['round']) if self.rows else 0

    @property
    def finished(self) -> bool:
        return self.round >= self.config.rounds

    def path(self, *names: str) -> str:
        return os.path.join(self.config.out, *names)

    def start(self, resume: bool = False) -> Weights:
        """Begin the run, or continue it from its checkpoint; returns the global weights to send out.

        A fresh start scores and draws the untrained networks as round 0.

        Raises:
            FileExistsError: when starting afresh in a folder that holds a federation's checkpoint.
            FileNotFoundError: when resuming without a readable checkpoint.
            ValueError: when the checkpoint was written with a different configuration.
        """
        os.makedirs(self.path('samples'), exist_ok=True)
        if resume:
            checkpoint, _ = load_federated_checkpoint(self.config.out)
            saved = FederatedConfig(**checkpoint['config'])
            old, new = saved.identity(), self.config.identity()
            if old != new:
                changed = sorted(name for name, value in old.items() if new[name] != value)
                raise ValueError(f'{self.config.out!r} was written with different settings: {", ".join(changed)}')
            self._set_global(checkpoint['weights'], update_ema=False)
            self.optimizer.load_state_dict(checkpoint.get('server_optimizer'))  # None before server optimizers
            if self.ema is not None:
                self.ema.load_state_dict(checkpoint['ema'])
                self.ema.on_start(self.state)
            # rows of an older version lack the newer columns
            self.rows = [{**dict.fromkeys(HISTORY_COLUMNS, math.nan), **row} for row in checkpoint['rows']]
            return self.weights
        if any(os.path.exists(self.path(name)) for name in (CHECKPOINT, PREVIOUS_CHECKPOINT)):
            raise FileExistsError(f'{self.config.out!r} already holds a federated run; resume it or choose another folder')
        write_json(self.path('config.json'), self.config.to_dict())
        self._write_owners()
        if self.ema is not None:
            self.ema.on_start(self.state)
        self._record(0, {}, time.perf_counter())
        return self.weights

    def complete_round(self, server_round: int, results: Sequence[Tuple[Mapping[str, torch.Tensor], Mapping[str, float]]],
                       failures: int = 0, bytes_to_owners: int = 0, bytes_from_owners: int = 0,
                       round_seconds: float = math.nan) -> Weights:
        """Average the owners' networks, step the server optimizer from the global ones towards that average
        (``fedavg``: the average itself), then score, draw, write and checkpoint the new global networks.

        Args:
            server_round: the round that finished (1, 2, ...).
            results: ``(weights, metrics)`` of every owner that replied; ``metrics['num-examples']`` is its weight.
            failures: owners that were asked but did not reply with weights.
            bytes_to_owners: payload bytes sent to the owners this round.
            bytes_from_owners: payload bytes received from them.
            round_seconds: wall time of the round (sending, local training, receiving).

        Returns:
            the new global weights.

        Every reply is checked first (:func:`~bearer_gan.federated.checks.check_replies`); one that fails is
        dropped with a log line naming its owner and the reason, and counted in ``dropped``. The rest are
        combined by ``config.aggregation``.

        Raises:
            RuntimeError: when no owner replied (the round cannot be averaged).
            RoundRejected: when fewer than ``config.min_owners`` replies pass the checks, or the new global
                networks are not finite; nothing of the round is kept, the last checkpoint is the previous round's.
        """
        started = time.perf_counter()
        if not results:
            raise RuntimeError(f'round {server_round}: none of the owners replied with weights ({failures} failed)')
        results, dropped = self._checked(server_round, results)
        counts = [float(metrics['num-examples']) for _, metrics in results]
        average = aggregate([weights for weights, _ in results], counts, self.config.aggregation,
                            self.config.trim_fraction)
        self._set_global(self.optimizer.step(self.weights, average))  # fedavg: the average itself
        total = sum(counts)
        row = {'owners': len(results), 'failures': failures, 'dropped': dropped, 'num_examples': total,
               'bytes_to_owners': bytes_to_owners, 'bytes_from_owners': bytes_from_owners, 'round_seconds': round_seconds}
        row.update({name: sum(metrics[name] * count for (_, metrics), count in zip(results, counts)) / total
                    for name in CLIENT_METRICS})
        self._record(server_round, row, started)
        return self.weights

    def _checked(self, server_round: int, results: Sequence[Tuple[Mapping[str, torch.Tensor], Mapping[str, float]]]
                 ) -> Tuple[List[Tuple[Weights, Mapping[str, float]]], int]:
        """The replies that pass the checks (their tensors in the global networks' order), and how many did not."""
        reasons = check_replies([weights for weights, _ in results], self.weights,
                                [metrics.get('num-examples', math.nan) for _, metrics in results])
        kept = []
        for index, ((weights, metrics), reason) in enumerate(zip(results, reasons)):
            if reason is None:
                kept.append(({key: weights[key] for key in self.weights}, metrics))
            else:
                who = f"owner {metrics['owner']}" if 'owner' in metrics else f'reply {index}'
                self.log(f'round {server_round}: dropped the reply of {who}: {reason}')
        if len(kept) < self.config.min_owners:
            raise RoundRejected(f'round {server_round}: {len(kept)} of {len(results)} replies passed the checks, fewer '
                                f'than min-owners ({self.config.min_owners}); the run stops, and round {self.round} '
                                f'is the last one checkpointed in {self.config.out}')
        return kept, len(results) - len(kept)

    def _set_global(self, weights: Mapping[str, torch.Tensor], update_ema: bool = True) -> None:
        problem = non_finite(weights)
        if problem:  # nothing that is not finite is ever loaded, so never written
            raise RoundRejected(f'the new global networks are not finite ({problem}); the run stops, and round '
                                f'{self.round} is the last one checkpointed in {self.config.out}')
        unpack_weights(weights, self.generator, self.discriminator)
        self.weights = pack_weights(self.generator, self.discriminator)
        if update_ema and self.ema is not None:
            self.ema.on_step_training(self.state)

    @property
    def scorer(self):
        """The data set's scorer, loaded once, as :func:`~bearer_gan.evaluate_run` loads it: its shipped
        classifier's features and test-set statistics (the test set looked for in ``data_dir`` too), or for other
        data (a folder) Inception's against the training images, cached in ``data_dir``."""
        if self._scorer is None:
            training = {'dataset': self.config.dataset, 'data_dir': self.config.data_dir}
            self._scorer = scorer_for(self.config.dataset, self.device, cache_dir=self.config.data_dir,
                                      reference_images=lambda: default_reference_images(training))
        return self._scorer

    def _record(self, server_round: int, row: Dict[str, float], started: float) -> None:
        config = self.config
        row = dict(row, round=server_round, steps=server_round * config.local_steps)
        networks = [('', self.generator)] + ([('ema_', self.ema.averaged.module)] if self.ema is not None else [])
        labels = None if self.num_classes is None else class_rows(self.num_classes, 8)  # a row per class
        for prefix, generator in networks:
            scores = evaluate_generator(generator, self.noise_size, n=config.eval_samples, device=self.device,
                                        seed=config.seed, scorer=self.scorer, num_classes=self.num_classes)
            row.update(_scores(scores, prefix))
            grid = generate(generator, self.noise_size, 64 if labels is None else len(labels), seed=config.seed,
                            device=self.device, labels=labels)
            save_grid(grid, self.path('samples', f'{prefix}round_{server_round:04d}.png'))
        self.rows.append({column: float(row.get(column, math.nan)) for column in HISTORY_COLUMNS})
        rounds = [int(past['round']) for past in self.rows]
        for prefix, _ in networks:
            frames = [self.path('samples', f'{prefix}round_{number:04d}.png') for number in rounds]
            write_gif(frames, [number * config.local_steps for number in rounds],
                      self.path(f'progress{"_" + prefix.rstrip("_") if prefix else ""}.gif'))
        SaveModels(config.out, self.spec).on_end(self.state)  # the average when there is one
        self.rows[-1]['eval_seconds'] = time.perf_counter() - started
        self._write_history()
        self._checkpoint()
        write_report(self.config.out)
        self.log(self.describe(self.rows[-1]))

    def _write_owners(self) -> None:
        """``owners.json``: each owner's number of images and images per class, as the split cuts the data set
        (the same cut every owner makes of its own copy), for ``report.html``."""
        data = federation_data(self.config.dataset, self.config.data_dir)
        labels = data.labels if data.labels is not None else torch.zeros(len(data), dtype=torch.int64)
        shards = split_indices(labels, self.config.owners, self.config.split, self.recipe.seed)
        classes = int(labels.max()) + 1
        owners = [{'owner': owner, 'images': len(shard),
                   'class_counts': torch.bincount(labels[shard], minlength=classes).tolist()}
                  for owner, shard in enumerate(shards)]
        write_json(self.path('owners.json'), {'split': self.config.split, 'owners': owners})

    def describe(self, row: Mapping[str, float]) -> str:
        """One line about a finished round."""
        text = f"round {int(row['round'])}/{self.config.rounds}: {scores_text(row)}"
        if self.ema is not None:
            text += f"; average {scores_text(row, 'ema_')}"
        if not math.isnan(row['g_loss']):
            text += (f"; owners' g_loss {row['g_loss']:.3f}, d_loss {row['d_loss']:.3f}, "
                     f"D(x) {row['d_x']:.3f}, D(G(z)) {row['d_g_z']:.3f}")
        return text

    def _write_history(self) -> None:
        with atomic_path(self.path('history.csv')) as temporary, open(temporary, 'w', newline='') as handle:
            writer = csv.writer(handle)
            writer.writerow(HISTORY_COLUMNS)
            for row in self.rows:
                writer.writerow(['' if math.isnan(row[column]) else int(row[column]) if column in _WHOLE_NUMBERS
                                 else repr(row[column]) for column in HISTORY_COLUMNS])

    def _checkpoint(self) -> None:
        checkpoint = {'format': FORMAT, 'round': self.round, 'config': self.config.to_dict(), 'weights': self.weights,
                      'ema': self.ema.state_dict() if self.ema is not None else None, 'rows': self.rows,
                      'server_optimizer': self.optimizer.state_dict()}
        path = self.path(CHECKPOINT)
        with atomic_path(path) as temporary:
            torch.save(checkpoint, temporary)
            if os.path.exists(path):
                os.replace(path, self.path(PREVIOUS_CHECKPOINT))
