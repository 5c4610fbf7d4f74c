"""An agent that asks a language model for the next reasoning step.

:class:`LLMPolicy` has SB3's ``predict`` signature, so the common evaluation runner
(:func:`densegym.agents.evaluate`) and ``densegym eval --agent llm:<backend>`` run it
like any other agent. Bound to a tool env (one whose ``task`` lists ``tools``), it calls
tools instead: one ``chat(..., tools=...)`` call per step, the first tool call as the
action (:mod:`densegym.agents.llm.tool_policy`). Its ``usage`` (a
:class:`densegym.llm.Usage`, the one cost type of the agent contract in
:mod:`densegym.agents.protocol`) counts the model calls it made, their tokens and seconds.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from densegym.agents.llm.parsing import parse_step
from densegym.agents.llm.prompts import (
    SYSTEM_PROMPT,
    WorkedExample,
    chat_messages,
    completion_prompt,
)
from densegym.llm.usage import Usage

__all__ = ["LLMPolicy"]

# The counters a backend keeps (any mapping with these keys is read).
_CALL_KEYS = ("calls", "prompt_tokens", "completion_tokens", "seconds")


class LLMPolicy:
    """Prompt a ``densegym.llm`` backend with the observation; return the step it writes.

    Each call sends the env's text observation (the question and the steps so far) in a
    zero-shot or few-shot prompt, decodes one line, and returns it as the action (see
    :func:`~densegym.agents.llm.parsing.parse_step`). Batches of observations (from a
    vector env) go to the model in one batched call.

    Args:
        backend: a spec string for :func:`densegym.llm.load` (``"smollm2"``,
            ``"tiny-random"``, ``"hf:<path>"``, ``"openai:<model>@<url>"``, ...), a dict
            spec, or a loaded backend. Strings are loaded on first use.
        shots: worked examples replayed before the question (0: zero-shot).
        chat: use the model's chat template (default); ``False`` sends a plain-text
            prompt, for base models.
        max_tokens: most tokens generated per step.
        temperature: sampling temperature when ``predict(..., deterministic=False)``;
            deterministic calls decode greedily.
        top_p: nucleus-sampling mass for sampled steps.
        system: the instruction at the top of every prompt.
        examples: worked examples for few-shot prompts (default: the built-in ones).
        seed: seed of the per-call sampling seeds.
        tool_max_tokens: most tokens generated per step on tool envs.
        tool_system: the instruction of tool-calling prompts (default:
            :data:`~densegym.agents.llm.tool_policy.TOOL_SYSTEM_PROMPT`).

    Example:
        >>> import gymnasium as gym, densegym
        >>> from densegym.agents import evaluate
        >>> policy = LLMPolicy("tiny-random", max_tokens=8)
        >>> env = gym.make("densegym/Arithmetic-v0", difficulty=1, max_episode_steps=2)
        >>> result = evaluate(policy, env, n_episodes=1)
        >>> result.llm_calls, result.llm_tokens > 0
        (2, True)
        >>> step, _ = policy.predict("Question: What is 2 + 3?")
        >>> isinstance(step, str), policy.usage.calls
        (True, 3)
    """

    def __init__(
        self,
        backend: Any = "smollm2",
        *,
        shots: int = 1,
        chat: bool = True,
        max_tokens: int = 48,
        temperature: float = 0.7,
        top_p: float = 0.95,
        system: str = SYSTEM_PROMPT,
        examples: Sequence[WorkedExample] | None = None,
        seed: int | None = None,
        tool_max_tokens: int = 160,
        tool_system: str | None = None,
    ):
        if shots < 0:
            raise ValueError(f"shots must be >= 0, got {shots}")
        self._backend = backend
        self.shots = int(shots)
        self.chat = bool(chat)
        self.max_tokens = int(max_tokens)
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.system = system
        self.examples = tuple(examples) if examples is not None else None
        self.rng = random.Random(seed)
        self._usage = Usage()
        self.last_replies: list[str] = []
        self.tool_max_tokens = int(tool_max_tokens)
        if tool_system is None:
            from densegym.agents.llm.tool_policy import TOOL_SYSTEM_PROMPT

            tool_system = TOOL_SYSTEM_PROMPT
        self.tool_system = tool_system
        self._env: Any = None

    # -- the model ----------------------------------------------------------------
    @property
    def llm(self) -> Any:
        """Return the backend, loading a spec on first use."""
        if isinstance(self._backend, (str, Mapping)):
            from densegym.llm import load  # imported here: the LLM layer is optional

            self._backend = load(self._backend)
        return self._backend

    @property
    def usage(self) -> Usage:
        """Return the work this policy's calls cost: calls, prompt/completion tokens, seconds.

        The live counters (``usage.snapshot()`` freezes them); ``usage.tokens`` is prompt
        plus completion tokens (what :func:`densegym.agents.evaluate` reports as
        ``llm_tokens``).
        """
        return self._usage

    def reset_usage(self) -> None:
        """Set the usage counters back to zero."""
        self._usage.reset()

    # -- tool envs ------------------------------------------------------------------
    def bind(self, env: Any) -> LLMPolicy:
        """Remember the env (:func:`densegym.agents.evaluate` calls this); return the policy.

        On an env whose ``task`` lists ``tools`` the policy then calls tools.
        """
        self._env = env
        return self

    @property
    def tool_mode(self) -> bool:
        """Whether steps are tool calls (the bound env offers tools)."""
        return bool(self._env is not None and self.current_tools())

    def current_tools(self) -> list[dict[str, Any]] | None:
        """The tool schemas the bound env offers now (``None``: not a tool env)."""
        from densegym.agents.llm.tool_policy import env_tools

        return env_tools(self._env) if self._env is not None else None

    # -- prompting ----------------------------------------------------------------
    def prompt(self, observation: str) -> str | list[dict[str, str]]:
        """Return what the model is sent for one observation (messages or a text prompt)."""
        build = chat_messages if self.chat else completion_prompt
        return build(str(observation), self.shots, self.system, self.examples)

    def act(self, observations: Sequence[str], deterministic: bool = True) -> list[str]:
        """Return one step per observation, from one batched model call."""
        if not observations:
            return []
        if self.tool_mode:
            from densegym.agents.llm.tool_policy import act_with_tools

            return act_with_tools(self, observations, self.current_tools(), deterministic)
        llm = self.llm
        kwargs: dict[str, Any] = {"max_tokens": self.max_tokens, "stop": ["\n"]}
        if not deterministic:
            kwargs.update(
                temperature=self.temperature,
                top_p=self.top_p,
                seed=self.rng.randrange(2**31),
            )
        prompts = [self.prompt(obs) for obs in observations]
        before = self._before(llm)
        if self.chat:
            completions = llm.chat(prompts, **kwargs)
        else:
            completions = llm.generate(prompts, **kwargs)
        self._count(llm, before, completions)
        self.last_replies = [c.text for c in completions]
        return [parse_step(text) for text in self.last_replies]

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[Any, Any]:
        """Return ``(step, state)``: SB3's agent signature.

        A single string gives a string; a sequence or array of strings (a vector env's
        observations) gives an array of steps, one per observation. The policy keeps no
        memory between calls (the observation holds the steps so far).
        """
        if isinstance(observation, np.ndarray) and observation.shape == ():
            observation = observation.item()
        if isinstance(observation, (str, bytes)):
            text = observation.decode() if isinstance(observation, bytes) else observation
            return self.act([text], deterministic)[0], state
        steps = self.act([str(obs) for obs in observation], deterministic)
        return np.array(steps, dtype=object), state

    def __call__(self, observation: str) -> str:
        """Return the greedy next step for one observation."""
        return self.act([observation], deterministic=True)[0]

    @staticmethod
    def _before(llm: Any) -> dict[str, float] | None:
        """The backend's counters before a call (``None``: it keeps none)."""
        return _snapshot(llm)

    def _count(self, llm: Any, before: dict[str, float] | None, completions: list[Any]) -> None:
        after = _snapshot(llm)
        if before is not None and after is not None:
            self._usage.add(**{key: after[key] - before[key] for key in _CALL_KEYS})
            return
        # A backend without counters: count what the completions say.
        self._usage.add(
            calls=1,
            prompt_tokens=sum(
                getattr(c, "prompt_tokens", 0)
                for c in completions
                if getattr(c, "sample_index", 0) == 0
            ),
            completion_tokens=sum(getattr(c, "completion_tokens", 0) for c in completions),
        )

    def __repr__(self) -> str:
        name = getattr(self._backend, "name", self._backend)
        return f"LLMPolicy({name!r}, shots={self.shots})"


def _snapshot(llm: Any) -> dict[str, float] | None:
    usage = getattr(llm, "usage", None)
    if not isinstance(usage, Mapping) or not all(key in usage for key in _CALL_KEYS):
        return None
    return {key: usage[key] for key in _CALL_KEYS}
