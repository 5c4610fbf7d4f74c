"""Benchmark: throughput of densegym's reasoning envs next to reasoning-gym.

For every reasoning env this runs whole episodes with the oracle policy
(``env.unwrapped.oracle_step()``) and reports env steps/s and episodes/s, twice:
with the oracle's time included, and "env only" (the same episodes replayed from
recorded actions, so only task generation and step checking are timed). In the same
run it times reasoning-gym (https://github.com/open-thought/reasoning-gym)
generating and scoring its ``basic_arithmetic`` and ``countdown`` tasks with their
reference answers, and reports the ratios for the comparable pairs:

* ``Arithmetic-v0`` (difficulty 4: 5 operations, operands to 50, negatives) vs
  ``basic_arithmetic`` (defaults: 2–6 terms of 1–4 digits, ``+ - * /``, parentheses);
* ``Countdown-v0`` (difficulty 5: 6 numbers, target 100–999) vs ``countdown``
  (defaults: 4–6 numbers up to 100, target 100–999).

reasoning-gym tasks are single-turn (generate, then score one answer); a densegym
episode is generate + one checked step per operation + the scored answer, so the
fair unit is a *task*: densegym episodes/s vs reasoning-gym tasks/s.

Usage::

    python benchmarks/reasoning_envs.py              # 2 s per measurement, 3 rounds
    python benchmarks/reasoning_envs.py --seconds 6  # steadier figures

Each measurement is split over interleaved rounds and the best round is kept.

Writes ``benchmarks/results/reasoning_envs.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import gymnasium as gym

import densegym
from densegym.envs.reasoning.countdown import clear_solver_cache
from densegym.envs.reasoning.word_problems import generate_word_problem

RESULTS = Path(__file__).resolve().parent / "results" / "reasoning_envs.json"

#: (label, env id, kwargs) for every env measured.
ENVS: list[tuple[str, str, dict[str, Any]]] = [
    ("Arithmetic d1", "densegym/Arithmetic-v0", {"difficulty": 1}),
    ("Arithmetic d2 (default)", "densegym/Arithmetic-v0", {"difficulty": 2}),
    ("Arithmetic d4", "densegym/Arithmetic-v0", {"difficulty": 4}),
    ("Arithmetic d5", "densegym/Arithmetic-v0", {"difficulty": 5}),
    ("WordProblems d1", "densegym/WordProblems-v0", {"difficulty": 1}),
    ("WordProblems d2 (default)", "densegym/WordProblems-v0", {"difficulty": 2}),
    ("WordProblems d5", "densegym/WordProblems-v0", {"difficulty": 5}),
    ("Countdown d1", "densegym/Countdown-v0", {"difficulty": 1}),
    ("Countdown d2 (default)", "densegym/Countdown-v0", {"difficulty": 2}),
    ("Countdown d5", "densegym/Countdown-v0", {"difficulty": 5}),
    ("GSM8K (synthetic file)", "densegym/GSM8K-v0", {}),
]
#: densegym label ↔ reasoning-gym dataset compared as a ratio.
PAIRS = [("Arithmetic d4", "basic_arithmetic"), ("Countdown d5", "countdown")]


def write_gsm8k_like(path: Path, n: int = 200) -> None:
    """Write ``n`` WordProblems tasks in GSM8K's JSONL format (we ship no GSM8K data)."""
    with path.open("w", encoding="utf-8") as handle:
        for seed in range(n):
            task = generate_word_problem(random.Random(seed), difficulty=3)
            lines = []
            for text in task.solution_steps()[:-1]:
                label, _, equation = text.rpartition(": ")
                lhs, _, rhs = equation.partition(" = ")
                lines.append(f"{label}: {lhs} = <<{lhs.replace(' ', '')}={rhs}>>{rhs}")
            answer = "\n".join(lines) + f"\n#### {int(task.answer)}"
            handle.write(json.dumps({"question": task.question, "answer": answer}) + "\n")


def measure_env(env: gym.Env, seconds: float, first_seed: int = 0) -> dict[str, float]:
    """Run oracle episodes for ``seconds``, then replay them from recorded actions."""
    episodes: list[tuple[int, list[str]]] = []
    steps = successes = 0
    clear_solver_cache()  # Countdown caches searches: start (and replay) cold
    start = time.perf_counter()
    seed = first_seed
    while time.perf_counter() - start < seconds or len(episodes) < 20:
        env.reset(seed=seed)
        actions: list[str] = []
        while True:
            action = env.unwrapped.oracle_step()
            actions.append(action)
            _, reward, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                break
        successes += reward == 1.0
        steps += len(actions)
        episodes.append((seed, actions))
        seed += 1
    with_oracle = time.perf_counter() - start
    clear_solver_cache()
    start = time.perf_counter()
    for seed, actions in episodes:
        env.reset(seed=seed)
        for action in actions:
            env.step(action)
    env_only = time.perf_counter() - start
    n = len(episodes)
    return {
        "episodes": n,
        "steps": steps,
        "successes": successes,
        "steps_per_s": steps / with_oracle,
        "episodes_per_s": n / with_oracle,
        "env_only_steps_per_s": steps / env_only,
        "env_only_episodes_per_s": n / env_only,
    }


def measure_reasoning_gym(dataset: Any, seconds: float, first: int = 0) -> dict[str, float]:
    """Generate and score reasoning-gym tasks (reference answers) for ``seconds``."""
    generate = score = 0.0
    n = correct = 0
    while generate + score < seconds or n < 10:
        t0 = time.perf_counter()
        entry = dataset[first + n]
        t1 = time.perf_counter()
        correct += dataset.score_answer(answer=entry["answer"], entry=entry) == 1.0
        t2 = time.perf_counter()
        generate, score, n = generate + t1 - t0, score + t2 - t1, n + 1
    return {
        "tasks": n,
        "correct": correct,
        "tasks_per_s": n / (generate + score),
        "generate_per_s": n / generate,
        "score_per_s": n / score,
    }


def _merge(best: dict[str, float] | None, row: dict[str, float]) -> dict[str, float]:
    """Add up counts and keep the best rate of each kind over rounds."""
    if best is None:
        return dict(row)
    return {k: max(best[k], v) if k.endswith("_per_s") else best[k] + v for k, v in row.items()}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (best kept)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    chunk = args.seconds / args.rounds

    try:
        import reasoning_gym

        rg_version: str | None = metadata.version("reasoning-gym")
        datasets = {
            name: reasoning_gym.create_dataset(name, size=10**7, seed=0) for _, name in PAIRS
        }
    except ImportError:
        print("reasoning-gym is not installed (pip install reasoning-gym): no comparison\n")
        rg_version, datasets = None, {}

    ours: dict[str, dict[str, float] | None] = {label: None for label, _, _ in ENVS}
    theirs: dict[str, dict[str, float] | None] = {name: None for name in datasets}
    with tempfile.TemporaryDirectory() as tmp:
        gsm8k = Path(tmp) / "gsm8k_like.jsonl"
        write_gsm8k_like(gsm8k)
        envs = {
            label: gym.make(env_id, **({"path": str(gsm8k)} if "GSM8K" in env_id else kwargs))
            for label, env_id, kwargs in ENVS
        }
        # Interleave every measurement over rounds and keep the best of each: on a
        # shared machine, load spikes then hit both sides of a ratio alike.
        for _ in range(args.rounds):
            for label in envs:
                first = int(ours[label]["episodes"]) if ours[label] else 0
                ours[label] = _merge(ours[label], measure_env(envs[label], chunk, first))
            for name, dataset in datasets.items():
                first = int(theirs[name]["tasks"]) if theirs[name] else 0
                theirs[name] = _merge(theirs[name], measure_reasoning_gym(dataset, chunk, first))

    results: dict[str, Any] = {
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "load_average_1min_at_end": os.getloadavg()[0],
            "densegym": densegym.__version__,
            "gymnasium": gym.__version__,
            "reasoning_gym": rg_version,
        },
        "seconds_per_measurement": args.seconds,
        "rounds": args.rounds,
        "densegym": {},
        "reasoning_gym": {},
        "ratios": {},
    }
    print(f"{'env (oracle policy)':28s} {'steps/s':>9s} {'episodes/s':>11s} "
          f"{'env-only steps/s':>17s} {'steps/ep':>9s} {'success':>8s}")  # fmt: skip
    for label, env_id, kwargs in ENVS:
        row = dict(ours[label])
        row["steps_per_episode"] = row["steps"] / row["episodes"]
        row["success_rate"] = row.pop("successes") / row["episodes"]
        shown = {"path": "<200 WordProblems d3 as GSM8K JSONL>"} if "GSM8K" in env_id else kwargs
        results["densegym"][label] = {"id": env_id, "kwargs": shown, **row}
        print(
            f"{label:28s} {row['steps_per_s']:9.0f} {row['episodes_per_s']:11.0f} "
            f"{row['env_only_steps_per_s']:17.0f} {row['steps_per_episode']:9.2f} "
            f"{row['success_rate']:8.2f}"
        )
    if datasets:
        print(f"\n{'reasoning-gym task':28s} {'tasks/s':>9s} {'generate/s':>11s} {'score/s':>10s}")
        for name in datasets:
            row = dict(theirs[name])
            row["reference_answers_correct"] = row.pop("correct") / row["tasks"]
            results["reasoning_gym"][name] = row
            print(
                f"{name:28s} {row['tasks_per_s']:9.0f} {row['generate_per_s']:11.0f} "
                f"{row['score_per_s']:10.0f}"
            )
        print(f"\n{'densegym / reasoning-gym':42s} {'episodes÷tasks':>14s} {'env-only':>9s}")
        for mine_label, name in PAIRS:
            mine, other = results["densegym"][mine_label], results["reasoning_gym"][name]
            ratio = mine["episodes_per_s"] / other["tasks_per_s"]
            env_only = mine["env_only_episodes_per_s"] / other["tasks_per_s"]
            results["ratios"][f"{mine_label} / {name}"] = {
                "episodes_per_s_over_tasks_per_s": ratio,
                "env_only_episodes_per_s_over_tasks_per_s": env_only,
            }
            print(f"{mine_label + ' / ' + name:42s} {ratio:14.2f} {env_only:9.2f}")

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.output}")
    return results


if __name__ == "__main__":
    main()
