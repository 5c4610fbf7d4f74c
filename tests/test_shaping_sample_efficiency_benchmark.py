"""The shaping sample-efficiency benchmark runs end to end at a tiny budget."""

import json
import math
from pathlib import Path

import pandas as pd

SHAPINGS = ["outcome", "pav", "prm", "implicit_prm"]


def test_benchmark_runs_end_to_end_with_tiny_budget(tmp_path, capsys, load_benchmark):
    bench = load_benchmark("shaping_sample_efficiency")
    out, logdir = tmp_path / "results", tmp_path / "runs"
    results = bench.run(bench.parse_args(["--tiny", "--logdir", str(logdir), "--out", str(out)]))
    table = pd.read_csv(out / "shaping_sample_efficiency.csv")
    assert list(table["shaping"]) == SHAPINGS
    assert (out / "shaping_sample_efficiency.png").stat().st_size > 0
    saved = json.loads((out / "shaping_sample_efficiency.json").read_text())
    assert [row["shaping"] for row in saved["rows"]] == SHAPINGS
    assert saved["tiny"] and saved["models"]["implicit_prm_policy"] == "tiny-random"
    assert math.isfinite(results["target_success_rate"])
    curves = pd.read_csv(results["curves_csv"])
    assert curves["success_rate"].notna().any() and len(curves["shaping"].unique()) == 4
    assert Path(saved["models"]["prm_path"]).exists()
    assert list(logdir.rglob("events.out.tfevents.*"))  # TensorBoard runs
    assert "not reached" in capsys.readouterr().out or (table["reached"]).any()


def test_steps_to_reach_uses_the_mean_over_seeds(load_benchmark):
    bench = load_benchmark("shaping_sample_efficiency")
    curves = pd.DataFrame(
        {
            "shaping": ["outcome"] * 4 + ["pav"] * 4,
            "seed": [0, 0, 1, 1] * 2,
            "timesteps": [100, 200] * 4,
            "success_rate": [0.0, 0.4, 0.2, 0.6, 0.5, 0.6, 0.5, 0.8],
        }
    )
    target, rows = bench.analyse(curves, ["outcome", "pav"])
    assert math.isclose(target, 0.5)
    by = {row["shaping"]: row for row in rows}
    assert by["outcome"]["steps_to_target"] == 200 and by["pav"]["steps_to_target"] == 100
    assert math.isclose(by["pav"]["speedup_vs_outcome"], 2.0)
