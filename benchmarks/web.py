"""Benchmark: the web world (issue 24) — driver speed, then agents at a small budget.

Section 1, speed in one run: reset time and steps/s of the text driver and the Chromium
driver (real headless Chromium through Selenium) on the same oracle episodes; Chromium's
first start is timed apart. Ratio: text / Chromium.

Section 2, agents on fixed tasks (task seeds ``1000 ..``) per level, text driver: the
oracle, random choice among 8 grounded candidates, a noisy oracle (the oracle's action
with probability 0.7, else a random grounded candidate): success, score, steps.

Section 3, SB3 PPO on the grounded-candidates view (``view={"id": "candidates", "k": 8}``,
level 1) trained with ``none`` vs ``potential`` (Φ = ``web_progress``, the purchase stage),
then evaluated greedily on fixed tasks.

Usage::

    python benchmarks/web.py                       # default budget (a few minutes, 2 cores)
    python benchmarks/web.py --tasks 200 --ppo-steps 20000

Writes ``benchmarks/results/web.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import densegym  # noqa: F401  (registers the ids)
from densegym.envs.web import WebShopEnv
from densegym.envs.web.browser import available

ENV_ID = "densegym/WebShop-Search-v0"
RESULTS = Path(__file__).parent / "results" / "web.json"
LEVELS = (1, 2, 3)


def _episode(env: WebShopEnv, seed: int, pick) -> dict[str, Any]:
    env.reset(seed=seed)
    steps, info = 0, {}
    while True:
        _, _, terminated, truncated, info = env.step(pick(env))
        steps += 1
        if terminated or truncated or steps >= 40:
            return {"success": bool(info["is_success"]), "score": info["score"], "steps": steps}


def speed(episodes: int, chromium: bool) -> dict[str, Any]:
    """Time resets and steps of both drivers on the same oracle episodes."""
    out: dict[str, Any] = {}
    drivers = ["text"] + (["chromium"] if chromium else [])
    for driver in drivers:
        env = WebShopEnv(difficulty=2, driver=driver)
        start = time.perf_counter()
        env.reset(seed=0)
        first = time.perf_counter() - start
        resets, step_time, n_steps = [], 0.0, 0
        for seed in range(1, episodes + 1):
            start = time.perf_counter()
            env.reset(seed=seed)
            resets.append(time.perf_counter() - start)
            while True:
                action = env.oracle_step()
                start = time.perf_counter()
                _, _, terminated, truncated, _ = env.step(action)
                step_time += time.perf_counter() - start
                n_steps += 1
                if terminated or truncated:
                    break
        env.close()
        out[driver] = {
            "first_reset_s": round(first, 4),
            "reset_ms": round(1000 * float(np.median(resets)), 3),
            "steps_per_s": round(n_steps / step_time, 1),
            "episodes": episodes,
            "steps": n_steps,
        }
        print(driver, out[driver], flush=True)
    if chromium:
        out["text_over_chromium_steps"] = round(
            out["text"]["steps_per_s"] / out["chromium"]["steps_per_s"], 1
        )
    else:
        out["chromium"] = "skipped: chromium, chromium-driver or selenium missing"
    return out


def agents(tasks: int) -> dict[str, Any]:
    """Oracle, random grounded choice and a noisy oracle on fixed tasks per level."""
    rng = np.random.default_rng(0)

    def random_pick(env: WebShopEnv) -> str:
        cands = env.candidate_actions(8)
        return cands[int(rng.integers(len(cands)))]

    def noisy_pick(env: WebShopEnv) -> str:
        return env.oracle_step() if rng.random() < 0.7 else random_pick(env)

    policies = {"oracle": lambda env: env.oracle_step(), "random": random_pick}
    policies["noisy_oracle_0.7"] = noisy_pick
    out: dict[str, Any] = {}
    for level in LEVELS:
        env = WebShopEnv(difficulty=level)
        for name, pick in policies.items():
            rows = [_episode(env, 1000 + i, pick) for i in range(tasks)]
            out[f"level{level}/{name}"] = {
                "success": round(float(np.mean([r["success"] for r in rows])), 3),
                "score": round(float(np.mean([r["score"] for r in rows])), 3),
                "steps": round(float(np.mean([r["steps"] for r in rows])), 2),
            }
            print(f"level {level} {name}", out[f"level{level}/{name}"], flush=True)
        env.close()
    return out


def ppo(steps: int, eval_tasks: int) -> dict[str, Any]:
    """SB3 PPO on grounded candidates, ``none`` vs ``potential`` shaping, level 1."""
    from stable_baselines3 import PPO

    out: dict[str, Any] = {}
    view = {"id": "candidates", "k": 8}
    for shaping in ("none", "potential"):
        kwargs: dict[str, Any] = {"difficulty": 1, "view": view}
        if shaping == "potential":
            kwargs["shaping"] = {"id": "potential", "gamma": 0.99}
        env = gym.make(ENV_ID, **kwargs)
        start = time.perf_counter()
        model = PPO("MlpPolicy", env, n_steps=256, batch_size=64, seed=0, device="cpu")
        model.learn(steps)
        train_s = time.perf_counter() - start
        env.close()
        test = gym.make(ENV_ID, difficulty=1, view=view)
        wins, scores, lengths = [], [], []
        for i in range(eval_tasks):
            obs, info = test.reset(seed=1000 + i)
            n = 0
            while True:
                action, _ = model.predict(obs, deterministic=True)
                obs, _, terminated, truncated, info = test.step(int(action))
                n += 1
                if terminated or truncated:
                    break
            wins.append(info["is_success"])
            scores.append(info["score"])
            lengths.append(n)
        test.close()
        out[shaping] = {
            "success": round(float(np.mean(wins)), 3),
            "score": round(float(np.mean(scores)), 3),
            "steps": round(float(np.mean(lengths)), 2),
            "train_steps": steps,
            "train_s": round(train_s, 1),
        }
        print("ppo", shaping, out[shaping], flush=True)
    return out


def main() -> None:
    """Run the sections and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=20, help="oracle episodes per driver")
    parser.add_argument("--tasks", type=int, default=50, help="fixed tasks per level")
    parser.add_argument("--ppo-steps", type=int, default=4096, help="PPO steps (0: skip)")
    parser.add_argument("--eval-tasks", type=int, default=50)
    parser.add_argument("--no-chromium", action="store_true")
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args()
    start = time.perf_counter()
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, 2 cores",
        "speed": speed(args.episodes, available() and not args.no_chromium),
        "agents": agents(args.tasks),
    }
    if args.ppo_steps:
        results["ppo_candidates_level1"] = ppo(args.ppo_steps, args.eval_tasks)
    results["wall_s"] = round(time.perf_counter() - start, 1)
    path = Path(args.results)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {path} in {results['wall_s']} s")


if __name__ == "__main__":
    main()
