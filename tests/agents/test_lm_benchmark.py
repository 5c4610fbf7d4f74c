"""The figures of benchmarks/lm_process_rewards.py, on hand-made curves."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

PATH = Path(__file__).parents[2] / "benchmarks" / "lm_process_rewards.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("lm_process_rewards", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(accuracies, shaped=(0.0, 0.0, 0.0, 0.0), success=(0.0, 0.0, 0.0, 0.0)):
    evals = [{"samples": 8 * i, "accuracy": a} for i, a in enumerate(accuracies)]
    train = [{"shaped_return": r, "success": s} for r, s in zip(shaped, success)]
    return {"eval": evals, "train": train, "wall_s": 1.0}


def test_the_ratio_is_outcome_samples_over_arm_samples_to_outcomes_final_accuracy(bench):
    results = {
        # Outcome reaches its final 0.2 at 24 samples (mean of the two seeds).
        "outcome": [_run([0.0, 0.0, 0.1, 0.2]), _run([0.0, 0.1, 0.1, 0.2])],
        # PAV reaches 0.2 at 8 samples: 3x fewer.
        "pav": [_run([0.0, 0.2, 0.3, 0.4]), _run([0.0, 0.2, 0.3, 0.3])],
        # PRM never reaches it.
        "prm": [_run([0.0, 0.0, 0.0, 0.1]), _run([0.0, 0.0, 0.0, 0.1])],
    }
    summary = bench.summarise(results)
    assert summary["outcome"]["target_accuracy"] == pytest.approx(0.2)
    assert summary["outcome"]["samples_to_target"] == 24
    assert summary["outcome"]["sample_efficiency_vs_outcome"] == 1.0
    assert summary["pav"]["samples_to_target"] == 8
    assert summary["pav"]["sample_efficiency_vs_outcome"] == pytest.approx(3.0)
    assert summary["pav"]["final_accuracy_per_seed"] == [0.4, 0.3]
    assert math.isnan(summary["prm"]["sample_efficiency_vs_outcome"])
    assert "did not reach" in summary["prm"]["note"]
    assert "|" in bench.table(summary)


def test_no_ratio_when_the_outcome_run_did_not_improve(bench):
    flat = [_run([0.1, 0.1, 0.1, 0.1])] * 2
    summary = bench.summarise({"outcome": flat, "pav": flat})
    assert math.isnan(summary["pav"]["sample_efficiency_vs_outcome"])
    assert "no ratio" in summary["pav"]["note"]


def test_the_farming_check_sees_shaped_return_rise_without_success(bench):
    farmed = _run([0.0] * 4, shaped=(0.5, 1.0, 2.0, 4.0), success=(0.0, 0.0, 0.0, 0.0))
    honest = _run([0.0] * 4, shaped=(0.0, 0.5, 1.0, 1.0), success=(0.0, 0.5, 1.0, 1.0))
    f = bench.farming([farmed])
    assert f["shaped_return_last_quarter"] > f["shaped_return_first_quarter"]
    assert f["train_success_last_quarter"] == f["train_success_first_quarter"] == 0.0
    assert math.isnan(f["corr_shaped_return_success"])  # success never varies
    assert bench.farming([honest])["corr_shaped_return_success"] == pytest.approx(1.0)


def test_arms_map_to_shaping_specs_and_advantage_modes(bench):
    paths = {"prm": "/m/prm.pt", "implicit_prm": "/m/ip.pt"}
    assert bench.arm_spec("outcome", paths) == (None, "outcome")
    assert bench.arm_spec("prm_delta", paths) == (
        [{"id": "prm", "path": "/m/prm.pt", "guard": "delta"}],
        "pav",
    )
    assert bench.arm_spec("implicit_prm", paths) == (
        [{"id": "implicit_prm", "checkpoint": "/m/ip.pt"}],
        "pav",
    )
    with pytest.raises(ValueError, match="unknown arm 'prn'"):
        bench.arm_spec("prn", paths)
