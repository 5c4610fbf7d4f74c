"""Multi-agent ids through the run layer and the CLI: train, resume, eval, compare, list."""

from __future__ import annotations

import json

import pandas as pd
import pytest

pytest.importorskip("pettingzoo")

from densegym.agents.runs.config import RunConfig  # noqa: E402
from densegym.agents.runs.record import RunRecord  # noqa: E402
from densegym.cli import list_markdown, main  # noqa: E402
from densegym.registration import PARALLEL_IDS  # noqa: E402

ENV_ID = "densegym/MA-SwitchDoor-N2-S7-v0"
TEAM = '{"id": "potential", "scope": "team"}'


def _scalars(run_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    (events,) = [p for p in run_dir.iterdir() if p.name.startswith("events.out.tfevents")]
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    return set(accumulator.Tags()["scalars"])


def test_run_config_takes_multi_agent_ids_and_refuses_unknown_ones():
    config = RunConfig(ENV_ID, shaping={"id": "count", "scope": "agent"})
    assert config.run_dir.as_posix() == "runs/MA-SwitchDoor-N2-S7-v0/count(scope=agent)/ppo-seed0"
    with pytest.raises(ValueError, match="unknown env id .*MA-SwitchDoor-N2-S7-v0"):
        RunConfig("densegym/MA-Nothing-v0")


def test_train_resume_and_eval_a_multi_agent_run(tmp_path, capsys):
    common = ["--env", ENV_ID, "--n-envs", "2", "--logdir", str(tmp_path), "--no-progress"]
    assert main(["train", *common, "--shaping", TEAM, "--steps", "1024",
                 "--checkpoint-every", "512", "--log-every", "256"]) == 0  # fmt: skip
    summary = json.loads(capsys.readouterr().out.split("\nTensorBoard")[0])
    run_dir = tmp_path / "MA-SwitchDoor-N2-S7-v0" / "potential(scope=team)" / "ppo-seed0"
    assert summary["run_dir"] == str(run_dir) and summary["n_agents"] == 2
    assert 0.0 <= summary["team_success_rate"] <= 1.0 and summary["team_episodes"] > 0
    assert {"success_rate/agent_0", "success_rate/agent_1"} <= set(summary)
    tags = _scalars(run_dir)
    assert {
        "episode/success_rate",
        "episode/team_success_rate",
        "episode/success_rate/agent_0",
        "reward/extrinsic",
        "reward/potential",
        "shaping/potential_ms_per_step",
    } <= tags
    record = RunRecord.load(run_dir)
    assert record.config.env_id == ENV_ID and len(record.curve) >= 2

    assert main(["train", "--resume", str(run_dir), "--steps", "2048", "--no-progress"]) == 0
    resumed = json.loads(capsys.readouterr().out.split("\nTensorBoard")[0])
    assert resumed["timesteps"] == 2048
    assert resumed["team_episodes"] > summary["team_episodes"]  # the window carried over

    assert main(["eval", "--run", str(run_dir), "--episodes", "2"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["env_id"] == ENV_ID and result["episodes"] == 2
    assert set(result["agent_success_rate"]) == {"agent_0", "agent_1"}
    assert 0.0 <= result["team_success_rate"] <= 1.0


def test_compare_on_a_multi_agent_id(tmp_path, capsys):
    argv = ["compare", "--env", "densegym/MA-GridSpread-N2-S6-v0", "--steps", "512",
            "--n-envs", "2", "--seeds", "1", "--workers", "1", "--logdir", str(tmp_path),
            "--shaping", f'[null, {TEAM}, {{"id": "count", "coef": 0.05}}]']  # fmt: skip
    assert main(argv) == 0
    summary = pd.read_csv(tmp_path / "MA-GridSpread-N2-S6-v0" / "summary.csv")
    assert list(summary["shaping"]) == ["none", "potential(scope=team)", "count(coef=0.05)"]
    assert (summary["status"] == "ok").all() and summary["team_success_rate"].notna().all()
    assert (tmp_path / "MA-GridSpread-N2-S6-v0" / "success_rate.png").exists()


def test_list_shows_the_multi_agent_ids_in_their_own_table():
    text = list_markdown()
    table = text.split("| multi-agent env id |")[1].split("| shaper |")[0]
    for env_id in PARALLEL_IDS:
        assert f"`{env_id}`" in table
    assert "`ma_team_progress`" in text


def test_readme_multi_agent_quickstart_runs():
    import re
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    worlds = readme.split("## More worlds", 1)[1]
    (code,) = [b for b in re.findall(r"```python\n(.*?)```", worlds, re.S) if "make_parallel" in b]
    namespace: dict = {}
    exec(compile(code, "README multi-agent", "exec"), namespace)
    terms = namespace["infos"]["agent_0"]["reward_terms"]
    assert list(terms) == ["extrinsic", "count", "potential"]


@pytest.mark.parametrize("env_id", PARALLEL_IDS)
def test_multi_agent_training_defaults_are_pinned(env_id):
    from densegym.agents.sb3.training import default_hyperparams

    ppo = default_hyperparams(env_id, "ppo")
    assert ppo == {
        "n_steps": 128,
        "batch_size": 256,
        "n_epochs": 4,
        "learning_rate": 3e-4,
        "ent_coef": 0.01,
        "gae_lambda": 0.95,
        "gamma": 0.99,
    }
