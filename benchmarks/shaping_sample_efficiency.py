"""Benchmark: sample efficiency of progress rewards for PPO on WordProblems (issue 5).

SB3 PPO picks one of K=4 proposed next steps (the ``candidates`` view, a noisy-oracle
proposer ``oracle-0.7``, n-gram text encoder) on ``densegym/WordProblems-v0``, shaped by

* ``outcome``: the verifier's 0/1 at the end only (the baseline);
* ``pav``: progress ``V̂(s′) − V̂(s)`` under an ``oracle-0.7`` prover (closed form);
* ``prm``: the score of a small PRM trained first with ``train_prm`` on Monte-Carlo
  step labels (cached under ``<logdir>/models``);
* ``implicit_prm``: ``β · log π_θ/π_ref`` of an implicit PRM trained first with
  ``train_implicit_prm`` from outcome labels; ``tiny-random`` by default (a random
  2-layer model, so this measures the plumbing, not the method), ``--implicit-policy
  smollm2`` for the real one.

For each shaping the table gives the first logged env step at which the mean
success-rate curve over seeds reaches the outcome-only run's final success rate (mean over seeds;
"not reached" otherwise) and the ratio outcome steps / shaping steps (the seed's claim
is 5–6× fewer steps with progress rewards).

Usage::

    python benchmarks/shaping_sample_efficiency.py --tiny     # seconds, smoke run
    python benchmarks/shaping_sample_efficiency.py --steps 10000 --seeds 0 1 2
    python benchmarks/shaping_sample_efficiency.py --engine ray --workers 2  # Ray Tune trials

Writes TensorBoard runs and ``summary.csv``/``curves.csv`` under ``--logdir`` (via
:func:`densegym.agents.sb3.compare.compare`), and ``shaping_sample_efficiency.json``,
``.csv``, ``.md`` and ``.png`` to ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import densegym  # noqa: F401  (registers the env ids)
from densegym.agents.runs import RunConfig, steps_to_success
from densegym.agents.runs.sweep import add_engine_arguments, engine_options
from densegym.agents.sb3.compare import compare
from densegym.agents.sb3.plotting import plot_success
from densegym.rewards import shaping_label
from densegym.rewards.progress import train_implicit_prm, train_prm

ENV_ID = "densegym/WordProblems-v0"
SHAPINGS = ("outcome", "pav", "prm", "implicit_prm")
NAME = "shaping_sample_efficiency"


def view_spec(proposer: str) -> dict[str, Any]:
    """The CandidateActions view: K=4 candidates from ``proposer``, n-gram encoded."""
    return {"id": "candidates", "k": 4, "proposer": proposer, "encoder": "ngram"}


def train_models(args: argparse.Namespace, model_dir: Path) -> dict[str, Any]:
    """Train (or reuse cached) PRM and implicit PRM for the ``prm``/``implicit_prm`` shapers.

    Args:
        args: parsed command-line arguments.
        model_dir: where the models are cached.

    Returns:
        Paths of the models and what training them cost.
    """
    model_dir.mkdir(parents=True, exist_ok=True)
    env_kwargs = {"difficulty": args.difficulty}
    info: dict[str, Any] = {}
    prm_path = model_dir / f"prm-d{args.difficulty}.pt"
    start = time.perf_counter()
    if not prm_path.exists():
        result = train_prm(
            env=ENV_ID,
            env_kwargs=env_kwargs,
            policy=args.proposer,
            n_problems=8 if args.tiny else 64,
            n_rollouts=2 if args.tiny else 8,
            dim=256 if args.tiny else 512,
            epochs=30 if args.tiny else 200,
            seed=10_000,  # problems disjoint from the training seeds' first problems
            path=prm_path,
        )
        info["prm_examples"] = result.n_examples
        info["prm_final_loss"] = result.losses[-1]
    info["prm_path"] = str(prm_path)
    info["prm_train_s"] = time.perf_counter() - start
    if "implicit_prm" not in args.shapings:
        return info
    policy_slug = args.implicit_policy.replace("/", "_").replace(":", "_")
    implicit_path = model_dir / f"implicit_prm-{policy_slug}-d{args.difficulty}.pt"
    start = time.perf_counter()
    if not implicit_path.exists():
        result = train_implicit_prm(
            env=ENV_ID,
            env_kwargs=env_kwargs,
            data_policy=args.proposer,
            n_problems=4 if args.tiny else 32,
            samples_per_problem=2,
            policy=args.implicit_policy,
            epochs=1 if args.tiny else 2,
            seed=10_000,
            path=implicit_path,
        )
    info["implicit_prm_path"] = str(implicit_path)
    info["implicit_prm_policy"] = args.implicit_policy
    info["implicit_prm_train_s"] = time.perf_counter() - start
    return info


def shaping_specs(args: argparse.Namespace, models: dict[str, Any]) -> dict[str, Any]:
    """Shaping spec of each compared shaping, by short name."""
    specs: dict[str, Any] = {
        "outcome": "outcome",
        "pav": {"id": "pav", "prover": args.proposer, "estimator": "closed_form"},
        "prm": {"id": "prm", "path": models["prm_path"]},
    }
    if "implicit_prm_path" in models:
        specs["implicit_prm"] = {"id": "implicit_prm", "checkpoint": models["implicit_prm_path"]}
    return specs


def mean_curve(curves: pd.DataFrame) -> pd.DataFrame:
    """Mean success rate over seeds at each logged step (no extrapolation before the first).

    Each seed's curve is interpolated onto the union of the logged steps, within its own
    logged range only; a step counts when every seed covers it.

    Example:
        >>> df = pd.DataFrame({"seed": [0, 0, 1, 1], "timesteps": [10, 20, 10, 20],
        ...                    "success_rate": [0.0, 1.0, 0.5, 0.5]})
        >>> mean_curve(df)["mean"].tolist()
        [0.25, 0.75]
    """
    curves = curves.dropna(subset=["success_rate"])
    grid = np.unique(curves["timesteps"].to_numpy(dtype=float))
    per_seed = []
    for _, run in curves.groupby("seed"):
        run = run.sort_values("timesteps")
        steps = run["timesteps"].to_numpy(dtype=float)
        values = np.interp(grid, steps, run["success_rate"].to_numpy(dtype=float))
        values[(grid < steps[0]) | (grid > steps[-1])] = np.nan
        per_seed.append(values)
    if not per_seed:
        return pd.DataFrame({"timesteps": [], "mean": []})
    stacked = np.vstack(per_seed)
    keep = ~np.isnan(stacked).any(axis=0)
    return pd.DataFrame({"timesteps": grid[keep], "mean": stacked[:, keep].mean(axis=0)})


def steps_to_reach(mean_curve: pd.DataFrame, target: float) -> float:
    """First env step at which a mean success-rate curve reaches ``target`` (NaN if never).

    Example:
        >>> curve = pd.DataFrame({"timesteps": [0.0, 10.0, 20.0], "mean": [0.0, 0.4, 0.8]})
        >>> steps_to_reach(curve, 0.4), steps_to_reach(curve, 0.9)
        (10.0, nan)
    """
    steps = steps_to_success(mean_curve, target, column="mean", tolerance=1e-9)
    return float("nan") if steps is None else steps


def analyse(curves: pd.DataFrame, order: list[str]) -> tuple[float, list[dict[str, Any]]]:
    """Steps to reach the outcome baseline's final success rate, per shaping.

    Args:
        curves: ``curves.csv`` rows with ``shaping`` set to the short names.
        order: short names, ``"outcome"`` among them.

    Returns:
        The target (outcome's final success rate, mean over seeds) and one row per shaping.
    """
    finals = {
        (shaping, seed): float(run.sort_values("timesteps")["success_rate"].iloc[-1])
        for (shaping, seed), run in curves.groupby(["shaping", "seed"])
    }
    target = float(np.mean([v for (s, _), v in finals.items() if s == "outcome"]))
    baseline = steps_to_reach(mean_curve(curves[curves["shaping"] == "outcome"]), target)
    rows = []
    for shaping in order:
        steps = steps_to_reach(mean_curve(curves[curves["shaping"] == shaping]), target)
        seeds_final = [v for (s, _), v in finals.items() if s == shaping]
        ratio = baseline / steps if math.isfinite(steps) and steps > 0 else float("nan")
        rows.append(
            {
                "shaping": shaping,
                "final_success_rate": float(np.mean(seeds_final)) if seeds_final else float("nan"),
                "seeds": len(seeds_final),
                "steps_to_target": steps,
                "reached": math.isfinite(steps),
                "speedup_vs_outcome": ratio,
            }
        )
    return target, rows


def markdown_table(target: float, rows: list[dict[str, Any]], implicit_policy: str) -> str:
    """The results as a Markdown table."""
    lines = [
        f"Target: outcome-only final success rate = {target:.3f} (mean over seeds).",
        "",
        "| shaping | final success (mean) | env steps to target | outcome steps / steps |",
        "|---|---|---|---|",
    ]
    for row in rows:
        name = row["shaping"]
        if name == "implicit_prm":
            name = f"implicit_prm ({implicit_policy})"
        steps = f"{row['steps_to_target']:,.0f}" if row["reached"] else "not reached"
        ratio = row["speedup_vs_outcome"]
        ratio_text = f"{ratio:.2f}×" if math.isfinite(ratio) else "—"
        lines.append(f"| {name} | {row['final_success_rate']:.3f} | {steps} | {ratio_text} |")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train the models, run the comparison, and write the results.

    Args:
        args: parsed command-line arguments.

    Returns:
        The results written to ``<out>/shaping_sample_efficiency.json``.
    """
    logdir = Path(args.logdir)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    models = train_models(args, logdir / "models")
    specs = shaping_specs(args, models)
    names = {shaping_label(spec): name for name, spec in specs.items()}
    hyperparams: dict[str, Any] = {}
    if args.tiny:
        hyperparams = {"n_steps": 32, "batch_size": 64, "n_epochs": 2}
    base = RunConfig(
        ENV_ID,
        algo="ppo",
        steps=args.steps,
        n_envs=args.n_envs,
        logdir=str(logdir),
        log_every=args.log_every,
        hyperparams=hyperparams,
        env_kwargs={"difficulty": args.difficulty, "view": view_spec(args.proposer)},
    )
    engine = engine_options(args)
    paths = compare(
        base,
        [specs[s] for s in args.shapings],
        args.seeds,
        workers=args.workers,
        backend=engine.pop("engine"),
        **engine,
    )
    curves = pd.read_csv(paths["curves_csv"])
    curves["shaping"] = curves["shaping"].map(lambda label: names.get(label, label))
    order = [s for s in SHAPINGS if s in set(curves["shaping"])]
    target, rows = analyse(curves, order)
    plot = plot_success(
        curves,
        out / f"{NAME}.png",
        title=f"WordProblems d{args.difficulty}, candidates view (K=4) — PPO",
        order=order,
    )
    table = markdown_table(target, rows, args.implicit_policy)
    pd.DataFrame(rows).to_csv(out / f"{NAME}.csv", index=False)
    (out / f"{NAME}.md").write_text(table)
    results = {
        "env_id": ENV_ID,
        "view": view_spec(args.proposer),
        "difficulty": args.difficulty,
        "algo": "ppo",
        "steps": args.steps,
        "n_envs": args.n_envs,
        "seeds": list(args.seeds),
        "tiny": bool(args.tiny),
        "shapings": {name: specs[name] for name in args.shapings},
        "models": models,
        "target_success_rate": target,
        "rows": rows,
        "wall_time_s": time.perf_counter() - start,
        "date": time.strftime("%Y-%m-%d"),
        "logdir": str(logdir),
        "summary_csv": str(paths["summary_csv"]),
        "curves_csv": str(paths["curves_csv"]),
        "plot": str(plot),
    }
    (out / f"{NAME}.json").write_text(json.dumps(results, indent=2, default=str))
    print(table)
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=8_000, help="env steps per run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--difficulty", type=int, default=2, help="WordProblems level 1-5")
    parser.add_argument("--n-envs", type=int, default=4)
    parser.add_argument("--log-every", type=int, default=500)
    parser.add_argument("--proposer", default="oracle-0.7", help="candidate proposer/prover")
    parser.add_argument(
        "--implicit-policy", default="tiny-random", help="implicit PRM backend (e.g. smollm2)"
    )
    parser.add_argument(
        "--shapings",
        default=",".join(SHAPINGS),
        help="comma-separated subset of " + ", ".join(SHAPINGS) + " (outcome is always run)",
    )
    parser.add_argument("--workers", type=int, default=1, help="training processes at a time")
    parser.add_argument("--logdir", default="runs/shaping_sample_efficiency")
    add_engine_arguments(parser)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument(
        "--tiny", action="store_true", help="smoke run: tiny-random, 1 seed, ~256 steps"
    )
    args = parser.parse_args(argv)
    chosen = {name.strip() for name in args.shapings.split(",") if name.strip()}
    unknown = chosen - set(SHAPINGS)
    if unknown:
        parser.error(f"unknown shapings {sorted(unknown)}; choose from {', '.join(SHAPINGS)}")
    args.shapings = [name for name in SHAPINGS if name in chosen | {"outcome"}]
    if args.tiny:
        args.steps = min(args.steps, 256)
        args.seeds = args.seeds[:1]
        args.n_envs = 2
        args.log_every = 64
        args.implicit_policy = "tiny-random"
    return args


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    run(parse_args(argv))


if __name__ == "__main__":
    main()
