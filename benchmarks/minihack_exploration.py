"""Issue 3: PPO with learned intrinsic bonuses on MiniHack tasks plain PPO cannot solve.

PPO (densegym's MiniHack defaults, 8 sub-envs) with shaping none / count / rnd / icm /
e3b / noveld / global_episodic on sparse MiniHack tasks, several seeds each. ``count``
runs per env; the learned modules run in their batched VecEnv form
(``RunConfig.batched_shaping``: one forward pass for all sub-envs, trained at rollout
end), which is the faster form. Runs are resumable: finished runs (a ``summary.json``
covering the budget) are skipped, and unfinished ones continue from their newest
checkpoint, so the full budget can be spread over sessions. Stop it with Ctrl-C or a
``kill`` of the script: on Linux its training processes end with it. Run folders are not
under git, so each report also writes one record per run (summary and learning curve)
to ``benchmarks/results/minihack_exploration_runs/`` (``minihack_exploration_archive.py``);
on a machine without the folders, the report reads the records and finished runs are
not retrained.

Writes TensorBoard runs under ``--logdir``, ``curves.csv`` and ``table.csv`` there,
one PNG per task (success rate vs env steps, mean and min–max band over seeds), a
task × shaping heat map of final success (``plots/summary.png``),
``benchmarks/results/minihack_exploration.json`` (with a copy of each PNG beside it) and
the section
"## MiniHack exploration (issue 3)" of ``benchmarks/README.md``. The reading and
rendering half (tables, plots, the README section) is ``minihack_exploration_report.py``.

    python benchmarks/minihack_exploration.py                       # full budget
    python benchmarks/minihack_exploration.py --steps 100000 --seeds 1 --tasks KeyRoom-S5
    python benchmarks/minihack_exploration.py --report-only         # rebuild the outputs
    python benchmarks/minihack_exploration.py --engine ray --address auto --storage /shared/ray

``--engine ray`` sends the same runs to Ray Tune (this machine, or a cluster with
``--address``); the run folders and every output are the same as with the default
``--engine local``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import minihack_exploration_archive as archive
import pandas as pd
from minihack_exploration_matrix import markdown_matrix, plot_matrix, success_matrix
from minihack_exploration_report import (
    ALGO_TITLES,
    collect,
    markdown_table,
    markdown_verdicts,
    plot_tasks,
    replace_section,
    section_body,
    speed_ratios,
    table,
    target_verdicts,
    variant,
)

from densegym import logging as names
from densegym.agents.runs import RunConfig, finished_summary, train
from densegym.agents.runs.sweep import add_engine_arguments, engine_options, sweep_runs

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "minihack_exploration.json"
README = HERE / "README.md"
# Chosen by measuring (benchmarks/notes/minihack_exploration.md): plain PPO stays at 0.00
# on each at 1M steps. The first picks, Corridor-R3 and KeyRoom-S5, are solved by no bonus
# at 1M (seed 0), and on MultiRoom-N10-OpenDoor e3b reaches 0.77 over 3 seeds (short of
# 0.8); pass them with --tasks to resume or report their rows.
TASKS = ("MultiRoom-N4", "MultiRoom-N6", "MultiRoom-N6-OpenDoor")
SHAPINGS = ("none", "count", "rnd", "icm", "e3b", "noveld", "global_episodic")
PER_ENV = {"none", "count"}  # everything else runs batched unless --per-env


def run_config(
    task: str, shaping: str, seed: int, base: RunConfig, per_env: bool = False
) -> RunConfig:
    """The run of one (task, shaping, seed).

    Example:
        >>> base = RunConfig("densegym/MiniHack-Room-5x5-v0", steps=512)
        >>> run_config("River", "e3b", 1, base).label
        'batched-e3b'
        >>> run_config("River", "count", 0, base).run_dir.parts[-3:]
        ('MiniHack-River-v0', 'count', 'ppo-seed0')
    """
    env_id = f"densegym/MiniHack-{task}-v0"
    if shaping == "none":
        return replace(base, env_id=env_id, seed=seed, shaping=None, batched_shaping=None)
    if shaping in PER_ENV or per_env:
        return replace(base, env_id=env_id, seed=seed, shaping=shaping, batched_shaping=None)
    return replace(base, env_id=env_id, seed=seed, shaping=None, batched_shaping=shaping)


def plan(
    tasks: list[str], shapings: list[str], seeds: list[int], base: RunConfig, per_env: bool
) -> list[tuple[str, str, RunConfig]]:
    """Every run, ordered seed, shaping, task: a cut-short budget covers whole rows first."""
    return [
        (task, shaping, run_config(task, shaping, seed, base, per_env))
        for seed in seeds
        for shaping in shapings
        for task in tasks
    ]


def train_unfinished(
    rows: list[tuple[str, str, RunConfig]],
    workers: int,
    log: Any = print,
    archive_dir: Path | None = None,
    **engine: Any,
) -> None:
    """Train every run finished neither in its folder nor in the archive, ``workers`` at a time.

    The runs go through :func:`~densegym.agents.runs.sweep.sweep_runs` in the plan's order,
    on this machine or on Ray (``engine``: its ``engine``, ``address``, ``storage``, ...);
    the sweep also writes its per-task report (``<logdir>/<env>/summary.csv``, ...) of the
    runs with folders.
    """
    configs, todo = [], []  # runs with folders; runs to train (finished nowhere)
    for task, shaping, config in rows:
        if finished_summary(config) is not None:
            configs.append(config)
        elif not (
            archive_dir and archive.finished(archive_dir, task, shaping, config.seed, config.steps)
        ):
            configs.append(config)
            todo.append(config)
    log(f"{len(rows) - len(todo)} runs finished already, {len(todo)} to train")

    def done(row: dict[str, Any]) -> None:
        log(_done_line(row))

    if configs:
        sweep_runs(configs, workers=workers, on_done=done, progress=False, **engine)


def _done_line(summary: dict[str, Any]) -> str:
    if summary.get("status") == "failed":
        return (
            f"  FAILED {names.env_slug(summary['env_id'])} {summary['shaping']} "
            f"s{summary['seed']} after {summary['retries']} retries: {summary['error']}"
        )
    return (
        f"  done {names.env_slug(summary['env_id'])} {summary['shaping']} s{summary['seed']}: "
        f"success {summary['success_rate']:.2f}, {summary['env_steps_per_s']:.0f} steps/s, "
        f"{summary['wall_time_s']:.0f} s"
    )


def paired_speed(
    task: str, base: RunConfig, steps: int, rounds: int, logdir: Path
) -> dict[str, Any]:
    """PPO env-steps/s with batched e3b and without shaping, in interleaved rounds.

    Both runs of a round train ``steps`` env steps on ``task`` from scratch, one after
    the other in this process, so machine load hits them alike; the ratio of medians
    is the figure of merit (target ≥ 0.7).
    """
    speeds: dict[str, list[float]] = {"none": [], "e3b": []}
    for index in range(rounds):
        for shaping in speeds:
            config = run_config(task, shaping, 1000 + index, base)
            config = replace(config, steps=steps, logdir=str(logdir), checkpoint_every=0)
            speeds[shaping].append(train(config, progress=False)["env_steps_per_s"])
    none, e3b = statistics.median(speeds["none"]), statistics.median(speeds["e3b"])
    return {"task": task, "steps": steps, "rounds": rounds, **speeds, "ratio": e3b / none}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", default=",".join(TASKS), help="MiniHack task names")
    parser.add_argument("--shapings", default=",".join(SHAPINGS))
    parser.add_argument("--seeds", type=int, default=3, help="number of seeds (0..N-1)")
    parser.add_argument("--steps", type=int, default=1_000_000, help="env steps per run")
    parser.add_argument("--workers", type=int, default=2, help="training processes at a time")
    parser.add_argument("--n-envs", type=int, default=8)
    parser.add_argument("--log-every", type=int, default=2048)
    parser.add_argument(
        "--checkpoint-every", type=int, default=100_000, help="env steps between checkpoints"
    )
    parser.add_argument(
        "--logdir",
        default="",
        help="run folders (default runs/minihack_exploration, plus _recurrent and/or "
        "_full_map for those variants)",
    )
    parser.add_argument(
        "--algo",
        default="ppo",
        choices=tuple(ALGO_TITLES),
        help="recurrent_ppo: an LSTM policy (sb3-contrib); its runs, results JSON and README "
        "section are kept apart",
    )
    parser.add_argument(
        "--full-map",
        action="store_true",
        help="give the policy the whole glyph map too (env kwarg full_map=True); its runs, "
        "results JSON and README section are kept apart from the crop-only ones",
    )
    parser.add_argument("--per-env", action="store_true", help="learned bonuses per env")
    parser.add_argument(
        "--results", default=None, help=f"results JSON ('' to skip; default {RESULTS})"
    )
    parser.add_argument(
        "--archive",
        default=None,
        help="folder of per-run records kept under git; finished records are not retrained "
        "(default: beside --results, '<results stem>_runs'; '' to skip)",
    )
    parser.add_argument("--readme", default=str(README), help="README to update ('' to skip)")
    parser.add_argument("--notes", default="", help="markdown put under the table in the README")
    parser.add_argument("--notes-file", default="", help="read --notes from this file")
    parser.add_argument(
        "--speed-steps", type=int, default=0, help="paired none/e3b speed runs (0: skip)"
    )
    parser.add_argument("--speed-rounds", type=int, default=3)
    parser.add_argument("--speed-task", default="", help="task of the speed runs (first task)")
    parser.add_argument("--report-only", action="store_true", help="only rebuild the outputs")
    add_engine_arguments(parser)
    parser.add_argument(
        "--include-partial",
        action="store_true",
        help="report unfinished runs at the step they reached (marked by their steps)",
    )
    args = parser.parse_args(argv)
    suffix, _ = variant(args.full_map, args.algo)
    args.logdir = args.logdir or f"runs/minihack_exploration{suffix}"
    if args.results is None:
        args.results = str(RESULTS.with_name(f"{RESULTS.stem}{suffix}.json"))
    if args.archive is None:
        results = Path(args.results)
        args.archive = str(results.with_name(f"{results.stem}_runs")) if args.results else ""
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run (or resume) the benchmark and write its outputs; returns the results dict."""
    args = parse_args(argv)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    shapings = [s.strip() for s in args.shapings.split(",") if s.strip()]
    unknown = set(shapings) - set(SHAPINGS)
    if unknown:
        raise SystemExit(f"unknown shapings {sorted(unknown)}; choose from {SHAPINGS}")
    base = RunConfig(
        f"densegym/MiniHack-{tasks[0]}-v0",
        steps=args.steps,
        n_envs=args.n_envs,
        logdir=args.logdir,
        log_every=args.log_every,
        checkpoint_every=args.checkpoint_every,
        env_kwargs={"full_map": True} if args.full_map else {},
        algo=args.algo,
    )
    rows = plan(tasks, shapings, list(range(args.seeds)), base, args.per_env)
    archive_dir = Path(args.archive) if args.archive else None
    start = time.perf_counter()
    if not args.report_only:
        train_unfinished(rows, args.workers, archive_dir=archive_dir, **engine_options(args))
    runs, curves = collect(rows, partial=args.include_partial)
    if archive_dir:
        archive.save_runs(runs, curves, archive_dir)
        keys = [(task, shaping, config.seed) for task, shaping, config in rows]
        kept = archive.load_runs(archive_dir, keys, args.steps, partial=args.include_partial)
        runs, curves = archive.merge((runs, curves), kept, keys)
    logdir = Path(args.logdir)
    logdir.mkdir(parents=True, exist_ok=True)
    speed_task = args.speed_task or tasks[0]
    speed_dirs = [archive_dir, logdir] if archive_dir else [logdir]  # the run folders win
    if args.speed_steps > 0:
        measured = paired_speed(
            speed_task, base, args.speed_steps, args.speed_rounds, logdir / "speed"
        )
        for directory in speed_dirs:
            archive.save_speed(measured, directory)
    kept = {task: speed for d in speed_dirs for task, speed in archive.load_speeds(d).items()}
    speeds = {task: kept[task] for task in tasks if task in kept}
    speed = speeds.get(speed_task, next(iter(speeds.values()), None))
    summary = table(runs) if len(runs) else pd.DataFrame()
    curves.to_csv(logdir / "curves.csv", index=False)
    runs.to_csv(logdir / "runs.csv", index=False)
    summary.to_csv(logdir / "table.csv", index=False)
    agent = ALGO_TITLES[args.algo] + (", full map" if args.full_map else "")
    plots = plot_tasks(curves, logdir / "plots", shapings, agent, runs) if len(curves) else {}
    command = "python benchmarks/minihack_exploration.py " + " ".join(
        [f"--steps {args.steps}", f"--seeds {args.seeds}", f"--tasks {','.join(tasks)}"]
        + ([f"--shapings {','.join(shapings)}"] if shapings != list(SHAPINGS) else [])
        + (["--per-env"] if args.per_env else [])
        + (["--full-map"] if args.full_map else [])
        + ([f"--algo {args.algo}"] if args.algo != "ppo" else [])
        + ([f"--speed-steps {args.speed_steps}"] if args.speed_steps else [])
    )
    results = {
        "command": command,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "date": date.today().isoformat(),
        "algo": args.algo,
        "full_map": args.full_map,
        "budget_steps": args.steps,
        "seeds": args.seeds,
        "tasks": tasks,
        "shapings": shapings,
        "table": summary.to_dict(orient="records"),
        "runs": runs.drop(columns=["run_dir"], errors="ignore").to_dict(orient="records"),
        "e3b_over_none_steps_per_s": speed_ratios(runs) if len(runs) else {},
        "paired_speed": speed,  # the speed task's, else the first task's with one
        "paired_speeds": speeds,
        "notes": Path(args.notes_file).read_text() if args.notes_file else args.notes,
        "elapsed_s": time.perf_counter() - start,
    }
    if archive_dir and args.readme:
        results["archive"] = os.path.relpath(archive_dir, Path(args.readme).parent)
    if len(runs):
        matrix = success_matrix(runs, args.steps, args.seeds)
        results["matrix"] = matrix.to_dict(orient="records")
        summary_png = logdir / "plots" / "summary.png"
        plots["summary"] = plot_matrix(matrix, shapings, summary_png, args.steps, args.seeds)
        if args.results and args.readme:
            picture = Path(args.results).with_name(f"{Path(args.results).stem}_summary.png")
            results["matrix_plot"] = os.path.relpath(picture, Path(args.readme).parent)
        print(markdown_matrix(matrix, shapings, args.steps, args.seeds))
    if len(summary):
        print(markdown_table(summary))
        verdicts = target_verdicts(summary, args.steps, args.seeds)
        results["target"] = verdicts.to_dict(orient="records")
        print(markdown_verdicts(verdicts, args.steps, args.seeds))
    print("e3b / none env-steps/s:", results["e3b_over_none_steps_per_s"])
    for task, measured in speeds.items():
        print(f"paired speed on {task}: e3b / none = {measured['ratio']:.2f}")
    print("curves:", logdir / "curves.csv", "· plots:", ", ".join(map(str, plots.values())))
    print("TensorBoard:", f"tensorboard --logdir {logdir}")
    if args.results:
        results_path = Path(args.results)
        results_path.parent.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(results, indent=2, default=str))
        for task, plot in plots.items():  # the curves go with the results, under git
            shutil.copyfile(plot, results_path.with_name(f"{results_path.stem}_{task}.png"))
    if args.readme and len(summary):
        _, heading = variant(args.full_map, args.algo)
        replace_section(Path(args.readme), section_body(results, summary), heading)
    return results


if __name__ == "__main__":
    main()
