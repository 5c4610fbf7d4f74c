r"""Reading tool calls from text: JSON or call syntax, tolerantly and boundedly.

A core module: tool envs read their actions with it (``densegym.envs.tools.calls``
re-exports it) and the LLM layer reads tool calls out of plain replies with it
(:func:`find_calls`), so neither layer imports the other.

Accepted forms (surrounding prose, ``Action:`` prefixes and markdown code fences are
ignored):

* JSON: ``{"name": "get_order", "arguments": {"order_id": "#W1"}}``; ``arguments`` may
  also be a JSON string (as OpenAI tool calls carry it), and ``tool``/``args``/
  ``parameters`` or an OpenAI ``{"function": {...}}`` wrapper are understood;
* call syntax: ``get_order(order_id="#W1")``, parsed with :mod:`ast` (never ``eval``):
  argument values must be constants (strings, numbers, booleans, ``None``) or lists of
  them (and, with ``allow_dicts=True``, dicts with string keys, as BFCL's APIs take);
  positional arguments are matched to the tool's parameters in order.

Nothing here raises on any input: :func:`parse_call` returns a :class:`ParsedCall`
whose ``error`` says what was wrong; :func:`find_calls` returns the calls it could read
from a reply (Hermes-style ``<tool_call>`` blocks, a JSON list of calls, or calls written
inside prose).

Example:
    >>> parse_call('get_order(order_id="#W1")')
    ParsedCall(name='get_order', arguments={'order_id': '#W1'}, positional=(), error='')
    >>> parse_call('Action: {"name": "answer", "arguments": "{\\"answer\\": 42}"}')
    ParsedCall(name='answer', arguments={'answer': 42}, positional=(), error='')
    >>> parse_call("get_order(order_id=__import__('os'))").error
    'argument values must be constants or lists of constants'
    >>> parse_call("please help").error
    'no tool call found (write name(arg=value) or JSON {"name": ..., "arguments": {...}})'
    >>> parse_call("edit_ticket(1, updates={'priority': 2})", allow_dicts=True).arguments
    {'updates': {'priority': 2}}
    >>> [c.name for c in find_calls("First cd(folder='a'), then ls(a=True).")]
    ['cd', 'ls']
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["MAX_CALL_CHARS", "ParsedCall", "find_calls", "parse_call"]

#: Longest action text read; longer actions are invalid (they are never cut silently).
MAX_CALL_CHARS = 4000
_MAX_DEPTH = 3
_MAX_LIST = 50
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_CALL_START_RE = re.compile(r"(?<![A-Za-z0-9_.])([A-Za-z_][A-Za-z0-9_]{0,63})\s*\(")
_FENCE_RE = re.compile(r"```[A-Za-z]*\s*(.*?)```", flags=re.DOTALL)
_TOOL_CALL_TAG_RE = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", flags=re.DOTALL)
#: Bounds of :func:`find_calls`: call starts tried, closing brackets tried per start.
_MAX_STARTS = 64
_MAX_ENDS = 16
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


def _constant(node: ast.AST, depth: int = 0, dicts: bool = False) -> Any:
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
        return [_constant(e, depth + 1, dicts) for e in node.elts]
    if dicts and isinstance(node, ast.Dict) and depth < _MAX_DEPTH:
        if len(node.keys) > _MAX_LIST:
            raise _Reject(f"dicts are limited to {_MAX_LIST} items")
        out = {}
        for key, value in zip(node.keys, node.values):
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                raise _Reject("dict keys must be strings")
            out[key.value] = _constant(value, depth + 1, dicts)
        return out
    raise _Reject("argument values must be constants or lists of constants")


def _from_ast(text: str, dicts: bool = False) -> ParsedCall:
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
        arguments[keyword.arg] = _constant(keyword.value, 0, dicts)
    positional = []
    for arg in call.args:
        if isinstance(arg, ast.Starred):
            raise _Reject("*args are not allowed")
        positional.append(_constant(arg, 0, dicts))
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


def parse_call(
    text: Any, max_chars: int = MAX_CALL_CHARS, *, allow_dicts: bool = False
) -> ParsedCall:
    """Read one tool call from ``text``; never raises.

    Args:
        text: the action (any value; non-strings are rejected).
        max_chars: longer texts are rejected as too long.
        allow_dicts: accept dict arguments in call syntax (``f(x={"a": 1})``).

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
                return _from_ast(text[match.start() : end + 1], allow_dicts)
        if json_start >= 0:
            raise _Reject("invalid JSON")
        raise _Reject(_NO_CALL)
    except _Reject as err:
        return ParsedCall(error=str(err))
    except (RecursionError, MemoryError):  # pragma: no cover - bounded by max_chars
        return ParsedCall(error="the call is nested too deeply")


def _calls_in_prose(text: str, limit: int, dicts: bool) -> list[ParsedCall]:
    """Read ``name(...)`` calls written inside prose, left to right (bounded tries)."""
    found: list[ParsedCall] = []
    position, starts = 0, 0
    while len(found) < limit and starts < _MAX_STARTS:
        match = _CALL_START_RE.search(text, position)
        if match is None:
            break
        starts += 1
        end, tries, call = match.end() - 1, 0, None
        while call is None and tries < _MAX_ENDS:
            end = text.find(")", end + 1)
            if end < 0:
                break
            tries += 1
            try:
                call = _from_ast(text[match.start() : end + 1], dicts)
            except _Reject:
                continue
        if call is None:
            position = match.end()
            continue
        found.append(call)
        position = end + 1
    return found


def find_calls(
    text: Any, limit: int = 8, max_chars: int = MAX_CALL_CHARS, *, allow_dicts: bool = True
) -> list[ParsedCall]:
    """Return the tool calls written in a model's reply (at most ``limit``); never raises.

    Reads, in this order of preference: Hermes/Qwen ``<tool_call>{...}</tool_call>``
    blocks, a JSON call or list of calls, else every ``name(arg=value)`` call in the
    prose. Text without a readable call gives ``[]``.

    Args:
        text: the reply.
        limit: most calls returned.
        max_chars: longer replies are read only up to this many characters.
        allow_dicts: accept dict arguments in call syntax.

    Example:
        >>> find_calls('<tool_call>{"name": "ls", "arguments": {"a": true}}</tool_call>')
        [ParsedCall(name='ls', arguments={'a': True}, positional=(), error='')]
        >>> [c.canonical() for c in find_calls('[{"name": "a"}, {"name": "b", "arguments": {}}]')]
        ['a({})', 'b({})']
        >>> find_calls("I cannot help with that.")
        []
    """
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if not isinstance(text, str) or limit < 1:
        return []
    text = text[:max_chars].replace("\x00", "")
    try:
        blocks = _TOOL_CALL_TAG_RE.findall(text)
        if blocks:
            calls = [parse_call(block, max_chars, allow_dicts=allow_dicts) for block in blocks]
            return [call for call in calls if call.ok][:limit]
        stripped = _strip(text)
        if stripped[:1] in "[{":
            try:
                obj = json.loads(stripped)
            except (ValueError, RecursionError):
                obj = None
            items = obj if isinstance(obj, list) else [obj] if isinstance(obj, dict) else []
            calls = [parse_call(json.dumps(item), max_chars) for item in items[:limit]]
            if any(call.ok for call in calls):
                return [call for call in calls if call.ok]
        return _calls_in_prose(stripped, limit, allow_dicts)
    except (RecursionError, MemoryError):  # pragma: no cover - bounded by max_chars
        return []
