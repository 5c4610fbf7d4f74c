"""Write ``02_exploration_bonuses.ipynb``: ``python notebooks/make_02_exploration_bonuses.py``.

The notebook is generated so that its cells stay reviewable as plain Python; the test
suite executes the ``.ipynb`` with ``DENSEGYM_NOTEBOOK_STEPS=1024``.
"""

from __future__ import annotations

from pathlib import Path

from nbbuild import write

CELLS: list[tuple[str, str]] = [
    (
        "md",
        """# 02 — Exploration bonuses on MiniHack

Sparse MiniHack tasks pay 1 for reaching the staircase and nothing else, so plain PPO
rarely finds the reward. densegym's learned intrinsic shapers (`count`, `rnd`, `icm`,
`e3b`, `noveld`, `global_episodic`) add a novelty term to each step. This notebook swaps
them on one task, looks at `info["reward_terms"]`, overlays short PPO runs and plots
the results of `benchmarks/minihack_exploration.py` when they are on disk.

The training budget comes from `DENSEGYM_NOTEBOOK_STEPS` (the test suite sets it small).""",
    ),
    (
        "code",
        """import os
import tempfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd

import densegym

STEPS = int(os.environ.get("DENSEGYM_NOTEBOOK_STEPS", "20000"))
TASK = "densegym/MiniHack-Room-15x15-v0"
BONUSES = ["count", "rnd", "icm", "e3b", "noveld", "global_episodic"]
print(densegym.__version__, "budget", STEPS, "steps per run")""",
    ),
    (
        "md",
        """## Swapping bonuses
The same seeded random walk under each bonus. `extrinsic` is identical in every row;
only the novelty term changes. Each bonus is a shaping spec (data), so it could equally
be `{"id": "e3b", "coef": 0.1}` or a list combining several.""",
    ),
    (
        "code",
        """def random_walk_terms(shaping, steps=60, seed=0):
    env = gym.make(TASK, shaping=shaping)
    env.reset(seed=seed)
    actions = np.random.default_rng(seed).integers(0, env.action_space.n, size=steps)
    rows = []
    for action in actions:
        _, reward, terminated, truncated, info = env.step(int(action))
        rows.append({**info["reward_terms"], "reward": reward})
        if terminated or truncated:
            break
    env.close()
    return pd.DataFrame(rows)

walks = {name: random_walk_terms(name) for name in BONUSES}
pd.DataFrame(
    {
        name: {
            "extrinsic sum": frame["extrinsic"].sum(),
            "bonus sum": frame[name].sum(),
            "first-step bonus": frame[name].iloc[0],
            "last-step bonus": frame[name].iloc[-1],
        }
        for name, frame in walks.items()
    }
).T""",
    ),
    (
        "md",
        """## Watching `reward_terms` step by step
Episodic bonuses (`e3b`, episodic counts) fall as the episode revisits similar states
and start afresh on `reset`; global ones (`rnd`, `count`) fall as the module learns.""",
    ),
    (
        "code",
        """import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(7, 3.5))
for name, frame in walks.items():
    values = frame[name].to_numpy()
    scale = np.abs(values).max() or 1.0
    ax.plot(values / scale, label=name)
ax.set_xlabel("step of a random walk")
ax.set_ylabel("bonus term (scaled to its max)")
ax.legend(fontsize=8)
plt.show()""",
    ),
    (
        "md",
        """## Short training runs, overlaid
`compare()` trains one run per (shaping, seed) and writes TensorBoard scalars with the
same names in every run (`reward/extrinsic`, `reward/<bonus>`, `episode/success_rate`).
`count` runs per env; the learned bonus runs batched over the sub-envs
(`batched_shaping`, trained at rollout end), as in the benchmark.""",
    ),
    (
        "code",
        """from dataclasses import replace

from densegym.agents.sb3.compare import compare
from densegym.agents.sb3.training import RunConfig

logdir = tempfile.mkdtemp(prefix="densegym-nb02-")
base = RunConfig(TASK, steps=STEPS, n_envs=4, logdir=logdir, log_every=max(STEPS // 20, 256))
per_env = compare(base, shapings=[None, "count"], seeds=[0], workers=1)
curves = [pd.read_csv(per_env["curves_csv"])]
batched = compare(replace(base, batched_shaping="e3b"), shapings=[None], seeds=[0], workers=1)
curves.append(pd.read_csv(batched["curves_csv"]))
curves = pd.concat(curves, ignore_index=True)
summaries = pd.concat(
    [pd.read_csv(per_env["summary_csv"]), pd.read_csv(batched["summary_csv"])], ignore_index=True
)
summaries[["shaping", "timesteps", "success_rate", "extrinsic_return", "env_steps_per_s"]]""",
    ),
    (
        "code",
        """from IPython.display import Image

from densegym.agents.sb3.plotting import plot_success

overlay = plot_success(curves, Path(logdir) / "overlay.png", title=f"{TASK} — PPO")
print("TensorBoard:", f"tensorboard --logdir {logdir}")
Image(filename=str(overlay))""",
    ),
    (
        "md",
        """## The benchmark's results
`benchmarks/minihack_exploration.py` writes every run's learning curve to
`runs/minihack_exploration/curves.csv` (columns `task, shaping, seed, timesteps,
success_rate, ...`). When that file is missing, the runs just made stand in for it.""",
    ),
    (
        "code",
        """candidates = [
    Path("runs/minihack_exploration/curves.csv"),
    Path("../runs/minihack_exploration/curves.csv"),
    Path(densegym.__file__).resolve().parents[1] / "runs/minihack_exploration/curves.csv",
]
found = next((path for path in candidates if path.exists()), None)
if found is not None:
    bench = pd.read_csv(found)
    print("benchmark curves from", found)
else:
    bench = curves.assign(task=TASK.split("MiniHack-")[-1].removesuffix("-v0"))
    print("no benchmark CSV yet: plotting the runs above")
final = bench.sort_values("timesteps").groupby(["task", "shaping", "seed"]).tail(1)
print(final.groupby(["task", "shaping"])["success_rate"].mean().unstack().round(2))
from IPython.display import display

for task, part in bench.groupby("task"):
    path = plot_success(part, Path(logdir) / f"bench-{task}.png", title=f"MiniHack {task} — PPO")
    display(Image(filename=str(path)))""",
    ),
]


if __name__ == "__main__":
    write(CELLS, Path(__file__).with_name("02_exploration_bonuses.ipynb"))
