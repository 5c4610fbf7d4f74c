"""The batched form of a learned intrinsic bonus for Stable-Baselines3 VecEnvs.

:class:`VecIntrinsicBonus` holds one module for all sub-environments and computes
every sub-env's bonus in one forward pass per step, with the same module code and
the same :class:`~densegym.rewards.terms.TermPipeline` rules (so the same numbers) as
the per-env shaper. It logs the transitions it sees; by default it trains at rollout
end, when
:class:`~densegym.agents.sb3.intrinsic_callback.IntrinsicUpdateCallback` calls
:meth:`VecIntrinsicBonus.train_pending` (no second pass over the env).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

from densegym.rewards.batching import strip_batched
from densegym.rewards.intrinsic.base import default_state_key
from densegym.rewards.intrinsic.batches import Batch, TransitionLog, take
from densegym.rewards.intrinsic.shaper import IntrinsicShaper, positive_int, resolve_state_key
from densegym.rewards.registry import normalize_spec, shaper_class
from densegym.rewards.terms import PipelineOwner, TermPipeline


def _copy_batch(obs: Any) -> Batch:
    if isinstance(obs, dict):
        return {key: np.array(value, copy=True) for key, value in obs.items()}
    return np.array(obs, copy=True)


def _env_state_key(venv: VecEnv, key: str) -> Callable[[Any], Hashable]:
    if key == "observation":
        return resolve_state_key(None, key)
    envs = getattr(venv.unwrapped, "envs", None)
    if envs:
        return resolve_state_key(envs[0], key)
    warnings.warn(
        "VecIntrinsicBonus cannot reach the sub-envs' state_key in this VecEnv; counting "
        "observation digests (pass state_key= to choose)",
        RuntimeWarning,
        stacklevel=3,
    )
    return default_state_key


class VecIntrinsicBonus(PipelineOwner, VecEnvWrapper):
    """Add a learned intrinsic bonus to every sub-env of a VecEnv, in one batch per step.

    The spec is the one ``gym.make(..., shaping=...)`` takes for a single intrinsic
    shaper (``"e3b"`` or ``{"id": "rnd", "coef": 0.1, ...}``, a ``"batched"`` key
    allowed), with the same defaults. Each ``infos[i]["reward_terms"]`` keeps the
    extrinsic reward and gets the weighted term under the shaper's name; the returned
    reward is their sum, as in the per-env wrapper. The term's rules (non-finite values,
    the bound, normalisation, clipping, ``coef_decay``) are the per-env wrapper's
    :class:`~densegym.rewards.terms.TermPipeline`, fed one value per sub-env each step,
    so ``coef_decay`` counts steps of each sub-env (both forms decay alike in the same
    run). ``online`` defaults to False here for modules that train: train at rollout end
    through :meth:`train_pending` (the SB3 callback does it); ``online=True`` trains
    every ``update_every`` steps on the transitions of all sub-envs instead. ``count``
    (nothing to train) keeps its per-env default, counting as it goes, in one table
    shared by all sub-envs (``mode="global"``).

    Args:
        venv: the VecEnv to wrap.
        shaping: one intrinsic shaper spec.
        state_key: key function for count-style parts (defaults to the first
            sub-env's ``state_key`` when reachable).

    Raises:
        ValueError: a spec naming no shaper, several, or one without a module.
        TypeError: an argument the shaper does not accept.

    Example:
        >>> import gymnasium as gym, densegym
        >>> from stable_baselines3.common.vec_env import DummyVecEnv
        >>> venv = DummyVecEnv([lambda: gym.make("densegym/MountainCarSparse-v0")] * 2)
        >>> venv = VecIntrinsicBonus(venv, {"id": "rnd", "coef": 0.1})
        >>> _ = venv.reset()
        >>> obs, rewards, dones, infos = venv.step(np.array([0, 2]))
        >>> sorted(infos[0]["reward_terms"]), bool(rewards[1] == infos[1]["reward_terms"]["rnd"])
        (['extrinsic', 'rnd'], True)
    """

    def __init__(
        self,
        venv: VecEnv,
        shaping: str | dict[str, Any],
        state_key: Callable[[Any], Hashable] | None = None,
    ):
        super().__init__(venv)
        specs = normalize_spec(shaping)
        if len(specs) != 1:
            raise ValueError(f"VecIntrinsicBonus takes exactly one shaper spec, got {shaping!r}")
        kwargs = strip_batched(specs[0])
        name = kwargs.pop("id")
        cls = shaper_class(name)
        if not (isinstance(cls, type) and issubclass(cls, IntrinsicShaper)):
            raise ValueError(f"shaper {name!r} is not a learned intrinsic bonus")
        explicit_online = "online" in kwargs
        wrapper, module_kwargs = cls.split_kwargs(kwargs)
        self.term_name = wrapper["name"] or name
        self.pipeline = TermPipeline(
            self.term_name,
            coef=wrapper["coef"],
            coef_decay=wrapper["coef_decay"],
            normalize=wrapper["normalize"],
            clip=wrapper["clip"],
            owner=name,
        )
        self.update_every = positive_int(wrapper["update_every"], "update_every")
        key_fn = state_key or _env_state_key(venv, wrapper.get("key", "env"))
        try:
            self.module = cls.build_module(
                venv.observation_space, venv.action_space, key_fn, module_kwargs
            )
        except (TypeError, ValueError) as error:
            raise type(error)(f"shaper {name!r}: {error}") from error
        explicit_online = explicit_online or not self.module.trains
        self.online = bool(wrapper["online"]) if explicit_online else False
        self.log = TransitionLog(capacity=max(16384, 4 * self.num_envs * self.update_every))
        self.episodic = self.module.new_episodic(self.num_envs)
        self.last_stats: dict[str, float] = {}
        self._last_obs: Batch | None = None
        self._actions: np.ndarray | None = None

    @property
    def learning(self) -> bool:
        """Whether online updates happen at this step."""
        return self.online and not self.frozen

    @property
    def keeps_log(self) -> bool:
        """Whether this step's transitions are logged for training (as the per-env form)."""
        return not self.frozen and (self.module.trains or not self.online)

    # -- VecEnv API ---------------------------------------------------------------------
    def reset(self) -> Any:
        """Reset every sub-env and start fresh episodic state."""
        obs = self.venv.reset()
        batch = _copy_batch(obs)
        if self.learning:
            self.module.observe(batch)
        self.episodic = self.module.new_episodic(self.num_envs)
        self.module.reset_episodic(self.episodic, np.arange(self.num_envs), batch)
        self._last_obs = batch
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        """Remember the actions, then step the sub-envs."""
        self._actions = np.array(actions, copy=True)
        self.venv.step_async(actions)

    def step_wait(self) -> Any:
        """Step, add every sub-env's bonus in one batch, reset finished episodes' state."""
        obs, rewards, dones, infos = self.venv.step_wait()
        if self._last_obs is None or self._actions is None:
            raise RuntimeError("VecIntrinsicBonus: call reset() before step()")
        with self.pipeline.timed(self.num_envs):
            next_obs = self._next_obs(obs, dones, infos)
            if self.learning:
                self.module.observe(next_obs)
            raw = self.module.bonus(self._last_obs, self._actions, next_obs, self.episodic)
            if self.keeps_log:
                self.log.add(self._last_obs, self._actions, next_obs)
                if self.online and len(self.log) >= self.update_every * self.num_envs:
                    self.last_stats = self.module.train(self.log.pop_all())
            contributions = self.pipeline.process(raw)
            done = np.flatnonzero(dones)
            # s′ is the next step's s, except where an episode ended and the env reset.
            current = _copy_batch(obs) if done.size else next_obs
            if done.size:
                first = take(current, done)
                if self.learning:
                    self.module.observe(first)
                self.module.reset_episodic(self.episodic, done, first)
            self._last_obs = current
        for i, info in enumerate(infos):
            info.setdefault("reward_terms", {"extrinsic": float(rewards[i])})
            self.pipeline.write_info(info, contributions[i])
        shaped = np.asarray(rewards, dtype=np.float32) + contributions.astype(np.float32)
        return obs, shaped, dones, infos

    def _next_obs(self, obs: Any, dones: np.ndarray, infos: list[dict[str, Any]]) -> Batch:
        """Return the batch of s′: the terminal observation where an episode just ended."""
        batch = _copy_batch(obs)
        for i in np.flatnonzero(dones):
            terminal = infos[i].get("terminal_observation")
            if terminal is None:
                continue
            if isinstance(batch, dict):
                for key in batch:
                    batch[key][i] = terminal[key]
            else:
                batch[i] = terminal
        return batch

    # -- learned-module interface (freeze/unfreeze come from PipelineOwner) --------------
    def update(self, batch: dict[str, Any]) -> dict[str, float]:
        """Learn from ``{"obs", "actions", "next_obs"}`` batches gathered elsewhere."""
        if self.frozen:
            return {}
        self.last_stats = self.module.update(batch)
        return self.last_stats

    def train_pending(self) -> dict[str, float]:
        """Train on every transition seen since the last update (call at rollout end)."""
        if self.frozen or not len(self.log):
            return {}
        batch = self.log.pop_all()
        self.last_stats = self.module.train(batch) if self.online else self.module.update(batch)
        return self.last_stats

    def shaping_times(self) -> dict[str, dict[str, float]]:
        """Return the cumulative compute time, ``{term: {"seconds", "steps"}}`` (env-steps)."""
        return {
            self.term_name: {
                "seconds": self.compute_seconds,
                "steps": float(self.compute_steps),
            }
        }

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue with identical bonuses.

        The term pipeline's state (``normalizer``, ``steps``, ``nonfinite_count``,
        ``clamped_count``) sits at the top level next to ``module``, ``episodic`` and
        ``log``, as in checkpoints written before the pipeline existed.
        """
        state = self.pipeline.state_dict()
        state.update(
            module=self.module.state_dict(),
            episodic=self.module.episodic_state_dict(self.episodic),
            log=self.log.state_dict(),
        )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict` (older checkpoints load too)."""
        self.pipeline.load_state_dict(state)
        self.module.load_state_dict(state["module"])
        self.episodic = self.module.load_episodic_state(state["episodic"])
        self.log.load_state_dict(state["log"])
