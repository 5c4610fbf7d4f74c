"""Value estimators V̂(s): a prover's chance of finishing correctly from a reasoning state.

* :class:`ProverValue` — ``n`` Monte-Carlo rollouts of a prover from the steps written
  so far (batched; cached per state; seeded per state so the same state always gets the
  same estimate), or the noisy oracle's closed form ``q ** r``.
* :class:`ModelValue` — a trained value model (a PRM trained on soft Monte-Carlo labels
  is a process advantage verifier's value head; see :mod:`densegym.rewards.progress.prm`).

A finished episode's value is its outcome (1.0 or 0.0), for every estimator.
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from typing import Any

from densegym.envs.reasoning.base import ReasoningState
from densegym.envs.reasoning.provers import NoisyOracleProver, Prover, make_prover
from densegym.rewards.progress.state import question_of, state_key

#: Steps a rollout may take when the caller does not say.
DEFAULT_MAX_STEPS = 32


class ValueEstimator:
    """Base class: ``estimator(state)`` returns V̂(state) in [0, 1]."""

    def value(self, state: ReasoningState) -> float:
        """Return V̂ of an unfinished state."""
        raise NotImplementedError

    def __call__(self, state: ReasoningState) -> float:
        """Return V̂(state); the outcome itself once the episode has ended."""
        if state.done:
            return float(state.success)
        return float(self.value(state))

    def values(self, states: list[ReasoningState]) -> list[float]:
        """Return V̂ for several states (override to batch)."""
        return [self(s) for s in states]


class ProverValue(ValueEstimator):
    """V̂ from rollouts of a prover, continuing the steps written so far.

    Args:
        prover: a prover spec (``"oracle-0.7"``, ``"llm:tiny-random"``, ...) or instance.
        n_rollouts: Monte-Carlo rollouts per state (run in lock-step, one batched call
            per step for LLM provers).
        method: ``"mc"`` (rollouts) or ``"closed_form"`` (noisy-oracle provers only).
        max_steps: steps a rollout may take.
        seed: base seed; each state's rollouts are seeded from it and the state's key.
        cache_size: states remembered (least recently used are dropped).

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/Arithmetic-v0", difficulty=1)
        >>> _ = env.reset(seed=0)
        >>> state = env.unwrapped.get_state()
        >>> ProverValue("oracle-0.9", method="closed_form")(state)  # 0.9 ** 3
        0.7290000000000001
        >>> mc = ProverValue("oracle-0.9", n_rollouts=400)
        >>> abs(mc(state) - 0.729) < 0.08, mc.rollouts_run
        (True, 400)
    """

    def __init__(
        self,
        prover: str | Prover = "oracle-0.7",
        n_rollouts: int = 16,
        method: str = "mc",
        max_steps: int | None = None,
        seed: int = 0,
        cache_size: int = 100_000,
        prover_kwargs: dict[str, Any] | None = None,
    ):
        if method not in ("mc", "closed_form"):
            raise ValueError(f"method must be 'mc' or 'closed_form', got {method!r}")
        if int(n_rollouts) < 1:
            raise ValueError(f"n_rollouts must be >= 1, got {n_rollouts!r}")
        self.prover = make_prover(prover, seed=seed, **(prover_kwargs or {}))
        if method == "closed_form" and not isinstance(self.prover, NoisyOracleProver):
            raise ValueError(
                f"the closed form exists for noisy-oracle provers only, not {self.prover!r}"
            )
        self.n_rollouts = int(n_rollouts)
        self.method = method
        self.max_steps = int(max_steps) if max_steps is not None else DEFAULT_MAX_STEPS
        self.seed = int(seed)
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[tuple[Any, ...], float] = OrderedDict()
        self.rollouts_run = 0
        self.cache_hits = 0

    def _state_seed(self, key: tuple[Any, ...]) -> int:
        return (zlib.crc32(repr(key).encode()) + 1_000_003 * self.seed) % 2**31

    def value(self, state: ReasoningState) -> float:
        """Return the (cached) estimate for an unfinished state."""
        key = state_key(state)
        if key in self._cache:
            self.cache_hits += 1
            self._cache.move_to_end(key)
            return self._cache[key]
        if self.method == "closed_form":
            estimate = self.prover.success_probability(state, max_steps=self.max_steps)
        else:
            results = self.prover.rollouts(
                state, self.n_rollouts, max_steps=self.max_steps, seed=self._state_seed(key)
            )
            self.rollouts_run += len(results)
            estimate = sum(r.success for r in results) / len(results)
        self._cache[key] = float(estimate)
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return float(estimate)


class ModelValue(ValueEstimator):
    """V̂ from a trained step-value model (a saved PRM, see :func:`train_prm`).

    Args:
        model: a :class:`~densegym.rewards.progress.prm_model.PRM` or a path to one.
    """

    def __init__(self, model: Any):
        from densegym.rewards.progress.prm_model import PRM

        self.model = PRM.load(model) if not isinstance(model, PRM) else model

    def value(self, state: ReasoningState) -> float:
        """Return the model's score of the state."""
        return float(self.model.score(question_of(state), state.steps))

    def values(self, states: list[ReasoningState]) -> list[float]:
        """Score several states in one batch (finished ones get their outcome)."""
        open_states = [s for s in states if not s.done]
        scores = iter(
            self.model.score_batch([(question_of(s), s.steps) for s in open_states])
            if open_states
            else []
        )
        return [float(s.success) if s.done else float(next(scores)) for s in states]
