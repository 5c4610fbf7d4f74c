"""The MiniHack exploration benchmark runs end to end at a tiny budget and resumes."""

import json

import pandas as pd
import pytest

SECTION = "## MiniHack exploration (issue 3)"  # the README heading the benchmark owns


def test_benchmark_runs_end_to_end_and_skips_finished_runs(tmp_path, capsys, load_benchmark):
    bench = load_benchmark("minihack_exploration")
    readme = tmp_path / "README.md"
    readme.write_text("# benchmarks\n\n## Someone else's section\n\nkeep me\n")
    results = tmp_path / "results.json"
    argv = [
        "--steps", "512", "--seeds", "1", "--tasks", "Room-5x5", "--shapings", "none,e3b",
        "--n-envs", "2", "--log-every", "128", "--workers", "1",
        "--logdir", str(tmp_path / "runs"), "--results", str(results), "--readme", str(readme),
    ]  # fmt: skip
    first = bench.main([*argv, "--speed-steps", "256", "--speed-rounds", "1"])
    logdir = tmp_path / "runs"
    curves = pd.read_csv(logdir / "curves.csv")
    assert set(curves["shaping"]) == {"none", "e3b"}
    table = pd.read_csv(logdir / "table.csv")
    assert list(table["shaping"]) == ["none", "e3b"] and (table["steps"] == 512).all()
    assert (logdir / "plots" / "Room-5x5.png").stat().st_size > 0
    assert (logdir / "MiniHack-Room-5x5-v0" / "batched-e3b" / "ppo-seed0" / "summary.json").exists()
    assert set(first["e3b_over_none_steps_per_s"]) == {"Room-5x5"}
    assert first["paired_speed"]["ratio"] > 0 and first["paired_speed"]["task"] == "Room-5x5"
    assert json.loads(results.read_text())["budget_steps"] == 512
    assert (tmp_path / "results_Room-5x5.png").stat().st_size > 0  # the plot beside it
    # Both rows are complete at this budget, so the target check gives a verdict.
    (verdict,) = first["target"]
    assert verdict["task"] == "Room-5x5" and not verdict["verdict"].startswith("incomplete")
    assert "Target check at 512 env steps, 1 seed (" in readme.read_text()
    # The task × shaping matrix: both cells done, in the README and as a picture.
    assert [(c["shaping"], c["done"]) for c in first["matrix"]] == [("none", 1), ("e3b", 1)]
    assert "| task | `none` | `e3b` |" in readme.read_text()
    assert (tmp_path / "results_summary.png").stat().st_size > 0
    assert "](results_summary.png)" in readme.read_text()  # embedded as an image
    capsys.readouterr()

    bench.main(argv)  # everything finished: nothing retrains, the section is replaced
    assert "0 to train" in capsys.readouterr().out
    text = readme.read_text()
    assert text.count("## MiniHack exploration (issue 3)") == 1
    assert "keep me" in text and "| Room-5x5 | e3b | 512 |" in text
    assert "paired measurement **" in text  # the speed figure is kept from the first call
    capsys.readouterr()

    # A bigger budget, reported before any run reaches it: --include-partial shows each
    # run at the step it has reached (here its own finished 512-step summary).
    bigger = [*argv[:1], "1024", *argv[2:]]
    partial = bench.main([*bigger, "--report-only", "--include-partial"])
    assert {row["steps"] for row in partial["table"]} == {512}
    assert partial["target"][0]["verdict"] == "incomplete: e3b, none"  # none at 1024 yet
    cells = partial["matrix"]
    assert all(cell["done"] == 0 and cell["text"].endswith(" at 512)") for cell in cells)
    assert all(row["env_steps_per_s"] > 0 for row in partial["table"])
    # A run part-way to the new budget (its curve beyond its summary) is marked unfinished.
    run_dir = logdir / "MiniHack-Room-5x5-v0" / "none" / "ppo-seed0"
    curve = pd.read_csv(run_dir / "curve.csv")
    extra = curve.iloc[[-1]].assign(timesteps=curve["timesteps"].max() + 256)
    pd.concat([curve, extra]).to_csv(run_dir / "curve.csv", index=False)
    partial = bench.main([*bigger, "--report-only", "--include-partial"])
    assert {row["steps"] for row in partial["table"]} == {512, 768}
    assert "| unfinished | unfinished |" in readme.read_text()
    assert bench.main([*bigger, "--report-only"])["table"] == []  # finished runs only


def test_steps_to_threshold_and_reach_text(load_benchmark):
    bench = load_benchmark("minihack_exploration_report")
    curve = pd.DataFrame({"timesteps": [1000, 2000, 3000], "success_rate": [0.1, 0.5, 0.95]})
    assert bench.steps_to(curve, 0.5) == 2000 and bench.steps_to(curve, 0.99) is None
    resumed = curve.assign(episodes=[30, 1, 30])  # a resumed run's first, lucky episode
    assert bench.steps_to(resumed, 0.5) == 3000
    import doctest

    assert doctest.testmod(bench).failed == 0
    assert doctest.testmod(load_benchmark("minihack_exploration")).failed == 0
    assert bench._reach(pd.Series([None, None])) == "not reached"
    assert bench._reach(pd.Series([2000.0, None])) == "2k (1/2 seeds)"


def _tiny_run(logdir, readme) -> list[str]:
    """Arguments of a 256-step, one-seed Room-5x5 benchmark run writing only ``readme``."""
    return [
        "--steps", "256", "--seeds", "1", "--tasks", "Room-5x5", "--n-envs", "2",
        "--log-every", "128", "--workers", "1", "--logdir", str(logdir), "--results", "",
        "--readme", str(readme),
    ]  # fmt: skip


def test_full_map_runs_are_kept_apart(tmp_path, load_benchmark):
    bench = load_benchmark("minihack_exploration")
    plain = bench.parse_args([])
    assert plain.logdir == "runs/minihack_exploration"
    assert plain.results.endswith("minihack_exploration.json")
    mapped = bench.parse_args(["--full-map"])
    assert mapped.logdir == "runs/minihack_exploration_full_map"
    assert mapped.results.endswith("minihack_exploration_full_map.json")
    readme = tmp_path / "README.md"
    readme.write_text(f"# b\n\n{SECTION}\n\ncrop-only text\n")
    logdir = tmp_path / "runs"
    results = bench.main(["--full-map", "--shapings", "count", *_tiny_run(logdir, readme)])
    assert "--full-map" in results["command"]
    config = json.loads((logdir / "MiniHack-Room-5x5-v0/count/ppo-seed0/config.json").read_text())
    assert config["env_kwargs"] == {"full_map": True}
    text = readme.read_text()
    assert "crop-only text" in text and f"{SECTION} — full map" in text


def test_recurrent_runs_are_kept_apart(tmp_path, load_benchmark):
    bench = load_benchmark("minihack_exploration")
    recurrent = bench.parse_args(["--algo", "recurrent_ppo"])
    assert recurrent.logdir == "runs/minihack_exploration_recurrent"
    assert recurrent.results.endswith("minihack_exploration_recurrent.json")
    readme = tmp_path / "README.md"
    readme.write_text(f"# b\n\n{SECTION}\n\nfeed-forward text\n\n## Next\n\nnext text\n")
    logdir = tmp_path / "runs"
    argv = ["--algo", "recurrent_ppo", "--shapings", "none", *_tiny_run(logdir, readme)]
    results = bench.main(argv)
    assert "--algo recurrent_ppo" in results["command"] and results["algo"] == "recurrent_ppo"
    run = logdir / "MiniHack-Room-5x5-v0/none/recurrent_ppo-seed0"
    assert json.loads((run / "config.json").read_text())["algo"] == "recurrent_ppo"
    text = readme.read_text()
    assert "feed-forward text" in text and "next text" in text
    # The variant's section sits right after the main one, before the next section.
    order = [text.index(SECTION), text.index(f"{SECTION} — recurrent PPO")]
    assert order == sorted(order) and order[1] < text.index("## Next")
    bench.main(argv)  # a second report replaces the section instead of adding one
    assert readme.read_text().count(f"{SECTION} — recurrent PPO") == 1
    assert "Recurrent PPO with one shared 128-unit LSTM" in text
    assert "Peer: rllte" not in text.split(f"{SECTION} — recurrent PPO")[1]


def test_target_check_names_every_complete_bonus_that_meets_it(load_benchmark):
    report = load_benchmark("minihack_exploration_report")
    summary = pd.DataFrame(
        {
            "task": ["A"] * 5,
            "shaping": ["none", "e3b", "noveld", "rnd", "icm"],
            "steps": [100, 100, 100, 100, 60],
            "seeds": [3, 3, 3, 3, 1],
            "final_success": [0.1, 0.85, 0.97, 0.4, 1.0],
        }
    )
    (row,) = report.target_verdicts(summary, budget=100, seeds=3).to_dict("records")
    # icm is unfinished, so its 1.0 does not count; rnd is complete but below 0.8.
    assert (row["best_bonus"], row["meeting"], row["verdict"]) == ("noveld", "noveld, e3b", "met")
    table = report.markdown_verdicts(pd.DataFrame([row]), budget=100, seeds=3)
    assert "| A | 0.10 | noveld | 0.97 | noveld, e3b | met |" in table


def test_success_matrix_counts_only_finished_seeds(load_benchmark):
    report = load_benchmark("minihack_exploration_matrix")
    import doctest

    assert doctest.testmod(report).failed == 0
    runs = pd.DataFrame(
        {
            "task": ["A"] * 5 + ["B"],
            "shaping": ["e3b", "e3b", "e3b", "rnd", "rnd", "e3b"],
            "seed": [0, 1, 2, 0, 1, 0],
            "steps": [100, 100, 60, 30, 50, 100],
            "success_rate": [1.0, 0.8, 0.0, 0.2, 0.6, 0.5],
        }
    )
    matrix = report.success_matrix(runs, budget=100, seeds=3).set_index(["task", "shaping"])
    # The unfinished seed 2 does not drag e3b's mean down; rnd has no finished seed.
    assert matrix.loc[("A", "e3b"), "success"] == pytest.approx(0.9)
    assert matrix.loc[("A", "e3b"), "done"] == 2
    assert matrix.loc[("A", "e3b"), "text"] == "0.90 (2/3)"
    assert matrix.loc[("A", "rnd"), "text"] == "(0.40 at 50)"
    assert matrix.loc[("A", "rnd"), "reached"] == 50
    text = report.markdown_matrix(matrix.reset_index(), ["none", "e3b", "rnd"], 100, 3)
    assert "| task | `e3b` | `rnd` |" in text  # shapings never run get no column
    assert "| B | 0.50 (1/3) | – |" in text  # a task without the shaping gets a dash
