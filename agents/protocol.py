"""The agent contract: what :func:`densegym.agents.evaluate` and the CLI ask of an agent.

An **agent** is anything with stable-baselines3's ``predict`` signature
(:class:`Agent`)::

    action, state = agent.predict(obs, state=None, episode_start=None, deterministic=False)

SB3 models, :class:`~densegym.agents.evaluate.RandomAgent`,
:class:`~densegym.agents.llm.LLMPolicy` and the search agents of
:mod:`densegym.agents.llm.search` all qualify; nothing needs to subclass anything.
``episode_start`` is a boolean array that is true on an episode's first step; ``state``
is the agent's own recurrent state, handed back on the next call.

Two parts are optional, and asked for by capability (``isinstance`` against these
runtime-checkable protocols), never by class:

* :class:`Bindable` — ``bind(env)``: the agent needs the env it runs on (search agents
  branch from the env's state; a random agent takes its action space). ``bind`` returns
  the agent. :func:`~densegym.agents.evaluate` binds the agent to its env before the
  first episode, so a caller never has to; binding again to another env re-targets it.
* :class:`HasUsage` — ``usage``: a *property* returning the one cost type,
  :class:`densegym.llm.Usage` (calls, prompt and completion tokens, seconds; search
  agents also fill ``steps_generated`` and ``scorer_calls``). It holds running totals
  since the agent was built (or since ``reset_usage()``); ``evaluate`` reports the
  difference between before and after a run, so the counters must only grow while it
  runs.

Agents are built from a string by :func:`densegym.agents.make_agent` (``"random"``,
``"sb3:<run dir>"``, ``"llm:<backend>"``, ``"search:<name>"``).

Example:
    >>> import gymnasium as gym, densegym
    >>> from densegym.agents import RandomAgent
    >>> from densegym.agents.llm import LLMPolicy
    >>> agent = RandomAgent(seed=0)
    >>> isinstance(agent, Agent), isinstance(agent, Bindable), isinstance(agent, HasUsage)
    (True, True, False)
    >>> env = gym.make("densegym/MountainCarSparse-v0")
    >>> bind_agent(agent, env) is agent and agent.action_space is env.action_space
    True
    >>> policy = LLMPolicy("tiny-random")  # loads nothing until it is asked to act
    >>> isinstance(policy, HasUsage), usage_of(policy).calls, usage_of(agent)
    (True, 0, None)
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from densegym.llm.usage import Usage

__all__ = ["Agent", "Bindable", "HasUsage", "bind_agent", "usage_of"]


@runtime_checkable
class Agent(Protocol):
    """Anything with SB3's ``predict`` signature is an agent."""

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[Any, Any]:
        """Return ``(action, next_state)`` for one observation (or a batch of them)."""
        ...


@runtime_checkable
class Bindable(Protocol):
    """An agent that must know the env it acts in (``evaluate`` calls ``bind`` itself)."""

    def bind(self, env: Any) -> Any:
        """Attach the agent to ``env`` and return the agent."""
        ...


@runtime_checkable
class HasUsage(Protocol):
    """An agent that counts the LLM work it does in one :class:`densegym.llm.Usage`."""

    @property
    def usage(self) -> Usage:
        """Running totals: calls, prompt and completion tokens, seconds (and search counters)."""
        ...


def bind_agent(agent: Any, env: Any) -> Any:
    """Call ``agent.bind(env)`` when the agent is :class:`Bindable`; return the agent.

    Example:
        >>> class Fixed:
        ...     def predict(self, obs, state=None, episode_start=None, deterministic=False):
        ...         return 0, state
        >>> agent = Fixed()
        >>> bind_agent(agent, env=None) is agent
        True
    """
    if isinstance(agent, Bindable):
        agent.bind(env)
    return agent


def usage_of(agent: Any) -> Usage | None:
    """Return a snapshot of the agent's ``usage``, or ``None`` for an agent without one.

    Raises:
        TypeError: the agent has a ``usage`` that is not a :class:`densegym.llm.Usage`
            (e.g. an old-style ``usage()`` method or a plain dict).

    Example:
        >>> class Counting:
        ...     def __init__(self):
        ...         self.usage = Usage(calls=2, completion_tokens=7)
        >>> usage_of(Counting()).tokens
        7
        >>> class OldStyle:
        ...     def usage(self):
        ...         return {"calls": 1}
        >>> usage_of(OldStyle())
        Traceback (most recent call last):
        ...
        TypeError: OldStyle.usage must be a densegym.llm.Usage (a property), got method
    """
    if not isinstance(agent, HasUsage):
        return None
    usage = agent.usage
    if not isinstance(usage, Usage):
        raise TypeError(
            f"{type(agent).__name__}.usage must be a densegym.llm.Usage (a property), "
            f"got {type(usage).__name__}"
        )
    return usage.snapshot()
