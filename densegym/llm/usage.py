"""Call accounting: how many calls, prompt tokens, completion tokens and seconds were spent.

Every backend owns a :class:`Usage` (``backend.usage``) that also feeds one process-wide
total (:func:`total_usage`), so a TensorBoard callback can read either the counters of
the backend it holds or everything the process spent, and diff snapshots between logs.

:class:`Usage` is also the one cost type of the agent contract
(:mod:`densegym.agents.protocol`): an LLM policy's or a search agent's ``usage`` property
returns one, and :func:`densegym.agents.evaluate` reports the difference before and after
a run. Search agents fill two more counters, ``steps_generated`` (candidate steps their
proposer wrote) and ``scorer_calls`` (states their scorer rated); for a backend both stay 0.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping

KEYS = (
    "calls",
    "prompt_tokens",
    "completion_tokens",
    "seconds",
    "steps_generated",
    "scorer_calls",
)


class Usage(Mapping[str, float]):
    """Thread-safe running totals of LLM work; reads like a dict with :data:`KEYS`.

    Prompt tokens are counted once per prompt (also when ``n`` > 1 samples are drawn
    from it); scoring calls (``logprobs``) count every scored token, context and
    continuation, as prompt tokens. ``seconds`` is wall-clock time inside calls.
    ``steps_generated`` and ``scorer_calls`` count a search agent's candidate steps and
    scored states (0 for a backend).

    Args:
        calls: Initial number of calls.
        prompt_tokens: Initial prompt-token count.
        completion_tokens: Initial generated-token count.
        seconds: Initial wall-clock seconds.
        steps_generated: Initial number of candidate steps generated (search agents).
        scorer_calls: Initial number of states scored (search agents).
        parent: Another ``Usage`` that receives every :meth:`add` as well.

    Example:
        >>> usage = Usage()
        >>> usage.add(prompt_tokens=12, completion_tokens=5, seconds=0.5)
        >>> before = usage.snapshot()
        >>> usage.add(prompt_tokens=3, completion_tokens=1, seconds=0.25)
        >>> spent = usage.since(before)
        >>> spent.calls, spent.prompt_tokens, spent.completion_tokens, spent.seconds
        (1, 3, 1, 0.25)
        >>> usage["calls"], usage.tokens
        (2, 21)
    """

    def __init__(
        self,
        calls: int = 0,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        seconds: float = 0.0,
        steps_generated: int = 0,
        scorer_calls: int = 0,
        parent: Usage | None = None,
    ):
        self._values: dict[str, float] = {
            "calls": int(calls),
            "prompt_tokens": int(prompt_tokens),
            "completion_tokens": int(completion_tokens),
            "seconds": float(seconds),
            "steps_generated": int(steps_generated),
            "scorer_calls": int(scorer_calls),
        }
        self._parent = parent
        self._lock = threading.Lock()

    def add(
        self,
        *,
        calls: int = 1,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        seconds: float = 0.0,
        steps_generated: int = 0,
        scorer_calls: int = 0,
    ) -> None:
        """Count one call (or ``calls`` calls) and the work it did."""
        with self._lock:
            self._values["calls"] += int(calls)
            self._values["prompt_tokens"] += int(prompt_tokens)
            self._values["completion_tokens"] += int(completion_tokens)
            self._values["seconds"] += float(seconds)
            self._values["steps_generated"] += int(steps_generated)
            self._values["scorer_calls"] += int(scorer_calls)
        if self._parent is not None:
            self._parent.add(
                calls=calls,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                seconds=seconds,
                steps_generated=steps_generated,
                scorer_calls=scorer_calls,
            )

    def snapshot(self) -> Usage:
        """Return a detached copy of the current totals."""
        with self._lock:
            return Usage(**self._values)

    def since(self, earlier: Mapping[str, float]) -> Usage:
        """Return the work done since ``earlier`` (a snapshot, or a mapping of :data:`KEYS`).

        Keys missing from ``earlier`` count as 0.
        """
        now = self.snapshot()
        return Usage(**{key: now[key] - earlier.get(key, 0) for key in KEYS})

    def reset(self) -> None:
        """Set every counter back to zero (the parent keeps its totals)."""
        with self._lock:
            for key in KEYS:
                self._values[key] = 0.0 if key == "seconds" else 0

    @property
    def calls(self) -> int:
        """Number of ``generate``/``chat``/``logprobs`` calls."""
        return int(self._values["calls"])

    @property
    def prompt_tokens(self) -> int:
        """Tokens read: prompts, and every scored token."""
        return int(self._values["prompt_tokens"])

    @property
    def completion_tokens(self) -> int:
        """Tokens generated, each end-of-sequence token included."""
        return int(self._values["completion_tokens"])

    @property
    def seconds(self) -> float:
        """Wall-clock seconds spent inside calls."""
        return float(self._values["seconds"])

    @property
    def steps_generated(self) -> int:
        """Candidate steps a search agent's proposer generated (0 for a backend)."""
        return int(self._values["steps_generated"])

    @property
    def scorer_calls(self) -> int:
        """States a search agent's scorer rated (0 for a backend)."""
        return int(self._values["scorer_calls"])

    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def __getitem__(self, key: str) -> float:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(KEYS)

    def __len__(self) -> int:
        return len(KEYS)

    def __sub__(self, other: Mapping[str, float]) -> Usage:
        return self.since(other)

    def __add__(self, other: Mapping[str, float]) -> Usage:
        now = self.snapshot()
        return Usage(**{key: now[key] + other.get(key, 0) for key in KEYS})

    def as_dict(self) -> dict[str, float]:
        """Return the counters as a plain dict (JSON-ready), with ``tokens`` added.

        Example:
            >>> Usage(calls=2, prompt_tokens=5, completion_tokens=3).as_dict()["tokens"]
            8
        """
        with self._lock:
            values = dict(self._values)
        values["tokens"] = values["prompt_tokens"] + values["completion_tokens"]
        return values

    def __repr__(self) -> str:
        search = ""
        if self.steps_generated or self.scorer_calls:
            search = f", steps_generated={self.steps_generated}, scorer_calls={self.scorer_calls}"
        return (
            f"Usage(calls={self.calls}, prompt_tokens={self.prompt_tokens}, "
            f"completion_tokens={self.completion_tokens}, seconds={self.seconds:.3f}{search})"
        )


_TOTAL = Usage()


def total_usage() -> Usage:
    """Return the process-wide totals that every backend's ``usage`` also feeds.

    Example:
        >>> before = total_usage().snapshot()
        >>> Usage(parent=total_usage()).add(completion_tokens=4)
        >>> total_usage().since(before)["completion_tokens"]
        4
    """
    return _TOTAL
