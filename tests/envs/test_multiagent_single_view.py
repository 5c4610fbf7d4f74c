"""Single-agent views of the multi-agent tasks: one learner, fixed partners, Gymnasium ids.

The contract test (tests/test_contract.py) runs check_env, determinism, reward == Σ terms,
the spec round trip and pickling on every registered view × admitted shaper; this file
checks what a view adds: the team reward and success, turns played for the learner,
truncation, seeding, capabilities, the candidates adapter and SB3 training on views.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("pettingzoo")

import densegym  # noqa: E402
from densegym.envs.multiagent.grid import SwitchDoorEnv  # noqa: E402
from densegym.envs.multiagent.single_view import (  # noqa: E402
    OracleAgentView,
    SingleAgentView,
    TextAgentView,
)
from densegym.protocols import capabilities  # noqa: E402
from densegym.registration import SINGLE_VIEW_ENTRIES, entry_for  # noqa: E402

VIEW_IDS = [entry.id for entry in SINGLE_VIEW_ENTRIES]
GRID_IDS = [i for i in VIEW_IDS if "SwitchDoor" in i or "GridSpread" in i]
TEXT_IDS = [i for i in VIEW_IDS if i not in GRID_IDS]
SWITCH = "densegym.envs.multiagent.grid:SwitchDoorEnv"
REFERENTIAL = "densegym.envs.multiagent.referential:ReferentialEnv"
NEGOTIATION = "densegym.envs.multiagent.negotiation:NegotiationEnv"
CANDIDATES = {"id": "candidates", "k": 4, "include_oracle": True}


def _oracle(env: gym.Env):
    """The learner's part of the oracle team's move."""
    return env.unwrapped.learner_oracle_action()


def _episode(env: gym.Env, seed: int, policy) -> tuple[list[float], dict, int, bool, bool]:
    _, info = env.reset(seed=seed)
    rewards, steps, terminated, truncated = [], 0, False, False
    while not (terminated or truncated):
        _, reward, terminated, truncated, info = env.step(policy(env))
        rewards.append(reward)
        steps += 1
    return rewards, info, steps, terminated, truncated


def test_views_are_gymnasium_ids_next_to_their_parallel_ids():
    assert len(VIEW_IDS) == 5 and set(VIEW_IDS) <= set(densegym.ENV_IDS)
    for env_id in VIEW_IDS:
        entry = entry_for(env_id)
        assert entry.kind == "single" and entry.world == "multiagent"
        assert env_id in gym.registry and entry.kwargs["partner"] == "oracle"
        name = entry.name.removesuffix("-Solo").removesuffix("-Listener")
        parallel = entry_for(f"densegym/{name}-v0")
        assert parallel.kind == "parallel" and parallel.base == entry.kwargs["parallel"]
        assert {k: entry.kwargs[k] for k in parallel.kwargs} == parallel.kwargs
        assert gym.spec(env_id).max_episode_steps == parallel.max_episode_steps
        assert entry.kwargs["max_cycles"] == parallel.max_episode_steps


@pytest.mark.parametrize("env_id", VIEW_IDS)
def test_learner_following_the_oracle_with_oracle_partners_always_succeeds(env_id):
    env = gym.make(env_id)
    for seed in range(25):
        rewards, info, _, terminated, truncated = _episode(env, seed, _oracle)
        assert info["is_success"] and terminated and not truncated, (env_id, seed)
        assert sum(rewards) > 0.0 and rewards[-1] == info["reward_terms"]["extrinsic"]
    env.close()


def test_grid_view_pays_the_team_reward_of_the_same_parallel_episode():
    """Step for step, the view is the parallel env with the oracle team's partner moves."""
    view = gym.make("densegym/MA-SwitchDoor-N2-S7-Solo-v0")
    rng = np.random.default_rng(0)
    for seed in range(10):
        team = SwitchDoorEnv(size=7, n_agents=2, max_cycles=50)
        team_obs, _ = team.reset(seed=seed)
        obs, _ = view.reset(seed=seed)
        assert np.array_equal(obs, team_obs["agent_0"])  # same layout for the same seed
        done = False
        while not done:
            # The learner explores (random 1 step in 3), the partner is the oracle.
            oracle = team.oracle_step()
            action = int(rng.integers(5)) if rng.random() < 0.3 else oracle["agent_0"]
            team_obs, team_rewards, terms, truncs, team_infos = team.step(
                {"agent_0": action, "agent_1": oracle["agent_1"]}
            )
            obs, reward, terminated, truncated, info = view.step(action)
            assert np.array_equal(obs, team_obs["agent_0"])
            assert reward == team_rewards["agent_1"] == info["reward_terms"]["extrinsic"]
            assert (terminated, truncated) == (terms["agent_0"], truncs["agent_0"])
            assert info["is_success"] == team_infos["agent_1"]["is_success"]
            assert info["partner_actions"] == {"agent_1": oracle["agent_1"]}
            done = terminated or truncated


@pytest.mark.parametrize("env_id", GRID_IDS)
def test_a_learner_that_stays_is_truncated_at_max_cycles_unsuccessful(env_id):
    env = gym.make(env_id)
    rewards, info, steps, terminated, truncated = _episode(env, 0, lambda e: 0)
    assert steps == gym.spec(env_id).max_episode_steps
    assert truncated and not terminated and not info["is_success"] and sum(rewards) == 0.0
    # The parallel env truncated it (not only Gymnasium's TimeLimit).
    assert env.unwrapped.base.agents == []


def test_referential_views_play_the_partners_turn_inside_reset_and_step():
    listener = gym.make("densegym/MA-Referential-Listener-v0")
    obs, info = listener.reset(seed=0)
    spoken = info["partner_actions"]["speaker"]
    assert f'Message from the speaker: "{spoken}"' in obs and "It is your turn." in obs
    assert info["joint_steps"] == 1
    assert listener.unwrapped.candidate_actions(None, include_oracle=True) == ["1", "2", "3", "4"]
    target = listener.unwrapped.base.target_index
    wrong = str((target + 1) % 4 + 1)
    _, reward, terminated, _, info = listener.step(wrong)
    assert (reward, terminated, info["is_success"]) == (0.0, True, False)

    speaker = gym.make("densegym/MA-Referential-Listener-v0", learner="speaker")
    obs, info = speaker.reset(seed=0)
    assert info["joint_steps"] == 0 and obs.startswith("You are the speaker")
    _, reward, terminated, _, info = speaker.step("this names nothing")
    # The oracle listener answered inside the same step: a useless message may still hit
    # the target by luck, but the step is over, played by both.
    assert terminated and info["joint_steps"] == 2 and "listener" in info["partner_actions"]
    assert reward == float(info["is_success"])


def test_negotiation_view_sums_the_team_reward_over_the_partners_turns():
    view = gym.make("densegym/MA-Negotiation-Solo-v0")
    for seed in range(10):
        rewards, info, steps, terminated, _ = _episode(
            view, seed, lambda e: e.unwrapped.oracle_step()
        )
        base = view.unwrapped.base
        assert terminated and math.isclose(sum(rewards), base.efficiency)
        assert info["efficiency"] == base.efficiency and info["is_success"]
        assert steps == math.ceil(base.cycles / 2)  # agent_0 acts at odd steps only


def test_invalid_learner_lines_are_flagged_and_the_episode_goes_on():
    view = gym.make("densegym/MA-Negotiation-Solo-v0")
    view.reset(seed=1)
    _, reward, terminated, truncated, info = view.step("accept")  # nothing to accept yet
    assert info["invalid_action"] and info["invalid_reason"] and reward == 0.0
    assert not (terminated or truncated) and info["joint_steps"] == 2
    grid = gym.make("densegym/MA-SwitchDoor-N2-S7-Solo-v0")
    grid.reset(seed=1)
    *_, info = grid.step("up")  # the grid flags a non-integer move and stays
    assert info["invalid_action"]


def test_random_partners_are_seeded_by_the_view():
    def trace(seed: int) -> list:
        env = gym.make("densegym/MA-SwitchDoor-N2-S7-Solo-v0", partner="random")
        env.reset(seed=seed)
        return [env.step(1)[4]["partner_actions"]["agent_1"] for _ in range(20)]

    assert trace(5) == trace(5) and trace(5) != trace(6)
    text = gym.make("densegym/MA-Referential-Listener-v0", learner="speaker", partner="random")
    answers = set()
    for seed in range(30):
        text.reset(seed=seed)
        answers.add(text.step("red")[4]["partner_actions"]["listener"])
    assert answers <= {"1", "2", "3", "4"} and len(answers) > 1
    assert text.unwrapped.oracle_remaining() is None  # not the oracle's team any more
    text.reset(seed=0)  # the learner's own oracle line is still known
    assert text.unwrapped.oracle_step() == text.unwrapped.base.oracle_action()


def test_noop_partner_stays_on_grids_and_sends_empty_lines_in_text_games():
    grid = gym.make("densegym/MA-SwitchDoor-N2-S7-Solo-v0", partner="noop")
    grid.reset(seed=0)
    start = grid.unwrapped.base.positions[1]
    for _ in range(5):
        assert grid.step(2)[4]["partner_actions"] == {"agent_1": 0}
    assert grid.unwrapped.base.positions[1] == start
    text = TextAgentView(NEGOTIATION, learner="agent_1", partner="noop")
    _, info = text.reset(seed=0)  # agent_0's empty line is flagged; the turn passes
    assert info["partner_actions"] == {"agent_0": ""} and info["joint_steps"] == 1


def test_capabilities_are_declared_only_where_true():
    grid = gym.make("densegym/MA-SwitchDoor-N2-S7-Solo-v0")
    assert capabilities(grid) == [
        "ArrayActions",
        "ArrayObservations",
        "HasPotential",
        "HasStateKey",
        "HasTask",
    ]  # the grid oracle is the learner_oracle_action() method, not HasOracle (see module)
    text = gym.make("densegym/MA-Referential-Listener-v0")
    assert capabilities(text) == ["HasOracle", "HasPotential", "HasStateKey", "HasTask"]
    plain = SingleAgentView(SWITCH, learner=1, size=7)
    assert "HasOracle" not in capabilities(plain) and "HasPotential" in capabilities(plain)
    assert not hasattr(plain, "learner_oracle_action")
    assert not hasattr(grid.unwrapped, "candidate_actions")
    assert text.unwrapped.task["learner"] == "listener"
    assert text.unwrapped.task["partners"] == {"speaker": "oracle"}


def test_bad_arguments_raise_one_clear_error():
    with pytest.raises(ValueError, match="learner must be one of"):
        OracleAgentView(SWITCH, learner="agent_7")
    with pytest.raises(ValueError, match="out of range"):
        OracleAgentView(SWITCH, learner=2)
    with pytest.raises(ValueError, match="partner must be one of"):
        OracleAgentView(SWITCH, partner="smart")
    with pytest.raises(ValueError, match="partner must be one of"):
        SingleAgentView(SWITCH, partner="oracle")
    with pytest.raises(ValueError, match="under densegym.envs.multiagent"):
        OracleAgentView("os:system")
    with pytest.raises(TypeError, match="not a PettingZoo ParallelEnv"):
        OracleAgentView("densegym.envs.multiagent.textgame:action_line")
    with pytest.raises(TypeError, match="not a turn-taking text game"):
        TextAgentView(SWITCH)
    view = gym.make("densegym/MA-SwitchDoor-N2-S7-Solo-v0").unwrapped
    view.reset(seed=0)
    for _ in range(50):
        view.step(0)
    with pytest.raises(RuntimeError, match="call reset"):
        view.step(0)


def test_team_potential_shaping_telescopes_on_a_grid_view():
    gamma = 0.9
    env = gym.make(
        "densegym/MA-SwitchDoor-N2-S7-Solo-v0", shaping={"id": "potential", "gamma": gamma}
    )
    _, info = env.reset(seed=2)
    phi0 = env.unwrapped.progress()
    assert 0.0 < phi0 <= 0.5
    total, discount, done = 0.0, 1.0, False
    while not done:
        _, reward, terminated, truncated, info = env.step(_oracle(env))
        total += discount * info["reward_terms"]["potential"]
        discount *= gamma
        done = terminated or truncated
    assert terminated  # Φ(terminal) = 0: the discounted sum is −Φ(s_0)
    assert math.isclose(total, -phi0, abs_tol=1e-9)


@pytest.mark.parametrize("env_id", TEXT_IDS)
def test_text_views_take_the_candidates_adapter(env_id):
    view = {**CANDIDATES, "encoder": {"id": "ngram", "dim": 32}}
    env = gym.make(env_id, view=view)
    assert env.action_space == gym.spaces.Discrete(4)
    assert env.observation_space.shape == (5 * 32 + 4,)
    candidates = env.unwrapped  # the base view; the adapter is a wrapper above it
    wrapper = env
    while not hasattr(wrapper, "oracle_action"):
        wrapper = wrapper.env
    for seed in range(5):
        obs, info = env.reset(seed=seed)
        assert obs.dtype == np.float32 and len(info["candidates"]) == 4
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(wrapper.oracle_action())
            done = terminated or truncated
        assert info["is_success"], (env_id, seed)
    assert candidates.max_step_chars == 200


def test_sb3_ppo_trains_on_a_text_view_and_a_grid_view(tmp_path):
    from densegym.agents.runs.config import RunConfig
    from densegym.agents.runs.record import RunRecord
    from densegym.agents.sb3.training import train

    runs = [
        RunConfig(
            "densegym/MA-Referential-Listener-v0",
            steps=256,
            n_envs=2,
            logdir=str(tmp_path),
            env_kwargs={"view": {**CANDIDATES, "encoder": {"id": "ngram", "dim": 32}}},
        ),
        RunConfig(
            "densegym/MA-SwitchDoor-N2-S7-Solo-v0",
            shaping="potential",
            steps=256,
            n_envs=2,
            logdir=str(tmp_path),
        ),
    ]
    for config in runs:
        summary = train(config, progress=False)
        assert summary["timesteps"] >= 256 and summary["episodes"] > 0
        assert 0.0 <= summary["success_rate"] <= 1.0
        record = RunRecord.load(config.run_dir)
        assert record.summary["env_id"] == config.env_id
