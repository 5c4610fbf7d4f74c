"""Text features of a partial solution: hashed n-grams plus a few calculator checks.

No dependency and no download: words are hashed into a fixed-size vector (the hashing
trick), separately for the newest step and for the whole solution so far, and a handful
of features are read off the text with a calculator — does each stated computation
``a op b = c`` hold, does a final answer repeat the last result. These use only the
written text (never the task's reference answer), which is what a verifier with a
calculator tool sees.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from densegym.envs.reasoning.parsing import parse_answer, parse_equations

_WORD_RE = re.compile(r"[a-z]+|\d+|[^\sa-z\d]")
#: Names of the calculator features, in order.
CALCULATOR_FEATURES = (
    "bias",
    "n_steps",
    "last_is_answer",
    "last_has_equation",
    "last_equation_wrong",
    "any_equation_wrong",
    "answer_matches_last_result",
    "answer_differs_from_last_result",
    "any_invalid_step",
    "last_repeats_earlier",
)


def _tokens(text: str) -> list[str]:
    return _WORD_RE.findall(text.lower())


def _bucket(token: str, salt: str, dim: int) -> int:
    return zlib.crc32(f"{salt}\x00{token}".encode()) % dim


class StepFeaturizer:
    """Map ``(question, steps)`` to a float vector.

    Args:
        dim: hashed buckets per text field (two fields: newest step, all steps).
        ngram: longest word n-gram hashed.
        calculator: append the :data:`CALCULATOR_FEATURES`.

    Example:
        >>> f = StepFeaturizer(dim=64)
        >>> x = f("What is 2 + 3?", ["2 + 3 = 6"])
        >>> x.shape, f.size
        ((138,), 138)
        >>> float(dict(zip(CALCULATOR_FEATURES, x[-10:]))["last_equation_wrong"])
        1.0
    """

    def __init__(self, dim: int = 1024, ngram: int = 2, calculator: bool = True):
        self.dim = int(dim)
        self.ngram = int(ngram)
        self.calculator = bool(calculator)

    @property
    def size(self) -> int:
        """Length of a feature vector."""
        return 2 * self.dim + (len(CALCULATOR_FEATURES) if self.calculator else 0)

    def config(self) -> dict[str, Any]:
        """Constructor arguments (saved with a model)."""
        return {"dim": self.dim, "ngram": self.ngram, "calculator": self.calculator}

    def _hash_into(self, out: np.ndarray, offset: int, text: str, salt: str) -> None:
        words = _tokens(text)
        grams = [
            " ".join(words[i : i + n])
            for n in range(1, self.ngram + 1)
            for i in range(len(words) - n + 1)
        ]
        for gram in grams:
            out[offset + _bucket(gram, salt, self.dim)] += 1.0
        block = out[offset : offset + self.dim]
        norm = np.linalg.norm(block)
        if norm > 0:
            block /= norm

    def _calculator(self, steps: Sequence[str]) -> list[float]:
        last = steps[-1] if steps else ""
        is_answer, answer = parse_answer(last) if last else (False, None)
        equations = [parse_equations(s) for s in steps]
        last_result = None
        for eqs in equations[:-1] if is_answer else equations:
            if eqs:
                last_result = eqs[-1].stated
        wrong_last = any(not eq.correct for eq in (equations[-1] if equations else []))
        any_wrong = any(not eq.correct for eqs in equations for eq in eqs)
        matches = is_answer and answer is not None and answer == last_result
        differs = is_answer and answer is not None and last_result is not None and not matches
        return [
            1.0,
            min(len(steps), 16) / 8.0,
            float(is_answer),
            float(bool(equations and equations[-1])),
            float(wrong_last),
            float(any_wrong),
            float(matches),
            float(differs),
            float(any(s.startswith("[invalid step") for s in steps)),
            float(bool(last) and last in steps[:-1]),
        ]

    def __call__(self, question: str, steps: Sequence[str]) -> np.ndarray:
        """Return the feature vector of one partial solution."""
        steps = list(steps)
        out = np.zeros(self.size, dtype=np.float32)
        self._hash_into(out, 0, steps[-1] if steps else "", "last")
        self._hash_into(out, self.dim, question + "\n" + "\n".join(steps), "all")
        if self.calculator:
            out[2 * self.dim :] = self._calculator(steps)
        return out

    def batch(self, items: Sequence[tuple[str, Sequence[str]]]) -> np.ndarray:
        """Return a ``(len(items), size)`` matrix."""
        if not items:
            return np.zeros((0, self.size), dtype=np.float32)
        return np.stack([self(q, s) for q, s in items])
