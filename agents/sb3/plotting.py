"""Learning-curve plots: success rate vs env steps, mean and band across seeds."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

_ENDPOINT_DODGE = 0.015
"""Share of the steps axis between the final-only markers of two shapings."""


def aggregate_curves(
    curves: pd.DataFrame, grid_points: int = 50, metric: str = "success_rate"
) -> pd.DataFrame:
    """Interpolate each run's curve onto a common step grid; mean, min and max per shaping.

    Args:
        curves: rows with columns ``shaping``, ``seed``, ``timesteps`` and ``metric``.
        grid_points: number of points on the common grid.
        metric: the column to aggregate.

    Returns:
        Rows of ``shaping, timesteps, mean, low, high, seeds``; the band is the
        min–max range across seeds (with 2–3 seeds a standard deviation says little).

    Example:
        >>> df = pd.DataFrame({"shaping": ["a"] * 4, "seed": [0, 0, 1, 1],
        ...                    "timesteps": [0, 10, 0, 10], "success_rate": [0, 1, 0, 0.5]})
        >>> agg = aggregate_curves(df, grid_points=2)
        >>> agg["mean"].tolist(), agg["high"].tolist()
        ([0.0, 0.75], [0.0, 1.0])
    """
    rows = []
    max_step = curves["timesteps"].max() if len(curves) else 0
    grid = np.linspace(0, max_step, grid_points)
    for shaping, group in curves.groupby("shaping", sort=False):
        per_seed = []
        for _, run in group.groupby("seed"):
            run = run.sort_values("timesteps")
            # Explicit float: curves concatenated with an empty (header-only) curve have
            # object columns, which np.interp rejects.
            steps = np.concatenate([[0.0], run["timesteps"].to_numpy(dtype=float)])
            metric_values = run[metric].to_numpy(dtype=float)
            values = np.concatenate([metric_values[:1], metric_values])
            interp = np.interp(grid, steps, values)
            interp[grid > steps[-1]] = np.nan  # do not extrapolate unfinished runs
            per_seed.append(interp)
        stacked = np.vstack(per_seed)
        with np.errstate(all="ignore"):
            for i, step in enumerate(grid):
                column = stacked[:, i][~np.isnan(stacked[:, i])]
                if column.size == 0:
                    continue
                rows.append(
                    {
                        "shaping": shaping,
                        "timesteps": float(step),
                        "mean": float(column.mean()),
                        "low": float(column.min()),
                        "high": float(column.max()),
                        "seeds": int(column.size),
                    }
                )
    return pd.DataFrame(rows)


def plot_success(
    curves: pd.DataFrame,
    path: str | Path,
    title: str = "",
    order: Iterable[str] | None = None,
    endpoints: pd.DataFrame | None = None,
) -> Path:
    """Save a PNG of success rate vs env steps (mean line, min–max band) per shaping.

    Args:
        curves: rows of ``shaping, seed, timesteps, success_rate``.
        path: the PNG to write.
        title: the plot title.
        order: shapings in legend order (default: order of appearance).
        endpoints: runs whose curve is not known, only where they ended: rows of
            ``shaping, steps, success_rate``. Each shaping's are drawn as one marker at
            the mean, with a min–max bar over its runs; markers of different shapings
            are shifted apart along the steps axis (1.5 % of it each) so equal values
            stay visible.

    Example:
        >>> import tempfile
        >>> curves = pd.DataFrame({"shaping": "e3b", "seed": 0, "timesteps": [10, 20],
        ...                        "success_rate": [0.0, 1.0]})
        >>> ends = pd.DataFrame({"shaping": ["none"] * 2, "steps": 20, "success_rate": [0, 0.1]})
        >>> folder = Path(tempfile.mkdtemp())
        >>> plot_success(curves, folder / "a.png", endpoints=ends).exists()
        True
        >>> plot_success(curves.iloc[:0], folder / "b.png", endpoints=ends).exists()  # ends only
        True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    aggregated = aggregate_curves(curves) if len(curves) else pd.DataFrame(columns=["shaping"])
    endpoints = endpoints if endpoints is not None else pd.DataFrame(columns=["shaping"])
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    shapings = list(order) if order else list(dict.fromkeys(aggregated["shaping"]))
    shapings += [s for s in dict.fromkeys(endpoints["shaping"]) if s not in shapings]
    markers = endpoint_markers(endpoints, shapings)
    for index, shaping in enumerate(shapings):
        if shaping in markers:
            _draw_endpoint(ax, shaping, markers[shaping], f"C{index % 10}")
        part = aggregated[aggregated["shaping"] == shaping]
        if part.empty:
            continue
        seeds = int(part["seeds"].max())
        label = f"{shaping} ({seeds} seed{'s' if seeds != 1 else ''})"
        (line,) = ax.plot(part["timesteps"], part["mean"], label=label, color=f"C{index % 10}")
        ax.fill_between(
            part["timesteps"],
            part["low"],
            part["high"],
            color=line.get_color(),
            alpha=0.2,
            linewidth=0,
        )
    ax.set_xlabel("env steps")
    ax.set_ylabel("success rate")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def endpoint_markers(endpoints: pd.DataFrame, order: Iterable[str]) -> dict[str, dict]:
    """Where each shaping's final-only marker goes: mean final success, min–max, steps.

    Markers are shifted left along the steps axis, 1.5 % of it per shaping in ``order``
    that has endpoints, so shapings with equal values do not hide one another.

    Args:
        endpoints: rows of ``shaping, steps, success_rate``, one per run.
        order: shapings in drawing order; shapings absent from ``endpoints`` are skipped.

    Returns:
        ``{shaping: {"x", "mean", "low", "high", "runs"}}`` in ``order``.

    Example:
        >>> ends = pd.DataFrame({"shaping": ["none", "none", "count"], "steps": 100,
        ...                      "success_rate": [0.0, 0.2, 0.0]})
        >>> markers = endpoint_markers(ends, ["none", "e3b", "count"])
        >>> [(s, m["x"], round(m["mean"], 2), m["runs"]) for s, m in markers.items()]
        [('none', 100.0, 0.1, 2), ('count', 98.5, 0.0, 1)]
    """
    span = float(endpoints["steps"].max()) if len(endpoints) else 0.0
    markers: dict[str, dict] = {}
    for shaping in order:
        ends = endpoints[endpoints["shaping"] == shaping]
        if ends.empty:
            continue
        success = ends["success_rate"].astype(float)
        markers[shaping] = {
            "x": float(ends["steps"].mean()) - _ENDPOINT_DODGE * span * len(markers),
            "mean": float(success.mean()),
            "low": float(success.min()),
            "high": float(success.max()),
            "runs": len(ends),
        }
    return markers


def _draw_endpoint(ax: object, shaping: str, marker: dict, color: str) -> None:
    """One marker at a shaping's mean final success, with a min–max bar."""
    mean, runs = marker["mean"], marker["runs"]
    ax.errorbar(
        [marker["x"]],
        [mean],
        yerr=[[mean - marker["low"]], [marker["high"] - mean]],
        fmt="D",
        color=color,
        capsize=4,
        markersize=6,
        label=f"{shaping} ({runs} run{'s' if runs != 1 else ''}, final only)",
    )
