"""Potential-based shaping: telescoping, policy invariance, the per-env potentials."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

from densegym.rewards import find_shapers
from densegym.rewards import potential as potentials
from densegym.rewards.potential import PotentialShaping, register_potential

MOUNTAIN_CAR = "densegym/MountainCarSparse-v0"
ROOM = "densegym/MiniHack-Room-5x5-v0"


def _pump(obs) -> int:
    """Energy pumping: push in the direction of motion."""
    return 2 if obs[1] >= 0 else 0


def _episode(env: gym.Env, seed: int, policy, phi):
    """Run one episode; return (Φ(s_0), Φ(s_T), shaping terms, terminated, infos).

    Φ is evaluated when each state is current: MiniHack's potential reads the game state.
    """
    obs, _ = env.reset(seed=seed)
    phi_0, terms, infos = phi(env.unwrapped, obs), [], []
    while True:
        obs, _, terminated, truncated, info = env.step(policy(obs))
        terms.append(info["reward_terms"]["potential"])
        infos.append(info)
        if terminated or truncated:
            return phi_0, phi(env.unwrapped, obs), np.array(terms), terminated, infos


@pytest.mark.parametrize("gamma", [0.99, 0.9, 1.0])
@pytest.mark.parametrize(
    ("env_id", "policy_name"),
    [(MOUNTAIN_CAR, "pump"), (MOUNTAIN_CAR, "coast"), (ROOM, "random")],
)
def test_potential_shaping_telescopes(env_id, policy_name, gamma):
    env = gym.make(env_id, shaping={"id": "potential", "gamma": gamma})
    phi = potentials.get_potential(env.unwrapped.default_potential)
    rng = np.random.default_rng(0)
    policy = {
        "pump": _pump,
        "coast": lambda obs: 1,
        "random": lambda obs: int(rng.integers(env.action_space.n)),
    }[policy_name]
    phi_0, phi_last, terms, terminated, infos = _episode(env, seed=4, policy=policy, phi=phi)

    if policy_name == "pump":
        assert terminated and infos[-1]["is_success"] and len(terms) < 200
    if policy_name == "coast":
        assert not terminated and len(terms) == 200  # truncated by the registered time limit
    steps = len(terms)
    phi_T = 0.0 if terminated else phi_last
    discounted = sum(gamma**t * f for t, f in enumerate(terms))
    assert discounted == pytest.approx(gamma**steps * phi_T - phi_0, abs=1e-9)
    assert np.any(np.abs(terms) > 1e-4)
    env.close()


def test_mountain_car_potentials():
    env = gym.make(MOUNTAIN_CAR)
    energy = potentials.get_potential("mountaincar_energy")
    height = potentials.get_potential("mountaincar_height")
    valley = np.array([-math.pi / 6, 0.0], dtype=np.float32)  # sin(3x) = -1
    flag = np.array([0.5, 0.0], dtype=np.float32)
    assert energy(env.unwrapped, valley) == pytest.approx(0.0, abs=1e-6)
    assert energy(env.unwrapped, flag) == pytest.approx(1.0, abs=1e-6)
    assert height(env.unwrapped, valley) == pytest.approx(0.0, abs=1e-6)
    assert height(env.unwrapped, flag) == pytest.approx(1.0, abs=1e-6)
    moving = np.array([-math.pi / 6, 0.05], dtype=np.float32)
    assert energy(env.unwrapped, moving) > energy(env.unwrapped, valley)
    assert height(env.unwrapped, moving) == height(env.unwrapped, valley)


def test_named_potential_is_used():
    env = gym.make(MOUNTAIN_CAR, shaping={"id": "potential", "potential": "mountaincar_height"})
    obs, _ = env.reset(seed=0)
    height = potentials.get_potential("mountaincar_height")
    (shaper,) = find_shapers(env)
    assert shaper.potential_name == "mountaincar_height"
    next_obs, _, _, _, info = env.step(2)
    expected = 0.99 * height(None, next_obs) - height(None, obs)
    assert info["reward_terms"]["potential"] == pytest.approx(expected, abs=1e-12)


# -- policy invariance on a small tabular MDP ---------------------------------------------

SIZE = 4
GOAL, PIT = 15, 6
MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))  # up, right, down, left


class GridMDP(gym.Env):
    """A deterministic 4x4 grid: +1 at the goal (terminal), -1 in a pit (terminal)."""

    def __init__(self):
        self.observation_space = gym.spaces.Discrete(SIZE * SIZE)
        self.action_space = gym.spaces.Discrete(4)
        self.state = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.state = int((options or {}).get("state", 0))
        return self.state, {}

    def step(self, action):
        row, col = divmod(self.state, SIZE)
        d_row, d_col = MOVES[int(action)]
        row = min(max(row + d_row, 0), SIZE - 1)
        col = min(max(col + d_col, 0), SIZE - 1)
        self.state = row * SIZE + col
        reward = {GOAL: 1.0, PIT: -1.0}.get(self.state, 0.0)
        return self.state, reward, self.state in (GOAL, PIT), False, {}


# An arbitrary potential, large enough to change myopic choices; nonzero at the terminal
# states too (the shaper must treat Φ(terminal) as 0).
PHI_TABLE = np.random.default_rng(3).uniform(-5.0, 5.0, SIZE * SIZE)


@pytest.fixture
def grid_potential():
    register_potential("test_grid_phi", lambda env, obs: float(PHI_TABLE[int(obs)]))
    yield "test_grid_phi"
    potentials._POTENTIALS.pop("test_grid_phi", None)


def _tabulate(env: gym.Env, term: str | None):
    """Rewards, next states and terminal flags of every (s, a), read through the wrapper."""
    n_states, n_actions = env.observation_space.n, env.action_space.n
    rewards = np.zeros((n_states, n_actions))
    nexts = np.zeros((n_states, n_actions), dtype=int)
    done = np.zeros((n_states, n_actions), dtype=bool)
    for s in range(n_states):
        if s in (GOAL, PIT):
            continue
        for a in range(n_actions):
            env.reset(options={"state": s})
            nexts[s, a], reward, done[s, a], _, info = env.step(a)
            if term is not None:
                terms = info["reward_terms"]
                assert reward == pytest.approx(sum(terms.values()), abs=1e-12)
                assert terms["extrinsic"] == {GOAL: 1.0, PIT: -1.0}.get(int(nexts[s, a]), 0.0)
            rewards[s, a] = reward
    return rewards, nexts, done


def _value_iteration(rewards, nexts, done, gamma, tol=1e-13):
    q = np.zeros_like(rewards)
    for _ in range(10_000):
        v = q.max(axis=1)
        v[[GOAL, PIT]] = 0.0
        new_q = rewards + gamma * np.where(done, 0.0, v[nexts])
        new_q[[GOAL, PIT]] = 0.0
        if np.abs(new_q - q).max() < tol:
            return new_q
        q = new_q
    raise AssertionError("value iteration did not converge")


def _optimal_actions(q, tol=1e-9):
    return [
        frozenset(np.flatnonzero(q[s] >= q[s].max() - tol).tolist())
        for s in range(len(q))
        if s not in (GOAL, PIT)
    ]


@pytest.mark.parametrize("gamma", [0.9, 0.99])
def test_potential_shaping_leaves_the_optimal_policy_unchanged(grid_potential, gamma):
    plain = _tabulate(GridMDP(), term=None)
    shaped_env = PotentialShaping(GridMDP(), gamma=gamma, potential=grid_potential)
    shaped = _tabulate(shaped_env, term="potential")
    np.testing.assert_array_equal(plain[1], shaped[1])
    np.testing.assert_array_equal(plain[2], shaped[2])

    q = _value_iteration(*plain, gamma)
    q_shaped = _value_iteration(*shaped, gamma)
    assert _optimal_actions(q) == _optimal_actions(q_shaped)
    live = [s for s in range(SIZE * SIZE) if s not in (GOAL, PIT)]
    np.testing.assert_allclose(q_shaped[live], q[live] - PHI_TABLE[live, None], atol=1e-8)

    # The shaping is not trivial: it changes the myopic (one-step) choice somewhere ...
    assert _optimal_actions(plain[0]) != _optimal_actions(shaped[0])
    # ... and a bonus that is not potential-based (+Φ(s') alone) changes the optimal policy.
    bonus = np.where(plain[2], 0.0, PHI_TABLE[plain[1]])
    q_bonus = _value_iteration(plain[0] + bonus, plain[1], plain[2], gamma)
    assert _optimal_actions(q) != _optimal_actions(q_bonus)


# -- the MiniHack goal-distance potential ----------------------------------------------------


def test_goal_distance_potential_rises_towards_the_goal():
    env = gym.make(ROOM, shaping={"id": "potential", "gamma": 1.0})
    obs, _ = env.reset(seed=0)
    game = env.unwrapped
    (shaper,) = find_shapers(env)
    step_size = 1.0 / game.max_distance()
    names = game.action_names
    assert game.goal_distance() == 4  # fixed layout: start top-left, goal bottom-right
    phi = shaper.potential_of(obs)
    assert 0.0 < phi <= 1.0

    plan = [("SE", -1, +1), ("SE", -1, +1), ("NW", +1, -1), ("E", 0, 0), ("W", 0, 0)]
    for action, distance_change, sign in plan:
        before = game.goal_distance()
        obs, _, terminated, _, info = env.step(names.index(action))
        assert not terminated
        assert game.goal_distance() - before == distance_change
        new_phi = shaper.potential_of(obs)
        assert np.sign(round(new_phi - phi, 12)) == sign
        assert info["reward_terms"]["potential"] == pytest.approx(sign * step_size, abs=1e-12)
        phi = new_phi
    env.close()


def test_goal_distance_potential_is_zero_while_the_goal_is_unseen():
    env = gym.make("densegym/MiniHack-KeyRoom-S5-v0", shaping={"id": "potential"})
    obs, _ = env.reset(seed=0)
    game = env.unwrapped
    (shaper,) = find_shapers(env)
    assert game.goal_distance() is None
    assert shaper.potential_of(obs) == 0.0
    rng = np.random.default_rng(0)
    unseen_steps = 0
    for _ in range(30):
        obs, _, terminated, truncated, info = env.step(int(rng.integers(8)))
        if game.goal_distance() is not None or terminated or truncated:
            break
        unseen_steps += 1
        assert shaper.potential_of(obs) == 0.0
        assert info["reward_terms"]["potential"] == 0.0
    assert unseen_steps > 5
    env.close()


def test_potential_cache_resets_with_the_episode():
    env = gym.make(MOUNTAIN_CAR, shaping={"id": "potential", "gamma": 0.9})
    (shaper,) = find_shapers(env)
    obs, _ = env.reset(seed=0)
    for _ in range(60):
        obs, *_ = env.step(_pump(obs))
    start, _ = env.reset(seed=1)
    assert shaper._phi_last == pytest.approx(shaper.potential_of(start))
    next_obs, _, _, _, info = env.step(2)
    expected = 0.9 * shaper.potential_of(next_obs) - shaper.potential_of(start)
    assert info["reward_terms"]["potential"] == pytest.approx(expected, abs=1e-12)

    fresh = gym.make(MOUNTAIN_CAR, shaping={"id": "potential", "gamma": 0.9})
    fresh.reset(seed=1)
    assert fresh.step(2)[4]["reward_terms"] == info["reward_terms"]
