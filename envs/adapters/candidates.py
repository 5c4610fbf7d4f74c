"""Turn a text env into a choice among K proposed steps (``Discrete(K)``).

At every step a *proposer* — the task's noisy oracle or an LLM sampler, any
:mod:`densegym.envs.reasoning.provers` spec, or for envs that ground their own
candidates (tool envs: ``env.unwrapped.candidate_actions(k, include_oracle)``) the
``"grounded"`` source — writes candidate next steps; the wrapper shows
them in the observation, numbered, and the agent's action is the number of the one to
take. SB3's discrete-action algorithms (PPO, DQN) can then train on language tasks,
with an encoder from :mod:`densegym.envs.adapters.encode` turning the text into vectors.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from densegym.envs.reasoning.base import ReasoningEnv
from densegym.envs.reasoning.provers import Prover, make_prover
from densegym.spaces import PermissiveText

__all__ = ["RANKS", "CandidateActions", "SharedModel"]

#: How candidates are ordered: most proposed first, or in random order.
RANKS = ("votes", "shuffle")
#: The proposer spec of envs that ground their own candidates (tool envs).
GROUNDED = "grounded"

_HEADER = "Candidate next steps (choose one by its number):"


class SharedModel:
    """A ``densegym.llm`` backend loaded on first use and shared within the process.

    Lets every sub-env of a vector env sample candidates from one model (and one set
    of usage counters) instead of loading a copy each.

    Args:
        spec: a ``densegym.llm.load`` spec, e.g. ``"smollm2"``.
    """

    def __init__(self, spec: Any):
        self.spec = spec
        self._llm: Any = None

    @property
    def llm(self) -> Any:
        """Return the shared backend, loading it on first use."""
        if self._llm is None:
            from densegym.llm import load

            self._llm = load(self.spec, shared=True)
        return self._llm

    def generate(self, prompts: Any, **kwargs: Any) -> Any:
        """Forward to the backend's ``generate``."""
        return self.llm.generate(prompts, **kwargs)

    def __repr__(self) -> str:
        return f"SharedModel({self.spec!r})"


def _proposer(spec: Any, kwargs: Mapping[str, Any]) -> Prover:
    if isinstance(spec, str) and spec.startswith("llm:"):
        from densegym.envs.reasoning.provers import LLMProver

        return LLMProver(SharedModel(spec[4:]), **kwargs)
    return make_prover(spec, **kwargs)


class CandidateActions(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Offer ``k`` proposed next steps; the action picks one (``Discrete(k)``).

    ## Description
    After every reset and non-final step, the proposer writes ``samples`` candidate
    steps for the episode so far. Repeats are merged and counted as votes; the distinct
    steps are ordered (``rank="votes"``: most proposed first, ties in random order —
    the agent can learn to trust the proposer's consensus; ``rank="shuffle"``: random
    order — it must judge the steps themselves), then repeated cyclically to fill the
    ``k`` slots. ``include_oracle=True`` makes sure the task's correct next step is one
    of them (replacing the last sample when no sample was right), so every task stays
    solvable. With the ``"grounded"`` source the env itself proposes up to ``samples``
    distinct calls (one vote each) and handles ``include_oracle``.

    ## Observation Space
    Text: the inner env's observation, then the numbered candidates. The parts are on
    the wrapper (:attr:`context`, :attr:`candidates`, :attr:`votes`) for encoders.

    ## Action Space
    ``Discrete(k)``. An index outside ``[0, k)`` (or a non-integer) sends an empty
    step, which the env flags as invalid; ``info["invalid_action"]`` is set.

    ## Rewards and Termination
    Those of the inner env.

    Args:
        env: a reasoning env (``env.unwrapped`` a :class:`ReasoningEnv`), or an env whose
            base offers ``candidate_actions(k, include_oracle=...)`` (tool envs).
        k: number of choices.
        proposer: a prover spec (``"oracle-0.7"``, ``"oracle"``, ``"llm:smollm2"``) or a
            :class:`~densegym.envs.reasoning.provers.Prover`; ``"grounded"`` for envs that
            propose their own candidates. ``None``: ``"oracle-0.7"`` on reasoning envs,
            ``"grounded"`` on the others. LLM models are shared by all envs of the process.
        samples: steps drawn from the proposer per decision (default ``k``).
        rank: ``"votes"`` or ``"shuffle"`` (see above).
        include_oracle: always offer the correct next step.
        proposer_kwargs: extra arguments of the prover (``temperature``, ``max_tokens``).

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = CandidateActions(gym.make("densegym/Arithmetic-v0", difficulty=1), k=3,
        ...                        proposer="oracle-0.5", include_oracle=True)
        >>> obs, info = env.reset(seed=0)
        >>> env.action_space, len(info["candidates"])
        (Discrete(3), 3)
        >>> done = False
        >>> while not done:  # following the oracle's candidate solves the task
        ...     obs, reward, terminated, truncated, info = env.step(env.oracle_action())
        ...     done = terminated or truncated
        >>> reward, info["is_success"]
        (1.0, True)
    """

    def __init__(
        self,
        env: gym.Env,
        k: int = 4,
        proposer: str | Prover | None = None,
        samples: int | None = None,
        rank: str = "votes",
        include_oracle: bool = False,
        proposer_kwargs: dict[str, Any] | None = None,
    ):
        gym.utils.RecordConstructorArgs.__init__(
            self,
            k=k,
            proposer=proposer,
            samples=samples,
            rank=rank,
            include_oracle=include_oracle,
            proposer_kwargs=proposer_kwargs,
        )
        super().__init__(env)
        base = env.unwrapped
        reasoning = isinstance(base, ReasoningEnv)
        if not reasoning and not callable(getattr(base, "candidate_actions", None)):
            raise TypeError(
                "CandidateActions wraps reasoning envs or envs with candidate_actions(), "
                f"got {type(base).__name__}"
            )
        if proposer is None:
            proposer = "oracle-0.7" if reasoning else GROUNDED
        if (proposer == GROUNDED) == reasoning:
            raise ValueError(
                f"proposer {proposer!r} does not fit {type(base).__name__}: use "
                + ("a prover spec" if reasoning else f"{GROUNDED!r}")
            )
        if int(k) < 1:
            raise ValueError(f"k must be positive, got {k!r}")
        if rank not in RANKS:
            raise ValueError(f"rank must be one of {RANKS}, got {rank!r}")
        self.k = int(k)
        self.samples = int(samples) if samples is not None else self.k
        if self.samples < 1:
            raise ValueError(f"samples must be positive, got {samples!r}")
        self.rank = rank
        self.include_oracle = bool(include_oracle)
        self.grounded = proposer == GROUNDED
        self.proposer = None if self.grounded else _proposer(proposer, dict(proposer_kwargs or {}))
        self.max_step_chars = int(
            getattr(base, "max_step_chars", getattr(base, "max_call_chars", 0))
        )
        self.action_space = gym.spaces.Discrete(self.k)
        extra = len(_HEADER) + self.k * (self.max_step_chars + 16) + 2
        self.observation_space = PermissiveText(max_length=base.max_observation_chars + extra)
        self.context = ""
        self.candidates: tuple[str, ...] = ()
        self.votes: tuple[int, ...] = ()
        self._rng = np.random.default_rng()

    # -- proposing ----------------------------------------------------------------
    def _clean(self, step: Any) -> str:
        lines = [line.strip() for line in str(step).splitlines() if line.strip()]
        return lines[0][: self.max_step_chars] if lines else ""

    def _propose(self) -> None:
        if self.grounded:
            drawn = self.env.unwrapped.candidate_actions(
                self.samples, include_oracle=self.include_oracle
            )
            steps = [self._clean(step) for step in drawn] or [""]
        else:
            drawn = self.proposer.act_batch(
                [self.context] * self.samples, [self.env] * self.samples
            )
            steps = [self._clean(step) for step in drawn]
        if self.include_oracle and not self.grounded:
            oracle = self._clean(self.env.unwrapped.oracle_step())
            if oracle not in steps:
                steps[-1] = oracle
        counts = collections.Counter(steps)
        distinct = list(counts)  # first-proposed order
        noise = self._rng.random(len(distinct))
        if self.rank == "votes":
            order = sorted(range(len(distinct)), key=lambda i: (-counts[distinct[i]], noise[i]))
        else:
            order = list(np.argsort(noise, kind="stable"))
        ranked = [distinct[i] for i in order]
        slots = [ranked[i % len(ranked)] for i in range(self.k)]
        self.candidates = tuple(slots)
        self.votes = tuple(counts[step] for step in slots)

    def oracle_action(self) -> int | None:
        """Return the index of the task's correct next step among the candidates (or None)."""
        oracle = self._clean(self.env.unwrapped.oracle_step())
        return self.candidates.index(oracle) if oracle in self.candidates else None

    def render_observation(self) -> str:
        """Return the observation text: the inner observation and the numbered candidates."""
        listed = [f"{i}) {step or '(empty)'}" for i, step in enumerate(self.candidates)]
        return "\n".join([self.context, "", _HEADER, *listed])

    def _annotate(self, info: dict[str, Any]) -> dict[str, Any]:
        info["candidates"] = self.candidates
        info["candidate_votes"] = self.votes
        return info

    # -- gymnasium API ------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset the inner env and propose the first candidates."""
        obs, info = self.env.reset(seed=seed, options=options)
        if seed is not None:
            self._rng = np.random.default_rng(seed)
            if self.proposer is not None:
                self.proposer.reseed(int(self._rng.integers(2**31)))
        self.context = str(obs)
        self._propose()
        return self.render_observation(), self._annotate(info)

    def step(self, action: Any):
        """Take the chosen candidate as the step; propose again unless the episode ended."""
        index = _as_index(action)
        valid = index is not None and 0 <= index < self.k
        step = self.candidates[index] if valid else ""
        obs, reward, terminated, truncated, info = self.env.step(step)
        info["chosen_index"] = index if valid else -1
        info["chosen_step"] = step
        info["invalid_action"] = not valid
        self.context = str(obs)
        if not (terminated or truncated):
            self._propose()
        return self.render_observation(), reward, terminated, truncated, self._annotate(info)


def _as_index(action: Any) -> int | None:
    """Read an action as an int index (numpy scalars and 0-d/1-element arrays too)."""
    try:
        value = np.asarray(action)
        if value.size != 1 or value.dtype.kind not in "iu":
            return None
        return int(value.reshape(()))
    except (TypeError, ValueError):
        return None
