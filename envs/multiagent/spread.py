"""MPE cooperative navigation (mpe2's ``simple_spread``) with a sparse team reward."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
from gymnasium.error import DependencyNotInstalled
from pettingzoo import ParallelEnv

#: An agent covers a landmark within this distance (mpe2's own capture radius).
CAPTURE_RADIUS = 0.1
#: Cell size of the per-agent count key (world coordinates span about [-1, 1]).
KEY_CELL = 0.2


def _simple_spread() -> Any:
    try:
        from mpe2 import simple_spread_v3
    except ImportError as error:
        raise DependencyNotInstalled(
            "MA-SparseSpread needs mpe2: pip install -e '.[multiagent]'"
        ) from error
    return simple_spread_v3


class SparseSpreadEnv(ParallelEnv):
    """N agents must cover N landmarks at once; nothing is paid before they do.

    ## Description
    mpe2's ``simple_spread`` (cooperative navigation, Lowe et al. 2017) with its dense
    reward removed: the team is paid once, when every landmark has an agent within 0.1,
    and the episode ends there. The old dense reward, −Σ over landmarks of the nearest
    agent's distance, is offered as a team potential (``progress(None)``) for
    potential-based shaping, never paid by the env. Positions are drawn from the inner
    env's ``np_random``, seeded by ``reset(seed=...)``.

    ## Observation Space
    mpe2's, per agent ``Box(-inf, inf, (4 + 2N + 2(N-1) + 2(N-1),), float32)``: own
    velocity and position, landmarks' and other agents' offsets, their (silent)
    communication. ``state()`` concatenates every agent's observation.

    ## Action Space
    ``Discrete(5)`` per agent: no-op, push left, right, down, up.

    ## Rewards
    Team reward: every agent gets 1.0 on the step every landmark is covered, else 0.0
    (no collision penalty).

    ## Termination
    Every agent terminates on success and is truncated after ``max_cycles`` steps.
    ``infos[agent]["is_success"]`` is the team's success.

    ## Registered Configurations
    ``densegym/MA-SparseSpread-v0`` (N = 2 by default, 50 steps; pass ``N=3``).

    Example:
        >>> env = SparseSpreadEnv(N=2)
        >>> obs, infos = env.reset(seed=0)
        >>> obs["agent_0"].shape, env.state().shape, infos["agent_1"]["is_success"]
        ((12,), (24,), False)
    """

    metadata: ClassVar[dict[str, Any]] = {
        "name": "sparse_spread_v0",
        "render_modes": ["rgb_array"],
        "is_parallelizable": True,
    }
    default_agent_potential: ClassVar[str] = "ma_agent_progress"
    default_team_potential: ClassVar[str] = "ma_team_progress"

    def __init__(self, N: int = 2, max_cycles: int = 50, render_mode: str | None = None):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        self.n_agents = int(N)
        self.max_cycles = int(max_cycles)
        self.render_mode = render_mode
        self._env = _simple_spread().parallel_env(
            N=self.n_agents,
            # This env truncates (max_cycles may change after construction, as PettingZoo's
            # API test does); mpe2's own limit must never come first.
            max_cycles=2**62,
            continuous_actions=False,
            render_mode=render_mode,
        )
        self.possible_agents = list(self._env.possible_agents)
        self.agents: list[str] = []
        self.state_space = self._env.state_space
        self._obs_len = int(self.observation_space(self.possible_agents[0]).shape[0])
        self.cycles = 0
        self.success = False
        self.task = {
            "id": "SparseSpread",
            "goal": "Cooperate: cover every landmark with an agent (within 0.1) at once.",
            "actions": {0: "no-op", 1: "left", 2: "right", 3: "down", 4: "up"},
            "reward": "1 to every agent when every landmark is covered, 0 otherwise",
            "info": {"is_success": "bool, the team's success"},
        }

    def observation_space(self, agent: str) -> Any:
        """mpe2's observation space of ``agent``."""
        return self._env.observation_space(agent)

    def action_space(self, agent: str) -> Any:
        """``Discrete(5)``."""
        return self._env.action_space(agent)

    @property
    def world(self) -> Any:
        """mpe2's world (agents and landmarks with their states)."""
        return self._env.unwrapped.world

    def _min_distances(self) -> np.ndarray:
        agents = np.array([a.state.p_pos for a in self.world.agents])
        landmarks = np.array([lm.state.p_pos for lm in self.world.landmarks])
        gaps = np.linalg.norm(landmarks[:, None, :] - agents[None, :, :], axis=-1)
        return gaps.min(axis=1)

    def _team_distance(self) -> float:
        """Σ over landmarks of the nearest agent's distance, in Python floats.

        The numbers of ``_min_distances().sum()`` (the same products, sums and square
        roots in the same order; a NaN propagates as ``min`` does) at a fifth of the cost:
        team potentials read it every step.
        """
        world = self.world
        agents = [agent.state.p_pos.tolist() for agent in world.agents]
        total = 0.0
        for landmark in world.landmarks:
            lx, ly = landmark.state.p_pos.tolist()
            best = math.inf
            for ax, ay in agents:
                dx, dy = lx - ax, ly - ay
                gap = math.sqrt(dx * dx + dy * dy)
                if gap < best or gap != gap:
                    best = gap
                    if gap != gap:
                        break
            total += best
        return total

    def covered(self) -> list[bool]:
        """Whether each landmark has an agent within the capture radius."""
        return [bool(d < CAPTURE_RADIUS) for d in self._min_distances()]

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset mpe2's world (reseeded when ``seed`` is given)."""
        obs, _ = self._env.reset(seed=seed, options=options)
        self.agents = list(self.possible_agents)
        self.cycles = 0
        self.success = False
        return obs, {agent: {"is_success": False} for agent in self.agents}

    def step(self, actions: dict[str, Any]):
        """Step mpe2's world; pay the team 1.0 and terminate once every landmark is covered."""
        if not self.agents:
            return {}, {}, {}, {}, {}
        full = {agent: actions.get(agent, 0) for agent in self.agents}
        obs, _, _, _, _ = self._env.step(full)
        self.cycles += 1
        self.success = all(self.covered())
        truncate = not self.success and self.cycles >= self.max_cycles
        reward = 1.0 if self.success else 0.0
        live = list(self.agents)
        infos = {
            agent: {"is_success": self.success, "reward_terms": {"extrinsic": reward}}
            for agent in live
        }
        if self.success or truncate:
            self.agents = []
        return (
            {agent: obs[agent] for agent in live},
            dict.fromkeys(live, reward),
            dict.fromkeys(live, self.success),
            dict.fromkeys(live, truncate),
            infos,
        )

    def state(self) -> np.ndarray:
        """Every agent's observation, concatenated (mpe2's state)."""
        return self._env.state()

    def render(self) -> Any:
        """mpe2's rendering (``rgb_array``)."""
        return self._env.render() if self.render_mode is not None else None

    def close(self) -> None:
        """Close mpe2's env (and its pygame window, if any)."""
        self._env.close()

    def progress(self, agent: str | None = None) -> float:
        """Φ: the old dense reward, −Σ over landmarks of the nearest agent's distance (team).

        For one agent: minus its distance to the nearest landmark.
        """
        if agent is None:
            return -self._team_distance()
        own = self.world.agents[self.possible_agents.index(agent)].state.p_pos
        return -min(float(np.linalg.norm(lm.state.p_pos - own)) for lm in self.world.landmarks)

    def state_key(self, obs: np.ndarray) -> tuple[int, int]:
        """One agent's position, in cells of 0.2 (per-agent counts)."""
        return (math.floor(float(obs[2]) / KEY_CELL), math.floor(float(obs[3]) / KEY_CELL))

    def team_state_key(self, state: np.ndarray) -> tuple[int, ...]:
        """Every agent's position, in cells of 0.2 (team counts)."""
        key: list[int] = []
        for i in range(self.n_agents):
            key += self.state_key(state[i * self._obs_len : (i + 1) * self._obs_len])
        return tuple(key)
