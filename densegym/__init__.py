"""densegym: swappable reward shaping for sparse-reward Gymnasium tasks.

Importing the package registers every densegym environment id with Gymnasium and
does nothing else; heavy dependencies (NLE, torch models, LLMs) load where used.

Example:
    >>> import gymnasium as gym
    >>> import densegym
    >>> env = gym.make("densegym/MountainCarSparse-v0", shaping="potential")
    >>> obs, info = env.reset(seed=0)
    >>> sorted(env.step(0)[4]["reward_terms"])
    ['extrinsic', 'potential']
"""

from typing import Any

from densegym._version import __version__
from densegym.registration import ENV_IDS, register_envs
from densegym.registry import load_entry_point

register_envs()


def make_parallel(env_id: str, shaping: Any = None, **kwargs: Any) -> Any:
    """Make a multi-agent id (a PettingZoo ``ParallelEnv``) with per-agent/team shaping.

    The composition root :func:`densegym.make.make_parallel`, named by string as the
    registry names ``make_env``, so this core module imports no higher layer.
    """
    return load_entry_point("densegym.make:make_parallel")(env_id, shaping=shaping, **kwargs)


__all__ = ["ENV_IDS", "__version__", "make_parallel", "register_envs"]
