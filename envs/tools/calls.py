r"""Reading one tool call from text: JSON or call syntax, tolerantly and boundedly.

The parser lives in the core module :mod:`densegym.calls` (the LLM layer reads tool calls
from plain replies with it too); this module re-exports it for the tool envs.

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

from densegym.calls import MAX_CALL_CHARS, ParsedCall, find_calls, parse_call

__all__ = ["MAX_CALL_CHARS", "ParsedCall", "find_calls", "parse_call"]
