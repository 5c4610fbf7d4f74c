r"""Reading one tool call from text: JSON or call syntax, tolerantly and boundedly.

Accepted forms (surrounding prose, ``Action:`` prefixes and markdown code fences are
ignored):

* JSON: ``{"name": "get_order", "arguments": {"order_id": "#W1"}}``; ``arguments`` may
  also be a JSON string (as OpenAI tool calls carry it), and ``tool``/``args``/
  ``parameters`` or an OpenAI ``{"function": {...}}`` wrapper are understood;
* call syntax: ``get_order(order_id="#W1")``, parsed with :mod:`ast` (never ``eval``):
  argument values must be constants (strings, numbers, booleans, ``None``) or lists of
  them; positional arguments are matched to the tool's parameters in order.

Nothing here raises on any input: :func:`parse_call` returns a :class:`ParsedCall`
whose ``error`` says what was wrong.

Example:
    >>> parse_call('get_order(order_id="#W1")')
    ParsedCall(name='get_order', arguments={'order_id': '#W1'}, positional=(), error='')
    >>> parse_call('Action: {"name": "answer", "arguments": "{\\"answer\\": 42}"}')
    ParsedCall(name='answer', arguments={'answer': 42}, positional=(), error='')
    >>> parse_call("get_order(order_id=__import__('os'))").error
    'argument values must be constants or lists of constants'
    >>> parse_call("please help").error
    'no tool call found (write name(arg=value) or JSON {"name": ..., "arguments": {...}})'
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ParsedCall", "parse_call"]

#: Longest action text read; longer actions are invalid (they are never cut silently).
MAX_CALL_CHARS = 4000
_MAX_DEPTH = 3
_MAX_LIST = 50
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_CALL_START_RE = re.compile(r"(?<![A-Za-z0-9_.])([A-Za-z_][A-Za-z0-9_]{0,63})\s*\(")
_FENCE_RE = re.compile(r"```[A-Za-z]*\s*(.*?)```", flags=re.DOTALL)
_NO_CALL = 'no tool call found (write name(arg=value) or JSON {"name": ..., "arguments": {...}})'


class _Reject(Exception):
    """The call text is not acceptable (the message says why)."""


@dataclass(frozen=True)
class ParsedCall:
    """One call read from text.

    Attributes:
        name: the tool name ('' when none was read).
        arguments: keyword arguments.
        positional: positional arguments (call syntax only), matched to parameters later.
        error: why the text is not a valid call ('' when it is).
    """

    name: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)
    positional: tuple[Any, ...] = ()
    error: str = ""

    @property
    def ok(self) -> bool:
        """Whether a call was read."""
        return not self.error

    def canonical(self) -> str:
        """Return a canonical one-line form, ``name({"arg": value})`` with sorted keys."""
        return f"{self.name}({json.dumps(self.arguments, sort_keys=True)})"


def _constant(node: ast.AST, depth: int = 0) -> Any:
    if isinstance(node, ast.Constant) and (
        node.value is None or type(node.value) in (str, int, float, bool)
    ):
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, ast.USub)
        and isinstance(node.operand, ast.Constant)
        and type(node.operand.value) in (int, float)
    ):
        return -node.operand.value
    if isinstance(node, (ast.List, ast.Tuple)) and depth < _MAX_DEPTH:
        if len(node.elts) > _MAX_LIST:
            raise _Reject(f"lists are limited to {_MAX_LIST} items")
        return [_constant(e, depth + 1) for e in node.elts]
    raise _Reject("argument values must be constants or lists of constants")


def _from_ast(text: str) -> ParsedCall:
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        raise _Reject("cannot parse the call") from None
    call = tree.body
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name):
        raise _Reject("expected one call like name(arg=value)")
    arguments: dict[str, Any] = {}
    for keyword in call.keywords:
        if keyword.arg is None:
            raise _Reject("**kwargs are not allowed")
        arguments[keyword.arg] = _constant(keyword.value)
    positional = []
    for arg in call.args:
        if isinstance(arg, ast.Starred):
            raise _Reject("*args are not allowed")
        positional.append(_constant(arg))
    return ParsedCall(call.func.id, arguments, tuple(positional))


def _unwrap(obj: Any) -> tuple[Any, Any]:
    if isinstance(obj, list) and len(obj) == 1:
        obj = obj[0]
    if not isinstance(obj, dict):
        raise _Reject('expected a JSON object {"name": ..., "arguments": {...}}')
    if isinstance(obj.get("function"), dict):
        obj = obj["function"]
    name = obj.get("name", obj.get("tool", obj.get("tool_name")))
    args = obj.get("arguments", obj.get("args", obj.get("parameters", obj.get("input", {}))))
    return name, args


def _from_json(text: str) -> ParsedCall:
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        raise _Reject("invalid JSON") from None
    name, args = _unwrap(obj)
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise _Reject('the JSON call needs a "name" string naming a tool')
    if args is None:
        args = {}
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except (ValueError, RecursionError):
            raise _Reject('"arguments" is a string that is not valid JSON') from None
    if not isinstance(args, dict):
        raise _Reject('"arguments" must be an object')
    return ParsedCall(name, args)


def _strip(text: str) -> str:
    fence = _FENCE_RE.search(text)
    if fence:
        text = fence.group(1)
    return text.strip().strip("`").strip()


def parse_call(text: Any, max_chars: int = MAX_CALL_CHARS) -> ParsedCall:
    """Read one tool call from ``text``; never raises.

    Args:
        text: the action (any value; non-strings are rejected).
        max_chars: longer texts are rejected as too long.

    Returns:
        The call, or a :class:`ParsedCall` whose ``error`` explains the problem.

    Example:
        >>> parse_call("Action: calculate('2 + 2')")
        ParsedCall(name='calculate', arguments={}, positional=('2 + 2',), error='')
        >>> parse_call(["not", "text"]).error
        'the action must be a string, got list'
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not isinstance(text, str):
        return ParsedCall(error=f"the action must be a string, got {type(text).__name__}")
    if len(text) > max_chars:
        return ParsedCall(error=f"the action is longer than {max_chars} characters")
    text = _strip(text.replace("\x00", ""))
    if not text:
        return ParsedCall(error="empty action")
    try:
        start = text.find("{")
        bracket = text.find("[")
        match = _CALL_START_RE.search(text)
        json_start = min((i for i in (start, bracket) if i >= 0), default=-1)
        if json_start >= 0 and (match is None or json_start < match.start()):
            end = text.rfind("}" if text[json_start] == "{" else "]")
            if end > json_start:
                return _from_json(text[json_start : end + 1])
        if match is not None:
            end = text.rfind(")")
            if end > match.start():
                return _from_ast(text[match.start() : end + 1])
        if json_start >= 0:
            raise _Reject("invalid JSON")
        raise _Reject(_NO_CALL)
    except _Reject as err:
        return ParsedCall(error=str(err))
    except (RecursionError, MemoryError):  # pragma: no cover - bounded by max_chars
        return ParsedCall(error="the call is nested too deeply")
