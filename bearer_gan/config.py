""":class:`RunConfig`: the one schema of a training run.

Everything that decides what a run trains is a field here, with its default, its check and the
line of help its command-line flag shows: ``bearer-gan train`` builds its flags from these fields
(:mod:`bearer_gan.flags`), the example, the benchmarks and each owner of a federation build
runs from a ``RunConfig`` (:mod:`bearer_gan.recipe`), and a run's ``config.json`` is a
``RunConfig`` written out (:meth:`RunConfig.to_dict`). So there is one list of defaults, one
place that validates them, and one place (:data:`ADDED_KEYS`) that knows how older
``config.json`` files differ.

A field is named as its flag is spelled, with ``_`` for ``-`` (``lr_g`` is ``--lr-g``), and the
error messages name the flag. Values that default to others (``lr_g``, ``lr_d``, ``latent_dim``,
``real_label``, ``gp_weight``, ``device``) are resolved when the config is made, as ``config.json``
records them; :func:`dataclasses.replace` keeps resolved values, so give ``lr_g=None`` along
with a new ``lr`` to resolve again.
"""
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from .callbacks import SCHEDULES
from .closures import PRECISIONS
from .losses import LOSSES
from .models import DEFAULT_LATENT_DIM, MODELS
from .kinds import KINDS, Kind
from .trial import default_device

__all__ = ['RunConfig', 'ConfigError', 'Kind', 'KINDS', 'DATASET_RECIPES', 'SMALL_DATA_RECIPES', 'CONFIG_FORMAT',
           'ADDED_KEYS', 'BCE_REAL_LABEL', 'flag_fields', 'upgrade_config', 'same_run', 'run_difference']

#: The format of the ``config.json`` this version writes; one without a ``config_format`` entry is format 1.
CONFIG_FORMAT = 4

#: ``{key: (format, value)}``: a ``config.json`` older than ``format`` may lack ``key``, and such a run
#: trained with ``value``. Add a row for every new field (``format`` = the one that first always has it).
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
    'eval_interval': (4, None),   # --eval-interval: runs before it were not scored while training
    'max_images': (4, None),      # --max-images: runs before it trained on the whole data set
    'augment': (4, None),         # --augment: runs before it trained without augmentation
}

#: The one-sided label smoothing a ``bce`` run uses when ``real_label`` is not given.
BCE_REAL_LABEL = 0.9

# docs: dataset_recipes
#: A data set's own recipe: what replaces the defaults for the fields a user does not give with ``dataset=NAME``
#: (:meth:`RunConfig.for_dataset`; ``--dataset NAME``). The MNISTs and Fashion-MNIST train class-conditional,
#: at 5e-4 with a 0.9999 moving average; MNIST's discriminator sees images translated as often as ADA finds it
#: needs. Each won under the measurement protocol (docs: Better samples). ``--no-conditional``, ``--lr``,
#: ``--ema-decay`` and ``--augment none`` override it.
MNIST_RECIPE: Dict[str, Any] = dict(conditional=True, lr=5e-4, ema_decay=0.9999, augment='ada:translation')
DATASET_RECIPES: Dict[str, Dict[str, Any]] = {'mnist': MNIST_RECIPE, 'mnist-5k': MNIST_RECIPE,
                                              'fashion-mnist': dict(conditional=True, lr=5e-4, ema_decay=0.9999)}
#: ``(at most this many images, fields)`` over a data set's recipe when ``max_images`` is at most that many: on
#: 6,000 Fashion-MNIST images (10%) ADA beat no augmentation under the protocol, on 12,000 and 60,000 none won.
SMALL_DATA_RECIPES: Dict[str, Tuple[int, Dict[str, Any]]] = {'fashion-mnist': (6000, dict(augment='ada'))}
# docs: end dataset_recipes


class ConfigError(ValueError):
    """A configuration that makes no run: the CLI prints it as one line and exits with code 2.

    Every other ``ValueError`` is a bug and keeps its traceback.
    """


def _flag(help: str, kind: str = 'text', choices: Optional[Callable[[], tuple]] = None, optional: bool = False,
          store_true: bool = False) -> dict:
    """The metadata of a field that is a flag: its help, its :data:`KINDS` entry, its choices (a function, so
    registries read when asked), whether None is allowed, and a plain ``--flag`` switch with no ``--no-`` form."""
    return dict(flag=True, help=help, kind=kind, choices=choices, optional=optional, store_true=store_true)


def _choice(help: str, registry: Callable[[], tuple]) -> dict:
    return _flag(help, 'text', registry)


# docs: constants
@dataclass(frozen=True)
class RunConfig:
    """A training run: every field is a flag of ``bearer-gan train`` and a key of ``config.json``.

    ``RunConfig.for_dataset()`` is the run that ``bearer-gan train`` trains with no flags: these
    defaults with MNIST's own recipe (:data:`DATASET_RECIPES`); ``RunConfig()`` is the plain defaults,
    what a data set without a recipe (a folder of images) trains with. Validation happens here,
    once, and raises :class:`ConfigError`.
    """
    steps: int = field(default=15000, metadata=_flag('generator updates', 'positive_int'))
    batch_size: int = field(default=128, metadata=_flag('real images per step (and as many generated ones)',
                                                        'positive_int'))
    lr: float = field(default=2e-4, metadata=_flag('Adam learning rate of both networks (the tutorial\'s 2e-3 '
                                                   'collapses to few digits)', 'positive_float'))
    lr_g: Optional[float] = field(default=None, metadata=_flag("the generator's learning rate (default: --lr)",
                                                               'positive_float', optional=True))
    lr_d: Optional[float] = field(default=None, metadata=_flag("the discriminator's learning rate (default: --lr)",
                                                               'positive_float', optional=True))
    beta1: float = field(default=0.5, metadata=_flag("Adam's beta1: 0.5 is the DCGAN recipe, less momentum",
                                                     'probability'))
    beta2: float = field(default=0.999, metadata=_flag("Adam's beta2 (WGAN-GP uses beta1 0, beta2 0.9)",
                                                       'probability'))
    lr_schedule: str = field(default='constant', metadata=_choice(
        'learning-rate schedule of both networks over --steps', lambda: tuple(SCHEDULES)))
    latent_dim: Optional[int] = field(default=None, metadata=_flag("size of z (default: the model's own)",
                                                                   'positive_int', optional=True))
    model: str = field(default='tutorial', metadata=_choice(
        "the generator / discriminator pair: 'tutorial' is torchbearer tutorial's MLPs", lambda: tuple(sorted(MODELS))))
    loss: str = field(default='bce', metadata=_choice('the GAN loss', lambda: tuple(LOSSES)))
    d_steps: int = field(default=1, metadata=_flag('discriminator updates per generator update', 'positive_int'))
    real_label: Optional[float] = field(default=None, metadata=_flag(
        f'bce only: discriminator target for real images, in (0, 1] (default: {BCE_REAL_LABEL}, one-sided label '
        'smoothing)', 'positive_float', optional=True))
    gp_weight: Optional[float] = field(default=None, metadata=_flag(
        'wgan-gp only: weight of the gradient penalty (default: 10)', 'positive_float', optional=True))
    r1_gamma: float = field(default=0.0, metadata=_flag(
        'add the R1 penalty on real images with this gamma (any loss); 0: none', 'non_negative_float'))
    r1_interval: int = field(default=1, metadata=_flag(
        'compute R1 every K steps, scaled by K (lazy R1, as in StyleGAN2)', 'positive_int'))
    augment: Optional[str] = field(default=None, metadata=_flag(
        "augment what the discriminator sees, real and fake: 'diffaugment' (always) or 'ada' (with an adaptive "
        "probability), optionally ':translation,cutout,color' (default: translation); 'none' turns off a data "
        "set's own", 'augment', optional=True))
    conditional: bool = field(default=False, metadata=_flag(
        "class-conditional: G(z, y) and a projection D(x, y) on the data set's labels (--no-conditional: "
        "unconditional where the data set's default is conditional)", 'switch'))
    spectral_norm: bool = field(default=False, metadata=_flag("spectral norm on the discriminator's layers", 'switch'))
    ema_decay: float = field(default=0.999, metadata=_flag(
        'moving average of the generator used for samples, 0 to turn off', 'probability'))
    precision: str = field(default='fp32', metadata=_choice('bf16: train under bfloat16 autocast',
                                                            lambda: tuple(PRECISIONS)))
    compile: bool = field(default=False, metadata=_flag(
        'torch.compile both networks (pays on GPUs; the first steps wait for the compiler)', 'switch'))
    no_sync_bn: bool = field(default=False, metadata=_flag(
        'under torchrun on several GPUs: batch norm per GPU instead of SyncBatchNorm', 'switch', store_true=True))
    sample_interval: int = field(default=500, metadata=_flag('steps between sample grids (GIF frames)',
                                                             'positive_int'))
    checkpoint_interval: int = field(default=1000, metadata=_flag(
        'steps between checkpoints (also written at the end and on Ctrl-C)', 'positive_int'))
    log_interval: int = field(default=100, metadata=_flag(
        'steps between progress lines in a log (not on a terminal) and TensorBoard scalars', 'positive_int'))
    eval_interval: Optional[int] = field(default=None, metadata=_flag(
        'score the generator every N steps (FID on 2,000 samples) into eval_history.csv and fid.png, and keep '
        'generator.best.pt at the best FID (default: not scored while training)', 'positive_int', optional=True))
    tensorboard: bool = field(default=False, metadata=_flag(
        "write TensorBoard logs into OUT/tensorboard (pip install 'bearer_gan[tensorboard]')", 'switch'))
    dataset: str = field(default='mnist', metadata=_flag(
        "a data set by name, or a folder of images (one sub-folder per class, or flat); 'mnist' falls back to "
        "'mnist-5k' offline", 'dataset'))
    max_images: Optional[int] = field(default=None, metadata=_flag(
        'train on N images of the data set, drawn at random with --seed (a data-efficiency experiment; '
        'default: all of them)', 'positive_int', optional=True))
    data_dir: str = field(default='./data', metadata=_flag('where data sets are downloaded and folders of images '
                                                           'cached'))
    image_size: Optional[int] = field(default=None, metadata=_flag(
        "resize the images' shorter side to N and centre-crop them square (N >= 8)", 'image_size', optional=True))
    channels: Optional[int] = field(default=None, metadata=_flag(
        "train on grey (1) or colour (3) images (default: the data set's own)", 'int', lambda: (1, 3), optional=True))
    data_memory: Optional[float] = field(default=None, metadata=_flag(
        "GiB a folder's decoded images may take before it is streamed from disk (default: half the free memory; "
        '0 always streams)', 'non_negative_float', optional=True))
    data_workers: Optional[int] = field(default=None, metadata=_flag(
        'processes decoding a folder of images (default: one per core)', 'non_negative_int', optional=True))
    out: str = field(default='runs/gan', metadata=_flag('folder for every output'))
    device: Optional[str] = field(default=None, metadata=_flag('cpu or cuda (default: cuda when available)',
                                                               'device', optional=True))
    seed: int = field(default=0, metadata=_flag('seed of the networks, the noise and the batch order', 'int'))
    train_generator_only: bool = field(default=False, metadata=_flag(
        "leave the discriminator untouched (a probe)", 'switch', store_true=True))
    train_discriminator_only: bool = field(default=False, metadata=_flag(
        "leave the generator untouched (a probe)", 'switch', store_true=True))
    config_format: int = CONFIG_FORMAT  # the format of the config.json this config was read from or is written as
    data: Optional[Dict[str, Any]] = None  # what the run trained on (bearer_gan.data.data_fingerprint), once loaded
# docs: end constants

    def __post_init__(self):
        for spec in flag_fields():
            _check_field(spec, getattr(self, spec.name))
        resolved = _resolved(self)
        for name, value in resolved.items():
            object.__setattr__(self, name, value)
        _check_combinations(self)

    @classmethod
    def for_dataset(cls, dataset: str = 'mnist', **given) -> 'RunConfig':
        """The run on ``dataset`` with ``given`` values and, for every field not given, the data set's own
        recipe (:data:`DATASET_RECIPES`, and :data:`SMALL_DATA_RECIPES` on few images) or else the default."""
        recipe = dict(DATASET_RECIPES.get(dataset, {}))
        most, small = SMALL_DATA_RECIPES.get(dataset, (0, {}))
        if given.get('max_images') and given['max_images'] <= most:
            recipe.update(small)
        return cls(dataset=dataset, **dict(recipe, **given))

    @classmethod
    def from_dict(cls, recorded: Mapping[str, Any]) -> 'RunConfig':
        """The config a ``config.json`` of any format records (older ones upgraded, :func:`upgrade_config`).

        Raises:
            ConfigError: for one made by a newer version, one that lacks a field or has an unknown one.
        """
        config = upgrade_config(recorded)
        names = {spec.name for spec in dataclasses.fields(cls)}
        unknown = sorted(set(config) - names)
        if unknown:
            raise ConfigError(f"it has keys this version does not know: {', '.join(unknown)}")
        missing = sorted(spec.name for spec in flag_fields() if spec.name not in config and spec.name != 'device')
        if missing:
            raise ConfigError(f"it lacks {', '.join(missing)}")
        return cls(**config)

    def to_dict(self) -> Dict[str, Any]:
        """``config.json``'s content: every field, resolved."""
        return dataclasses.asdict(self)

    def replace(self, **changes) -> 'RunConfig':
        """A copy with ``changes`` (validated again)."""
        return dataclasses.replace(self, **changes)

    def identity(self) -> Dict[str, Any]:
        """What makes a run that run: every field but the device, the format and the data's fingerprint, with the
        data set as it was asked for (``mnist``, also when it fell back to ``mnist-5k``)."""
        return _identity(self.to_dict())


def flag_fields() -> Tuple[dataclasses.Field, ...]:
    """The fields of :class:`RunConfig` that are command-line flags, in the order ``--help`` lists them."""
    return tuple(spec for spec in dataclasses.fields(RunConfig) if spec.metadata.get('flag'))


def _flag_name(name: str) -> str:
    return '--' + name.replace('_', '-')


def _check_field(spec: dataclasses.Field, value) -> None:
    meta = spec.metadata
    if value is None and meta['optional']:
        return
    kind = KINDS.get(meta['kind'], KINDS['text'])  # 'dataset' and 'device': text here, checked where they are used
    if meta['choices'] is not None:
        if value not in meta['choices']() or not kind.check(value):  # True == 1, 1.0 == 1: check the kind too
            raise ConfigError(f"{_flag_name(spec.name)} must be one of {', '.join(map(str, meta['choices']()))}, "
                              f'got {value!r}')
        return
    if isinstance(value, int) and not isinstance(value, bool) and kind.type is float:
        value = float(value)
    if not kind.check(value):
        raise ConfigError(f'{_flag_name(spec.name)} must be {kind.says}, got {value!r}')


def _resolved(config: RunConfig) -> Dict[str, Any]:
    """The values that default to others, as the run uses them: ``latent_dim`` (the model's own), both
    learning rates (``lr``), the ``bce`` loss's real label (:data:`BCE_REAL_LABEL`), the ``wgan-gp`` loss's
    gradient-penalty weight (its own, 10) and the device (cuda when available)."""
    loss = LOSSES[config.loss]
    resolved = dict(lr_g=config.lr if config.lr_g is None else config.lr_g,
                    lr_d=config.lr if config.lr_d is None else config.lr_d,
                    device=default_device() if config.device is None else config.device)
    if config.latent_dim is None:
        resolved['latent_dim'] = DEFAULT_LATENT_DIM[config.model]
    if loss.takes_real_label and config.real_label is None:
        resolved['real_label'] = BCE_REAL_LABEL
    if loss.penalty is not None and config.gp_weight is None:
        resolved['gp_weight'] = loss.penalty_weight
    return resolved


def _check_combinations(config: RunConfig) -> None:
    """Reject values that pass one by one but make no run together."""
    loss = LOSSES[config.loss]
    if config.train_generator_only and config.train_discriminator_only:
        raise ConfigError('--train-generator-only and --train-discriminator-only exclude each other')
    if config.real_label is not None and not loss.takes_real_label:
        raise ConfigError(f'--real-label belongs to the bce loss; --loss {config.loss} has no target for real images')
    if config.real_label is not None and config.real_label > 1:
        raise ConfigError(f'--real-label must be in (0, 1], got {config.real_label}')
    if config.gp_weight is not None and loss.penalty is None:
        raise ConfigError(f'--gp-weight belongs to the wgan-gp loss; --loss {config.loss} has no gradient penalty')
    penalised = (config.r1_gamma or loss.penalty is not None) and not config.train_generator_only
    if config.compile and penalised:
        raise ConfigError('--compile cannot train a penalty (torch.compile has no double backward): leave out '
                          '--compile, or --r1-gamma and the wgan-gp loss')
    if config.r1_interval > 1 and not config.r1_gamma:
        raise ConfigError('--r1-interval needs --r1-gamma (R1 is off)')


def upgrade_config(recorded: Mapping[str, Any]) -> Dict[str, Any]:
    """A ``config.json`` of any format as one of :data:`CONFIG_FORMAT`: missing keys take the values older
    runs trained with (:data:`ADDED_KEYS`).

    Raises:
        ConfigError: for a configuration made by a newer version (a higher format).
    """
    config = dict(recorded)
    version = config.get('config_format', 1)
    if not isinstance(version, int) or version > CONFIG_FORMAT:
        raise ConfigError(f'it was made by a newer version of bearer_gan (config format {version}; this version '
                          f'reads formats up to {CONFIG_FORMAT}): upgrade bearer_gan')
    for key, (added_in, value) in ADDED_KEYS.items():
        if version < added_in:
            config.setdefault(key, value)
    config['config_format'] = CONFIG_FORMAT
    return config


def _identity(config: Mapping[str, Any]) -> Dict[str, Any]:
    identity = {key: value for key, value in config.items() if key not in ('device', 'config_format', 'data')}
    data = config.get('data')
    if isinstance(data, Mapping) and 'requested' in data:
        identity['dataset'] = data['requested']
    return identity


def _recorded_identity(recorded: Mapping[str, Any]) -> Dict[str, Any]:
    return RunConfig.from_dict(recorded).identity()


def same_run(recorded: Mapping[str, Any], config: RunConfig) -> bool:
    """Whether ``config`` (a new command's) asks for the run that ``recorded`` (a ``config.json``) describes."""
    try:
        return _recorded_identity(recorded) == config.identity()
    except (ConfigError, TypeError):
        return False


def run_difference(recorded: Mapping[str, Any], config: RunConfig, limit: int = 3) -> str:
    """The flags in which ``config`` differs from the run ``recorded``: ``--steps 20 (the run: 30)``, at most ``limit``."""
    try:
        old = _recorded_identity(recorded)
    except (ConfigError, TypeError) as error:
        return str(error)
    new = config.identity()
    names = sorted(name for name in set(old) | set(new) if old.get(name) != new.get(name))
    shown = [f'{_flag_name(name)} {new.get(name)} (the run: {old.get(name)})' for name in names[:limit]]
    return ', '.join(shown) + (f' and {len(names) - limit} more' if len(names) > limit else '')
