"""A* over tool calls (ToolChain*, CoSTA*): best-first search from world snapshots.

A node is a snapshot of the episode (``env.get_state()``: the world's bytes and the
call history); expanding it proposes ``k`` candidate calls — the env's grounded
candidates (``env.candidate_actions``) or samples from an LLM — and steps a private
copy of the env (``env.clone()``) once per call. ``g`` is the summed tool cost
(``info["call_cost"]``), ``h`` an estimate of the cost to go:

* ``"progress"`` — ``h_weight`` × the task's unmet checks (verifier predicates, or the
  facts a lookup needs plus its answer): what the env reports as ``progress``;
* ``"oracle"`` — the summed cost of the re-planning oracle's remaining calls (exact
  when the gold plan is the cheapest; an upper bound and a test fixture);
* ``"zero"`` — uniform-cost search; or any callable ``h(env) -> float``.

A finished episode is a goal when the copy reports ``is_success`` (``goal="success"``,
the default): the simulator is the model A* plans with (as a search agent's verifier
would be), so its results are an **upper bound** on what an agent that cannot see the
task's success check reaches. ``goal="end_turn"`` is the honest test: a node is a goal
when the proposed calls themselves end the turn or episode (BFCL's ``end_turn()``,
ToolShop's ``answer``/``report_infeasible``) after at least one call; the success check
is never read. Search stops at the
first goal popped, or when the per-plan budgets in expansions (``budget_expansions``)
or generated tokens (``budget_tokens``) run out; then the agent follows the path to
the most promising node (lowest ``h``, then ``g``) and searches again from there.

On BFCL (``densegym/BFCL-MultiTurn-v0``) a search plans one user turn: a turn's end is
the goal (``"success"``: the turn passed BFCL's state and response checks, an upper
bound; ``"end_turn"``: the model ended it), and a child that ends the turn otherwise is
dropped. Candidates come from an LLM through ``chat(..., tools=[schemas])``
(:class:`~densegym.agents.llm.call_proposer.LLMCallProposer`: validated against the
schemas, deduplicated, padded with ``end_turn()``); ``g`` adds ``error_cost`` per call
that answers with a tool error and ``vote_cost`` × (1 − the share of the samples that
proposed the call), both observable. ``h``: 0 for ``"zero"`` and ``"progress"`` (BFCL's
checks are not observable before the turn ends), or ``"oracle"`` = the ground truth's
remaining steps (a test fixture and an upper bound).

On a reasoning env (``densegym/Arithmetic-v0``, ...) the same search runs over written
steps, each costing 1, proposed by a prover spec (``"oracle-0.7"``) or an LLM; ``h`` is
then 0 (``"progress"``/``"zero"``) or the oracle's remaining steps (``"oracle"``).

Example:
    >>> import gymnasium as gym, densegym
    >>> from densegym.agents import evaluate
    >>> agent = AStarAgent(heuristic="oracle", budget_expansions=50)
    >>> result = evaluate(agent, "densegym/ToolShop-Lookup-v0", n_episodes=3)
    >>> result.success_rate, agent.usage.calls   # grounded candidates: no LLM calls
    (1.0, 0)
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from densegym.agents.llm.search_parts import Budget
from densegym.envs.tools.calls import parse_call
from densegym.llm.usage import Usage

__all__ = ["GOALS", "HEURISTICS", "AStarAgent", "SearchResult"]


def _is_reasoning(base: Any) -> bool:
    from densegym.envs.reasoning.base import ReasoningEnv

    return isinstance(base, ReasoningEnv)


def _history(base: Any) -> tuple[Any, ...]:
    return tuple(getattr(base, "steps", ())) if _is_reasoning(base) else tuple(base.calls)


#: Heuristics by name (a callable ``h(env) -> float`` is accepted too).
HEURISTICS = ("progress", "oracle", "zero")
#: Goal tests: the simulator's success check (an upper bound) or the model ending the turn.
GOALS = ("success", "end_turn")

_PROMPT = (
    "You serve a customer by calling tools, one call per turn.\n\n{observation}\n\n"
    'Write the next call only, e.g. get_order(order_id="#W1234567").\nNext call:'
)


@dataclass(eq=False)
class _Node:
    state: Any
    g: float
    h: float
    depth: int
    call: str = ""
    parent: _Node | None = None
    goal: bool = False

    def path(self) -> list[str]:
        calls, node = [], self
        while node is not None and node.parent is not None:
            calls.append(node.call)
            node = node.parent
        return calls[::-1]


@dataclass
class SearchResult:
    """What one search found.

    Attributes:
        calls: the calls to make from the start state (a full plan when ``found``).
        found: whether the calls end the episode successfully (in the simulator).
        cost: their summed tool cost.
        expansions: nodes expanded.
        generated: candidate calls proposed.
        evaluated: child states stepped and scored.
    """

    calls: list[str]
    found: bool
    cost: float
    expansions: int
    generated: int
    evaluated: int
    tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class AStarAgent:
    """A* over tool calls on a tool env (``densegym/ToolShop-*``), bound with :meth:`bind`.

    Args:
        proposer: ``"grounded"`` (the env's grounded candidates), an LLM spec for
            ``densegym.llm.load`` (``"smollm2"``, ``"llm:smollm2"``) or a loaded model
            with ``generate(prompts, n=..., max_tokens=..., temperature=...)``; on
            reasoning envs a prover spec (``"oracle-0.7"``, the default there).
        k: candidate calls per expansion.
        heuristic: ``"progress"``, ``"oracle"``, ``"zero"`` or a callable ``h(env)``.
        h_weight: weight of the ``progress`` heuristic per unmet check (weighted A*).
        budget_expansions: nodes expanded per search (``None``: unlimited).
        budget_tokens: tokens an LLM proposer may generate per search.
        budget_steps: candidate calls (or steps) that may be proposed per search.
        max_depth: calls per searched path.
        include_oracle: add the oracle's next call to every expansion (tests only).
        goal: ``"success"`` (the simulator's success check: an upper bound) or
            ``"end_turn"`` (the proposed calls end the turn or episode; honest).
        error_cost: added to ``g`` per call whose result is a tool error.
        vote_cost: added to ``g`` × (1 − the share of an LLM proposer's samples that
            proposed the call).
        temperature: sampling temperature of an LLM proposer.
        max_tokens: tokens per sampled call of an LLM proposer.
        seed: seed of an LLM proposer's sampling.
        env: the env to act in (or call :meth:`bind`).
    """

    #: Its heuristic scores nodes; no separate step scorer is needed.
    needs_scorer = False

    name = "astar"

    def __init__(
        self,
        proposer: str | Any = "grounded",
        *,
        k: int = 8,
        heuristic: str | Callable[[Any], float] = "progress",
        h_weight: float = 3.0,
        budget_expansions: int | None = 300,
        budget_tokens: int | None = None,
        budget_steps: int | None = None,
        max_depth: int = 16,
        include_oracle: bool = False,
        goal: str = "success",
        error_cost: float = 0.0,
        vote_cost: float = 0.0,
        temperature: float = 0.8,
        max_tokens: int = 64,
        seed: int = 0,
        env: gym.Env | None = None,
    ):
        if int(k) < 1:
            raise ValueError(f"k must be at least 1, got {k!r}")
        if not callable(heuristic) and heuristic not in HEURISTICS:
            raise ValueError(
                f"heuristic must be one of {HEURISTICS} or a callable, got {heuristic!r}"
            )
        if goal not in GOALS:
            raise ValueError(f"goal must be one of {GOALS}, got {goal!r}")
        if budget_expansions is not None and int(budget_expansions) < 1:
            raise ValueError(f"budget_expansions must be at least 1, got {budget_expansions!r}")
        self.k = int(k)
        self.heuristic = heuristic
        self.h_weight = float(h_weight)
        self.budget_expansions = None if budget_expansions is None else int(budget_expansions)
        self.budget_tokens = budget_tokens
        self.budget_steps = budget_steps
        self.max_depth = int(max_depth)
        self.include_oracle = bool(include_oracle)
        self.goal = goal
        self.error_cost = float(error_cost)
        self.vote_cost = float(vote_cost)
        self._call_proposer: Any = None
        self.temperature = float(temperature)
        self.max_tokens = int(max_tokens)
        self.seed = int(seed)
        self._proposer = proposer
        self._model: Any = None
        self._step_proposer: Any = None
        self.env = env
        self._usage = Usage()
        self._queue: deque[str] | None = None
        #: One entry per search: expansions, generated calls, tokens, found.
        self.history: list[dict[str, Any]] = []
        self.last_result: SearchResult | None = None

    # -- the agent contract -------------------------------------------------------------
    def bind(self, env: gym.Env) -> AStarAgent:
        """Act in ``env`` (a text tool env); returns ``self``."""
        self.env = env
        self._queue = None
        return self

    @property
    def usage(self) -> Usage:
        """Work spent so far, over all searches (read by :func:`densegym.agents.evaluate`).

        LLM calls and tokens (the words of the candidates for grounded proposals), search
        seconds, candidate calls proposed (``steps_generated``) and child states stepped
        and scored (``scorer_calls``).
        """
        return self._usage

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[str, Any]:
        """Return the next call of the current plan (searching when there is none)."""
        if self.env is None:
            raise RuntimeError("astar: bind the agent to its env first (agent.bind(env))")
        base = self.env.unwrapped
        starting = episode_start is not None and bool(np.any(episode_start))
        if starting or not _history(base) or not self._queue:
            self._queue = deque(self.plan(base))
        if self._queue:
            return self._queue.popleft(), state
        if _is_reasoning(base):
            from densegym.agents.llm.search import fallback_answer

            return fallback_answer(base.get_state()), state
        from densegym.agents.llm.call_proposer import fallback_call

        call = fallback_call(base)
        if call is None:
            raise RuntimeError(f"astar: no plan and no fallback call on {base}")
        return call, state

    def plan(self, env: gym.Env | None = None) -> list[str]:
        """Search from the env's current state; return the calls to make from there."""
        base = (env or self.env).unwrapped
        result = self.search(base)
        self.last_result = result
        self.history.append(
            {
                "expansions": result.expansions,
                "generated": result.generated,
                "steps": result.generated,
                "tokens": result.tokens,
                "found": result.found,
                "cost": result.cost,
            }
        )
        return list(result.calls)

    # -- search -------------------------------------------------------------------------
    def _h(self, sim: Any) -> float:
        if callable(self.heuristic):
            return float(self.heuristic(sim))
        if self.heuristic == "zero":
            return 0.0
        if not hasattr(sim, "evaluation"):  # BFCL: no observable predicates
            return float(sim.oracle_remaining()) if self.heuristic == "oracle" else 0.0
        if self.heuristic == "oracle":
            steps = sim.remaining_plan()
            if steps is None:
                return math.inf
            return float(sum(sim.tools[s.name].cost if s.name in sim.tools else 1.0 for s in steps))
        evaluation = sim.evaluation()
        return self.h_weight * float(evaluation.total - evaluation.satisfied)

    def _model_of(self) -> Any:
        if self._model is None:
            from densegym.llm import load

            spec = self._proposer
            if isinstance(spec, str) and spec.startswith("llm:"):
                spec = spec[4:]
            self._model = load(spec) if isinstance(spec, str) else spec
        return self._model

    def _propose(self, sim: Any, budget: Budget) -> list[str]:
        if self._proposer == "grounded":
            wanted = budget.allow(self.k)
            if not wanted:
                return []
            calls = sim.candidate_actions(wanted, include_oracle=self.include_oracle)
            budget.charge(steps=len(calls), tokens=sum(len(c.split()) for c in calls))
            return calls
        wanted = budget.allow(self.k)
        if not wanted:
            return []
        model = self._model_of()
        from densegym.agents.llm.call_proposer import LLMCallProposer
        from densegym.agents.llm.tool_policy import env_tools

        if callable(getattr(model, "chat", None)) and env_tools(sim):
            if self._call_proposer is None:
                self._call_proposer = LLMCallProposer(
                    model,
                    temperature=self.temperature,
                    max_tokens=self.max_tokens,
                    seed=self.seed,
                )
            calls = self._call_proposer.propose(sim, self.k, budget)
            if self.include_oracle:
                calls.append(sim.oracle_step())
            return list(dict.fromkeys(calls))
        before = model.usage.snapshot() if hasattr(model, "usage") else None
        started = time.perf_counter()
        outputs = model.generate(
            [_PROMPT.format(observation=sim.observation())],
            n=wanted,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
        )
        seconds = time.perf_counter() - started
        texts = outputs[0] if outputs and isinstance(outputs[0], list) else outputs
        calls = []
        for text in texts:
            text = getattr(text, "text", text)
            parsed = parse_call(str(text))
            if parsed.ok and parsed.name in sim.tools:
                arguments = dict(parsed.arguments)
                for param, value in zip(sim.tools[parsed.name].params, parsed.positional):
                    arguments.setdefault(param.name, value)
                calls.append(json.dumps({"name": parsed.name, "arguments": arguments}))
        if before is not None:
            spent = model.usage.since(before)
            tokens, prompt, n_calls = spent.completion_tokens, spent.prompt_tokens, spent.calls
        else:  # pragma: no cover - a model without usage counters
            tokens, prompt, n_calls = sum(len(str(t).split()) for t in texts), 0, 1
        budget.charge(
            steps=len(texts), tokens=tokens, calls=n_calls, prompt_tokens=prompt, seconds=seconds
        )
        if self.include_oracle:
            calls.append(sim.oracle_step())
        return list(dict.fromkeys(calls))

    @staticmethod
    def _key(sim: Any) -> tuple[Any, ...]:
        if not hasattr(sim, "world_diff"):  # BFCL: the turn and its executed calls
            return (sim._turn, tuple(sim._turn_calls))
        return (frozenset(sim._done_calls), json.dumps(sim.world_diff().as_dict(), sort_keys=True))

    def _share(self, call: str) -> float:
        proposer = self._call_proposer
        return proposer.share(call) if proposer is not None and proposer.votes else 1.0

    def _is_goal(self, info: dict[str, Any], terminated: bool, calls_before: int) -> bool | None:
        """Whether a child is a goal; ``None``: it ended the turn otherwise (dropped)."""
        turn_ended = bool(info.get("turn_ended"))
        if not (terminated or turn_ended):
            return False
        if self.goal == "success":
            if turn_ended and info.get("turn_success"):
                return bool(info["turn_success"][-1]) or None
            return bool(info.get("is_success")) or None
        if turn_ended and info.get("forced_end_turn"):
            return None
        made = calls_before + int(info.get("tool", "") not in ("", "end_turn"))
        return True if made > 0 else None

    def _budget(self) -> Budget:
        return Budget(max_steps=self.budget_steps, max_tokens=self.budget_tokens)

    def _charge(self, budget: Budget, started: float, evaluated: int) -> None:
        self._usage.add(
            calls=budget.calls,
            prompt_tokens=budget.prompt_tokens,
            completion_tokens=budget.tokens,
            seconds=time.perf_counter() - started,
            steps_generated=budget.steps,
            scorer_calls=evaluated,
        )

    def search(self, base: Any) -> SearchResult:
        """Run A* from ``base``'s current state (``base`` is left untouched)."""
        if _is_reasoning(base):
            return self._search_steps(base)
        if self._proposer != "grounded" and isinstance(self._proposer, str):
            if self._proposer.startswith("oracle"):
                raise ValueError(
                    "astar: tool envs take proposer='grounded' or an LLM, not a prover spec"
                )
        started = time.perf_counter()
        sim = base.clone()
        budget = self._budget()
        root = _Node(sim.get_state(), 0.0, self._h(sim), 0)
        counter = itertools.count()
        frontier: list[tuple[float, float, int, int, int, _Node]] = []
        heapq.heappush(frontier, (root.h, root.h, 0, 0, next(counter), root))
        best_g = {self._key(sim): 0.0}
        best_open = root
        expansions = evaluated = 0
        found: _Node | None = None
        while frontier:
            *_, node = heapq.heappop(frontier)
            if node.goal:
                found = node
                break
            if self.budget_expansions is not None and expansions >= self.budget_expansions:
                break
            if budget.exhausted or node.depth >= self.max_depth:
                continue
            expansions += 1
            sim.set_state(node.state)
            calls = self._propose(sim, budget)
            for rank, call in enumerate(calls):
                sim.set_state(node.state)
                made = sum(1 for r in sim.calls if getattr(r, "status", "ok") != "invalid")
                _, _, terminated, truncated, info = sim.step(call)
                evaluated += 1
                if info["invalid_call"]:
                    continue
                g = node.g + float(info.get("call_cost", 1.0))
                g += self.error_cost * bool(info.get("tool_error"))
                g += self.vote_cost * (1.0 - self._share(call))
                goal = self._is_goal(info, terminated, made)
                if goal or goal is None:
                    if goal:
                        child = _Node(None, g, 0.0, node.depth + 1, call, node, goal=True)
                        heapq.heappush(frontier, (g, 0.0, -child.depth, rank, next(counter), child))
                    continue
                if terminated:
                    continue
                if truncated:
                    continue
                key = self._key(sim)
                if best_g.get(key, math.inf) <= g:
                    continue
                best_g[key] = g
                h = self._h(sim)
                if math.isinf(h):
                    continue
                child = _Node(sim.get_state(), g, h, node.depth + 1, call, node)
                if (h, g) < (best_open.h, best_open.g):
                    best_open = child
                heapq.heappush(frontier, (g + h, h, -child.depth, rank, next(counter), child))
        target = found or best_open
        self._charge(budget, started, evaluated)
        sim.close()
        return SearchResult(
            calls=target.path(),
            found=found is not None,
            cost=target.g,
            expansions=expansions,
            generated=budget.steps,
            evaluated=evaluated,
            tokens=budget.tokens,
        )

    def _h_steps(self, state: Any) -> float:
        from densegym.agents.llm.search_parts import simulator

        if callable(self.heuristic):
            return float(self.heuristic(simulator(state)))
        if self.heuristic == "oracle":
            remaining = simulator(state).oracle_remaining(trust_written=True)
            return math.inf if remaining is None else float(remaining)
        return 0.0  # reasoning envs have no predicates: uniform-cost search

    def _search_steps(self, base: Any) -> SearchResult:
        """A* over reasoning steps (each costs 1); the proposer is a prover spec or an LLM."""
        from densegym.agents.llm.search import fallback_answer
        from densegym.agents.llm.search_parts import StepProposer, advance

        if self._step_proposer is None:
            source = "oracle-0.7" if self._proposer == "grounded" else self._proposer
            self._step_proposer = StepProposer(
                source, temperature=self.temperature, max_tokens=self.max_tokens, seed=self.seed
            )
        started = time.perf_counter()
        budget = self._budget()
        start = base.get_state()
        root = _Node(start, 0.0, self._h_steps(start), 0)
        counter = itertools.count()
        frontier = [(root.h, root.h, 0, 0, next(counter), root)]
        best_g = {tuple(start.steps): 0.0}
        best_open, found = root, None
        expansions = evaluated = 0
        while frontier:
            *_, node = heapq.heappop(frontier)
            if node.goal:
                found = node
                break
            if self.budget_expansions is not None and expansions >= self.budget_expansions:
                break
            if budget.exhausted or node.depth >= self.max_depth:
                continue
            expansions += 1
            steps = self._step_proposer.propose([node.state], self.k, budget)[0]
            for rank, step in enumerate(dict.fromkeys(steps)):
                child_state = advance(node.state, step)
                evaluated += 1
                g = node.g + 1.0
                if child_state.done:
                    if child_state.success:
                        child = _Node(child_state, g, 0.0, node.depth + 1, step, node, goal=True)
                        heapq.heappush(frontier, (g, 0.0, -child.depth, rank, next(counter), child))
                    continue
                key = tuple(child_state.steps)
                if best_g.get(key, math.inf) <= g:
                    continue
                best_g[key] = g
                h = self._h_steps(child_state)
                if math.isinf(h):
                    continue
                child = _Node(child_state, g, h, node.depth + 1, step, node)
                if (h, g) < (best_open.h, best_open.g):
                    best_open = child
                heapq.heappush(frontier, (g + h, h, -child.depth, rank, next(counter), child))
        target = found or best_open
        calls = target.path()
        if found is None:
            calls.append(fallback_answer(target.state))
        self._charge(budget, started, evaluated)
        return SearchResult(
            calls=calls,
            found=found is not None,
            cost=target.g,
            expansions=expansions,
            generated=budget.steps,
            evaluated=evaluated,
            tokens=budget.tokens,
        )

    def __repr__(self) -> str:
        return (
            f"AStarAgent(proposer={self._proposer!r}, k={self.k}, heuristic={self.heuristic!r}, "
            f"budget_expansions={self.budget_expansions})"
        )
