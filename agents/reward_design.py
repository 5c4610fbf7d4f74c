"""Evolutionary reward design with reflection (Eureka): propose, criticise, train, repeat.

Each round asks the LLM for ``k`` candidates, rejects the ones the critic refuses, and
scores the rest by a short SB3 training run with the candidate as ``llm_code`` shaping
(fitness = the run's extrinsic success rate; extrinsic return breaks ties). The next
round's prompt carries the best code so far and its training statistics. The winner is
saved to a file usable as ``shaping={"id": "llm_code", "path": ...}``.

The loop trains agents, so it lives in the agents layer; proposing, criticising and
scoring are :mod:`densegym.rewards.llm` (:mod:`~densegym.rewards.llm.evolution`).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from densegym.rewards.llm.critic import sample_transitions
from densegym.rewards.llm.designer import Candidate
from densegym.rewards.llm.evolution import (
    choose_style,
    fitness_key,
    screen_round,
    training_stats,
)
from densegym.rewards.llm.features import feature_menu

__all__ = ["DesignResult", "design_reward"]


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
    chosen_style = choose_style(llm.name, style, menu)
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
        screened = screen_round(
            llm,
            task,
            menu,
            k,
            chosen_style,
            best,
            transitions,
            rng,
            temperature=temperature,
            seed=seed + round_index,
        )
        for slot in screened:
            index, candidate = slot.index, slot.candidate
            if slot.replaced is not None:
                records.append({"round": round_index, "index": index, **slot.replaced.summary()})
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
                key = fitness_key(summary)
                candidate.fitness = key[0]
                candidate.stats = {
                    **training_stats(summary["run_dir"]),
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
        f"# Reward for {env_id} designed by densegym.agents.reward_design.design_reward\n"
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
