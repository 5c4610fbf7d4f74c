import doctest
import importlib
import pkgutil

import pytest

import densegym.envs.reasoning as reasoning

MODULES = [f"densegym.envs.reasoning.{m.name}" for m in pkgutil.iter_modules(reasoning.__path__)]
MODULES += ["densegym.envs.reasoning", "densegym.agents.provers"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
