"""Per-agent and team shaping on parallel envs: terms, sums, scopes, telescoping."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("pettingzoo")

import densegym  # noqa: E402
from densegym.rewards.multiagent import ParallelShaping, scoped_specs  # noqa: E402

ENV_ID = "densegym/MA-SwitchDoor-N2-S7-v0"


def _rollout(env, seed, actions=None, rng_seed=0):
    """Random (or given) joint actions until the episode ends; returns the steps."""
    rng = np.random.default_rng(rng_seed)
    env.reset(seed=seed)
    steps, taken = [], []
    i = 0
    while env.agents:
        joint = actions[i] if actions is not None else {a: int(rng.integers(5)) for a in env.agents}
        taken.append(joint)
        steps.append(env.step(joint))
        i += 1
    return steps, taken


@pytest.mark.parametrize(
    "shaping",
    [
        {"id": "count", "coef": 0.1},
        [{"id": "potential", "scope": "team"}, {"id": "count", "coef": 0.05}],
        [{"id": "potential"}, {"id": "step_penalty", "scope": "team", "penalty": 0.01}],
    ],
)
def test_reward_is_the_sum_of_terms_and_extrinsic_is_untouched(shaping):
    shaped = densegym.make_parallel(ENV_ID, shaping=shaping)
    plain = densegym.make_parallel(ENV_ID)
    steps, taken = _rollout(shaped, seed=3)
    reference, _ = _rollout(plain, seed=3, actions=taken)
    names = [spec.get("name", spec["id"]) for _, spec in scoped_specs(shaping)]
    for (obs, rewards, _, _, infos), (ref_obs, ref_rewards, *_) in zip(steps, reference):
        for agent, reward in rewards.items():
            terms = infos[agent]["reward_terms"]
            assert list(terms) == ["extrinsic", *names]
            assert reward == sum(terms.values())
            assert terms["extrinsic"] == ref_rewards[agent]
            np.testing.assert_array_equal(obs[agent], ref_obs[agent])


def test_team_terms_are_paid_to_every_agent_and_agent_terms_are_each_agents_own():
    env = densegym.make_parallel(
        ENV_ID, shaping=[{"id": "potential", "scope": "team"}, {"id": "potential", "name": "own"}]
    )
    steps, _ = _rollout(env, seed=0)
    own_differ = False
    for *_, infos in steps:
        team = {info["reward_terms"]["potential"] for info in infos.values()}
        assert len(team) == 1
        own_differ |= len({info["reward_terms"]["own"] for info in infos.values()}) > 1
    assert own_differ


def test_per_agent_counts_keep_one_table_per_agent():
    env = densegym.make_parallel(ENV_ID, shaping={"id": "count", "coef": 1.0})
    env.reset(seed=0)
    base = env.unwrapped
    # agent_0 stands still, agent_1 walks down (past no switch): agent_0's bonus decays as
    # 1/sqrt(n) in its own table (its start state was counted at reset).
    bonuses = []
    for _ in range(3):
        *_, infos = env.step({"agent_0": 0, "agent_1": 2})
        bonuses.append(infos["agent_0"]["reward_terms"]["count"])
    assert bonuses == pytest.approx([1 / math.sqrt(2), 1 / math.sqrt(3), 0.5])
    tables = {agent: shapers[0].counts for agent, shapers in env.shapers().items()}
    assert tables["agent_0"] == {(*base.positions[0], 0, 0, 0): 4}
    assert len(tables["agent_1"]) == 3


@pytest.mark.parametrize("gamma", [1.0, 0.9])
@pytest.mark.parametrize("oracle", [True, False])
def test_team_potential_telescopes(gamma, oracle):
    env = densegym.make_parallel(
        ENV_ID, shaping={"id": "potential", "scope": "team", "gamma": gamma}, max_cycles=20
    )
    base = env.unwrapped
    for seed in range(5):
        env.reset(seed=seed)
        phi_0 = base.progress()
        rng = np.random.default_rng(seed)
        total, t, terminated = 0.0, 0, False
        while env.agents:
            joint = base.oracle_step() if oracle else {a: int(rng.integers(5)) for a in env.agents}
            _, _, terminations, _, infos = env.step(joint)
            total += gamma**t * infos["agent_0"]["reward_terms"]["potential"]
            t += 1
            terminated = all(terminations.values())
        phi_end = 0.0 if terminated else base.progress()
        assert total == pytest.approx(gamma**t * phi_end - phi_0, abs=1e-9)
        if oracle:
            assert terminated


def test_agent_potential_reads_each_agents_progress():
    env = densegym.make_parallel(ENV_ID, shaping={"id": "potential", "gamma": 1.0})
    env.reset(seed=2)
    base = env.unwrapped
    before = {a: base.progress(a) for a in env.agents}
    *_, infos = env.step(base.oracle_step())
    for agent in env.possible_agents:
        assert infos[agent]["reward_terms"]["potential"] == pytest.approx(
            base.progress(agent) - before[agent]
        )


def test_pipeline_rules_apply_per_term():
    env = densegym.make_parallel(
        ENV_ID, shaping={"id": "count", "coef": 2.0, "clip": 0.25, "scope": "team"}
    )
    steps, _ = _rollout(env, seed=1)
    for *_, infos in steps:
        for info in infos.values():
            assert info["reward_terms"]["count"] == pytest.approx(0.5)
            assert info["reward_terms_nonfinite"]["count"] == 0


def test_spec_errors_are_one_sentence():
    with pytest.raises(ValueError, match="scope must be one of agent, team"):
        densegym.make_parallel(ENV_ID, shaping={"id": "count", "scope": "everyone"})
    with pytest.raises(ValueError, match="two shaping terms are named 'count'"):
        densegym.make_parallel(ENV_ID, shaping=["count", {"id": "count", "scope": "team"}])
    with pytest.raises(
        ValueError, match=r"needs an env that is Snapshotable.*SwitchDoorEnv \(team"
    ):
        densegym.make_parallel(ENV_ID, shaping={"id": "pav", "scope": "team"})


def test_learned_bonus_per_agent():
    pytest.importorskip("torch")
    env = densegym.make_parallel(ENV_ID, shaping={"id": "e3b", "update_every": 4})
    steps, _ = _rollout(env, seed=0)
    assert all(
        np.isfinite(info["reward_terms"]["e3b"]) for *_, infos in steps for info in infos.values()
    )
    assert isinstance(env, ParallelShaping)
    assert set(env.shaping_times()) == {"e3b"}


@pytest.mark.parametrize(
    "shaping",
    [
        [{"id": "count", "coef": 0.1}, {"id": "potential", "scope": "team", "gamma": 0.9}],
        [
            {"id": "potential", "scope": "team", "normalize": True, "clip": 0.5},
            {"id": "count", "mode": "first_visit", "coef_decay": {"kind": "linear", "steps": 50}},
            {"id": "potential", "name": "own", "coef": 2.0},
        ],
    ],
)
def test_flat_hot_path_matches_the_wrapper_chain(shaping):
    """The flat path (step_shapers, team loops) pays what the Gym wrapper chains pay."""
    flat = densegym.make_parallel(ENV_ID, shaping=shaping, max_cycles=12)
    chain = densegym.make_parallel(ENV_ID, shaping=shaping, max_cycles=12)
    chain._agent_flat = dict.fromkeys(chain._agent_flat)  # None: step each stack as a chain
    chain._team_flat = None
    assert flat.agents is flat.unwrapped.agents
    rng = np.random.default_rng(3)
    for episode in range(6):
        flat.reset(seed=episode)
        chain.reset(seed=episode)
        while flat.agents:
            joint = {a: int(rng.integers(5)) for a in flat.agents}
            _, r_flat, term_flat, trunc_flat, i_flat = flat.step(joint)
            _, r_chain, term_chain, trunc_chain, i_chain = chain.step(joint)
            assert r_flat == r_chain
            assert (term_flat, trunc_flat) == (term_chain, trunc_chain)
            for agent in r_flat:
                for key in ("reward_terms", "reward_terms_nonfinite", "reward_terms_clamped"):
                    assert i_flat[agent][key] == i_chain[agent][key]
                    assert list(i_flat[agent][key]) == list(i_chain[agent][key])
        assert not chain.agents
