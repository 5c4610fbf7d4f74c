"""The run layer: trainer-agnostic configs, run records and the grid scheduler."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from densegym.agents.runs import (
    TRAINERS,
    RunConfig,
    RunFileError,
    RunRecord,
    run_all,
    train_or_resume,
    trainer_names,
)
from densegym.agents.runs.backends import resume_run
from densegym.cli import _base_config, build_parser

ROOT = Path(__file__).resolve().parents[2]
ARCHIVE = ROOT / "benchmarks" / "results" / "minihack_exploration_runs"
ENV = "densegym/MountainCarSparse-v0"


# --- frozen copies of the implementations the run record replaced ------------------------


def old_report_steps_to(curve: pd.DataFrame, threshold: float, min_episodes: int = 10):
    """benchmarks/minihack_exploration_report.py before the run layer (with its read_curve)."""
    curve = curve.drop_duplicates("timesteps", keep="last").sort_values("timesteps")
    if "episodes" in curve:
        curve = curve[curve["episodes"] >= min_episodes]
    reached = curve.loc[curve["success_rate"] >= threshold, "timesteps"]
    return float(reached.iloc[0]) if len(reached) else None


def old_llm_rewards_steps_to_half(run_dir: Path) -> float:
    """benchmarks/llm_rewards.py before the run layer."""
    with (Path(run_dir) / "curve.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row["success_rate"] and float(row["success_rate"]) >= 0.5:
                return float(row["timesteps"])
    return math.nan


def _archived_curves() -> list[tuple[Path, dict]]:
    found = []
    for path in sorted(ARCHIVE.glob("*/*.json")):
        record = json.loads(path.read_text())
        if record.get("curve"):
            found.append((path, record))
    return found


def _run_dir_with_curve(tmp_path: Path, curve: dict) -> Path:
    run_dir = tmp_path / "run"
    run_dir.mkdir(exist_ok=True)
    frame = pd.DataFrame(curve["rows"], columns=curve["columns"])
    frame.to_csv(run_dir / "curve.csv", index=False)
    return run_dir


def test_steps_to_success_reproduces_the_archived_benchmark_figures(tmp_path):
    records = _archived_curves()
    assert len(records) >= 10, "the archive holds real learning curves"
    reached = 0
    for path, record in records:
        run_dir = _run_dir_with_curve(tmp_path, record["curve"])
        run = RunRecord.load(run_dir, strict=True)
        old_curve = pd.read_csv(run_dir / "curve.csv")
        for threshold, key in ((0.5, "steps_to_50"), (0.9, "steps_to_90")):
            new = run.steps_to_success(threshold)
            assert new == record[key], (path, key)
            assert new == old_report_steps_to(old_curve, threshold), (path, key)
            reached += new is not None
        # benchmarks/llm_rewards.py counts every logged point.
        half = run.steps_to_success(0.5, min_episodes=0)
        old = old_llm_rewards_steps_to_half(run_dir)
        assert (half is None and math.isnan(old)) or half == old, path
    assert reached >= 4  # the comparison covers reached thresholds, not only "never"


def test_shaping_benchmark_steps_to_reach_is_unchanged(load_benchmark):
    bench = load_benchmark("shaping_sample_efficiency")
    curve = pd.DataFrame({"timesteps": [0.0, 10.0, 20.0], "mean": [0.0, 0.4, 0.8]})
    assert bench.steps_to_reach(curve, 0.4) == 10.0
    assert bench.steps_to_reach(curve.assign(mean=[0.0, 0.4 - 1e-12, 0.8]), 0.4) == 10.0
    assert math.isnan(bench.steps_to_reach(curve, 0.9))


# --- RunConfig ---------------------------------------------------------------------------


def test_trainer_and_the_older_algo_spelling_give_the_same_run(tmp_path):
    by_trainer = RunConfig(ENV, trainer="sb3:a2c", logdir=str(tmp_path))
    by_algo = RunConfig(ENV, algo="a2c", logdir=str(tmp_path))
    assert by_trainer == by_algo and by_algo.trainer == "sb3:a2c" and by_algo.algo == "a2c"
    assert by_algo.run_dir == tmp_path / "MountainCarSparse-v0" / "none" / "a2c-seed0"
    assert RunConfig(ENV, "dqn").trainer == "sb3:dqn"  # the old positional algo
    assert replace(by_trainer, algo="ppo").trainer == "sb3:ppo"
    assert replace(by_algo, trainer="sb3:dqn").algo == "dqn"
    assert replace(by_algo, seed=4).trainer == "sb3:a2c"


def test_an_old_config_json_loads_and_keeps_its_run_directory(tmp_path):
    old = {  # a config.json written before trainers existed
        "algo": "recurrent_ppo",
        "batched_shaping": "e3b",
        "checkpoint_every": 0,
        "device": "cpu",
        "env_id": ENV,
        "env_kwargs": {},
        "hyperparams": {},
        "log_every": 1000,
        "logdir": str(tmp_path),
        "n_envs": 2,
        "seed": 1,
        "shaping": "count",
        "steps": 512,
        "torch_threads": 1,
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(old))
    config = RunConfig.load(path)
    assert config.trainer == "sb3:recurrent_ppo"
    assert config.run_dir == tmp_path / "MountainCarSparse-v0/count+batched-e3b/recurrent_ppo-seed1"
    config.save(path)
    saved = json.loads(path.read_text())
    assert saved["algo"] == "recurrent_ppo" and saved["trainer"] == "sb3:recurrent_ppo"
    assert RunConfig.load(path) == config


def test_unknown_trainers_and_config_fields_fail_in_one_sentence(tmp_path):
    names = ", ".join(trainer_names())
    with pytest.raises(ValueError, match="algo") as error:
        RunConfig(ENV, algo="sac")
    assert str(error.value).endswith(f"registered trainers: {names}")
    with pytest.raises(ValueError, match=r"unknown trainer 'jax:ppo'; registered trainers"):
        RunConfig(ENV, trainer="jax:ppo")
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"env_id": ENV, "colour": "red"}))
    with pytest.raises(ValueError, match=r"unknown run config fields \['colour'\]"):
        RunConfig.load(path)
    path.write_text('{"env_id": ')
    with pytest.raises(ValueError, match="not valid JSON"):
        RunConfig.load(path)


# --- RunRecord on damaged files ----------------------------------------------------------


def _write(path: Path, text: str | bytes) -> None:
    path.write_bytes(text if isinstance(text, bytes) else text.encode())


@pytest.mark.parametrize(
    "curve, rows, problem",
    [
        ("timesteps,episodes,success_rate\n100,10,0.5\n200,20,0.", 2, None),  # cut mid-number
        ("timesteps,episodes,success_rate\n100,10,0.5\n200,2", 1, "expected 3 fields"),
        ("timesteps,episodes,success_rate\n100,10,0.5\n200,x,0.7\n", 1, "not a number"),
        ("timesteps,episodes,success_rate\n100,10,0.5\n200,20,0.6,9\n", 1, "expected 3 fields"),
        ("", 0, "empty file"),
        ("timest", 0, "no timesteps or success_rate column"),
        (b"\xff\xfe\x00garbage\x00\n\x81", 0, "column"),
    ],
)
def test_damaged_curves_are_flagged_not_fatal(tmp_path, curve, rows, problem, caplog):
    _write(tmp_path / "curve.csv", curve)
    record = RunRecord.load(tmp_path)
    assert len(record.curve) == rows
    assert record.steps_to_success(0.5, min_episodes=0) in (None, 100.0)
    if problem is None:
        assert record.problems == []
    else:
        assert len(record.problems) == 1 and problem in record.problems[0]
        assert problem in caplog.text
        with pytest.raises(RunFileError, match=problem):
            RunRecord.load(tmp_path, strict=True)


@pytest.mark.parametrize("text", ['{"timesteps": 5', "[1, 2]", '{"timesteps": "many"}', ""])
def test_a_damaged_summary_counts_as_missing(tmp_path, text):
    _write(tmp_path / "summary.json", text)
    record = RunRecord.load(tmp_path)
    assert record.summary is None and len(record.problems) == 1
    assert "summary.json" in record.problems[0] and not record.finished(1)
    with pytest.raises(RunFileError, match="summary.json"):
        RunRecord.load(tmp_path, strict=True)


def test_a_missing_run_directory_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run directory"):
        RunRecord.load(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no run to resume"):
        resume_run(tmp_path)


# --- the scheduler -----------------------------------------------------------------------


def _fake_train(config, *, resume=False, progress=True, **kwargs):
    config.run_dir.mkdir(parents=True, exist_ok=True)
    summary = {"seed": config.seed, "resume": resume, "timesteps": config.steps}
    (config.run_dir / "summary.json").write_text(json.dumps(summary))
    return summary


def test_run_all_dispatches_through_the_trainer_registry(tmp_path, monkeypatch):
    monkeypatch.setitem(TRAINERS._entries, "fake", _fake_train)
    base = RunConfig(ENV, trainer="fake:anything", steps=64, logdir=str(tmp_path))
    assert base.run_dir.name == "fake-anything-seed0"
    configs = [replace(base, seed=seed) for seed in range(3)]
    checkpoint = configs[1].run_dir / "checkpoints" / "step_32"
    checkpoint.mkdir(parents=True)
    (checkpoint / "model.bin").write_text("x")
    done = []
    summaries = run_all(configs, "local", workers=1, on_done=done.append)
    assert summaries == done and [s["seed"] for s in done] == [0, 1, 2]
    assert [s["resume"] for s in done] == [False, True, False]  # continues from its checkpoint
    record = RunRecord.load(configs[2].run_dir)
    assert record.finished(64) and record.timesteps == 64 and record.config is None
    assert train_or_resume(configs[0])["resume"] is False


def test_run_all_backends_fail_in_one_sentence():
    config = RunConfig(ENV, steps=8)
    assert run_all([], "ray") == []  # nothing to train: Ray is not even imported
    with pytest.raises(ValueError, match="unknown run backend 'x'; registered run backends"):
        run_all([config], "x")
    with pytest.raises(TypeError, match="backend is a name"):
        run_all([config], 2)  # the old run_all(configs, workers, on_done) call


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_a_pool_worker_dies_with_its_parent():
    child = (
        "import os, time\n"
        "from densegym.agents.runs.backends import die_with_parent\n"
        "die_with_parent(os.getppid(), 0.05)\n"
        "print(os.getpid(), flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = (
        "import subprocess, sys, os\n"
        f"p = subprocess.Popen([sys.executable, '-c', {child!r}], stdout=subprocess.PIPE, "
        "text=True)\n"
        "print(p.stdout.readline().strip(), flush=True)\n"
        "os._exit(0)\n"  # the parent dies without waiting for its child
    )
    out = subprocess.run(
        [sys.executable, "-c", parent], capture_output=True, text=True, timeout=120
    )
    pid = int(out.stdout.split()[0])

    def alive() -> bool:
        try:
            state = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return False
        return "State:\tZ" not in state

    deadline = time.monotonic() + 20
    while alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive():  # pragma: no cover - clean up before failing
        os.kill(pid, 9)
    assert not alive()


# --- the command line --------------------------------------------------------------------


def test_cli_run_options_come_from_the_config_fields(tmp_path):
    parser = build_parser()
    train_help = parser.parse_args(["train"])  # every option has a default
    from densegym.agents.runs.config import cli_options

    for name, _, _ in cli_options():
        assert hasattr(train_help, name), name
    argv = ["train", "--env", ENV, "--trainer", "sb3:dqn", "--steps", "64", "--n-envs", "2",
            "--seed", "3", "--logdir", str(tmp_path), "--hp", "learning_starts=8", "--hp",
            "gamma=0.9", "--checkpoint-every", "32", "--log-every", "16", "--device", "cpu",
            "--torch-threads", "2", "--env-kwargs", "{}", "--batched-shaping", "e3b"]  # fmt: skip
    config = _base_config(parser.parse_args(argv), "potential")
    assert config == RunConfig(
        ENV,
        trainer="sb3:dqn",
        shaping="potential",
        steps=64,
        n_envs=2,
        seed=3,
        logdir=str(tmp_path),
        hyperparams={"learning_starts": 8, "gamma": 0.9},
        checkpoint_every=32,
        log_every=16,
        torch_threads=2,
        batched_shaping="e3b",
    )
    old = _base_config(parser.parse_args(["compare", "--env", ENV, "--algo", "a2c"]), None)
    assert old.trainer == "sb3:a2c" and old.steps == 50_000 and old.n_envs == 8
    assert _base_config(parser.parse_args(["train", "--env", ENV]), None).trainer == "sb3:ppo"
    for bad, message in (
        (["--trainer", "sb3:sac"], "unknown trainer 'sb3:sac'"),
        (["--algo", "a2c", "--trainer", "sb3:ppo"], "disagree"),
        (["--hp", "gamma"], "--hp: expected key=value"),
        (["--env-kwargs", "[1]"], "--env-kwargs: expected a JSON object"),
    ):
        with pytest.raises(SystemExit, match=message):
            _base_config(parser.parse_args(["train", "--env", ENV, *bad]), None)
