"""Benchmark: an embedded LLM's greedy accuracy on WordProblems, per difficulty level.

Question: at which ``densegym/WordProblems-v0`` difficulty does an embedded model
(``--backend``: SmolLM2-135M-Instruct by default, ``qwen2.5-coder-1.5b`` for the
stronger one; any :mod:`densegym.llm` spec) solve 15–50 % of the problems, so search
and reward shaping have room to help?

:class:`densegym.agents.llm.LLMPolicy` plays whole multi-turn episodes (one step per
call, the env's observation as the prompt, greedy decoding). Episodes run in lock-step
batches, so each turn is one batched model call for every unfinished episode (greedy
decoding gives the same steps as one call per episode, at several times the
throughput on CPU). Levels are interleaved batch by batch, so a run stopped by
``--budget-s`` has about the same ``n`` at every level; results are written after
every batch.

Usage::

    python benchmarks/llm_accuracy.py                    # SmolLM2, 200 problems per level
    python benchmarks/llm_accuracy.py --backend qwen2.5-coder-1.5b --levels 4 --n 100
    python benchmarks/llm_accuracy.py --backend tiny-random --n 4  # smoke test

Writes ``benchmarks/results/llm_accuracy_<backend>.json`` unless ``--out`` says otherwise
(SmolLM2's earlier runs are in ``results/smollm2_accuracy*.json``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import gymnasium as gym

import densegym
from densegym.agents.llm import LLMPolicy

RESULTS = Path(__file__).parent / "results"
ENV_ID = "densegym/WordProblems-v0"  # --env changes it (e.g. densegym/Arithmetic-v0)
TARGET = (0.15, 0.50)


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a success rate."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def run_batch(policy: LLMPolicy, level: int, seeds: list[int], env_id: str = ENV_ID) -> list[dict]:
    """Play one episode per seed in lock-step; return one record per episode."""
    envs = [gym.make(env_id, difficulty=level) for _ in seeds]
    observations = [env.reset(seed=seed)[0] for env, seed in zip(envs, seeds)]
    records: list[dict | None] = [None] * len(envs)
    steps = [0] * len(envs)
    invalid = [0] * len(envs)
    while any(record is None for record in records):
        active = [i for i, record in enumerate(records) if record is None]
        actions = policy.act([observations[i] for i in active], deterministic=True)
        for i, action in zip(active, actions):
            obs, _, terminated, truncated, info = envs[i].step(action)
            observations[i] = obs
            steps[i] += 1
            invalid[i] += bool(info["invalid_step"])
            if terminated or truncated:
                records[i] = {
                    "seed": seeds[i],
                    "success": bool(info["is_success"]),
                    "answered": bool(terminated),
                    "steps": steps[i],
                    "invalid_steps": invalid[i],
                    "progress": float(info["progress"]),
                    "n_solution_steps": len(envs[i].unwrapped.task["solution_steps"]),
                }
    for env in envs:
        env.close()
    return [record for record in records if record is not None]


def summarise(records: list[dict]) -> dict:
    n = len(records)
    if n == 0:
        return {"n": 0, "successes": 0, "accuracy": None}
    wins = sum(r["success"] for r in records)
    low, high = wilson(wins, n)

    def mean(key: str) -> float:
        return round(sum(r[key] for r in records) / n, 4)

    return {
        "n": n,
        "successes": wins,
        "accuracy": round(wins / n, 4),
        "ci95": [round(low, 4), round(high, 4)],
        "answered_rate": mean("answered"),
        "mean_steps": mean("steps"),
        "mean_invalid_steps": mean("invalid_steps"),
        "mean_final_progress": mean("progress"),
        "mean_solution_steps": mean("n_solution_steps"),
    }


def markdown_table(result: dict) -> str:
    """The README's table of one results file: one row per difficulty level.

    Example:
        >>> level = {"n": 2, "accuracy": 0.5, "ci95": [0.09, 0.91], "mean_steps": 2.0,
        ...          "mean_solution_steps": 3.0, "mean_final_progress": 0.25}
        >>> print(markdown_table({"levels": {"1": level}}).splitlines()[-1])
        | 1 | 2 | 0.500 | 0.090–0.910 | 3.0 | 2.00 | 0.25 |
    """
    lines = [
        "| difficulty | n | greedy accuracy | 95 % CI (Wilson) | solution steps (mean) | "
        "steps written (mean) | final progress |",
        "|---|---|---|---|---|---|---|",
    ]
    for level, row in result["levels"].items():
        if not row.get("n"):
            continue
        low, high = row["ci95"]
        lines.append(
            f"| {level} | {row['n']} | {row['accuracy']:.3f} | {low:.3f}–{high:.3f} | "
            f"{row['mean_solution_steps']:.1f} | {row['mean_steps']:.2f} | "
            f"{row['mean_final_progress']:.2f} |"
        )
    return "\n".join(lines)


def previous_records(path: Path, backend: str, env_id: str) -> dict[int, list[dict]]:
    """Episodes of an earlier run in ``path`` with the same backend and env, per level.

    Example:
        >>> previous_records(Path("/nonexistent.json"), "smollm2", ENV_ID)
        {}
    """
    if not path.exists():
        return {}
    old = json.loads(path.read_text())
    if old.get("backend") != backend or old.get("env_id") != env_id:
        raise SystemExit(
            f"--resume: {path} holds a run of {old.get('backend')} on {old.get('env_id')}, "
            f"not {backend} on {env_id}; pass another --out"
        )
    return {int(level): list(done) for level, done in old.get("records", {}).items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="problems per difficulty level")
    parser.add_argument("--levels", default="1,2,3,4,5", help="comma-separated levels")
    parser.add_argument("--batch", type=int, default=16, help="episodes per batched call")
    parser.add_argument("--shots", type=int, default=1, help="few-shot examples (0: zero-shot)")
    parser.add_argument("--max-tokens", type=int, default=48, help="tokens per step")
    parser.add_argument("--backend", default="smollm2", help="densegym.llm spec")
    parser.add_argument("--env", default=ENV_ID, help="reasoning env id with difficulty levels")
    parser.add_argument("--budget-s", type=float, default=None, help="stop after this time")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first problem")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--out", default=None, help="default results/llm_accuracy_<backend>.json")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the episodes already in --out (same backend and env) and play the rest",
    )
    args = parser.parse_args(argv)
    if args.out is None:
        slug = "".join(c if c.isalnum() or c in ".-" else "_" for c in args.backend).strip("_")
        args.out = str(RESULTS / f"llm_accuracy_{slug}.json")

    import torch

    torch.set_num_threads(args.threads)
    levels = [int(level) for level in args.levels.split(",")]
    policy = LLMPolicy(args.backend, shots=args.shots, max_tokens=args.max_tokens)
    start = time.perf_counter()
    policy.llm  # noqa: B018 (load the model before timing episodes)
    load_s = time.perf_counter() - start
    records: dict[int, list[dict]] = {level: [] for level in levels}
    if args.resume:
        for level, done in previous_records(Path(args.out), args.backend, args.env).items():
            if level in records:
                records[level] = done
    stopped_early = False
    start = time.perf_counter()

    def write() -> None:
        per_level = {str(level): summarise(records[level]) for level in levels}
        in_target = [
            level
            for level in levels
            if records[level] and TARGET[0] <= per_level[str(level)]["accuracy"] <= TARGET[1]
        ]
        out = {
            "question": f"{args.backend} greedy accuracy per difficulty",
            "env_id": args.env,
            "backend": args.backend,
            "policy": repr(policy),
            "shots": args.shots,
            "decoding": f"greedy, one line per step, max_tokens={args.max_tokens}",
            "n_requested": args.n,
            "seeds": f"problem i of a level resets with seed {args.seed} + i",
            "levels": per_level,
            "records": {str(level): records[level] for level in levels},
            "levels_in_target_15_50": in_target,
            "stopped_early_by_budget": stopped_early,
            "model_load_s": round(load_s, 2),
            "wall_s": round(time.perf_counter() - start, 1),
            "llm_usage": {k: round(v, 2) for k, v in policy.usage.items()},
            "machine": {
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "load_avg": [round(x, 2) for x in os.getloadavg()],
                "torch_threads": args.threads,
                "python": sys.version.split()[0],
            },
            "densegym": densegym.__version__,
            "command": "python benchmarks/llm_accuracy.py " + " ".join(argv or sys.argv[1:]),
        }
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(out, indent=2))

    for offset in range(0, args.n, args.batch):
        for level in levels:
            if args.budget_s is not None and time.perf_counter() - start > args.budget_s:
                stopped_early = True
                break
            done = {record["seed"] for record in records[level]}
            seeds = [
                seed
                for seed in range(args.seed + offset, args.seed + min(offset + args.batch, args.n))
                if seed not in done
            ]
            if not seeds:
                continue
            records[level] += run_batch(policy, level, seeds, args.env)
            acc = summarise(records[level])
            print(
                f"level {level}: n={acc['n']} accuracy={acc['accuracy']:.3f} "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
            write()
        if stopped_early:
            break
    write()
    print(markdown_table(json.loads(Path(args.out).read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
