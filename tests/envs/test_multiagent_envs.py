"""Multi-agent envs: PettingZoo's own test suite, seeding, the oracle teams, registration."""

from __future__ import annotations

import types
import warnings

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("pettingzoo")

import pettingzoo  # noqa: E402
from pettingzoo.test import (  # noqa: E402
    api_test,
    max_cycles_test,
    parallel_api_test,
    parallel_seed_test,
    render_test,
)
from pettingzoo.test.state_test import test_parallel_env as check_parallel_state  # noqa: E402

import densegym  # noqa: E402
from densegym.envs.multiagent.grid import (  # noqa: E402
    GridSpreadEnv,
    SwitchDoorEnv,
    grid_spread_aec,
    switch_door_aec,
)
from densegym.registration import PARALLEL_ENTRIES, PARALLEL_IDS, entry_for  # noqa: E402

GRID_IDS = [i for i in PARALLEL_IDS if "SparseSpread" not in i]
HAS_MPE2 = True
try:
    import mpe2  # noqa: F401
except ImportError:  # pragma: no cover
    HAS_MPE2 = False
MA_IDS = [*GRID_IDS, *(["densegym/MA-SparseSpread-v0"] if HAS_MPE2 else [])]

SHAPINGS = [
    None,
    {"id": "count", "coef": 0.1},
    {"id": "potential", "scope": "team"},
    [{"id": "potential", "scope": "agent"}, {"id": "count", "scope": "team", "name": "tcount"}],
]


@pytest.mark.parametrize("env_id", MA_IDS)
@pytest.mark.parametrize("shaping", SHAPINGS, ids=["none", "count", "team-pot", "mixed"])
def test_pettingzoo_api_and_seed_tests(env_id, shaping):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PettingZoo's tests warn on a contract break
        parallel_api_test(densegym.make_parallel(env_id, shaping=shaping), num_cycles=200)
    parallel_seed_test(lambda: densegym.make_parallel(env_id, shaping=shaping), num_cycles=100)


@pytest.mark.parametrize("env_id", MA_IDS)
def test_state_and_infos(env_id):
    env = densegym.make_parallel(env_id)
    check_parallel_state(env)
    obs, infos = env.reset(seed=1)
    assert set(infos) == set(env.agents) and all(not i["is_success"] for i in infos.values())
    for agent in env.agents:
        assert env.observation_space(agent).contains(obs[agent])
    *_, infos = env.step({a: env.action_space(a).sample() for a in env.agents})
    for info in infos.values():
        assert set(info) >= {"is_success", "reward_terms"}
        assert set(info["reward_terms"]) == {"extrinsic"}
    env.close()


@pytest.mark.parametrize("aec_fn", [switch_door_aec, grid_spread_aec])
def test_aec_form_passes_api_max_cycles_and_render_tests(aec_fn):
    api_test(aec_fn(), num_cycles=200)
    cls = SwitchDoorEnv if aec_fn is switch_door_aec else GridSpreadEnv
    max_cycles_test(types.SimpleNamespace(parallel_env=cls, env=aec_fn))
    render_test(aec_fn, custom_tests={"ansi": lambda text: "#" in text})


@pytest.mark.parametrize("env_id", GRID_IDS)
def test_oracle_team_succeeds_on_every_seed(env_id):
    env = densegym.make_parallel(env_id)
    base = env.unwrapped
    for seed in range(200):
        env.reset(seed=seed)
        bound = base.oracle_remaining()
        steps = 0
        while env.agents:
            _, rewards, terminations, _, infos = env.step(base.oracle_step())
            steps += 1
        assert all(terminations.values()) and set(rewards.values()) == {1.0}, seed
        assert all(info["is_success"] for info in infos.values()), seed
        assert steps <= bound <= env.max_cycles, seed


@pytest.mark.parametrize("cls", [SwitchDoorEnv, GridSpreadEnv])
def test_layout_comes_from_the_seed(cls):
    env = cls()
    layouts = set()
    for seed in (0, 0, 1, 2, 3):
        env.reset(seed=seed)
        layouts.add((seed, env.state().tobytes(), env.walls.tobytes()))
    assert len(layouts) == 4  # the same seed twice gives the same layout, others differ
    env.reset(seed=5)
    first = env.state()
    env.reset()
    assert not np.array_equal(first, env.state())  # unseeded resets continue the stream


def test_switch_door_needs_every_switch_and_latches():
    env = SwitchDoorEnv(size=7)
    env.reset(seed=0)
    env.positions = [env.switches[0], env.switches[0]]
    env.step({"agent_0": 0, "agent_1": 0})
    assert not env.door_open
    assert env._blocked(env.door)
    env.positions = list(env.switches)
    env.step({"agent_0": 0, "agent_1": 0})
    assert env.door_open and not env._blocked(env.door)
    env.positions = [(1, 1), (1, 1)]
    env.step({"agent_0": 0, "agent_1": 0})
    assert env.door_open  # stays open


def test_malformed_actions_mean_stay_and_are_flagged():
    env = SwitchDoorEnv()
    env.reset(seed=0)
    before = list(env.positions)
    *_, infos = env.step({"agent_0": "north", "agent_1": 9})
    assert env.positions == before
    assert infos["agent_0"]["invalid_action"] and infos["agent_1"]["invalid_action"]
    assert env.invalid_actions == 2


def test_registered_in_pettingzoo_not_gymnasium():
    for entry in PARALLEL_ENTRIES:
        assert entry.kind == "parallel" and entry.world == "multiagent"
        assert entry.id in pettingzoo.parallel_registry
        assert entry.id not in gym.registry
        assert entry.id not in densegym.ENV_IDS
        assert entry_for(entry.id) is entry
    env = pettingzoo.make("parallel", "densegym/MA-SwitchDoor-N2-S9-v0", max_cycles=7)
    assert isinstance(env, SwitchDoorEnv) and env.max_cycles == 7 and env.size == 9


@pytest.mark.skipif(not HAS_MPE2, reason="mpe2 is not installed")
def test_sparse_spread_pays_only_on_cover_and_offers_the_dense_reward_as_potential():
    env = densegym.make_parallel("densegym/MA-SparseSpread-v0", N=3)
    base = env.unwrapped
    obs, _ = env.reset(seed=0)
    assert len(obs) == 3
    dense = base.world  # noqa: F841
    _, rewards, *_ = env.step(dict.fromkeys(env.agents, 0))
    assert set(rewards.values()) == {0.0}
    assert base.progress() < 0
    # Put every agent on a landmark: the next step succeeds and terminates everyone.
    for agent, landmark in zip(base.world.agents, base.world.landmarks):
        agent.state.p_pos = landmark.state.p_pos.copy()
        agent.state.p_vel = np.zeros(2)
    _, rewards, terminations, truncations, infos = env.step(dict.fromkeys(env.agents, 0))
    assert set(rewards.values()) == {1.0} and all(terminations.values())
    assert not any(truncations.values()) and infos["agent_2"]["is_success"]
    assert env.agents == []
