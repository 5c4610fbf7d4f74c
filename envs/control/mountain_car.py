"""MountainCar with a purely sparse reward."""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

MIN_POSITION, MAX_POSITION = -1.2, 0.6
MAX_SPEED = 0.07
GOAL_POSITION = 0.5
FORCE, GRAVITY = 0.001, 0.0025


class MountainCarSparseEnv(gym.Env):
    """Drive an under-powered car up a hill; the only reward is reaching the flag.

    ## Description
    The classic MountainCar dynamics (Moore, 1990), with the per-step −1 removed: the
    reward is 1 when the car reaches the flag and 0 otherwise, so random exploration
    almost never sees a reward. This is the canonical testbed for shaping.

    ## Observation Space
    ``Box([-1.2, -0.07], [0.6, 0.07], (2,), float32)``: position and velocity.

    ## Action Space
    ``Discrete(3)``: 0 accelerate left, 1 coast, 2 accelerate right.

    ## Rewards
    1.0 on the step the car reaches position ≥ 0.5, else 0.0.

    ## Termination
    Terminates on reaching the flag. The registered spec truncates after 200 steps.
    ``info["is_success"]`` is reported at every step (True only on success).

    ## Registered Configurations
    ``densegym/MountainCarSparse-v0``.

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/MountainCarSparse-v0")
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape, int(env.action_space.n)
        ((2,), 3)
    """

    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 30}
    default_potential = "mountaincar_energy"

    def __init__(
        self, render_mode: str | None = None, position_bins: int = 18, velocity_bins: int = 14
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        self.render_mode = render_mode
        self.position_bins = int(position_bins)
        self.velocity_bins = int(velocity_bins)
        low = np.array([MIN_POSITION, -MAX_SPEED], dtype=np.float32)
        high = np.array([MAX_POSITION, MAX_SPEED], dtype=np.float32)
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self.action_space = spaces.Discrete(3)
        self.task = {
            "id": "MountainCarSparse",
            "goal": "Drive the car to the flag at position >= 0.5 on the right hill.",
            "observation": {
                "obs[0]": "position in [-1.2, 0.6]; the valley bottom is near -0.52",
                "obs[1]": "velocity in [-0.07, 0.07]; positive is to the right",
            },
            "actions": {0: "accelerate left", 1: "coast", 2: "accelerate right"},
            "reward": "1 on reaching the flag, 0 otherwise",
            "info": {"is_success": "bool, True once the flag is reached"},
        }
        self.state = np.zeros(2, dtype=np.float64)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start in the valley at a random position in [-0.6, -0.4] with zero velocity."""
        super().reset(seed=seed)
        self.state = np.array([self.np_random.uniform(-0.6, -0.4), 0.0])
        return self._obs(), {"is_success": False}

    def step(self, action: int):
        """Apply the action for one physics tick."""
        if not self.action_space.contains(action):
            raise ValueError(f"invalid action {action!r} for {self.action_space}")
        position, velocity = self.state
        velocity += (int(action) - 1) * FORCE - math.cos(3 * position) * GRAVITY
        velocity = min(max(velocity, -MAX_SPEED), MAX_SPEED)
        position = min(max(position + velocity, MIN_POSITION), MAX_POSITION)
        if position == MIN_POSITION and velocity < 0:
            velocity = 0.0
        self.state = np.array([position, velocity])
        success = bool(position >= GOAL_POSITION)
        return self._obs(), float(success), success, False, {"is_success": success}

    def state_key(self, obs: np.ndarray) -> tuple[int, int]:
        """Discretised (position, velocity) cell, the key count bonuses use."""
        p = (float(obs[0]) - MIN_POSITION) / (MAX_POSITION - MIN_POSITION)
        v = (float(obs[1]) + MAX_SPEED) / (2 * MAX_SPEED)
        return (
            min(int(p * self.position_bins), self.position_bins - 1),
            min(int(v * self.velocity_bins), self.velocity_bins - 1),
        )

    def render(self):
        """Render the hill and the car (``rgb_array``) or a one-line text (``ansi``)."""
        if self.render_mode == "ansi":
            return f"position={self.state[0]:+.3f} velocity={self.state[1]:+.4f}"
        if self.render_mode != "rgb_array":
            return None
        height, width = 120, 180
        frame = np.full((height, width, 3), 255, dtype=np.uint8)
        xs = np.linspace(MIN_POSITION, MAX_POSITION, width)
        ys = ((np.sin(3 * xs) + 1) / 2 * (height - 20) + 10).astype(int)
        frame[height - 1 - ys, np.arange(width)] = (0, 0, 0)
        flag_col = int((GOAL_POSITION - MIN_POSITION) / (MAX_POSITION - MIN_POSITION) * (width - 1))
        frame[5:25, flag_col] = (200, 0, 0)
        col = int((self.state[0] - MIN_POSITION) / (MAX_POSITION - MIN_POSITION) * (width - 1))
        row = height - 1 - ys[col]
        frame[max(row - 6, 0) : row, max(col - 3, 0) : col + 4] = (0, 0, 200)
        return frame

    def _obs(self) -> np.ndarray:
        return self.state.astype(np.float32)
