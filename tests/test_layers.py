"""Layers point down only: core <- envs <- rewards <- agents <- composition roots.

Every ``.py`` file of the four source folders is parsed with ``ast``; every import at any
depth (module level, inside functions, under ``TYPE_CHECKING``) is resolved to a densegym
module, relative imports included, and mapped to its layer. An import of a higher layer
fails the test with the importer's ``file:line`` and the imported module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

#: Source folder -> the package it is installed as (see setup.cfg's package_dir).
FOLDERS = {
    "densegym": "densegym",
    "envs": "densegym.envs",
    "rewards": "densegym.rewards",
    "agents": "densegym.agents",
}

#: Modules that assemble the layers: the CLI and the ``gym.make`` entry point.
ROOTS = ("densegym.cli", "densegym.make")

#: Layer packages, most specific first; anything else under ``densegym`` is core.
LAYER_PACKAGES = (
    ("densegym.envs", "envs"),
    ("densegym.rewards", "rewards"),
    ("densegym.agents", "agents"),
)

RANK = {"core": 0, "envs": 1, "rewards": 2, "agents": 3, "roots": 4}


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def layer_of(name: str) -> str | None:
    """Return the layer of a dotted module name, or ``None`` for a non-densegym module."""
    if any(_within(name, root) for root in ROOTS):
        return "roots"
    for package, layer in LAYER_PACKAGES:
        if _within(name, package):
            return layer
    return "core" if _within(name, "densegym") else None


def module_files() -> dict[str, Path]:
    """Return every source module's dotted name and file."""
    modules = {}
    for folder, package in FOLDERS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = list(path.relative_to(REPO / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join([package, *parts])] = path
    return modules


def imports_of(
    name: str, source: str, is_package: bool, known: set[str]
) -> Iterator[tuple[int, str]]:
    """Yield ``(line, module)`` for every import in ``source``, resolved to dotted names.

    Args:
        name: the importing module's dotted name.
        source: its source text.
        is_package: the module is a package's ``__init__``.
        known: dotted names of the densegym modules (``from pkg import sub`` imports
            ``pkg.sub`` when ``pkg.sub`` is a module).
    """
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                candidate = f"{module}.{alias.name}"
                yield node.lineno, candidate if candidate in known else module


def layer_imports() -> list[tuple[str, str, int, str, str]]:
    """Return ``(importer, importer layer, line, imported, imported layer)`` per import."""
    modules = module_files()
    known = set(modules)
    found = set()
    for name, path in modules.items():
        source = path.read_text(encoding="utf-8")
        importer_layer = layer_of(name)
        for line, imported in imports_of(name, source, path.name == "__init__.py", known):
            imported_layer = layer_of(imported)
            if imported_layer is not None:
                found.add((name, importer_layer, line, imported, imported_layer))
    return sorted(found)


def test_every_folder_is_walked():
    modules = module_files()
    layers = {layer_of(name) for name in modules}
    assert layers == set(RANK)
    assert "densegym.envs.reasoning.provers" in modules and "densegym.make" in modules


def test_layers_point_down_only():
    files = module_files()
    upward = [
        f"{files[importer].relative_to(REPO)}:{line} ({layer}) imports {imported} ({target})"
        for importer, layer, line, imported, target in layer_imports()
        if RANK[target] > RANK[layer]
    ]
    assert not upward, "imports of a higher layer:\n" + "\n".join(upward)


def test_no_cycle_between_layers():
    graph: dict[str, set[str]] = {layer: set() for layer in RANK}
    for _, layer, _, _, target in layer_imports():
        if target != layer:
            graph[layer].add(target)
    done: set[str] = set()

    def visit(layer: str, path: tuple[str, ...]) -> None:
        if layer in path:
            cycle = " -> ".join((*path[path.index(layer) :], layer))
            pytest.fail(f"package cycle between layers: {cycle}")
        if layer in done:
            return
        for target in sorted(graph[layer]):
            visit(target, (*path, layer))
        done.add(layer)

    for layer in graph:
        visit(layer, ())


@pytest.mark.parametrize(
    ("name", "is_package", "source", "expected"),
    [
        ("densegym.rewards.progress.pav", False, "from ...agents import x", "densegym.agents"),
        (
            "densegym.rewards.progress.pav",
            False,
            "from ..llm import critic",
            "densegym.rewards.llm",
        ),
        ("densegym.rewards", True, "from .core import Transition", "densegym.rewards.core"),
        (
            "densegym.envs.x",
            False,
            "def f():\n    import densegym.agents.sb3",
            "densegym.agents.sb3",
        ),
        ("densegym.envs.x", False, "from densegym import rewards", "densegym.rewards"),
        ("densegym.envs.x", False, "from densegym import ENV_IDS", "densegym"),
    ],
)
def test_imports_are_resolved(name, is_package, source, expected):
    known = {"densegym.rewards", "densegym.rewards.core", "densegym.rewards.llm", "densegym.agents"}
    assert [module for _, module in imports_of(name, source, is_package, known)] == [expected]


def test_layer_of():
    assert layer_of("densegym.cli") == layer_of("densegym.make") == "roots"
    assert layer_of("densegym.llm.base") == layer_of("densegym") == "core"
    assert layer_of("densegym.envs.reasoning.provers") == "envs"
    assert layer_of("densegym.registration") == "core"
    assert layer_of("gymnasium") is None
