"""Building blocks of the search agents: a step proposer, scorers and a compute budget.

* :class:`StepProposer` samples candidate next steps from any prover — an LLM backend
  (``"llm:smollm2"``, a loaded ``densegym.llm`` model) or a noisy oracle (``"oracle"``,
  ``"oracle-0.7"``, for tests) — and counts its calls and generated tokens.
* Scorers rate a partial or complete solution (higher is better): :class:`OracleScorer`
  (the task's own verifier: an upper bound and a test fixture), :class:`PAVScorer`
  (a prover's success probability V̂, plus ``α`` times the step's progress),
  :class:`PRMScorer` (a saved PRM or ORM) and :class:`ImplicitPRMScorer`.
* :class:`Budget` caps generated steps and tokens per problem (and records the calls,
  prompt tokens and seconds spent, which the agent adds to its
  :class:`densegym.llm.Usage`).

Scorers that roll out a noisy oracle (``PAVScorer`` with an oracle prover) or ask the
verifier (``OracleScorer``) know the task's answer; learned scorers see only the text.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from densegym.envs.reasoning.base import ReasoningEnv, ReasoningState
from densegym.envs.reasoning.provers import LLMProver, Prover, make_prover
from densegym.llm.usage import Usage

__all__ = [
    "Budget",
    "ImplicitPRMScorer",
    "OracleScorer",
    "PAVScorer",
    "PRMScorer",
    "Scorer",
    "StepProposer",
    "Usage",
    "advance",
    "make_scorer",
    "simulator",
]


def simulator(state: ReasoningState) -> ReasoningEnv:
    """Return a bare env that continues ``state`` (for proposing and stepping)."""
    return ReasoningEnv.from_state(state)


def advance(state: ReasoningState, step: str) -> ReasoningState:
    """Return the state after writing ``step`` (the env checks it as it would in play)."""
    env = simulator(state)
    env.step(step)
    return env.get_state()


@dataclass
class Budget:
    """Compute allowed per problem: generated steps and generated tokens.

    Args:
        max_steps: candidate steps the proposer may generate (``None``: unlimited).
        max_tokens: generated tokens (``None``: unlimited). Checked before each call,
            so one batched call may overshoot it by at most its own size.

    Example:
        >>> b = Budget(max_steps=5)
        >>> b.allow(8), b.charge(steps=3), b.allow(8), b.exhausted
        (5, None, 2, False)
    """

    max_steps: int | None = None
    max_tokens: int | None = None
    steps: int = 0
    tokens: int = 0
    calls: int = 0
    prompt_tokens: int = 0
    seconds: float = 0.0

    def allow(self, wanted: int) -> int:
        """Return how many of ``wanted`` steps may be generated now."""
        if self.max_tokens is not None and self.tokens >= self.max_tokens:
            return 0
        if self.max_steps is None:
            return wanted
        return max(0, min(wanted, self.max_steps - self.steps))

    def charge(
        self,
        steps: int = 0,
        tokens: int = 0,
        calls: int = 0,
        prompt_tokens: int = 0,
        seconds: float = 0.0,
    ) -> None:
        """Record generated steps, generated tokens, calls, prompt tokens and seconds."""
        self.steps += int(steps)
        self.tokens += int(tokens)
        self.calls += int(calls)
        self.prompt_tokens += int(prompt_tokens)
        self.seconds += float(seconds)

    @property
    def exhausted(self) -> bool:
        """Whether nothing more may be generated."""
        return self.allow(1) == 0

    def fresh(self) -> Budget:
        """A new budget with the same limits and nothing spent."""
        return Budget(self.max_steps, self.max_tokens)


class StepProposer:
    """Sample candidate next steps from a prover, counting calls and tokens.

    Args:
        source: a prover spec (``"oracle-0.7"``, ``"llm:smollm2"``), a ``Prover``, or a
            loaded ``densegym.llm`` model.
        temperature: sampling temperature for LLM provers built here (0: greedy).
        max_tokens: tokens per generated step for LLM provers built here.
        seed: seed of the prover.

    For non-LLM provers, "tokens" are counted as the words of the generated steps (a
    proxy so budgets and plots still work); LLM provers report the model's own counts.

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/Arithmetic-v0", difficulty=1); _ = env.reset(seed=0)
        >>> proposer = StepProposer("oracle")
        >>> budget = Budget()
        >>> proposer.propose([env.unwrapped.get_state()], 2, budget)[0] == [
        ...     env.unwrapped.oracle_step()] * 2
        True
        >>> budget.steps, budget.calls
        (2, 1)
    """

    def __init__(
        self,
        source: str | Prover | Any = "oracle-0.7",
        temperature: float = 0.7,
        max_tokens: int = 48,
        seed: int | None = 0,
    ):
        if isinstance(source, Prover):
            self.prover = source
        elif isinstance(source, str):
            kwargs = {"temperature": temperature, "max_tokens": max_tokens}
            self.prover = make_prover(
                source, seed=seed, **(kwargs if source.startswith("llm:") else {})
            )
        else:  # a loaded LLM backend
            self.prover = LLMProver(
                source, temperature=temperature, max_tokens=max_tokens, seed=seed
            )

    @property
    def model(self) -> Any | None:
        """The LLM behind the prover, if any."""
        return self.prover.model if isinstance(self.prover, LLMProver) else None

    def propose(self, states: Sequence[ReasoningState], k: int, budget: Budget) -> list[list[str]]:
        """Return up to ``k`` candidate next steps per state (fewer when the budget ends).

        All candidates are generated in one batched call. The budget is split in state
        order, so later states may get fewer (or no) candidates.
        """
        counts, left = [], budget.allow(k * len(states))
        for _ in states:
            counts.append(min(k, left))
            left -= counts[-1]
        envs = [simulator(s) for s, c in zip(states, counts) for _ in range(c)]
        if not envs:
            return [[] for _ in states]
        observations = [e.observation() if self.prover.reads_observation else "" for e in envs]
        model = self.model
        before = model.usage.snapshot() if model is not None else None
        started = time.perf_counter()
        steps = self.prover.act_batch(observations, envs)
        seconds = time.perf_counter() - started
        if model is not None:
            spent = model.usage.since(before)
            tokens, prompt, calls = spent.completion_tokens, spent.prompt_tokens, spent.calls
        else:
            tokens, prompt, calls = sum(len(s.split()) for s in steps), 0, 1
        budget.charge(
            steps=len(steps), tokens=tokens, calls=calls, prompt_tokens=prompt, seconds=seconds
        )
        out, position = [], 0
        for count in counts:
            out.append(list(steps[position : position + count]))
            position += count
        return out


class Scorer:
    """Rate states: ``score(parents, children)`` returns one float per child."""

    #: Whether the scorer consults the task's answer (oracle-based).
    uses_answer: bool = False

    def score(
        self, parents: Sequence[ReasoningState], children: Sequence[ReasoningState]
    ) -> list[float]:
        """Return one score per child (its parent is the state it was proposed from)."""
        raise NotImplementedError

    def value(self, state: ReasoningState) -> float:
        """Return the score of one state on its own."""
        return self.score([state], [state])[0]


class OracleScorer(Scorer):
    """The verifier: 1 if the solution is (or can still be finished) correct, else 0.

    A finished solution scores its outcome; an open one scores 1 when the exact oracle,
    trusting the values written so far, reaches the right answer.
    """

    uses_answer = True

    def score(self, parents, children) -> list[float]:
        """Return 1.0 or 0.0 per child."""
        out = []
        for state in children:
            if state.done:
                out.append(float(state.success))
            else:
                out.append(float(simulator(state).oracle_remaining(trust_written=True) is not None))
        return out


class PAVScorer(Scorer):
    """``V̂(child) + α · (V̂(child) − V̂(parent))`` with V̂ a prover's success probability.

    Args:
        prover: prover spec for Monte-Carlo V̂ (``"oracle-0.7"``, ``"llm:smollm2"``).
        n_rollouts: rollouts per state.
        estimator: ``"mc"``, ``"closed_form"`` or ``"model"``.
        value_model: a saved value model (PRM trained on soft labels) for V̂.
        alpha: weight of the progress term.
        seed: rollout seed.
    """

    def __init__(
        self,
        prover: str | Prover = "oracle-0.7",
        n_rollouts: int = 8,
        estimator: str = "mc",
        value_model: str | None = None,
        alpha: float = 1.0,
        seed: int = 0,
    ):
        from densegym.rewards.progress.pav import make_value_estimator

        self.estimator = make_value_estimator(prover, n_rollouts, estimator, value_model, seed=seed)
        self.uses_answer = value_model is None and not str(prover).startswith("llm:")
        self.alpha = float(alpha)
        self.calls = 0

    def _v(self, state: ReasoningState, parent: ReasoningState | None = None) -> float:
        self.calls += 1
        if state.done and not self.uses_answer:
            # Never read the verifier: a model scores the text; an LLM prover cannot
            # continue a finished solution, so it keeps the value from before the answer.
            if hasattr(self.estimator, "model"):
                return self.estimator.value(state)
            return self._v(parent) if parent is not None and not parent.done else 0.0
        return self.estimator(state)

    def score(self, parents, children) -> list[float]:
        """Return value plus α-weighted progress per child."""
        out = []
        for parent, child in zip(parents, children):
            v_parent = self._v(parent)
            v_child = self._v(child, parent)
            out.append(v_child + self.alpha * (v_child - v_parent))
        return out


class PRMScorer(Scorer):
    """Scores from a saved PRM (or an ORM: the same model trained on outcome labels).

    Args:
        model: a :class:`~densegym.rewards.progress.PRM` or a path to one.
        aggregate: ``"last"`` (the newest step's score), ``"min"`` or ``"mean"`` over
            the solution's prefixes (Math-Shepherd ranks by the minimum).
    """

    def __init__(self, model: Any, aggregate: str = "last"):
        from densegym.rewards.progress.prm_model import PRM

        self.model = model if isinstance(model, PRM) else PRM.load(model)
        if aggregate not in ("last", "min", "mean"):
            raise ValueError(f"aggregate must be 'last', 'min' or 'mean', got {aggregate!r}")
        self.aggregate = aggregate

    def score(self, parents, children) -> list[float]:
        """Return the aggregated PRM score per child."""
        question = [str(c.task.question) for c in children]
        if self.aggregate == "last":
            return [
                float(v)
                for v in self.model.score_batch(list(zip(question, [c.steps for c in children])))
            ]
        out = []
        for q, child in zip(question, children):
            steps = child.steps
            if not steps:
                out.append(self.model.score(q, steps))
                continue
            scores = self.model.score_batch([(q, steps[: i + 1]) for i in range(len(steps))])
            out.append(float(scores.min() if self.aggregate == "min" else scores.mean()))
        return out


class ImplicitPRMScorer(Scorer):
    """Scores from an implicit PRM: σ(β · sequence log-ratio) of the solution so far.

    Args:
        model: an :class:`~densegym.rewards.progress.ImplicitPRM` or a checkpoint path.
    """

    def __init__(self, model: Any):
        from densegym.rewards.progress.implicit import ImplicitPRM

        self.model = model if isinstance(model, ImplicitPRM) else ImplicitPRM(checkpoint=model)

    def score(self, parents, children) -> list[float]:
        """Return the implicit outcome probability per child."""
        out = []
        for child in children:
            ratio = float(self.model.step_log_ratios(str(child.task.question), child.steps).sum())
            out.append(1.0 / (1.0 + math.exp(-self.model.beta * ratio)))
        return out


def make_scorer(spec: Any) -> Scorer | None:
    """Build a scorer from data.

    Specs: ``None``; ``"oracle"``; ``"pav:<prover>"`` (e.g. ``"pav:oracle-0.7"``);
    ``"prm:<path>"`` / ``"orm:<path>"``; ``"implicit:<path>"``; a dict
    ``{"kind": "pav", ...kwargs}``; or a :class:`Scorer` (returned as is).

    Example:
        >>> type(make_scorer("pav:oracle-0.7")).__name__, make_scorer(None)
        ('PAVScorer', None)
    """
    if spec is None or isinstance(spec, Scorer):
        return spec
    if isinstance(spec, dict):
        kwargs = dict(spec)
        kind = kwargs.pop("kind")
        return {
            "oracle": OracleScorer,
            "pav": PAVScorer,
            "prm": PRMScorer,
            "orm": PRMScorer,
            "implicit": ImplicitPRMScorer,
        }[kind](**kwargs)
    kind, _, argument = str(spec).partition(":")
    if kind == "oracle" and not argument:
        return OracleScorer()
    if kind == "pav":
        return PAVScorer(argument or "oracle-0.7")
    if kind in ("prm", "orm") and argument:
        return PRMScorer(argument)
    if kind == "implicit" and argument:
        return ImplicitPRMScorer(argument)
    raise ValueError(
        f"unknown scorer {spec!r}; use 'oracle', 'pav:<prover>', 'prm:<path>', "
        "'orm:<path>' or 'implicit:<path>'"
    )
