"""LLM teams on the multi-agent text games: per-role prompts, acting agents only, tokens."""

from __future__ import annotations

import json
import time

import pytest

pytest.importorskip("pettingzoo")

from densegym.agents.llm.team_policy import (  # noqa: E402
    DEMO_SEED,
    OracleTeam,
    RandomTeam,
    TeamLLMPolicy,
    demonstrations,
    evaluate_team,
    make_team,
)
from densegym.cli import main  # noqa: E402
from densegym.envs.multiagent.negotiation import NegotiationEnv  # noqa: E402
from densegym.envs.multiagent.referential import ReferentialEnv  # noqa: E402

REFERENTIAL = "densegym/MA-Referential-v0"
NEGOTIATION = "densegym/MA-Negotiation-v0"


@pytest.fixture(scope="module")
def tiny():
    import densegym.llm

    return densegym.llm.load("tiny-random")


def test_team_asks_only_the_acting_agent_and_counts_tokens_per_agent(tiny):
    env = ReferentialEnv()
    team = TeamLLMPolicy(tiny, shots=1, max_tokens=4).bind(env)
    assert set(team.policies) == {"speaker", "listener"}
    assert "speaker" in team.policies["speaker"].system
    assert "listener" in team.policies["listener"].system
    obs, infos = env.reset(seed=0)
    actions = team.act(obs, [a for a in env.agents if infos[a]["acting"]])
    assert actions["listener"] == "" and isinstance(actions["speaker"], str)
    assert team.usage["speaker"].calls == 1 and team.usage["listener"].calls == 0
    obs, *_ = env.step(actions)
    actions, _ = team.predict(obs)  # predict asks the bound env's actor
    assert actions["speaker"] == "" and team.usage["listener"].calls == 1
    assert team.usage["speaker"].tokens > 0 and team.usage["listener"].tokens > 0


def test_role_prompts_replay_oracle_demonstrations_from_other_seeds(tiny):
    env = NegotiationEnv()
    env.reset(seed=4)
    before = env.state()
    demos = demonstrations(env, "agent_1", 2)
    assert env.state() == before  # a copy played them
    assert len(demos) == 2 and all(line == "accept" for _, line in demos)
    fresh = NegotiationEnv()
    fresh.reset(seed=DEMO_SEED)
    assert demos[0][0] != fresh.observe("agent_1")  # shown where agent_1 acts, not at reset
    team = TeamLLMPolicy(tiny, shots=2).bind(env)
    messages = team.policies["agent_0"].prompt(env.observe("agent_0"))
    assert [m["role"] for m in messages] == ["system", "user", "assistant"] * 1 + [
        "user",
        "assistant",
        "user",
    ]
    assert messages[2]["content"].startswith("propose(")
    plain = TeamLLMPolicy(tiny, shots=1, chat=False).bind(env)
    prompt = plain.policies["agent_1"].prompt("OBS")
    assert prompt.endswith("OBS\nAction:") and "Action: accept" in prompt


def test_evaluate_team_reports_team_success_reward_and_per_agent_tokens(tiny):
    result = evaluate_team(TeamLLMPolicy(tiny, shots=0, max_tokens=4), REFERENTIAL, n_episodes=2)
    assert result["episodes"] == 2 and result["n_agents"] == 2
    assert 0.0 <= result["team_success_rate"] <= 1.0
    assert result["team_success_rate"] == result["mean_team_reward"]  # reward is 0/1
    tokens, calls = result["agent_tokens"], result["agent_calls"]
    assert calls["speaker"] == 2  # one message per episode
    assert calls["listener"] == round(result["mean_length"] * 2) - 2  # one call per answer try
    assert tokens["speaker"] > 0 and tokens["listener"] > 0
    assert result["llm_tokens"] == sum(tokens.values())


def test_oracle_and_random_teams_bound_the_games():
    for env_id in (REFERENTIAL, NEGOTIATION):
        oracle = evaluate_team("oracle", env_id, n_episodes=20)
        assert oracle["team_success_rate"] == 1.0 and oracle["mean_team_reward"] == 1.0
        assert oracle["llm_tokens"] == 0 and set(oracle["invalid_actions"].values()) == {0.0}
    # Random speaker and listener: the listener's number is uniform over 4 candidates.
    random = evaluate_team(RandomTeam(seed=0), REFERENTIAL, n_episodes=400, seed=1)
    assert 0.18 < random["team_success_rate"] < 0.32
    random = evaluate_team("random", NEGOTIATION, n_episodes=100)
    assert random["team_success_rate"] < 0.2 and 0.0 < random["mean_team_reward"] < 0.9
    assert isinstance(make_team("oracle"), OracleTeam)
    with pytest.raises(ValueError, match="unknown team"):
        make_team("llm:")
    with pytest.raises(ValueError, match="n_episodes must be at least 1"):
        evaluate_team("oracle", REFERENTIAL, n_episodes=0)


def test_cli_eval_routes_llm_agents_on_multi_agent_ids_to_the_team(capsys):
    argv = ["eval", "--env", NEGOTIATION, "--agent", "llm:tiny-random", "--episodes", "1"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["env_id"] == NEGOTIATION and result["episodes"] == 1
    assert set(result["agent_tokens"]) == {"agent_0", "agent_1"}
    assert result["agent_calls"] == {"agent_0": 4, "agent_1": 4}  # 8 alternating turns
    assert 0.0 <= result["team_success_rate"] <= 1.0


def test_smollm2_team_plays_the_referential_game():
    import densegym.llm

    try:
        llm = densegym.llm.load("smollm2")
    except Exception as error:  # pragma: no cover - the model could not be fetched
        pytest.skip(f"smollm2 unavailable: {error}")
    start = time.perf_counter()
    result = evaluate_team(TeamLLMPolicy(llm, shots=2), REFERENTIAL, n_episodes=2)
    assert time.perf_counter() - start < 30
    assert result["agent_calls"]["speaker"] == 2
    assert result["agent_tokens"]["speaker"] > 0 and result["agent_tokens"]["listener"] > 0
    # Greedy SmolLM2 with oracle demonstrations writes readable answers.
    assert result["invalid_actions"]["listener"] == 0.0 and result["mean_length"] == 2.0
