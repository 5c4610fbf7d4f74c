"""The shaping wrapper contract: one named reward term per step, extrinsic kept intact."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym

from densegym.rewards.terms import (
    TERM_BOUND,
    PipelineOwner,
    RunningMeanStd,
    TermPipeline,
    parse_clip,
)

__all__ = [
    "TERM_BOUND",
    "LearnedShaper",
    "RunningMeanStd",
    "ShapedReward",
    "TermPipeline",
    "Transition",
    "parse_clip",
]


@dataclass
class Transition:
    """What a shaper sees at one step.

    Attributes:
        obs: observation before the action.
        action: the action taken.
        next_obs: observation after the action.
        extrinsic: the task's own reward for this step.
        terminated: whether the episode ended in a terminal state.
        truncated: whether the episode was cut short.
        info: the step's info dict (read-only by convention).
    """

    obs: Any
    action: Any
    next_obs: Any
    extrinsic: float
    terminated: bool
    truncated: bool
    info: dict[str, Any]


class ShapedReward(PipelineOwner, gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Base class of every shaper: adds one named term to the step reward.

    Subclasses implement :meth:`reward_term` (and optionally :meth:`on_reset`). The
    wrapper keeps the task's reward in ``info["reward_terms"]["extrinsic"]``, stores
    its weighted term under its name, and returns ``reward + coef * term`` so the
    returned reward always equals ``sum(info["reward_terms"].values())``.

    Every rule applied to the raw term lives in one
    :class:`~densegym.rewards.terms.TermPipeline` (``self.pipeline``), shared with the
    batched VecEnv form: a non-finite term is replaced by 0, counted in
    ``info["reward_terms_nonfinite"]`` and warned about once; a finite term beyond
    ``±TERM_BOUND`` (1e6) is clamped, counted in ``info["reward_terms_clamped"]`` and
    warned about once; then come normalisation, clipping and the (scheduled) ``coef``.
    The run goes on.

    When an episode ends in an env that reports ``info["is_success"]``, the last step's
    info also carries ``reward_hacking`` (the shaped return, the sum of every reward
    returned this episode, was positive but the task failed) and ``reward_hacking_episodes``
    (how many episodes this wrapper flagged); with stacked shapers the outermost one's
    verdict stands.

    Args:
        env: the environment to wrap.
        coef: weight of the term in the returned reward (read back as :attr:`coef`,
            which follows ``coef_decay``).
        normalize: divide the term by its running standard deviation.
        clip: clip the (normalised) term to ``[-clip, clip]`` or ``[low, high]``.
        name: term name in ``info["reward_terms"]`` (defaults to the registry name).
        coef_decay: optional schedule of ``coef`` over this term's steps, see
            :class:`~densegym.rewards.terms.CoefSchedule`.

    Example:
        >>> import gymnasium as gym, densegym
        >>> from densegym.rewards.penalty import StepPenalty
        >>> env = StepPenalty(gym.make("densegym/MountainCarSparse-v0"), penalty=0.5)
        >>> _ = env.reset(seed=0)
        >>> _, r, _, _, info = env.step(1)
        >>> r, info["reward_terms"]
        (-0.5, {'extrinsic': 0.0, 'step_penalty': -0.5})
    """

    #: Registry name; also the default term name.
    registry_name: ClassVar[str] = "shaped"
    #: Capabilities the env must offer (names from :mod:`densegym.protocols`).
    requires: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def requirements(cls, kwargs: dict[str, Any]) -> tuple[str, ...]:
        """The capabilities this shaper needs when built with ``kwargs`` (its spec, less ``id``).

        Defaults to :attr:`requires`; shapers whose needs depend on the spec override it.
        """
        return cls.requires

    def __init__(
        self,
        env: gym.Env,
        *,
        coef: float = 1.0,
        normalize: bool = False,
        clip: float | tuple[float, float] | None = None,
        name: str | None = None,
        coef_decay: dict[str, Any] | None = None,
    ):
        gym.Wrapper.__init__(self, env)
        if not hasattr(self, "_saved_kwargs"):
            recorded: dict[str, Any] = {"coef": coef, "normalize": normalize, "clip": clip}
            recorded["name"] = name
            if coef_decay is not None:
                recorded["coef_decay"] = coef_decay
            gym.utils.RecordConstructorArgs.__init__(self, **recorded)
        self.term_name = name or self.registry_name
        self.pipeline = TermPipeline(
            self.term_name,
            coef=coef,
            coef_decay=coef_decay,
            normalize=normalize,
            clip=clip,
            owner=self.registry_name,
        )
        self._last_obs: Any = None
        self._episode_return = 0.0
        #: Episodes that ended with a positive shaped return but ``is_success`` false.
        self.reward_hacking_episodes = 0

    def _record_args(self, local_vars: dict[str, Any]) -> None:
        """Record constructor arguments (data only) so the env spec can rebuild us."""
        kwargs = {k: v for k, v in local_vars.items() if k not in ("self", "env", "__class__")}
        gym.utils.RecordConstructorArgs.__init__(self, **kwargs)

    # -- hooks for subclasses -------------------------------------------------
    def reward_term(self, transition: Transition) -> float:
        """Return this shaper's raw term for one transition."""
        raise NotImplementedError

    def on_reset(self, obs: Any, info: dict[str, Any]) -> None:
        """Reset per-episode state; called after the inner env resets."""

    def shaping_times(self) -> dict[str, dict[str, float]]:
        """Return the cumulative compute time of every shaper in this stack, innermost first.

        Timing is kept out of ``info`` (wall-clock values there would make seeded steps
        non-reproducible); with SB3, read it with ``vec_env.env_method("shaping_times")``.

        Returns:
            ``{term: {"seconds": total seconds, "steps": steps timed}}``.
        """
        times: dict[str, dict[str, float]] = {}
        current: Any = self
        while current is not None:
            if isinstance(current, ShapedReward):
                times[current.term_name] = {
                    "seconds": current.compute_seconds,
                    "steps": float(current.compute_steps),
                }
            current = getattr(current, "env", None)
        return dict(reversed(list(times.items())))

    # -- learned-module interface (freeze/unfreeze come from PipelineOwner) ----
    def state_dict(self) -> dict[str, Any]:
        """Return everything needed to reproduce this shaper's future terms.

        The base holds the term pipeline's state (normalisation statistics, schedule
        position ``steps``, non-finite and clamped counters); subclasses add theirs.
        """
        return self.pipeline.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict` (older checkpoints load too)."""
        self.pipeline.load_state_dict(state)

    # -- gymnasium API --------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset the inner env and this shaper's per-episode state."""
        obs, info = self.env.reset(seed=seed, options=options)
        self._last_obs = obs
        self._episode_return = 0.0
        self.on_reset(obs, info)
        return obs, info

    def step(self, action: Any):
        """Step the inner env and add this shaper's weighted term to the reward."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        terms: dict[str, float] = info.setdefault("reward_terms", {"extrinsic": float(reward)})
        transition = Transition(
            obs=self._last_obs,
            action=action,
            next_obs=obs,
            extrinsic=terms["extrinsic"],
            terminated=bool(terminated),
            truncated=bool(truncated),
            info=info,
        )
        pipeline = self.pipeline
        start = time.perf_counter()  # inline, not pipeline.timed(): this is the hot path
        raw = self.reward_term(transition)
        pipeline.compute_seconds += time.perf_counter() - start
        pipeline.compute_steps += 1
        contribution = pipeline.process(raw)
        self.pipeline.write_info(info, contribution)
        self._last_obs = obs
        shaped = float(reward) + contribution
        self._episode_return += shaped
        if (terminated or truncated) and "is_success" in info:
            self._flag_reward_hacking(info)
        return obs, shaped, terminated, truncated, info

    def _flag_reward_hacking(self, info: dict[str, Any]) -> None:
        # Every layer writes the flag at an episode's end; the outermost writes last, so
        # the flag judges the reward the agent was actually paid.
        hacked = self._episode_return > 0 and not info["is_success"]
        self.reward_hacking_episodes += hacked
        info["reward_hacking"] = bool(hacked)
        info["reward_hacking_episodes"] = self.reward_hacking_episodes


class LearnedShaper(ShapedReward):
    """A shaper with state it learns from experience (counts, networks, reward models).

    It trains online from the transitions it sees (``online=True``, the default) or from
    batches handed to :meth:`update` (e.g. by an SB3 callback at rollout end).
    """

    def __init__(self, env: gym.Env, *, online: bool = True, **common: Any):
        super().__init__(env, **common)
        self.online = bool(online)

    def update(self, batch: dict[str, Any]) -> dict[str, float]:
        """Learn from a batch of transitions; return training statistics."""
        raise NotImplementedError

    @property
    def learning(self) -> bool:
        """Whether online updates happen at this step."""
        return self.online and not self.frozen
