import importlib.util
import json
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "tool_use.py"


def test_tiny_benchmark_run_writes_results(tmp_path):
    spec = importlib.util.spec_from_file_location("tool_use_bench", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "tool_use.json"
    argv = ["--tasks", "3", "--astar-tasks", "2", "--ppo-steps", "256", "--rounds", "1"]
    assert module.main([*argv, "--families", "Lookup", "--results", str(out)]) == 0
    result = json.loads(out.read_text())
    speed = result["env_speed"]
    assert speed["inproc_steps_per_s"] > 0 and speed["http_steps_per_s"] > 0
    assert speed["ratio_clone_vs_deepcopy"] > 0 and speed["world_rows"] > 100
    rows = result["agents"]["Lookup"]
    assert {"random (grounded candidates)", "A* (progress h, grounded)"} <= set(rows)
    assert any(name.startswith("PPO + `potential`") for name in rows)
    assert "| Lookup |" in module.markdown(result)
