"""How much do densegym's env layer and shapers cost? Raw vs shaped env steps/s.

Raw = the same task in its own library (gymnasium's MountainCar-v0, MiniHack's own
env with the same observation keys), both made with ``gym.make``. Shaped = densegym's
id through ``gym.make(..., shaping=X)``. Rounds are interleaved and the median is
reported, because this machine is noisy. Also SB3 PPO env-steps/s with and without
``count`` on a MiniHack task, and recurrent PPO's (one LSTM) against plain PPO's.

    python benchmarks/throughput.py            # full run (~3 min)
    python benchmarks/throughput.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path

import gymnasium as gym
import numpy as np

import densegym  # noqa: F401

warnings.filterwarnings("ignore")
RESULTS = Path(__file__).parent / "results" / "throughput.json"
MINIHACK_TASK = "Room-15x15"


def make_raw(name: str) -> gym.Env:
    if name == "MountainCar":
        return gym.make("MountainCar-v0")
    import minihack  # noqa: F401

    return gym.make(
        f"MiniHack-{MINIHACK_TASK}-v0",
        observation_keys=("glyphs", "chars", "glyphs_crop", "chars_crop", "blstats", "message"),
    )


def make_densegym(name: str, shaping: str | None) -> gym.Env:
    env_id = (
        "densegym/MountainCarSparse-v0"
        if name == "MountainCar"
        else f"densegym/MiniHack-{MINIHACK_TASK}-v0"
    )
    return gym.make(env_id, shaping=shaping)


def steps_per_second(env: gym.Env, steps: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    actions = rng.integers(0, env.action_space.n, size=steps)
    env.reset(seed=seed)
    start = time.perf_counter()
    for action in actions:
        _, _, terminated, truncated, _ = env.step(int(action))
        if terminated or truncated:
            env.reset()
    return steps / (time.perf_counter() - start)


def env_throughput(name: str, steps: int, rounds: int) -> dict[str, float]:
    variants = {"raw": lambda: make_raw(name)}
    for shaping in ("none", "potential", "count"):
        variants[shaping] = lambda s=shaping: make_densegym(name, None if s == "none" else s)
    envs = {key: factory() for key, factory in variants.items()}
    samples: dict[str, list[float]] = {key: [] for key in envs}
    for round_index in range(rounds):
        for key, env in envs.items():
            samples[key].append(steps_per_second(env, steps, seed=round_index))
    for env in envs.values():
        env.close()
    result = {f"{key}_steps_per_s": statistics.median(v) for key, v in samples.items()}
    for key in ("none", "potential", "count"):
        result[f"{key}_over_raw"] = result[f"{key}_steps_per_s"] / result["raw_steps_per_s"]
    return result


def ppo_throughput(steps: int) -> dict[str, float]:
    """SB3 env-steps/s: PPO unshaped and with ``count``, and recurrent PPO unshaped."""
    from densegym.agents.sb3.training import RunConfig, train

    out = {}
    with tempfile.TemporaryDirectory() as logdir:
        for algo, shaping in (("ppo", None), ("ppo", "count"), ("recurrent_ppo", None)):
            config = RunConfig(
                f"densegym/MiniHack-{MINIHACK_TASK}-v0",
                algo=algo,
                shaping=shaping,
                steps=steps,
                n_envs=8,
                logdir=logdir,
            )
            summary = train(config, progress=False)
            out[f"{algo}_{shaping or 'none'}_env_steps_per_s"] = summary["env_steps_per_s"]
    none = out["ppo_none_env_steps_per_s"]
    out["ppo_count_over_none"] = out["ppo_count_env_steps_per_s"] / none
    out["recurrent_over_ppo"] = out["recurrent_ppo_none_env_steps_per_s"] / none
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets, for smoke tests")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    rounds = 2 if args.quick else 5
    results = {
        "date": date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        "python": platform.python_version(),
        "minihack_task": MINIHACK_TASK,
        "MountainCar": env_throughput("MountainCar", 2000 if args.quick else 50_000, rounds),
        "MiniHack": env_throughput("MiniHack", 500 if args.quick else 10_000, rounds),
        "SB3": ppo_throughput(2048 if args.quick else 20_480),
    }
    for section in ("MountainCar", "MiniHack", "SB3"):
        print(f"== {section}")
        for key, value in results[section].items():
            print(f"  {key:32s} {value:10.3f}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
