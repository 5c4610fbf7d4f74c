"""Plain data passed in and out of every backend: sampling settings, completions, scores."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from densegym.llm.tools import ToolCall

FINISH_REASONS = ("stop", "length")


@dataclass(frozen=True)
class SamplingParams:
    r"""Validated settings of one ``generate``/``chat`` call.

    Args:
        n: Samples per prompt.
        max_tokens: Most tokens generated per sample.
        temperature: 0 means greedy decoding.
        top_p: Nucleus-sampling mass in (0, 1].
        stop: Strings that end a sample; the text is cut before the first one.
        seed: Makes sampling reproducible when given.

    Example:
        >>> SamplingParams(stop="\n").stop
        ('\n',)
        >>> SamplingParams(temperature=0.7, n=2).greedy
        False
    """

    n: int = 1
    max_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    stop: str | Sequence[str] | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"n must be a positive integer, got {self.n!r}")
        if not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise ValueError(f"max_tokens must be a positive integer, got {self.max_tokens!r}")
        if not (math.isfinite(self.temperature) and self.temperature >= 0):
            raise ValueError(f"temperature must be >= 0, got {self.temperature!r}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p!r}")
        stop = self.stop
        if stop is None:
            stop = ()
        elif isinstance(stop, str):
            stop = (stop,)
        stop = tuple(stop)
        if not all(isinstance(s, str) and s for s in stop):
            raise ValueError(f"stop must be non-empty strings, got {self.stop!r}")
        object.__setattr__(self, "stop", stop)
        if self.seed is not None and not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer or None, got {self.seed!r}")

    @property
    def greedy(self) -> bool:
        """Whether decoding is greedy (temperature 0)."""
        return self.temperature == 0


@dataclass(frozen=True)
class Completion:
    """One generated sample.

    Attributes:
        text: The generated text, cut before the first stop string; no special tokens.
        prompt_tokens: Tokens in the prompt it continues.
        completion_tokens: Tokens the model generated for it: up to and including the
            token that completed a stop string, or the end-of-sequence token.
        finish_reason: ``"stop"`` (stop string or end of sequence) or ``"length"``.
        prompt_index: Which prompt (or conversation) of the call it answers.
        sample_index: Which of the ``n`` samples of that prompt it is.
        token_ids: The counted generated token ids, where the backend exposes them.
        tool_calls: The tool calls the model asked for (``chat(..., tools=...)`` only).

    Example:
        >>> c = Completion("8", prompt_tokens=5, completion_tokens=2, finish_reason="stop")
        >>> str(c), c.tokens, c.tool_calls
        ('8', 7, ())
    """

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    prompt_index: int = 0
    sample_index: int = 0
    token_ids: tuple[int, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()

    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class TokenLogprobs:
    """Log-probabilities of a continuation's tokens given its prompt.

    Attributes:
        tokens: The continuation's tokens as text.
        logprobs: Natural-log probability of each token given everything before it.
        offsets: Character offset of each token in the continuation.
        token_ids: Token ids, where the backend exposes them.

    Example:
        >>> s = TokenLogprobs(tokens=(" a", " b"), logprobs=(-1.0, -0.5), offsets=(0, 2))
        >>> s.total, len(s)
        (-1.5, 2)
    """

    tokens: tuple[str, ...]
    logprobs: tuple[float, ...]
    offsets: tuple[int, ...] = ()
    token_ids: tuple[int, ...] = ()

    @property
    def total(self) -> float:
        """Sum of the token log-probabilities: the continuation's log-likelihood."""
        return float(sum(self.logprobs))

    @property
    def mean(self) -> float:
        """Mean token log-probability (0.0 for an empty continuation)."""
        return self.total / len(self.logprobs) if self.logprobs else 0.0

    def __len__(self) -> int:
        return len(self.logprobs)
