"""Every command the README and the docs show can be copied: the real parser takes its flags.

Each ``bearer-gan ...``, ``python -m bearer_gan ...`` (also after ``torchrun``) and ``python examples/...`` command
in ``README.md`` and ``docs/*.rst``, in a code block or an inline literal, is parsed, and only parsed, by the
parser the command line uses: :func:`bearer_gan.flags.parse_run_flags` for ``train`` and ``examples/gan.py``
(which also builds the :class:`~bearer_gan.RunConfig`, so a combination that makes no run fails too),
:func:`bearer_gan.cli.main.build_parser` for the other commands, and ``parse_args`` of
``examples/federated_gan.py`` for the federation. Nothing is trained or read: the run folders a command names
count as existing, and ``--device cuda`` as available.

The tables' flags are held to more: each row of the Fashion-MNIST table, given after
``bearer-gan train --dataset fashion-mnist``, must train exactly the recipe the benchmark trained for it.
"""
import csv
import json
import os
import re
import shlex
from pathlib import Path
from typing import Iterator, List, Tuple

import pytest
import torch

import bearer_gan
from bearer_gan.cli.main import build_parser
from bearer_gan.config import RunConfig
from bearer_gan.data import DATASETS
from bearer_gan.federated.flags import parse_federation_flags
from bearer_gan.flags import parse_run_flags
from conftest import load_script

ROOT = Path(__file__).resolve().parents[1]
PAGES = ['README.md'] + sorted(str(path.relative_to(ROOT)) for path in (ROOT / 'docs').glob('*.rst'))

#: Where a command starts: the installed command, the package as a module (alone or after torchrun), a script.
START = re.compile(r'(?:(?<=^)|(?<=[\s`$(]))(bearer-gan|python -m bearer_gan|-m bearer_gan|python examples/[\w]+\.py)'
                   r'(?=[\s`]|$)')
#: Placeholders the pages write in commands, and what stands for them when the command is parsed.
PLACEHOLDERS = {'RUN': 'runs/gan', 'RUN_DIR': 'runs/gan', 'OUT': 'runs/gan', 'K': '3', 'N': '100', 'T': '0.7',
                'FILE': 'file', 'DIR': 'credentials'}
#: The flags whose value is a folder that must exist, and the train flag that takes a name or a folder.
FOLDER_FLAGS = ('--run', '--resume', '--credentials')
SUBCOMMANDS = ('train', 'federate', 'sample', 'evaluate', 'export', 'report')


def logical_lines(path: Path) -> Iterator[Tuple[int, str]]:
    """``(line number, text)`` with a backslash continuation, or an inline literal left open at the end of a line,
    joined to the next line."""
    lines, tick = path.read_text().splitlines(), '`' if path.suffix == '.md' else '``'

    def open_at_end(text: str) -> bool:
        return text.rstrip().endswith('\\') or (not text.startswith('```') and text.count(tick) % 2 == 1)

    number = 0
    while number < len(lines):
        start, text = number + 1, lines[number]
        while number + 1 < len(lines) and open_at_end(text) and not lines[number + 1].startswith('```'):
            number += 1
            text = text.rstrip().rstrip('\\').rstrip() + ' ' + lines[number].strip()
        yield start, text
        number += 1


def commands(page: str) -> List[Tuple[str, str]]:
    """``(where, command)`` for each command on ``page``: from its start to the end of its inline literal, or to a
    shell comment or the end of its line in a code block."""
    found = []
    for number, text in logical_lines(ROOT / page):
        text = re.split(r'\s#\s|\s#$', text)[0]  # a shell comment's words are no command
        for match in START.finditer(text):
            rest = text[match.start():]
            rest = rest.split('`')[0].strip()
            found.append((f'{page}:{number}', rest))
    return found


COMMANDS = [command for page in PAGES for command in commands(page)]


def argv_of(command: str) -> Tuple[str, List[str]]:
    """``(program, arguments)``: ``train``, ``sample``, ... for the package's commands, the script's path for a
    script; placeholders replaced."""
    words = shlex.split(command)
    if words[0] == 'bearer-gan':
        program, arguments = 'bearer-gan', words[1:]
    elif words[:3] == ['python', '-m', 'bearer_gan']:
        program, arguments = 'bearer-gan', words[3:]
    elif words[:2] == ['-m', 'bearer_gan']:
        program, arguments = 'bearer-gan', words[2:]
    else:
        program, arguments = words[1], words[2:]
    unknown = [word for word in arguments if re.fullmatch(r'[A-Z][A-Z_]*', word) and word not in PLACEHOLDERS]
    assert not unknown, f'{command!r}: placeholders {unknown} have no stand-in in PLACEHOLDERS'
    return program, [os.path.expanduser(PLACEHOLDERS.get(word, word)) for word in arguments]  # ~ as a shell does


def folders_named(program: str, arguments: List[str]) -> List[str]:
    """The folders the command needs to exist: run folders, a data set given as a folder, ``report``'s runs."""
    folders = [arguments[index + 1] for index, word in enumerate(arguments[:-1]) if word in FOLDER_FLAGS]
    folders += [arguments[index + 1] for index, word in enumerate(arguments[:-1])
                if word == '--dataset' and arguments[index + 1] not in DATASETS]
    if program == 'bearer-gan' and arguments[:1] == ['report']:
        folders += [word for word in arguments[1:] if not word.startswith('-') and not word.endswith('.html')]
    return folders


@pytest.fixture
def parse_only(monkeypatch, tmp_path, capsys):
    """Parse a command as its program does, and nothing more: its folders exist, CUDA is there, errors come back as
    the one line the user would see."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('HOME', str(tmp_path))
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'device_count', lambda: 8)
    real_isdir = os.path.isdir
    federated = {}

    def parse(command: str):
        program, arguments = argv_of(command)
        named = {os.path.abspath(folder) for folder in folders_named(program, arguments)}
        monkeypatch.setattr(os.path, 'isdir', lambda path: os.path.abspath(path) in named or real_isdir(path))
        try:
            if program == 'bearer-gan' and arguments[:1] == ['train']:
                return parse_run_flags(arguments[1:], prog='bearer-gan train')
            if program == 'bearer-gan' and arguments[:1] == ['federate']:  # its flags checked together
                return parse_federation_flags(arguments[1:], prog='bearer-gan federate')
            if program == 'bearer-gan':
                return build_parser().parse_args(arguments)
            if program == 'examples/gan.py':
                return parse_run_flags(arguments, prog='gan.py')  # as examples/gan.py's configure() does
            if program == 'examples/federated_gan.py':
                if 'module' not in federated:
                    federated['module'] = load_script(ROOT / 'examples' / 'federated_gan.py', 'federated_gan_example')
                return federated['module'].parse_args(arguments)
            raise AssertionError(f'no parser for {program}')
        except SystemExit as error:
            if error.code == 0 and '--help' in arguments:  # `bearer-gan train --help`: prints the flags, exits 0
                return None
            raise AssertionError(f'{command!r} is refused (exit {error.code}): {capsys.readouterr().err.strip()}')
        finally:
            monkeypatch.setattr(os.path, 'isdir', real_isdir)
    return parse


def test_the_pages_show_commands_of_every_kind():
    """The extraction finds what the pages show; if it found nothing the test below would check nothing."""
    programs = {argv_of(command)[0] for _, command in COMMANDS}
    assert programs == {'bearer-gan', 'examples/gan.py', 'examples/federated_gan.py'}
    shown = {argv_of(command)[1][0] for _, command in COMMANDS if argv_of(command)[0] == 'bearer-gan'
             and argv_of(command)[1]}
    assert set(SUBCOMMANDS) <= shown
    assert len(COMMANDS) > 60


@pytest.mark.parametrize('where, command', COMMANDS, ids=[f'{where} {command}'[:120] for where, command in COMMANDS])
def test_each_command_in_the_docs_is_taken_by_its_parser(where, command, parse_only):
    program, arguments = argv_of(command)
    if program == 'bearer-gan' and len(arguments) <= 1:  # `bearer-gan`, `bearer-gan sample`: a name, not a command
        assert not arguments or arguments[0] in SUBCOMMANDS, f'{where}: {command!r} names no command'
        return
    if '...' in command:  # `bearer-gan train ...same flags...`: the page elides the flags on purpose
        return
    parse_only(command)


def test_a_broken_flag_is_refused(parse_only):
    """The parse is real: a flag that does not exist, a value out of range, or a missing required flag fails."""
    for command in ('bearer-gan train --lr-gen 1e-4', 'bearer-gan train --model resnet32-sn',
                    'python examples/gan.py --loss hinge --real-label 0.9', 'bearer-gan sample --run runs/gan',
                    'python examples/federated_gan.py --split thirds', 'bearer-gan export --run RUN --format pdf'):
        with pytest.raises(AssertionError, match='is refused'):
            parse_only(command)
    assert commands('README.md')[0][1] == 'bearer-gan train'


# ---------------------------------------------------------------- the tables' flags

@pytest.fixture
def budget():
    module = load_script(ROOT / 'benchmarks' / 'fashion_budget.py', 'fashion_budget_commands')
    yield module
    for name in module.BENCHMARK_MODELS:
        if name in bearer_gan.MODELS:
            bearer_gan.unregister_model(name)


#: The fields that say where, how long and on what a run trains, not its recipe.
NOT_RECIPE = ('dataset', 'data_dir', 'out', 'steps', 'seed', 'device')


def recipe_of(config: RunConfig) -> dict:
    return {name: value for name, value in config.to_dict().items() if name not in NOT_RECIPE}


def test_each_row_of_the_fashion_table_copied_after_dataset_fashion_mnist_trains_its_recipe(budget, parse_only):
    """Complete flags: ``bearer-gan train --dataset fashion-mnist FLAGS`` builds the very config the benchmark
    trained for the row; a pair only the benchmark registers is refused by ``bearer-gan train``, and the page
    shows the benchmark command that trains it."""
    page = (ROOT / 'docs' / 'own_images.rst').read_text()
    with open(ROOT / 'docs' / '_static' / 'fashion_budget.csv', newline='') as handle:
        rows = list(csv.DictReader(handle))
    with open(ROOT / 'docs' / '_static' / 'fashion_budget.inc') as handle:
        shown = handle.read()
    assert {row['recipe'] for row in rows} == set(budget.RECIPES)
    for row in rows:
        assert f'"{row["recipe"]}","{row["flags"]}"' in shown, f'{row["recipe"]}: the .inc and the .csv differ'
        argv = ['--dataset', 'fashion-mnist'] + shlex.split(row['flags'])
        only_benchmark = [name for name in budget.BENCHMARK_MODELS if f'--model {name}' in row['flags']]
        if only_benchmark:
            with pytest.raises(AssertionError, match='is refused'):
                parse_only('bearer-gan train ' + shlex.join(argv))
            assert f'python benchmarks/fashion_budget.py --recipes {row["recipe"]}' in page, row['recipe']
            budget.register_benchmark_models()
        config, _ = parse_only('bearer-gan train ' + shlex.join(argv))
        trained = budget.recipe_config(budget.RECIPES[row['recipe']], 'runs/x', 'data', 1)
        assert recipe_of(config) == recipe_of(trained), row['recipe']


FEDERATED_MEASUREMENTS = ('sweep', 'owner_lr', 'iid5', 'iid2', 'non_iid', 'non_iid_conditional', 'bad_owner')


@pytest.mark.parametrize('comparison', FEDERATED_MEASUREMENTS)
def test_each_setting_of_the_federated_measurements_is_taken_by_the_example(parse_only, comparison):
    """``docs/_static/federated_*.json`` record the flags of each setting the Federated page shows."""
    settings = json.loads((ROOT / 'docs' / '_static' / f'federated_{comparison}.json').read_text())['settings']
    assert len(settings) >= 2
    for name, flags in settings.items():
        parse_only(shlex.join(['python', 'examples/federated_gan.py', *flags]))
