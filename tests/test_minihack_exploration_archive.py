"""The exploration benchmark's run records outlive the run folders (a new machine)."""

import doctest
import json
import shutil

import pandas as pd


def _argv(tmp_path, steps: int = 512) -> list[str]:
    return [
        "--steps", str(steps), "--seeds", "1", "--tasks", "Room-5x5", "--shapings", "none,e3b",
        "--n-envs", "2", "--log-every", "128", "--workers", "1",
        "--logdir", str(tmp_path / "runs"), "--results", str(tmp_path / "results.json"),
        "--readme", str(tmp_path / "README.md"),
    ]  # fmt: skip


def test_records_replace_lost_run_folders(tmp_path, capsys, load_benchmark):
    bench = load_benchmark("minihack_exploration")
    argv = _argv(tmp_path)
    first = bench.main([*argv, "--speed-steps", "256", "--speed-rounds", "1"])
    records = tmp_path / "results_runs"  # the default archive sits beside --results
    record = json.loads((records / "Room-5x5" / "e3b-seed0.json").read_text())
    assert record["steps"] == 512 and record["curve"]["rows"]
    assert record["curve"]["columns"][0] == "timesteps"
    assert (records / "speed.json").exists()
    assert "kept under git in `results_runs/`" in (tmp_path / "README.md").read_text()
    capsys.readouterr()

    shutil.rmtree(tmp_path / "runs")  # a new machine: runs/ is not under git
    again = bench.main(argv)
    assert "2 runs finished already, 0 to train" in capsys.readouterr().out
    assert not (tmp_path / "runs" / "MiniHack-Room-5x5-v0").exists()  # nothing retrained
    assert again["table"] == first["table"]
    assert again["target"] == first["target"]
    assert again["paired_speed"] == first["paired_speed"]  # kept in the archive too
    curves = pd.read_csv(tmp_path / "runs" / "curves.csv")
    assert set(curves["shaping"]) == {"none", "e3b"}  # curves come back from the records
    assert (tmp_path / "results_Room-5x5.png").stat().st_size > 0


def test_a_restarted_run_does_not_overwrite_a_record_further_along(tmp_path, load_benchmark):
    archive = load_benchmark("minihack_exploration_archive")
    row = {"task": "T", "shaping": "rnd", "seed": 1, "success_rate": 0.4}
    ahead = pd.DataFrame([{**row, "steps": 700, "env_steps_per_s": None}])
    curve = pd.DataFrame({"task": "T", "shaping": "rnd", "seed": 1, "timesteps": [350, 700],
                          "success_rate": [0.1, 0.4]})  # fmt: skip
    assert archive.save_runs(ahead, curve, tmp_path) == 1
    behind = pd.DataFrame([{**row, "steps": 100, "success_rate": 0.0}])
    assert archive.save_runs(behind, curve.iloc[:0], tmp_path) == 0
    keys = [("T", "rnd", 1)]
    assert archive.load_runs(tmp_path, keys, budget=1000)[0].empty  # partial: not finished
    runs, curves = archive.load_runs(tmp_path, keys, budget=1000, partial=True)
    assert runs["steps"].tolist() == [700] and runs["env_steps_per_s"].isna().all()
    assert archive.load_runs(tmp_path, keys, budget=500, partial=True)[0].empty  # other budget
    assert not archive.finished(tmp_path, "T", "rnd", 1, 1000)
    assert archive.finished(tmp_path, "T", "rnd", 1, 700)
    # The run folder's row wins only once it is as far along, and brings its own curve.
    fresh = (behind, curve.iloc[:0])
    merged, merged_curves = archive.merge(fresh, (runs, curves), keys)
    assert merged["steps"].tolist() == [700] and merged_curves["timesteps"].tolist() == [350, 700]
    caught_up = (behind.assign(steps=700, success_rate=0.5), curve.iloc[:1])
    merged, merged_curves = archive.merge(caught_up, (runs, curves), keys)
    assert merged["success_rate"].tolist() == [0.5] and len(merged_curves) == 1


def test_unreadable_record_is_ignored_with_a_warning(tmp_path, capsys, load_benchmark):
    archive = load_benchmark("minihack_exploration_archive")
    path = archive.record_path(tmp_path, "T", "icm", 0)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert archive.load_runs(tmp_path, [("T", "icm", 0)], budget=10)[0].empty
    assert "ignoring unreadable archive record" in capsys.readouterr().out
    assert doctest.testmod(archive).failed == 0


def test_runs_without_a_curve_are_drawn_as_final_markers(tmp_path, load_benchmark):
    report = load_benchmark("minihack_exploration_report")
    curves = pd.DataFrame({"task": "T", "shaping": "e3b", "seed": 0, "timesteps": [10, 20],
                           "success_rate": [0.5, 1.0]})  # fmt: skip
    runs = pd.DataFrame({"task": ["T", "T", "U"], "shaping": ["e3b", "none", "none"],
                         "seed": 0, "steps": 20, "success_rate": [1.0, 0.0, 0.0]})  # fmt: skip
    missing = report._without_curve(runs, curves)
    assert missing[["task", "shaping"]].values.tolist() == [["T", "none"]]
    plots = report.plot_tasks(curves, tmp_path, ["none", "e3b"], runs=runs)
    assert list(plots) == ["T"] and plots["T"].stat().st_size > 0  # U has no curve: no plot
    from densegym.agents.sb3 import plotting

    assert doctest.testmod(plotting).failed == 0  # markers alone, and beside curves
    ends_u = runs[runs["task"] == "U"]
    equal = plotting.endpoint_markers(
        pd.concat([ends_u, ends_u.assign(shaping="count")]), ["none", "count"]
    )
    assert equal["none"]["mean"] == equal["count"]["mean"] == 0.0
    assert equal["count"]["x"] < equal["none"]["x"] == 20.0  # equal values stay apart


def test_paired_speeds_are_kept_one_per_task(tmp_path, load_benchmark):
    archive = load_benchmark("minihack_exploration_archive")
    # A file from before measurements were kept per task holds a single one.
    old = {"task": "A", "ratio": 0.9, "steps": 256, "rounds": 1, "none": [2.0], "e3b": [1.8]}
    (tmp_path / archive.SPEED_FILE).write_text(json.dumps(old))
    assert archive.load_speeds(tmp_path) == {"A": old}
    archive.save_speed({**old, "task": "B", "ratio": 0.7}, tmp_path)
    archive.save_speed({**old, "ratio": 0.95}, tmp_path)  # replaces A's, keeps B's
    speeds = archive.load_speeds(tmp_path)
    assert {task: speed["ratio"] for task, speed in speeds.items()} == {"A": 0.95, "B": 0.7}
    assert archive.load_speeds(tmp_path / "nowhere") == {}
