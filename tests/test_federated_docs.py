"""The Federated training page shows every marked part of the Flower app (tests/test_docs.py checks that they exist)."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / 'docs' / 'federated.rst'


@pytest.mark.parametrize('source', ['bearer_gan/federated/app.py', 'bearer_gan/federated/deployment.py',
                                    'bearer_gan/federated/credentials.py',
                                    'bearer_gan/federated/flower_app/pyproject.toml'])
def test_the_page_includes_every_marked_excerpt(source):
    markers = re.findall(r'^\s*# docs: (?!end )(.+?)\s*$', (ROOT / source).read_text(), re.M)
    assert markers, source
    page = PAGE.read_text()
    for marker in markers:
        included = re.search(rf'literalinclude:: \.\./{re.escape(source)}\n(?:\s+:.*\n)*?\s+:start-after: # docs: '
                             rf'{re.escape(marker)}\n', page)
        assert included, f'{source}: # docs: {marker} is not on the page'


def test_the_page_is_in_the_table_of_contents_and_shows_the_measurements():
    assert re.search(r'^\s+federated$', (ROOT / 'docs' / 'index.rst').read_text(), re.M)
    page = PAGE.read_text()
    names = ('sweep', 'owner_lr', 'iid5', 'iid2', 'non_iid', 'non_iid_conditional', 'bad_owner')
    for static in [f'federated_{name}.{kind}' for name in names for kind in ('txt', 'png')]:
        assert f'_static/{static}' in page and (ROOT / 'docs' / '_static' / static).is_file()
