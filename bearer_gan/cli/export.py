"""``bearer-gan export --run RUN_DIR --format torchscript|onnx --out FILE``: the run's generator as one file.

The library does the work (:mod:`bearer_gan.report.export`): it writes the generator that
``generator.pt`` holds (the moving average when the run kept one), checks the file against PyTorch
and prints its inputs and outputs. Here a user's mistake (a run without ``generator.pt``, an
extension that does not match ``--format``, an unwritable folder, a missing ``onnx`` extra) becomes
one line and exit code 2, and a file that fails its check one line and exit code 1.
"""
import argparse
import sys

from ..callbacks.saving import GeneratorFileError
from ..report.export import EXPORT_FORMATS, ExportCheckError, ExportError, describe_export, export_run
from .. import flags as parsing

__all__ = ['add_export_arguments', 'export']


def add_export_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    extensions = '; '.join(f"{name}: {', '.join(ends)}" for name, ends in EXPORT_FORMATS.items())
    parser.add_argument('--run', required=True, metavar='RUN_DIR', type=parsing.existing_dir,
                        help='run folder holding generator.pt')
    parser.add_argument('--format', required=True, choices=tuple(EXPORT_FORMATS),
                        help='torchscript (torch.jit.load) or onnx (onnxruntime; needs the onnx extra)')
    parser.add_argument('--out', required=True, metavar='FILE',
                        help=f'file to write, in an existing folder ({extensions})')
    return parser


def export(args: argparse.Namespace, parser: argparse.ArgumentParser):
    """Write the run's generator to ``args.out`` and print what it takes and draws."""
    try:
        exported = export_run(args.run, args.out, args.format)
    except (FileNotFoundError, GeneratorFileError, ExportError) as error:
        raise parsing.UsageError(str(error))
    except ExportCheckError as error:  # not the user's mistake: exit 1, as a run that went wrong
        print(f'{parser.prog}: error: {" ".join(str(error).split())}', file=sys.stderr)
        sys.exit(1)
    print('\n'.join(describe_export(exported)))
