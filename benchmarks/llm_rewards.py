"""Issue 6: PPO with LLM-generated rewards (llm_code, llm_feedback, llm_judge) vs baselines.

For each env: sparse PPO, hand-written ``potential``, ``llm_code`` (the best of
``--rounds`` rounds of ``--k`` candidates from ``design_reward``), ``llm_feedback``
(``cls`` model) and ``llm_judge``, over ``--seeds`` seeds. Writes ``table.csv`` and
``results.json`` under ``--logdir`` and prints a Markdown table with final success, steps
to 50 % success and LLM cost (calls, tokens, seconds).

    python benchmarks/llm_rewards.py                                   # smollm2, full budget
    python benchmarks/llm_rewards.py --tiny                            # mechanics check
    python benchmarks/llm_rewards.py --envs densegym/MiniHack-Room-5x5-v0 --seeds 3
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path
from typing import Any

import densegym.llm
from densegym.agents.sb3.training import RunConfig, train
from densegym.rewards.llm import design_reward

SHAPINGS = ("none", "potential", "llm_code", "llm_feedback", "llm_judge")


def steps_to_half(run_dir: str) -> float:
    with (Path(run_dir) / "curve.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row["success_rate"] and float(row["success_rate"]) >= 0.5:
                return float(row["timesteps"])
    return math.nan


def spec_for(name: str, env_id: str, args: argparse.Namespace, code_path: str | None) -> Any:
    if name == "none":
        return None
    if name == "llm_code":
        return {"id": "llm_code", "path": code_path}
    if name in ("llm_feedback", "llm_judge"):
        extra = {"model": "cls"} if name == "llm_feedback" else {}
        return {"id": name, "backend": args.backend, **extra}
    return name


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = []
    usage = densegym.llm.total_usage()
    for env_id in args.envs.split(","):
        code_path = None
        design_cost: dict[str, float] = {}
        if "llm_code" in args.shapings:
            before = dict(usage)
            result = design_reward(
                env_id,
                rounds=args.rounds,
                k=args.k,
                backend=args.backend,
                budget=args.design_budget,
                out=Path(args.logdir) / f"reward_{env_id.split('/')[-1]}.py",
                logdir=Path(args.logdir) / "design",
                n_envs=args.n_envs,
            )
            code_path = str(Path(result.path).resolve())
            design_cost = {k: usage[k] - before.get(k, 0) for k in usage}
        for name in args.shapings.split(","):
            for seed in range(args.seeds):
                before = dict(usage)
                config = RunConfig(
                    env_id,
                    shaping=spec_for(name, env_id, args, code_path),
                    steps=args.steps,
                    n_envs=args.n_envs,
                    seed=seed,
                    logdir=str(Path(args.logdir) / "runs"),
                    log_every=max(args.steps // 20, 256),
                )
                summary = train(config, progress=False)
                cost = {k: usage[k] - before.get(k, 0) for k in usage}
                if name == "llm_code":
                    cost = {k: cost.get(k, 0) + design_cost.get(k, 0) / args.seeds for k in cost}
                rows.append(
                    {
                        "env": env_id,
                        "shaping": name,
                        "seed": seed,
                        "success": summary["success_rate"],
                        "steps_to_50": steps_to_half(summary["run_dir"]),
                        "llm_calls": cost.get("calls", 0),
                        "llm_tokens": cost.get("prompt_tokens", 0)
                        + cost.get("completion_tokens", 0),
                        "llm_seconds": round(cost.get("seconds", 0.0), 2),
                    }
                )
    return rows


def report(rows: list[dict[str, Any]], logdir: Path) -> str:
    logdir.mkdir(parents=True, exist_ok=True)
    with (logdir / "table.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (logdir / "results.json").write_text(json.dumps(rows, indent=2))
    lines = [
        "| env | shaping | seeds | final success | steps to 50 % | LLM calls | tokens | LLM s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["env"], row["shaping"]), []).append(row)
    for (env, shaping), group in groups.items():
        success = [r["success"] for r in group if not math.isnan(r["success"])]
        reached = [r["steps_to_50"] for r in group if not math.isnan(r["steps_to_50"])]
        mean = sum(success) / len(success) if success else math.nan
        half = (
            f"{sum(reached) / len(reached):.0f} ({len(reached)}/{len(group)})" if reached else "–"
        )
        calls = sum(r["llm_calls"] for r in group) / len(group)
        tokens = sum(r["llm_tokens"] for r in group) / len(group)
        seconds = sum(r["llm_seconds"] for r in group) / len(group)
        lines.append(
            f"| {env.split('/')[-1]} | {shaping} | {len(group)} | {mean:.2f} | {half} | "
            f"{calls:.0f} | {tokens:.0f} | {seconds:.1f} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--envs", default="densegym/MountainCarSparse-v0")
    parser.add_argument("--shapings", default=",".join(SHAPINGS))
    parser.add_argument("--backend", default="smollm2")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--design-budget", type=int, default=20_000)
    parser.add_argument("--n-envs", type=int, default=4)
    parser.add_argument("--logdir", default="runs/llm_rewards")
    parser.add_argument("--tiny", action="store_true", help="tiny-random, 512 steps, 1 seed")
    args = parser.parse_args(argv)
    if args.tiny:
        args.backend, args.seeds, args.steps = "tiny-random", 1, 512
        args.rounds, args.k, args.design_budget, args.n_envs = 1, 2, 256, 1
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rows = run(args)
    print(report(rows, Path(args.logdir)))


if __name__ == "__main__":
    main()
