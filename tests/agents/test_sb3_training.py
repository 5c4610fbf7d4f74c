import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from densegym.agents.sb3.checkpoints import (
    collect_shaper_states,
    latest_checkpoint,
    list_checkpoints,
    restore_shaper_states,
)
from densegym.agents.sb3.training import RunConfig, make_env, resume_run, train
from densegym.cli import main as cli_main


def _scalars(run_dir):
    accumulator = EventAccumulator(str(run_dir))
    accumulator.Reload()
    return {
        tag: [e.step for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]
    }


@pytest.mark.parametrize("algo", ["ppo", "a2c", "dqn"])
@pytest.mark.parametrize(
    "env_id, shaping",
    [
        ("densegym/MountainCarSparse-v0", ["potential", "count"]),
        ("densegym/MiniHack-Room-5x5-v0", ["count", "potential"]),
    ],
)
def test_sb3_smoke_runs_with_shaping(tmp_path, algo, env_id, shaping):
    hyper = {"learning_starts": 64} if algo == "dqn" else {}
    config = RunConfig(
        env_id,
        algo=algo,
        shaping=shaping,
        steps=768,
        n_envs=2,
        logdir=str(tmp_path),
        hyperparams=hyper,
        log_every=128,
    )
    summary = train(config, progress=False)
    assert summary["timesteps"] >= 768
    assert summary["env_steps_per_s"] > 0
    scalars = _scalars(summary["run_dir"])
    assert "reward/extrinsic" in scalars
    assert "reward/count" in scalars and "reward/potential" in scalars
    assert "shaping/count_ms_per_step" in scalars


def test_unshaped_run_logs_extrinsic_from_reward(tmp_path):
    config = RunConfig(
        "densegym/MiniHack-Room-5x5-v0", steps=1024, n_envs=4, logdir=str(tmp_path), log_every=256
    )
    summary = train(config, progress=False)
    rows = np.genfromtxt(f"{summary['run_dir']}/curve.csv", delimiter=",", names=True)
    # An episode that succeeds earns 1 minus small wall penalties; success implies return > 0.
    assert np.all((rows["success_rate"] == 0) | (rows["extrinsic_return"] > 0))


def test_cli_train_writes_tensorboard_terms_and_resume_continues(tmp_path, capsys):
    code = cli_main(
        [
            "train",
            "--env",
            "densegym/MiniHack-Room-5x5-v0",
            "--shaping",
            "count+potential",
            "--steps",
            "1024",
            "--n-envs",
            "4",
            "--logdir",
            str(tmp_path),
            "--checkpoint-every",
            "512",
            "--no-progress",
        ]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out.split("\nTensorBoard")[0])
    run_dir = summary["run_dir"]
    assert summary["timesteps"] == 1024
    scalars = _scalars(run_dir)
    for tag in (
        "reward/extrinsic",
        "reward/count",
        "reward/potential",
        "episode/success_rate",
        "episode/length",
        "shaping/count_ms_per_step",
        "time/fps",
    ):
        assert tag in scalars, tag
    assert [p.name for p in list_checkpoints(run_dir)] == ["step_512", "step_1024"]

    code = cli_main(["train", "--resume", run_dir, "--steps", "2048", "--no-progress"])
    assert code == 0
    resumed = json.loads(capsys.readouterr().out.split("\nTensorBoard")[0])
    assert resumed["timesteps"] == 2048
    assert latest_checkpoint(run_dir).name == "step_2048"
    steps = _scalars(run_dir)["episode/success_rate"]
    assert max(steps) >= 2048 - 256 and min(steps) <= 1024
    curve = np.genfromtxt(f"{run_dir}/curve.csv", delimiter=",", names=True)
    assert np.all(np.diff(curve["timesteps"]) > 0), "curve continues, never restarts at 0"
    # The success window and episode count travel in the checkpoint: no restart at 1.
    assert curve["episodes"][0] > 0 and np.all(np.diff(curve["episodes"]) >= 0)
    saved = json.loads((latest_checkpoint(run_dir) / "metrics.json").read_text())
    assert saved["total_episodes"] == curve["episodes"][-1] >= 2048 // 100


def test_checkpoint_restores_shaper_state(tmp_path):
    config = RunConfig(
        "densegym/MountainCarSparse-v0",
        shaping="count",
        steps=512,
        n_envs=2,
        logdir=str(tmp_path),
        checkpoint_every=256,
    )
    train(config, progress=False)
    saved = torch.load(latest_checkpoint(config.run_dir) / "shapers.pt", weights_only=False)
    assert sum(saved["per_env"][0][0]["counts"].values()) > 200
    fresh = make_env(config)
    assert collect_shaper_states(fresh)["per_env"][0][0]["counts"] == {}
    restore_shaper_states(fresh, saved)
    assert collect_shaper_states(fresh)["per_env"] == saved["per_env"]
    fresh.close()


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    config = RunConfig("densegym/MountainCarSparse-v0", steps=256, n_envs=1, logdir=str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(config, resume=True, progress=False)
    with pytest.raises(FileNotFoundError):
        resume_run(tmp_path / "missing")


def test_run_config_validation(tmp_path):
    with pytest.raises(ValueError, match="algo"):
        RunConfig("densegym/MountainCarSparse-v0", algo="sac")
    with pytest.raises(ValueError, match="unknown env id"):
        RunConfig("densegym/Nope-v0")
    with pytest.raises(TypeError, match="shaping must be"):
        RunConfig("densegym/MountainCarSparse-v0", shaping=3)
    config = RunConfig(
        "densegym/MountainCarSparse-v0", shaping="nope", steps=8, n_envs=1, logdir=str(tmp_path)
    )
    with pytest.raises(ValueError, match="unknown shaper 'nope'"):
        train(config, progress=False)


def test_cli_compare_and_eval_end_to_end(tmp_path, capsys):
    import csv
    import tempfile
    from pathlib import Path

    sb3_dirs_before = set(Path(tempfile.gettempdir()).glob("SB3-*"))
    code = cli_main(
        [
            "compare",
            "--env",
            "densegym/MountainCarSparse-v0",
            "--shaping",
            "none,potential",
            "--steps",
            "512",
            "--seeds",
            "2",
            "--n-envs",
            "2",
            "--logdir",
            str(tmp_path),
            "--workers",
            "1",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    env_dir = tmp_path / "MountainCarSparse-v0"
    assert "success_rate.png" in out and "tensorboard --logdir" in out
    rows = list(csv.DictReader((env_dir / "summary.csv").open()))
    assert sorted((r["shaping"], r["seed"]) for r in rows) == [
        ("none", "0"),
        ("none", "1"),
        ("potential", "0"),
        ("potential", "1"),
    ]
    png = (env_dir / "success_rate.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert set(Path(tempfile.gettempdir()).glob("SB3-*")) == sb3_dirs_before

    # A repeated compare skips finished runs (their summaries are reused untouched).
    summary_file = env_dir / "none" / "ppo-seed0" / "summary.json"
    stamp = summary_file.stat().st_mtime_ns
    assert (
        cli_main(
            [
                "compare",
                "--env",
                "densegym/MountainCarSparse-v0",
                "--shaping",
                "none",
                "--steps",
                "512",
                "--seeds",
                "1",
                "--n-envs",
                "2",
                "--logdir",
                str(tmp_path),
                "--workers",
                "1",
            ]
        )
        == 0
    )
    assert summary_file.stat().st_mtime_ns == stamp
    capsys.readouterr()

    code = cli_main(["eval", "--run", str(env_dir / "potential" / "ppo-seed0"), "--episodes", "3"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert result["episodes"] == 3 and 3 <= result["env_steps"] <= 600
    assert 0.0 <= result["success_rate"] <= 1.0
    assert (
        cli_main(
            [
                "eval",
                "--agent",
                "random",
                "--env",
                "densegym/MountainCarSparse-v0",
                "--episodes",
                "2",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["env_steps"] == 400


def _batched_e3b_run(tmp_path, algo: str = "ppo") -> RunConfig:
    """1,024 steps of Room-5x5 with batched e3b, a checkpoint every 512."""
    return RunConfig(
        "densegym/MiniHack-Room-5x5-v0",
        algo=algo,
        batched_shaping="e3b",
        steps=1024,
        n_envs=4,
        logdir=str(tmp_path),
        checkpoint_every=512,
        log_every=256,
    )


def test_batched_intrinsic_shaping_trains_checkpoints_and_resumes(tmp_path):
    config = _batched_e3b_run(tmp_path)
    summary = train(config, progress=False)
    assert summary["shaping"] == "batched-e3b"
    scalars = _scalars(summary["run_dir"])
    assert "reward/e3b" in scalars and "shaping/e3b_ms_per_step" in scalars
    assert "shaping/e3b_loss" in scalars  # trained at rollout end by the callback
    saved = torch.load(latest_checkpoint(config.run_dir) / "shapers.pt", weights_only=False)
    assert len(saved["vec"]) == 1
    # A fresh VecEnv restored from the checkpoint gives the same bonuses as the saved state.
    fresh = make_env(config)
    restore_shaper_states(fresh, saved)
    restored = collect_shaper_states(fresh)["vec"][0]
    for key, value in saved["vec"][0].items():
        if isinstance(value, dict) and all(isinstance(v, torch.Tensor) for v in value.values()):
            for name, tensor in value.items():
                assert torch.equal(tensor, restored[key][name]), (key, name)
    fresh.close()
    assert resume_run(config.run_dir, steps=1536, progress=False)["timesteps"] == 1536


def test_full_map_runs_train_with_count_and_batched_e3b(tmp_path):
    leaves = {"id": "e3b", "obs_keys": ["blstats", "glyphs"]}  # the bonus ignores the map
    for shaping, batched in (("count", None), (None, "e3b"), (None, leaves)):
        config = RunConfig(
            "densegym/MiniHack-Room-5x5-v0",
            shaping=shaping,
            batched_shaping=batched,
            env_kwargs={"full_map": True},
            steps=256,
            n_envs=2,
            logdir=str(tmp_path),
        )
        summary = train(config, progress=False)
        assert summary["timesteps"] >= 256
        assert (
            "map" in PPO.load(Path(summary["run_dir"]) / "final_model.zip").observation_space.spaces
        )


def test_eval_of_a_run_rebuilds_its_env_kwargs(tmp_path, capsys):
    view = {"id": "candidates", "k": 4, "proposer": "oracle-0.7"}
    config = RunConfig(
        "densegym/Arithmetic-v0",
        steps=256,
        n_envs=2,
        logdir=str(tmp_path),
        env_kwargs={"view": view},
    )
    train(config, progress=False)
    capsys.readouterr()
    assert cli_main(["eval", "--run", str(config.run_dir), "--episodes", "3"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["env_id"] == "densegym/Arithmetic-v0" and result["episodes"] == 3


def test_recurrent_ppo_trains_with_batched_e3b_resumes_and_evaluates(tmp_path, capsys):
    config = _batched_e3b_run(tmp_path, algo="recurrent_ppo")
    summary = train(config, progress=False)
    scalars = _scalars(summary["run_dir"])
    assert "reward/e3b" in scalars and "shaping/e3b_loss" in scalars
    model = RecurrentPPO.load(latest_checkpoint(config.run_dir) / "model.zip")
    assert model.policy.lstm_actor.hidden_size == 128 and model.policy.shared_lstm
    assert resume_run(config.run_dir, steps=1536, progress=False)["timesteps"] == 1536
    # The LSTM policy is evaluated episode by episode with its state carried across steps.
    assert cli_main(["eval", "--run", summary["run_dir"], "--episodes", "2"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["episodes"] == 2 and 2 <= result["env_steps"] <= 200


def test_resume_from_an_older_checkpoint_keeps_the_logs_up_to_it_and_drops_the_rest(tmp_path):
    config = RunConfig(
        "densegym/MountainCarSparse-v0",
        steps=1024,
        n_envs=2,
        logdir=str(tmp_path),
        checkpoint_every=512,
        log_every=128,
    )
    train(config, progress=False)
    # As if the run had been killed after its 512-step checkpoint, logs to 1024 kept.
    shutil.rmtree(latest_checkpoint(config.run_dir))
    assert latest_checkpoint(config.run_dir).name == "step_512"
    curve_before = np.genfromtxt(config.run_dir / "curve.csv", delimiter=",", names=True)
    progress_before = np.genfromtxt(config.run_dir / "progress.csv", delimiter=",", names=True)
    assert curve_before["timesteps"].max() > 512
    resume_run(config.run_dir, steps=1536, progress=False)

    curve = np.genfromtxt(config.run_dir / "curve.csv", delimiter=",", names=True)
    assert np.all(np.diff(curve["timesteps"]) > 0) and curve["timesteps"].max() >= 1536
    kept = curve_before[curve_before["timesteps"] <= 512]
    np.testing.assert_array_equal(curve[: len(kept)], kept)  # rows up to 512 untouched

    scalars = _scalars(config.run_dir)
    for tag, steps in scalars.items():  # TensorBoard: each tag once per step, in order
        assert len(steps) == len(set(steps)), f"{tag} logs a step twice: {steps}"
        assert steps == sorted(steps), tag
    assert min(scalars["episode/success_rate"]) <= 512  # the first segment's points stay
    assert max(scalars["episode/success_rate"]) >= 1536

    steps_before = progress_before["timetotal_timesteps"]  # SB3's progress.csv likewise
    steps = np.genfromtxt(config.run_dir / "progress.csv", delimiter=",", names=True)[
        "timetotal_timesteps"
    ]
    kept_steps = steps_before[steps_before <= 512]
    np.testing.assert_array_equal(steps[: len(kept_steps)], kept_steps)
    assert np.all(np.diff(steps) >= 0) and steps.max() >= 1536  # two dumps per log point


def test_the_cli_algorithm_names_are_the_trainable_algorithms():
    from densegym.agents.sb3 import ALGORITHM_NAMES
    from densegym.agents.sb3.training import ALGORITHMS

    assert tuple(ALGORITHMS) == ALGORITHM_NAMES
    with pytest.raises(SystemExit):
        cli_main(["train", "--env", "densegym/MountainCarSparse-v0", "--algo", "sac"])
