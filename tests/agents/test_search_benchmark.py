"""benchmarks/search_compute.py runs end to end at a tiny budget with tiny-random."""

import json

import pytest

pytest.importorskip("transformers")


def test_search_compute_tiny(tmp_path, load_benchmark):
    module = load_benchmark("search_compute")
    summary = module.main(["--tiny", "--out", str(tmp_path)])
    methods = {r["method"] for r in summary["rows"]}
    assert {"greedy", "majority", "best_of_n/orm", "beam/pav", "mcts/prm"} <= methods
    assert all(r["gen_tokens_per_problem"] > 0 for r in summary["rows"])
    for name in ("search_compute.csv", "search_compute.png", "search_compute.json"):
        assert (tmp_path / name).stat().st_size > 0
    assert "token_ratio" in json.loads((tmp_path / "search_compute.json").read_text())["ratios"]
