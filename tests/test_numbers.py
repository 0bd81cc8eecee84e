"""Every figure in the README and the walkthrough is read from the measured file that its paragraph names.

A measured file is one that a script under ``benchmarks/`` wrote into ``docs/_static`` (``default_run.txt``,
``throughput.txt``, ...). The rule the pages follow, and these tests check:

* a paragraph that names such a file (``docs/_static/NAME``, or ``_static/NAME`` in a directive) holds only
  numbers that are written in that file, as they are written there (``16,000`` matches ``16000``; ``101``
  does not match ``101.4``);
* a paragraph that shows a measured figure (an FID, a decimal percentage, a speed ratio such as ``1.20x``,
  a rate in steps/s or images/s, seconds) names its file.

Numbers inside code (``--lr 5e-4``, commands) are settings, not figures, and are left out; so are code
blocks. A figure copied wrong, rounded differently, or from another run than the file's fails here.
"""
import csv
import re
from pathlib import Path
from typing import Iterator, List, Set, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / 'docs' / '_static'
PAGES = ('README.md', 'docs/walkthrough.rst')

#: A measured file named in the text: docs/_static/default_run.txt, or _static/throughput.txt in a directive.
SOURCE = re.compile(r'(?:docs/)?_static/([\w.-]+\.(?:txt|csv|json|inc))')
#: A number as prose writes it: 7, 6.4, 16,000, 2.27x (a ratio); not the 3 of v3 or mlp256, not 1e-5.
NUMBER = re.compile(r'(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?=x\b|[^\w]|$)')
#: What makes a number a measured figure rather than a setting.
FIGURE = re.compile(r'\bFID (?:of )?\d|\d\.\d+%|\d\.\d+x\b|\d (?:steps|images)/s\b|\d s\b|\d ms\b|\d+ GFLOP/s')
#: Inline code in Markdown (`x`) or reStructuredText (``x``, :role:`x`): settings and commands.
CODE = re.compile(r'`+[^`]*`+')


def paragraphs(path: Path) -> Iterator[Tuple[int, str]]:
    """``(first line, text)`` of each prose paragraph: fenced and indented blocks (code, directives' bodies)
    are left out."""
    lines, block, start, fenced = path.read_text().splitlines(), [], 0, False
    for number, line in enumerate(lines + [''], 1):
        if line.startswith('```'):
            fenced = not fenced
            continue
        if fenced or (line[:1].isspace() and not block):
            continue
        if line.strip():
            block.append(line)
            start = start or number
            continue
        if block:
            yield start, ' '.join(block)
        block, start = [], 0


def numbers(text: str) -> List[str]:
    """The numbers in ``text`` outside code and file names, thousands separators removed."""
    prose = SOURCE.sub(' ', CODE.sub(' ', text))
    return [(whole + (fraction or '')).replace(',', '') for whole, fraction in NUMBER.findall(prose)]


def numbers_in_file(name: str) -> Set[str]:
    """Every number written in the measured file ``name``; a CSV's cells one by one, so that its commas do not
    join two cells into one number."""
    path = STATIC / name
    if path.suffix == '.csv':
        with open(path, newline='') as handle:
            return {number for row in csv.reader(handle) for cell in row for number in numbers(cell)}
    return set(numbers(re.sub(r'(?<=\d),(?=\d{3}(?!\d))', '', path.read_text())))


def sourced(page: str) -> List[Tuple[str, int, List[str], str]]:
    """``(page, line, files, text)`` of each paragraph of ``page`` that names a measured file."""
    found = []
    for line, text in paragraphs(ROOT / page):
        files = sorted(set(SOURCE.findall(text)))
        if files:
            found.append((page, line, files, text))
    return found


SOURCED = [paragraph for page in PAGES for paragraph in sourced(page)]


@pytest.mark.parametrize('page, line, files, text', SOURCED, ids=[f'{p}:{n}' for p, n, _, _ in SOURCED])
def test_each_number_of_a_paragraph_is_written_in_the_file_it_names(page, line, files, text):
    for name in files:
        assert (STATIC / name).is_file(), f'{page}:{line} names docs/_static/{name}, which does not exist'
    written = set().union(*(numbers_in_file(name) for name in files))
    missing = [number for number in numbers(text) if number not in written]
    assert not missing, f'{page}:{line}: {missing} are not in {", ".join(files)}: {text}'


@pytest.mark.parametrize('page', PAGES)
def test_a_paragraph_that_shows_a_measured_figure_names_its_file(page):
    unsourced = [f'{page}:{line}: {FIGURE.search(CODE.sub(" ", text)).group()!r} in: {text}'
                 for line, text in paragraphs(ROOT / page)
                 if FIGURE.search(CODE.sub(' ', text)) and not SOURCE.search(text)]
    assert not unsourced, '\n'.join(unsourced)


def test_the_pages_name_measured_files():
    """The README quotes the default run, the speed comparison, Fashion-MNIST and the federation; a page
    that stopped naming its files would pass the tests above with nothing checked."""
    named = {name for _, _, files, _ in SOURCED for name in files}
    assert {'default_run.txt', 'throughput.txt', 'fashion.txt', 'federated_iid5.txt'} <= named


def test_the_checks_catch_a_changed_or_unsourced_figure(tmp_path):
    """The rules on made-up text: a figure off by a digit, or rounded, is not in the file; a FID without a
    file is found; a setting in code is not a figure."""
    assert numbers('FID 101.4 against 672.0 after 40 rounds (`--lr 5e-4`, mlp256, 16,000 steps, 2.27x).') == [
        '101.4', '672.0', '40', '16000', '2.27']
    written = numbers_in_file('federated_sweep.txt')
    assert '745.6' in written and '745' not in written and '745.5' not in written
    assert FIGURE.search('the default run scored FID 76.5') and not FIGURE.search(CODE.sub(' ', '`--steps 13600`'))
    page = tmp_path / 'page.md'
    page.write_text('Some text.\n\n```bash\nbearer-gan train  # FID 1.0x\n```\n\nA figure, 1.20x (docs/_static/x.txt)\n'
                    'over two lines.\n')
    assert list(paragraphs(page)) == [(1, 'Some text.'), (7, 'A figure, 1.20x (docs/_static/x.txt) over two lines.')]
