"""The text view of a step that LLM annotators and judges read.

MiniHack steps read as their caption and game message; text envs as the observation
itself; vector envs whose ``task`` names ``obs[i]`` fields as those fields, rounded (so
nearby states share a caption, and a cache).

Example:
    >>> import numpy as np
    >>> task = {"observation": {"obs[0]": "position in [-1.2, 0.6]", "obs[1]": "velocity"}}
    >>> step_text(task, np.array([-0.523, 0.0012]), {})
    'position -0.52, velocity 0.00'
    >>> step_text({}, None, {"caption": "You are at x=3.", "message": "It's a wall."})
    "You are at x=3. It's a wall."
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

_INDEXED = re.compile(r"^obs\[(\d+)\]$")


def step_text(
    task: dict[str, Any], obs: Any, info: dict[str, Any], decimals: int = 2
) -> str | None:
    """A one-line description of the state after a step, or ``None`` when there is none."""
    parts = [str(info[key]).strip() for key in ("caption", "message") if info.get(key)]
    if parts:
        return " ".join(p for p in parts if p)
    if isinstance(obs, str):
        return obs
    fields = []
    for key, description in (task.get("observation") or {}).items():
        match = _INDEXED.match(str(key))
        if match and isinstance(obs, np.ndarray) and int(match.group(1)) < obs.size:
            name = str(description).split()[0] if description else key
            fields.append(f"{name} {float(obs.flat[int(match.group(1))]):.{decimals}f}")
    return ", ".join(fields) or None
