"""Named reward features of an env, for the structured prompt a small model fills in.

They are read from ``env.unwrapped.task`` (Text2Reward's compact representation). Each
feature is a Python expression over ``obs, action, next_obs, info`` (``math`` and
``numpy as np`` allowed) plus a one-line description for the prompt.

Example:
    >>> import gymnasium as gym, densegym
    >>> task = gym.make("densegym/MountainCarSparse-v0").unwrapped.task
    >>> [f.name for f in feature_menu(task)][:4]
    ['height', 'height_gain', 'speed', 'energy_gain']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Feature:
    """One named term a reward may weigh.

    Attributes:
        name: identifier used in the prompt and in the generated code.
        expression: Python expression over ``obs, action, next_obs, info``.
        description: what it measures, in words (shown to the model).
    """

    name: str
    expression: str
    description: str


_MC_ENERGY = "(0.5 * float({o}[1]) ** 2 + 0.0025 / 3 * math.sin(3 * float({o}[0])))"

#: Hand-derived features for tasks whose physics the task dict only names.
TASK_FEATURES: dict[str, list[Feature]] = {
    "MountainCarSparse": [
        Feature("height", "math.sin(3 * float(next_obs[0]))", "height of the car on the hill"),
        Feature(
            "height_gain",
            "math.sin(3 * float(next_obs[0])) - math.sin(3 * float(obs[0]))",
            "change of height in this step",
        ),
        Feature("speed", "abs(float(next_obs[1]))", "absolute velocity of the car"),
        Feature(
            "energy_gain",
            "1000 * (" + _MC_ENERGY.format(o="next_obs") + " - " + _MC_ENERGY.format(o="obs") + ")",
            "gain of mechanical energy (kinetic + potential) in this step",
        ),
        Feature("progress", "float(next_obs[0]) - float(obs[0])", "movement to the right"),
        Feature("right_push", "float(action == 2)", "1 when the action accelerates right"),
        Feature(
            "push_with_velocity",
            "float((action - 1) * float(next_obs[1]) > 0)",
            "1 when the push is in the direction of motion",
        ),
    ],
}

_INDEXED = re.compile(r"^obs\[(\d+)\]$")


def feature_menu(task: dict[str, Any]) -> list[Feature]:
    """The features a structured prompt offers for ``task``.

    Task-specific features come first (:data:`TASK_FEATURES`), then generic ones:
    each ``obs[i]`` the task describes (value and change), ``success`` from
    ``info["is_success"]`` and, when ``info`` has a ``caption``, its mention of the goal.
    """
    features = list(TASK_FEATURES.get(str(task.get("id", "")), []))
    for key, description in (task.get("observation") or {}).items():
        match = _INDEXED.match(str(key))
        if match:
            i = int(match.group(1))
            short = str(description).split(";")[0]
            features.append(Feature(f"obs{i}", f"float(next_obs[{i}])", f"{short} (after)"))
            features.append(
                Feature(
                    f"obs{i}_change", f"float(next_obs[{i}]) - float(obs[{i}])", f"{short}: change"
                )
            )
    info_fields = task.get("info") or {}
    if "is_success" in info_fields:
        features.append(
            Feature(
                "success", "float(bool(info.get('is_success', False)))", "1 when the task is solved"
            )
        )
    if "caption" in info_fields:
        features.append(
            Feature(
                "goal_in_view",
                "float('goal' in str(info.get('caption', '')))",
                "1 when the goal is mentioned in the caption",
            )
        )
        features.append(
            Feature(
                "message",
                "float(len(str(info.get('message', ''))) > 0)",
                "1 when the game printed a message (often a bump or an event)",
            )
        )
    seen: set[str] = set()
    return [f for f in features if not (f.name in seen or seen.add(f.name))]


def compose_code(weights: dict[str, float], menu: list[Feature], note: str = "") -> str:
    """Reward source code that sums the weighted features.

    Example:
        >>> menu = [Feature("x", "float(next_obs[0])", "position")]
        >>> print(compose_code({"x": 2.0}, menu).splitlines()[-1])
            return float(sum(WEIGHTS[name] * terms[name] for name in WEIGHTS))
    """
    by_name = {f.name: f for f in menu}
    unknown = set(weights) - set(by_name)
    if unknown:
        raise ValueError(f"unknown features {sorted(unknown)}; menu: {sorted(by_name)}")
    lines = ["import math", "", "import numpy as np", ""]
    if note:
        lines += [f"# {line}" for line in note.splitlines()] + [""]
    lines.append("WEIGHTS = {")
    lines += [f"    {name!r}: {float(weight)!r}," for name, weight in weights.items()]
    lines += ["}", "", "", "def reward(obs, action, next_obs, info):"]
    lines.append('    """Weighted sum of named features (chosen from the feature menu)."""')
    lines.append("    terms = {")
    lines += [f"        {name!r}: {by_name[name].expression}," for name in weights]
    lines.append("    }")
    lines.append("    return float(sum(WEIGHTS[name] * terms[name] for name in WEIGHTS))")
    return "\n".join(lines) + "\n"
