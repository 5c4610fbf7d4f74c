"""Issue 3: PPO with learned intrinsic bonuses on MiniHack tasks plain PPO cannot solve.

PPO (densegym's MiniHack defaults, 8 sub-envs) with shaping none / count / rnd / icm /
e3b / noveld / global_episodic on sparse MiniHack tasks, several seeds each. ``count``
runs per env; the learned modules run in their batched VecEnv form
(``RunConfig.batched_shaping``: one forward pass for all sub-envs, trained at rollout
end), which is the faster form. Runs are resumable: finished runs (a ``summary.json``
covering the budget) are skipped, and unfinished ones continue from their newest
checkpoint, so the full budget can be spread over sessions. Stop it with Ctrl-C or a
``kill`` of the script: on Linux its training processes end with it.

Writes TensorBoard runs under ``--logdir``, ``curves.csv`` and ``table.csv`` there,
one PNG per task (success rate vs env steps, mean and min–max band over seeds),
``benchmarks/results/minihack_exploration.json`` (with a copy of each PNG beside it) and
the section
"## MiniHack exploration (issue 3)" of ``benchmarks/README.md``.

    python benchmarks/minihack_exploration.py                       # full budget
    python benchmarks/minihack_exploration.py --steps 100000 --seeds 1 --tasks River
    python benchmarks/minihack_exploration.py --report-only         # rebuild the outputs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import time
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from densegym import logging as names
from densegym.agents.sb3.compare import finished_summary, run_all
from densegym.agents.sb3.plotting import plot_success
from densegym.agents.sb3.training import CURVE_FILE, SUMMARY_FILE, RunConfig, train

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "minihack_exploration.json"
PEER_RESULTS = HERE / "results" / "minihack_exploration_rllte.json"
README = HERE / "README.md"
SECTION = "## MiniHack exploration (issue 3)"
# Chosen by screening plain PPO at 1M steps (README): River was replaced by MultiRoom-N4.
TASKS = ("Corridor-R3", "KeyRoom-S5", "MultiRoom-N4")
SHAPINGS = ("none", "count", "rnd", "icm", "e3b", "noveld", "global_episodic")
ALGO_TITLES = {"ppo": "PPO", "recurrent_ppo": "Recurrent PPO with one shared 128-unit LSTM"}
PER_ENV = {"none", "count"}  # everything else runs batched unless --per-env
THRESHOLDS = (0.5, 0.9)
MIN_EPISODES = 10  # episodes in a success window before a threshold counts


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


def train_unfinished(configs: list[RunConfig], workers: int, log: Any = print) -> None:
    """Train every unfinished run, ``workers`` processes at a time."""
    todo = [config for config in configs if finished_summary(config) is None]
    log(f"{len(configs) - len(todo)} runs finished already, {len(todo)} to train")
    run_all(todo, workers, lambda summary: log(_done_line(summary)))


def _done_line(summary: dict[str, Any]) -> str:
    return (
        f"  done {names.env_slug(summary['env_id'])} {summary['shaping']} s{summary['seed']}: "
        f"success {summary['success_rate']:.2f}, {summary['env_steps_per_s']:.0f} steps/s, "
        f"{summary['wall_time_s']:.0f} s"
    )


def steps_to(
    curve: pd.DataFrame, threshold: float, min_episodes: int = MIN_EPISODES
) -> float | None:
    """First env step at which a run's success rate reaches ``threshold`` (None: never).

    Only log points whose success window holds at least ``min_episodes`` episodes
    count: a resumed run restarts its window, and 1 of 1 episodes is not a 100 % rate.

    Example:
        >>> curve = pd.DataFrame({"timesteps": [100, 200, 300], "success_rate": [0, 0.6, 1],
        ...                       "episodes": [20, 20, 20]})
        >>> steps_to(curve, 0.5), steps_to(curve, 0.9), steps_to(curve.iloc[:2], 0.9)
        (200.0, 300.0, None)
        >>> steps_to(curve.assign(episodes=[20, 1, 20]), 0.5)  # 1 episode is too few
        300.0
    """
    if "episodes" in curve:
        curve = curve[curve["episodes"] >= min_episodes]
    reached = curve.loc[curve["success_rate"] >= threshold, "timesteps"]
    return float(reached.iloc[0]) if len(reached) else None


def partial_summary(config: RunConfig, curve: pd.DataFrame) -> dict[str, Any] | None:
    """Where an unfinished run stands now, read from its learning curve (None: empty curve).

    ``timesteps`` is the newest logged step and ``success_rate`` the running success
    there; speed and wall time are unknown (NaN) until the run finishes. A run that
    finished at a smaller budget and was not continued gives its own summary.
    """
    if curve.empty:
        return None
    last = curve.iloc[-1]
    summary_path = config.run_dir / SUMMARY_FILE
    if summary_path.exists():  # finished at a smaller budget and not continued since
        summary = json.loads(summary_path.read_text())
        if summary.get("timesteps", 0) >= int(last["timesteps"]):
            return summary
    return {
        "timesteps": int(last["timesteps"]),
        "success_rate": float(last["success_rate"]),
        "env_steps_per_s": float("nan"),
        "wall_time_s": float("nan"),
    }


def read_curve(config: RunConfig) -> pd.DataFrame:
    """A run's learning curve, one row per logged step (empty if it has none yet)."""
    path = config.run_dir / CURVE_FILE
    if not path.exists():
        return pd.DataFrame(columns=["timesteps", "success_rate"])
    curve = pd.read_csv(path)
    # A resumed run re-logs the steps after its last checkpoint: keep the newest rows.
    return curve.drop_duplicates("timesteps", keep="last").sort_values("timesteps")


def collect(
    plan_rows: list[tuple[str, str, RunConfig]], partial: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Finished runs' summaries and learning curves as two tables.

    With ``partial``, unfinished runs are included at the step they have reached
    (their ``steps`` is that step, not the budget).
    """
    summaries, curves = [], []
    for task, shaping, config in plan_rows:
        summary = finished_summary(config)
        steps = config.steps
        if summary is None and not partial:
            continue
        curve = read_curve(config)
        if summary is None:
            summary = partial_summary(config, curve)
            if summary is None:
                continue
            steps = summary["timesteps"]
        row = {"task": task, "shaping": shaping, "seed": config.seed, "steps": steps}
        row.update({k: summary[k] for k in ("success_rate", "env_steps_per_s")})
        # A resumed run's summary times only its last segment: report the whole run's
        # time at that segment's speed instead.
        speed = summary["env_steps_per_s"]
        row["wall_time_s"] = steps / speed if pd.notna(speed) and speed > 0 else float("nan")
        for threshold in THRESHOLDS:
            row[f"steps_to_{int(threshold * 100)}"] = steps_to(curve, threshold)
        row["run_dir"] = str(config.run_dir)
        summaries.append(row)
        curve.insert(0, "seed", config.seed)
        curve.insert(0, "shaping", shaping)
        curve.insert(0, "task", task)
        curves.append(curve)
    runs = pd.DataFrame(summaries)
    return runs, (pd.concat(curves, ignore_index=True) if curves else pd.DataFrame())


def _reach(values: pd.Series) -> str:
    reached = values.dropna()
    if reached.empty:
        return "not reached"
    text = f"{reached.mean() / 1000:.0f}k"
    return text if len(reached) == len(values) else f"{text} ({len(reached)}/{len(values)} seeds)"


def table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, shaping): success over seeds, steps to 50/90 %, speed, wall time."""
    rows = []
    for (task, shaping, steps), group in runs.groupby(["task", "shaping", "steps"], sort=False):
        success = group["success_rate"]
        rows.append(
            {
                "task": task,
                "shaping": shaping,
                "steps": int(steps),
                "seeds": len(group),
                "final_success": float(success.mean()),
                "success_min": float(success.min()),
                "success_max": float(success.max()),
                "steps_to_50": _reach(group["steps_to_50"]),
                "steps_to_90": _reach(group["steps_to_90"]),
                "env_steps_per_s": float(group["env_steps_per_s"].mean()),
                "wall_time_s": float(group["wall_time_s"].mean()),
            }
        )
    return pd.DataFrame(rows)


def speed_ratios(runs: pd.DataFrame, shaping: str = "e3b") -> dict[str, float]:
    """``shaping`` env-steps/s over plain PPO's, per task, from seeds both finished."""
    ratios = {}
    for task, group in runs.groupby("task", sort=False):
        plain = group[group["shaping"] == "none"].set_index("seed")["env_steps_per_s"].dropna()
        shaped = group[group["shaping"] == shaping].set_index("seed")["env_steps_per_s"].dropna()
        both = plain.index.intersection(shaped.index)
        if len(both):
            ratios[task] = float(statistics.median(shaped[both] / plain[both]))
    return ratios


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


def plot_tasks(
    curves: pd.DataFrame, out_dir: Path, order: list[str], agent: str = "PPO"
) -> dict[str, Path]:
    """One PNG per task with every shaping's mean curve and min–max band over seeds."""
    plots = {}
    for task, part in curves.groupby("task", sort=False):
        path = out_dir / f"{task}.png"
        plot_success(part, path, title=f"MiniHack {task} — {agent}", order=order)
        plots[task] = path
    return plots


def markdown_table(summary: pd.DataFrame) -> str:
    """The README's results table."""
    lines = [
        "| task | shaping | budget (env steps) | seeds | final success (min–max) | "
        "steps to 50 % | steps to 90 % | env-steps/s | wall time / run at that speed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in summary.itertuples():
        success = f"{row.final_success:.2f} ({row.success_min:.2f}–{row.success_max:.2f})"
        if row.final_success >= 0.8:
            success = f"**{success}**"
        speed = "unfinished" if pd.isna(row.env_steps_per_s) else f"{row.env_steps_per_s:.0f}"
        wall = "unfinished" if pd.isna(row.wall_time_s) else f"{row.wall_time_s / 60:.1f} min"
        lines.append(
            f"| {row.task} | {row.shaping} | {row.steps:,} | {row.seeds} | {success} | "
            f"{row.steps_to_50} | {row.steps_to_90} | {speed} | {wall} |"
        )
    return "\n".join(lines)


def _section_pattern(heading: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.S | re.M)


def replace_section(readme: Path, body: str, heading: str = SECTION) -> None:
    """Replace (or add) this benchmark's section of a README, leaving the rest alone.

    A new variant section (e.g. "— recurrent PPO") goes right after the main section
    when there is one, so the variants stay together; any other new section is appended.
    """
    text = readme.read_text() if readme.exists() else "# densegym benchmarks\n"
    section = f"{heading}\n\n{body.strip()}\n"
    own, main = _section_pattern(heading).search(text), _section_pattern(SECTION).search(text)
    if own:
        text = text[: own.start()] + section + "\n" + text[own.end() :]
    elif main and heading != SECTION:
        text = text[: main.end()].rstrip("\n") + "\n\n" + section + "\n" + text[main.end() :]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    readme.write_text(text.rstrip("\n") + "\n")


def _peer_text() -> str:
    if not PEER_RESULTS.exists():
        return "Peer comparison: not run yet (`python benchmarks/rllte_peer.py`)."
    peer = json.loads(PEER_RESULTS.read_text())
    return peer.get("markdown", "")


def section_body(results: dict[str, Any], summary: pd.DataFrame) -> str:
    """The README section: how it was run, the table, the e3b speed ratio, the peer.

    The peer table (one figure for all variants) appears in the main section only.
    """
    is_main = results.get("algo", "ppo") == "ppo" and not results.get("full_map")
    ratios = ", ".join(f"{t} {r:.2f}" for t, r in results["e3b_over_none_steps_per_s"].items())
    speed = results.get("paired_speed")
    paired = "not measured (`--speed-steps N`)."
    if speed:
        paired = (
            f"**{speed['ratio']:.2f}** on {speed['task']} ({speed['rounds']} interleaved rounds "
            f"of {speed['steps']:,} env steps per form, one process, medians: "
            f"{statistics.median(speed['e3b']):.0f} vs {statistics.median(speed['none']):.0f} "
            "env-steps/s)."
        )
    return "\n".join(
        [
            f"{ALGO_TITLES[results.get('algo', 'ppo')]} (densegym's MiniHack defaults: 8 "
            "sub-envs, n_steps 128, 1 torch thread) with "
            "each bonus at its default coefficient; `count` per env, the learned bonuses in "
            "their batched VecEnv form (`batched_shaping`). Final success = mean success over "
            "the last 30 episodes, averaged over seeds; steps to 50/90 % = first log point "
            "(every 2,048 steps) where a seed's running success, over at least 10 episodes, "
            "reaches it, averaged over "
            "the seeds that reached it. Budgets are per run and shown in the table. "
            "env-steps/s is the speed of a run's last training segment (a resumed run "
            "starts a new one); wall time / run = budget ÷ that speed.",
            "",
            results.get("notes", "").strip(),
            "",
            f"Command: `{results['command']}` · machine: {results['machine']} · "
            f"date: {results['date']}",
            "",
            markdown_table(summary),
            "",
            f"PPO+e3b env-steps/s / plain PPO env-steps/s (target ≥ 0.7): paired measurement "
            f"{paired} From the benchmark runs themselves (same task and seed, but trained "
            f"at different times next to different runs, so load differs): {ratios or 'n/a'}.",
            "",
            _peer_text() if is_main else "The peer comparison is in the main section.",
        ]
    )


def variant(full_map: bool, algo: str) -> tuple[str, str]:
    """Folder/results suffix and README heading of a benchmark variant.

    Example:
        >>> variant(False, "ppo")
        ('', '## MiniHack exploration (issue 3)')
        >>> variant(True, "recurrent_ppo")
        ('_recurrent_full_map', '## MiniHack exploration (issue 3) — recurrent PPO — full map')
    """
    parts = [("recurrent", "recurrent PPO")] if algo == "recurrent_ppo" else []
    parts += [("full_map", "full map")] if full_map else []
    suffix = "".join(f"_{key}" for key, _ in parts)
    return suffix, SECTION + "".join(f" — {title}" for _, title in parts)


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
        choices=("ppo", "recurrent_ppo"),
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
    parser.add_argument("--readme", default=str(README), help="README to update ('' to skip)")
    parser.add_argument("--notes", default="", help="markdown put under the table in the README")
    parser.add_argument("--notes-file", default="", help="read --notes from this file")
    parser.add_argument(
        "--speed-steps", type=int, default=0, help="paired none/e3b speed runs (0: skip)"
    )
    parser.add_argument("--speed-rounds", type=int, default=3)
    parser.add_argument("--speed-task", default="", help="task of the speed runs (first task)")
    parser.add_argument("--report-only", action="store_true", help="only rebuild the outputs")
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
    start = time.perf_counter()
    if not args.report_only:
        train_unfinished([config for _, _, config in rows], args.workers)
    runs, curves = collect(rows, partial=args.include_partial)
    logdir = Path(args.logdir)
    logdir.mkdir(parents=True, exist_ok=True)
    speed_file = logdir / "speed.json"
    if args.speed_steps > 0:
        task = args.speed_task or tasks[0]
        speed = paired_speed(task, base, args.speed_steps, args.speed_rounds, logdir / "speed")
        speed_file.write_text(json.dumps(speed, indent=2))
    speed = json.loads(speed_file.read_text()) if speed_file.exists() else None
    summary = table(runs) if len(runs) else pd.DataFrame()
    curves.to_csv(logdir / "curves.csv", index=False)
    runs.to_csv(logdir / "runs.csv", index=False)
    summary.to_csv(logdir / "table.csv", index=False)
    agent = ALGO_TITLES[args.algo] + (", full map" if args.full_map else "")
    plots = plot_tasks(curves, logdir / "plots", shapings, agent) if len(curves) else {}
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
        "paired_speed": speed,
        "notes": Path(args.notes_file).read_text() if args.notes_file else args.notes,
        "elapsed_s": time.perf_counter() - start,
    }
    if len(summary):
        print(markdown_table(summary))
    print("e3b / none env-steps/s:", results["e3b_over_none_steps_per_s"])
    if speed:
        print(f"paired speed on {speed['task']}: e3b / none = {speed['ratio']:.2f}")
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
