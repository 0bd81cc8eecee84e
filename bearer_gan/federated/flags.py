"""The federation's command line: one flag per field of :class:`~bearer_gan.federated.FederatedConfig`, and the
flags of one invocation (``--resume``, ``--deploy``, ...).

``bearer-gan federate`` (:mod:`bearer_gan.cli.federate`) and ``examples/federated_gan.py`` parse with this one
parser, so they take the same flags. The recipe's flags say what ``bearer-gan train``'s say (their help is the
:class:`~bearer_gan.config.RunConfig` field's); a field of FederatedConfig given no flag of its own below still gets
one (:func:`add_field_flags`), typed by its default and helped by the class's docstring, so a new setting is a flag
as soon as it is a field.
"""
import argparse
import os
import re
import sys
from dataclasses import MISSING, fields
from typing import List, Optional

from .. import flags
from ..config import PRECISIONS, RunConfig
from ..losses import LOSSES
from ..models import MODELS
from .aggregate import AGGREGATIONS
from .config import OPTIMIZER_STATES, FederatedConfig
from .server_optimizer import DEFAULT_LRS, SERVER_OPTIMIZERS
from .split import parse_split

__all__ = ['RESUME_FLAGS', 'recipe_help', 'add_federation_flags', 'add_field_flags',
           'federation_parser', 'parse_federation_flags', 'config_from_args']

DEFAULTS = FederatedConfig()
#: What ``--resume`` takes besides itself: the run's settings are its own ``config.json``'s.
RESUME_FLAGS = ('--resume', '--deploy', '--timeout', '--verbose', '--insecure', '--credentials')


def recipe_help(name: str) -> str:
    """``bearer-gan train``'s help of the recipe flag ``name`` (its RunConfig field's), so both say the same."""
    return RunConfig.__dataclass_fields__[name].metadata['help']


def _documented(name: str) -> str:
    """The line FederatedConfig's docstring gives attribute ``name`` (its ``Attributes:`` section), or ''."""
    found = re.search(rf'^\s+{name}: (.+?)(?=\n\s+\w+: |\n\n|\Z)', FederatedConfig.__doc__ or '', re.M | re.S)
    return ' '.join(found.group(1).split()) if found else ''


def add_field_flags(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """A flag for each field of FederatedConfig that ``parser`` has none for yet: a switch for a boolean, else
    typed by the field's default, with the field's default and the docstring's help (``parser`` has no required
    argument: the flags it has are the names its empty command line sets)."""
    taken = set(vars(parser.parse_known_args([])[0]))
    for field in fields(FederatedConfig):
        if field.name in taken:
            continue
        default = field.default if field.default is not MISSING else None
        name = '--' + field.name.replace('_', '-')
        if isinstance(default, bool):
            parser.add_argument(name, action=argparse.BooleanOptionalAction, default=default,
                                help=_documented(field.name))
        else:
            parser.add_argument(name, type=type(default) if default is not None else str, default=default,
                                help=_documented(field.name))
    return parser


def add_federation_flags(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the federation's flags to ``parser``: FederatedConfig's fields (their defaults), then this invocation's."""
    parser.add_argument('--owners', type=flags.positive_int, default=DEFAULTS.owners,
                        help='data owners the data set is split among')
    parser.add_argument('--participants', type=flags.positive_int, default=None,
                        help='owners that take part, 0 .. P-1 (default: all)')
    parser.add_argument('--rounds', type=flags.positive_int, default=DEFAULTS.rounds, help='federated rounds')
    parser.add_argument('--local-steps', type=flags.positive_int, default=DEFAULTS.local_steps,
                        help='generator updates per owner per round')
    parser.add_argument('--split', nargs='+', default=DEFAULTS.split.split(), metavar='WORD',
                        help="how the data is cut among owners: iid, 'classes-per-owner K' or 'dirichlet ALPHA'")
    parser.add_argument('--optimizer-state', choices=OPTIMIZER_STATES, default=DEFAULTS.optimizer_state,
                        help="keep each owner's Adam moments between its rounds, or reset them every round")
    parser.add_argument('--train-generator-only', action='store_true', help='owners leave the discriminator as it came')
    parser.add_argument('--train-discriminator-only', action='store_true', help='owners leave the generator as it came')
    # the owners' recipe: bearer-gan train's flags (RunConfig's fields), the federation's defaults
    parser.add_argument('--model', choices=sorted(MODELS), default=DEFAULTS.model, help=recipe_help('model'))
    parser.add_argument('--latent-dim', type=flags.positive_int, default=None, help=recipe_help('latent_dim'))
    parser.add_argument('--batch-size', type=flags.positive_int, default=DEFAULTS.batch_size)
    parser.add_argument('--loss', choices=tuple(LOSSES), default=DEFAULTS.loss, help=recipe_help('loss'))
    parser.add_argument('--lr', type=flags.positive_float, default=DEFAULTS.lr, help='Adam learning rate')
    for name in ('lr_g', 'lr_d', 'real_label', 'gp_weight'):  # default: the run's own (travels as 0)
        parser.add_argument('--' + name.replace('_', '-'), type=flags.positive_float, default=None,
                            help=recipe_help(name))
    parser.add_argument('--beta1', type=flags.probability, default=DEFAULTS.beta1, help="Adam's beta1")
    parser.add_argument('--beta2', type=flags.probability, default=DEFAULTS.beta2, help=recipe_help('beta2'))
    parser.add_argument('--d-steps', type=flags.positive_int, default=DEFAULTS.d_steps)
    parser.add_argument('--r1-gamma', type=flags.non_negative_float, default=DEFAULTS.r1_gamma,
                        help=recipe_help('r1_gamma'))
    parser.add_argument('--r1-interval', type=flags.positive_int, default=DEFAULTS.r1_interval,
                        help=recipe_help('r1_interval'))
    for name in ('conditional', 'spectral_norm', 'compile'):
        parser.add_argument('--' + name.replace('_', '-'), action=argparse.BooleanOptionalAction, default=None,
                            help=recipe_help(name))
    parser.add_argument('--precision', choices=PRECISIONS, default=DEFAULTS.precision)
    parser.add_argument('--augment', default=None, metavar='METHOD[:OPS]',
                        help=recipe_help('augment') + "; with ada each owner adapts its own p, kept between its rounds")
    parser.add_argument('--ema-decay', type=flags.probability, default=DEFAULTS.ema_decay,
                        help="the server's moving average of the global generator, per round; 0 turns it off")
    parser.add_argument('--server-optimizer', choices=SERVER_OPTIMIZERS, default=DEFAULTS.server_optimizer,
                        help="how the server turns the owners' average into the global networks (fedavg: the average)")
    own_rates = ', '.join(f'{name} {lr:g}' for name, lr in DEFAULT_LRS.items() if name != 'fedavg')
    parser.add_argument('--server-lr', type=float, default=None,
                        help=f"the server optimizer's learning rate (default: the optimizer's own, {own_rates})")
    parser.add_argument('--server-momentum', type=float, default=DEFAULTS.server_momentum,
                        help="fedavgm's momentum (default 0.5)")
    for name, what in (('beta1', 'first-moment decay'), ('beta2', 'second-moment decay'), ('tau', 'adaptivity')):
        parser.add_argument(f'--server-{name}', type=float, default=getattr(DEFAULTS, f'server_{name}'),
                            help=f"fedadam's and fedyogi's {what}")
    parser.add_argument('--eval-samples', type=flags.positive_int, default=DEFAULTS.eval_samples,
                        help='generated images scored per round (FID, coverage)')
    parser.add_argument('--aggregation', choices=AGGREGATIONS, default=DEFAULTS.aggregation,
                        help="how the server combines the owners' networks: FedAvg's weighted mean, or the "
                             'coordinate-wise median or trimmed mean (robust to a bad owner)')
    parser.add_argument('--trim-fraction', type=float, default=DEFAULTS.trim_fraction,
                        help='with --aggregation trimmed-mean: the share of owners dropped at each end, per coordinate')
    parser.add_argument('--min-owners', type=flags.positive_int, default=DEFAULTS.min_owners,
                        help='the fewest replies passing the checks that make a round; with fewer the run stops')
    parser.add_argument('--drill-faulty-owner', default=DEFAULTS.drill_faulty_owner, metavar='K:KIND',
                        help='rehearsal only: owner K spoils its reply every round (K:nan, K:scale100 or K:shape)')
    parser.add_argument('--dataset', default=DEFAULTS.dataset,
                        help="mnist-5k, mnist, fashion-mnist, cifar10 or a folder of images, as bearer-gan train's; "
                             'each owner cuts its shard from its own copy (default: mnist-5k)')
    parser.add_argument('--data-dir', default=DEFAULTS.data_dir,
                        help="where named data sets are read or downloaded, and a folder's cache is kept")
    parser.add_argument('--out', default=DEFAULTS.out, help='folder for every output')
    parser.add_argument('--seed', type=int, default=DEFAULTS.seed)
    parser.add_argument('--device', type=flags.torch_device, default=DEFAULTS.device or None,
                        help='where the server evaluates (default: cuda when available)')
    add_field_flags(parser)  # every other field of FederatedConfig
    # this invocation's flags
    parser.add_argument('--overwrite', action='store_true', help='replace the outputs of another run in --out')
    parser.add_argument('--resume', metavar='RUN_DIR', type=flags.existing_dir,
                        help='continue a stopped federation from its checkpoint (takes no other flags but --deploy)')
    parser.add_argument('--deploy', action='store_true',
                        help='run a SuperLink and one SuperNode per owner as separate processes, submit with flwr run')
    parser.add_argument('--timeout', type=flags.positive_float, default=24 * 3600.0,
                        help='with --deploy: seconds before the run is stopped')
    parser.add_argument('--insecure', action='store_true',
                        help='with --deploy: plaintext connections, and any SuperNode admitted (default: TLS, and only '
                             'the SuperNodes whose keys this run made)')
    parser.add_argument('--credentials', metavar='DIR', type=flags.existing_dir,
                        help='with --deploy: the CA, server certificate and key, and supernode-<i>.key/.pub made '
                             'beforehand (checked first), instead of fresh ones')
    parser.add_argument('--verbose', action='store_true', help="show Flower's and Ray's own log lines")
    return parser


def federation_parser(prog: Optional[str] = None) -> flags.ArgumentParser:
    """The parser of ``bearer-gan federate`` and ``examples/federated_gan.py``."""
    return add_federation_flags(flags.ArgumentParser(
        prog=prog, description='Federated GAN training across data owners on Flower.'))


def parse_federation_flags(argv: Optional[List[str]] = None, prog: Optional[str] = None,
                           parser: Optional[argparse.ArgumentParser] = None) -> argparse.Namespace:
    """The flags of ``argv`` (default: ``sys.argv[1:]``), with the checks that need several of them; ``--split``
    comes back as its canonical text. A bad flag ends the program with one line and exit code 2."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = parser or federation_parser(prog)
    args = parser.parse_args(argv)
    given = {arg.split('=')[0] for arg in argv if arg.startswith('--')}
    if args.resume and given - set(RESUME_FLAGS):
        parser.error('--resume continues a run with its own config.json and takes no other flags but --deploy, '
                     f"--insecure, --credentials, --timeout and --verbose, got {' '.join(sorted(given))}")
    if (args.insecure or args.credentials) and not args.deploy:
        parser.error('--insecure and --credentials are for --deploy (the simulation runs in one process)')
    if args.insecure and args.credentials:
        parser.error('--credentials are for a secure deployment, not --insecure')
    if args.train_generator_only and args.train_discriminator_only:
        parser.error('--train-generator-only and --train-discriminator-only exclude each other')
    if args.participants is not None and args.participants > args.owners:
        parser.error(f'--participants ({args.participants}) cannot exceed --owners ({args.owners})')
    try:
        args.split = str(parse_split(args.split))
    except ValueError as error:
        parser.error(f'--split: {error}')
    return args


def config_from_args(args: argparse.Namespace) -> FederatedConfig:
    """The run's settings; paths absolute, so that a deployment's other processes find them too."""
    names = {field.name for field in fields(FederatedConfig)}
    values = {name: value for name, value in vars(args).items() if name in names and value is not None}
    values.update(out=os.path.abspath(args.out), data_dir=os.path.abspath(args.data_dir),
                  participants=args.participants or 0, device=args.device or '')
    return FederatedConfig(**values)  # flags left out (None) take its defaults; a recipe that makes no run fails
