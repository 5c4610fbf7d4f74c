"""Shared pytest setup: one torch thread (small nets on 2 cores) and quiet MiniHack imports."""

import importlib.util
import sys
import warnings
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", message="pkg_resources is deprecated")


@pytest.fixture(autouse=True, scope="session")
def _single_torch_thread():
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    torch.set_num_threads(1)
    yield


BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


@pytest.fixture
def load_benchmark():
    """Import a script of ``benchmarks/`` (not a package) by its file name, without ``.py``."""

    def load(name: str):
        if str(BENCHMARKS) not in sys.path:  # a script imports its sibling modules
            sys.path.insert(0, str(BENCHMARKS))
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
