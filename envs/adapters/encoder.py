"""The text-encoder interface and its registry: text in, fixed-size float32 vector out.

Encoders are named by data (``"ngram"``, ``{"id": "ngram", "dim": 128}``,
``"minilm"``), like shapers, so an env spec that uses one round-trips through JSON.

Example:
    >>> encoder = make_encoder({"id": "ngram", "dim": 64})
    >>> encoder.encode(["3 * 4 = 12", "Answer: 12"]).shape
    (2, 64)
    >>> make_encoder({"id": "ngram", "dim": 64}) is encoder  # one instance per spec
    True
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["TextEncoder", "available_encoders", "make_encoder", "register_encoder"]


class TextEncoder:
    """Map strings to vectors of ``dim`` float32 values in [-1, 1].

    Subclasses set :attr:`dim` and implement :meth:`_encode`. :meth:`encode` adds a
    bounded cache (reasoning episodes repeat their question and steps), so a slow
    encoder pays for each distinct text once.

    Attributes:
        dim: length of every vector.
        cache_size: most texts remembered (0: no cache).
    """

    dim: int = 0

    def __init__(self, cache_size: int = 4096):
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def _encode(self, texts: list[str]) -> np.ndarray:
        """Return a ``(len(texts), dim)`` array (subclasses implement this)."""
        raise NotImplementedError

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Encode a batch of texts into a ``(len(texts), dim)`` float32 array."""
        texts = [t if isinstance(t, str) else str(t) for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        with self._lock:
            for i, text in enumerate(texts):
                hit = self._cache.get(text)
                if hit is None:
                    missing.setdefault(text, []).append(i)
                else:
                    self._cache.move_to_end(text)
                    out[i] = hit
        if missing:
            fresh = np.asarray(self._encode(list(missing)), dtype=np.float32)
            fresh = np.clip(np.nan_to_num(fresh, nan=0.0), -1.0, 1.0)
            with self._lock:
                for row, (text, where) in zip(fresh, missing.items()):
                    out[where] = row
                    if self.cache_size > 0:
                        self._cache[text] = row
                        if len(self._cache) > self.cache_size:
                            self._cache.popitem(last=False)
        return out

    def __call__(self, text: str) -> np.ndarray:
        """Encode one text into a ``(dim,)`` float32 vector."""
        return self.encode([text])[0]

    def space(self, n: int = 1) -> gym.spaces.Box:
        """Return the Box of ``n`` concatenated vectors."""
        return gym.spaces.Box(-1.0, 1.0, shape=(n * self.dim,), dtype=np.float32)


_FACTORIES: dict[str, Callable[..., TextEncoder]] = {}
_INSTANCES: dict[str, TextEncoder] = {}
_INSTANCES_LOCK = threading.Lock()


def register_encoder(name: str, factory: Callable[..., TextEncoder]) -> None:
    """Make an encoder available by name to :func:`make_encoder` and env views."""
    _FACTORIES[name] = factory


def available_encoders() -> list[str]:
    """Return the registered encoder names, sorted."""
    _register_builtins()
    return sorted(_FACTORIES)


def _register_builtins() -> None:
    if "ngram" in _FACTORIES and "minilm" in _FACTORIES:
        return
    from densegym.envs.adapters.minilm import MiniLMEncoder
    from densegym.envs.adapters.ngram import HashedNgramEncoder

    _FACTORIES.setdefault("ngram", HashedNgramEncoder)
    _FACTORIES.setdefault("minilm", MiniLMEncoder)


def make_encoder(spec: str | Mapping[str, Any] | TextEncoder = "ngram") -> TextEncoder:
    """Return the encoder a spec names (one shared instance per spec in a process).

    Args:
        spec: a name (``"ngram"``, ``"minilm"``), a dict ``{"id": name, **kwargs}``, or
            an encoder (returned as is).

    Raises:
        ValueError: for an unknown name.
        gymnasium.error.DependencyNotInstalled: when the encoder's package is missing.
    """
    if isinstance(spec, TextEncoder):
        return spec
    _register_builtins()
    if isinstance(spec, str):
        name, kwargs = spec, {}
    elif isinstance(spec, Mapping) and "id" in spec:
        name, kwargs = spec["id"], {k: v for k, v in spec.items() if k != "id"}
    else:
        raise ValueError(f"an encoder spec is a name or a dict with an 'id', got {spec!r}")
    if name not in _FACTORIES:
        raise ValueError(f"unknown encoder {name!r}; available: {', '.join(available_encoders())}")
    key = json.dumps([name, kwargs], sort_keys=True, default=repr)
    with _INSTANCES_LOCK:
        if key not in _INSTANCES:
            _INSTANCES[key] = _FACTORIES[name](**kwargs)
        return _INSTANCES[key]
