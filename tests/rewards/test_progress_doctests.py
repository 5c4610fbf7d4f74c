import doctest
import importlib
import pkgutil

import pytest

import densegym.rewards.progress as progress

MODULES = [f"densegym.rewards.progress.{m.name}" for m in pkgutil.iter_modules(progress.__path__)]
MODULES += ["densegym.rewards.progress"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
