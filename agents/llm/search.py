"""Verifier-guided search agents for the reasoning envs.

Every agent plans a whole solution when an episode starts (from the env it is bound to,
``agent.bind(env)``) and then writes it one step per :meth:`SearchAgent.predict` call,
so it runs through :func:`densegym.agents.evaluate` like any SB3 model (``evaluate``
binds it to the env it runs on). Each one counts the proposer's calls, tokens, seconds
and generated steps and the scorer's calls in ``agent.usage`` (a
:class:`densegym.llm.Usage`) and stops generating when its per-problem
:class:`~densegym.agents.llm.search_parts.Budget` runs out. The agents are named in
:data:`SEARCH_AGENTS` (a :class:`~densegym.registry.Registry`).

* ``greedy`` — one solution, the proposer's most likely step each time.
* ``majority`` — self-consistency: ``n`` sampled solutions, the most common answer.
* ``best_of_n`` — ``n`` sampled solutions, the one the scorer (ORM, PRM, PAV, implicit
  PRM, or the oracle verifier) rates highest.
* ``beam`` — step-level beam search: each of ``beam_width`` partial solutions proposes
  ``expansions`` next steps, the scorer keeps the best ``beam_width``.
* ``mcts`` — UCT over steps (ReST-MCTS*/AlphaMath style): leaves are valued by the
  scorer, mixed with the scored end of a policy rollout.
* ``q_select`` — step-level Q-value selection: sample ``k`` candidate steps, keep the
  one the scorer values most, repeat.

Example:
    >>> import gymnasium as gym, densegym
    >>> from densegym.agents import evaluate
    >>> env = gym.make("densegym/WordProblems-v0", difficulty=2)
    >>> agent = make_search_agent("beam", proposer="oracle-0.7", scorer="oracle",
    ...                           beam_width=3, expansions=4, budget_steps=60)
    >>> result = evaluate(agent, env, n_episodes=5)
    >>> result.success_rate, agent.usage.steps_generated <= 5 * 60
    (1.0, True)
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from densegym.agents.llm.search_parts import (
    Budget,
    Scorer,
    StepProposer,
    advance,
    make_scorer,
)
from densegym.envs.reasoning.base import ReasoningEnv, ReasoningState
from densegym.envs.reasoning.expr import format_number
from densegym.envs.reasoning.parsing import parse_answer, parse_equations
from densegym.llm.usage import Usage
from densegym.registry import Registry


def answer_of(state: ReasoningState) -> str | None:
    """The final answer a finished solution states (normalised), else ``None``."""
    if not state.done or not state.steps:
        return None
    is_answer, value = parse_answer(state.steps[-1])
    return format_number(value) if is_answer and value is not None else None


def fallback_answer(state: ReasoningState) -> str:
    """An answer step that costs no generation: the last stated result (else 0)."""
    for step in reversed(state.steps):
        equations = parse_equations(step)
        if equations:
            return f"Answer: {format_number(equations[-1].stated)}"
    return "Answer: 0"


def _key(state: ReasoningState) -> tuple[str, ...]:
    return tuple(state.steps)


class SearchAgent:
    """Base class: subclasses implement :meth:`search` (states in, a solution state out).

    Args:
        proposer: a :class:`StepProposer`, or what builds one (a prover spec such as
            ``"oracle-0.7"`` or ``"llm:smollm2"``, or a loaded ``densegym.llm`` model).
        scorer: a scorer or its spec (see
            :func:`~densegym.agents.llm.search_parts.make_scorer`); required by the
            agents that rank.
        budget_steps: candidate steps the proposer may generate per problem.
        budget_tokens: generated tokens per problem.
        max_depth: steps per solution.
        temperature: sampling temperature of an LLM proposer built here.
        max_tokens: tokens per generated step of an LLM proposer built here.
        seed: proposer seed.
        env: the env to plan on (or call :meth:`bind`).
    """

    #: Registry name.
    name = "search"
    #: Whether the agent needs a scorer.
    needs_scorer = False
    #: Default temperature of an LLM proposer (greedy decoding overrides it).
    default_temperature = 0.7

    def __init__(
        self,
        proposer: StepProposer | str | Any = "oracle-0.7",
        scorer: Scorer | str | dict[str, Any] | None = None,
        *,
        budget_steps: int | None = None,
        budget_tokens: int | None = None,
        max_depth: int = 16,
        temperature: float | None = None,
        max_tokens: int = 48,
        seed: int = 0,
        env: gym.Env | None = None,
    ):
        temperature = self.default_temperature if temperature is None else temperature
        self.proposer = (
            proposer
            if isinstance(proposer, StepProposer)
            else StepProposer(proposer, temperature=temperature, max_tokens=max_tokens, seed=seed)
        )
        self.scorer = make_scorer(scorer)
        if self.needs_scorer and self.scorer is None:
            raise ValueError(f"{self.name} needs a scorer (e.g. scorer='pav:oracle-0.7')")
        self.budget = Budget(budget_steps, budget_tokens)
        self.max_depth = int(max_depth)
        self.env = env
        self._usage = Usage()
        #: What each planned problem spent: ``{"steps": ..., "tokens": ...}`` per plan.
        self.history: list[dict[str, int]] = []
        self._queue: deque[str] | None = None
        self.last_plan: list[str] = []
        self.last_budget: Budget | None = None

    # -- the evaluation interface ---------------------------------------------------
    def bind(self, env: gym.Env) -> SearchAgent:
        """Plan on ``env`` (the env the agent will be evaluated on); returns ``self``."""
        self.env = env
        return self

    @property
    def usage(self) -> Usage:
        """Work spent so far, over all problems (read by :func:`densegym.agents.evaluate`).

        The proposer's calls, prompt and generated tokens, seconds and candidate steps
        (``steps_generated``), and the states the scorer rated (``scorer_calls``). For a
        non-LLM proposer, "tokens" are the words of the generated steps.
        """
        return self._usage

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[str, Any]:
        """Return the next step of the planned solution (planning at an episode's start)."""
        if self.env is None:
            raise RuntimeError(f"{self.name}: bind the agent to its env first (agent.bind(env))")
        base = self.env.unwrapped
        starting = episode_start is not None and bool(np.any(episode_start))
        if self._queue is None or starting or (not base.steps and not self._queue):
            self._queue = deque(self.plan(base))
        if self._queue:
            return self._queue.popleft(), state
        return fallback_answer(base.get_state()), state

    def plan(self, env: gym.Env | ReasoningEnv | None = None) -> list[str]:
        """Search from the env's current state; return the steps to write from there."""
        base = (env or self.env).unwrapped
        if not isinstance(base, ReasoningEnv):
            raise TypeError(f"search agents plan on reasoning envs, got {type(base).__name__}")
        start = base.get_state()
        budget = self.budget.fresh()
        final = self.search(start, budget)
        steps = list(final.steps[len(start.steps) :])
        if not final.done:
            steps.append(fallback_answer(final))
        self._usage.add(
            calls=budget.calls,
            prompt_tokens=budget.prompt_tokens,
            completion_tokens=budget.tokens,
            seconds=budget.seconds,
            steps_generated=budget.steps,
        )
        self.history.append({"steps": budget.steps, "tokens": budget.tokens})
        self.last_plan, self.last_budget = steps, budget
        return steps

    # -- what subclasses provide -------------------------------------------------
    def search(self, start: ReasoningState, budget: Budget) -> ReasoningState:
        """Return the chosen (ideally finished) solution state, starting from ``start``."""
        raise NotImplementedError

    # -- shared helpers ------------------------------------------------------------
    def sample_solutions(
        self, start: ReasoningState, n: int, budget: Budget
    ) -> list[ReasoningState]:
        """Sample ``n`` solutions in lock-step (one batched proposer call per step)."""
        states = [start] * n
        for _ in range(self.max_depth):
            open_ids = [i for i, s in enumerate(states) if not s.done]
            if not open_ids or budget.exhausted:
                break
            proposals = self.proposer.propose([states[i] for i in open_ids], 1, budget)
            for i, steps in zip(open_ids, proposals):
                if steps:
                    states[i] = advance(states[i], steps[0])
        return states

    def score(self, parents: Sequence[ReasoningState], children: Sequence[ReasoningState]):
        """Score children with the scorer (counted in ``usage.scorer_calls``)."""
        self._usage.add(calls=0, scorer_calls=len(children))
        return self.scorer.score(list(parents), list(children))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(proposer={self.proposer.prover!r}, scorer={self.scorer!r})"


class GreedyAgent(SearchAgent):
    """One solution, decoded greedily (temperature 0 for LLM proposers)."""

    name = "greedy"
    default_temperature = 0.0

    def search(self, start: ReasoningState, budget: Budget) -> ReasoningState:
        """Return the single greedy solution."""
        return self.sample_solutions(start, 1, budget)[0]


class _SamplingAgent(SearchAgent):
    def __init__(self, *args: Any, n: int = 8, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if int(n) < 1:
            raise ValueError(f"n must be >= 1, got {n!r}")
        self.n = int(n)


class MajorityAgent(_SamplingAgent):
    """Self-consistency: sample ``n`` solutions and return one with the most common answer."""

    name = "majority"

    def search(self, start: ReasoningState, budget: Budget) -> ReasoningState:
        """Vote over the finished solutions' answers."""
        solutions = self.sample_solutions(start, self.n, budget)
        votes = Counter(a for a in map(answer_of, solutions) if a is not None)
        if not votes:
            return max(solutions, key=lambda s: len(s.steps))
        winner = votes.most_common(1)[0][0]
        return next(s for s in solutions if answer_of(s) == winner)


class BestOfNAgent(_SamplingAgent):
    """Sample ``n`` solutions; return the one the scorer rates highest."""

    name = "best_of_n"
    needs_scorer = True

    def search(self, start: ReasoningState, budget: Budget) -> ReasoningState:
        """Rank the solutions (finished ones first) by the scorer."""
        solutions = self.sample_solutions(start, self.n, budget)
        scores = self.score([start] * len(solutions), solutions)
        ranked = sorted(
            range(len(solutions)), key=lambda i: (solutions[i].done, scores[i]), reverse=True
        )
        return solutions[ranked[0]]


class BeamAgent(SearchAgent):
    """Step-level beam search guided by a PRM/PAV scorer.

    Args:
        beam_width: partial solutions kept after each step.
        expansions: candidate steps proposed per kept solution.
    """

    name = "beam"
    needs_scorer = True

    def __init__(self, *args: Any, beam_width: int = 4, expansions: int = 4, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.beam_width = int(beam_width)
        self.expansions = int(expansions)

    def search(self, start: ReasoningState, budget: Budget) -> ReasoningState:
        """Expand, score and prune until every kept solution has answered."""
        beams: list[tuple[float, ReasoningState]] = [(0.0, start)]
        finished: list[tuple[float, ReasoningState]] = []
        for _ in range(self.max_depth):
            if not beams or budget.exhausted:
                break
            parents = [s for _, s in beams]
            proposals = self.proposer.propose(parents, self.expansions, budget)
            seen, pairs = set(), []
            for parent, steps in zip(parents, proposals):
                for step in steps:
                    child = advance(parent, step)
                    if _key(child) not in seen:
                        seen.add(_key(child))
                        pairs.append((parent, child))
            if not pairs:
                break
            scores = self.score([p for p, _ in pairs], [c for _, c in pairs])
            scored = sorted(zip(scores, (c for _, c in pairs)), key=lambda x: x[0], reverse=True)
            finished += [(v, c) for v, c in scored if c.done]
            beams = [(v, c) for v, c in scored if not c.done][: self.beam_width]
            best_open = beams[0][0] if beams else -math.inf
            if len(finished) >= self.beam_width and max(v for v, _ in finished) >= best_open:
                break
        pool = finished or beams
        return max(pool, key=lambda x: x[0])[1] if pool else start


class QSelectAgent(SearchAgent):
    """Step-level Q-value selection: sample ``k`` candidate steps, keep the best-valued one."""

    name = "q_select"
    needs_scorer = True

    def __init__(self, *args: Any, k: int = 4, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.k = int(k)

    def search(self, start: ReasoningState, budget: Budget) -> ReasoningState:
        """Greedy in the scorer's value, one step at a time."""
        state = start
        for _ in range(self.max_depth):
            if state.done or budget.exhausted:
                break
            steps = self.proposer.propose([state], self.k, budget)[0]
            children = list({_key(c): c for c in (advance(state, s) for s in steps)}.values())
            if not children:
                break
            scores = self.score([state] * len(children), children)
            state = children[int(np.argmax(scores))]
        return state


@dataclass(eq=False)
class _Node:
    state: ReasoningState
    parent: _Node | None = None
    children: list[_Node] = field(default_factory=list)
    visits: int = 0
    total: float = 0.0
    prior: float = 0.0
    expanded: bool = False

    @property
    def mean(self) -> float:
        return self.total / self.visits if self.visits else self.prior


class MCTSAgent(SearchAgent):
    """UCT over reasoning steps with leaf values from a PRM/PAV scorer and policy rollouts.

    Args:
        simulations: selection–expansion–evaluation–backup rounds (the budget may stop
            it earlier).
        expansions: candidate steps proposed when a node is expanded.
        c_uct: exploration constant.
        rollout_weight: λ in ``value = (1 − λ) · V̂(leaf) + λ · score(rollout end)``;
            0 skips rollouts (pure value-guided search).
    """

    name = "mcts"
    needs_scorer = True

    def __init__(
        self,
        *args: Any,
        simulations: int = 16,
        expansions: int = 3,
        c_uct: float = 1.0,
        rollout_weight: float = 0.5,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        self.simulations = int(simulations)
        self.expansions = int(expansions)
        self.c_uct = float(c_uct)
        self.rollout_weight = float(rollout_weight)

    def _select(self, node: _Node) -> _Node:
        while node.expanded and node.children and not node.state.done:
            log_n = math.log(max(node.visits, 1))
            node = max(
                node.children,
                key=lambda c: c.mean + self.c_uct * math.sqrt(log_n / (c.visits + 1)),
            )
        return node

    def search(self, start: ReasoningState, budget: Budget) -> ReasoningState:
        """Run the simulations; return the best-valued finished solution found."""
        root = _Node(start)
        finished: dict[tuple[str, ...], tuple[float, ReasoningState]] = {}
        depth_limit = len(start.steps) + self.max_depth
        for _ in range(self.simulations):
            leaf = self._select(root)
            if not leaf.state.done and not leaf.expanded and len(leaf.state.steps) < depth_limit:
                if budget.exhausted:
                    break
                steps = self.proposer.propose([leaf.state], self.expansions, budget)[0]
                unique = {_key(c): c for c in (advance(leaf.state, s) for s in steps)}
                children = list(unique.values())
                leaf.expanded = True
                if children:
                    priors = self.score([leaf.state] * len(children), children)
                    leaf.children = [_Node(c, leaf, prior=v) for c, v in zip(children, priors)]
                    for child in leaf.children:
                        if child.state.done:
                            finished[_key(child.state)] = (child.prior, child.state)
                    leaf = max(leaf.children, key=lambda c: c.prior)
            value = leaf.prior if leaf is not root else 0.0
            if self.rollout_weight > 0 and not leaf.state.done and not budget.exhausted:
                end = self.sample_solutions(leaf.state, 1, budget)[0]
                end_value = self.score([leaf.state], [end])[0]
                if end.done:
                    finished.setdefault(_key(end), (end_value, end))
                value = (1 - self.rollout_weight) * value + self.rollout_weight * end_value
            node: _Node | None = leaf
            while node is not None:
                node.visits += 1
                node.total += value
                node = node.parent
        if finished:
            return max(finished.values(), key=lambda x: x[0])[1]
        node = root
        while node.children:
            node = max(node.children, key=lambda c: (c.visits, c.mean))
        return node.state


#: Search agent classes by name (``make_agent("search:<name>")`` looks names up here).
SEARCH_AGENTS: Registry[type[SearchAgent]] = Registry("search agent")
for _cls in (GreedyAgent, MajorityAgent, BestOfNAgent, BeamAgent, MCTSAgent, QSelectAgent):
    SEARCH_AGENTS.register(_cls.name, _cls)
# A* over tool calls (tool envs; imported on first use).
SEARCH_AGENTS.register("astar", "densegym.agents.llm.astar:AStarAgent")
#: best_of_n and q_select over tool calls: tool envs only (ToolShop, BFCL), so they are
#: kept apart from the agents every env family runs; :func:`make_search_agent` builds both.
TOOL_SEARCH_AGENTS: Registry[Any] = Registry("tool search agent")
TOOL_SEARCH_AGENTS.register("tool_best_of_n", "densegym.agents.llm.tool_search:ToolBestOfN")
TOOL_SEARCH_AGENTS.register("tool_q_select", "densegym.agents.llm.tool_search:ToolQSelect")


def make_search_agent(name: str, **kwargs: Any) -> SearchAgent:
    """Build a search agent by name; ``kwargs`` go to its constructor.

    Names: ``greedy``, ``majority``, ``best_of_n``, ``beam``, ``mcts``, ``q_select`` and,
    for tool envs, ``astar`` (:class:`~densegym.agents.llm.astar.AStarAgent`),
    ``tool_best_of_n`` and ``tool_q_select`` (:mod:`densegym.agents.llm.tool_search`).

    Raises:
        ValueError: ``name`` is not registered (the message lists the registered names).

    Example:
        >>> make_search_agent("greedy", proposer="oracle").name
        'greedy'
        >>> make_search_agent("dfs")
        Traceback (most recent call last):
        ...
        ValueError: unknown search agent 'dfs'; registered search agents: astar, beam, ...
    """
    if name in TOOL_SEARCH_AGENTS:
        return TOOL_SEARCH_AGENTS.get(name)(**kwargs)
    return SEARCH_AGENTS.get(name)(**kwargs)
