"""Documentation that cannot drift: every excerpt in ``docs/`` points at code that exists.

The pages include code with ``literalinclude`` by ``:pyobject:`` or by start / end markers, never
by ``:lines:``. These tests parse every ``.rst`` file (no Sphinx build, so they are fast) and
check that each included file exists, each marker occurs in it (the start before the end), each
``:pyobject:`` names a function or class defined at the top level of that file, and no excerpt
uses ``:lines:``. They also run the recipes page's code (``docs/code/recipes.py``) for a few
steps. The full check is ``sphinx-build -W --keep-going -b html docs docs/_build/html``.
"""
import ast
import math
import re
from pathlib import Path
from typing import Dict, List, NamedTuple

import pytest
import torch
import torchbearer
from torch.nn.utils import parametrize

import bearer_gan
from bearer_gan import keys, run_folder
from conftest import batches, load_script

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / 'docs'
RST_FILES = sorted(path for path in DOCS.rglob('*.rst') if '_build' not in path.parts)

DIRECTIVE = re.compile(r'^(?P<indent>\s*)\.\.\s+(?P<name>literalinclude|image|figure)::\s*(?P<argument>\S+)\s*$')
OPTION = re.compile(r'^\s+:(?P<name>[\w-]+):(?:\s+(?P<value>.*?))?\s*$')
DOWNLOAD = re.compile(r':download:`(?:[^`<]*<(?P<target>[^>`]+)>|(?P<plain>[^`<]+))`')
CSV_FILE = re.compile(r'^\s+:file:\s+(?P<path>\S+)\s*$')
START_OPTIONS, END_OPTIONS = ('start-after', 'start-at'), ('end-before', 'end-at')


class Include(NamedTuple):
    """One ``literalinclude`` (or image) directive: where it is, what it includes, and its options."""
    rst: Path
    line: int
    directive: str
    path: Path
    options: Dict[str, str]

    def __str__(self):
        where = self.rst.relative_to(ROOT) if ROOT in self.rst.parents else self.rst.name
        return f'{where}:{self.line}'


def resolve(rst: Path, argument: str) -> Path:
    """Sphinx's rule: ``/x`` is relative to the docs folder, anything else to the page's folder."""
    return (DOCS / argument.lstrip('/')) if argument.startswith('/') else (rst.parent / argument)


def directives(rst: Path, text: str = None) -> List[Include]:
    """The ``literalinclude``, ``image`` and ``figure`` directives of ``rst`` (or of ``text``), with their options."""
    lines = (rst.read_text() if text is None else text).splitlines()
    found = []
    for number, line in enumerate(lines):
        match = DIRECTIVE.match(line)
        if not match:
            continue
        options = {}
        for option_line in lines[number + 1:]:
            option = OPTION.match(option_line)
            if not option or len(option_line) - len(option_line.lstrip()) <= len(match.group('indent')):
                break
            options[option.group('name')] = option.group('value') or ''
        found.append(Include(rst, number + 1, match.group('name'), resolve(rst, match.group('argument')), options))
    return found


def literal_includes(rst: Path, text: str = None) -> List[Include]:
    return [include for include in directives(rst, text) if include.directive == 'literalinclude']


def top_level_names(source: str, dotted: str) -> bool:
    """Whether ``dotted`` (``name`` or ``Class.method``) is defined at the top level of ``source``."""
    body = ast.parse(source).body
    for part in dotted.split('.'):
        definitions = {node.name: node for node in body
                       if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
        if part not in definitions:
            return False
        body = definitions[part].body
    return True


def include_problems(include: Include) -> List[str]:
    """Everything wrong with one ``literalinclude``; an empty list when Sphinx will include what the page means."""
    problems = []
    if 'lines' in include.options:
        problems.append(f'{include}: uses :lines: (use :pyobject: or start/end markers)')
    if not include.path.is_file():
        return problems + [f'{include}: {include.path} does not exist']
    lines = include.path.read_text().splitlines()
    remaining = lines  # what Sphinx searches for the end marker: the lines after the start cut
    for option in START_OPTIONS:
        if option in include.options:
            marker = include.options[option]
            hits = [number for number, line in enumerate(lines) if marker in line]
            if not hits:  # Sphinx cuts at the first line that contains the marker
                problems.append(f'{include}: :{option}: {marker!r} not found in {include.path.name}')
            else:
                remaining = lines[hits[0] + (option == 'start-after'):]
    for option in END_OPTIONS:
        if option in include.options:
            marker = include.options[option]
            hits = [number for number, line in enumerate(remaining) if marker in line]
            if not any(marker in line for line in lines):
                problems.append(f'{include}: :{option}: {marker!r} not found in {include.path.name}')
            elif not hits:
                problems.append(f'{include}: :{option}: {marker!r} occurs only before the start marker')
            elif option == 'end-before' and hits[0] == 0:
                problems.append(f'{include}: :{option}: {marker!r} right after the start: the excerpt is empty')
    if 'pyobject' in include.options:
        name = include.options['pyobject']
        if include.path.suffix != '.py':
            problems.append(f'{include}: :pyobject: {name!r} in a file that is not Python')
        elif not top_level_names(include.path.read_text(), name):
            problems.append(f'{include}: :pyobject: {name!r} is not a top-level function or class of '
                            f'{include.path.name}')
    return problems


ALL_INCLUDES = [include for rst in RST_FILES for include in literal_includes(rst)]


def test_the_docs_have_pages_and_excerpts():
    assert {path.name for path in RST_FILES} >= {'index.rst', 'walkthrough.rst', 'recipes.rst', 'api.rst',
                                                  'evaluation.rst', 'comparison.rst', 'performance.rst'}
    assert len(ALL_INCLUDES) > 40


@pytest.mark.parametrize('include', ALL_INCLUDES, ids=str)
def test_literalinclude_points_at_existing_code(include):
    assert include_problems(include) == []


def test_no_page_uses_lines():
    offending = [f'{rst.relative_to(ROOT)}:{number}' for rst in RST_FILES
                 for number, line in enumerate(rst.read_text().splitlines(), 1) if re.match(r'\s+:lines:', line)]
    assert offending == []


def test_images_downloads_and_tables_exist():
    missing = []
    for rst in RST_FILES:
        text = rst.read_text()
        missing += [str(image.path) for image in directives(rst) if image.directive != 'literalinclude'
                    and not image.path.is_file()]
        for match in DOWNLOAD.finditer(text):
            target = resolve(rst, (match.group('target') or match.group('plain')).strip())
            missing += [str(target)] if not target.is_file() else []
        missing += [str(resolve(rst, m.group('path'))) for m in map(CSV_FILE.match, text.splitlines())
                    if m and not resolve(rst, m.group('path')).is_file()]
    assert missing == []


@pytest.mark.parametrize('source, expected', [
    ('examples/gan.py', {'config', 'data', 'models', 'keys', 'callbacks', 'trial', 'build', 'run', 'evaluate'}),
    ('bearer_gan/config.py', {'constants', 'dataset_recipes'}),
])
def test_walkthrough_uses_every_marker_pair_of_the_training_run(source, expected):
    path = ROOT / source
    markers = re.findall(r'^\s*# docs: (?!end )(\S+)$', path.read_text(), re.M)
    assert set(markers) >= expected
    used = {include.options.get('start-after') for include in ALL_INCLUDES if include.path.resolve() == path}
    assert {f'# docs: {marker}' for marker in markers} <= used


def test_the_walkthrough_walks_through_the_example_section_by_section():
    walkthrough = DOCS / 'walkthrough.rst'
    example = [include for include in ALL_INCLUDES
               if include.rst == walkthrough and include.path.resolve() == ROOT / 'examples' / 'gan.py']
    assert len(example) >= 8
    assert all('start-after' in include.options and 'lines' not in include.options for include in example)


def test_api_reference_has_every_module():
    package = ROOT / 'bearer_gan'
    modules = {'.'.join(path.relative_to(package).with_suffix('').parts).removesuffix('.__init__')
               for path in package.rglob('*.py') if path.name != '__init__.py' or path.parent != package}
    documented = set(re.findall(r'^\.\. automodule:: bearer_gan\.(\S+)$', (DOCS / 'api.rst').read_text(), re.M))
    assert modules - documented == set()


def test_the_cli_reference_is_generated_from_the_parser():
    from bearer_gan.cli.main import build_parser
    text = (DOCS / 'cli.rst').read_text()
    assert re.search(r'^\.\. argparse::\n   :module: bearer_gan\.cli\.main\n   :func: build_parser$', text, re.M)
    assert set(build_parser().commands) == {'train', 'federate', 'sample', 'evaluate', 'export', 'report'}


def test_outputs_table_lists_every_run_output():
    text = (DOCS / 'recipes.rst').read_text()
    assert [name for name in run_folder.RUN_OUTPUTS if f'``{name}``' not in text and f'``{name}/' not in text] == []


# --- the checker itself catches drift -------------------------------------------------------------------------------

def test_a_removed_marker_or_object_is_detected(tmp_path):
    source = tmp_path / 'example.py'
    source.write_text('# docs: start\ndef kept():\n    return 1\n# docs: end start\n')
    page = tmp_path / 'page.rst'
    page.write_text('\n'.join([
        '.. literalinclude:: example.py', '   :start-after: # docs: start', '   :end-before: # docs: end start', '',
        '.. literalinclude:: example.py', '   :start-after: # docs: missing', '   :end-before: # docs: end start', '',
        '.. literalinclude:: example.py', '   :start-after: # docs: start', '   :end-before: # docs: end missing', '',
        '.. literalinclude:: example.py', '   :start-after: # docs: end start', '   :end-before: # docs: start', '',
        '.. literalinclude:: example.py', '   :pyobject: kept', '',
        '.. literalinclude:: example.py', '   :pyobject: removed', '',
        '.. literalinclude:: example.py', '   :pyobject: kept.inner', '',
        '.. literalinclude:: example.py', '   :lines: 1-3', '',
        '.. literalinclude:: missing.py', '   :pyobject: kept', '']))
    found = literal_includes(page)
    assert [include.line for include in found] == [1, 5, 9, 13, 17, 20, 23, 26, 29]
    problems = [include_problems(include) for include in found]
    assert problems[0] == [] and problems[4] == []
    assert "'# docs: missing' not found" in problems[1][0]
    assert "'# docs: end missing' not found" in problems[2][0]
    assert 'only before the start marker' in problems[3][0]
    assert "'removed' is not a top-level" in problems[5][0]
    assert "'kept.inner' is not a top-level" in problems[6][0]
    assert 'uses :lines:' in problems[7][0]
    assert 'does not exist' in problems[8][0]


def test_removing_a_marker_from_a_real_excerpt_is_detected():
    include = next(include for include in ALL_INCLUDES
                   if include.options.get('start-after') == '# docs: constants')
    assert include_problems(include) == []
    broken = include._replace(options=dict(include.options, **{'start-after': '# docs: no such marker'}))
    assert include_problems(broken) == [
        f"{include}: :start-after: '# docs: no such marker' not found in config.py"]
    renamed = include._replace(options={'pyobject': 'make_batches_renamed'})
    assert 'is not a top-level function or class' in include_problems(renamed)[0]


# --- the recipes page's code runs -----------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def recipes():
    return load_script(DOCS / 'code' / 'recipes.py', 'docs_recipes')


@pytest.mark.parametrize('recipe', ['train_one_network', 'train_more_discriminator_steps', 'train_own_models',
                                    'train_hinge', 'train_wgan_gp', 'train_with_lazy_r1', 'train_own_loss',
                                    'train_conditional', 'train_spectral_norm', 'train_two_rates_cosine'])
def test_recipe_trains(recipes, digits, recipe):
    torch.manual_seed(0)
    history = getattr(recipes, recipe)(batches(digits, batch_size=16), steps=2)
    metrics = history[-1]
    assert {'running_g_loss', 'running_d_loss', 'running_d_x', 'running_d_g_z'} <= set(metrics)
    assert all(math.isfinite(value) for value in metrics.values() if isinstance(value, float))


class Built(NamedTuple):
    """A trial a recipe built: its networks, their weights and buffers before training, and per optimizer
    (``'generator'``, ``'discriminator'``) the learning rate of each of its steps."""
    generator: torch.nn.Module
    discriminator: torch.nn.Module
    before: Dict[str, Dict[str, torch.Tensor]]
    rates: Dict[str, List[float]]


@pytest.fixture
def built(monkeypatch) -> List[Built]:
    """Every trial the recipes build from here on (``bearer_gan.gan_trial`` recorded, then called as it is)."""
    trials, real = [], bearer_gan.gan_trial

    def recorded(generator, discriminator, generator_optimizer, discriminator_optimizer, *args, **kwargs):
        networks = {'generator': generator, 'discriminator': discriminator}
        trial = Built(generator, discriminator, {name: {key: value.detach().clone() for key, value in
                                                        network.state_dict().items()}
                                                 for name, network in networks.items()},
                      {'generator': [], 'discriminator': []})
        for name, optimizer in (('generator', generator_optimizer), ('discriminator', discriminator_optimizer)):
            optimizer.register_step_pre_hook(
                lambda optimizer, args, kwargs, rates=trial.rates[name]: rates.append(optimizer.param_groups[0]['lr']))
        trials.append(trial)
        return real(generator, discriminator, generator_optimizer, discriminator_optimizer, *args, **kwargs)
    monkeypatch.setattr(bearer_gan, 'gan_trial', recorded)
    return trials


def unchanged(network: torch.nn.Module, before: Dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(value, before[key]) for key, value in network.state_dict().items())


def test_recipe_of_one_network_trains_the_generator_against_a_discriminator_that_stays_as_it_is(recipes, digits,
                                                                                                built):
    torch.manual_seed(0)
    recipes.train_one_network(batches(digits, batch_size=16), steps=3)
    (trial,) = built
    assert unchanged(trial.discriminator, trial.before['discriminator'])  # weights and batch-norm statistics
    assert not unchanged(trial.generator, trial.before['generator'])
    assert (len(trial.rates['generator']), len(trial.rates['discriminator'])) == (3, 0)


@pytest.mark.parametrize('recipe', ['train_more_discriminator_steps', 'train_wgan_gp'])
def test_recipes_with_five_discriminator_steps_make_five_discriminator_updates_per_generator_update(recipes, digits,
                                                                                                    built, recipe):
    torch.manual_seed(0)
    getattr(recipes, recipe)(batches(digits, batch_size=16), steps=3)
    (trial,) = built
    assert (len(trial.rates['generator']), len(trial.rates['discriminator'])) == (3, 5 * 3)


def test_recipe_of_two_rates_decays_both_along_a_cosine(recipes, digits, built):
    torch.manual_seed(0)
    recipes.train_two_rates_cosine(batches(digits, batch_size=16), steps=4)
    (trial,) = built
    cosine = [0.5 * (1 + math.cos(math.pi * step / 4)) for step in range(4)]  # the update after `step` done ones
    assert trial.rates['generator'] == pytest.approx([1e-4 * factor for factor in cosine], rel=1e-12)
    assert trial.rates['discriminator'] == pytest.approx([4e-4 * factor for factor in cosine], rel=1e-12)


def test_recipe_of_spectral_norm_parametrises_every_discriminator_layer(recipes, digits, built):
    torch.manual_seed(0)
    recipes.train_spectral_norm(batches(digits, batch_size=16), steps=2)
    (trial,) = built
    layers = {name: layer for name, layer in trial.discriminator.named_modules()
              if isinstance(layer, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.Embedding))}
    assert layers
    for name, layer in layers.items():
        assert parametrize.is_parametrized(layer, 'weight'), name
        assert [type(parametrization).__name__ for parametrization in layer.parametrizations.weight] == ['_SpectralNorm']
        # one power iteration per forward in training: the estimate of the top right singular vector moved
        before = trial.before['discriminator'][f'{name}.parametrizations.weight.0._v']
        assert not torch.equal(layer.parametrizations.weight[0]._v, before), name
    assert not any(parametrize.is_parametrized(layer) for layer in trial.generator.modules())


def test_recipe_scores_during_training(recipes, digits):
    torch.manual_seed(0)
    rows = recipes.train_with_fid(batches(digits, batch_size=16), steps=2, interval=1)
    assert [row[0] for row in rows] == [1, 2]


def test_recipe_callbacks_on_a_plain_state(recipes, capsys):
    state = {keys.STEP: 1000, keys.D_REAL: torch.tensor(0.75), keys.D_FAKE: torch.tensor(0.005)}
    recipes.print_d_outputs.on_step_training(state)
    assert capsys.readouterr().out == 'step 1000: D(x) = 0.750, D(G(z)) = 0.005\n'
    stopper = recipes.StopWhenDiscriminatorWins(threshold=0.01, patience=2)
    stopper.on_step_training(state)
    assert torchbearer.STOP_TRAINING not in state
    stopper.on_step_training(state)
    assert state[torchbearer.STOP_TRAINING] is True


def test_recipe_of_a_loss_of_your_own_and_of_one_digit(recipes):
    loss = recipes.register_own_loss()
    assert recipes.register_own_loss() is loss  # registered once
    real, fake = torch.tensor([[1.0], [0.0]]), torch.tensor([[-1.0], [1.0]])
    assert loss.discriminator(real, fake).item() == pytest.approx(0.5 * 0.5 + 0.5 * 2.0)
    torch.manual_seed(0)
    generator, _ = bearer_gan.build_models('tutorial', num_classes=10)
    images = recipes.draw_digit(generator, 7, n=5)
    assert images.shape == (5, 1, 28, 28) and images.abs().max() <= 1


def test_recipe_models_have_the_documented_shapes(recipes):
    generator, discriminator = recipes.SmallGenerator(latent_dim=32), recipes.SmallDiscriminator()
    images = generator(torch.randn(5, 32))
    assert images.shape == (5, 1, 28, 28) and images.min() >= -1 and images.max() <= 1
    assert discriminator(images).shape == (5, 1)
