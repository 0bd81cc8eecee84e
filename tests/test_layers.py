"""bearer_gan's modules import only down its layers, and neither it nor benchmarks/gan_bench has an import cycle.

Why (issue #20): a cycle makes a module's names depend on which module happened to be imported
first, and an import from a lower layer to a higher one is how cycles start; both are easy to add
and hard to see in review. The modules are read with :mod:`ast`, not imported, so every import
counts: absolute (``bearer_gan.x``) and relative ones, at the top of a module or inside a function.
``from pkg import name`` counts as an import of the module ``pkg.name`` when there is one, else of
``pkg``. The implicit import of a package's ``__init__`` by importing one of its modules does not
count (every module would be in a cycle with its package), but a module that names its own
package's ``__init__`` (``from . import X`` for an ``X`` defined there) does.
"""
import ast
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / 'bearer_gan'
BENCHMARKS = ROOT / 'benchmarks' / 'gan_bench'

# The layers of bearer_gan, low to high; docs/architecture.rst shows the same table: change both together.
# A module may import modules of its own layer or of a lower one. An entry names a module or a package,
# relative to bearer_gan ('__init__' is bearer_gan/__init__.py); a package's entry covers all its modules.
# Every module must be placed; an entry whose module does not exist (yet) is fine.
LAYERS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ('ground', ('keys', 'files', 'assets')),
    ('data', ('data',)),
    ('models', ('models',)),
    ('maths', ('penalties', 'losses', 'augment', 'metrics', 'sampling', 'latent')),
    # compatibility imports nothing of bearer_gan, only torchbearer's callbacks: torchbearer knowledge, used by trial.
    ('torchbearer wiring', ('closures', 'safety', 'tb_internals', 'distributed', 'checkpoint', 'compatibility')),
    ('callbacks', ('callbacks',)),
    ('trial', ('trial',)),
    # flags and run_folder: a RunConfig's command-line form and its run folder on disk (moved out of cli/).
    ('config', ('kinds', 'config', 'flags', 'run_folder')),
    ('evaluation', ('evaluation',)),
    # after training: the run report page, compare pages, export of the generator (a report callback runs in training).
    ('report', ('report',)),
    ('recipe', ('recipe',)),
    ('federated', ('federated',)),
    ('entry points', ('cli', '__main__', '__init__')),  # the package root re-exports everything, so it is the top
)

# Upward imports allowed for now, (importer, imported) as LAYERS names them: none. The test fails when a listed
# one no longer happens, so this list can only shrink.
KNOWN_UPWARD = frozenset()

Graph = Dict[str, Dict[str, int]]  # module -> {imported module: line of the first such import}


def modules_of(package: Path) -> Dict[str, Path]:
    """Every module of ``package`` by its dotted name inside it: '' for its own ``__init__``, 'data' for data's."""
    modules = {}
    for path in sorted(package.rglob('*.py')):
        parts = path.relative_to(package).with_suffix('').parts
        modules['.'.join(parts[:-1] if parts[-1] == '__init__' else parts)] = path
    return modules


def import_graph(package: Path) -> Graph:
    """Which modules of ``package`` each of its modules imports, found by reading the source, at any depth.

    An import names the module it names even when that module does not exist (yet): it is placed by its name.
    """
    modules, top = modules_of(package), package.name
    graph: Graph = {}
    for name, path in modules.items():
        here = name.split('.') if name else []
        if path.name != '__init__.py':
            here = here[:-1]  # a relative import starts from the package the module is in
        targets: Dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            found = []
            if isinstance(node, ast.Import):
                found = ['.'.join(alias.name.split('.')[1:]) for alias in node.names if alias.name.split('.')[0] == top]
            elif isinstance(node, ast.ImportFrom):
                module = (node.module or '').split('.') if node.module else []
                if node.level:
                    assert node.level - 1 <= len(here), f'{path}:{node.lineno} imports from above {top}'
                    base = here[:len(here) - node.level + 1] + module
                elif module and module[0] == top:
                    base = module[1:]
                else:
                    continue
                found = ['.'.join(base + [alias.name]) if '.'.join(base + [alias.name]) in modules else '.'.join(base)
                         for alias in node.names]
            for target in found:
                if target != name:
                    targets.setdefault(target, node.lineno)
        graph[name] = targets
    return graph


def cycles(graph: Graph) -> List[List[str]]:
    """Import cycles, each as its modules in import order with the first repeated last; at least one per
    set of modules that import one another (fix it and the next shows)."""
    found, state, stack = [], {}, []

    def visit(node):
        state[node] = 'open'
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 'open':
                found.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 'done'

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def describe_cycle(package: Path, graph: Graph, cycle: List[str]) -> str:
    """``a -> b (a.py:3) -> a (b.py:7)``: the cycle with where each import is, to find it at once."""
    steps = [f'{package.name}.{cycle[0]}'.rstrip('.')]
    for source, target in zip(cycle, cycle[1:]):
        path = modules_of(package)[source].relative_to(package.parent)
        steps.append(f'{package.name}.{target}'.rstrip('.') + f' ({path}:{graph[source][target]})')
    return ' -> '.join(steps)


def layer_of(name: str) -> Optional[int]:
    """The rank in :data:`LAYERS` of a module named as :func:`modules_of` names it, or None when unplaced."""
    key = name or '__init__'
    for rank, (_, entries) in enumerate(LAYERS):
        if any(key == entry or key.startswith(entry + '.') for entry in entries):
            return rank
    return None


def upward_imports(package: Path) -> Dict[Tuple[str, str], str]:
    """Every import from a module to one in a higher layer, ``(importer, imported)`` to a message that says
    where it is and which layers are crossed."""
    graph, modules, upward = import_graph(package), modules_of(package), {}
    for source, targets in graph.items():
        for target, line in targets.items():
            low, high = layer_of(source), layer_of(target)
            if low is not None and high is not None and high > low:
                upward[(source or '__init__', target or '__init__')] = (
                    f'{modules[source].relative_to(package.parent)}:{line} imports {package.name}.{target}'.rstrip('.')
                    + f": layer '{LAYERS[low][0]}' ({low}) may not import layer '{LAYERS[high][0]}' ({high}); "
                    'move the shared piece down a layer (tests/test_layers.py, LAYERS)')
    return upward


def test_every_module_is_in_a_layer():
    unplaced = sorted(f'bearer_gan.{name}'.rstrip('.') for name in modules_of(PACKAGE) if layer_of(name) is None)
    assert not unplaced, f'modules in no layer (add each to LAYERS in tests/test_layers.py): {", ".join(unplaced)}'


def test_each_layer_entry_is_named_once():
    entries = [entry for _, layer in LAYERS for entry in layer]
    assert len(entries) == len(set(entries)), 'a module is in two layers of LAYERS'


def test_no_import_goes_up_a_layer():
    upward = upward_imports(PACKAGE)
    new = [message for pair, message in sorted(upward.items()) if pair not in KNOWN_UPWARD]
    assert not new, 'imports up the layers:\n' + '\n'.join(new)
    gone = sorted(KNOWN_UPWARD - set(upward))
    assert not gone, f'no longer imported upward, delete from KNOWN_UPWARD in tests/test_layers.py: {gone}'


@pytest.mark.parametrize('package', [PACKAGE, BENCHMARKS], ids=['bearer_gan', 'gan_bench'])
def test_no_import_cycles(package):
    graph = import_graph(package)
    found = [describe_cycle(package, graph, cycle) for cycle in cycles(graph)]
    assert not found, 'import cycles:\n' + '\n'.join(found)


def test_the_checks_find_an_upward_import_and_a_cycle_in_any_form(tmp_path):
    """The checks above pass only if they can fail: a package with one of each kind of import is caught."""
    package = tmp_path / 'bearer_gan'
    (package / 'data').mkdir(parents=True)
    files = {
        '__init__.py': 'from . import trial\nimport bearer_gan.data.base\n',
        'keys.py': 'import os\n\ndef late():\n    from . import trial\n',  # upward, inside a function
        'trial.py': 'from bearer_gan.keys import late\n',
        'data/__init__.py': 'from .base import ImageData\n',
        'data/base.py': 'from .. import keys\nfrom ..trial import run\n',  # relative: one down, one up
        'unplaced.py': 'from bearer_gan import data\n',
    }
    for name, text in files.items():
        (package / name).write_text(text)
    graph = import_graph(package)
    assert graph['keys'] == {'trial': 4}
    assert graph[''] == {'trial': 1, 'data.base': 2}
    assert graph['trial'] == {'keys': 1}
    assert graph['data.base'] == {'keys': 1, 'trial': 2}
    assert graph['unplaced'] == {'data': 1}
    assert sorted(upward_imports(package)) == [('data.base', 'trial'), ('keys', 'trial')]
    assert 'bearer_gan/keys.py:4 imports bearer_gan.trial' in upward_imports(package)[('keys', 'trial')]
    assert cycles(graph) == [['keys', 'trial', 'keys']]
    assert describe_cycle(package, graph, ['keys', 'trial', 'keys']) == \
        'bearer_gan.keys -> bearer_gan.trial (bearer_gan/keys.py:4) -> bearer_gan.keys (bearer_gan/trial.py:1)'
    assert layer_of('unplaced') is None and layer_of('') == len(LAYERS) - 1
