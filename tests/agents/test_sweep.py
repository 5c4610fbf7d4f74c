"""Sweeps: the grid, the config -> trial mapping, and the same runs through local and Ray.

The Ray tests start Ray on this machine (2 CPUs, 127.0.0.1 only) and are skipped when the
``ray`` extra is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import textwrap
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from densegym.agents.runs import TRAINERS, RunConfig, run_all
from densegym.agents.runs.ray_engine import (
    config_of_trial,
    experiment_name,
    ray_temp_dir,
    trial_space,
)
from densegym.agents.runs.sweep import grid, sweep
from densegym.cli import build_parser, main

ENV = "densegym/MountainCarSparse-v0"
HAS_RAY = importlib.util.find_spec("ray") is not None
needs_ray = pytest.mark.skipif(
    not HAS_RAY, reason='Ray Tune is not installed (pip install -e ".[ray]")'
)
#: Columns that differ between two runs of the same config (timing, location).
TIMING = ["wall_time_s", "env_steps_per_s", "run_dir"]


def _fake_train(config, *, resume=False, progress=True, **kwargs):
    if config.seed == 13:
        raise RuntimeError("this run is broken")
    config.run_dir.mkdir(parents=True, exist_ok=True)
    summary = {"seed": config.seed, "shaping": config.label, "timesteps": config.steps,
               "success_rate": 0.5, "env_steps_per_s": 1.0, "resume": resume}  # fmt: skip
    (config.run_dir / "summary.json").write_text(json.dumps(summary))
    return summary


# --- without Ray -------------------------------------------------------------------------


def test_the_grid_is_env_trainer_shaping_seed():
    configs = grid([ENV], ["none", {"id": "potential"}], 2, trainers="sb3:a2c", steps=512)
    assert [(c.label, c.seed, c.trainer, c.steps) for c in configs] == [
        ("none", 0, "sb3:a2c", 512),
        ("none", 1, "sb3:a2c", 512),
        ("potential", 0, "sb3:a2c", 512),
        ("potential", 1, "sb3:a2c", 512),
    ]
    base = RunConfig(ENV, seed=5, n_envs=2)
    assert [c.seed for c in grid(ENV, [None], 3, base=base)] == [5, 6, 7]
    assert all(c.n_envs == 2 for c in grid(ENV, [None], 3, base=base))
    with pytest.raises(ValueError, match="at least one env"):
        grid([], [None])


def test_configs_map_to_trials_and_back_without_ray():
    configs = grid([ENV], [None, "potential", "count+potential"], [0, 7], steps=256, n_envs=2)
    space = trial_space(configs)
    assert space == {"run": {"grid_search": list(range(6))}}
    data = [json.loads(json.dumps(c.to_dict())) for c in configs]  # what a trial receives
    trials = [config_of_trial({"run": index}, data) for index in space["run"]["grid_search"]]
    assert trials == configs
    assert len({t.run_dir for t in trials}) == len(trials)  # one run folder per trial
    assert experiment_name(configs) == experiment_name([replace(c) for c in configs])
    assert experiment_name(configs) != experiment_name(configs[:-1])
    with pytest.raises(IndexError, match="not one of the 6 runs"):
        config_of_trial({"run": 6}, data)
    if HAS_RAY:  # the hand-built grid is Tune's
        from ray import tune

        assert space == {"run": tune.grid_search(list(range(6)))}


def test_ray_paths_stay_short_and_out_of_home():
    assert len(str(ray_temp_dir())) <= 40
    assert ray_temp_dir("/" + "x" * 200).parent == Path("/tmp")
    from densegym.agents.runs.ray_engine import default_storage

    config = RunConfig(ENV, logdir="relative/runs")
    assert default_storage([config]) == (Path.cwd() / "relative/runs/ray_results")


def test_an_empty_grid_never_starts_ray_and_unknown_engines_fail():
    assert run_all([], "ray") == []
    with pytest.raises(ValueError, match="unknown engine 'slurm'"):
        sweep(ENV, engine="slurm")


def test_without_ray_the_error_names_the_install_command(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    argv = ["sweep", "--env", ENV, "--engine", "ray", "--steps", "64", "--logdir", str(tmp_path)]
    with pytest.raises(SystemExit, match=r'install it with: pip install -e "\.\[ray\]"'):
        main(argv)


def test_a_local_sweep_reports_failures_and_a_repeat_trains_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(TRAINERS._entries, "fake", _fake_train)
    kwargs = dict(trainers="fake:x", steps=64, logdir=str(tmp_path), progress=False)
    first = sweep(ENV, [None, "potential"], [0, 13], workers=1, **kwargs)
    assert [row["status"] for row in first.rows] == ["ok", "failed", "ok", "failed"]
    assert "RuntimeError: this run is broken" in first.failed[0]["error"]
    assert len(first.trained) == 4
    again = sweep(ENV, [None, "potential"], [0, 13], workers=1, **kwargs)
    assert [Path(p).name for p in again.trained] == ["fake-x-seed13"] * 2  # only the failed
    summary = pd.read_csv(again.reports[ENV]["summary_csv"])
    assert list(summary["status"]) == ["ok", "failed", "ok", "failed"]
    assert set(summary["retries"]) == {0}
    assert sweep(ENV, [None], [0], workers=1, **kwargs).trained == []


def test_the_sweep_command_line(tmp_path, monkeypatch, capsys):
    args = build_parser().parse_args(
        ["sweep", "--env", f"{ENV},{ENV}", "--shaping", "none,potential", "--seeds", "3",
         "--engine", "ray", "--address", "auto", "--cpus-per-trial", "2", "--storage", "s"]
    )  # fmt: skip
    assert (args.engine, args.address, args.cpus_per_trial, args.storage) == ("ray", "auto", 2, "s")
    with pytest.raises(SystemExit, match="share a run folder"):
        main(["sweep", "--env", f"{ENV},{ENV}", "--steps", "64", "--logdir", str(tmp_path)])
    with pytest.raises(SystemExit, match="unknown env id 'densegym/Nope-v0'"):
        main(["sweep", "--env", f"{ENV},densegym/Nope-v0", "--logdir", str(tmp_path)])
    with pytest.raises(SystemExit, match="unknown trainer 'sb3:sac'"):
        main(["sweep", "--env", ENV, "--trainer", "sb3:ppo,sb3:sac", "--logdir", str(tmp_path)])
    monkeypatch.setitem(TRAINERS._entries, "fake", _fake_train)
    argv = ["sweep", "--env", ENV, "--trainer", "fake:x", "--seeds", "1", "--seed", "13",
            "--steps", "64", "--logdir", str(tmp_path), "--workers", "1"]  # fmt: skip
    assert main(argv) == 1  # a failed run: non-zero exit, marked in the table
    out = capsys.readouterr().out
    assert "1 failed" in out and "this run is broken" in out


# --- with Ray ----------------------------------------------------------------------------


def _final_numbers(summary_csv: Path) -> pd.DataFrame:
    frame = pd.read_csv(summary_csv)
    return frame.drop(columns=[c for c in TIMING if c in frame]).reset_index(drop=True)


@needs_ray
@pytest.mark.timeout(300)
def test_ray_trains_the_same_runs_as_local_and_a_repeat_trains_nothing(tmp_path):
    import ray

    common = dict(steps=1024, n_envs=2, log_every=256, workers=2, progress=False)
    local = sweep(ENV, [None, "potential"], [0], logdir=str(tmp_path / "local"), **common)
    on_ray = sweep(ENV, [None, "potential"], [0], engine="ray", cpus_per_trial=1,
                   logdir=str(tmp_path / "ray"), **common)  # fmt: skip
    assert not ray.is_initialized()  # the sweep started Ray, so it stopped it
    assert [row["status"] for row in on_ray.rows] == ["ok", "ok"]
    pd.testing.assert_frame_equal(
        _final_numbers(local.reports[ENV]["summary_csv"]),
        _final_numbers(on_ray.reports[ENV]["summary_csv"]),
    )
    for a, b in zip(local.trained, on_ray.trained):
        assert (Path(a) / "curve.csv").read_text() == (Path(b) / "curve.csv").read_text()
        assert sorted(p.name for p in Path(a).iterdir() if not p.name.startswith("events")) == (
            sorted(p.name for p in Path(b).iterdir() if not p.name.startswith("events"))
        )
        assert list(Path(b).glob("events.out.tfevents.*"))  # TensorBoard, like local runs
    assert (tmp_path / "ray" / "ray_results").is_dir()  # Tune's state stays under the logdir
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "ray").rglob("summary.json")}
    again = sweep(ENV, [None, "potential"], [0], engine="ray", logdir=str(tmp_path / "ray"),
                  **common)  # fmt: skip
    assert again.trained == [] and [row["status"] for row in again.rows] == ["ok", "ok"]
    assert stamps == {p: p.stat().st_mtime_ns for p in (tmp_path / "ray").rglob("summary.json")}


KILLER = """
import json, os, signal
from pathlib import Path


def train(config, *, resume=False, progress=True, **kwargs):
    attempts = Path(config.logdir) / f"attempts-seed{config.seed}"
    count = int(attempts.read_text()) + 1 if attempts.exists() else 1
    attempts.write_text(str(count))
    if config.seed == 1 or count == 1:  # seed 1 always dies, seed 0 on its first attempt
        os.kill(os.getpid(), signal.SIGKILL)
    config.run_dir.mkdir(parents=True, exist_ok=True)
    summary = {"seed": config.seed, "shaping": config.label, "timesteps": config.steps,
               "success_rate": 1.0, "env_steps_per_s": 1.0, "run_dir": str(config.run_dir)}
    (config.run_dir / "summary.json").write_text(json.dumps(summary))
    return summary
"""


@needs_ray
@pytest.mark.timeout(300)
def test_a_killed_trial_is_retried_and_one_that_keeps_dying_is_reported(tmp_path, monkeypatch):
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "dg_sweep_killer.py").write_text(textwrap.dedent(KILLER))
    monkeypatch.syspath_prepend(str(modules))
    # Ray's worker processes inherit this environment and import the trainer from it.
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(modules), os.environ.get("PYTHONPATH", "")])
    )
    monkeypatch.setitem(TRAINERS._entries, "killer", "dg_sweep_killer:train")
    logdir = tmp_path / "runs"
    result = sweep(ENV, [None], [0, 1], trainers="killer:x", engine="ray", workers=2,
                   max_failures=1, logdir=str(logdir), progress=False)  # fmt: skip
    survivor, dead = result.rows
    assert (survivor["status"], survivor["retries"], survivor["success_rate"]) == ("ok", 1, 1.0)
    assert (dead["status"], dead["retries"]) == ("failed", 1)
    assert dead["error"]
    assert (logdir / "attempts-seed0").read_text() == "2"
    assert (logdir / "attempts-seed1").read_text() == "2"  # 1 + max_failures attempts
    summary = pd.read_csv(result.reports[ENV]["summary_csv"])
    assert list(summary["status"]) == ["ok", "failed"] and list(summary["retries"]) == [1, 1]


# --- any list of runs, engine options for scripts, per-run limits (issue 27) -------------


def test_a_list_of_runs_trains_in_its_own_order_and_reports_each_run(tmp_path, monkeypatch):
    from densegym.agents.runs.sweep import sweep_runs

    monkeypatch.setitem(TRAINERS._entries, "fake", _fake_train)
    base = RunConfig(ENV, trainer="fake:x", steps=64, logdir=str(tmp_path))
    # Whole rows first (seed, then shaping), and a shaping spec per run: not a grid.
    configs = [replace(base, seed=s, shaping=sh) for s in (1, 0) for sh in ("potential", None)]
    seen = []
    result = sweep_runs(configs, workers=1, progress=False, on_done=seen.append)
    assert [(r["seed"], r["shaping"]) for r in seen] == [
        (1, "potential"), (1, "none"), (0, "potential"), (0, "none")
    ]  # fmt: skip
    assert [r["seed"] for r in result.rows] == [1, 1, 0, 0]
    assert set(result.reports) == {ENV}
    seen.clear()
    assert sweep_runs(configs, workers=1, progress=False, on_done=seen.append).trained == []
    assert seen == []  # nothing trained, nothing reported as it ended
    with pytest.raises(ValueError, match="unknown engine 'slurm'"):
        sweep_runs(configs, engine="slurm")


def test_scripts_take_the_engine_options_of_a_sweep():
    import argparse

    from densegym.agents.runs.sweep import add_engine_arguments, engine_options

    parser = argparse.ArgumentParser()
    add_engine_arguments(parser)
    assert engine_options(parser.parse_args(["--address", "auto"])) == {
        "engine": "local", "max_failures": 2
    }  # fmt: skip
    argv = ["--engine", "ray", "--address", "auto", "--storage", "/shared", "--cpus-per-trial", "2"]
    assert engine_options(parser.parse_args([*argv, "--max-failures", "0"])) == {
        "engine": "ray", "max_failures": 0, "address": "auto", "cpus_per_trial": 2.0,
        "storage": "/shared",
    }  # fmt: skip
    with pytest.raises(SystemExit):
        parser.parse_args(["--engine", "slurm"])


def test_a_run_carries_its_wall_clock_limit_and_reports_its_llm_work(tmp_path):
    with pytest.raises(ValueError, match="time_limit_s"):
        RunConfig(ENV, time_limit_s=-1)
    config = RunConfig(ENV, steps=4096, n_envs=1, logdir=str(tmp_path), time_limit_s=1e-6)
    assert RunConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    (row,) = sweep_runs_of([config])
    assert row["stopped_at_time_limit"] is True and row["timesteps"] < 4096
    assert (row["llm_calls"], row["llm_tokens"], row["llm_seconds"]) == (0, 0, 0.0)
    unlimited = replace(config, steps=256, time_limit_s=0.0, logdir=str(tmp_path / "b"))
    (row,) = sweep_runs_of([unlimited])
    assert row["stopped_at_time_limit"] is False and row["timesteps"] >= 256


def sweep_runs_of(configs):
    from densegym.agents.runs.sweep import sweep_runs

    return sweep_runs(configs, workers=1, progress=False).rows
