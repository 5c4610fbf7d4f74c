"""Evolutionary reward design with reflection (Eureka): propose, criticise, train, repeat.

Each round asks the LLM for ``k`` candidates, rejects the ones the critic refuses, and
scores the rest by a short SB3 training run with the candidate as ``llm_code`` shaping
(fitness = the run's extrinsic success rate; extrinsic return breaks ties). The next
round's prompt carries the best code so far and its training statistics. The winner is
saved to a file usable as ``shaping={"id": "llm_code", "path": ...}``.
"""

from __future__ import annotations

import csv
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from densegym.rewards.llm.critic import critique, sample_transitions
from densegym.rewards.llm.designer import Candidate, default_style, menu_candidate, propose
from densegym.rewards.llm.features import feature_menu


@dataclass
class DesignResult:
    """What :func:`design_reward` found.

    Attributes:
        path: file holding the chosen code.
        code: the chosen code.
        fitness: its success rate in its training run.
        candidates: one record per candidate (round, source, verdict, fitness, stats).
        llm_usage: the backend's counters (calls, tokens, seconds).
    """

    path: str
    code: str
    fitness: float
    candidates: list[dict[str, Any]] = field(default_factory=list)
    llm_usage: dict[str, float] = field(default_factory=dict)


def _training_stats(run_dir: Path) -> dict[str, Any]:
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


def _fitness(summary: dict[str, Any]) -> tuple[float, float]:
    success = summary.get("success_rate", float("nan"))
    extrinsic = summary.get("extrinsic_return", float("nan"))
    return (
        float(success) if math.isfinite(success) else 0.0,
        float(extrinsic) if math.isfinite(extrinsic) else 0.0,
    )


def design_reward(
    env_id: str = "densegym/MountainCarSparse-v0",
    rounds: int = 3,
    k: int = 4,
    backend: Any = "smollm2",
    budget: int = 20_000,
    *,
    out: str | Path | None = None,
    logdir: str | Path = "runs/design",
    style: str = "auto",
    seed: int = 0,
    n_envs: int = 4,
    algo: str = "ppo",
    temperature: float = 0.8,
    critic_transitions: int = 256,
    hyperparams: dict[str, Any] | None = None,
    progress: bool = True,
) -> DesignResult:
    """Design a reward function for ``env_id`` with an LLM, Eureka-style.

    Args:
        env_id: registered densegym id; its ``env.unwrapped.task`` is the prompt's input.
        rounds: rounds of propose → criticise → train.
        k: candidates per round.
        backend: a ``densegym.llm`` spec (``"smollm2"``, ``"tiny-random"``, ``"hf:..."``,
            ``"openai:..."``) or a loaded backend.
        budget: env steps of each candidate's training run.
        out: file for the chosen code (default ``reward_<env>.py`` in the working dir).
        logdir: root of the candidates' code files and TensorBoard runs.
        style: ``"menu"``, ``"code"`` or ``"auto"`` (menu for small local models).
        seed: seed of the sampling, the critic's transitions and the training runs.
        n_envs: sub-envs per training run.
        algo: SB3 algorithm of the training runs.
        temperature: sampling temperature of the proposals.
        critic_transitions: transitions the critic runs each candidate on.
        hyperparams: overrides of the training runs' SB3 hyperparameters (e.g. the ones
            that let PPO learn the env at all; without them every candidate may score 0
            and the choice among them is arbitrary).
        progress: show a progress bar.

    Returns:
        The chosen code, where it was saved, and a record of every candidate.

    Raises:
        RuntimeError: no candidate passed the critic in any round.
    """
    import gymnasium as gym
    from tqdm.auto import tqdm

    import densegym.llm
    from densegym import logging as names
    from densegym.agents.sb3.training import RunConfig, train

    llm = densegym.llm.load(backend)
    probe = gym.make(env_id)
    task = dict(probe.unwrapped.task)
    probe.close()
    menu = feature_menu(task)
    chosen_style = default_style(llm.name) if style == "auto" else style
    if chosen_style == "menu" and not menu:
        chosen_style = "code"
    slug = names.env_slug(env_id)
    root = Path(logdir) / slug / f"seed{seed}"
    root.mkdir(parents=True, exist_ok=True)
    transitions = sample_transitions(env_id, n=critic_transitions, seed=seed)
    rng = random.Random(seed)
    best: Candidate | None = None
    best_key: tuple[float, float] | None = None
    records: list[dict[str, Any]] = []
    bar = tqdm(total=rounds * k, desc=f"design-reward {slug}", disable=not progress)
    for round_index in range(rounds):
        candidates = propose(
            llm, task, menu, k, chosen_style, best, temperature=temperature, seed=seed + round_index
        )
        for index, candidate in enumerate(candidates):
            candidate.verdict = critique(candidate.code, transitions)
            if not candidate.verdict.accepted and chosen_style == "code" and menu:
                # A rejected free-form answer still costs a slot; fill it from the menu.
                records.append({"round": round_index, "index": index, **candidate.summary()})
                candidate = menu_candidate("", menu, rng)
                candidate.verdict = critique(candidate.code, transitions)
            path = root / f"round{round_index}_cand{index}.py"
            path.write_text(candidate.code)
            candidate.path = str(path.resolve())
            if candidate.verdict.accepted:
                config = RunConfig(
                    env_id,
                    algo=algo,
                    shaping={"id": "llm_code", "path": candidate.path},
                    steps=budget,
                    n_envs=n_envs,
                    seed=seed,
                    logdir=str(root / f"round{round_index}_cand{index}"),
                    log_every=max(budget // 8, 1),
                    hyperparams=dict(hyperparams or {}),
                )
                summary = train(config, progress=False)
                key = _fitness(summary)
                candidate.fitness = key[0]
                candidate.stats = {
                    **_training_stats(Path(summary["run_dir"])),
                    "extrinsic_return": key[1],
                    "run_dir": summary["run_dir"],
                }
                if best_key is None or key > best_key:
                    best, best_key = candidate, key
            records.append({"round": round_index, "index": index, **candidate.summary()})
            bar.update(1)
            bar.set_postfix(best=f"{best_key[0]:.2f}" if best_key else "-")
    bar.close()
    (root / "candidates.json").write_text(json.dumps(records, indent=2, default=str))
    if best is None:
        reasons = "; ".join(sorted({str(r["verdict"]) for r in records}))[:500]
        raise RuntimeError(f"no reward candidate passed the critic in {rounds} rounds: {reasons}")
    target = Path(out) if out is not None else Path(f"reward_{slug.lower()}.py")
    header = (
        f"# Reward for {env_id} designed by densegym.rewards.llm.design_reward\n"
        f"# backend={llm.name} rounds={rounds} k={k} budget={budget} seed={seed} "
        f"success={best.fitness:.3f} source={best.source}\n"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(header + best.code)
    return DesignResult(
        path=str(target),
        code=best.code,
        fitness=float(best.fitness or 0.0),
        candidates=records,
        llm_usage=dict(llm.usage),
    )
