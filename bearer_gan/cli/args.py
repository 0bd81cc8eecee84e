"""The training flags, defined once: ``bearer-gan train`` and ``examples/gan.py`` both parse them here.

:data:`DEFAULTS` is the configuration a run trains when no flag is given; a run's
``config.json`` records every value it used, so ``--resume`` rebuilds it exactly.
"""
import argparse
import os
import sys
from typing import List, Mapping, Optional, Sequence, Set

from ..callbacks import SCHEDULES
from ..closures import PRECISIONS
from ..data import DATASETS
from ..losses import LOSSES
from ..models import DEFAULT_LATENT_DIM, MODELS
from . import parsing
from .config import BCE_REAL_LABEL, CONFIG_FORMAT, DISPLAY_FLAGS, RESUME_FLAGS, resolve_config

__all__ = ['DEFAULTS', 'DATASET_DEFAULTS', 'CONFIG_EXCLUDED', 'add_train_arguments', 'given_flags',
           'apply_dataset_defaults', 'replaced_defaults', 'flags_of', 'check_train_args', 'parse_train_args',
           'train_config']

# docs: constants
#: Defaults for every flag: the configuration ``bearer-gan train`` trains with no flags.
DEFAULTS = dict(
    model='tutorial',         # torchbearer tutorial's MLPs; 'mlp256' and 'dcgan' are the other pairs
    steps=15000,              # generator updates
    batch_size=128,           # real images per step (and as many generated ones)
    lr=2e-4,                  # Adam learning rate, both networks (the tutorial's 2e-3 collapses to few digits)
    lr_g=None,                # the generator's learning rate; None takes lr
    lr_d=None,                # the discriminator's learning rate; None takes lr
    beta1=0.5,                # Adam's first moment decay: 0.5 is the DCGAN recipe, less momentum
    beta2=0.999,              # Adam's second moment decay (WGAN-GP uses beta1 0, beta2 0.9)
    lr_schedule='constant',   # 'linear' or 'cosine' decay both learning rates to 0 over the steps
    latent_dim=None,          # size of z; None takes the model's own (100 or 64)
    loss='bce',               # 'hinge', 'lsgan' or 'wgan-gp' (bearer_gan.losses.LOSSES)
    d_steps=1,                # discriminator updates per generator update
    real_label=None,          # bce only: D aims at this for real images; None takes 0.9 (one-sided label smoothing)
    gp_weight=None,           # wgan-gp only: weight of the gradient penalty; None takes 10
    r1_gamma=0.0,             # R1 penalty on real images (any loss); 0 turns it off
    r1_interval=1,            # compute R1 every this many steps, times this many (lazy R1); 1 for every step
    conditional=False,        # class-conditional G(z, y) and projection D(x, y), on the data set's labels
    spectral_norm=False,      # spectral norm on every layer of the discriminator
    ema_decay=0.999,          # samples come from a moving average of the generator; 0 turns it off
    precision='fp32',         # 'bf16': autocast, faster on GPUs and on CPUs with bfloat16 instructions
    compile=False,            # torch.compile both networks: for GPUs (slower than eager for these MLPs on a small CPU)
    no_sync_bn=False,         # under torchrun on several GPUs: keep each GPU's own batch-norm statistics
    sample_interval=500,      # steps between sample grids (GIF frames)
    checkpoint_interval=1000,  # steps between checkpoints (also written at the end and on Ctrl-C)
    log_interval=100,         # steps between progress lines when not on a terminal (and TensorBoard scalars)
    tensorboard=False,        # also write TensorBoard logs into <out>/tensorboard (the tensorboard extra)
    dataset='mnist',          # 'mnist' downloads (falls back to 'mnist-5k' offline); or a folder of images
    data_dir='./data',        # where data sets are downloaded and folders cached
    image_size=None,          # resize the shorter side and centre-crop square; None keeps the data set's size
    channels=None,            # 1 or 3; None keeps the data set's (a folder: 1 when every image is greyscale)
    data_memory=None,         # GiB a folder's decoded images may take, else streamed; None: half the free memory
    data_workers=None,        # processes decoding a folder; None: one per core (one core left to training)
    out='runs/gan',
    seed=0,
)
# docs: end constants

# docs: dataset_defaults
#: A data set's own recipe: values that replace :data:`DEFAULTS` for the flags a user does not
#: give with ``--dataset NAME``. Fashion-MNIST trains class-conditional on its labels, at a learning
#: rate of 5e-4 and with a ten times longer moving average of the generator: in ten minutes of one
#: CPU core that scored FID 13.9 and 13.4 (seeds 0 and 1) against 40.9 and 37.4 for MNIST's
#: defaults, and better than conditional alone (19.2, 20.1), the DCGANs, the SNGAN ResNet and
#: WGAN-GP (``benchmarks/fashion_budget.py``; docs: Your own images). ``--no-conditional``,
#: ``--lr`` and ``--ema-decay`` override it.
DATASET_DEFAULTS: dict = {
    'fashion-mnist': dict(conditional=True, lr=5e-4, ema_decay=0.9999),
}
# docs: end dataset_defaults

#: Flags that steer one invocation but are not part of the run, so ``config.json`` leaves them out.
CONFIG_EXCLUDED = ('overwrite', 'no_eval', 'resume', 'quiet', 'preview', 'given')


def add_train_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add every training flag, with its default from :data:`DEFAULTS`, to ``parser``."""
    parser.add_argument('--steps', type=parsing.positive_int, default=DEFAULTS['steps'], help='generator updates')
    parser.add_argument('--batch-size', type=parsing.positive_int, default=DEFAULTS['batch_size'])
    parser.add_argument('--lr', type=parsing.positive_float, default=DEFAULTS['lr'], help='Adam learning rate')
    parser.add_argument('--lr-g', type=parsing.positive_float, default=DEFAULTS['lr_g'],
                        help="the generator's learning rate (default: --lr)")
    parser.add_argument('--lr-d', type=parsing.positive_float, default=DEFAULTS['lr_d'],
                        help="the discriminator's learning rate (default: --lr)")
    parser.add_argument('--beta1', type=parsing.probability, default=DEFAULTS['beta1'], help="Adam's beta1")
    parser.add_argument('--beta2', type=parsing.probability, default=DEFAULTS['beta2'], help="Adam's beta2")
    parser.add_argument('--lr-schedule', choices=tuple(SCHEDULES), default=DEFAULTS['lr_schedule'],
                        help='learning-rate schedule of both networks over --steps')
    parser.add_argument('--latent-dim', type=parsing.positive_int, default=DEFAULTS['latent_dim'],
                        help="size of z (default: the model's own)")
    parser.add_argument('--model', choices=sorted(MODELS), default=DEFAULTS['model'])
    parser.add_argument('--loss', choices=tuple(LOSSES), default=DEFAULTS['loss'], help='the GAN loss')
    parser.add_argument('--d-steps', type=parsing.positive_int, default=DEFAULTS['d_steps'],
                        help='discriminator updates per generator update')
    parser.add_argument('--real-label', type=parsing.positive_float, default=DEFAULTS['real_label'],
                        help=f'bce only: discriminator target for real images, in (0, 1] (default: {BCE_REAL_LABEL})')
    parser.add_argument('--gp-weight', type=parsing.positive_float, default=DEFAULTS['gp_weight'],
                        help='wgan-gp only: weight of the gradient penalty (default: 10)')
    parser.add_argument('--r1-gamma', type=parsing.non_negative_float, default=DEFAULTS['r1_gamma'],
                        help='add the R1 penalty on real images with this gamma (any loss); 0: none')
    parser.add_argument('--r1-interval', type=parsing.positive_int, default=DEFAULTS['r1_interval'],
                        help='compute R1 every K steps, scaled by K (lazy R1, as in StyleGAN2)')
    parser.add_argument('--conditional', action=argparse.BooleanOptionalAction, default=DEFAULTS['conditional'],
                        help="class-conditional: G(z, y) and a projection D(x, y) on the data set's labels "
                             "(--no-conditional: unconditional where the data set's default is conditional)")
    parser.add_argument('--spectral-norm', action='store_true', help="spectral norm on the discriminator's layers")
    parser.add_argument('--ema-decay', type=parsing.probability, default=DEFAULTS['ema_decay'],
                        help='moving average of the generator used for samples, 0 to turn off')
    parser.add_argument('--precision', choices=PRECISIONS, default=DEFAULTS['precision'],
                        help='bf16: train under bfloat16 autocast')
    parser.add_argument('--compile', action='store_true',
                        help='torch.compile both networks (pays on GPUs; the first steps wait for the compiler)')
    parser.add_argument('--no-sync-bn', action='store_true',
                        help='under torchrun on several GPUs: batch norm per GPU instead of SyncBatchNorm')
    parser.add_argument('--sample-interval', type=parsing.positive_int, default=DEFAULTS['sample_interval'],
                        help='steps between sample grids')
    parser.add_argument('--checkpoint-interval', type=parsing.positive_int, default=DEFAULTS['checkpoint_interval'],
                        help='steps between checkpoints')
    parser.add_argument('--log-interval', type=parsing.positive_int, default=DEFAULTS['log_interval'],
                        help='steps between progress lines in a log (not on a terminal) and TensorBoard scalars')
    parser.add_argument('--quiet', action='store_true', help='print only errors and the final summary')
    parser.add_argument('--preview', action='store_true',
                        help='draw each sample grid in the terminal (nothing when not on a terminal)')
    parser.add_argument('--tensorboard', action='store_true',
                        help="write TensorBoard logs into OUT/tensorboard (pip install 'bearer_gan[tensorboard]')")
    parser.add_argument('--resume', metavar='RUN_DIR', type=parsing.existing_dir,
                        help='continue a stopped run with its own config.json; takes only --steps (to extend it), '
                             '--device, --no-eval, --sample-interval, --log-interval, --quiet and --preview')
    parser.add_argument('--dataset', type=parsing.dataset_or_folder(DATASETS), default=DEFAULTS['dataset'],
                        metavar=f"{{{','.join(DATASETS)}}} or FOLDER",
                        help='a data set by name, or a folder of images (one sub-folder per class, or flat)')
    parser.add_argument('--data-dir', default=DEFAULTS['data_dir'],
                        help='where data sets are downloaded and folders of images cached')
    parser.add_argument('--image-size', type=parsing.image_size, default=DEFAULTS['image_size'], metavar='N',
                        help="resize the images' shorter side to N and centre-crop them square (N >= 8)")
    parser.add_argument('--channels', type=int, choices=(1, 3), default=DEFAULTS['channels'],
                        help='train on grey (1) or colour (3) images (default: the data set\'s own)')
    parser.add_argument('--data-memory', type=parsing.non_negative_float, default=DEFAULTS['data_memory'],
                        metavar='GIB', help="memory a folder's decoded images may take before it is streamed from "
                        'disk (default: half the free memory; 0 always streams)')
    parser.add_argument('--data-workers', type=parsing.non_negative_int, default=DEFAULTS['data_workers'],
                        metavar='N', help='processes decoding a folder of images (default: one per core)')
    parser.add_argument('--out', default=DEFAULTS['out'], help='folder for every output')
    parser.add_argument('--overwrite', action='store_true', help='replace the outputs of a different run in --out')
    parser.add_argument('--device', type=parsing.torch_device, default=None,
                        help='cpu or cuda (default: cuda when available)')
    parser.add_argument('--seed', type=int, default=DEFAULTS['seed'])
    parser.add_argument('--no-eval', action='store_true', help='skip scoring the trained generator (FID, coverage)')
    parser.add_argument('--train-generator-only', action='store_true')
    parser.add_argument('--train-discriminator-only', action='store_true')
    return parser


def apply_dataset_defaults(args: argparse.Namespace, given: Sequence[str]) -> argparse.Namespace:
    """Give every flag not in ``given`` the value of :data:`DATASET_DEFAULTS` for ``args.dataset``, if it has one.

    Args:
        args: the parsed flags, changed in place (and returned).
        given: the destinations of the flags given (:func:`given_flags`): these keep their value.
    """
    for name, value in DATASET_DEFAULTS.get(args.dataset, {}).items():
        if name not in given:
            setattr(args, name, value)
    return args


def replaced_defaults(dataset: str) -> dict:
    """:data:`DEFAULTS`' values of the flags that ``dataset``'s own recipe replaces (:data:`DATASET_DEFAULTS`).

    Given as flags (:func:`flags_of`) with ``--dataset dataset``, they train the default configuration
    on it rather than the data set's recipe: what a comparison across data sets wants.
    """
    return {name: DEFAULTS[name] for name in DATASET_DEFAULTS.get(dataset, {})}


def flags_of(values: Mapping[str, object]) -> List[str]:
    """The training flags that give ``values`` (configuration names to values), ``steps`` left out.

    A switch is given in its ``--no-`` form for ``False`` (``--no-conditional``), so that it also
    overrides a data set's default."""
    argv = []
    for name, value in values.items():
        flag = '--' + name.replace('_', '-')
        if isinstance(value, bool):
            argv.append(flag if value else '--no-' + flag[2:])
        elif name != 'steps':
            argv += [flag, str(value)]
    return argv


def check_train_args(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: Sequence[str]):
    """Reject combinations of flags that parse but make no run (one line, exit 2 through ``parser.error``).

    Args:
        argv: the arguments as given, to tell flags given from defaults.
    """
    if args.resume:
        refused = sorted(args.given - {'resume'} - set(RESUME_FLAGS) - set(DISPLAY_FLAGS))
        if refused:
            allowed = ', '.join('--' + name.replace('_', '-') for name in RESUME_FLAGS + DISPLAY_FLAGS)
            parser.error(f"--resume continues a run with its own config.json and takes only {allowed}; "
                         f"got {', '.join('--' + name.replace('_', '-') for name in refused)}")
    if args.train_generator_only and args.train_discriminator_only:
        parser.error('--train-generator-only and --train-discriminator-only exclude each other')
    if args.real_label is not None and args.loss != 'bce':
        parser.error(f'--real-label belongs to the bce loss; --loss {args.loss} has no target for real images')
    if args.real_label is not None and args.real_label > 1:
        parser.error(f'--real-label must be in (0, 1], got {args.real_label}')
    if args.gp_weight is not None and LOSSES[args.loss].penalty is None:
        parser.error(f'--gp-weight belongs to the wgan-gp loss; --loss {args.loss} has no gradient penalty')
    if args.compile and (args.r1_gamma or LOSSES[args.loss].penalty is not None) and not args.train_generator_only:
        parser.error('--compile cannot train a penalty (torch.compile has no double backward): leave out --compile, '
                     'or --r1-gamma and the wgan-gp loss')
    if args.r1_interval > 1 and not args.r1_gamma:
        parser.error('--r1-interval needs --r1-gamma (R1 is off)')
    if os.path.exists(args.data_dir) and not os.path.isdir(args.data_dir):
        parser.error(f'--data-dir {args.data_dir!r} is a file, not a directory')


def train_config(args: argparse.Namespace, default_device: str) -> dict:
    """The run's configuration, as ``config.json`` records it: every flag but :data:`CONFIG_EXCLUDED`, with
    the values that default to others resolved (:func:`~bearer_gan.cli.config.resolve_config`)."""
    config = {name: value for name, value in vars(args).items() if name not in CONFIG_EXCLUDED}
    config['device'] = args.device or default_device
    config['config_format'] = CONFIG_FORMAT
    return resolve_config(config)


def given_flags(parser: argparse.ArgumentParser, argv: Sequence[str]) -> Set[str]:
    """The destinations of the flags that ``argv`` gives (abbreviated or not), not those left at their defaults."""
    defaults = {action: action.default for action in parser._actions}
    try:
        for action in defaults:
            action.default = argparse.SUPPRESS
        return set(vars(parser.parse_known_args(list(argv))[0]))
    finally:
        for action, default in defaults.items():
            action.default = default


def parse_train_args(parser: argparse.ArgumentParser, argv: Optional[List[str]]) -> argparse.Namespace:
    """Parse ``argv`` with the training flags of ``parser``, apply the data set's defaults and check them."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.given = given_flags(parser, argv)
    if not args.resume:  # a resumed run takes every value from its config.json
        apply_dataset_defaults(args, args.given)
    check_train_args(parser, args, argv)
    return args
