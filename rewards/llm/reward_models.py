"""Reward models that distil LLM labels of captions into a score for any caption.

- ``hash``: a lookup table of labelled captions (unlabelled ones score the mean label).
- ``cls``: logistic regression over hashed word and character n-grams (ONI's classifier;
  hashed n-grams instead of sentence embeddings, so nothing is downloaded).
- ``rank``: a Bradley–Terry model over preference pairs (Motif).

All train online from what the annotator returns and score in microseconds.

Example:
    >>> model = make_model("cls")
    >>> stats = model.update([("a key on the floor", 1.0), ("solid stone", 0.0)] * 20)
    >>> bool(model.score(["a key here"])[0] > model.score(["solid stone"])[0])
    True
"""

from __future__ import annotations

import re
import zlib
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

_WORD = re.compile(r"[a-z]+|\d+")


class HashedNgrams:
    """Text → L2-normalised vector of signed, hashed word 1–2-grams and character 3-grams.

    CRC32 hashing is stable across processes (Python's ``hash`` is salted).

    Example:
        >>> features = HashedNgrams(dim=64)
        >>> vector = features(["a door", "a door"])
        >>> vector.shape, bool(np.allclose(vector[0], vector[1]))
        ((2, 64), True)
    """

    def __init__(self, dim: int = 4096, cache_size: int = 50_000):
        self.dim = int(dim)
        self._cache: dict[str, np.ndarray] = {}
        self._cache_size = cache_size

    def _one(self, text: str) -> np.ndarray:
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        lowered = text.lower()
        words = _WORD.findall(lowered)
        grams = words + [f"{a} {b}" for a, b in zip(words, words[1:])]
        padded = f" {lowered} "
        grams += [padded[i : i + 3] for i in range(len(padded) - 2)]
        vector = np.zeros(self.dim, dtype=np.float32)
        for gram in grams:
            digest = zlib.crc32(gram.encode())
            vector[digest % self.dim] += 1.0 if digest & 0x80000000 else -1.0
        norm = float(np.linalg.norm(vector))
        if norm > 0:
            vector /= norm
        if len(self._cache) < self._cache_size:
            self._cache[text] = vector
        return vector

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Stack the vectors of ``texts``."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._one(t) for t in texts])


class HashModel:
    """A table of labelled captions; unseen captions score the mean label."""

    kind = "label"

    def __init__(self, **_: Any):
        self.table: dict[str, float] = {}

    def update(self, labelled: Sequence[tuple[str, float]]) -> dict[str, float]:
        """Store labels."""
        for text, value in labelled:
            self.table[text] = float(value)
        return {"size": float(len(self.table))}

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Label of each caption, or the mean label for unseen ones."""
        default = float(np.mean(list(self.table.values()))) if self.table else 0.0
        return np.array([self.table.get(t, default) for t in texts], dtype=np.float64)

    def state_dict(self) -> dict[str, Any]:
        """The table."""
        return {"table": dict(self.table)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the table."""
        self.table = dict(state["table"])


class _LinearModel:
    def __init__(
        self,
        dim: int = 1024,
        lr: float = 0.5,
        l2: float = 1e-4,
        epochs: int = 3,
        batch_size: int = 64,
        buffer: int = 5000,
        replay: int = 256,
        seed: int = 0,
    ):
        self.features = HashedNgrams(dim)
        self.weights = np.zeros(dim, dtype=np.float64)
        self.bias = 0.0
        self.lr, self.l2, self.epochs, self.batch_size = lr, l2, epochs, batch_size
        self.buffer: deque[Any] = deque(maxlen=buffer)
        self.replay = replay
        self.rng = np.random.default_rng(seed)
        self.updates = 0

    def sample(self, new: Sequence[Any]) -> list[Any]:
        """The new items plus a random replay of older ones (bounded work per update)."""
        old = list(self.buffer)
        self.buffer.extend(new)
        if len(old) > self.replay:
            old = [old[i] for i in self.rng.choice(len(old), self.replay, replace=False)]
        return list(new) + old

    def raw(self, texts: Sequence[str]) -> np.ndarray:
        return self.features(list(texts)) @ self.weights + self.bias

    def state_dict(self) -> dict[str, Any]:
        return {"weights": self.weights.copy(), "bias": self.bias, "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.weights = np.array(state["weights"], dtype=np.float64)
        self.bias = float(state["bias"])
        self.updates = int(state.get("updates", 0))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


class ClassifierModel(_LinearModel):
    """Logistic regression over hashed n-grams, trained by minibatch SGD on a label buffer."""

    kind = "label"

    def update(self, labelled: Sequence[tuple[str, float]]) -> dict[str, float]:
        """Take a few epochs of SGD on new labels plus a replay of older ones."""
        items = self.sample(labelled)
        if not items:
            return {"loss": float("nan")}
        x = self.features([t for t, _ in items]).astype(np.float64)
        y = np.array([v for _, v in items], dtype=np.float64)
        for _ in range(self.epochs):
            order = self.rng.permutation(len(y))
            for start in range(0, len(y), self.batch_size):
                idx = order[start : start + self.batch_size]
                p = _sigmoid(x[idx] @ self.weights + self.bias)
                grad = p - y[idx]
                self.weights -= self.lr * (x[idx].T @ grad / len(idx) + self.l2 * self.weights)
                self.bias -= self.lr * float(grad.mean())
        p = np.clip(_sigmoid(x @ self.weights + self.bias), 1e-7, 1 - 1e-7)
        loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
        self.updates += 1
        return {"loss": loss, "size": float(len(y))}

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """Probability that the LLM would call each caption helpful."""
        return _sigmoid(self.raw(texts))


class RankModel(_LinearModel):
    """Bradley–Terry: ``P(a ≻ b) = σ(r(a) − r(b))`` with a linear ``r`` over n-grams."""

    kind = "preference"

    def update(self, labelled: Sequence[tuple[tuple[str, str], float]]) -> dict[str, float]:
        """Take a few epochs of SGD on new ``((a, b), P(a ≻ b))`` pairs plus a replay."""
        items = self.sample(labelled)
        if not items:
            return {"loss": float("nan")}
        xa = self.features([pair[0] for pair, _ in items]).astype(np.float64)
        xb = self.features([pair[1] for pair, _ in items]).astype(np.float64)
        diff = xa - xb
        y = np.array([v for _, v in items], dtype=np.float64)
        for _ in range(self.epochs):
            order = self.rng.permutation(len(y))
            for start in range(0, len(y), self.batch_size):
                idx = order[start : start + self.batch_size]
                grad = _sigmoid(diff[idx] @ self.weights) - y[idx]
                self.weights -= self.lr * (diff[idx].T @ grad / len(idx) + self.l2 * self.weights)
        p = np.clip(_sigmoid(diff @ self.weights), 1e-7, 1 - 1e-7)
        loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
        self.updates += 1
        return {"loss": loss, "size": float(len(y))}

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """The learned utility ``r`` of each caption."""
        return self.raw(texts)


MODELS = {"hash": HashModel, "cls": ClassifierModel, "rank": RankModel}


def make_model(name: str, **kwargs: Any) -> HashModel | ClassifierModel | RankModel:
    """Build a reward model by name: ``hash``, ``cls`` or ``rank``."""
    if name not in MODELS:
        raise ValueError(f"unknown reward model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name](**kwargs)
