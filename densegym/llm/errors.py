"""Errors raised by the LLM layer, and the check for the optional ``llm`` extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from gymnasium.error import DependencyNotInstalled

INSTALL_HINT = 'pip install -e ".[llm]"'


class LLMError(RuntimeError):
    """A language-model backend could not do what was asked."""


class LLMConnectionError(LLMError, ConnectionError):
    """A remote model server was down, too slow, or kept failing after bounded retries."""


class LLMUnavailableError(LLMConnectionError):
    """A server failed so often that its circuit breaker refuses calls for a while."""


class LLMServerError(LLMError):
    """A remote model server answered with an error that retrying cannot fix (4xx)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def require(*modules: str, purpose: str = "densegym's transformers backends") -> list[ModuleType]:
    """Import optional modules or raise ``DependencyNotInstalled`` with the install command.

    Args:
        modules: Importable module names, e.g. ``"transformers"``.
        purpose: What needs them, for the error message.

    Returns:
        The imported modules, in order.

    Raises:
        DependencyNotInstalled: When one is missing.

    Example:
        >>> [m.__name__ for m in require("json")]
        ['json']
        >>> require("no_such_module_xyz")
        Traceback (most recent call last):
        ...
        gymnasium.error.DependencyNotInstalled: ...missing no_such_module_xyz ...
    """
    imported = []
    for name in modules:
        try:
            imported.append(importlib.import_module(name))
        except ImportError as error:
            raise DependencyNotInstalled(
                f"{purpose}: missing {name} ({error}); install the llm extra with: {INSTALL_HINT}"
            ) from error
    return imported
