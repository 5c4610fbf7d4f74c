"""Call accounting: how many calls, prompt tokens, completion tokens and seconds were spent.

Every backend owns a :class:`Usage` (``backend.usage``) that also feeds one process-wide
total (:func:`total_usage`), so a TensorBoard callback can read either the counters of
the backend it holds or everything the process spent, and diff snapshots between logs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping

KEYS = ("calls", "prompt_tokens", "completion_tokens", "seconds")


class Usage(Mapping[str, float]):
    """Thread-safe running totals of LLM work; reads like a dict with :data:`KEYS`.

    Prompt tokens are counted once per prompt (also when ``n`` > 1 samples are drawn
    from it); scoring calls (``logprobs``) count every scored token, context and
    continuation, as prompt tokens. ``seconds`` is wall-clock time inside calls.

    Args:
        calls: Initial number of calls.
        prompt_tokens: Initial prompt-token count.
        completion_tokens: Initial generated-token count.
        seconds: Initial wall-clock seconds.
        parent: Another ``Usage`` that receives every :meth:`add` as well.

    Example:
        >>> usage = Usage()
        >>> usage.add(prompt_tokens=12, completion_tokens=5, seconds=0.5)
        >>> before = usage.snapshot()
        >>> usage.add(prompt_tokens=3, completion_tokens=1, seconds=0.25)
        >>> dict(usage.since(before))
        {'calls': 1, 'prompt_tokens': 3, 'completion_tokens': 1, 'seconds': 0.25}
        >>> usage["calls"], usage.tokens
        (2, 21)
    """

    def __init__(
        self,
        calls: int = 0,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        seconds: float = 0.0,
        parent: Usage | None = None,
    ):
        self._values: dict[str, float] = {
            "calls": int(calls),
            "prompt_tokens": int(prompt_tokens),
            "completion_tokens": int(completion_tokens),
            "seconds": float(seconds),
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
    ) -> None:
        """Count one call (or ``calls`` calls) and the work it did."""
        with self._lock:
            self._values["calls"] += int(calls)
            self._values["prompt_tokens"] += int(prompt_tokens)
            self._values["completion_tokens"] += int(completion_tokens)
            self._values["seconds"] += float(seconds)
        if self._parent is not None:
            self._parent.add(
                calls=calls,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                seconds=seconds,
            )

    def snapshot(self) -> Usage:
        """Return a detached copy of the current totals."""
        with self._lock:
            return Usage(**self._values)

    def since(self, earlier: Mapping[str, float]) -> Usage:
        """Return the work done since ``earlier`` (a snapshot or any mapping with :data:`KEYS`)."""
        now = self.snapshot()
        return Usage(**{key: now[key] - earlier[key] for key in KEYS})

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
        return Usage(**{key: now[key] + other[key] for key in KEYS})

    def __repr__(self) -> str:
        return (
            f"Usage(calls={self.calls}, prompt_tokens={self.prompt_tokens}, "
            f"completion_tokens={self.completion_tokens}, seconds={self.seconds:.3f})"
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
