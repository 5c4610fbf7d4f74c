"""The MiniHack policy probe counts actions, outcomes and cells over real episodes."""

import json
from pathlib import Path

import pytest
from stable_baselines3 import PPO

from densegym.agents.sb3.training import RunConfig, train


class _Always:
    """A policy that always takes one action."""

    def __init__(self, action: int):
        self.action = action

    def predict(self, obs, state=None, episode_start=None, deterministic=False):
        return self.action, None


class _StepCounter:
    """A 'recurrent' policy whose state counts the episode's steps; records what it got."""

    def __init__(self):
        self.seen: list[tuple[int | None, bool]] = []

    def predict(self, obs, state=None, episode_start=None, deterministic=False):
        self.seen.append((state, bool(episode_start[0])))
        return 0, (0 if episode_start[0] else state + 1)


def test_probe_sees_a_collapsed_policy(load_benchmark):
    probe = load_benchmark("minihack_policy_probe")
    # Action 10 on Corridor-R3 is SEARCH: the agent never moves, so it visits one cell.
    result = probe.probe(_Always(10), "densegym/MiniHack-Corridor-R3-v0", episodes=2)
    assert result["action_share"]["SEARCH"] == 1.0
    assert sum(result["action_share"].values()) == pytest.approx(1.0)
    assert result["mean_cells"] == 1.0 and result["success_rate"] == 0.0
    assert result["mean_length"] == 1000  # the registered time limit
    assert sum(result["outcomes"].values()) == 2 and result["outcomes"]["reached"] == 0


def test_probe_carries_a_recurrent_state_within_episodes(load_benchmark):
    probe = load_benchmark("minihack_policy_probe")
    policy = _StepCounter()
    probe.probe(policy, "densegym/MiniHack-Room-5x5-v0", episodes=2)
    starts = [i for i, (_, start) in enumerate(policy.seen) if start]
    assert starts == [0, 100]  # flagged at each episode's first step only
    assert policy.seen[100][0] is None  # and the state starts afresh
    assert [state for state, _ in policy.seen[1:4]] == [0, 1, 2]


def test_probe_separates_reached_from_seen_on_room_5x5(load_benchmark):
    probe = load_benchmark("minihack_policy_probe")
    # In a lit 5x5 room the stairs are always in view: every episode is reached or seen.
    result = probe.probe(_Always(0), "densegym/MiniHack-Room-5x5-v0", episodes=4)
    assert result["outcomes"]["never_seen"] == 0
    assert result["outcomes"]["reached"] + result["outcomes"]["seen_not_reached"] == 4
    with pytest.raises(ValueError, match="episodes"):
        probe.probe(_Always(0), "densegym/MiniHack-Room-5x5-v0", episodes=0)
    with pytest.raises(ValueError, match="not a densegym MiniHack task"):
        probe.probe(_Always(0), "densegym/MountainCarSparse-v0", episodes=1)


def test_probe_command_line_on_a_trained_model(tmp_path, capsys, load_benchmark):
    probe = load_benchmark("minihack_policy_probe")
    config = RunConfig(
        "densegym/MiniHack-Room-5x5-v0", steps=256, n_envs=2, logdir=str(tmp_path), seed=0
    )
    summary = train(config, progress=False)
    model_path = Path(summary["run_dir"]) / "final_model.zip"
    PPO.load(model_path)  # a real SB3 model
    out = tmp_path / "probe.json"
    result = probe.main(
        ["--model", str(model_path), "--env", config.env_id, "--episodes", "3",
         "--out", str(out)]
    )  # fmt: skip
    assert json.loads(out.read_text())["episodes"] == 3
    assert result["mean_cells"] >= 1 and 0.0 <= result["success_rate"] <= 1.0
    assert "| success |" in capsys.readouterr().out


def test_docstring_examples_run(load_benchmark):
    import doctest

    import densegym.envs.control.minihack as minihack_env

    for module in (load_benchmark("minihack_policy_probe"), minihack_env):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0 and result.attempted > 0


def test_probe_random_baseline_from_the_command_line(load_benchmark, capsys):
    probe = load_benchmark("minihack_policy_probe")
    result = probe.main(
        ["--model", "random", "--env", "densegym/MiniHack-Room-5x5-v0", "--episodes", "3"]
    )
    assert result["model"] == "random" and result["episodes"] == 3
    # Random moves spread over all eight directions and roam beyond the start cell.
    assert min(result["action_share"].values()) > 0 and result["mean_cells"] > 1
    assert "| success |" in capsys.readouterr().out
