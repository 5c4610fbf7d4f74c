"""The ``gym.make`` entry point of every densegym id: a composition root.

:func:`make_env` assembles the layers — the base env (``densegym.envs``), an optional text
view (``densegym.envs.adapters``) and the requested shaping (``densegym.rewards``) — so it
sits above them all, like the CLI. The registry data (which ids exist, their base classes and
defaults) stays in the core module :mod:`densegym.registration`, which only names this
function by its ``"densegym.make:make_env"`` string.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from densegym.envs.adapters.views import apply_view
from densegym.registry import load_entry_point
from densegym.rewards import apply_shaping

__all__ = ["make_env", "make_parallel", "make_parallel_env"]


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

    Raises:
        TypeError: the env class does not support the requested ``render_mode``.

    Example:
        >>> env = make_env("densegym.envs.control.mountain_car:MountainCarSparseEnv",
        ...                shaping={"id": "step_penalty", "coef": 0.5})
        >>> type(env).__name__
        'StepPenalty'
    """
    env_cls = load_entry_point(base)
    render_mode = kwargs.get("render_mode")
    if render_mode not in (None, *getattr(env_cls, "metadata", {}).get("render_modes", [])):
        # An unsupported render_mode is an argument the env does not take: SB3's
        # make_vec_env asks for "rgb_array" and retries without it on a TypeError.
        raise TypeError(f"{base} has no render_mode {render_mode!r}")
    env = env_cls(**kwargs)
    if view is not None:
        env = apply_view(env, view)
    return apply_shaping(env, shaping)


def make_parallel_env(base: str, shaping: Any = None, **kwargs: Any) -> Any:
    """Build a base multi-agent env (a PettingZoo ``ParallelEnv``), then its shaping.

    This is the entry point of every multi-agent id in PettingZoo's registry; users call
    :func:`make_parallel` (or ``pettingzoo.make("parallel", id, shaping=...)``).

    Args:
        base: ``"module:Class"`` of the base parallel env.
        shaping: ``None``, a shaper name, a spec dict or a list of those; each entry may
            carry ``"scope": "agent"`` (default) or ``"team"`` (see
            :mod:`densegym.rewards.multiagent`).
        **kwargs: passed to the base env's constructor (``max_cycles`` included).

    Returns:
        The parallel env, wrapped in a
        :class:`~densegym.rewards.multiagent.ParallelShaping` when shaping is requested.
    """
    from densegym.rewards import normalize_spec

    env = load_entry_point(base)(**kwargs)
    if not normalize_spec(shaping):
        return env
    from densegym.rewards.multiagent import ParallelShaping

    return ParallelShaping(env, shaping)


def make_parallel(env_id: str, shaping: Any = None, **kwargs: Any) -> Any:
    """Make a registered multi-agent id (PettingZoo's registry) with the requested shaping.

    Args:
        env_id: e.g. ``"densegym/MA-SwitchDoor-N2-S7-v0"``.
        shaping: a shaping spec; entries may name a ``scope`` (``"agent"``, ``"team"``).
        **kwargs: env kwargs, e.g. ``max_cycles`` (overrides the registered limit).

    Raises:
        gymnasium.error.DependencyNotInstalled: PettingZoo is missing (the message gives
            the install command).

    Example:
        >>> env = make_parallel("densegym/MA-SwitchDoor-N2-S7-v0",
        ...                     shaping={"id": "potential", "scope": "team"})
        >>> obs, infos = env.reset(seed=0)
        >>> env.max_cycles, sorted(obs)
        (50, ['agent_0', 'agent_1'])
    """
    try:
        import pettingzoo
    except ImportError as error:
        raise gym.error.DependencyNotInstalled(
            f"{env_id} needs PettingZoo: pip install -e '.[multiagent]'"
        ) from error
    from densegym.registration import register_parallel_envs

    register_parallel_envs()
    return pettingzoo.make("parallel", env_id, shaping=shaping, **kwargs)
