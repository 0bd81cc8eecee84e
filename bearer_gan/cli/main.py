"""``bearer-gan`` (and ``python -m bearer_gan``): train a GAN, draw samples from a run, score a run.

``bearer-gan train [flags]`` is the trainer (:mod:`bearer_gan.cli.train`); ``federate`` trains one across data
owners on Flower (:mod:`bearer_gan.cli.federate`, as ``examples/federated_gan.py``); ``sample`` and
``evaluate`` read a finished run (:mod:`bearer_gan.cli.sample`, :mod:`bearer_gan.cli.tools`); ``report``
writes run pages and comparisons (:mod:`bearer_gan.cli.report`).
``bearer-gan COMMAND --help`` lists each command's flags.
"""
import sys
from typing import List, Optional

from .. import flags as parsing
from . import export, federate, report, sample, tools, train

__all__ = ['PROG', 'build_parser', 'main']

PROG = 'bearer-gan'


def build_parser() -> parsing.ArgumentParser:
    """The whole command line, every subcommand with its flags (also what the CLI reference is made from)."""
    parser = parsing.ArgumentParser(prog=PROG, description='A callback-driven GAN trainer built on torchbearer.')
    commands = parser.add_subparsers(dest='command', required=True,
                                     metavar='{train,federate,sample,evaluate,export,report}')
    parser.commands = {  # each subcommand's own parser, for its one-line errors
        'train': parsing.add_train_flags(commands.add_parser(
            'train', help='train a GAN', description='Train a GAN with bearer_gan.')),
        'federate': federate.add_federate_arguments(commands.add_parser(
            'federate', help='train a GAN across data owners on Flower (a simulation, or --deploy)',
            description='Federated GAN training across data owners on Flower.')),
        'sample': sample.add_sample_arguments(commands.add_parser(
            'sample', help='write generated images from a trained run to .npy, or latent walks to .gif/.mp4')),
        'evaluate': tools.add_evaluate_arguments(commands.add_parser(
            'evaluate', help="score a trained run's generator: FID and class coverage")),
        'export': export.add_export_arguments(commands.add_parser(
            'export', help="write a trained run's generator as a TorchScript or ONNX file")),
        'report': report.add_report_arguments(commands.add_parser(
            'report', help="rewrite runs' report.html pages, or compare runs on one page (--out)")),
    }
    return parser


def main(argv: Optional[List[str]] = None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ['train']:  # its flags are checked against the arguments as given (see bearer_gan.flags)
        return train.main(argv[1:], prog=f'{PROG} train')
    if argv[:1] == ['federate']:  # its flags are checked together, as examples/federated_gan.py checks them
        return federate.main(argv[1:], prog=f'{PROG} federate')
    parser = build_parser()
    args = parser.parse_args(argv)
    command = {'sample': sample.sample, 'evaluate': tools.evaluate, 'export': export.export,
               'report': report.report}[args.command]
    subparser = parser.commands[args.command]
    try:
        command(args, subparser)
    except parsing.UsageError as error:
        parsing.fail(subparser.prog, error)
