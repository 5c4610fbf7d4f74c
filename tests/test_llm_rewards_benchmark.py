"""benchmarks/llm_rewards.py trains its grid through a sweep, on either engine (issue 27).

The wall-clock limit of a run travels in its config and its LLM work comes back in its
summary, so both hold wherever the run trained.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

HAS_RAY = importlib.util.find_spec("ray") is not None


def _tiny(tmp_path: Path, *extra: str) -> list[str]:
    logdir = tmp_path / "logs"
    return ["--tiny", "--quiet", "--probe", "0", "--logdir", str(logdir), *extra]


def _summary(row: dict) -> dict:
    return json.loads((Path(row["run_dir"]) / "summary.json").read_text())


def test_rows_come_from_the_run_summaries_and_resume_keeps_finished_runs(tmp_path, load_benchmark):
    bench = load_benchmark("llm_rewards")
    args = bench.parse_args(_tiny(tmp_path, "--shapings", "none,llm_judge"))
    assert (args.engine, args.workers, args.resume) == ("local", 1, False)
    rows, designs = bench.run(args)
    assert designs == {} and [row["shaping"] for row in rows] == ["none", "llm_judge"]
    none, judge = rows
    assert none["llm_calls"] == 0 and judge["llm_calls"] > 0 and judge["llm_tokens"] > 0
    assert judge["llm_calls"] == _summary(judge)["llm_calls"]  # the run's own count
    assert not judge["stopped_at_time_limit"] and judge["steps"] >= 512
    stamp = (Path(none["run_dir"]) / "summary.json").stat().st_mtime_ns
    again, _ = bench.run(bench.parse_args(_tiny(tmp_path, "--shapings", "none", "--resume")))
    assert again[0]["steps"] == none["steps"]
    assert (Path(none["run_dir"]) / "summary.json").stat().st_mtime_ns == stamp  # not retrained
    bench.run(bench.parse_args(_tiny(tmp_path, "--shapings", "none")))  # afresh by default
    assert (Path(none["run_dir"]) / "summary.json").stat().st_mtime_ns != stamp


@pytest.mark.skipif(not HAS_RAY, reason='Ray Tune is not installed (pip install -e ".[ray]")')
@pytest.mark.timeout(300)
def test_on_ray_the_time_limit_holds_and_the_outputs_are_written(tmp_path, load_benchmark):
    bench = load_benchmark("llm_rewards")
    argv = _tiny(tmp_path, "--shapings", "none,potential", "--steps", "4096")
    argv += ["--run-timeout", "0.000001", "--engine", "ray", "--workers", "2"]
    argv += ["--results", str(tmp_path / "out" / "llm_rewards")]
    bench.main(argv)
    record = json.loads((tmp_path / "out" / "llm_rewards.json").read_text())
    rows = record["rows"]
    assert [row["shaping"] for row in rows] == ["none", "potential"]
    assert all(row["stopped_at_time_limit"] and row["steps"] < 4096 for row in rows)
    assert all(_summary(row)["stopped_at_time_limit"] for row in rows)
    assert "(2 cut by time)" not in (tmp_path / "out" / "llm_rewards.md").read_text()
    assert "(1 cut by time)" in (tmp_path / "out" / "llm_rewards.md").read_text()
    assert (tmp_path / "logs" / "runs" / "ray_results").is_dir()  # Tune's state: in the logdir
