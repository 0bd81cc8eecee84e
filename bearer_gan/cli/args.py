"""The training flags, defined once: ``bearer-gan train`` and ``examples/gan.py`` both parse them here.

:data:`DEFAULTS` is the configuration a run trains when no flag is given; a run's
``config.json`` records every value it used, so ``--resume`` rebuilds it exactly.
"""
import argparse
import os
import sys
from typing import List, Optional, Sequence

from ..closures import PRECISIONS
from ..data import DATASETS
from ..models import DEFAULT_LATENT_DIM, MODELS
from . import parsing

__all__ = ['DEFAULTS', 'CONFIG_EXCLUDED', 'add_train_arguments', 'check_train_args', 'parse_train_args', 'train_config']

# docs: constants
#: Defaults for every flag: the configuration ``bearer-gan train`` trains with no flags.
DEFAULTS = dict(
    model='tutorial',         # torchbearer tutorial's MLPs; 'mlp256' and 'dcgan' are the other pairs
    steps=15000,              # generator updates
    batch_size=128,           # real images per step (and as many generated ones)
    lr=2e-4,                  # Adam learning rate, both networks (the tutorial's 2e-3 collapses to few digits)
    beta1=0.5,                # Adam's first moment decay: 0.5 is the DCGAN recipe, less momentum
    latent_dim=None,          # size of z; None takes the model's own (100 or 64)
    d_steps=1,                # discriminator updates per generator update
    real_label=0.9,           # one-sided label smoothing: D aims at 0.9 for real images, not 1
    ema_decay=0.999,          # samples come from a moving average of the generator; 0 turns it off
    precision='fp32',         # 'bf16': autocast, faster on GPUs and on CPUs with bfloat16 instructions
    compile=False,            # torch.compile both networks: for GPUs (slower than eager for these MLPs on a small CPU)
    no_sync_bn=False,         # under torchrun on several GPUs: keep each GPU's own batch-norm statistics
    sample_interval=500,      # steps between sample grids (GIF frames)
    checkpoint_interval=1000,  # steps between checkpoints (also written at the end and on Ctrl-C)
    dataset='mnist',          # 'mnist' downloads (falls back to 'mnist-5k' offline)
    data_dir='./data',
    out='runs/gan',
    seed=0,
)
# docs: end constants

#: Flags that steer one invocation but are not part of the run, so ``config.json`` leaves them out.
CONFIG_EXCLUDED = ('overwrite', 'no_eval', 'resume')


def add_train_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add every training flag, with its default from :data:`DEFAULTS`, to ``parser``."""
    parser.add_argument('--steps', type=parsing.positive_int, default=DEFAULTS['steps'], help='generator updates')
    parser.add_argument('--batch-size', type=parsing.positive_int, default=DEFAULTS['batch_size'])
    parser.add_argument('--lr', type=parsing.positive_float, default=DEFAULTS['lr'], help='Adam learning rate')
    parser.add_argument('--beta1', type=parsing.probability, default=DEFAULTS['beta1'], help="Adam's beta1")
    parser.add_argument('--latent-dim', type=parsing.positive_int, default=DEFAULTS['latent_dim'],
                        help="size of z (default: the model's own)")
    parser.add_argument('--model', choices=sorted(MODELS), default=DEFAULTS['model'])
    parser.add_argument('--d-steps', type=parsing.positive_int, default=DEFAULTS['d_steps'],
                        help='discriminator updates per generator update')
    parser.add_argument('--real-label', type=parsing.positive_float, default=DEFAULTS['real_label'],
                        help='discriminator target for real images, in (0, 1]')
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
    parser.add_argument('--resume', metavar='RUN_DIR', type=parsing.existing_dir,
                        help="continue a stopped run with its own config.json (takes no other flags)")
    parser.add_argument('--dataset', choices=DATASETS, default=DEFAULTS['dataset'])
    parser.add_argument('--data-dir', default=DEFAULTS['data_dir'])
    parser.add_argument('--out', default=DEFAULTS['out'], help='folder for every output')
    parser.add_argument('--overwrite', action='store_true', help='replace the outputs of a different run in --out')
    parser.add_argument('--device', type=parsing.torch_device, default=None,
                        help='cpu or cuda (default: cuda when available)')
    parser.add_argument('--seed', type=int, default=DEFAULTS['seed'])
    parser.add_argument('--no-eval', action='store_true', help='skip scoring the trained generator (FID, coverage)')
    parser.add_argument('--train-generator-only', action='store_true')
    parser.add_argument('--train-discriminator-only', action='store_true')
    return parser


def check_train_args(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: Sequence[str]):
    """Reject combinations of flags that parse but make no run (one line, exit 2 through ``parser.error``).

    Args:
        argv: the arguments as given, to tell flags given from defaults.
    """
    given = [arg.split('=')[0] for arg in argv if arg.startswith('--')]
    if args.resume and set(given) - {'--resume'}:
        parser.error(f"--resume continues a run with its own config.json and takes no other flags, got {' '.join(given)}")
    if args.train_generator_only and args.train_discriminator_only:
        parser.error('--train-generator-only and --train-discriminator-only exclude each other')
    if args.real_label > 1:
        parser.error(f'--real-label must be in (0, 1], got {args.real_label}')
    if os.path.exists(args.data_dir) and not os.path.isdir(args.data_dir):
        parser.error(f'--data-dir {args.data_dir!r} is a file, not a directory')


def train_config(args: argparse.Namespace, default_device: str) -> dict:
    """The run's configuration, as ``config.json`` records it: every flag but :data:`CONFIG_EXCLUDED`."""
    config = {name: value for name, value in vars(args).items() if name not in CONFIG_EXCLUDED}
    config['device'] = args.device or default_device
    return config


def parse_train_args(parser: argparse.ArgumentParser, argv: Optional[List[str]]) -> argparse.Namespace:
    """Parse ``argv`` with the training flags of ``parser`` and check them."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    check_train_args(parser, args, argv)
    return args
