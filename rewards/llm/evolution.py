"""The agent-free parts of evolutionary reward design (Eureka): screen candidates, score runs.

One round of design asks the LLM for ``k`` candidates and runs each through the critic
(:func:`screen_round`); a rejected free-form answer gives its slot to a candidate from the
feature menu. Scoring reads what a training run left on disk (:func:`training_stats`) and
ranks runs by success rate, extrinsic return breaking ties (:func:`fitness_key`). The loop
that trains an agent per candidate lives in the agents layer
(:func:`densegym.agents.reward_design.design_reward`), so this module never imports an agent.

Example:
    >>> fitness_key({"success_rate": 0.5, "extrinsic_return": float("nan")})
    (0.5, 0.0)
    >>> choose_style("tiny-random", "auto", menu=[])
    'code'
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from densegym.rewards.llm.critic import critique
from densegym.rewards.llm.designer import Candidate, default_style, menu_candidate, propose
from densegym.rewards.llm.features import Feature

__all__ = ["Screened", "choose_style", "fitness_key", "screen_round", "training_stats"]


@dataclass
class Screened:
    """One slot of a design round after the critic.

    Attributes:
        index: the slot's position in the round.
        candidate: the candidate that holds the slot (its ``verdict`` filled in).
        replaced: the rejected free-form candidate whose slot a menu candidate took, if any.
    """

    index: int
    candidate: Candidate
    replaced: Candidate | None = None


def choose_style(backend_name: str, style: str, menu: Sequence[Feature]) -> str:
    """Return the prompt style to use: ``style``, or the backend's default for ``"auto"``.

    The menu style needs a feature menu; without one the style falls back to ``"code"``.

    Args:
        backend_name: the LLM backend's name (``llm.name``).
        style: ``"menu"``, ``"code"`` or ``"auto"``.
        menu: the task's feature menu.
    """
    chosen = default_style(backend_name) if style == "auto" else style
    return "code" if chosen == "menu" and not menu else chosen


def screen_round(
    llm: Any,
    task: dict[str, Any],
    menu: list[Feature],
    k: int,
    style: str,
    best: Candidate | None,
    transitions: Any,
    rng: random.Random,
    *,
    temperature: float = 0.8,
    seed: int = 0,
) -> list[Screened]:
    """Propose ``k`` candidates and run each through the critic.

    Args:
        llm: a loaded ``densegym.llm`` backend.
        task: the env's ``unwrapped.task``.
        menu: the task's feature menu.
        k: candidates to ask for.
        style: ``"menu"`` or ``"code"``.
        best: the best candidate so far (its code and statistics go into the prompt).
        transitions: what :func:`~densegym.rewards.llm.critic.sample_transitions` returned.
        rng: source of the menu weights of a replacement candidate.
        temperature: sampling temperature of the proposals.
        seed: seed of the proposals.

    Returns:
        One :class:`Screened` per slot, in order.
    """
    screened = []
    candidates = propose(llm, task, menu, k, style, best, temperature=temperature, seed=seed)
    for index, candidate in enumerate(candidates):
        candidate.verdict = critique(candidate.code, transitions)
        replaced = None
        if not candidate.verdict.accepted and style == "code" and menu:
            # A rejected free-form answer still costs a slot; fill it from the menu.
            replaced, candidate = candidate, menu_candidate("", menu, rng)
            candidate.verdict = critique(candidate.code, transitions)
        screened.append(Screened(index, candidate, replaced))
    return screened


def training_stats(run_dir: str | Path) -> dict[str, Any]:
    """Return the statistics a design prompt reflects on, read from a training run's files.

    Args:
        run_dir: a run directory with ``curve.csv`` and ``progress.csv`` (either may be
            missing).

    Returns:
        ``success_curve`` (the last five finite success rates) and ``term_means`` (the
        newest logged mean of each reward term), for the files that exist.
    """
    run_dir = Path(run_dir)
    stats: dict[str, Any] = {}
    curve = run_dir / "curve.csv"
    if curve.exists():
        with curve.open() as handle:
            rows = list(csv.DictReader(handle))
        values = [float(r["success_rate"]) for r in rows if r.get("success_rate") not in ("", None)]
        stats["success_curve"] = [v for v in values if math.isfinite(v)][-5:]
    progress = run_dir / "progress.csv"
    if progress.exists():
        with progress.open() as handle:
            rows = list(csv.DictReader(handle))
        means = {}
        for row in rows:  # the newest non-empty value of each reward term
            for key, value in row.items():
                if key and key.startswith("reward/") and value not in ("", None):
                    means[key.removeprefix("reward/")] = float(value)
        stats["term_means"] = means
    return stats


def fitness_key(summary: Mapping[str, Any]) -> tuple[float, float]:
    """Return ``(success rate, extrinsic return)`` of a run summary, non-finite values as 0.

    Candidates are ranked by this key: success first, extrinsic return breaking ties.
    """
    success = float(summary.get("success_rate", float("nan")))
    extrinsic = float(summary.get("extrinsic_return", float("nan")))
    return (
        success if math.isfinite(success) else 0.0,
        extrinsic if math.isfinite(extrinsic) else 0.0,
    )
