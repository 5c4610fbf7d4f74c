"""Archive half of the MiniHack exploration benchmark: one record per run, kept under git.

Run folders (checkpoints, TensorBoard files, curves) live under ``runs/``, which git
ignores, so a new machine starts without them. A run of 1M env steps costs half an hour
of this machine, so its outcome must outlive the folder: every report writes each run's
record (its summary row and its learning curve) to one small JSON file under
``benchmarks/results/minihack_exploration_runs/<task>/<shaping>-seed<k>.json`` and reads
the records back for runs whose folder is gone or behind. ``minihack_exploration.py``
skips runs the archive holds as finished at the budget, and also keeps the paired speed
measurements there, one per task (``speed.json``).

Records written from an older results JSON have ``"curve": null``: their summary
(final success, steps to 50/90 %, speed) is known, their curve is not.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

SUMMARY_FIELDS = (
    "steps",
    "success_rate",
    "env_steps_per_s",
    "wall_time_s",
    "steps_to_50",
    "steps_to_90",
)
KEY = ("task", "shaping", "seed")
SPEED_FILE = "speed.json"


def record_path(directory: Path, task: str, shaping: str, seed: int) -> Path:
    """Where one run's record lives.

    Example:
        >>> record_path(Path("arch"), "MultiRoom-N4", "e3b", 2).as_posix()
        'arch/MultiRoom-N4/e3b-seed2.json'
    """
    return Path(directory) / task / f"{shaping}-seed{int(seed)}.json"


def read_record(path: Path) -> dict[str, Any] | None:
    """A record, or ``None`` when there is none or it cannot be read (a warning is printed)."""
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        print(f"warning: ignoring unreadable archive record {path}: {error}")
        return None


def _number(value: Any) -> float | None:
    """JSON-safe number: NaN and None become ``None``."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(text)
    os.replace(partial, path)


def save_runs(runs: pd.DataFrame, curves: pd.DataFrame, directory: Path) -> int:
    """Write each run's record unless the archive holds one further along.

    Args:
        runs: one row per run: ``task, shaping, seed`` and :data:`SUMMARY_FIELDS`.
        curves: learning curves with ``task, shaping, seed, timesteps`` and metric columns.
        directory: the archive folder.

    Returns:
        How many records were written.

    Example:
        >>> import tempfile
        >>> runs = pd.DataFrame([{"task": "T", "shaping": "e3b", "seed": 0, "steps": 200,
        ...     "success_rate": 1.0, "env_steps_per_s": 500.0, "wall_time_s": 0.4,
        ...     "steps_to_50": 100.0, "steps_to_90": None}])
        >>> curve = pd.DataFrame({"task": "T", "shaping": "e3b", "seed": 0,
        ...                       "timesteps": [100, 200], "success_rate": [0.5, 1.0]})
        >>> folder = Path(tempfile.mkdtemp())
        >>> save_runs(runs, curve, folder), save_runs(runs.assign(steps=100), curve, folder)
        (1, 0)
        >>> loaded, curves = load_runs(folder, [("T", "e3b", 0)], budget=200)
        >>> loaded["success_rate"].tolist(), curves["timesteps"].tolist()
        ([1.0], [100, 200])
    """
    written = 0
    by_run = _curves_by_run(curves)
    for row in runs.to_dict(orient="records"):
        key = (row["task"], row["shaping"], int(row["seed"]))
        path = record_path(directory, *key)
        old = read_record(path)
        if old is not None and old["steps"] > row["steps"]:
            continue  # e.g. a run folder restarted from scratch on a new machine
        curve = by_run.get(key)
        record = {
            **dict(zip(KEY, key, strict=True)),
            **{field: _number(row.get(field)) for field in SUMMARY_FIELDS},
            "curve": None if curve is None or curve.empty else _curve_json(curve),
        }
        record["steps"] = int(row["steps"])
        if curve is None and old is not None and old["steps"] == row["steps"]:
            record["curve"] = old.get("curve")  # a summary-only update keeps the curve
        _write_atomically(path, record_text(record))
        written += 1
    return written


def record_text(record: dict[str, Any]) -> str:
    """A record as JSON with one curve row per line, so git diffs of records stay readable.

    Example:
        >>> text = record_text({"steps": 2, "curve": {"columns": ["timesteps"],
        ...                                            "rows": [[1.0], [2.0]]}})
        >>> json.loads(text)["curve"]["rows"], len(text.splitlines())
        ([[1.0], [2.0]], 8)
    """
    head = json.dumps({k: v for k, v in record.items() if k != "curve"}, indent=1)
    curve = record.get("curve")
    if curve is None:
        tail = '"curve": null'
    else:
        rows = ",\n  ".join(json.dumps(row, separators=(",", ":")) for row in curve["rows"])
        tail = f'"curve": {{"columns": {json.dumps(curve["columns"])}, "rows": [\n  {rows}\n ]}}'
    return head[:-2] + f",\n {tail}\n}}\n"


def _curves_by_run(curves: pd.DataFrame) -> dict[tuple[str, str, int], pd.DataFrame]:
    """Each run's rows of a curves table, keyed by (task, shaping, seed); one pass."""
    if not len(curves):
        return {}
    return {
        (task, shaping, int(seed)): part
        for (task, shaping, seed), part in curves.groupby(list(KEY), sort=False)
    }


def _curve_json(curve: pd.DataFrame) -> dict[str, Any]:
    columns = [c for c in curve.columns if c not in KEY]
    values = curve[columns].astype(float).round(5)
    return {"columns": columns, "rows": values.to_numpy().tolist()}


def load_runs(
    directory: Path,
    keys: Iterable[tuple[str, str, int]],
    budget: int,
    partial: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The archived runs among ``keys`` as (runs, curves) tables, in the order of ``keys``.

    Records at ``budget`` count; records short of it only with ``partial``; records
    beyond it (another budget) never.
    """
    runs, curves = [], []
    for task, shaping, seed in keys:
        record = read_record(record_path(directory, task, shaping, seed))
        if record is None or record["steps"] > budget:
            continue
        if record["steps"] < budget and not partial:
            continue
        row = {"task": task, "shaping": shaping, "seed": int(seed)}
        row.update({field: _nan(record.get(field)) for field in SUMMARY_FIELDS})
        row["steps"] = int(record["steps"])
        runs.append(row)
        if record.get("curve"):
            curve = pd.DataFrame(record["curve"]["rows"], columns=record["curve"]["columns"])
            curve["timesteps"] = curve["timesteps"].astype(int)
            curves.append(curve.assign(task=task, shaping=shaping, seed=int(seed)))
    curve_table = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()
    if len(curve_table):
        curve_table = curve_table[[*KEY, *[c for c in curve_table if c not in KEY]]]
    return pd.DataFrame(runs), curve_table


def _nan(value: Any) -> float:
    return float("nan") if value is None else float(value)


def finished(directory: Path, task: str, shaping: str, seed: int, budget: int) -> bool:
    """Whether the archive holds this run as finished at exactly ``budget`` env steps."""
    record = read_record(record_path(directory, task, shaping, seed))
    return record is not None and record["steps"] == budget


def merge(
    fresh: tuple[pd.DataFrame, pd.DataFrame],
    archived: tuple[pd.DataFrame, pd.DataFrame],
    keys: Iterable[tuple[str, str, int]],
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per run, whichever of run folder and archive got further (a tie: the run folder).

    Rows come in the order of ``keys``; a run's curve comes from the same source as its
    row, so a run known only from the archive without a curve has no curve.

    Example:
        >>> row = {"task": "T", "shaping": "none", "seed": 0}
        >>> fresh = (pd.DataFrame([{**row, "steps": 100, "success_rate": 0.1}]), pd.DataFrame())
        >>> old = (pd.DataFrame([{**row, "steps": 300, "success_rate": 0.0}]), pd.DataFrame())
        >>> merge(fresh, old, [("T", "none", 0)])[0]["steps"].tolist()
        [300]
    """
    order = {tuple(key): index for index, key in enumerate(keys)}
    picked: dict[tuple[str, str, int], tuple[dict[str, Any], pd.DataFrame]] = {}
    for runs, curves in (archived, fresh):  # fresh second: it wins ties
        by_run = _curves_by_run(curves)
        for row in runs.to_dict(orient="records") if len(runs) else []:
            key = (row["task"], row["shaping"], int(row["seed"]))
            if key in picked and picked[key][0]["steps"] > row["steps"]:
                continue
            picked[key] = (row, by_run.get(key, pd.DataFrame()))
    ranked = sorted(picked, key=lambda key: order.get(key, len(order)))
    runs = pd.DataFrame([picked[key][0] for key in ranked])
    parts = [picked[key][1] for key in ranked if len(picked[key][1])]
    return runs, (pd.concat(parts, ignore_index=True) if parts else pd.DataFrame())


def save_speed(speed: dict[str, Any], directory: Path) -> None:
    """Keep a paired speed measurement beside the others; it replaces its task's last one."""
    speeds = load_speeds(directory)
    speeds[speed["task"]] = speed
    _write_atomically(Path(directory) / SPEED_FILE, json.dumps(speeds, indent=2) + "\n")


def load_speeds(directory: Path) -> dict[str, dict[str, Any]]:
    """The kept paired speed measurements by task (``{}`` when there are none).

    A file written before measurements were kept per task holds a single one.
    """
    record = read_record(Path(directory) / SPEED_FILE)
    if record is None:
        return {}
    return {record["task"]: record} if "task" in record else record
