"""Hashed bag of character and word n-grams: a fast text encoder with no dependencies.

Every character n-gram and word n-gram of the (lower-cased) text is hashed to one of
``dim`` buckets with a sign (the "hashing trick"); counts are damped with
``log1p`` and the vector is scaled to unit length. The hash is a fixed 64-bit mix, not
Python's salted ``hash()``, so the same text gives the same vector in every process.
Written by hand because the one library that does this (scikit-learn's
``HashingVectorizer``) is a heavy dependency for forty lines of numpy.

Example:
    >>> encoder = HashedNgramEncoder(dim=32)
    >>> a, b = encoder("3 * 4 = 12"), encoder("3 * 4 = 13")
    >>> a.shape, a.dtype, round(float(np.linalg.norm(a)), 4)
    ((32,), dtype('float32'), 1.0)
    >>> bool((a == encoder("3 * 4 = 12")).all()), bool((a == b).all())
    (True, False)
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

from densegym.envs.adapters.encoder import TextEncoder

__all__ = ["HashedNgramEncoder"]

_WORD_RE = re.compile(r"\w+|[^\w\s]")
_PRIME = np.uint64(0x100000001B3)  # FNV-1a 64-bit prime


def _seed(n: int, salt: int) -> np.uint64:
    """A per-length starting value (Python ints: numpy scalars warn on overflow)."""
    return np.uint64((n * salt) & 0xFFFFFFFFFFFFFFFF)


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spread every input bit over the whole 64-bit word."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def _char_hashes(data: np.ndarray, n: int) -> np.ndarray:
    """64-bit hashes of every length-``n`` window of the uint64 array ``data``."""
    count = data.size - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    h = np.full(count, _seed(n, 0x9E3779B97F4A7C15), dtype=np.uint64)
    for j in range(n):
        h ^= data[j : j + count]
        h *= _PRIME
    return _mix(h)


def _word_hashes(words: list[bytes], n: int) -> np.ndarray:
    if len(words) < n:
        return np.zeros(0, dtype=np.uint64)
    grams = [b"\x00".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    crc = np.array([zlib.crc32(g) for g in grams], dtype=np.uint64)
    return _mix(crc ^ _seed(n, 0xD6E8FEB86659FD93))


class HashedNgramEncoder(TextEncoder):
    """Encode text as a signed, hashed bag of character and word n-grams.

    Args:
        dim: vector length (number of hash buckets).
        char_ngrams: inclusive ``[min, max]`` character n-gram lengths (``None``: none).
        word_ngrams: inclusive ``[min, max]`` word n-gram lengths (``None``: none).
        lowercase: lower-case the text first.
        cache_size: texts remembered by :meth:`encode`.
    """

    def __init__(
        self,
        dim: int = 256,
        char_ngrams: Sequence[int] | None = (1, 3),
        word_ngrams: Sequence[int] | None = (1, 2),
        lowercase: bool = True,
        cache_size: int = 4096,
    ):
        super().__init__(cache_size)
        if int(dim) < 1:
            raise ValueError(f"dim must be positive, got {dim!r}")
        self.dim = int(dim)
        self.char_ngrams = _check_range(char_ngrams, "char_ngrams")
        self.word_ngrams = _check_range(word_ngrams, "word_ngrams")
        if not self.char_ngrams and not self.word_ngrams:
            raise ValueError("at least one of char_ngrams and word_ngrams is needed")
        self.lowercase = bool(lowercase)

    def _encode(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._one(text) for text in texts]) if texts else np.zeros((0, self.dim))

    def _one(self, text: str) -> np.ndarray:
        if self.lowercase:
            text = text.lower()
        parts = []
        if self.char_ngrams:
            data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.uint64)
            parts += [_char_hashes(data, n) for n in range(*self.char_ngrams)]
        if self.word_ngrams:
            words = [w.encode("utf-8") for w in _WORD_RE.findall(text)]
            parts += [_word_hashes(words, n) for n in range(*self.word_ngrams)]
        hashes = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)
        buckets = (hashes % np.uint64(self.dim)).astype(np.int64)
        signs = np.where(hashes >> np.uint64(63), -1.0, 1.0)
        counts = np.bincount(buckets, weights=signs, minlength=self.dim)
        vector = np.sign(counts) * np.log1p(np.abs(counts))
        norm = np.linalg.norm(vector)
        return (vector / norm if norm > 0 else vector).astype(np.float32)

    def __repr__(self) -> str:
        return (
            f"HashedNgramEncoder(dim={self.dim}, char_ngrams={list(self.char_ngrams or ())}, "
            f"word_ngrams={list(self.word_ngrams or ())})"
        )


def _check_range(value: Sequence[int] | None, name: str) -> tuple[int, int] | None:
    """Return ``(low, high + 1)`` for an inclusive ``[low, high]``, or ``None``."""
    if value is None:
        return None
    low, high = (int(v) for v in value)
    if not 1 <= low <= high:
        raise ValueError(f"{name} must be [min, max] with 1 <= min <= max, got {value!r}")
    return (low, high + 1)
