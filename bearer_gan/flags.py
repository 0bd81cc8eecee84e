"""The command-line form of a run: flags built from :class:`~bearer_gan.config.RunConfig`'s fields, argument
types, and one-line errors.

``bearer-gan train`` and ``python examples/gan.py`` parse the same flags here
(:func:`parse_run_flags`), and no flag has a default of its own: a flag not given takes the data
set's recipe or :class:`~bearer_gan.config.RunConfig`'s default. A user's mistake gets one line
on stderr and exit code 2, never a traceback: the argument types below reject bad values while
parsing (with the same checks as :data:`~bearer_gan.kinds.KINDS`), and :func:`fail` turns later
problems (an unwritable folder, a missing generator) into the same one-line answer.
"""
import argparse
import math
import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, NoReturn, Optional, Sequence, Tuple

import torch

from .config import ConfigError, RunConfig, flag_fields
from .kinds import KINDS
from .data import DATASETS

__all__ = ['UsageError', 'ArgumentParser', 'fail', 'positive_int', 'positive_float', 'probability',
           'torch_device', 'existing_dir', 'non_negative_int', 'non_negative_float', 'image_size',
           'dataset_or_folder', 'augmentation', 'RESUME_FLAGS', 'DISPLAY_FLAGS', 'Invocation', 'add_run_flags',
           'add_train_flags', 'train_parser', 'parse_run_flags']

#: Flags ``--resume RUN`` accepts besides itself: they change how far the run goes, where it runs and what it
#: shows, not what it trains (``no_eval`` is no field of the run).
RESUME_FLAGS = ('steps', 'device', 'no_eval', 'sample_interval', 'log_interval')

#: Flags that only change what this invocation prints (never recorded; ``--resume`` takes them too).
DISPLAY_FLAGS = ('quiet', 'preview')


class UsageError(ConfigError):
    """A mistake the user can fix; its message is printed as one line and the program exits with code 2."""


def fail(program: str, message: str) -> NoReturn:
    """Print ``program: error: message`` on one line of stderr and exit with code 2."""
    print(f'{program}: error: {" ".join(str(message).split())}', file=sys.stderr)
    sys.exit(2)


class ArgumentParser(argparse.ArgumentParser):
    """:class:`argparse.ArgumentParser` whose errors are one line (argparse also prints the usage)."""

    def error(self, message):
        fail(self.prog, f'{message} (see --help)')

    def parse_args(self, args=None, namespace=None):
        args = sys.argv[1:] if args is None else list(args)
        for arg in args:  # argparse drops a '--' value and silently keeps the default
            if arg == '--' or arg.endswith('=--'):
                self.error(f"{arg!r}: '--' is not a value")
        return super().parse_args(args, namespace)


def _number(text: str, kind):
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f'{text!r} is not {"an integer" if kind is int else "a number"}')
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f'{text!r} is not a finite number')
    return value


def _of_kind(name: str) -> Callable[[str], object]:
    """The argument type of :data:`~bearer_gan.kinds.KINDS`' ``name``: text to a number, checked as
    :class:`~bearer_gan.config.RunConfig` checks it."""
    kind = KINDS[name]

    def parse(text: str):
        value = _number(text, kind.type)
        if not kind.check(value):
            raise argparse.ArgumentTypeError(f'must be {kind.says}, got {text}')
        return value
    parse.__name__ = name
    return parse


def augmentation(text: str) -> Optional[str]:
    """``--augment``: a policy checked as :class:`~bearer_gan.config.RunConfig` checks it, or ``none`` for None, which
    turns off a data set's own augmentation (an explicit None overrides its recipe)."""
    if text == 'none':
        return None
    if not KINDS['augment'].check(text):
        raise argparse.ArgumentTypeError(f"must be none, or {KINDS['augment'].says}, got {text}")
    return text


positive_int = _of_kind('positive_int')
non_negative_int = _of_kind('non_negative_int')
positive_float = _of_kind('positive_float')
non_negative_float = _of_kind('non_negative_float')
probability = _of_kind('probability')  # a number in [0, 1)
image_size = _of_kind('image_size')  # an image side in pixels, at least 8 (the smallest the models and scorers take)


def dataset_or_folder(names: Sequence[str]) -> Callable[[str], str]:
    """An argument type taking one of ``names`` or the path of an existing folder (a name wins over a folder
    of that name: write ``./mnist`` for the folder)."""
    def dataset(text: str) -> str:
        if text in names:
            return text
        if os.path.isdir(text):
            return text
        if os.path.exists(text):
            raise argparse.ArgumentTypeError(f'{text!r} is a file, not a folder of images')
        raise argparse.ArgumentTypeError(f'{text!r} is neither a data set ({", ".join(names)}) nor a folder')
    return dataset


def torch_device(text: str) -> str:
    """A device string torch understands and this machine has (``cuda`` only with a GPU)."""
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f'{text!r} is not a device (use cpu or cuda)')
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise argparse.ArgumentTypeError(f'{text!r} was asked for but no CUDA GPU is available (use --device cpu)')
    if device.type == 'cuda' and device.index is not None and device.index >= torch.cuda.device_count():
        raise argparse.ArgumentTypeError(f'{text!r}: there are only {torch.cuda.device_count()} GPUs')
    if device.type not in ('cpu', 'cuda'):
        raise argparse.ArgumentTypeError(f'{text!r} is not supported (use cpu or cuda)')
    return text


def existing_dir(text: str) -> str:
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f'{text!r} is not a directory')
    return text


@dataclass(frozen=True)
class Invocation:
    """How this command was called, besides the run: the run flags given (field names to values, those left
    out take the recipe's or the default), and the flags that steer this invocation only."""
    given: Dict[str, Any]
    resume: Optional[str] = None    # --resume RUN: continue that run with its own config.json
    overwrite: bool = False         # --overwrite: replace the outputs of a different run in --out
    quiet: bool = False             # --quiet: print only errors and the final summary
    preview: bool = False           # --preview: draw each sample grid in the terminal
    evaluate: bool = True           # not --no-eval: score the trained generator


def _field_type(spec) -> Callable[[str], Any]:
    kind = spec.metadata['kind']
    if kind == 'dataset':
        return dataset_or_folder(DATASETS)
    if kind == 'device':
        return torch_device
    if kind == 'augment':
        return augmentation
    if kind in ('text', 'int') or spec.metadata['choices'] is not None:
        return KINDS[kind].type
    return _of_kind(kind)


def _help(spec) -> str:
    shown = spec.default is not None and not isinstance(spec.default, bool) and 'default' not in spec.metadata['help']
    return spec.metadata['help'] + (f' (default: {spec.default})' if shown else '')


def add_run_flags(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """One flag per field of :class:`~bearer_gan.config.RunConfig` (``--lr-g`` for ``lr_g``), with its help, type and
    choices. No flag has a default of its own (argparse's ``SUPPRESS``): the parsed namespace holds only the
    flags given, and the config supplies the rest. A switch also has its ``--no-`` form (``--no-conditional``)."""
    for spec in flag_fields():
        meta, name = spec.metadata, '--' + spec.name.replace('_', '-')
        if meta['kind'] == 'switch':
            action = 'store_true' if meta['store_true'] else argparse.BooleanOptionalAction
            parser.add_argument(name, action=action, default=argparse.SUPPRESS, help=meta['help'])
            continue
        choices = tuple(meta['choices']()) if meta['choices'] is not None else None
        metavar = {'dataset': f"{{{','.join(DATASETS)}}} or FOLDER", 'image_size': 'N', 'non_negative_int': 'N'}
        parser.add_argument(name, type=_field_type(spec), choices=choices, default=argparse.SUPPRESS,
                            metavar=metavar.get(meta['kind']), help=_help(spec))
    return parser


def train_parser(prog: Optional[str] = None) -> 'ArgumentParser':
    """The parser of ``bearer-gan train`` and ``examples/gan.py``: the run's flags and this invocation's."""
    return add_train_flags(ArgumentParser(prog=prog, description='Train a GAN with bearer_gan.'))


def add_train_flags(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the run's flags (:func:`add_run_flags`) and this invocation's (``--resume``, ``--overwrite``,
    ``--quiet``, ``--preview``, ``--no-eval``) to ``parser``."""
    add_run_flags(parser)
    parser.add_argument('--resume', metavar='RUN_DIR', type=existing_dir,
                        help="continue a stopped run with its own config.json; takes only --steps (to extend it), "
                             '--device, --no-eval, --sample-interval, --log-interval, --quiet and --preview')
    parser.add_argument('--overwrite', action='store_true', help='replace the outputs of a different run in --out')
    parser.add_argument('--quiet', action='store_true', help='print only errors and the final summary')
    parser.add_argument('--preview', action='store_true',
                        help='draw each sample grid in the terminal (nothing when not on a terminal)')
    parser.add_argument('--no-eval', action='store_true', help='skip scoring the trained generator (FID, coverage)')
    return parser


def parse_run_flags(argv: Optional[List[str]] = None,
                    prog: Optional[str] = None) -> Tuple[Optional[RunConfig], Invocation]:
    """The run that ``argv`` asks for and how: ``(config, invocation)``. ``config`` is None for ``--resume``
    (the run's own ``config.json`` says what it trains; :func:`bearer_gan.run_folder.open_run` reads it).

    A bad flag, a combination that makes no run (:class:`~bearer_gan.config.ConfigError`) or a flag that
    ``--resume`` does not take ends the program with one line and exit code 2.
    """
    parser = train_parser(prog)
    options = vars(parser.parse_args(sys.argv[1:] if argv is None else list(argv)))
    invocation = Invocation(resume=options.pop('resume'), overwrite=options.pop('overwrite'),
                            quiet=options.pop('quiet'), preview=options.pop('preview'),
                            evaluate=not options.pop('no_eval'), given=options)
    if invocation.resume:
        refused = sorted(set(options) - set(RESUME_FLAGS))
        refused += ['overwrite'] if invocation.overwrite else []
        if refused:
            allowed = ', '.join('--' + name.replace('_', '-') for name in RESUME_FLAGS + DISPLAY_FLAGS)
            parser.error(f"--resume continues a run with its own config.json and takes only {allowed}; "
                         f"got {', '.join('--' + name.replace('_', '-') for name in sorted(refused))}")
        return None, invocation
    try:
        return RunConfig.for_dataset(**options), invocation
    except ConfigError as error:
        parser.error(str(error))
