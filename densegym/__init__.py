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

from densegym._version import __version__
from densegym.registration import ENV_IDS, register_envs

register_envs()

__all__ = ["ENV_IDS", "__version__", "register_envs"]
