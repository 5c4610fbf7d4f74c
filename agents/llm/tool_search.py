"""``q_select`` and ``best_of_n`` on tool envs (ToolShop, BFCL), over proposed calls.

:mod:`densegym.agents.llm.search` plans over reasoning states; these two run the same
rules over tool calls on clones of a tool env (``env.unwrapped.clone()``), with a call
proposer (:mod:`densegym.agents.llm.call_proposer`: grounded candidates, or ``k``
samples from an LLM through ``chat(..., tools=...)``).

How a call or a rollout is valued (``scorer``):

* ``"honest"`` (default) — only what the agent could observe: the share of the LLM's
  samples that proposed the call (self-consistency), minus ``error_cost`` when its
  result is a tool error (the call is run on a clone, as any search agent's simulator
  would), minus 1 for ending a turn before making any call (BFCL fails such a turn);
  a rollout is valued by the same terms summed over its calls, plus 1 when the model
  itself ended the turn. The env's success check is never read.
* ``"simulator"`` — an **upper bound**, not a fair agent: the env's own check is read
  (for BFCL the turn's state and response checks when a turn ends, else
  ``1 - oracle_distance``, which knows the ground truth).

A search is one *turn* (BFCL; ToolShop episodes are one turn): best_of_n samples ``n``
rollouts of the turn (one sampled call a step, until the turn or episode ends or
``max_depth`` calls) and follows the best; q_select proposes ``k`` calls at each step
and takes the best-valued one. With ``k=1`` and ``temperature=0`` q_select is the
greedy LLM policy (with the end-of-turn call as its fallback when the reply holds no
valid call). Budgets: ``budget_tokens`` generated tokens per turn (a turn whose budget is
spent ends with the fallback call).

Example:
    >>> import gymnasium as gym, densegym
    >>> from densegym.agents import evaluate
    >>> agent = ToolQSelect(proposer="grounded", k=4)
    >>> result = evaluate(agent, "densegym/ToolShop-Lookup-v0", n_episodes=2)
    >>> result.episodes, agent.usage.calls   # grounded candidates: no LLM calls
    (2, 0)
"""

from __future__ import annotations

import math
import time
from typing import Any

import gymnasium as gym
import numpy as np

from densegym.agents.llm.call_proposer import (
    CallProposer,
    fallback_call,
    make_call_proposer,
)
from densegym.agents.llm.search_parts import Budget
from densegym.llm.usage import Usage

__all__ = ["SCORERS", "ToolBestOfN", "ToolQSelect"]

#: Ways to value a call or rollout (see the module docs).
SCORERS = ("honest", "simulator")


def _turn_calls(base: Any) -> int:
    """Executed calls of the current turn (BFCL) or episode (ToolShop)."""
    records = getattr(base, "calls", ())
    return sum(1 for record in records if getattr(record, "status", "ok") != "invalid")


class _ToolSearchAgent:
    """Shared parts: proposer, scorer, budget, usage and the agent contract."""

    name = "tool_search"
    needs_scorer = False

    def __init__(
        self,
        proposer: str | Any = "grounded",
        *,
        scorer: str = "honest",
        error_cost: float = 0.5,
        budget_tokens: int | None = None,
        max_depth: int = 8,
        temperature: float = 0.8,
        max_tokens: int = 64,
        seed: int = 0,
        env: gym.Env | None = None,
    ):
        if scorer not in SCORERS:
            raise ValueError(f"scorer must be one of {SCORERS}, got {scorer!r}")
        if int(max_depth) < 1:
            raise ValueError(f"max_depth must be at least 1, got {max_depth!r}")
        kwargs: dict[str, Any] = {}
        if proposer != "grounded" and not isinstance(proposer, CallProposer):
            kwargs = {"temperature": temperature, "max_tokens": max_tokens, "seed": seed}
        self.proposer = make_call_proposer(proposer, **kwargs)
        self.scorer = scorer
        self.error_cost = float(error_cost)
        self.budget_tokens = budget_tokens
        self.max_depth = int(max_depth)
        self.rng = np.random.default_rng(seed)
        self.env = env
        self._usage = Usage()
        self._queue: list[str] = []
        self.sim_calls = 0
        self._turn: tuple[Any, ...] = ()
        self._turn_tokens = 0

    def bind(self, env: gym.Env) -> _ToolSearchAgent:
        """Act in ``env`` (a tool env); returns ``self``."""
        self.env = env
        self._queue = []
        return self

    @property
    def usage(self) -> Usage:
        """LLM calls and tokens of the proposer, seconds, calls proposed and simulated."""
        return self._usage

    def _charge(self, budget: Budget, started: float, simulated: int) -> None:
        self.sim_calls += simulated
        self._turn_tokens += budget.tokens
        self._usage.add(
            calls=budget.calls,
            prompt_tokens=budget.prompt_tokens,
            completion_tokens=budget.tokens,
            seconds=time.perf_counter() - started,
            steps_generated=budget.steps,
            scorer_calls=simulated,
        )

    def _value(self, sim: Any, call: str, info: dict[str, Any], done: bool, calls_before: int):
        """The value of having made ``call`` (``sim`` is the state after it)."""
        if self.scorer == "simulator":  # upper bound: reads the env's own check
            if info.get("turn_ended") and info.get("turn_success"):
                return float(info["turn_success"][-1])
            if done:
                return float(info.get("is_success", False))
            return 1.0 - float(sim.oracle_distance())
        value = self.proposer.share(call)
        if info.get("tool_error"):
            value -= self.error_cost
        if info.get("invalid_call"):
            value -= 1.0
        if info.get("turn_ended") and calls_before == 0:  # BFCL fails a turn without calls
            value -= 1.0
        return value

    def _base(self, episode_start: Any) -> Any:
        """The bound env; a new episode or turn starts a new turn budget (and plan)."""
        if self.env is None:
            raise RuntimeError(f"{self.name}: bind the agent to its env first (agent.bind(env))")
        base = self.env.unwrapped
        turn = (id(getattr(base, "entry", None)), getattr(base, "_turn", 0))
        if (episode_start is not None and bool(np.any(episode_start))) or turn != self._turn:
            self._turn, self._turn_tokens, self._queue = turn, 0, []
        return base

    def _step_budget(self) -> Budget:
        """What the proposer may spend now: the rest of the turn's token budget."""
        if self.budget_tokens is None:
            return Budget()
        return Budget(max_tokens=max(0, int(self.budget_tokens) - self._turn_tokens))

    def _fallback(self, base: Any) -> str:
        call = fallback_call(base)
        if call is None:
            raise RuntimeError(f"{self.name}: no candidate call and no fallback call on {base}")
        return call


class ToolQSelect(_ToolSearchAgent):
    """``q_select`` on a tool env: ``k`` proposed calls per step, the best-valued one taken.

    Args:
        proposer: ``"grounded"``, an LLM spec (``"llm:smollm2"``) or a call proposer.
        k: calls proposed per step.
        scorer: ``"honest"`` or ``"simulator"`` (an upper bound; see the module docs).
        error_cost: value lost by a call whose result is a tool error.
        budget_tokens: generated tokens per turn.
        max_depth: unused by q_select (one step at a time); kept for a common signature.
        temperature, max_tokens, seed: of an LLM proposer built here.
        env: the env to act in (or call :meth:`bind`).
    """

    name = "tool_q_select"

    def __init__(self, proposer: str | Any = "grounded", *, k: int = 4, **kwargs: Any):
        super().__init__(proposer, **kwargs)
        if int(k) < 1:
            raise ValueError(f"k must be at least 1, got {k!r}")
        self.k = int(k)

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[str, Any]:
        """Score each proposed call on a clone; return the best one."""
        base = self._base(episode_start)
        started = time.perf_counter()
        budget = self._step_budget()
        calls = self.proposer.propose(base, self.k, budget)
        before = _turn_calls(base)
        values = []
        if len(calls) > 1:
            for call in calls:
                sim = base.clone()
                _, _, terminated, truncated, info = sim.step(call)
                values.append(self._value(sim, call, info, terminated or truncated, before))
                sim.close()
        self._charge(budget, started, len(values))
        if not calls:
            return self._fallback(base), state
        return calls[int(np.argmax(values))] if values else calls[0], state


class ToolBestOfN(_ToolSearchAgent):
    """``best_of_n`` on a tool env: ``n`` sampled rollouts of the turn, the best one followed.

    Args:
        proposer: ``"grounded"``, an LLM spec (``"llm:smollm2"``) or a call proposer.
        n: rollouts per turn (each samples one call a step).
        scorer: ``"honest"`` or ``"simulator"`` (an upper bound; see the module docs).
        error_cost: value lost per call whose result is a tool error.
        budget_tokens: generated tokens per turn (a rollout stops when it is spent).
        max_depth: calls per rollout.
        temperature, max_tokens, seed: of an LLM proposer built here.
        env: the env to act in (or call :meth:`bind`).
    """

    name = "tool_best_of_n"

    def __init__(self, proposer: str | Any = "grounded", *, n: int = 4, **kwargs: Any):
        super().__init__(proposer, **kwargs)
        if int(n) < 1:
            raise ValueError(f"n must be at least 1, got {n!r}")
        self.n = int(n)

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[str, Any]:
        """Plan the turn when it starts (or the plan ran out), then follow the plan."""
        base = self._base(episode_start)
        if self._queue:
            return self._queue.pop(0), state
        started = time.perf_counter()
        budget = self._step_budget()
        best: tuple[float, list[str]] = (-math.inf, [])
        simulated = 0
        for _ in range(self.n):
            sim, calls, value, done = base.clone(), [], 0.0, False
            ended = False
            while not done and len(calls) < self.max_depth:
                proposed = self.proposer.propose(sim, 1, budget)
                if not proposed:
                    break
                call = proposed[0]
                before = _turn_calls(sim)
                _, _, terminated, truncated, info = sim.step(call)
                simulated += 1
                calls.append(call)
                done = bool(terminated or truncated)
                ended = bool(info.get("turn_ended")) or done
                if self.scorer == "simulator":
                    value = self._value(sim, call, info, done, before)
                else:
                    value += self._value(sim, call, info, done, before)
                if ended:
                    break
            if self.scorer == "honest" and ended:
                value += 1.0
            sim.close()
            if calls and value > best[0]:
                best = (value, calls)
            if budget.exhausted:
                break
        self._charge(budget, started, simulated)
        self._queue = list(best[1])
        if not self._queue:
            return self._fallback(base), state
        return self._queue.pop(0), state
