"""Visit counts: the count module (batched, shared by blends) and the ``count`` shaper.

One implementation serves every form: :class:`CountModule` computes ``1/sqrt(n(s′))``
(or NovelD's first-visit gate) for a batch of transitions, and :class:`CountBonus`
is the per-env wrapper around it. The batched VecEnv form,
``VecIntrinsicBonus(venv, {"id": "count", ...})`` (or ``{"id": "count", "batched":
true}`` in a run's shaping), runs the same module over all sub-envs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from densegym.rewards.core import Transition
from densegym.rewards.intrinsic.base import IntrinsicModule, default_state_key
from densegym.rewards.intrinsic.batches import Batch, TransitionLog, batch_size, finite_rows, row
from densegym.rewards.intrinsic.shaper import IntrinsicShaper

__all__ = ["CountBonus", "CountModule", "default_state_key"]

_MODES = ("global", "episodic", "first_visit")
_EPISODIC_MODES = ("episodic", "first_visit")


class CountModule(IntrinsicModule):
    """Bonus ``1/sqrt(n(s′))`` over a hashable state key, counted globally or per episode.

    Global counts grow in :meth:`observe` (the wrappers call it before :meth:`bonus`
    while learning online, so a first visit scores 1); episodic counts live in the
    episodic state (one table per environment), count the episode's first observation
    and each ``s′`` as the bonus is computed, frozen or not. ``first_visit`` counts
    like ``episodic`` but pays 1 on a key's first visit in the episode and 0 after.
    Rows with a non-finite value get NaN and are not counted.

    Args:
        observation_space: the environment's observation space.
        action_space: the environment's action space.
        mode: ``"global"``, ``"episodic"`` or ``"first_visit"``.
        state_key: maps one observation to a hashable key.

    Example:
        >>> from gymnasium import spaces
        >>> space = spaces.Box(0, 9, (1,))
        >>> counts = CountModule(space, spaces.Discrete(2), mode="episodic",
        ...                      state_key=lambda o: int(o[0]))
        >>> episodic = counts.new_episodic(1)
        >>> counts.reset_episodic(episodic, np.array([0]), np.zeros((1, 1)))
        >>> seen = lambda x: float(counts.bonus(None, None, np.full((1, 1), x), episodic)[0])
        >>> seen(5.0), round(seen(5.0), 4), round(seen(0.0), 4)  # 0.0 was the first state
        (1.0, 0.7071, 0.7071)
    """

    needs_state_key = True
    trains = False

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        *,
        mode: str,
        state_key: Callable[[Any], Hashable],
    ):
        super().__init__(observation_space, action_space)
        if mode not in _MODES:
            raise ValueError(f"count mode must be one of {_MODES}, got {mode!r}")
        self.mode = mode
        self.state_key = state_key
        self.counts: dict[Hashable, int] = {}
        # The keys :meth:`observe` computed for the batch that :meth:`bonus` scores next
        # (the same object, in the same step): keyed once per step, not twice.
        self._observed: tuple[Batch, list[Hashable | None]] | None = None

    @property
    def episodic_mode(self) -> bool:
        """Whether counts reset every episode (``episodic`` and ``first_visit``)."""
        return self.mode in _EPISODIC_MODES

    def keys(self, batch: Batch) -> list[Hashable | None]:
        """Return the state key of each row (``None`` where a value is not finite)."""
        ok = finite_rows(batch)
        return [self.state_key(row(batch, i)) if ok[i] else None for i in range(len(ok))]

    def key_of(self, obs: Any) -> Hashable | None:
        """One observation's key (``None`` where a value is not finite): a row of :meth:`keys`.

        An env's own ``state_key`` reads the few values it needs and fails on a non-finite
        one (``int(nan)`` raises), so its failure is the check: the whole observation is not
        scanned first (on MiniHack that scan cost ~8 µs a step). A byte digest would hash a
        NaN like any value, so digest keys check every leaf first.
        """
        if self.state_key is not default_state_key:
            try:
                return self.state_key(obs)
            except (ValueError, OverflowError, TypeError):
                return None
        if type(obs) is np.ndarray:  # the common case, without the loop over leaves
            kind = obs.dtype.kind
            if kind == "f" and obs.size <= 32:
                if not all(map(math.isfinite, obs.ravel().tolist())):
                    return None
            elif kind in "fc" and not np.isfinite(obs).all():
                return None
            return self.state_key(obs)
        leaves = obs.values() if isinstance(obs, dict) else (obs,)
        for leaf in leaves:
            leaf = leaf if isinstance(leaf, np.ndarray) else np.asarray(leaf)
            if leaf.dtype.kind not in "fc":
                continue
            # Small leaves (MountainCar's two floats, a grid agent's ~20) check faster as
            # Python floats; past ~32 values numpy's isfinite wins.
            if leaf.size <= 32 and leaf.dtype.kind == "f":
                if not all(map(math.isfinite, leaf.ravel().tolist())):
                    return None
            elif not np.isfinite(leaf).all():
                return None
        return self.state_key(obs)

    def observe_key(self, key: Hashable | None) -> None:
        """Count one key globally (no-op in the episodic modes or for ``None``)."""
        if key is not None and not self.episodic_mode:
            self.counts[key] = self.counts.get(key, 0) + 1

    def count_key(self, key: Hashable | None, table: dict[Hashable, int] | None) -> float:
        """Count ``s′``'s key in its episode's ``table`` (episodic modes); return n(s′).

        NaN for ``None`` (a non-finite observation). In global mode the count is the
        table's, at least 1.
        """
        if key is None:
            return math.nan
        if self.episodic_mode:
            assert table is not None
            table[key] = table.get(key, 0) + 1
            return float(table[key])
        return float(max(self.counts.get(key, 0), 1))

    def score(self, n: float) -> float:
        """The bonus of a count: ``1/sqrt(n)``, or the first-visit gate (NaN stays NaN)."""
        if math.isnan(n):
            return math.nan
        if self.mode == "first_visit":
            return 1.0 if n == 1 else 0.0
        return 1.0 / math.sqrt(n)

    def new_episodic(self, n: int) -> list[dict[Hashable, int]] | None:
        """One empty count table per environment (episodic modes)."""
        return [{} for _ in range(n)] if self.episodic_mode else None

    def reset_episodic(self, episodic: Any, indices: np.ndarray, obs: Batch) -> None:
        """Clear the slots' tables and count each episode's first observation."""
        if not self.episodic_mode:
            return
        for slot, key in zip(indices, self.keys(obs)):
            episodic[slot] = {} if key is None else {key: 1}

    def count_next(self, episodic: Any, next_obs: Batch) -> np.ndarray:
        """Count each row's ``s′`` in its slot; return the counts (NaN where not finite)."""
        counts = np.full(batch_size(next_obs), math.nan)
        observed, self._observed = self._observed, None
        keys = observed[1] if observed and observed[0] is next_obs else self.keys(next_obs)
        for i, key in enumerate(keys):
            counts[i] = self.count_key(key, episodic[i] if self.episodic_mode else None)
        return counts

    def bonus(self, obs: Batch, actions: np.ndarray, next_obs: Batch, episodic: Any) -> np.ndarray:
        """``1/sqrt(n(s′))`` per row (``first_visit``: 1 on a first visit, else 0)."""
        counts = self.count_next(episodic, next_obs)
        if self.mode == "first_visit":
            return np.where(np.isnan(counts), math.nan, (counts == 1).astype(np.float64))
        return 1.0 / np.sqrt(counts)

    def observe(self, next_obs: Batch) -> None:
        """Count states globally (no-op in the episodic modes)."""
        if self.episodic_mode:
            return
        keys = self.keys(next_obs)
        self._observed = (next_obs, keys)
        for key in keys:
            self.observe_key(key)

    def update(self, batch: dict[str, Any]) -> dict[str, float]:
        """Count a batch's ``next_obs`` globally; return ``{"new_states": keys added}``."""
        if not batch:
            return {}
        before = len(self.counts)
        self.observe(batch["next_obs"])
        return {"new_states": float(len(self.counts) - before)}

    def state_dict(self) -> dict[str, Any]:
        """Return a copy of the global counts."""
        return {"counts": dict(self.counts)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore global counts."""
        self.counts = dict(state["counts"])


class CountBonus(IntrinsicShaper):
    """Novelty bonus ``1/sqrt(n)`` where n counts visits to the next state's key.

    The key comes from ``env.unwrapped.state_key(obs)`` when the env defines one
    (MountainCar: a discretised (position, velocity); MiniHack: the agent's position
    and dungeon depth), else from a digest of the observation bytes. The counting is
    :class:`CountModule`'s, so ``{"id": "count", "batched": true}`` (one shared table
    for all sub-envs of a VecEnv) computes the same bonus.

    Args:
        env: environment to wrap.
        mode: ``"global"`` counts across the whole run, ``"episodic"`` resets every episode,
            ``"first_visit"`` counts per episode but pays 1 only on a key's first visit in
            the episode (NovelD's gate alone). Its episode total is ``coef`` times the
            number of distinct keys reached, so a small ``coef`` keeps it below the task's
            reward: a bonus that keeps paying for revisits can outweigh the goal, and an
            agent then learns to wander instead of ending the episode.
        key: ``"env"`` (the env's own ``state_key``) or ``"observation"`` (raw bytes).
        online: count every state seen (else only states passed to :meth:`update` or
            logged until :meth:`train_pending`, e.g. by the SB3 callback at rollout end).
        coef: weight of the bonus; the default 0.01 keeps an episode's bonus around or below
            the task's reward of 1, so the bonus guides exploration without replacing the goal.
        coef_decay: optional schedule that anneals ``coef`` over the steps this shaper has
            learned from, e.g. ``{"kind": "linear", "steps": 500_000}``; see
            :class:`~densegym.rewards.terms.CoefSchedule`.
        normalize, clip, name: see :class:`~densegym.rewards.ShapedReward`.
        update_every: how often an online learner trains (counts have nothing to train;
            kept so every intrinsic spec takes it).

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/MountainCarSparse-v0", shaping={"id": "count", "coef": 1.0})
        >>> _ = env.reset(seed=0)
        >>> first = env.step(1)[4]["reward_terms"]["count"]
        >>> second = env.step(1)[4]["reward_terms"]["count"]  # same cell again
        >>> first, round(second, 4)
        (1.0, 0.7071)
    """

    registry_name = "count"
    #: Nothing: without the env's ``state_key`` it counts digests of the observations.
    requires = ()
    module_cls = CountModule
    module: CountModule

    def __init__(
        self,
        env: gym.Env,
        *,
        mode: str = "global",
        key: str = "env",
        online: bool = True,
        coef: float = 0.01,
        coef_decay: dict[str, Any] | None = None,
        normalize: bool = False,
        clip: float | tuple[float, float] | None = None,
        name: str | None = None,
        update_every: int = 64,
    ):
        self._record_args(locals())
        super().__init__(env, **self._saved_kwargs)

    @property
    def mode(self) -> str:
        """``"global"``, ``"episodic"`` or ``"first_visit"``."""
        return self.module.mode

    @property
    def counts(self) -> dict[Hashable, int]:
        """The table the bonus reads: global counts, or the current episode's."""
        return self.episodic[0] if self.module.episodic_mode else self.module.counts

    def state_key(self, obs: Any) -> Hashable:
        """The hashable key this shaper counts for ``obs``."""
        return self.module.state_key(obs)

    def reward_term(self, transition: Transition) -> float:
        """The module's bonus for one transition, row by row (no batch of one to build).

        The same :class:`CountModule` methods the batched form runs per row, so both give
        the same numbers; transitions kept for a later :meth:`update` take the generic path.
        """
        frozen = self.pipeline.frozen  # read once: this runs every step
        if not frozen and not self.online:  # kept for a later update: generic path
            return super().reward_term(transition)
        module = self.module
        key = module.key_of(transition.next_obs)
        if not frozen:  # learning: online (checked above) and not frozen
            module.observe_key(key)
        table = self.episodic[0] if module.episodic_mode else None
        return module.score(module.count_key(key, table))

    def update(self, batch: dict[str, Any]) -> dict[str, float]:
        """Count the ``next_obs`` states of a batch (global mode); ``{"new_states": n}``."""
        if self.frozen:
            return {"new_states": 0.0}
        return super().update(batch)

    def state_dict(self) -> dict[str, Any]:
        """The intrinsic shaper's state, plus ``counts``: the table the bonus reads.

        ``counts`` is the same object as the module's (or episode's) table, so a pickled
        checkpoint stores it once; it keeps the key older checkpoints had.
        """
        state = super().state_dict()
        state["counts"] = (
            state["episodic"][0] if self.module.episodic_mode else state["module"]["counts"]
        )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict`, or by the count shaper of old.

        Checkpoints from before counts ran on :class:`CountModule` hold the term's
        statistics, ``steps`` (when ``coef_decay`` existed) and ``counts`` only.
        """
        if "module" in state:
            super().load_state_dict(state)
            return
        self.pipeline.load_state_dict(state)
        counts = dict(state["counts"])
        if self.module.episodic_mode:
            self.episodic = [counts]
        else:
            self.module.counts = counts
        self.log = TransitionLog()
