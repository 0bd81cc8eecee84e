"""``config.json``: the format a run's configuration is recorded in, how older ones are read, and what makes
two runs the same.

A run's ``config.json`` records every training flag it used (:data:`~bearer_gan.cli.args.DEFAULTS`),
the device, the format number :data:`CONFIG_FORMAT` and what the run trained on (``data``, from
:func:`~bearer_gan.data.data_fingerprint`). Configurations grow: a flag added later is missing
from the ``config.json`` of a run made before it, and :data:`ADDED_KEYS` says what such a run
trained with, so :func:`upgrade_config` can fill it in and the run still resumes.
"""
from typing import Any, Dict, Mapping, Tuple

from ..losses import LOSSES
from ..models import DEFAULT_LATENT_DIM

__all__ = ['CONFIG_FORMAT', 'ADDED_KEYS', 'BCE_REAL_LABEL', 'RESUME_FLAGS', 'DISPLAY_FLAGS', 'upgrade_config', 'resolve_config',
           'run_identity', 'same_run', 'run_difference']

#: The format of the ``config.json`` this version writes; one without a ``config_format`` entry is format 1.
CONFIG_FORMAT = 3

#: ``{key: (format, value)}``: a ``config.json`` older than ``format`` may lack ``key``, and such a run
#: trained with ``value``. Add a row for every new flag (``format`` = the one that first always has it).
ADDED_KEYS: Dict[str, Tuple[int, Any]] = {
    'compile': (2, False),        # --compile: runs before it trained eagerly
    'log_interval': (2, 100),     # --log-interval: display only
    'tensorboard': (2, False),    # --tensorboard: runs before it wrote no TensorBoard logs
    'image_size': (2, None),      # --image-size, --channels, --data-memory, --data-workers: runs before
    'channels': (2, None),        # folders of images trained on named data sets at their own size,
    'data_memory': (2, None),     # held in memory
    'data_workers': (2, None),
    'loss': (2, 'bce'),           # the loss family: runs before it trained bce at one learning rate,
    'lr_g': (2, None),            # constant, with Adam's beta2 0.999, unconditional, no penalty
    'lr_d': (2, None),
    'beta2': (2, 0.999),
    'lr_schedule': (2, 'constant'),
    'gp_weight': (2, None),
    'r1_gamma': (2, 0.0),
    'r1_interval': (2, 1),
    'conditional': (2, False),
    'spectral_norm': (2, False),
    'no_sync_bn': (3, False),     # --no-sync-bn: runs before it used SyncBatchNorm under torchrun on GPUs
}

#: The one-sided label smoothing a ``bce`` run uses when ``--real-label`` is not given.
BCE_REAL_LABEL = 0.9

#: Flags ``--resume RUN`` accepts besides itself: they change how far the run goes, where it runs
#: and what it shows, not what it trains (config keys, ``no_eval`` is not one).
RESUME_FLAGS = ('steps', 'device', 'no_eval', 'sample_interval', 'log_interval')

#: Flags that only change what this invocation prints (they are never recorded, and ``--resume`` takes them too).
DISPLAY_FLAGS = ('quiet', 'preview')

# Keys that do not make two runs different: where it runs, the format, and what the data turned out to be.
_NOT_IDENTITY = ('device', 'config_format', 'data')


def resolve_config(config: Mapping[str, Any]) -> Dict[str, Any]:
    """The configuration with the values that default to others filled in, as the run uses them:
    ``latent_dim`` (None takes the model's own), both learning rates (``lr``), the ``bce`` loss's
    real label (:data:`BCE_REAL_LABEL`) and the ``wgan-gp`` loss's gradient-penalty weight (its own, 10)."""
    config = dict(config)
    if config.get('latent_dim') is None and config.get('model') in DEFAULT_LATENT_DIM:
        config['latent_dim'] = DEFAULT_LATENT_DIM[config['model']]
    for name in ('lr_g', 'lr_d'):
        if config.get(name) is None and 'lr' in config:
            config[name] = config['lr']
    loss = LOSSES.get(config.get('loss', 'bce'))
    if loss is not None and loss.takes_real_label and config.get('real_label') is None:
        config['real_label'] = BCE_REAL_LABEL
    if loss is not None and loss.penalty is not None and config.get('gp_weight') is None:
        config['gp_weight'] = loss.penalty_weight
    return config


def upgrade_config(config: Mapping[str, Any]) -> Dict[str, Any]:
    """A ``config.json`` of any format as one of :data:`CONFIG_FORMAT`: missing keys take the values
    older runs trained with (:data:`ADDED_KEYS`), and defaulted values are resolved (:func:`resolve_config`).

    Raises:
        ValueError: for a configuration made by a newer version (a higher format).
    """
    config = dict(config)
    version = config.get('config_format', 1)
    if not isinstance(version, int) or version > CONFIG_FORMAT:
        raise ValueError(f'it was made by a newer version of bearer_gan (config format {version}; this version '
                         f'reads formats up to {CONFIG_FORMAT}): upgrade bearer_gan')
    for key, (added_in, value) in ADDED_KEYS.items():
        if version < added_in:
            config.setdefault(key, value)
    config['config_format'] = CONFIG_FORMAT
    return resolve_config(config)


def run_identity(config: Mapping[str, Any]) -> Dict[str, Any]:
    """What makes a run that run: every recorded flag but the device, with the data set as it was asked
    for (``mnist``, also when it fell back to ``mnist-5k``)."""
    identity = {key: value for key, value in resolve_config(config).items() if key not in _NOT_IDENTITY}
    data = config.get('data')
    if isinstance(data, Mapping) and 'requested' in data:
        identity['dataset'] = data['requested']
    return identity


def same_run(recorded: Mapping[str, Any], config: Mapping[str, Any]) -> bool:
    """Whether ``config`` (a new command's) asks for the run that ``recorded`` (a ``config.json``) describes."""
    try:
        return run_identity(upgrade_config(recorded)) == run_identity(config)
    except ValueError:
        return False


def run_difference(recorded: Mapping[str, Any], config: Mapping[str, Any], limit: int = 3) -> str:
    """The flags in which ``config`` differs from the run ``recorded``: ``--steps 20 (the run: 30)``, at most ``limit``."""
    try:
        old = run_identity(upgrade_config(recorded))
    except ValueError as error:
        return str(error)
    new = run_identity(config)
    names = sorted(name for name in set(old) | set(new) if old.get(name) != new.get(name))
    shown = [f"--{name.replace('_', '-')} {new.get(name)} (the run: {old.get(name)})" for name in names[:limit]]
    return ', '.join(shown) + (f' and {len(names) - limit} more' if len(names) > limit else '')
