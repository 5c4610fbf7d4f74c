"""Benchmark: the web world (issue 24) — driver speed, then agents at a small budget.

Section 1, speed in one run: reset time and steps/s of the text driver and the Chromium
driver (real headless Chromium through Selenium) on the same oracle episodes; Chromium's
first start is timed apart. Ratio: text / Chromium.

Section 2, agents on fixed tasks (task seeds ``1000 ..``) per level, text driver by
default: the oracle, random choice among 8 grounded candidates, a noisy oracle (the
oracle's action with probability 0.7, else a random grounded candidate): success, score,
steps, tokens. Flags add a greedy LLM (``llm``), Step-Q ``q_select`` over grounded
candidates (honest or privileged one-step valuation; ``benchmarks/web_agents.py``) and the
Chromium driver (``--agent-driver chromium``); a non-default run's rows go under
``agents_<driver>_<tasks>_tasks``.

Section 3, SB3 PPO on the grounded-candidates view (``view={"id": "candidates", "k": 8}``,
level 1) trained with ``none`` vs ``potential`` (Φ = ``web_progress``, the purchase stage),
then evaluated greedily on fixed tasks.

Usage::

    python benchmarks/web.py                       # default budget (a few minutes, 2 cores)
    python benchmarks/web.py --tasks 200 --ppo-steps 20000
    python benchmarks/web.py --sections miniwob    # one section; the others' results kept
    python benchmarks/web.py --sections agents --tasks 200 --agent-levels 1 \
        --agent-policies oracle,random,q_select,q_select_simulator
    python benchmarks/web.py --sections agents --tasks 50 --agent-driver chromium \
        --agent-levels 1 --agent-policies oracle,random,llm --llm-seconds 300 --max-steps 15
    python benchmarks/web.py --sections browsergym  # needs /tmp/bgvenv (see below)

Section 4, MiniWoB++ speed: reset time and steps/s on ``click-checkboxes`` through
densegym's wrapper (``densegym/MiniWoB-<task>-v0``) and through the miniwob package's own
env, in the same run, on the same Debian Chromium and chromedriver.

Section 5, BrowserGym-core (0.14.3) on the same MiniWoB task, run by
``benchmarks/web_browsergym.py`` in its own environment (``DENSEGYM_BROWSERGYM_PYTHON`` or
``/tmp/bgvenv/bin/python``; skipped with a note when absent), Playwright pointed at the
Debian Chromium; ratios against densegym's MiniWoB wrapper timed in the same run.

Writes ``benchmarks/results/web.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import densegym  # noqa: F401  (registers the ids)

sys.path.insert(0, str(Path(__file__).parent))  # the helper modules next to this file
from densegym.envs.web import WebShopEnv
from densegym.envs.web.browser import available

ENV_ID = "densegym/WebShop-Search-v0"
RESULTS = Path(__file__).parent / "results" / "web.json"
LEVELS = (1, 2, 3)


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


AGENT_POLICIES = ("oracle", "random", "noisy_oracle_0.7", "llm", "q_select", "q_select_simulator")


def agents(
    tasks: int,
    levels: tuple[int, ...] = LEVELS,
    policies: tuple[str, ...] = ("oracle", "random", "noisy_oracle_0.7"),
    driver: str = "text",
    llm: str = "smollm2",
    llm_tasks: int | None = None,
    max_steps: int = 40,
    llm_seconds: float | None = None,
) -> dict[str, Any]:
    """Agents on fixed tasks (seeds ``1000 ..``) per level: success, score, steps, tokens.

    ``oracle``, ``random`` (a random one of 8 grounded candidates) and
    ``noisy_oracle_0.7`` (the oracle's action with probability 0.7, else random), plus
    ``llm`` (greedy ``llm`` on the text observation with the candidates listed, on the
    first ``llm_tasks`` tasks, or as many as start within ``llm_seconds``: CPU
    generation is slow), ``q_select`` and
    ``q_select_simulator`` (Step-Q over 8 grounded candidates valued by one step on a
    clone, honest or an upper bound; text driver only). See ``benchmarks/web_agents.py``.
    """
    from web_agents import GreedyLLM, WebQSelect, run_episode

    rng = np.random.default_rng(0)

    def random_pick(env: WebShopEnv) -> str:
        cands = env.candidate_actions(8)
        return cands[int(rng.integers(len(cands)))]

    def noisy_pick(env: WebShopEnv) -> str:
        return env.oracle_step() if rng.random() < 0.7 else random_pick(env)

    out: dict[str, Any] = {}
    llm_agent = None
    for level in levels:
        env = WebShopEnv(difficulty=level, driver=driver)
        try:
            for name in policies:
                n = tasks
                if name == "oracle":
                    pick: Any = lambda env: env.oracle_step()  # noqa: E731
                elif name == "random":
                    pick = random_pick
                elif name == "noisy_oracle_0.7":
                    pick = noisy_pick
                elif name == "llm":
                    llm_agent = llm_agent or GreedyLLM(llm)
                    pick, n = llm_agent, min(tasks, llm_tasks or tasks)
                elif name.startswith("q_select"):
                    if driver != "text":
                        out[f"level{level}/{name}"] = "skipped: needs env.clone() (text driver)"
                        continue
                    scorer = "simulator" if name.endswith("simulator") else "honest"
                    pick = WebQSelect(scorer=scorer, k=8)
                else:
                    raise ValueError(f"unknown agent {name!r}; known: {AGENT_POLICIES}")
                start = time.perf_counter()
                rows = []
                for i in range(n):
                    if name == "llm" and llm_seconds and time.perf_counter() - start > llm_seconds:
                        break  # the LLM's time budget is spent: report the tasks run
                    rows.append(run_episode(env, 1000 + i, pick, max_steps))
                n = len(rows)
                row = {
                    key: round(float(np.mean([r[key] for r in rows])), 3)
                    for key in ("success", "score", "steps", "tokens", "invalid")
                }
                row.update(tasks=n, wall_s=round(time.perf_counter() - start, 1))
                if name == "llm":
                    row.update(llm=llm, unmatched_replies=llm_agent.unmatched)
                    llm_agent.unmatched = 0
                if hasattr(pick, "simulated_steps"):
                    row["simulated_steps_per_episode"] = round(pick.simulated_steps / n, 1)
                out[f"level{level}/{name}"] = row
                print(f"{driver} level {level} {name}", row, flush=True)
        finally:
            env.close()
    return out


def _ppo_run(steps: int, eval_tasks: int, shaping: str, seed: int) -> dict[str, Any]:
    """Train one PPO on the candidates view with ``shaping``; evaluate greedily."""
    from stable_baselines3 import PPO

    view = {"id": "candidates", "k": 8}
    kwargs: dict[str, Any] = {"difficulty": 1, "view": view}
    if shaping == "potential":
        kwargs["shaping"] = {"id": "potential", "gamma": 0.99}
    env = gym.make(ENV_ID, **kwargs)
    start = time.perf_counter()
    model = PPO("MlpPolicy", env, n_steps=256, batch_size=64, seed=seed, device="cpu")
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
    return {
        "success": round(float(np.mean(wins)), 3),
        "score": round(float(np.mean(scores)), 3),
        "steps": round(float(np.mean(lengths)), 2),
        "train_steps": steps,
        "train_s": round(train_s, 1),
    }


def ppo(steps: int, eval_tasks: int, seeds: tuple[int, ...] = (0,)) -> dict[str, Any]:
    """SB3 PPO on grounded candidates, ``none`` vs ``potential`` shaping, level 1.

    One seed gives that run's figures; several give their means, the runs kept.
    """
    out: dict[str, Any] = {}
    for shaping in ("none", "potential"):
        runs = [_ppo_run(steps, eval_tasks, shaping, seed) for seed in seeds]
        if len(runs) == 1:
            out[shaping] = runs[0]
        else:
            out[shaping] = {
                key: round(float(np.mean([r[key] for r in runs])), 3)
                for key in ("success", "score", "steps", "train_s")
            }
            out[shaping].update(train_steps=steps, seeds=list(seeds), runs=runs)
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


BROWSERGYM_PYTHONS = ("/tmp/bgvenv/bin/python",)


def _browsergym_python() -> str | None:
    """The Python of a separate environment with BrowserGym, or None.

    ``DENSEGYM_BROWSERGYM_PYTHON`` names it; else ``/tmp/bgvenv/bin/python`` if present.
    BrowserGym is not a densegym dependency, so it never runs in this interpreter.
    """
    import os

    named = os.environ.get("DENSEGYM_BROWSERGYM_PYTHON")
    for candidate in ([named] if named else []) + list(BROWSERGYM_PYTHONS):
        if Path(candidate).exists():
            return candidate
    return None


def browsergym_speed(episodes: int) -> dict[str, Any]:
    """BrowserGym-core on MiniWoB ``click-checkboxes`` vs densegym's MiniWoB wrapper.

    BrowserGym runs in a subprocess with its own environment's Python
    (``benchmarks/web_browsergym.py``), at its default 0.5 s ``pre_observation_delay``
    and at 0; densegym's wrapper runs in this process on the same Debian Chromium, the
    same task and the same clicks. Ratios: densegym steps/s over BrowserGym's.
    """
    import subprocess

    python = _browsergym_python()
    if python is None:
        return {
            "skipped": "no BrowserGym environment: set DENSEGYM_BROWSERGYM_PYTHON or make "
            "/tmp/bgvenv (python3 -m venv /tmp/bgvenv && /tmp/bgvenv/bin/pip install "
            "browsergym-core==0.14.3 browsergym-miniwob==0.14.3 miniwob==1.1.0)"
        }
    if not available():
        return {"skipped": "chromium, chromium-driver or selenium missing"}
    out: dict[str, Any] = {"task": MINIWOB_TASK, "python": python}
    script = Path(__file__).with_name("web_browsergym.py")
    for delay in (0.5, 0.0):
        key = f"browsergym_delay_{delay}"
        cmd = [python, str(script), "--episodes", str(episodes), "--task", MINIWOB_TASK]
        cmd += ["--pre-observation-delay", str(delay)]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
            lines = done.stdout.strip().splitlines()
            if done.returncode == 0 and lines:
                out[key] = json.loads(lines[-1])
            else:
                tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
                out[key] = f"could not run (rc {done.returncode}): {' | '.join(tail)}"
        except (OSError, subprocess.TimeoutExpired, ValueError) as err:
            out[key] = f"could not run: {type(err).__name__}: {err}"
        print("browsergym", delay, out[key], flush=True)
    out["densegym"] = _miniwob_ours(episodes)
    print("browsergym densegym", out["densegym"], flush=True)
    ours = out["densegym"]["steps_per_s"]
    for key in ("browsergym_delay_0.5", "browsergym_delay_0.0"):
        if isinstance(out[key], dict):
            out[f"densegym_over_{key}_steps"] = round(ours / out[key]["steps_per_s"], 1)
            out[f"{key}_over_densegym_reset"] = round(
                out[key]["reset_ms"] / out["densegym"]["reset_ms"], 1
            )
    if isinstance(out["browsergym_delay_0.5"], dict):
        out["target_densegym>=5x_browsergym_steps"] = (
            out["densegym_over_browsergym_delay_0.5_steps"] >= 5
        )
    return out


SECTIONS = ("speed", "agents", "ppo", "miniwob", "browsergym")


def main() -> None:
    """Run the sections and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--episodes", type=int, default=20, help="oracle episodes per driver")
    parser.add_argument("--tasks", type=int, default=50, help="fixed tasks per level")
    parser.add_argument("--ppo-steps", type=int, default=4096, help="PPO steps (0: skip)")
    parser.add_argument("--eval-tasks", type=int, default=50)
    parser.add_argument("--ppo-seeds", default="0", help="comma-separated PPO seeds")
    parser.add_argument("--no-chromium", action="store_true")
    parser.add_argument("--results", default=str(RESULTS))
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run, of {','.join(SECTIONS)} (the others' results "
        "already in --results are kept)",
    )
    parser.add_argument("--miniwob-episodes", type=int, default=20)
    parser.add_argument("--browsergym-episodes", type=int, default=10)
    parser.add_argument("--agent-driver", choices=("text", "chromium"), default="text")
    parser.add_argument("--agent-levels", default="1,2,3", help="levels of the agents section")
    parser.add_argument(
        "--agent-policies",
        default=",".join(AGENT_POLICIES[:3]),
        help=f"comma-separated agents, of {','.join(AGENT_POLICIES)}",
    )
    parser.add_argument("--llm", default="smollm2", help="LLM spec of the llm agent")
    parser.add_argument("--llm-tasks", type=int, default=20, help="tasks the llm agent runs")
    parser.add_argument("--max-steps", type=int, default=40, help="steps per agent episode")
    parser.add_argument(
        "--llm-seconds", type=float, default=0, help="the llm agent starts no task after this"
    )
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
        levels = tuple(int(x) for x in args.agent_levels.split(",") if x.strip())
        policies = tuple(x.strip() for x in args.agent_policies.split(",") if x.strip())
        if set(policies) - set(AGENT_POLICIES):
            parser.error(f"--agent-policies takes names of {', '.join(AGENT_POLICIES)}")
        key = "agents" if args.agent_driver == "text" and args.tasks == 50 else None
        key = key or f"agents_{args.agent_driver}_{args.tasks}_tasks"
        section_start = time.perf_counter()
        found = agents(
            args.tasks,
            levels,
            policies,
            args.agent_driver,
            args.llm,
            args.llm_tasks,
            args.max_steps,
            args.llm_seconds,
        )
        if key == "agents" and policies == AGENT_POLICIES[:3]:
            results[key] = found  # the default run replaces its figures
        else:
            merged = results.get(key) if isinstance(results.get(key), dict) else {}
            merged.update(found)
            merged[f"wall_s/{args.agent_levels}/{args.agent_policies}"] = round(
                time.perf_counter() - section_start, 1
            )
            results[key] = merged
    if "ppo" in sections and args.ppo_steps:
        seeds = tuple(int(x) for x in args.ppo_seeds.split(",") if x.strip()) or (0,)
        key = "ppo_candidates_level1"
        if (args.ppo_steps, seeds) != (4096, (0,)):
            key += f"_{args.ppo_steps}_steps"
        results[key] = ppo(args.ppo_steps, args.eval_tasks, seeds)
    if "miniwob" in sections:
        section_start = time.perf_counter()
        results["miniwob_speed"] = miniwob_speed(args.miniwob_episodes)
        results["miniwob_speed"]["wall_s"] = round(time.perf_counter() - section_start, 1)
    if "browsergym" in sections:
        section_start = time.perf_counter()
        results["browsergym_speed"] = browsergym_speed(args.browsergym_episodes)
        results["browsergym_speed"]["wall_s"] = round(time.perf_counter() - section_start, 1)
    wall_s = round(time.perf_counter() - start, 1)
    if sections == set(SECTIONS) or "wall_s" not in results:
        results["wall_s"] = wall_s
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {path} in {wall_s} s")


if __name__ == "__main__":
    main()
