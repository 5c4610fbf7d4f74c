"""Shared pytest setup: one torch thread (small nets on 2 cores) and quiet MiniHack imports."""

import warnings

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
