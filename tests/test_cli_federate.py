"""``bearer-gan federate``: the federated example's flags (every FederatedConfig field one), its one-line errors,
and the same federation as ``examples/federated_gan.py`` with the same flags."""
import argparse
import os
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import torch

from bearer_gan.cli.main import main as cli_main
from bearer_gan.federated import FederatedConfig, read_history
from bearer_gan.federated.flags import add_field_flags, config_from_args, federation_parser, parse_federation_flags
from conftest import needs, require_module

ROOT = Path(__file__).resolve().parents[1]
SMALL = ('--owners', '2', '--rounds', '2', '--local-steps', '3', '--batch-size', '16', '--eval-samples', '100',
         '--split', 'classes-per-owner', '5', '--device', 'cpu')
needs_simulation = needs(require_module, 'flwr', 'ray', extra='federated-sim')


def test_help_lists_a_flag_for_every_setting_of_a_federation():
    result = subprocess.run([sys.executable, '-m', 'bearer_gan', 'federate', '--help'], capture_output=True,
                            text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0 and result.stdout.startswith('usage: bearer-gan federate'), result.stderr
    for field in fields(FederatedConfig):
        assert re.search('--' + field.name.replace('_', '-') + r'(?![\w-])', result.stdout), field.name
    for flag in ('--resume', '--deploy', '--insecure', '--credentials', '--overwrite', '--timeout', '--verbose'):
        assert flag in result.stdout


def test_a_field_without_a_flag_of_its_own_gets_one_typed_by_its_default():
    parser = add_field_flags(argparse.ArgumentParser())
    assert {action.dest for action in parser._actions} >= {field.name for field in fields(FederatedConfig)}
    args = parser.parse_args(['--min-owners', '2', '--trim-fraction', '0.25', '--no-conditional'])
    assert (args.min_owners, args.trim_fraction, args.conditional, args.rounds) == (2, 0.25, False, 10)
    assert 'the fewest replies passing the checks' in parser.format_help()
    given = parse_federation_flags(['--augment', 'ada:cutout', '--dataset', 'fashion-mnist'], prog='x')
    assert (config_from_args(given).augment, config_from_args(given).dataset) == ('ada:cutout', 'fashion-mnist')
    defaults = parse_federation_flags([], parser=federation_parser('x'))
    assert all(getattr(defaults, field.name) in (field.default, None) or field.name == 'split'
               for field in fields(FederatedConfig))


@pytest.mark.parametrize('args, message', [
    (('--owners', '0'), '--owners: must be a positive integer'),
    (('--split', 'thirds'), '--split'),
    (('--trim-fraction', '0.7', '--aggregation', 'trimmed-mean'), 'trim-fraction must be in [0, 0.5)'),
    (('--insecure',), '--insecure and --credentials are for --deploy'),
    (('--deploy', '--insecure', '--credentials', '.'), '--credentials are for a secure deployment'),
    (('--augment', 'sometimes'), '--augment must be diffaugment or ada'),
])
def test_a_bad_flag_is_one_line_and_exit_code_2(tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        cli_main(['federate', *args, '--out', str(tmp_path / 'run')])
    stderr = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith('bearer-gan federate: ') and not (tmp_path / 'run').exists()


@needs_simulation
def test_the_subcommand_trains_what_the_example_trains(tmp_path):
    """The same flags through ``bearer-gan federate`` and ``examples/federated_gan.py``: the same history."""
    commands = {'cli': [sys.executable, '-m', 'bearer_gan', 'federate'],
                'example': [sys.executable, str(ROOT / 'examples' / 'federated_gan.py')]}
    histories = {}
    one_thread = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')  # the server's scores, summed in one order
    for name, command in commands.items():
        result = subprocess.run([*command, *SMALL, '--out', str(tmp_path / name)], capture_output=True, text=True,
                                cwd=ROOT, timeout=600, env=one_thread)
        assert result.returncode == 0 and 'after round 2' in result.stdout, result.stderr[-3000:]
        histories[name] = [{key: value for key, value in row.items() if 'seconds' not in key}
                           for row in read_history(tmp_path / name / 'history.csv')]
    assert [row['round'] for row in histories['cli']] == [0, 1, 2]
    # the owners train single-threaded in Ray's workers: the same networks, bit for bit ...
    for network in ('generator.pt', 'discriminator.pt'):
        cli, example = (torch.load(tmp_path / name / network, weights_only=True)['state_dict'] for name in commands)
        assert cli.keys() == example.keys() and all(torch.equal(cli[key], example[key]) for key in cli)
    # ... and scored by the server single-threaded. With a multi-threaded BLAS the last bits followed the machine's
    # load (round 0's FID once differed by 1.4e-7 relative, its mean confidence by 1.6e-6); a kernel may still pick
    # its path by memory alignment, so the scores agree to 1e-5, far below what any other run would change
    assert histories['cli'] == [pytest.approx(row, rel=1e-5, nan_ok=True) for row in histories['example']]


@pytest.mark.parametrize('ema_decay, expected', [
    (0.5, 'after round 3: FID skipped; moving average FID skipped'),  # a folder without Inception: nothing scored
    (0.0, 'after round 3: FID skipped')])
def test_the_summary_names_the_moving_average_when_the_run_keeps_one_even_unscored(tmp_path, ema_decay, expected):
    from bearer_gan.federated import FederatedConfig
    from bearer_gan.federated.launch import federation_summary as summary
    columns = ['round', 'fid', 'classes_covered', 'ema_fid', 'ema_classes_covered', 'bytes_to_owners',
               'bytes_from_owners', 'round_seconds']
    (tmp_path / 'history.csv').write_text(','.join(columns) + '\n0,,,,,,,\n3,,,,,10,20,1.5\n')  # round 0: untrained
    assert summary(FederatedConfig(out=str(tmp_path), ema_decay=ema_decay))[:2] == [
        expected, 'per round: 10 bytes to the owners, 20 back, 1.5 s on average']


def test_scores_name_as_many_classes_as_the_scorer_has():
    from bearer_gan.federated.server import scores_text
    row = dict(fid=12.34, classes_covered=3.0, **{f'share_{label}': 0.25 for label in range(4)})
    assert scores_text(row) == 'FID 12.3, 3/4 classes'
    assert scores_text(dict(row, fid=float('nan'), classes_covered=float('nan'))) == 'FID skipped'
