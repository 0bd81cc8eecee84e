"""conftest's requirement checks: a missing data set or optional package skips a test with the reason, and under
``CI=true`` fails it with the same reason, so that CI cannot pass by skipping."""
import re

import pytest

from conftest import needs, pytest_runtest_setup, require, require_data, require_module

MODES = [('true', pytest.fail.Exception), ('TRUE', pytest.fail.Exception), ('', pytest.skip.Exception),
         ('false', pytest.skip.Exception)]


@pytest.mark.parametrize('ci, outcome', MODES)
def test_a_missing_requirement_skips_outside_ci_and_fails_under_ci(monkeypatch, ci, outcome):
    monkeypatch.setenv('CI', ci)
    with pytest.raises(outcome, match='the MNIST test set is missing'):
        require(False, 'the MNIST test set is missing')
    with pytest.raises(outcome, match='the MNIST test set is missing'):
        require(lambda: False, 'the MNIST test set is missing')


@pytest.mark.parametrize('ci', ['true', ''])
def test_a_met_requirement_does_nothing(monkeypatch, ci):
    monkeypatch.setenv('CI', ci)
    require(True, 'unused')
    require(lambda: True, 'unused')
    require_module('pytest', 'torch', extra='test')


def test_outside_ci_without_the_variable_it_skips(monkeypatch):
    monkeypatch.delenv('CI', raising=False)
    with pytest.raises(pytest.skip.Exception):
        require(False, 'anything')


def test_under_ci_the_failure_says_why_it_is_not_a_skip(monkeypatch):
    monkeypatch.setenv('CI', 'true')
    with pytest.raises(pytest.fail.Exception, match=r'^no data \(CI=true: a missing data set'):
        require(False, 'no data')


@pytest.mark.parametrize('ci, outcome', MODES)
def test_a_missing_module_is_named_with_its_extra(monkeypatch, ci, outcome):
    monkeypatch.setenv('CI', ci)
    with pytest.raises(outcome, match=r'^no_such_module_here not installed: pip install -e "\.\[inception\]"'):
        require_module('pytest', 'no_such_module_here', extra='inception')


@pytest.mark.parametrize('ci, outcome', MODES)
def test_a_missing_data_set_is_named_with_its_folder(tmp_path, monkeypatch, ci, outcome):
    monkeypatch.setenv('CI', ci)
    folder = tmp_path / 'nowhere'
    with pytest.raises(outcome, match=f'^Fashion-MNIST .* is missing: no folder {re.escape(str(folder))}'):
        require_data(folder, 'Fashion-MNIST (apt-get install dataset-fashion-mnist)')
    require_data(tmp_path, 'unused')


class Item:
    """What ``pytest_runtest_setup`` reads of a test: its marks."""
    def __init__(self, *decorators):
        self.marks = [decorator.mark for decorator in decorators]

    def iter_markers(self, name):
        return (mark for mark in self.marks if mark.name == name)


@pytest.mark.parametrize('ci, outcome', MODES)
def test_the_needs_mark_checks_before_the_test_runs(monkeypatch, ci, outcome):
    monkeypatch.setenv('CI', ci)
    pytest_runtest_setup(Item(needs(require, True, 'unused'), needs(require_module, 'pytest', extra='test')))
    with pytest.raises(outcome, match='no_such_module_here'):
        pytest_runtest_setup(Item(pytest.mark.slow, needs(require_module, 'no_such_module_here', extra='federated')))
