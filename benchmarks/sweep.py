"""What does Ray cost on one machine? The same 8-run grid through ``local`` and ``ray``.

The grid: MountainCarSparse, shapings ``none`` and ``potential`` × 4 seeds, PPO, a short
budget. It runs through ``densegym.agents.runs.sweep.sweep`` once per engine, each in its
own logdir, 2 runs at a time (this machine has 2 cores). Reported: the wall time of each
sweep, their ratio, Ray's fixed start cost (``ray.init`` + ``ray.shutdown`` with no
trial) and whether the summaries are identical (same seeds: the same final numbers;
wall time, env-steps/s and the run folder's path are left out of the comparison).

    python benchmarks/sweep.py                 # ~1 minute on 2 cores
    python benchmarks/sweep.py --steps 4096    # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd

from densegym.agents.runs.sweep import sweep

RESULTS = Path(__file__).parent / "results" / "sweep.json"
ENV = "densegym/MountainCarSparse-v0"
SHAPINGS = ["none", "potential"]
#: Columns that differ between two runs of one config on any engine.
TIMING = ["wall_time_s", "env_steps_per_s", "run_dir"]


def ray_start_cost() -> float:
    """Seconds for Ray to start on this machine and stop again, with nothing to run."""
    from densegym.agents.runs.ray_engine import ray_session

    start = time.perf_counter()
    with ray_session(num_cpus=2):
        pass
    return time.perf_counter() - start


def final_numbers(summary_csv: Path) -> pd.DataFrame:
    frame = pd.read_csv(summary_csv)
    return frame.drop(columns=[c for c in TIMING if c in frame]).reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="env steps per run")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="runs at a time")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="densegym-sweep-bench-"))
    common = dict(steps=args.steps, workers=args.workers, progress=False)
    walls, reports = {}, {}
    for engine in ("local", "ray"):
        result = sweep(
            ENV, SHAPINGS, args.seeds, engine=engine, logdir=str(root / engine), **common
        )
        assert not result.failed, result.failed
        assert len(result.trained) == len(SHAPINGS) * args.seeds
        walls[engine] = result.wall_s
        reports[engine] = result.reports[ENV]["summary_csv"]
        print(f"{engine}: {len(result.rows)} runs in {result.wall_s:.1f} s", flush=True)
    local, on_ray = final_numbers(reports["local"]), final_numbers(reports["ray"])
    pd.testing.assert_frame_equal(local, on_ray)  # same seeds -> same final numbers
    for config_dir in (root / "local").glob("MountainCarSparse-v0/*/ppo-seed*"):
        twin = root / "ray" / config_dir.relative_to(root / "local")
        assert (config_dir / "curve.csv").read_bytes() == (twin / "curve.csv").read_bytes()
    start_cost = ray_start_cost()
    figures = {
        "command": "python benchmarks/sweep.py"
        + (f" --steps {args.steps}" if args.steps != 20_000 else ""),
        "date": date.today().isoformat(),
        "machine": f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}",
        "grid": {
            "env": ENV,
            "shapings": SHAPINGS,
            "seeds": args.seeds,
            "steps": args.steps,
            "trainer": "sb3:ppo",
            "runs": len(SHAPINGS) * args.seeds,
            "workers": args.workers,
        },  # fmt: skip
        "wall_s": {engine: round(wall, 1) for engine, wall in walls.items()},
        "ray_over_local": round(walls["ray"] / walls["local"], 3),
        "ray_start_cost_s": round(start_cost, 1),
        "identical_summaries": True,
        "identical_curves": True,
        "final_success_rate": {
            shaping: [round(v, 3) for v in group["success_rate"]]
            for shaping, group in local.groupby("shaping", sort=False)
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
