"""Every docstring example of the progress and intrinsic shapers and the SB3 glue runs."""

import doctest
import importlib
import pkgutil

import pytest

import densegym.agents.sb3 as sb3
import densegym.rewards.intrinsic as intrinsic
import densegym.rewards.progress as progress

PACKAGES = (progress, intrinsic, sb3)
MODULES = [
    f"{package.__name__}.{module.name}"
    for package in PACKAGES
    for module in pkgutil.iter_modules(package.__path__)
]
MODULES += [package.__name__ for package in PACKAGES]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
