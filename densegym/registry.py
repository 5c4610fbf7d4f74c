"""One small registry type for every named thing: envs, shapers, agents, provers, LLM backends.

A :class:`Registry` maps a name to an entry, either the object itself or a lazy
``"module:attr"`` string imported on first use, so registering something heavy costs
nothing until it is asked for. Every lookup of an unknown name fails the same way: one
sentence naming the kind and listing what is registered.

Spec strings of the form ``"<kind>:<argument>"`` (``"llm:smollm2"``, ``"sb3:runs/x"``)
split with :func:`split_spec`.

Example:
    >>> colours = Registry("colour")
    >>> colours.register("red", "(255, 0, 0)")  # a value that is not an import path
    '(255, 0, 0)'
    >>> @colours.register("blue")
    ... def blue():
    ...     return (0, 0, 255)
    >>> colours.get("blue")()
    (0, 0, 255)
    >>> colours.names()
    ['blue', 'red']
    >>> colours.get("green")
    Traceback (most recent call last):
    ...
    ValueError: unknown colour 'green'; registered colours: blue, red
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_LAZY = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")


def load_entry_point(path: str) -> Any:
    """Import ``"module:attr"`` and return the attribute.

    Example:
        >>> load_entry_point("math:pi") > 3
        True
    """
    module_name, sep, attr = path.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"an entry point is 'module:attr', got {path!r}")
    return getattr(importlib.import_module(module_name), attr)


def split_spec(spec: str) -> tuple[str, str]:
    """Split ``"<kind>:<argument>"`` into its two parts (the argument may be empty).

    Example:
        >>> split_spec("llm:openai:qwen@http://127.0.0.1:8000/v1")
        ('llm', 'openai:qwen@http://127.0.0.1:8000/v1')
        >>> split_spec("random")
        ('random', '')
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"a spec is a non-empty string, got {spec!r}")
    kind, _, argument = spec.strip().partition(":")
    return kind, argument


class Registry(Generic[T]):
    """Names to entries, with lazy ``"module:attr"`` entries and one error style.

    Args:
        kind: what the registry holds, singular (``"shaper"``, ``"agent"``), used in errors.
        on_load: called with ``(name, entry)`` when a lazy entry is first imported
            (e.g. to stamp the registry name on a class).
    """

    def __init__(self, kind: str, on_load: Callable[[str, Any], None] | None = None):
        self.kind = kind
        self._entries: dict[str, Any] = {}
        self._on_load = on_load

    def register(self, name: str, entry: Any = None) -> Any:
        """Register ``entry`` under ``name``; with no entry, return a decorator.

        A string entry that looks like ``"module:attr"`` is imported on first
        :meth:`get`; any other entry is stored as it is.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} name is a non-empty string, got {name!r}")

        def add(value: Any) -> Any:
            self._entries[name] = value
            if not self._is_lazy(value) and self._on_load is not None:
                self._on_load(name, value)
            return value

        if entry is None:
            return add
        return add(entry)

    @staticmethod
    def _is_lazy(value: Any) -> bool:
        return isinstance(value, str) and bool(_LAZY.fullmatch(value))

    def get(self, name: str) -> T:
        """Return the entry registered as ``name``, importing it if it was lazy.

        Raises:
            ValueError: ``name`` is not registered (the message lists what is).
        """
        if name not in self._entries:
            listed = ", ".join(self.names()) or "none"
            raise ValueError(f"unknown {self.kind} {name!r}; registered {self.kind}s: {listed}")
        value = self._entries[name]
        if self._is_lazy(value):
            value = load_entry_point(value)
            self._entries[name] = value
            if self._on_load is not None:
                self._on_load(name, value)
        return value

    def unregister(self, name: str) -> None:
        """Remove ``name`` if it is registered (tests use it to undo a registration)."""
        self._entries.pop(name, None)

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
