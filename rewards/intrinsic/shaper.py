"""The per-env wrapper form of every learned intrinsic bonus.

:class:`IntrinsicShaper` feeds each step to its :class:`IntrinsicModule` as a batch of
one, logs the transition and, while learning online, trains the module every
``update_every`` steps on the transitions logged since the last update (so the
per-step cost stays a forward pass). Subclasses only declare their keyword arguments
(the registry and the spec read them) and which module class they build.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Hashable
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from densegym.protocols import HasStateKey
from densegym.rewards.core import LearnedShaper, Transition
from densegym.rewards.intrinsic.base import IntrinsicModule, default_state_key
from densegym.rewards.intrinsic.batches import TransitionLog, batch_of_one

#: Keyword arguments that configure the wrapper; every other one configures the module.
WRAPPER_KWARGS = frozenset(
    {"key", "update_every", "coef_decay", "online", "coef", "normalize", "clip", "name"}
)


def resolve_state_key(env: gym.Env | None, key: str) -> Callable[[Any], Hashable]:
    """Return the key function for ``key``: the env's own ``state_key`` or a byte digest."""
    if key not in ("env", "observation"):
        raise ValueError(f"key must be 'env' or 'observation', got {key!r}")
    if key == "env" and env is not None and isinstance(env.unwrapped, HasStateKey):
        return env.unwrapped.state_key
    return default_state_key


def positive_int(value: Any, arg: str) -> int:
    """Check that ``value`` is an integer ≥ 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{arg} must be a positive integer, got {value!r}")
    return value


class IntrinsicShaper(LearnedShaper):
    """Base of the per-env learned intrinsic shapers (``rnd``, ``icm``, ``e3b``, ...).

    Args:
        env: environment to wrap.
        key: state key for count-style parts: ``"env"`` (the env's ``state_key``) or
            ``"observation"`` (a digest of the observation bytes).
        update_every: while learning online, train every this many steps on the
            transitions seen since the last update.
        coef_decay: optional decay of ``coef`` over this shaper's steps, see
            :class:`~densegym.rewards.terms.CoefSchedule` (the term pipeline owns the
            step counter; :attr:`coef` reads the weight of the next step).
        online: train from the steps this wrapper sees; else log them until
            :meth:`train_pending` (e.g. an SB3 callback at rollout end) or hand
            batches to :meth:`update`.
        coef, normalize, clip, name: see :class:`~densegym.rewards.ShapedReward`.
        **module_kwargs: the module's own hyper-parameters (subclasses list them).

    Example:
        >>> import gymnasium as gym, densegym
        >>> from densegym.rewards import find_shapers
        >>> env = gym.make("densegym/MountainCarSparse-v0",
        ...                shaping={"id": "e3b", "update_every": 4})
        >>> _ = env.reset(seed=0)
        >>> for _ in range(4):
        ...     _ = env.step(2)
        >>> shaper = find_shapers(env)[0]
        >>> isinstance(shaper, IntrinsicShaper), sorted(shaper.last_stats)
        (True, ['loss', 'samples', 'skipped_nonfinite'])
    """

    #: The module class that computes and learns this bonus.
    module_cls: ClassVar[type[IntrinsicModule]]
    #: Its networks encode the observations.
    requires = ("ArrayObservations",)

    def __init__(
        self,
        env: gym.Env,
        *,
        key: str = "env",
        update_every: int = 64,
        coef_decay: dict[str, Any] | None = None,
        online: bool = True,
        coef: float = 0.05,
        normalize: bool = False,
        clip: float | tuple[float, float] | None = None,
        name: str | None = None,
        **module_kwargs: Any,
    ):
        super().__init__(
            env,
            online=online,
            coef=coef,
            coef_decay=coef_decay,
            normalize=normalize,
            clip=clip,
            name=name,
        )
        self.update_every = positive_int(update_every, "update_every")
        self.module = self.build_module(
            env.observation_space, env.action_space, resolve_state_key(env, key), module_kwargs
        )
        self.log = TransitionLog()
        self.episodic = self.module.new_episodic(1)
        self.last_stats: dict[str, float] = {}

    # -- construction shared with the vectorised form -------------------------------
    @classmethod
    def split_kwargs(cls, kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Complete ``kwargs`` with this class's defaults; split wrapper from module kwargs.

        Raises:
            TypeError: an argument this shaper does not accept.
        """
        params = inspect.signature(cls.__init__).parameters
        accepted = {
            name: p.default
            for name, p in params.items()
            if name not in ("self", "env") and p.kind is inspect.Parameter.KEYWORD_ONLY
        }
        for arg in kwargs:
            if arg not in accepted:
                raise TypeError(
                    f"shaper {cls.registry_name!r} got an unexpected argument {arg!r}; "
                    f"it accepts: {', '.join(accepted)}"
                )
        full = {**accepted, **kwargs}
        wrapper = {k: v for k, v in full.items() if k in WRAPPER_KWARGS}
        module = {k: v for k, v in full.items() if k not in WRAPPER_KWARGS}
        return wrapper, module

    @classmethod
    def build_module(
        cls,
        observation_space: gym.Space,
        action_space: gym.Space,
        state_key: Callable[[Any], Hashable],
        module_kwargs: dict[str, Any],
    ) -> IntrinsicModule:
        """Build this shaper's module from its module kwargs."""
        kwargs = dict(module_kwargs)
        if cls.module_cls.needs_state_key:
            kwargs["state_key"] = state_key
        return cls.module_cls(observation_space, action_space, **kwargs)

    # -- the per-step term ------------------------------------------------------------
    def on_reset(self, obs: Any, info: dict[str, Any]) -> None:
        """Start a fresh episodic state from the first observation."""
        first = batch_of_one(obs)
        if self.learning:
            self.module.observe(first)
        self.episodic = self.module.new_episodic(1)
        self.module.reset_episodic(self.episodic, np.zeros(1, dtype=np.int64), first)

    def reward_term(self, transition: Transition) -> float:
        """Return the module's bonus for this transition; log it and train when due."""
        obs, next_obs = batch_of_one(transition.obs), batch_of_one(transition.next_obs)
        actions = np.asarray([transition.action])
        if self.learning:
            self.module.observe(next_obs)
        raw = float(self.module.bonus(obs, actions, next_obs, self.episodic)[0])
        if self.keeps_log:
            self.log.add(obs, actions, next_obs)
            if self.online and len(self.log) >= self.update_every:
                self.last_stats = self.module.train(self.log.pop_all())
        return raw

    @property
    def keeps_log(self) -> bool:
        """Whether this step's transition is logged for training.

        Not while frozen, nor while learning online a module with nothing to train
        (counts learn in ``observe``).
        """
        return not self.frozen and (self.module.trains or not self.online)

    # -- learned-module interface ---------------------------------------------------------
    def update(self, batch: dict[str, Any]) -> dict[str, float]:
        """Learn from ``{"obs", "actions", "next_obs"}`` batches gathered elsewhere."""
        if self.frozen:
            return {}
        self.last_stats = self.module.update(batch)
        return self.last_stats

    def train_pending(self) -> dict[str, float]:
        """Train on the transitions logged since the last update (for rollout-end callbacks)."""
        if self.frozen or not len(self.log):
            return {}
        batch = self.log.pop_all()
        # Online learners already observed these states step by step.
        self.last_stats = self.module.train(batch) if self.online else self.module.update(batch)
        return self.last_stats

    def state_dict(self) -> dict[str, Any]:
        """Return the term pipeline's state (incl. ``steps``), module, episodic state and log."""
        state = super().state_dict()
        state.update(
            module=self.module.state_dict(),
            episodic=self.module.episodic_state_dict(self.episodic),
            log=self.log.state_dict(),
        )
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state saved by :meth:`state_dict`."""
        super().load_state_dict(state)
        self.module.load_state_dict(state["module"])
        self.episodic = self.module.load_episodic_state(state["episodic"])
        self.log.load_state_dict(state["log"])
