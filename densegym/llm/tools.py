r"""Tool calling for every backend: schemas in, :class:`ToolCall`\ s out.

``llm.chat(messages, tools=[schema, ...])`` asks the model for tool calls. Backends that
support them natively use their own route (``openai:`` servers pass ``tools`` through and
read ``tool_calls``; ``hf:`` models whose chat template accepts ``tools`` render them
with it and read Hermes-style ``<tool_call>`` blocks). Every other backend gets the
**text fallback** defined here: the tools are described in a system message
(:func:`tools_prompt`) and the calls are read from the plain reply
(:func:`calls_from_text`, built on the core parser :mod:`densegym.calls`).

Example:
    >>> schema = {"type": "function", "function": {"name": "cd", "description": "Go.",
    ...           "parameters": {"type": "object", "properties": {
    ...               "folder": {"type": "string"}}, "required": ["folder"]}}}
    >>> tools = normalise_tools([schema])
    >>> print(tools_prompt(tools).splitlines()[1])
    - cd(folder: string) - Go.
    >>> calls_from_text("Sure: cd('docs')", tools)
    (ToolCall(name='cd', arguments={'folder': 'docs'}, id='call_0'),)
    >>> calls_from_text("unknown(x=1)", tools)
    ()
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from densegym.calls import find_calls

__all__ = [
    "ToolCall",
    "calls_from_text",
    "normalise_tools",
    "text_fallback_messages",
    "tools_prompt",
]

#: The instruction of the text fallback (followed by the tool list).
FALLBACK_INSTRUCTION = (
    "You can call these functions. To call one, reply with one line in call syntax, "
    'like name(arg="value"), or as JSON {"name": ..., "arguments": {...}}:'
)


@dataclass(frozen=True)
class ToolCall:
    """One tool call a model asked for.

    Attributes:
        name: the function's name.
        arguments: its arguments (decoded from JSON when the server sent a string).
        id: the call's id (the server's, or ``call_<i>`` for calls read from text).

    Example:
        >>> call = ToolCall("cd", {"folder": "docs"}, "call_0")
        >>> call.as_action()
        '{"name": "cd", "arguments": {"folder": "docs"}}'
        >>> call.to_openai()["function"]["arguments"]
        '{"folder": "docs"}'
    """

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    def as_action(self) -> str:
        """Return the call as one JSON line (the action tool envs read)."""
        return json.dumps({"name": self.name, "arguments": self.arguments})

    def to_openai(self) -> dict[str, Any]:
        """Return the call as an OpenAI ``tool_calls`` entry (for the next message)."""
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": json.dumps(self.arguments)},
        }


def normalise_tools(tools: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """Return OpenAI-style tool schemas; a bare ``{"name", "parameters"}`` gets wrapped.

    Raises:
        ValueError: a tool without a name.

    Example:
        >>> normalise_tools([{"name": "ls"}])[0]["function"]["parameters"]["type"]
        'object'
    """
    out = []
    for tool in tools or ():
        if not isinstance(tool, Mapping):
            raise ValueError(f"a tool is an OpenAI function schema (a dict), got {tool!r}")
        function = tool.get("function", tool)
        name = function.get("name") if isinstance(function, Mapping) else None
        if not isinstance(name, str) or not name:
            raise ValueError(f"a tool schema needs a function name, got {tool!r}")
        parameters = dict(function.get("parameters") or {})
        parameters.setdefault("type", "object")
        parameters.setdefault("properties", {})
        out.append(
            {
                "type": "function",
                "function": {
                    "name": name,
                    "description": str(function.get("description", "")),
                    "parameters": parameters,
                },
            }
        )
    return out


def _signature(tool: Mapping[str, Any]) -> str:
    function = tool["function"]
    properties = function["parameters"].get("properties", {})
    args = ", ".join(
        f"{name}: {spec.get('type', 'any') if isinstance(spec, Mapping) else 'any'}"
        for name, spec in properties.items()
    )
    description = function.get("description", "").strip().splitlines()
    text = f"{function['name']}({args})"
    return f"{text} - {description[0]}" if description else text


def tools_prompt(tools: Sequence[Mapping[str, Any]]) -> str:
    """Describe the tools in plain text, one line each (the text fallback's system message)."""
    return "\n".join([FALLBACK_INSTRUCTION, *(f"- {_signature(t)}" for t in tools)])


def _flatten(message: Mapping[str, Any]) -> dict[str, str]:
    """A message with tool fields as a plain role/content message."""
    role, content = message["role"], str(message.get("content") or "")
    if role == "tool":
        return {"role": "user", "content": f"Function result: {content}"}
    calls = message.get("tool_calls") or ()
    if role == "assistant" and calls:
        lines = []
        for call in calls:
            function = call.get("function", call) if isinstance(call, Mapping) else {}
            arguments = function.get("arguments", {})
            if not isinstance(arguments, str):
                arguments = json.dumps(arguments)
            lines.append(f'{{"name": "{function.get("name", "")}", "arguments": {arguments}}}')
        content = "\n".join([content, *lines]).strip()
    return {"role": role, "content": content}


def text_fallback_messages(
    messages: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]]
) -> list[dict[str, str]]:
    """Return the conversation with the tools described in its system message.

    Tool results become user messages and earlier tool calls JSON lines, so any chat
    template (ChatML included) can render the conversation.

    Example:
        >>> tools = normalise_tools([{"name": "ls"}])
        >>> out = text_fallback_messages([{"role": "user", "content": "hi"}], tools)
        >>> [m["role"] for m in out], out[0]["content"].splitlines()[-1]
        (['system', 'user'], '- ls()')
    """
    flat = [_flatten(m) for m in messages]
    described = tools_prompt(tools)
    if flat and flat[0]["role"] == "system":
        flat[0] = {"role": "system", "content": f"{flat[0]['content']}\n\n{described}"}
    else:
        flat.insert(0, {"role": "system", "content": described})
    return flat


def calls_from_text(
    text: str, tools: Sequence[Mapping[str, Any]], limit: int = 8
) -> tuple[ToolCall, ...]:
    """Read the calls of known tools from a plain reply.

    ``<tool_call>`` blocks, JSON calls and ``name(arg=value)`` calls in prose are read
    (:func:`densegym.calls.find_calls`); calls of unknown names are dropped, and
    positional arguments are matched to the schema's parameters in order.
    """
    params = {
        t["function"]["name"]: list(t["function"]["parameters"].get("properties", {}))
        for t in tools
    }
    out = []
    for parsed in find_calls(text, limit=limit):
        if parsed.name not in params:
            continue
        arguments = dict(parsed.arguments)
        names = params[parsed.name]
        if len(parsed.positional) > len(names):
            continue
        clash = False
        for name, value in zip(names, parsed.positional):
            clash = clash or name in arguments
            arguments[name] = value
        if not clash:
            out.append(ToolCall(parsed.name, arguments, f"call_{len(out)}"))
    return tuple(out)


def calls_from_openai(entries: Any) -> tuple[ToolCall, ...]:
    """Read an OpenAI ``message.tool_calls`` list; malformed entries are skipped.

    Example:
        >>> calls_from_openai([{"id": "c1", "type": "function",
        ...     "function": {"name": "ls", "arguments": '{"a": true}'}}])
        (ToolCall(name='ls', arguments={'a': True}, id='c1'),)
    """
    out = []
    for i, entry in enumerate(entries or ()):
        if not isinstance(entry, Mapping):
            continue
        function = entry.get("function")
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            continue
        arguments = function.get("arguments") or {}
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except (ValueError, RecursionError):
                continue
        if not isinstance(arguments, dict):
            continue
        out.append(ToolCall(function["name"], arguments, str(entry.get("id") or f"call_{i}")))
    return tuple(out)
