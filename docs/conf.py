"""Sphinx configuration for the bearer_gan documentation.

Build with warnings as errors, from the repository root::

    sphinx-build -W --keep-going -b html docs docs/_build/html
"""
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
sys.path.insert(0, ROOT)  # autodoc imports bearer_gan from the checkout

with open(os.path.join(ROOT, 'bearer_gan', '__init__.py')) as handle:
    release = re.search(r"__version__ = '([^']+)'", handle.read()).group(1)
version = release

project = 'bearer_gan'
author = 'bearer_gan authors'
copyright = '2025, bearer_gan authors'

extensions = [
    'sphinx.ext.autodoc',
    'sphinx.ext.napoleon',
    'sphinx.ext.intersphinx',
    'sphinx.ext.viewcode',
    'sphinxarg.ext',  # sphinx-argparse: docs/cli.rst, generated from bearer_gan.cli.main.build_parser()
]

# The build must not need the network: no inventories are fetched, and references such as
# :data:`torchbearer.MODEL` in the docstrings render as plain code (nitpicky stays off).
intersphinx_mapping = {}
nitpicky = False

# bearer_gan.federated.app imports Flower, an optional extra: the reference builds without it.
autodoc_mock_imports = ['flwr']
autodoc_member_order = 'bysource'
autodoc_typehints = 'description'
autodoc_inherit_docstrings = False  # don't copy torchbearer's Callback / Metric docstrings onto every hook
autodoc_default_options = {'show-inheritance': True}  # :members: is given per module in api.rst
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = ['State Requirements']  # torchbearer's heading for the keys a callback reads and writes

templates_path = []
exclude_patterns = ['_build']
html_theme = 'furo'
html_title = f'bearer_gan {release}'
html_static_path = ['_static']


_CONSTANT_DOCS = {}


def _save_constant_doc(app, what, name, obj, options, lines):
    """Keep a constant's ``#:`` comment as written; one without a comment would show its type's
    docstring (``str``'s, ``tuple``'s), so that is dropped."""
    if what in ('data', 'attribute'):
        type_doc = type(obj).__doc__  # a NamedTuple field's getter has a __doc__ slot, not a string, on its type
        type_doc = type_doc.strip().splitlines() if isinstance(type_doc, str) else []
        if lines and type_doc and lines[0].strip() == type_doc[0].strip():
            lines.clear()
        _CONSTANT_DOCS[name] = list(lines)


def _restore_constant_doc(app, what, name, obj, options, lines):
    """Napoleon reads ``#: text: more`` on a constant as ``type: description``; put the comment back.

    The ``#:`` comments of :mod:`bearer_gan.keys` are sentences, and many contain a colon
    ("Target for real images in the discriminator loss: 1.0, or ..."), which napoleon would turn
    into a "Type:" field. They are plain reST already, so they bypass napoleon.
    """
    if what in ('data', 'attribute') and name in _CONSTANT_DOCS:
        lines[:] = _CONSTANT_DOCS.pop(name)


def setup(app):
    # around napoleon's handler (priority 500), which turns Google-style docstrings into reST
    app.connect('autodoc-process-docstring', _save_constant_doc, priority=400)
    app.connect('autodoc-process-docstring', _restore_constant_doc, priority=600)
