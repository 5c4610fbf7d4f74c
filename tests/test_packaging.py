"""Packaging: declared packages, resolved versions, import-time behaviour."""

from __future__ import annotations

import configparser
import importlib.metadata
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Top-level folders and the package each is installed as (DESIGN.md's package_dir).
TOP_LEVEL = {
    "densegym": "densegym",
    "envs": "densegym.envs",
    "rewards": "densegym.rewards",
    "agents": "densegym.agents",
}


def _setup_options() -> tuple[dict[str, str], list[str]]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "setup.cfg")
    package_dir = {}
    for line in parser["options"]["package_dir"].splitlines():
        if line.strip():
            name, _, path = line.partition("=")
            package_dir[name.strip()] = path.strip()
    packages = [line.strip() for line in parser["options"]["packages"].splitlines() if line.strip()]
    return package_dir, packages


def _package_folders() -> dict[str, str]:
    """Every folder with an ``__init__.py`` under the mapped top-level folders."""
    found = {}
    for folder, package in TOP_LEVEL.items():
        for init in sorted((ROOT / folder).rglob("__init__.py")):
            relative = init.parent.relative_to(ROOT / folder)
            name = ".".join([package, *relative.parts])
            found[name] = init.parent.relative_to(ROOT).as_posix()
    return found


def _release(version: str) -> tuple[int, ...]:
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", version)
    assert match, version
    return tuple(int(part or 0) for part in match.groups())


def _distributions(name: str) -> list[importlib.metadata.Distribution]:
    canonical = name.lower().replace("_", "-")
    return [
        dist
        for dist in importlib.metadata.distributions()
        if (dist.metadata["Name"] or "").lower().replace("_", "-") == canonical
    ]


def test_every_package_folder_is_declared():
    package_dir, packages = _setup_options()
    folders = _package_folders()
    assert set(TOP_LEVEL.values()) <= set(folders)
    missing_packages = sorted(set(folders) - set(packages))
    assert not missing_packages, f"add to setup.cfg [options] packages: {missing_packages}"
    missing_dirs = sorted(name for name in folders if name not in package_dir)
    assert not missing_dirs, f"add to setup.cfg [options] package_dir: {missing_dirs}"
    wrong = {n: (package_dir[n], p) for n, p in folders.items() if package_dir[n] != p}
    assert not wrong, f"package_dir maps to the wrong folder (declared, actual): {wrong}"


def test_every_declared_package_exists():
    package_dir, packages = _setup_options()
    folders = _package_folders()
    assert sorted(set(packages)) == sorted(packages), "duplicate entries in packages"
    assert set(package_dir) == set(packages)
    for name in packages:
        assert name in folders, f"{name} is declared but {package_dir[name]}/__init__.py is missing"


@pytest.mark.parametrize(
    ("name", "check"),
    [
        ("gymnasium", lambda v: _release(v) == (1, 2, 0)),
        ("nle", lambda v: _release(v) >= (1, 3, 0)),
        ("minihack", lambda v: _release(v) == (1, 0, 2)),
        ("setuptools", lambda v: _release(v) < (81,)),
        ("torch", lambda v: _release(v) == (2, 13, 0)),
    ],
)
def test_resolved_versions(name, check):
    dists = _distributions(name)
    assert len(dists) == 1, f"expected exactly one {name}, found {[d.version for d in dists]}"
    assert check(dists[0].version), f"{name} {dists[0].version} violates the pin"


def test_one_gymnasium_and_no_legacy_gym():
    import gymnasium

    assert gymnasium.__version__ == "1.2.0"
    assert len(_distributions("gymnasium")) == 1
    assert _distributions("gym") == [], "the legacy `gym` package must not be installed"


def _run_python(code: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, **kwargs
    )


def test_minihack_imports_in_a_fresh_interpreter():
    result = _run_python("import minihack, minigrid, nle.nethack; print(minihack.__name__)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "minihack"


def test_import_densegym_has_no_heavy_side_effects():
    code = (
        "import json, sys, gymnasium, densegym\n"
        "heavy = {'nle', 'minihack', 'torch', 'stable_baselines3', 'transformers'}\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in heavy)\n"
        "ids = [i for i in densegym.ENV_IDS if i in gymnasium.registry]\n"
        "print(json.dumps({'loaded': loaded, 'registered': ids, 'all': list(densegym.ENV_IDS)}))\n"
    )
    result = _run_python(code)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["loaded"] == []
    assert report["registered"] == report["all"]
    assert "densegym/MountainCarSparse-v0" in report["all"]


@pytest.mark.parametrize("folder", sorted(set(TOP_LEVEL) - {"densegym"}))
def test_bare_import_of_a_mapped_folder_is_refused(folder):
    result = _run_python(f"import {folder}", cwd=ROOT)
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert f"densegym.{folder}" in result.stderr
