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
    python benchmarks/web.py --sections miniwob    # one section; the others' results kept

Section 4, MiniWoB++ speed: reset time and steps/s on ``click-checkboxes`` through
densegym's wrapper (``densegym/MiniWoB-<task>-v0``) and through the miniwob package's own
env, in the same run, on the same Debian Chromium and chromedriver.

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


def _driver_speed(driver: str, episodes: int) -> dict[str, Any]:
    """One timed run of ``driver``: first reset, median reset, steps/s on oracle episodes."""
    env = WebShopEnv(difficulty=2, driver=driver)
    start = time.perf_counter()
    env.reset(seed=0)
    first = time.perf_counter() - start
    resets, step_time, n_steps = [], 0.0, 0
    try:
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
    finally:
        env.close()
    return {
        "first_reset_s": round(first, 4),
        "reset_ms": round(1000 * float(np.median(resets)), 3),
        "steps_per_s": round(n_steps / step_time, 1),
        "steps": n_steps,
    }


def speed(episodes: int, chromium: bool, repeats: int = 3) -> dict[str, Any]:
    """Time resets and steps of both drivers on the same oracle episodes.

    The drivers run alternately ``repeats`` times (the machine is shared, so one run is
    noisy); each figure is the median over the repeats, the single runs are kept.
    """
    out: dict[str, Any] = {}
    drivers = ["text"] + (["chromium"] if chromium else [])
    runs: dict[str, list[dict[str, Any]]] = {d: [] for d in drivers}
    for _ in range(max(1, repeats)):
        for driver in drivers:
            runs[driver].append(_driver_speed(driver, episodes))
            print(driver, runs[driver][-1], flush=True)
    for driver in drivers:
        out[driver] = {
            key: round(float(np.median([r[key] for r in runs[driver]])), 4)
            for key in ("first_reset_s", "reset_ms", "steps_per_s")
        }
        out[driver].update(
            episodes=episodes,
            steps=runs[driver][0]["steps"],
            repeats=len(runs[driver]),
            runs=runs[driver],
        )
    if chromium:
        out["text_over_chromium_steps"] = round(
            out["text"]["steps_per_s"] / out["chromium"]["steps_per_s"], 1
        )
        out["chromium_targets_met"] = {
            "steps_per_s>=10": out["chromium"]["steps_per_s"] >= 10,
            "reset<=0.3s": out["chromium"]["reset_ms"] <= 300,
            "first_reset<=4s": out["chromium"]["first_reset_s"] <= 4,
        }
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


MINIWOB_TASK = "click-checkboxes"


def _wanted_boxes(utterance: str) -> list[str]:
    """The labels a click-checkboxes instruction asks for ("Select A, B and click Submit.")."""
    wanted = utterance.split("Select ", 1)[-1].rsplit(" and click Submit", 1)[0]
    if wanted == "nothing":
        return []
    return [w.strip() for w in wanted.replace(" and ", ",").split(",") if w.strip()]


def _miniwob_ours(episodes: int) -> dict[str, Any]:
    """The MiniWoB env of densegym: text observation, actions in the shop grammar."""
    start = time.perf_counter()
    env = gym.make(f"densegym/MiniWoB-{MINIWOB_TASK}-v0")
    obs, _ = env.reset(seed=0)
    first = time.perf_counter() - start
    resets, step_time, n_steps, wins = [], 0.0, 0, 0
    for seed in range(1, episodes + 1):
        start = time.perf_counter()
        obs, _ = env.reset(seed=seed)
        resets.append(time.perf_counter() - start)
        utterance = obs.splitlines()[0].removeprefix("Instruction: ")
        for action in [f'click("{b}")' for b in _wanted_boxes(utterance)] + ["click(Submit)"]:
            start = time.perf_counter()
            _, _, terminated, truncated, info = env.step(action)
            step_time += time.perf_counter() - start
            n_steps += 1
        wins += bool(info["is_success"])
    env.close()
    return {
        "first_reset_s": round(first, 3),
        "reset_ms": round(1000 * float(np.median(resets)), 1),
        "steps_per_s": round(n_steps / step_time, 1),
        "success": round(wins / episodes, 3),
        "episodes": episodes,
        "steps": n_steps,
    }


def _miniwob_package(episodes: int) -> dict[str, Any]:
    """The miniwob package's own env (its DOM/screenshot dict observation, ref actions)."""
    import os

    from densegym.envs.web.browser import CHROMEDRIVER, CHROMIUM

    os.environ.setdefault("MINIWOB_CHROME_BINARY", CHROMIUM)  # no Selenium Manager download
    os.environ.setdefault("MINIWOB_CHROMEDRIVER", CHROMEDRIVER)
    import miniwob
    from miniwob.action import ActionTypes

    gym.register_envs(miniwob)
    out: dict[str, Any] = {}
    for screenshots in (False, True):
        start = time.perf_counter()
        env = gym.make(f"miniwob/{MINIWOB_TASK}-v1")
        env.unwrapped.set_record_screenshots(screenshots)
        obs, _ = env.reset(seed=0)
        first = time.perf_counter() - start
        resets, step_time, n_steps, wins = [], 0.0, 0, 0
        for seed in range(1, episodes + 1):
            start = time.perf_counter()
            obs, _ = env.reset(seed=seed)
            resets.append(time.perf_counter() - start)
            elements = list(obs["dom_elements"])
            refs = []
            for name in _wanted_boxes(obs["utterance"]):
                label = next(i for i, e in enumerate(elements) if e["text"] == name)
                refs.append(elements[label - 1]["ref"])  # the box before its label text
            refs.append(next(e["ref"] for e in elements if e["tag"] == "button"))
            for ref in refs:
                action = env.unwrapped.create_action(ActionTypes.CLICK_ELEMENT, ref=ref)
                start = time.perf_counter()
                _, _, terminated, truncated, info = env.step(action)
                step_time += time.perf_counter() - start
                n_steps += 1
            wins += info["raw_reward"] == 1.0 if "raw_reward" in info else 0
        env.close()
        out["screenshots" if screenshots else "no_screenshots"] = {
            "first_reset_s": round(first, 3),
            "reset_ms": round(1000 * float(np.median(resets)), 1),
            "steps_per_s": round(n_steps / step_time, 1),
            "success": round(wins / episodes, 3),
            "episodes": episodes,
            "steps": n_steps,
        }
    return out


def miniwob_speed(episodes: int) -> dict[str, Any]:
    """MiniWoB++ click-checkboxes: densegym's wrapper vs the miniwob package's own env.

    Both drive the same Debian Chromium through Selenium and solve the same seeded tasks
    with the same clicks. densegym's reset navigates to the task page (a clean page per
    episode); the package's reset restarts the task on the loaded page. densegym's step
    reads the page as text in one script call (no screenshot); the package's is timed
    with and without its per-step screenshot.
    """
    if not available():
        return {"skipped": "chromium, chromium-driver or selenium missing"}
    try:
        import miniwob  # noqa: F401
    except ImportError:
        return {"skipped": 'the miniwob package is missing: pip install --no-deps "miniwob==1.1.0"'}
    out: dict[str, Any] = {"task": MINIWOB_TASK, "densegym": _miniwob_ours(episodes)}
    print("miniwob densegym", out["densegym"], flush=True)
    try:
        out["miniwob_package"] = _miniwob_package(episodes)
    except Exception as err:  # noqa: BLE001 - report why the package's env cannot run here
        out["miniwob_package"] = f"could not run: {type(err).__name__}: {err}"
    print("miniwob package", out["miniwob_package"], flush=True)
    return out


SECTIONS = ("speed", "agents", "ppo", "miniwob")


def main() -> None:
    """Run the sections and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=20, help="oracle episodes per driver")
    parser.add_argument("--tasks", type=int, default=50, help="fixed tasks per level")
    parser.add_argument("--ppo-steps", type=int, default=4096, help="PPO steps (0: skip)")
    parser.add_argument("--eval-tasks", type=int, default=50)
    parser.add_argument("--no-chromium", action="store_true")
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run, of {','.join(SECTIONS)} (the others' results "
        "already in --results are kept)",
    )
    parser.add_argument("--miniwob-episodes", type=int, default=20)
    args = parser.parse_args()
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    if not sections or sections - set(SECTIONS):
        parser.error(f"--sections takes names of {', '.join(SECTIONS)}")
    path = Path(args.results)
    start = time.perf_counter()
    results: dict[str, Any] = {}
    if path.exists() and sections != set(SECTIONS):
        try:
            results = json.loads(path.read_text())
        except (OSError, ValueError):
            results = {}
    results.update({"date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, 2 cores"})
    if "speed" in sections:
        results["speed"] = speed(args.episodes, available() and not args.no_chromium)
    if "agents" in sections:
        results["agents"] = agents(args.tasks)
    if "ppo" in sections and args.ppo_steps:
        results["ppo_candidates_level1"] = ppo(args.ppo_steps, args.eval_tasks)
    if "miniwob" in sections:
        section_start = time.perf_counter()
        results["miniwob_speed"] = miniwob_speed(args.miniwob_episodes)
        results["miniwob_speed"]["wall_s"] = round(time.perf_counter() - section_start, 1)
    wall_s = round(time.perf_counter() - start, 1)
    if sections == set(SECTIONS) or "wall_s" not in results:
        results["wall_s"] = wall_s
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {path} in {wall_s} s")


if __name__ == "__main__":
    main()
