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

    python benchmarks/reasoning_envs.py            # ~2 s per measurement
    python benchmarks/reasoning_envs.py --seconds 0.5

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


def measure_env(env: gym.Env, seconds: float, min_episodes: int = 50) -> dict[str, float]:
    """Run oracle episodes for ``seconds``, then replay them from recorded actions."""
    episodes: list[tuple[int, list[str]]] = []
    steps = successes = 0
    clear_solver_cache()  # Countdown caches searches: start (and replay) cold
    start = time.perf_counter()
    seed = 0
    while time.perf_counter() - start < seconds or len(episodes) < min_episodes:
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
        "steps_per_episode": steps / n,
        "success_rate": successes / n,
        "steps_per_s": steps / with_oracle,
        "episodes_per_s": n / with_oracle,
        "env_only_steps_per_s": steps / env_only,
        "env_only_episodes_per_s": n / env_only,
    }


def measure_reasoning_gym(name: str, seconds: float, min_items: int = 20) -> dict[str, Any]:
    """Generate and score reasoning-gym tasks (reference answers) for ``seconds``."""
    import reasoning_gym

    dataset = reasoning_gym.create_dataset(name, size=1_000_000, seed=0)
    generate = score = 0.0
    n = correct = 0
    while generate + score < seconds or n < min_items:
        t0 = time.perf_counter()
        entry = dataset[n]
        t1 = time.perf_counter()
        correct += dataset.score_answer(answer=entry["answer"], entry=entry) == 1.0
        t2 = time.perf_counter()
        generate, score, n = generate + t1 - t0, score + t2 - t1, n + 1
    return {
        "tasks": n,
        "tasks_per_s": n / (generate + score),
        "generate_per_s": n / generate,
        "score_per_s": n / score,
        "reference_answers_scored_correct": correct / n,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    results: dict[str, Any] = {
        "machine": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "load_average_at_start": os.getloadavg()[0],
            "densegym": densegym.__version__,
            "gymnasium": gym.__version__,
        },
        "seconds_per_measurement": args.seconds,
        "densegym": {},
        "reasoning_gym": {},
        "ratios": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        gsm8k = Path(tmp) / "gsm8k_like.jsonl"
        write_gsm8k_like(gsm8k)
        print(f"{'env (oracle policy)':28s} {'steps/s':>9s} {'episodes/s':>11s} "
              f"{'env-only steps/s':>17s} {'steps/ep':>9s} {'success':>8s}")  # fmt: skip
        for label, env_id, kwargs in ENVS:
            if env_id == "densegym/GSM8K-v0":
                kwargs = {"path": str(gsm8k)}
            row = measure_env(gym.make(env_id, **kwargs), args.seconds)
            results["densegym"][label] = {"id": env_id, "kwargs": {**kwargs}, **row}
            print(
                f"{label:28s} {row['steps_per_s']:9.0f} {row['episodes_per_s']:11.0f} "
                f"{row['env_only_steps_per_s']:17.0f} {row['steps_per_episode']:9.2f} "
                f"{row['success_rate']:8.2f}"
            )
    results["densegym"]["GSM8K (synthetic file)"]["kwargs"] = {"path": "<200 WordProblems d3>"}

    try:
        results["machine"]["reasoning_gym"] = metadata.version("reasoning-gym")
    except metadata.PackageNotFoundError:
        print("\nreasoning-gym is not installed (pip install reasoning-gym): no comparison")
        results["reasoning_gym"] = None
    if results["reasoning_gym"] is not None:
        print(f"\n{'reasoning-gym task':28s} {'tasks/s':>9s} {'generate/s':>11s} {'score/s':>10s}")
        for _, name in PAIRS:
            row = measure_reasoning_gym(name, args.seconds)
            results["reasoning_gym"][name] = row
            print(
                f"{name:28s} {row['tasks_per_s']:9.0f} {row['generate_per_s']:11.0f} "
                f"{row['score_per_s']:10.0f}"
            )
        print(f"\n{'densegym / reasoning-gym':42s} {'episodes÷tasks':>14s} {'env-only':>9s}")
        for ours, theirs in PAIRS:
            mine, other = results["densegym"][ours], results["reasoning_gym"][theirs]
            ratio = mine["episodes_per_s"] / other["tasks_per_s"]
            env_only = mine["env_only_episodes_per_s"] / other["tasks_per_s"]
            results["ratios"][f"{ours} / {theirs}"] = {
                "episodes_per_s_over_tasks_per_s": ratio,
                "env_only_episodes_per_s_over_tasks_per_s": env_only,
            }
            print(f"{ours + ' / ' + theirs:42s} {ratio:14.2f} {env_only:9.2f}")

    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.output}")
    return results


if __name__ == "__main__":
    main()
