"""Registration of every densegym id through one entry point that applies shaping.

Every id's entry point is :func:`make_env`: it builds the base environment named in
the spec, then wraps it with the shapers requested by the ``shaping`` kwarg (data
only, so ``env.spec.to_json()`` round-trips).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

NAMESPACE = "densegym"


@dataclass(frozen=True)
class EnvEntry:
    """One registered densegym id.

    Attributes:
        name: id without namespace or version, e.g. ``"MountainCarSparse"``.
        base: ``"module:Class"`` of the base environment.
        max_episode_steps: time limit applied by ``gym.make``.
        kwargs: default kwargs for the base environment.
        world: which densegym world the env belongs to (for listings).
        extra: the pip extra its dependencies come from (``None`` for core).
    """

    name: str
    base: str
    max_episode_steps: int | None
    kwargs: dict[str, Any] = field(default_factory=dict)
    world: str = "control"
    extra: str | None = None

    @property
    def id(self) -> str:
        """The full Gymnasium id, ``densegym/<name>-v0``."""
        return f"{NAMESPACE}/{self.name}-v0"


def _minihack(task: str, steps: int) -> EnvEntry:
    return EnvEntry(
        name=f"MiniHack-{task}",
        base="densegym.envs.control.minihack:MiniHackNavigation",
        max_episode_steps=steps,
        kwargs={"task": f"MiniHack-{task}-v0"},
        extra="minihack",
    )


# Time limits follow MiniHack's own defaults for each task.
ENTRIES: tuple[EnvEntry, ...] = (
    EnvEntry(
        name="MountainCarSparse",
        base="densegym.envs.control.mountain_car:MountainCarSparseEnv",
        max_episode_steps=200,
    ),
    _minihack("Room-5x5", 100),
    _minihack("Room-15x15", 300),
    _minihack("Room-Dark-15x15", 300),
    _minihack("Corridor-R2", 1000),
    _minihack("Corridor-R3", 1000),
    _minihack("KeyRoom-S5", 200),
    _minihack("KeyRoom-S15", 400),
    _minihack("MultiRoom-N2", 40),
    _minihack("MultiRoom-N4", 120),
    _minihack("MultiRoom-N6", 240),
    _minihack("MultiRoom-N6-OpenDoor", 240),
    _minihack("MultiRoom-N10-OpenDoor", 360),
    _minihack("MultiRoom-N4-Monster", 120),
    _minihack("River", 350),
    # Language reasoning: one step per action; budgets leave room beyond the longest
    # oracle solution (Arithmetic 7+1, WordProblems 8+1, Countdown 5+1 steps).
    EnvEntry(
        name="Arithmetic",
        base="densegym.envs.reasoning.arithmetic:ArithmeticEnv",
        max_episode_steps=16,
        world="reasoning",
    ),
    EnvEntry(
        name="WordProblems",
        base="densegym.envs.reasoning.word_problems:WordProblemsEnv",
        max_episode_steps=16,
        world="reasoning",
    ),
    EnvEntry(
        name="Countdown",
        base="densegym.envs.reasoning.countdown:CountdownEnv",
        max_episode_steps=12,
        world="reasoning",
    ),
    # Needs path= (a GSM8K-format JSONL file); without it gym.make raises a clear error.
    EnvEntry(
        name="GSM8K",
        base="densegym.envs.reasoning.gsm8k:GSM8KEnv",
        max_episode_steps=24,
        world="reasoning",
    ),
)

ENV_IDS: tuple[str, ...] = tuple(entry.id for entry in ENTRIES)


def _load(path: str) -> Any:
    module_name, _, attr = path.partition(":")
    return getattr(importlib.import_module(module_name), attr)


def make_env(base: str, shaping: Any = None, view: Any = None, **kwargs: Any) -> gym.Env:
    """Build a base densegym environment, apply the requested view, then the shaping.

    This is the entry point of every registered id; users call ``gym.make``.

    Args:
        base: ``"module:Class"`` of the base environment.
        shaping: ``None``, a shaper name, a spec dict or a list of those.
        view: ``None``, or a text-adapter spec applied to the base env before shaping
            (text envs: ``"ngram"``, ``"minilm"``, ``{"id": "candidates", "k": 4, ...}``;
            see :mod:`densegym.envs.adapters.views`).
        **kwargs: passed to the base environment's constructor.

    Returns:
        The (possibly shaped) environment.

    Example:
        >>> env = make_env("densegym.envs.control.mountain_car:MountainCarSparseEnv",
        ...                shaping={"id": "step_penalty", "coef": 0.5})
        >>> type(env).__name__
        'StepPenalty'
    """
    from densegym.rewards import apply_shaping

    env_cls = _load(base)
    render_mode = kwargs.get("render_mode")
    if render_mode not in (None, *getattr(env_cls, "metadata", {}).get("render_modes", [])):
        # An unsupported render_mode is an argument the env does not take: SB3's
        # make_vec_env asks for "rgb_array" and retries without it on a TypeError.
        raise TypeError(f"{base} has no render_mode {render_mode!r}")
    env = env_cls(**kwargs)
    if view is not None:
        from densegym.envs.adapters.views import apply_view

        env = apply_view(env, view)
    return apply_shaping(env, shaping)


def register_envs() -> None:
    """Register every densegym id with Gymnasium (idempotent)."""
    for entry in ENTRIES:
        if entry.id in gym.registry:
            continue
        gym.register(
            id=entry.id,
            entry_point="densegym.registration:make_env",
            max_episode_steps=entry.max_episode_steps,
            kwargs={"base": entry.base, **entry.kwargs},
        )
