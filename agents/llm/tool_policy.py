"""LLM policies on tool envs: one tool call per step, through ``chat(..., tools=...)``.

A tool env (ToolShop, BFCL) publishes its functions as OpenAI schemas in
``env.unwrapped.task["tools"]``. :class:`~densegym.agents.llm.LLMPolicy` switches to tool
calling when it is bound to such an env (:func:`densegym.agents.evaluate` binds it), and
:class:`ToolCallPolicy` always calls tools. Each step sends the observation with the
schemas, takes the first tool call of the reply as the action (a JSON call, which every
tool env reads), or the reply's first line when the model made no call (the env then
flags it as invalid, never raises).

Example:
    >>> import gymnasium as gym, densegym
    >>> from densegym.agents import evaluate, make_agent
    >>> agent = make_agent("llm:tiny-random", tool_max_tokens=16)
    >>> env = gym.make("densegym/ToolShop-Lookup-v0", max_episode_steps=3)
    >>> result = evaluate(agent, env, n_episodes=1)
    >>> result.llm_calls, agent.tool_mode
    (3, True)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from densegym.agents.llm.policy import LLMPolicy

__all__ = [
    "TOOL_SYSTEM_PROMPT",
    "ToolCallPolicy",
    "action_from_reply",
    "env_tools",
    "tool_messages",
]

#: The instruction of tool-calling prompts.
TOOL_SYSTEM_PROMPT = (
    "You serve the user's request by calling the functions you are given, one call per "
    "turn. Reply with exactly one function call and nothing else."
)


def env_tools(env: Any) -> list[dict[str, Any]] | None:
    """Return the tool schemas an env offers now (``task["tools"]``), ``None`` if none.

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/ToolShop-Lookup-v0")
        >>> _ = env.reset(seed=0)
        >>> env_tools(env)[0]["function"]["name"], env_tools(gym.make("densegym/Arithmetic-v0"))
        ('find_user', None)
    """
    base = getattr(env, "unwrapped", env)
    try:
        task = getattr(base, "task", None)
    except Exception:  # a task that needs a reset first
        return None
    tools = task.get("tools") if isinstance(task, Mapping) else None
    return list(tools) if tools else None


def tool_messages(observation: str, system: str = TOOL_SYSTEM_PROMPT) -> list[dict[str, str]]:
    """Return the chat messages for one step: the instruction and the observation.

    Example:
        >>> [m["role"] for m in tool_messages("Request: ...")]
        ['system', 'user']
    """
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": f"{observation.rstrip()}\n\nYour next call:"},
    ]


def action_from_reply(completion: Any) -> str:
    r"""Return the action for a reply: its first tool call as JSON, else its first line.

    Example:
        >>> from densegym.llm import Completion
        >>> from densegym.llm.tools import ToolCall
        >>> reply = Completion("", 5, 3, "stop", tool_calls=(ToolCall("ls", {"a": True}),))
        >>> action_from_reply(reply)
        '{"name": "ls", "arguments": {"a": true}}'
        >>> action_from_reply(Completion("I do not know.\nReally.", 5, 3, "stop"))
        'I do not know.'
    """
    calls = getattr(completion, "tool_calls", ()) or ()
    if calls:
        return calls[0].as_action()
    text = str(getattr(completion, "text", completion))
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def act_with_tools(
    policy: LLMPolicy,
    observations: Sequence[str],
    tools: list[dict[str, Any]],
    deterministic: bool,
) -> list[str]:
    """One batched ``chat(..., tools=...)`` call; one action per observation."""
    kwargs: dict[str, Any] = {"max_tokens": policy.tool_max_tokens, "tools": tools}
    if not deterministic:
        kwargs.update(
            temperature=policy.temperature,
            top_p=policy.top_p,
            seed=policy.rng.randrange(2**31),
        )
    llm = policy.llm
    before = policy._before(llm)
    completions = llm.chat([tool_messages(o, policy.tool_system) for o in observations], **kwargs)
    policy._count(llm, before, completions)
    policy.last_replies = [c.text for c in completions]
    return [action_from_reply(c) for c in completions]


class ToolCallPolicy(LLMPolicy):
    """An :class:`~densegym.agents.llm.LLMPolicy` that always answers with tool calls.

    Args:
        backend: a spec for :func:`densegym.llm.load`, or a loaded backend.
        tools: the schemas to offer (default: the bound env's ``task["tools"]``, read
            at every step, since they change with the task).
        kwargs: the other :class:`LLMPolicy` options (``tool_max_tokens``, ``seed``, ...).

    Example:
        >>> policy = ToolCallPolicy("tiny-random", tools=[{"name": "ls"}], tool_max_tokens=8)
        >>> isinstance(policy.predict("List the files.")[0], str), policy.usage.calls
        (True, 1)
    """

    def __init__(
        self,
        backend: Any = "smollm2",
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        **kwargs: Any,
    ):
        super().__init__(backend, **kwargs)
        self.tools = [dict(t) for t in tools] if tools is not None else None

    @property
    def tool_mode(self) -> bool:
        """Always true: every step is a tool call."""
        return True

    def current_tools(self) -> list[dict[str, Any]]:
        """The schemas offered now: the given ones, else the bound env's."""
        if self.tools is not None:
            return self.tools
        tools = env_tools(self._env) if self._env is not None else None
        if not tools:
            raise RuntimeError("ToolCallPolicy: pass tools=... or bind it to a tool env")
        return tools
