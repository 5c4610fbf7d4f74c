"""Stable-Baselines3 training, callbacks and feature extractors for densegym envs.

This package's ``__init__`` stays light (no SB3 import), so the command line can list
the algorithm names without loading torch.
"""

#: The ``--algo`` names; :data:`densegym.agents.sb3.training.ALGORITHMS` maps each to
#: its SB3 class. ``recurrent_ppo`` is sb3-contrib's PPO with an LSTM policy.
ALGORITHM_NAMES = ("ppo", "a2c", "dqn", "recurrent_ppo")
