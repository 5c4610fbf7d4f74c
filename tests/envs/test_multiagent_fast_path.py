"""The fast path of multi-agent shaping pays exactly what the slow, obvious computation pays.

:class:`~densegym.rewards.multiagent.ParallelShaping` runs ``count`` and ``potential``
through inline kernels (no transition, no team ``state()`` for an obs-free potential),
and the envs read their potentials and keys through cheaper code. Every number must stay
bit-identical: here against (1) the same shapers stepped as Gym wrapper chains on their
views (their own ``reward_term``), and (2) references written out by hand from the envs'
public state (γΦ(s′) − Φ(s) with Φ from a brute-force assignment / numpy distances,
``1/sqrt(n)`` over a dict keyed by the agent's cell and flags), over a few hundred random
steps on each multi-agent env family.
"""

from __future__ import annotations

import importlib.util
import itertools
import math

import numpy as np
import pytest

pytest.importorskip("pettingzoo")

import densegym  # noqa: E402
from densegym.rewards.multiagent import ParallelShaping, term_kernel  # noqa: E402

HAS_MPE2 = importlib.util.find_spec("mpe2") is not None
GRID_IDS = ["densegym/MA-SwitchDoor-N2-S7-v0", "densegym/MA-GridSpread-N2-S6-v0"]
ENV_IDS = [
    *GRID_IDS,
    pytest.param(
        "densegym/MA-SparseSpread-v0",
        marks=pytest.mark.skipif(not HAS_MPE2, reason="needs mpe2"),
    ),
]
SPECS = [
    {"id": "count"},
    {"id": "potential", "scope": "team"},
    {"id": "potential"},
    {"id": "count", "scope": "team", "coef": 0.2},
    [
        {"id": "potential", "scope": "team", "normalize": True, "clip": 0.5},
        {"id": "count", "mode": "first_visit", "coef_decay": {"kind": "linear", "steps": 50}},
        {"id": "potential", "name": "own", "coef": 2.0, "gamma": 0.9},
    ],
    pytest.param(
        [
            {"id": "count", "mode": "episodic", "coef": 1e7},  # clamped by the weighted bound
            {"id": "step_penalty", "scope": "team", "penalty": 0.01},  # no kernel: reward_term
        ],
        id="clamped-count+team-step_penalty",
        marks=pytest.mark.filterwarnings("ignore:shaper 'count'.*clamped:RuntimeWarning"),
    ),
]
INFO_KEYS = ("reward_terms", "reward_terms_nonfinite", "reward_terms_clamped")


def _steps(env_id: str, n_steps: int, seed: int = 0):
    """Random joint actions for ``n_steps`` joint steps, resetting at each episode's end."""
    rng = np.random.default_rng(seed)
    n_agents = len(densegym.make_parallel(env_id).possible_agents)
    return rng.integers(0, 5, size=(n_steps, n_agents)).tolist()


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("shaping", SPECS, ids=lambda s: str(s)[:60])
def test_fast_path_matches_the_wrapper_chains(env_id, shaping):
    """Kernels and the light team step pay what the shapers' own ``reward_term`` pays."""
    fast = densegym.make_parallel(env_id, shaping=shaping, max_cycles=25)
    chain = densegym.make_parallel(env_id, shaping=shaping, max_cycles=25)
    chain._agent_flat = dict.fromkeys(chain._agent_flat)  # None: step each stack as a chain
    chain._team_flat = None
    agents = list(fast.possible_agents)
    episode = 0
    fast.reset(seed=episode)
    chain.reset(seed=episode)
    for row in _steps(env_id, 300):
        joint = dict(zip(agents, row))
        f_obs, f_rew, f_term, f_trunc, f_info = fast.step(joint)
        c_obs, c_rew, c_term, c_trunc, c_info = chain.step(joint)
        assert f_rew == c_rew
        assert all(type(v) is float for v in f_rew.values())
        assert (f_term, f_trunc) == (c_term, c_trunc)
        for agent in f_rew:
            np.testing.assert_array_equal(f_obs[agent], c_obs[agent])
            for key in INFO_KEYS:
                assert f_info[agent][key] == c_info[agent][key]
                assert list(f_info[agent][key]) == list(c_info[agent][key])
            assert f_rew[agent] == sum(f_info[agent]["reward_terms"].values())
        if not fast.agents:
            assert not chain.agents
            episode += 1
            fast.reset(seed=episode)
            chain.reset(seed=episode)
    assert episode >= 8
    for (owner, f_stack), c_stack in zip(fast.shapers().items(), chain.shapers().values()):
        for f_shaper, c_shaper in zip(f_stack, c_stack):
            assert f_shaper.pipeline.state_dict() == c_shaper.pipeline.state_dict(), owner
            assert f_shaper.compute_steps == c_shaper.compute_steps


def _brute_team_progress(base) -> float:
    """The team potential from the env's public state, the obvious way."""
    if hasattr(base, "world"):  # MPE: −Σ over landmarks of the nearest agent (numpy)
        agents = np.array([a.state.p_pos for a in base.world.agents])
        marks = np.array([m.state.p_pos for m in base.world.landmarks])
        gaps = np.linalg.norm(marks[:, None, :] - agents[None, :, :], axis=-1)
        return -float(gaps.min(axis=1).sum())
    if hasattr(base, "door_open"):  # SwitchDoor
        if base.door_open:
            return 0.5 + 0.5 * max(base._goal_grid[r][c] for r, c in base.positions)
        grids, scale = base._closed_grids, 0.5
    else:  # GridSpread
        grids, scale = base._grids, 1.0
    best = 0.0
    for order in itertools.permutations(range(base.n_agents), len(grids)):
        total = 0.0
        for a, grid in zip(order, grids):
            row, col = base.positions[a]
            total += grid[row][col]
        best = max(best, total / len(grids))
    return scale * best


def _brute_key(base, agent: str) -> tuple[int, ...]:
    """An agent's count key from the env's state, not from its observation."""
    i = base.possible_agents.index(agent)
    if hasattr(base, "world"):
        x, y = (float(v) for v in base.world.agents[i].state.p_pos)
        return (math.floor(x / 0.2), math.floor(y / 0.2))
    flags = [int(v > 0.5) for v in base._flags]
    return (*base.positions[i], *flags)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_team_potential_and_agent_counts_match_a_hand_computed_reference(env_id):
    """γΦ(s′) − Φ(s) on a brute-force team Φ, and 1/sqrt(n) per agent over its own dict."""
    gamma, coef = 0.97, 0.3
    env = densegym.make_parallel(
        env_id,
        shaping=[
            {"id": "count", "coef": coef},
            {"id": "potential", "scope": "team", "gamma": gamma},
        ],
        max_cycles=25,
    )
    base = env.unwrapped
    agents = list(env.possible_agents)
    counts: dict[str, dict[tuple[int, ...], int]] = {a: {} for a in agents}
    episode = 0
    env.reset(seed=episode)
    phi = _brute_team_progress(base)
    for agent in agents:  # the first observation is counted at reset
        key = _brute_key(base, agent)
        counts[agent][key] = counts[agent].get(key, 0) + 1
    checked = 0
    for row in _steps(env_id, 400, seed=1):
        _, rewards, terminations, _, infos = env.step(dict(zip(agents, row)))
        terminated = all(terminations.values())
        phi_next = 0.0 if terminated else _brute_team_progress(base)
        potential = gamma * phi_next - phi
        phi = phi_next
        for agent in agents:
            key = _brute_key(base, agent)
            n = counts[agent][key] = counts[agent].get(key, 0) + 1
            terms = infos[agent]["reward_terms"]
            assert terms["potential"] == potential
            assert terms["count"] == coef * (1.0 / math.sqrt(n))
            assert rewards[agent] == terms["extrinsic"] + terms["count"] + terms["potential"]
            checked += 1
        if not env.agents:
            episode += 1
            env.reset(seed=episode)
            phi = _brute_team_progress(base)
            for agent in agents:
                key = _brute_key(base, agent)
                counts[agent][key] = counts[agent].get(key, 0) + 1
    assert checked == 400 * len(agents)
    tables = {owner: stack[0].counts for owner, stack in env.shapers().items() if owner != "team"}
    assert tables == counts


def test_team_light_path_skips_state_and_kernels_are_exact_classes():
    """An obs-free team potential never builds ``state()``; other shapers keep their own path."""
    env = densegym.make_parallel(GRID_IDS[0], shaping={"id": "potential", "scope": "team"})
    assert isinstance(env, ParallelShaping) and env._team_light
    calls = []
    base = env.unwrapped
    real_state = base.state
    base.state = lambda: calls.append(1) or real_state()
    env.reset(seed=0)
    calls.clear()
    for _ in range(5):
        env.step({a: 1 for a in env.agents})
    assert calls == []
    mixed = densegym.make_parallel(
        GRID_IDS[0],
        shaping=[{"id": "count", "scope": "team"}, {"id": "step_penalty", "penalty": 0.1}],
    )
    assert not mixed._team_light
    (penalty,) = mixed.shapers()["agent_0"]
    assert term_kernel(penalty) == (None, True)


@pytest.mark.parametrize("copier", ["pickle", "deepcopy"])
def test_copies_build_their_own_kernels(copier):
    """A pickled or deep-copied wrapper pays from its own shapers, never the original's."""
    import copy
    import pickle

    env = densegym.make_parallel(
        GRID_IDS[0], shaping=[{"id": "count", "coef": 1.0}, {"id": "potential", "scope": "team"}]
    )
    env.reset(seed=0)
    env.step({"agent_0": 2, "agent_1": 2})
    twin = pickle.loads(pickle.dumps(env)) if copier == "pickle" else copy.deepcopy(env)
    assert twin._team_light
    for agent, (term,) in twin._agent_flat.items():
        assert term.shaper is twin.shapers()[agent][0]
    joint = {"agent_0": 0, "agent_1": 0}
    for _ in range(3):
        assert env.step(joint)[1] == twin.step(joint)[1]
    before = dict(twin.shapers()["agent_0"][0].counts)
    env.step(joint)  # the original moves on; the copy's table stays put
    assert twin.shapers()["agent_0"][0].counts == before
