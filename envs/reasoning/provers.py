"""Provers: policies of tunable competence that continue a reasoning episode.

Progress-based shapers (PAV-style process advantages) score a step by how much it
changes a *prover's* chance of finishing correctly from the steps written so far.
A prover here is anything with ``act(observation_text, env) -> step``; rollouts run
on a copy of the env (``env.unwrapped.clone()`` / ``get_state()``), never on the
training env itself.

* :class:`NoisyOracleProver` — the task's oracle, continuing *from the values
  written so far* (``oracle_step(trust_written=True)``), that writes a plausible
  wrong step (its result off by a small amount) with probability ``p_error``.
* :class:`LLMProver` — any language model with a ``generate(prompts, ...)`` method
  (the ``densegym.llm`` interface), sampled one line per step.
* :func:`make_prover` — build either from a spec string (``"oracle-0.7"``).

**Competence spec.** ``"oracle-q"`` means *each step is correct with probability q*
(``p_error = 1 - q``); ``"oracle"`` is ``"oracle-1"``. From a state whose committed
values are all right and from which the oracle needs ``r`` more steps (the final
``Answer:`` step included), the noisy oracle succeeds with probability::

    V(state) = q ** r

and ``V = 0`` once a wrong value has been committed that the continuation builds
on (the trusting oracle carries it to a wrong answer; on Countdown a wrong result
loses the episode outright). :meth:`NoisyOracleProver.success_probability` returns
this closed form, with ``r`` from ``env.unwrapped.oracle_remaining()``. It is exact
(given a step budget of at least ``r``): a wrong step is drawn so that the trusting
continuation from it cannot reach the right answer (``env.unwrapped.wrong_step``
checks this by simulation), so errors never cancel; on Countdown any wrong result
loses the episode anyway.

Example:
    >>> import gymnasium as gym, densegym
    >>> env = gym.make("densegym/Arithmetic-v0", difficulty=1)
    >>> _ = env.reset(seed=0)
    >>> prover = make_prover("oracle-0.9", seed=0)
    >>> round(prover.success_probability(env), 3)  # 2 operations + the answer: 0.9 ** 3
    0.729
    >>> results = prover.rollouts(env, n=200)
    >>> 0.6 < sum(r.success for r in results) / 200 < 0.85
    True
"""

from __future__ import annotations

import inspect
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

from densegym.envs.reasoning.base import ReasoningEnv, ReasoningState

__all__ = [
    "LLMProver",
    "NoisyOracleProver",
    "Prover",
    "Rollout",
    "make_prover",
]

#: Steps a rollout may take when neither the caller nor the env's spec says.
DEFAULT_ROLLOUT_STEPS = 32

Start = gym.Env | ReasoningState


@dataclass(frozen=True)
class Rollout:
    """The result of continuing an episode to its end.

    Attributes:
        success: the final answer was correct.
        reward: the episode's outcome reward (1.0 or 0.0).
        steps: the steps the prover wrote.
        finished: the prover gave a final answer within the step limit.
    """

    success: bool
    reward: float
    steps: tuple[str, ...]
    finished: bool


def _is_step_chain_env(base: Any) -> bool:
    """Whether ``base`` can be continued by a prover: a step chain, snapshots and an oracle."""
    return all(
        callable(getattr(base, name, None))
        for name in ("clone", "get_state", "oracle_step", "wrong_step")
    ) and hasattr(base, "steps")


def _base_env(start: Start) -> ReasoningEnv:
    """Return a private copy of the env to roll out on.

    ``start`` is a reasoning env or state, or — the generic hook — any env with a step
    chain (``steps``, ``wrong_step``, ``oracle_step``, ``clone``/``get_state``, e.g. the
    tool envs), or a state of one that rebuilds its env with ``to_env()``.
    """
    if isinstance(start, ReasoningState):
        return ReasoningEnv.from_state(start)
    if isinstance(start, gym.Env):
        base = start.unwrapped
        if not isinstance(base, ReasoningEnv) and not _is_step_chain_env(base):
            raise TypeError(
                "provers roll out reasoning envs or envs with a step chain, "
                f"got {type(base).__name__}"
            )
        return base.clone()
    to_env = getattr(start, "to_env", None)
    if callable(to_env):
        return to_env()
    raise TypeError(f"provers start from an env or an env state, got {type(start).__name__}")


def _step_limit(start: Start, max_steps: int | None) -> int:
    """Return the steps left: ``max_steps``, else the spec's budget minus steps taken."""
    if max_steps is not None:
        return int(max_steps)
    if isinstance(start, gym.Env):
        spec = start.spec
        budget = getattr(spec, "max_episode_steps", None) if spec is not None else None
        if budget:
            return max(int(budget) - len(start.unwrapped.steps), 0)
    return DEFAULT_ROLLOUT_STEPS


class Prover:
    """Base class: subclasses implement :meth:`act` (and may batch :meth:`act_batch`)."""

    #: Whether :meth:`act` reads the observation text (rollouts skip building it if not).
    reads_observation: bool = True

    def act(self, observation: str, env: gym.Env) -> str:
        """Return the next step for the episode ``env`` shows as ``observation``."""
        raise NotImplementedError

    def act_batch(self, observations: Sequence[str], envs: Sequence[gym.Env]) -> list[str]:
        """Return one step for each episode (override to batch model calls)."""
        return [self.act(obs, env) for obs, env in zip(observations, envs)]

    def reseed(self, seed: int | None) -> None:
        """Reset the prover's random source (no-op for deterministic provers)."""

    def rollout(
        self, start: Start, max_steps: int | None = None, seed: int | None = None
    ) -> Rollout:
        """Continue an episode to its end on a copy of the env.

        Args:
            start: an env (wrapped or not; its current episode is continued and left
                untouched) or a :class:`~densegym.envs.reasoning.base.ReasoningState`.
            max_steps: step limit (default: the steps left in the env's spec budget,
                else :data:`DEFAULT_ROLLOUT_STEPS`).
            seed: reseed the prover first, for reproducible rollouts.
        """
        return self.rollouts(start, 1, max_steps=max_steps, seed=seed)[0]

    def rollouts(
        self, start: Start, n: int, max_steps: int | None = None, seed: int | None = None
    ) -> list[Rollout]:
        """Run ``n`` independent continuations, stepping them in lock-step (batched)."""
        if seed is not None:
            self.reseed(seed)
        limit = _step_limit(start, max_steps)
        first = _base_env(start)
        if first.get_state().done:
            done = first.get_state()
            return [Rollout(done.success, float(done.success), (), True) for _ in range(n)]
        envs = [first] + [first.clone() for _ in range(n - 1)]
        written: list[list[str]] = [[] for _ in range(n)]
        outcome: list[tuple[bool, bool] | None] = [None] * n
        for _ in range(limit):
            active = [i for i in range(n) if outcome[i] is None]
            if not active:
                break
            observations = [envs[i].observation() if self.reads_observation else "" for i in active]
            steps = self.act_batch(observations, [envs[i] for i in active])
            for i, step in zip(active, steps):
                _, _, terminated, truncated, info = envs[i].step(step)
                written[i].append(step)
                if terminated or truncated:  # an env may end an episode early (tool envs)
                    outcome[i] = (bool(info["is_success"]), bool(terminated))
        results = []
        for i in range(n):
            success, finished = outcome[i] or (False, False)
            results.append(Rollout(success, float(success), tuple(written[i]), finished))
        return results

    def estimate_value(
        self, start: Start, n: int = 16, max_steps: int | None = None, seed: int | None = None
    ) -> float:
        """Return the Monte Carlo success rate of ``n`` rollouts from ``start``."""
        results = self.rollouts(start, n, max_steps=max_steps, seed=seed)
        return sum(r.success for r in results) / max(n, 1)


class NoisyOracleProver(Prover):
    """The task's oracle, wrong with probability ``p_error`` at each step.

    Correct steps are ``oracle_step(trust_written=True)``: they continue from the
    values already written, right or wrong. A wrong step is the same step with its
    result off by a small nonzero amount (never the true value, never 0), or a final
    answer off by a small amount.

    Args:
        p_error: probability that a step is wrong (``q = 1 - p_error`` is the competence).
        seed: seed of the prover's own random source.

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/WordProblems-v0", n_steps=2)
        >>> _ = env.reset(seed=3)
        >>> NoisyOracleProver(0.0).rollout(env).success
        True
    """

    reads_observation = False

    def __init__(self, p_error: float = 0.0, seed: int | None = None):
        if not 0.0 <= float(p_error) <= 1.0:
            raise ValueError(f"p_error must be in [0, 1], got {p_error!r}")
        self.p_error = float(p_error)
        self.rng = random.Random(seed)

    @property
    def competence(self) -> float:
        """Return the per-step probability ``q`` of a correct step."""
        return 1.0 - self.p_error

    def reseed(self, seed: int | None) -> None:
        """Reset the random source."""
        self.rng = random.Random(seed)

    def act(self, observation: str, env: gym.Env) -> str:
        """Return the trusting oracle's next step, or a wrong version of it."""
        base = env.unwrapped
        if self.p_error > 0.0 and self.rng.random() < self.p_error:
            return base.wrong_step(self.rng)
        return base.oracle_step(trust_written=True)

    def success_probability(self, start: Start, max_steps: int | None = None) -> float:
        """Return the closed-form chance of success from ``start`` (see the module docs).

        ``q ** r`` when the trusting oracle would finish correctly in ``r`` steps
        (within the step limit), else 0. On envs whose wrong steps can be recovered
        from (a tool env's wrong read only wastes a call) ``q ** r`` is the chance of
        no mistake in the next ``r`` steps: a lower bound of the Monte-Carlo value.
        """
        base = _base_env(start)
        state = base.get_state()
        if state.done:
            return float(state.success)
        remaining = base.oracle_remaining(trust_written=True)
        if remaining is None or remaining > _step_limit(start, max_steps):
            return 0.0
        return self.competence**remaining

    def __repr__(self) -> str:
        return f"NoisyOracleProver(p_error={self.p_error:g})"


#: The prompt an :class:`LLMProver` sends (``{observation}`` is the env's text).
DEFAULT_PROMPT = (
    "Solve the problem one step at a time. Write only the next step, on one line, "
    "for example '3 * 4 = 12'. When you know the final result, write 'Answer: <number>'.\n\n"
    "{observation}\n\nNext step:"
)


def _text_of(result: Any) -> str:
    """Return the text of one generation result (``.text``, ``.texts``, a str or a list)."""
    if isinstance(result, str):
        return result
    if hasattr(result, "text"):
        return str(result.text)
    if hasattr(result, "texts"):
        return _text_of(result.texts[0]) if result.texts else ""
    if isinstance(result, (list, tuple)):
        return _text_of(result[0]) if result else ""
    return str(result)


def _first_line(text: str) -> str:
    for line in text.splitlines():
        line = re.sub(r"^\s*(?:\d+[.)]|step\s*\d*\s*[:.)-])\s*", "", line, flags=re.IGNORECASE)
        if line.strip():
            return line.strip()
    return ""


class LLMProver(Prover):
    r"""Sample each step from a language model.

    Args:
        model: any object with ``generate(prompts, n=1, max_tokens, temperature, top_p,
            stop, seed)`` returning one result per prompt with ``.text`` (the
            ``densegym.llm`` interface), or a backend spec string loaded lazily with
            ``densegym.llm.load``.
        temperature: sampling temperature.
        top_p: nucleus sampling threshold.
        max_tokens: tokens per step.
        prompt: template with an ``{observation}`` field.
        seed: base seed; each call passes a fresh seed derived from it.

    Example:
        >>> class Echo:  # a stand-in model that always answers 42
        ...     def generate(self, prompts, n=1, max_tokens=64, temperature=1.0,
        ...                  top_p=1.0, stop=None, seed=None):
        ...         return [type("R", (), {"text": " Answer: 42\nmore"})() for _ in prompts]
        >>> LLMProver(Echo()).act("Question: ...", None)
        'Answer: 42'
    """

    def __init__(
        self,
        model: Any,
        temperature: float = 0.7,
        top_p: float = 0.95,
        max_tokens: int = 64,
        prompt: str = DEFAULT_PROMPT,
        seed: int | None = None,
    ):
        if "{observation}" not in prompt:
            raise ValueError("the prompt template needs an {observation} field")
        self._model = model
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.max_tokens = int(max_tokens)
        self.prompt = prompt
        self.rng = random.Random(seed)

    @property
    def model(self) -> Any:
        """Return the model, loading a backend spec string on first use."""
        if isinstance(self._model, str):
            from densegym.llm import load  # imported here: the LLM layer is optional

            self._model = load(self._model)
        return self._model

    def reseed(self, seed: int | None) -> None:
        """Reset the source of per-call seeds."""
        self.rng = random.Random(seed)

    def act(self, observation: str, env: gym.Env | None) -> str:
        """Return one sampled step."""
        return self.act_batch([observation], [env])[0]

    def act_batch(self, observations: Sequence[str], envs: Sequence[gym.Env | None]) -> list[str]:
        """Return one sampled step per observation, from a single batched ``generate`` call."""
        prompts = [
            self._prompt_for(env).format(observation=obs) for obs, env in zip(observations, envs)
        ]
        kwargs = {
            "n": 1,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stop": ["\n\n"],
            "seed": self.rng.randrange(2**31),
        }
        results = self.model.generate(prompts, **_accepted(self.model.generate, kwargs))
        return [_first_line(_text_of(result)) for result in results]

    def _prompt_for(self, env: gym.Env | None) -> str:
        """The template: the env's own ``prover_prompt`` when this prover uses the default."""
        if self.prompt is DEFAULT_PROMPT and env is not None:
            own = getattr(env.unwrapped, "prover_prompt", None)
            if isinstance(own, str) and "{observation}" in own:
                return own
        return self.prompt

    def __repr__(self) -> str:
        return f"LLMProver({self._model!r}, temperature={self.temperature:g})"


def _accepted(function: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Return the keyword arguments ``function`` accepts (all of them if it takes ``**kwargs``)."""
    try:
        params = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return kwargs
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return kwargs
    return {k: v for k, v in kwargs.items() if k in params}


def make_prover(spec: str | Prover, seed: int | None = None, **kwargs: Any) -> Prover:
    """Build a prover from a spec string.

    Specs:
        ``"oracle"``: the exact oracle (``q = 1``).
        ``"oracle-<q>"``: each step correct with probability ``q`` in [0, 1]
        (:class:`NoisyOracleProver` with ``p_error = 1 - q``).
        ``"llm:<backend>"``: :class:`LLMProver` over ``densegym.llm.load(<backend>)``
        (loaded on first use; ``kwargs`` go to the prover).

    A :class:`Prover` instance is returned unchanged.

    Example:
        >>> make_prover("oracle-0.7")
        NoisyOracleProver(p_error=0.3)
    """
    if isinstance(spec, Prover):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"a prover spec is a string or a Prover, got {type(spec).__name__}")
    text = spec.strip()
    if text == "oracle":
        return NoisyOracleProver(0.0, seed=seed)
    match = re.fullmatch(r"oracle-(\d*\.?\d+)", text)
    if match:
        q = float(match[1])
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"prover competence must be in [0, 1], got {spec!r}")
        return NoisyOracleProver(round(1.0 - q, 12), seed=seed)
    if text.startswith("llm:") and len(text) > 4:
        return LLMProver(text[4:], seed=seed, **kwargs)
    raise ValueError(f"unknown prover spec {spec!r}; use 'oracle', 'oracle-<q>' or 'llm:<backend>'")
