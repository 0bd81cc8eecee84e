"""Federated GAN training across data owners on Flower: ``python examples/federated_gan.py``.

Several owners each hold a shard of the data; each round every owner trains the global generator
and discriminator on its own shard with the project's recipe, and the server averages the
networks (FedAvg, weighted by shard size). Only networks travel; no image leaves its owner.

    python examples/federated_gan.py --owners 5 --rounds 20 --local-steps 100 --split classes-per-owner 2
    python examples/federated_gan.py --split iid              # every owner sees every digit
    python examples/federated_gan.py --split dirichlet 0.3    # skewed class mixtures
    python examples/federated_gan.py --loss hinge --spectral-norm --conditional  # any recipe bearer-gan train trains
    python examples/federated_gan.py --deploy                 # a SuperLink and SuperNodes as separate processes

Each owner trains the recipe that ``bearer-gan train`` trains with the same flags (``--loss``,
``--lr-g``/``--lr-d``, ``--beta2``, ``--gp-weight``, ``--r1-gamma``, ``--conditional``,
``--spectral-norm``, ...: a :class:`bearer_gan.RunConfig`, built by :mod:`bearer_gan.recipe`).

By default it runs in Flower's simulation runtime (one process, the owners as Ray actors; needs
``pip install 'bearer_gan[federated-sim]'``). ``--deploy`` runs a real deployment on this machine
instead: a SuperLink and one SuperNode per owner on 127.0.0.1, the app submitted with ``flwr run``
and its status polled until it finishes (needs ``bearer_gan[federated]``).

Outputs in ``--out`` (default ``runs/federated``): ``samples/round_NNNN.png`` and
``samples/ema_round_NNNN.png`` (the global generator and its moving average across rounds, on
fixed noise), ``progress.gif`` / ``progress_ema.gif``, ``history.csv`` (per round: FID, digits
covered, the share of each digit, owners' losses, bytes sent and received, seconds),
``generator.pt`` / ``discriminator.pt`` (readable by ``python -m bearer_gan sample``),
``config.json`` and ``checkpoint.pt``. A stopped federation continues at its last finished round
with ``--resume OUT``; the same command on a finished run does nothing.
"""
import argparse
import importlib.util
import json
import logging
import os
import shutil
import sys
import warnings
from dataclasses import fields

os.environ.setdefault('FLWR_TELEMETRY_ENABLED', '0')  # offline: no usage events to Flower's servers

import bearer_gan  # noqa: E402
from bearer_gan import flags  # noqa: E402
from bearer_gan.federated import (FEDERATION_DATASETS, OPTIMIZER_STATES, FederatedConfig,  # noqa: E402
                                  federation_data, load_federated_checkpoint, parse_split, read_history, split_indices)
from bearer_gan.recipe import make_spec  # noqa: E402
from bearer_gan.run_folder import writable_dir  # noqa: E402

#: Everything a federated run writes into its ``--out`` folder (what ``--overwrite`` removes).
OUTPUTS = ('samples', 'progress.gif', 'progress_ema.gif', 'history.csv', 'generator.pt', 'discriminator.pt',
           'config.json', 'checkpoint.pt', 'checkpoint.prev.pt', 'deployment')
DEFAULTS = FederatedConfig()


def recipe_help(name: str) -> str:
    """``bearer-gan train``'s help of the recipe flag ``name`` (its RunConfig field's), so both say the same."""
    return bearer_gan.RunConfig.__dataclass_fields__[name].metadata['help']


def parse_args(argv=None):
    parser = flags.ArgumentParser(description='Federated GAN training across data owners on Flower.')
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
    parser.add_argument('--model', choices=sorted(bearer_gan.MODELS), default=DEFAULTS.model,
                        help=recipe_help('model'))
    parser.add_argument('--latent-dim', type=flags.positive_int, default=None, help=recipe_help('latent_dim'))
    parser.add_argument('--batch-size', type=flags.positive_int, default=DEFAULTS.batch_size)
    parser.add_argument('--loss', choices=tuple(bearer_gan.LOSSES), default=DEFAULTS.loss, help=recipe_help('loss'))
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
    parser.add_argument('--precision', choices=bearer_gan.PRECISIONS, default=DEFAULTS.precision)
    parser.add_argument('--ema-decay', type=flags.probability, default=DEFAULTS.ema_decay,
                        help="the server's moving average of the global generator, per round; 0 turns it off")
    parser.add_argument('--eval-samples', type=flags.positive_int, default=DEFAULTS.eval_samples,
                        help='generated images scored per round (FID, coverage)')
    parser.add_argument('--dataset', choices=FEDERATION_DATASETS, default=DEFAULTS.dataset)
    parser.add_argument('--data-dir', default=DEFAULTS.data_dir)
    parser.add_argument('--out', default=DEFAULTS.out, help='folder for every output')
    parser.add_argument('--overwrite', action='store_true', help='replace the outputs of another run in --out')
    parser.add_argument('--resume', metavar='RUN_DIR', type=flags.existing_dir,
                        help='continue a stopped federation from its checkpoint (takes no other flags but --deploy)')
    parser.add_argument('--seed', type=int, default=DEFAULTS.seed)
    parser.add_argument('--device', type=flags.torch_device, default=DEFAULTS.device or None,
                        help='where the server evaluates (default: cuda when available)')
    parser.add_argument('--deploy', action='store_true',
                        help='run a SuperLink and one SuperNode per owner as separate processes, submit with flwr run')
    parser.add_argument('--timeout', type=flags.positive_float, default=24 * 3600.0,
                        help='with --deploy: seconds before the run is stopped')
    parser.add_argument('--verbose', action='store_true', help="show Flower's and Ray's own log lines")
    args = parser.parse_args(argv)
    given = {arg.split('=')[0] for arg in (sys.argv[1:] if argv is None else argv) if arg.startswith('--')}
    if args.resume and given - {'--resume', '--deploy', '--timeout', '--verbose'}:
        parser.error('--resume continues a run with its own config.json and takes no other flags but --deploy, '
                     f"--timeout and --verbose, got {' '.join(sorted(given))}")
    if args.train_generator_only and args.train_discriminator_only:
        parser.error('--train-generator-only and --train-discriminator-only exclude each other')
    if args.participants is not None and args.participants > args.owners:
        parser.error(f'--participants ({args.participants}) cannot exceed --owners ({args.owners})')
    try:
        args.split = str(parse_split(args.split))
    except ValueError as error:
        parser.error(f'--split: {error}')
    return args


def config_from_args(args) -> FederatedConfig:
    """The run's settings; paths absolute, so that a deployment's other processes find them too."""
    names = {field.name for field in fields(FederatedConfig)}
    values = {name: value for name, value in vars(args).items() if name in names and value is not None}
    values.update(out=os.path.abspath(args.out), data_dir=os.path.abspath(args.data_dir),
                  participants=args.participants or 0, device=args.device or '')
    return FederatedConfig(**values)  # flags left out (None) take its defaults; a recipe that makes no run fails


def check_extras(deploy: bool) -> None:
    """Flower (and, for the simulation, Ray) must be installed; say how to install them otherwise."""
    extra = 'federated' if deploy else 'federated-sim'
    missing = [name for name in ('flwr',) + (() if deploy else ('ray',)) if importlib.util.find_spec(name) is None]
    if missing:
        raise flags.UsageError(f"{' and '.join(missing)} not installed: federated training needs "
                             f"pip install 'bearer_gan[{extra}]'")


def check_data(config: FederatedConfig) -> int:
    """Load the data and make the split once here, so that a split that cannot be made, or a model that cannot
    draw these images, fails now, in one line."""
    data = federation_data(config.dataset, config.data_dir)
    make_spec(config.recipe('cpu'), data)
    shards = split_indices(data.labels, config.owners, config.parsed_split, config.seed)
    return len(shards[0])


def finished_round(out: str) -> int:
    try:
        return int(load_federated_checkpoint(out)[0]['round'])
    except FileNotFoundError:
        return 0


def resolve_run(args):
    """``(config, resume)`` for this command, or None when there is nothing to do; raises UsageError
    for an ``--out`` that holds another run, or this run stopped half-way (without ``--resume``)."""
    if args.resume:
        path = os.path.join(args.resume, 'config.json')
        try:
            with open(path) as handle:
                config = FederatedConfig(**json.load(handle))
        except (OSError, ValueError, TypeError) as error:
            raise flags.UsageError(f'cannot resume {args.resume!r}: {path} is missing or unreadable ({error})')
        done = finished_round(args.resume)
        if done >= config.rounds:
            print(f'{args.resume} has finished all {config.rounds} rounds; nothing to do')
            return None
        if not os.path.exists(os.path.join(args.resume, 'checkpoint.pt')) and not done:
            raise flags.UsageError(f'cannot resume {args.resume!r}: it holds no checkpoint')
        print(f'resuming {args.resume} after round {done} of {config.rounds}')
        return config, True
    config = config_from_args(args)
    out = config.out
    if os.path.exists(out) and not os.path.isdir(out):
        raise flags.UsageError(f'--out {out!r} is a file, not a directory')
    if os.path.isdir(out) and os.listdir(out) and not args.overwrite:
        try:
            with open(os.path.join(out, 'config.json')) as handle:
                same = FederatedConfig(**json.load(handle)).identity() == config.identity()
        except (OSError, ValueError, TypeError):
            same = False
        if not same:
            raise flags.UsageError(f'--out {out!r} is not empty and holds a different run; choose another --out '
                                 'or pass --overwrite to replace its outputs')
        done = finished_round(out)
        if done >= config.rounds:
            print(f'{out} already holds this run, finished ({config.rounds} rounds); nothing to do '
                  '(--overwrite trains it again)')
            return None
        raise flags.UsageError(f'{out!r} holds this run, stopped after round {done} of {config.rounds}; continue it '
                             f'with --resume {out}, or pass --overwrite to start again')
    return config, False


def clear_outputs(out: str) -> None:
    """Remove a previous run's outputs (only the names in :data:`OUTPUTS`)."""
    for name in OUTPUTS:
        target = os.path.join(out, name)
        if os.path.isdir(target):
            shutil.rmtree(target)
        elif os.path.exists(target):
            os.remove(target)


def main(argv=None):
    with warnings.catch_warnings():  # one-line warnings and the Ray filter for this run only, then as before
        return _main(argv)


def _main(argv=None):
    args = parse_args(argv)
    program = os.path.basename(sys.argv[0])
    warnings.showwarning = lambda message, *_, **__: print(f'warning: {message}', file=sys.stderr)
    warnings.filterwarnings('ignore', message='Tip: In future versions of Ray')
    try:
        resolved = resolve_run(args)
        if resolved is None:
            return
        config, resume = resolved
        first_shard = check_data(config)
        check_extras(args.deploy)
        if args.deploy:
            from bearer_gan.federated.deployment import deployment_run_config
            deployment_run_config(config, resume)  # paths that `flwr run --run-config` cannot carry fail here
        if not resume:
            writable_dir(config.out)
            clear_outputs(config.out)
    except (flags.UsageError, bearer_gan.DatasetError, ValueError) as error:
        flags.fail(program, error)
    if not args.verbose:  # a filter, as Flower sets its logger's level when it is imported
        logging.getLogger('flwr').addFilter(lambda record: record.levelno >= logging.WARNING)
    where = 'a local deployment (SuperLink + SuperNodes)' if args.deploy else "Flower's simulation runtime"
    print(f'{config.nodes} of {config.owners} owners ({config.split}; owner 0 holds {first_shard} images), '
          f'{config.rounds} rounds of {config.local_steps} local steps, in {where}')
    try:
        if args.deploy:
            from bearer_gan.federated.deployment import DeploymentError, run_deployment
            try:
                run = run_deployment(config, resume, timeout=args.timeout)
            except DeploymentError as error:
                print(f'{program}: {error}', file=sys.stderr)
                sys.exit(1)
            traffic = run['network-traffic']
            print(f"run {run['run-id']} {run['status']}; Flower counted {traffic['total-bytes']:,} bytes in all")
        else:
            from bearer_gan.federated.app import run_simulation
            run_simulation(config, resume, verbose=args.verbose)
    except KeyboardInterrupt:
        print(f'\nstopped: every finished round is checkpointed in {config.out}; continue with '
              f'python {sys.argv[0]} --resume {config.out}', file=sys.stderr)
        sys.exit(130)
    rows = read_history(os.path.join(config.out, 'history.csv'))
    last, trained = rows[-1], rows[1:]
    print(f"after round {int(last['round'])}: FID {last['fid']:.1f} ({int(last['classes_covered'])}/10 digits), "
          f"moving average FID {last['ema_fid']:.1f} ({int(last['ema_classes_covered'])}/10 digits)")
    if trained:
        print(f"per round: {trained[-1]['bytes_to_owners']:,.0f} bytes to the owners, "
              f"{trained[-1]['bytes_from_owners']:,.0f} back, "
              f"{sum(row['round_seconds'] for row in trained) / len(trained):.1f} s on average")
    for name, what in (('samples', 'grids per round'), ('progress.gif', 'GIF across rounds'),
                       ('history.csv', 'history per round'), ('generator.pt', 'generator'),
                       ('checkpoint.pt', 'checkpoint')):
        print(f'{what:>18}: {os.path.join(config.out, name)}')


if __name__ == '__main__':
    main()
