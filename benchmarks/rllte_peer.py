"""Our E3B and RND bonuses vs rllte-core's, timed on the same batch of MiniHack observations.

One rollout (``--steps`` × ``--envs`` random-policy transitions of a densegym MiniHack
task) is saved to a ``.npz``. Ours runs in this process; rllte's runs in a subprocess of
a separate virtual environment (rllte-core pins old versions, so it stays out of ours):

    python -m venv /tmp/rllte-venv
    /tmp/rllte-venv/bin/pip install --no-deps rllte-core
    /tmp/rllte-venv/bin/pip install torch numpy gymnasium termcolor pynvml
    python benchmarks/rllte_peer.py --peer-python /tmp/rllte-venv/bin/python

rllte-core 1.0.1's encoders take a flat vector or an image, not a Dict, and its CNN
needs images larger than MiniHack's 9×9 crop, so both libraries get the same flat
vector (the 9×9 glyph crop and the 27 blstats, 108 floats); ours is also timed on the
native Dict observation (glyph embedding), which is what training uses. Timed per
rollout: the bonus of every transition (ours: one batched call per env step, as
``VecIntrinsicBonus`` does; rllte: ``compute(samples, sync=False)``) and one update on
the whole rollout (ours: ``module.update``; rllte: ``update(samples)``). Rounds are
interleaved, medians reported; one torch thread on both sides.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import densegym  # noqa: F401
from densegym.rewards.intrinsic.counts import default_state_key
from densegym.rewards.registry import shaper_class

RESULTS = Path(__file__).parent / "results" / "minihack_exploration_rllte.json"
MODULES = ("e3b", "rnd")

# Runs inside the peer venv: argv = npz path, module name, latent dim. Prints JSON.
PEER_SCRIPT = r"""
import json, sys, time, types
from importlib.metadata import version
import numpy as np, torch as th
from gymnasium import spaces
th.set_num_threads(1)
from rllte.xplore.reward import E3B, RND
data = np.load(sys.argv[1])
name, latent = sys.argv[2], int(sys.argv[3])
obs, next_obs = th.as_tensor(data["flat_obs"]), th.as_tensor(data["flat_next_obs"])
steps, envs, dim = obs.shape
fake = types.SimpleNamespace(
    observation_space=spaces.Box(-np.inf, np.inf, (dim,), np.float32),
    action_space=spaces.Discrete(int(data["n_actions"])),
    unwrapped=types.SimpleNamespace(num_envs=envs),
)
module = {"e3b": E3B, "rnd": RND}[name](fake, obs_norm_type="none", latent_dim=latent)
dones = th.as_tensor(data["dones"]).float()
samples = {"observations": obs, "next_observations": next_obs,
           "actions": th.as_tensor(data["actions"]).float(), "rewards": th.zeros(steps, envs),
           "terminateds": dones, "truncateds": th.zeros(steps, envs)}
module.compute(samples, sync=False)
module.update(samples)  # warm-up
start = time.perf_counter()
module.compute(samples, sync=False)
bonus = time.perf_counter() - start
start = time.perf_counter()
module.update(samples)
update = time.perf_counter() - start
print(json.dumps({"bonus_s": bonus, "update_s": update, "version": version("rllte-core")}))
"""


def collect_rollout(task: str, steps: int, envs: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A random-policy rollout ``[steps, envs, ...]`` of a densegym MiniHack task.

    Example:
        >>> data = collect_rollout("densegym/MiniHack-Room-5x5-v0", steps=4, envs=2)
        >>> data["glyphs"].shape, data["flat_obs"].shape
        ((4, 2, 9, 9), (4, 2, 108))
    """
    sub_envs = [gym.make(task) for _ in range(envs)]
    current = [env.reset(seed=seed + i)[0] for i, env in enumerate(sub_envs)]
    rng = np.random.default_rng(seed)
    keys = ("glyphs", "blstats")
    out: dict[str, list] = {f"{p}{k}": [] for p in ("", "next_") for k in keys}
    out.update(actions=[], dones=[])
    for _ in range(steps):
        actions = rng.integers(0, sub_envs[0].action_space.n, size=envs)
        row: dict[str, list] = {name: [] for name in out}
        for i, env in enumerate(sub_envs):
            nxt, _, terminated, truncated, _ = env.step(int(actions[i]))
            for key in keys:
                row[key].append(current[i][key])
                row[f"next_{key}"].append(nxt[key])
            row["dones"].append(terminated or truncated)
            current[i] = env.reset()[0] if terminated or truncated else nxt
        row["actions"] = list(actions)
        for name, values in row.items():
            out[name].append(np.stack(values) if name not in ("actions", "dones") else values)
    data = {name: np.asarray(values) for name, values in out.items()}
    for prefix in ("", "next_"):
        glyphs = data[f"{prefix}glyphs"].reshape(steps, envs, -1)
        data[f"flat_{prefix}obs"] = np.concatenate(
            [glyphs, data[f"{prefix}blstats"]], axis=-1
        ).astype(np.float32)
    data["n_actions"] = np.asarray(sub_envs[0].action_space.n)
    return data


def _obs_at(data: dict[str, np.ndarray], form: str, t: Any, prefix: str = "") -> Any:
    if form == "flat":
        return data[f"flat_{prefix}obs"][t]
    return {key: data[f"{prefix}{key}"][t] for key in ("glyphs", "blstats")}


def time_ours(name: str, data: dict[str, np.ndarray], form: str, space: gym.Space) -> dict:
    """Seconds for our module's bonus over the rollout (step by step) and one update."""
    cls = shaper_class(name)
    _, module_kwargs = cls.split_kwargs({})
    action_space = gym.spaces.Discrete(int(data["n_actions"]))
    module = cls.build_module(space, action_space, default_state_key, module_kwargs)
    steps, envs = data["actions"].shape
    flat = {
        "obs": _flatten_steps(_obs_at(data, form, slice(None))),
        "actions": data["actions"].reshape(-1),
        "next_obs": _flatten_steps(_obs_at(data, form, slice(None), "next_")),
    }

    def bonus_pass() -> None:
        episodic = module.new_episodic(envs)
        module.reset_episodic(episodic, np.arange(envs), _obs_at(data, form, 0))
        for t in range(steps):
            module.bonus(
                _obs_at(data, form, t),
                data["actions"][t],
                _obs_at(data, form, t, "next_"),
                episodic,
            )
            done = np.flatnonzero(data["dones"][t])
            if done.size:
                module.reset_episodic(episodic, done, _take(_obs_at(data, form, t, "next_"), done))

    bonus_pass()
    module.update(flat)  # warm-up, as on the peer's side
    start = time.perf_counter()
    bonus_pass()
    bonus = time.perf_counter() - start
    start = time.perf_counter()
    module.update(flat)
    timings = {"bonus_s": bonus, "update_s": time.perf_counter() - start}
    if module.new_episodic(1) is None:  # no episodic state: the rollout in one call is valid
        start = time.perf_counter()
        module.bonus(flat["obs"], flat["actions"], flat["next_obs"], None)
        timings["bonus_one_call_s"] = time.perf_counter() - start
    return timings


def _flatten_steps(batch: Any) -> Any:
    if isinstance(batch, dict):
        return {key: value.reshape(-1, *value.shape[2:]) for key, value in batch.items()}
    return batch.reshape(-1, *batch.shape[2:])


def _take(batch: Any, index: np.ndarray) -> Any:
    if isinstance(batch, dict):
        return {key: value[index] for key, value in batch.items()}
    return batch[index]


def time_peer(python: str, npz: Path, name: str, latent: int) -> dict:
    """Run rllte's module in the peer venv; returns its timings (raises with its stderr)."""
    proc = subprocess.run(
        [python, "-c", PEER_SCRIPT, str(npz), name, str(latent)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def markdown(result: dict[str, Any]) -> str:
    """The peer paragraph and table for the README section."""
    head = (
        f"**Peer: rllte-core {result.get('peer_version', '?')}** (separate venv, "
        f"`python benchmarks/rllte_peer.py`): one random-policy rollout of "
        f"{result['steps']}×{result['envs']} transitions of {result['task']}; per rollout, "
        "the bonus of every transition and one update on all of it; median of "
        f"{result['rounds']} interleaved rounds, 1 torch thread. rllte-core gets the flat "
        "108-float vector (its encoders take no Dict, and its CNN needs images larger "
        "than 9×9), with `latent_dim` = our `feature_dim` (64) and `obs_norm_type='none'`; "
        "other settings are each library's defaults."
    )
    head += (
        " Install: `pip install --no-deps rllte-core` into its own venv, then only what "
        "`rllte.xplore.reward` imports — torch (the local CPU wheel), numpy, gymnasium, "
        "termcolor and pynvml (any version; it pins 11.5.0). Its other pins (matplotlib "
        "3.6.0, seaborn 0.12.2, huggingface-hub 0.14.1, torchvision) are not needed for the "
        "reward modules and were not installed."
    )
    if "error" in result:
        return f"{head}\n\nrllte-core could not run here: `{result['error']}`."
    lines = [
        head,
        "",
        "| module | ours, flat (ms) | ours, Dict obs (ms) | rllte-core, flat (ms) | "
        "rllte time / ours (flat; > 1: ours faster) |",
        "|---|---|---|---|---|",
    ]
    for name, row in result["modules"].items():
        for part in ("bonus", "update", "bonus_one_call"):
            if f"flat_{part}_s" not in row:
                continue
            peer = row[f"peer_{'bonus' if part == 'bonus_one_call' else part}_s"] * 1e3
            ours, ours_dict = (row[f"{k}_{part}_s"] * 1e3 for k in ("flat", "dict"))
            label = "bonus, whole rollout in one call" if part == "bonus_one_call" else part
            lines.append(
                f"| {name} {label} | {ours:.1f} | {ours_dict:.1f} | {peer:.1f} | "
                f"**{peer / ours:.2f}** |"
            )
    lines += [
        "",
        "Ours computes the bonus one env step at a time during the rollout (8 rows per "
        "call, what training needs: the reward is due at the step); rllte-core's `compute` "
        "runs after the rollout, all steps at once for RND and a Python loop over steps and "
        "envs for E3B. The one-call row times our RND on the whole rollout at once, the "
        "like-for-like batch comparison.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--peer-python", default="/tmp/rllte-venv/bin/python")
    parser.add_argument("--task", default="densegym/MiniHack-KeyRoom-S5-v0")
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--envs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = collect_rollout(args.task, args.steps, args.envs)
    env = gym.make(args.task)
    flat_space = gym.spaces.Box(-np.inf, np.inf, data["flat_obs"].shape[2:], np.float32)
    result: dict[str, Any] = {
        "task": args.task,
        "steps": args.steps,
        "envs": args.envs,
        "rounds": args.rounds,
    }
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "rollout.npz"
        np.savez(npz, **data)
        timings: dict[str, dict[str, list[float]]] = {}
        try:
            for _ in range(args.rounds):
                for name in MODULES:
                    latent = shaper_class(name).split_kwargs({})[1]["feature_dim"]
                    runs = {
                        "flat": time_ours(name, data, "flat", flat_space),
                        "dict": time_ours(name, data, "dict", env.observation_space),
                        "peer": time_peer(args.peer_python, npz, name, latent),
                    }
                    result["peer_version"] = runs["peer"].pop("version")
                    for kind, values in runs.items():
                        for part, seconds in values.items():
                            key = f"{kind}_{part}"
                            timings.setdefault(name, {}).setdefault(key, []).append(seconds)
            result["modules"] = {
                name: {key: statistics.median(values) for key, values in parts.items()}
                for name, parts in timings.items()
            }
        except (OSError, RuntimeError, subprocess.TimeoutExpired) as error:
            result["error"] = str(error)
    result["markdown"] = markdown(result)
    print(result["markdown"])
    if args.results:
        Path(args.results).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
