"""Where the exploration grid stands: a task × shaping matrix of final success.

Reduces the per-seed rows of ``minihack_exploration_report.collect`` to one cell per
(task, shaping) and renders it as a markdown table and a heat map.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def steps_text(steps: float) -> str:
    """Env steps as the tables write them: ``300k``, or the plain count below 1,000."""
    return f"{steps / 1000:.0f}k" if steps >= 1000 else str(int(steps))


def _columns(matrix: pd.DataFrame, shapings: list[str]) -> list[str]:
    """The shapings, in the given order, that have at least one cell."""
    return [s for s in shapings if s in set(matrix["shaping"])]


def success_matrix(runs: pd.DataFrame, budget: int, seeds: int) -> pd.DataFrame:
    """Task × shaping grid of final success: where the issue's grid stands at a glance.

    One row per (task, shaping) with ``success`` (mean over the seeds that reached
    ``budget``; over the unfinished seeds at the step they reached if none did),
    ``done`` (seeds at the budget), ``reached`` (the furthest step of any seed) and the
    cell's ``text``: ``1.00`` when all ``seeds`` are done, ``1.00 (1/3)`` when some are,
    ``(0.50 at 300k)`` when none is.

    Example:
        >>> runs = pd.DataFrame({"task": ["A"] * 3, "shaping": ["none", "e3b", "e3b"],
        ...                      "seed": [0, 0, 1], "steps": [100, 100, 40],
        ...                      "success_rate": [0.0, 0.9, 0.5]})
        >>> success_matrix(runs, budget=100, seeds=2)["text"].tolist()
        ['0.00 (1/2)', '0.90 (1/2)']
        >>> success_matrix(runs[runs["seed"] == 1], 100, 2)["text"].tolist()
        ['(0.50 at 40)']
    """
    rows = []
    for (task, shaping), group in runs.groupby(["task", "shaping"], sort=False):
        done = group[group["steps"] >= budget]
        counted = done if len(done) else group
        success = float(counted["success_rate"].mean())
        reached = int(group["steps"].max())
        if len(done) >= seeds:
            text = f"{success:.2f}"
        elif len(done):
            text = f"{success:.2f} ({len(done)}/{seeds})"
        else:
            text = f"({success:.2f} at {steps_text(reached)})"
        rows.append(
            {
                "task": task,
                "shaping": shaping,
                "success": success,
                "done": len(done),
                "reached": reached,
                "text": text,
            }
        )
    return pd.DataFrame(rows)


def markdown_matrix(matrix: pd.DataFrame, shapings: list[str], budget: int, seeds: int) -> str:
    """The matrix as a markdown table, tasks down and shapings across (– : not run)."""
    columns = _columns(matrix, shapings)
    cells = matrix.set_index(["task", "shaping"])["text"]
    lines = [
        f"Final success at {budget:,} env steps, mean over seeds "
        f"(`(k/{seeds})`: only k of {seeds} seeds have finished; `(x at Nk)`: no seed has, "
        "x is the running success at step N; –: not run):",
        "",
        "| task | " + " | ".join(f"`{c}`" for c in columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for task in matrix["task"].drop_duplicates():
        texts = [cells.get((task, c), "–") for c in columns]
        lines.append(f"| {task} | " + " | ".join(texts) + " |")
    return "\n".join(lines)


def plot_matrix(
    matrix: pd.DataFrame, shapings: list[str], path: Path, budget: int, seeds: int
) -> Path:
    """Heat map of :func:`success_matrix`, written to ``path``.

    Hatched cells have fewer than ``seeds`` seeds at ``budget``, faded ones none yet
    (coloured by the success so far), grey ones were not run.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = _columns(matrix, shapings)
    tasks = list(matrix["task"].drop_duplicates())
    cells = matrix.set_index(["task", "shaping"])
    fig, ax = plt.subplots(figsize=(1.3 * len(columns) + 2.5, 0.55 * len(tasks) + 1.5))
    colours = plt.get_cmap("viridis")
    for i, task in enumerate(tasks):
        for j, shaping in enumerate(columns):
            if (task, shaping) not in cells.index:
                ax.add_patch(plt.Rectangle((j, i), 1, 1, color="0.9"))
                continue
            cell = cells.loc[(task, shaping)]
            incomplete = cell["done"] < seeds
            ax.add_patch(
                plt.Rectangle(
                    (j, i), 1, 1, hatch="//" if incomplete else None,
                    facecolor=colours(cell["success"], alpha=0.55 if cell["done"] == 0 else 1.0),
                    edgecolor=(1, 1, 1, 0.35),
                )
            )  # fmt: skip
            ax.text(
                j + 0.5, i + 0.5, cell["text"], ha="center", va="center", fontsize=8,
                color="black" if cell["success"] > 0.6 else "white",
            )  # fmt: skip
    ax.set_xlim(0, len(columns))
    ax.set_ylim(len(tasks), 0)
    ax.set_xticks([j + 0.5 for j in range(len(columns))], columns)
    ax.set_yticks([i + 0.5 for i in range(len(tasks))], tasks)
    ax.set_title(
        f"Final success at {budget:,} env steps, mean over seeds\n(hatched: fewer than "
        f"{seeds} seeds finished; faded: none yet, success so far; grey: not run)",
        fontsize=9,
    )
    fig.colorbar(plt.cm.ScalarMappable(cmap=colours), ax=ax, label="success rate")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
