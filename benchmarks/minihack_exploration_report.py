"""Report half of the MiniHack exploration benchmark: runs -> tables, plots, README.

Reads the run folders of ``minihack_exploration.py`` (finished runs' summaries, every
run's ``curve.csv``), reduces them to one row per (task, shaping), and renders the
``benchmarks/README.md`` section. Training lives in ``minihack_exploration.py``; this
module trains nothing.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import Any

import pandas as pd
from minihack_exploration_matrix import markdown_matrix, steps_text

from densegym.agents.runs import (
    CURVE_FILE,
    MIN_EPISODES,
    SUMMARY_FILE,
    RunConfig,
    finished_summary,
    steps_to_success,
)
from densegym.agents.runs.record import read_curve as read_curve_file
from densegym.agents.runs.record import read_summary
from densegym.agents.sb3.plotting import plot_success

HERE = Path(__file__).parent
PEER_RESULTS = HERE / "results" / "minihack_exploration_rllte.json"
SECTION = "## MiniHack exploration (issue 3)"
ALGO_TITLES = {"ppo": "PPO", "recurrent_ppo": "Recurrent PPO with one shared 128-unit LSTM"}
THRESHOLDS = (0.5, 0.9)
PLAIN_MAX, BONUS_MIN = 0.2, 0.8  # the target: plain PPO <= 0.2, a bonus >= 0.8


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
    return steps_to_success(curve, threshold, min_episodes=min_episodes)


def partial_summary(config: RunConfig, curve: pd.DataFrame) -> dict[str, Any] | None:
    """Where an unfinished run stands now, read from its learning curve (None: empty curve).

    ``timesteps`` is the newest logged step and ``success_rate`` the running success
    there; speed and wall time are unknown (NaN) until the run finishes. A run that
    finished at a smaller budget and was not continued gives its own summary.
    """
    if curve.empty:
        return None
    last = curve.iloc[-1]
    summary = read_summary(config.run_dir / SUMMARY_FILE)[0]
    if summary is not None:  # finished at a smaller budget and not continued since
        if summary.get("timesteps", 0) >= int(last["timesteps"]):
            return summary
    return {
        "timesteps": int(last["timesteps"]),
        "success_rate": float(last["success_rate"]),
        "env_steps_per_s": float("nan"),
        "wall_time_s": float("nan"),
    }


def read_curve(config: RunConfig) -> pd.DataFrame:
    """A run's learning curve, one row per logged step (empty if it has none yet).

    Unreadable rows are dropped with a warning (:func:`densegym.agents.runs.record.read_curve`).
    """
    curve, problems = read_curve_file(config.run_dir / CURVE_FILE)
    for problem in problems:
        print(f"warning: {config.run_dir}: {problem}")
    return curve


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
    text = steps_text(reached.mean())
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


def plot_tasks(
    curves: pd.DataFrame,
    out_dir: Path,
    order: list[str],
    agent: str = "PPO",
    runs: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """One PNG per task with every shaping's mean curve and min–max band over seeds.

    Runs in ``runs`` without a curve (archived before curves were archived) appear as
    final-success markers. A task none of whose runs has a curve gets no new plot, so
    an earlier plot of it is kept rather than replaced by markers only.
    """
    plots = {}
    for task, part in curves.groupby("task", sort=False):
        path = out_dir / f"{task}.png"
        title = f"MiniHack {task} — {agent}"
        plot_success(part, path, title=title, order=order, endpoints=_without_curve(runs, part))
        plots[task] = path
    return plots


def _without_curve(runs: pd.DataFrame | None, curves: pd.DataFrame) -> pd.DataFrame | None:
    """The rows of ``runs`` for ``curves``' task whose (shaping, seed) has no curve there."""
    if runs is None or not len(runs):
        return None
    task = curves["task"].iloc[0]
    drawn = set(zip(curves["shaping"], curves["seed"], strict=True))
    mine = runs[runs["task"] == task]
    missing = [
        (shaping, seed) not in drawn
        for shaping, seed in zip(mine["shaping"], mine["seed"], strict=True)
    ]
    return mine[missing]


def target_verdicts(summary: pd.DataFrame, budget: int, seeds: int) -> pd.DataFrame:
    """Per task, whether a bonus reaches ``BONUS_MIN`` where plain PPO stays ``<= PLAIN_MAX``.

    Only rows at the full ``budget`` with all ``seeds`` seeds count; success is the
    mean over seeds. The verdict is ``met``, ``not a candidate`` (plain PPO above
    ``PLAIN_MAX``), ``not met`` (plain PPO and every bonus complete) or ``incomplete``,
    which names the rows still short of the budget or the seeds. ``meeting`` names every
    complete bonus at ``BONUS_MIN`` or above, best first.

    Example:
        >>> rows = pd.DataFrame({"task": ["A", "A", "A"], "shaping": ["none", "e3b", "rnd"],
        ...                      "steps": [100, 100, 40], "seeds": [3, 3, 1],
        ...                      "final_success": [0.0, 0.95, 0.5]})
        >>> target_verdicts(rows, budget=100, seeds=3).iloc[0].to_dict()["verdict"]
        'met'
        >>> target_verdicts(rows.assign(steps=100, seeds=3, final_success=[0.0, 0.85, 0.9]),
        ...                 100, 3)["meeting"][0]
        'rnd, e3b'
        >>> target_verdicts(rows.assign(final_success=[0.0, 0.5, 0.5]), 100, 3)["verdict"][0]
        'incomplete: rnd'
        >>> target_verdicts(rows.assign(final_success=[0.3, 0.9, 0.5]), 100, 3)["verdict"][0]
        'not a candidate: plain PPO > 0.2'
    """
    rows = []
    for task, group in summary.groupby("task", sort=False):
        complete = group[(group["steps"] == budget) & (group["seeds"] >= seeds)]
        plain = complete[complete["shaping"] == "none"]["final_success"]
        bonuses = complete[complete["shaping"] != "none"].set_index("shaping")["final_success"]
        ranked = bonuses.sort_values(ascending=False, kind="stable")
        best = ranked.index[0] if len(ranked) else None
        passing = ranked[ranked >= BONUS_MIN]
        missing = sorted(set(group["shaping"]) - set(complete["shaping"]))
        if len(plain) and float(plain.iloc[0]) > PLAIN_MAX:
            verdict = f"not a candidate: plain PPO > {PLAIN_MAX}"
        elif len(plain) and best is not None and bonuses[best] >= BONUS_MIN:
            verdict = "met"
        elif missing:
            verdict = "incomplete: " + ", ".join(missing)
        else:
            verdict = "not met"
        rows.append(
            {
                "task": task,
                "plain": float(plain.iloc[0]) if len(plain) else float("nan"),
                "best_bonus": best,
                "best_success": float(bonuses[best]) if best is not None else float("nan"),
                "meeting": ", ".join(passing.index),
                "verdict": verdict,
            }
        )
    return pd.DataFrame(rows)


def markdown_verdicts(verdicts: pd.DataFrame, budget: int, seeds: int) -> str:
    """The README's one-line-per-task check of the issue's target."""

    def number(value: float) -> str:
        return "–" if pd.isna(value) else f"{value:.2f}"

    lines = [
        f"Target check at {budget:,} env steps, {seeds} seed{'s' * (seeds != 1)} "
        f"(plain PPO ≤ {PLAIN_MAX}, a bonus ≥ {BONUS_MIN}; unfinished rows do not count):",
        "",
        f"| task | plain PPO | best bonus | its success | every bonus ≥ {BONUS_MIN} | target |",
        "|---|---|---|---|---|---|",
    ]
    for row in verdicts.itertuples():
        lines.append(
            f"| {row.task} | {number(row.plain)} | "
            f"{'–' if pd.isna(row.best_bonus) else row.best_bonus} | "
            f"{number(row.best_success)} | {row.meeting or '–'} | {row.verdict} |"
        )
    return "\n".join(lines)


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


def _matrix_text(results: dict[str, Any]) -> str:
    if not results.get("matrix"):
        return ""
    text = markdown_matrix(
        pd.DataFrame(results["matrix"]),
        results["shapings"],
        results["budget_steps"],
        results["seeds"],
    )
    plot = results.get("matrix_plot")
    return text + (f"\n\n![Final success per task and shaping]({plot})" if plot else "")


def _archive_text(results: dict[str, Any]) -> str:
    if not results.get("archive"):
        return ""
    return (
        f" Every run's record (summary and learning curve) is kept under git in "
        f"`{results['archive']}/`: the report reads it where a run folder is missing, and "
        "the script does not retrain a run it holds as finished."
    )


def section_body(results: dict[str, Any], summary: pd.DataFrame) -> str:
    """The README section: how it was run, the table, the target check, the speed, the peer.

    ``results["target"]`` holds the rows of :func:`target_verdicts` for ``summary``.

    The peer table (one figure for all variants) appears in the main section only.
    """
    is_main = results.get("algo", "ppo") == "ppo" and not results.get("full_map")
    ratios = ", ".join(f"{t} {r:.2f}" for t, r in results["e3b_over_none_steps_per_s"].items())
    speeds = results.get("paired_speeds", {})
    paired = "not measured (`--speed-steps N`)."
    if speeds:
        paired = (
            "; ".join(
                f"**{speed['ratio']:.2f}** on {task} ({speed['rounds']} rounds of "
                f"{speed['steps']:,} env steps per form, medians "
                f"{statistics.median(speed['e3b']):.0f} vs "
                f"{statistics.median(speed['none']):.0f} env-steps/s)"
                for task, speed in speeds.items()
            )
            + ". A task's rounds alternate the two forms in one process."
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
            "starts a new one); wall time / run = budget ÷ that speed." + _archive_text(results),
            "",
            _matrix_text(results),
            "",
            results.get("notes", "").strip(),
            "",
            f"Command: `{results['command']}` · machine: {results['machine']} · "
            f"date: {results['date']}",
            "",
            markdown_table(summary),
            "",
            markdown_verdicts(
                pd.DataFrame(results["target"]), results["budget_steps"], results["seeds"]
            ),
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
