"""Shared pytest setup: one torch thread (small nets on 2 cores) and quiet MiniHack imports."""

import importlib.util
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
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
