"""Multi-agent shaping: what it costs per step, and whether it helps PPO on a grid task.

1. **Speed**, in one run with interleaved rounds (medians): agent-steps/s of a multi-agent
   id with no shaping (raw) and with per-agent ``count``, team ``potential`` and per-agent
   ``potential``, each as the bare PettingZoo env (random joint actions) and as the SB3
   ``ParallelVecEnv`` that training uses (8 copies, one row per agent; plus the batched
   ``e3b`` there: one module, one row per agent). Ratios are shaped / raw of the same
   form; the overhead is the extra microseconds per agent-step.
2. **Learning**: PPO with parameter sharing on the same id with ``none``, team
   ``potential`` and per-agent ``count``, a few seeds at a small budget, trained by
   densegym's sweep (``--engine local|ray`` like every grid benchmark); the team success
   rate at the end of each run.

Writes ``benchmarks/results/multiagent.json`` (and the sweep's ``summary.csv``,
``curves.csv`` and ``success_rate.png`` under ``--logdir``); the ratios of the file it
replaces are kept under ``previous_speed`` for comparison.

Usage:
    python benchmarks/multiagent.py                      # ~10 min on 2 cores
    python benchmarks/multiagent.py --skip-learning      # the speed part only (~1 min)
    python benchmarks/multiagent.py --steps 20000 --seeds 1 --speed-steps 2000   # smoke
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import torch

import densegym
from densegym.agents.runs.config import RunConfig
from densegym.agents.runs.sweep import add_engine_arguments, engine_options, sweep
from densegym.agents.sb3.multiagent import make_parallel_vec_env
from densegym.rewards.intrinsic.vec import VecIntrinsicBonus

RESULTS = Path(__file__).parent / "results" / "multiagent.json"

#: The shapings of the speed part, by label (``None``: raw).
SPEED_SHAPINGS: dict[str, Any] = {
    "none": None,
    "count (per agent)": {"id": "count"},
    "potential (team)": {"id": "potential", "scope": "team"},
    "potential (per agent)": {"id": "potential"},
}
#: The shapings of the learning part.
LEARN_SHAPINGS: list[Any] = [
    None,
    {"id": "potential", "scope": "team"},
    {"id": "count", "coef": 0.05},
]


def bare_rate(env_id: str, shaping: Any, steps: int, seed: int = 0) -> float:
    """Agent-steps/s of the bare parallel env under random joint actions."""
    env = densegym.make_parallel(env_id, shaping=shaping)
    agents = list(env.possible_agents)
    actions = np.random.default_rng(seed).integers(0, 5, size=(steps, len(agents))).tolist()
    env.reset(seed=seed)
    episode = 0
    start = time.perf_counter()
    for row in actions:
        env.step(dict(zip(agents, row)))
        if not env.agents:
            episode += 1
            env.reset(seed=seed + episode)
    wall = time.perf_counter() - start
    env.close()
    return steps * len(agents) / wall


def vec_rate(env_id: str, shaping: Any, steps: int, n_envs: int = 8, seed: int = 0) -> float:
    """Agent-steps/s of the SB3 ParallelVecEnv (``steps`` vector steps, random actions).

    A spec with ``"batched": true`` becomes a VecIntrinsicBonus around the VecEnv.
    """
    batched = isinstance(shaping, dict) and shaping.get("batched")
    venv = make_parallel_vec_env(env_id, n_envs, seed, None if batched else shaping)
    if batched:
        venv = VecIntrinsicBonus(venv, shaping)
    actions = np.random.default_rng(seed).integers(0, 5, size=(steps, venv.num_envs))
    venv.reset()
    start = time.perf_counter()
    for row in actions:
        venv.step(row)
    wall = time.perf_counter() - start
    rows = venv.num_envs
    venv.close()
    return steps * rows / wall


def speed(env_id: str, steps: int, rounds: int) -> dict[str, Any]:
    """Both forms, every shaping, ``rounds`` interleaved rounds; medians and ratios."""
    forms = {
        "env": (bare_rate, dict(SPEED_SHAPINGS), steps),
        "vecenv": (
            vec_rate,
            {**SPEED_SHAPINGS, "e3b (batched)": {"id": "e3b", "batched": True}},
            max(1, steps // 8),
        ),
    }
    samples: dict[str, dict[str, list[float]]] = {
        form: {label: [] for label in specs} for form, (_, specs, _) in forms.items()
    }
    for _ in range(rounds):
        for form, (measure, specs, n) in forms.items():
            for label, shaping in specs.items():
                samples[form][label].append(measure(env_id, shaping, n))
    out: dict[str, Any] = {}
    for form, by_label in samples.items():
        raw = statistics.median(by_label["none"])
        rows = {}
        for label, values in by_label.items():
            rate = statistics.median(values)
            rows[label] = {
                "agent_steps_per_s": rate,
                "ratio": rate / raw,
                "overhead_us_per_agent_step": 1e6 * (1 / rate - 1 / raw),
            }
        out[form] = rows
    return out


def learning(args: argparse.Namespace) -> dict[str, Any]:
    """PPO (parameter sharing) with each shaping and seed; the team success per run."""
    base = RunConfig(
        args.env,
        steps=args.steps,
        n_envs=8,
        logdir=str(args.logdir),
        log_every=max(1, args.steps // 20),
    )
    result = sweep(
        [args.env],
        LEARN_SHAPINGS,
        list(range(args.seeds)),
        base=base,
        workers=args.workers,
        **engine_options(args),
    )
    runs = [
        {
            key: row.get(key)
            for key in (
                "shaping",
                "seed",
                "status",
                "timesteps",
                "team_success_rate",
                "success_rate",
                "team_episodes",
                "env_steps_per_s",
                "run_dir",
            )
        }
        for row in result.rows
    ]
    table: dict[str, Any] = {}
    for row in runs:
        entry = table.setdefault(row["shaping"], {"team_success": [], "agent_steps_per_s": []})
        entry["team_success"].append(row["team_success_rate"])
        entry["agent_steps_per_s"].append(row["env_steps_per_s"])
    for entry in table.values():
        finite = [v for v in entry["team_success"] if v is not None and np.isfinite(v)]
        entry["mean_team_success"] = float(np.mean(finite)) if finite else float("nan")
    report = result.reports.get(args.env, {})
    return {
        "env": args.env,
        "steps": args.steps,
        "seeds": args.seeds,
        "wall_s": result.wall_s,
        "runs": runs,
        "by_shaping": table,
        "plot": str(report.get("plot", "")),
    }


def previous_speed(path: Path) -> dict[str, Any] | None:
    """The speed ratios of the results file this run replaces, to compare against.

    Returns:
        ``{"date": ..., "ratio": {form: {label: ratio}}}``, or ``None`` when the file
        is absent or holds no speed part.
    """
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    speed_part = old.get("speed") if isinstance(old, dict) else None
    if not isinstance(speed_part, dict):
        return None
    ratios = {
        form: {label: row["ratio"] for label, row in rows.items()}
        for form, rows in speed_part.items()
    }
    return {"date": old.get("date"), "ratio": ratios}


def main() -> None:
    """Run the benchmark and write ``benchmarks/results/multiagent.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="densegym/MA-SwitchDoor-N2-S7-v0")
    parser.add_argument("--speed-steps", type=int, default=20_000, help="joint steps per sample")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved speed rounds")
    parser.add_argument("--steps", type=int, default=150_000, help="agent-steps per PPO run")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--logdir", type=Path, default=Path("runs/bench_multiagent"))
    parser.add_argument("--skip-learning", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    add_engine_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)
    record: dict[str, Any] = {
        "command": "python benchmarks/multiagent.py",
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "env": args.env,
    }
    start = time.perf_counter()
    record["speed"] = speed(args.env, args.speed_steps, args.rounds)
    for form, rows in record["speed"].items():
        print(f"\n{form}: agent-steps/s (median of {args.rounds}), shaped / raw")
        for label, row in rows.items():
            print(
                f"  {label:24s} {row['agent_steps_per_s']:>10,.0f}  {row['ratio']:.2f}  "
                f"+{row['overhead_us_per_agent_step']:.1f} us/agent-step"
            )
    if not args.skip_learning:
        record["learning"] = learning(args)
        print(f"\nPPO on {args.env}, {args.steps} agent-steps, {args.seeds} seeds:")
        for label, entry in record["learning"]["by_shaping"].items():
            per_seed = " ".join(f"{v:.2f}" for v in entry["team_success"])
            print(f"  {label:28s} team success {entry['mean_team_success']:.2f} ({per_seed})")
    record["wall_s"] = time.perf_counter() - start
    previous = previous_speed(args.out)
    if previous:
        record["previous_speed"] = previous
        print(f"\nprevious run ({previous['date']}): shaped / raw")
        for form, ratios in previous["ratio"].items():
            now = record["speed"].get(form, {})
            for label, ratio in ratios.items():
                if label in now and label != "none":
                    print(f"  {form:7s} {label:24s} {ratio:.2f} -> {now[label]['ratio']:.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2))
    print(f"\nwrote {args.out} ({record['wall_s']:.0f} s)")


if __name__ == "__main__":
    main()
