"""Count-based novelty bonus 1/sqrt(n(key)): global, episodic, or first visits only."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Hashable
from typing import Any

import gymnasium as gym
import numpy as np

from densegym.rewards.core import LearnedShaper, Transition
from densegym.rewards.intrinsic.schedule import CoefSchedule

_MODES = ("global", "episodic", "first_visit")
_EPISODIC_MODES = ("episodic", "first_visit")


def default_state_key(obs: Any) -> Hashable:
    """A hashable key for any array, Dict or scalar observation (a digest of its bytes).

    Example:
        >>> default_state_key(np.zeros(3)) == default_state_key(np.zeros(3))
        True
    """
    digest = hashlib.blake2b(digest_size=16)
    if isinstance(obs, dict):
        for key in sorted(obs):
            digest.update(key.encode())
            digest.update(np.ascontiguousarray(obs[key]).tobytes())
    elif isinstance(obs, str):
        digest.update(obs.encode())
    else:
        digest.update(np.ascontiguousarray(obs).tobytes())
    return digest.digest()


class CountBonus(LearnedShaper):
    """Novelty bonus ``1/sqrt(n)`` where n counts visits to the next state's key.

    The key comes from ``env.unwrapped.state_key(obs)`` when the env defines one
    (MountainCar: a discretised (position, velocity); MiniHack: the agent's position
    and dungeon depth), else from a digest of the observation bytes.

    Args:
        env: environment to wrap.
        mode: ``"global"`` counts across the whole run, ``"episodic"`` resets every episode,
            ``"first_visit"`` counts per episode but pays 1 only on a key's first visit in
            the episode (NovelD's gate alone). Its episode total is ``coef`` times the
            number of distinct keys reached, so a small ``coef`` keeps it below the task's
            reward: a bonus that keeps paying for revisits can outweigh the goal, and an
            agent then learns to wander instead of ending the episode.
        key: ``"env"`` (the env's own ``state_key``) or ``"observation"`` (raw bytes).
        online: count every state seen (else only states passed to :meth:`update`).
        coef: weight of the bonus; the default 0.01 keeps an episode's bonus around or below
            the task's reward of 1, so the bonus guides exploration without replacing the goal.
        coef_decay: optional schedule that anneals ``coef`` over the steps this shaper has
            learned from, e.g. ``{"kind": "linear", "steps": 500_000}``; see
            :class:`~densegym.rewards.intrinsic.schedule.CoefSchedule`.
        normalize, clip, name: see :class:`~densegym.rewards.ShapedReward`.

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
    ):
        self._record_args(locals())
        super().__init__(env, online=online, coef=coef, normalize=normalize, clip=clip, name=name)
        if mode not in _MODES:
            raise ValueError(f"count: mode must be one of {_MODES}, got {mode!r}")
        if key not in ("env", "observation"):
            raise ValueError(f"count: key must be 'env' or 'observation', got {key!r}")
        self.mode = mode
        self._per_episode = mode in _EPISODIC_MODES  # counts reset at every episode
        env_key = getattr(env.unwrapped, "state_key", None)
        self._key_fn = env_key if (key == "env" and callable(env_key)) else default_state_key
        self.counts: defaultdict[Hashable, int] = defaultdict(int)
        self.schedule = CoefSchedule(coef, coef_decay, owner=self.registry_name)
        self.steps = 0

    def state_key(self, obs: Any) -> Hashable:
        """The hashable key this shaper counts for ``obs``."""
        return self._key_fn(obs)

    def on_reset(self, obs: Any, info: dict[str, Any]) -> None:
        """Clear episodic counts and count the initial state."""
        if self._per_episode:
            self.counts.clear()
        if self.learning or self._per_episode:
            self.counts[self.state_key(obs)] += 1

    def reward_term(self, transition: Transition) -> float:
        """Return ``1/sqrt(n(s′))`` after counting s′ (episodic counts always count).

        In ``first_visit`` mode: 1 when s′ is new to the episode, else 0.
        """
        key = self.state_key(transition.next_obs)
        if self.learning or self._per_episode:
            self.counts[key] += 1
        self.coef = self.schedule(self.steps)
        if not self.frozen:
            self.steps += 1
        # .get, not [key]: a lookup on the defaultdict would insert zero counts while frozen.
        visits = max(self.counts.get(key, 0), 1)
        if self.mode == "first_visit":
            return 1.0 if visits == 1 else 0.0
        return 1.0 / np.sqrt(visits)

    def update(self, batch: dict[str, Any]) -> dict[str, float]:
        """Count the ``next_obs`` states of a batch (for offline / batched counting)."""
        if self.frozen:
            return {"new_states": 0.0}
        before = len(self.counts)
        for obs in _iterate_observations(batch["next_obs"]):
            self.counts[self.state_key(obs)] += 1
        return {"new_states": float(len(self.counts) - before)}

    def state_dict(self) -> dict[str, Any]:
        """Counts, the step counter of the ``coef`` schedule and normalisation statistics."""
        state = super().state_dict()
        state["counts"] = dict(self.counts)
        state["steps"] = self.steps
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore counts, the schedule's step counter and normalisation statistics."""
        super().load_state_dict(state)
        self.counts = defaultdict(int, state["counts"])
        self.steps = int(state.get("steps", 0))  # absent in checkpoints from before coef_decay
        self.coef = self.schedule(self.steps)


def _iterate_observations(batch_obs: Any):
    if isinstance(batch_obs, dict):
        size = len(next(iter(batch_obs.values())))
        for i in range(size):
            yield {k: v[i] for k, v in batch_obs.items()}
    else:
        yield from batch_obs
