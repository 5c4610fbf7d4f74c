"""Write ``01_quickstart.ipynb``: ``python notebooks/make_01_quickstart.py``."""

from pathlib import Path

from nbbuild import write


def md(source: str) -> tuple[str, str]:
    """A markdown cell."""
    return ("md", source)


def code(source: str) -> tuple[str, str]:
    """A code cell."""
    return ("code", source)


CELLS = [
    md("""# 01 — Quickstart: shaped rewards in densegym

densegym wraps sparse-reward tasks as Gymnasium environments and lets you swap the
**step reward** between shaping modules by passing data to `gym.make(..., shaping=...)`.
This notebook makes an env, swaps shapers, trains a short PPO run per shaping and plots
success rate against env steps.

The training budget comes from `DENSEGYM_NOTEBOOK_STEPS` (the test suite sets it small)."""),
    code("""import os
import gymnasium as gym
import pandas as pd
import densegym

STEPS = int(os.environ.get("DENSEGYM_NOTEBOOK_STEPS", "20000"))
print(densegym.__version__, len(densegym.ENV_IDS), "env ids; budget", STEPS)"""),
    md("""## One env, one shaper
Every shaped step keeps the task's own reward under `reward_terms["extrinsic"]` and adds one
named term per shaper; the reward returned is their sum."""),
    code("""env = gym.make("densegym/MountainCarSparse-v0", shaping={"id": "potential", "gamma": 0.99})
obs, info = env.reset(seed=0)
obs, reward, terminated, truncated, info = env.step(2)
print(info["reward_terms"], reward)
assert abs(reward - sum(info["reward_terms"].values())) < 1e-12"""),
    md("""## Swapping shapers
The same seeded random policy under four shaping specs: the extrinsic column is identical,
only the added terms change."""),
    code("""import numpy as np

def episode_terms(shaping, seed=0):
    env = gym.make("densegym/MountainCarSparse-v0", shaping=shaping)
    env.reset(seed=seed)
    actions = np.random.default_rng(seed).integers(0, 3, size=200)
    totals = {}
    for action in actions:
        _, _, terminated, truncated, info = env.step(int(action))
        for term, value in info.get("reward_terms", {"extrinsic": 0.0}).items():
            totals[term] = totals.get(term, 0.0) + value
        if terminated or truncated:
            break
    return totals

specs = {"none": None, "potential": "potential", "count": "count",
         "potential+count": ["potential", {"id": "count", "coef": 0.1}]}
pd.DataFrame({name: episode_terms(spec) for name, spec in specs.items()}).T.fillna(0.0).round(3)"""),
    md("""## A short PPO run per shaping
`densegym.agents.sb3.compare` trains one run per (shaping, seed), writes TensorBoard
scalars with the same names in every run, a summary CSV and a plot."""),
    code("""import tempfile
from densegym.agents.runs import RunConfig
from densegym.agents.sb3.compare import compare

logdir = tempfile.mkdtemp(prefix="densegym-nb01-")
base = RunConfig("densegym/MiniHack-Room-5x5-v0", steps=STEPS, n_envs=4, logdir=logdir,
                 log_every=max(STEPS // 20, 256))
paths = compare(base, shapings=["none", "potential"], seeds=[0], workers=1)
summary = pd.read_csv(paths["summary_csv"])
summary[["shaping", "seed", "timesteps", "success_rate", "extrinsic_return", "env_steps_per_s"]]"""),
    md("""Each run folder reads back as a `RunRecord` (config, summary, learning curve), whatever
trained it; it answers "after how many env steps did the success rate reach X?" (`None`:
not reached within the budget)."""),
    code("""from densegym.agents.runs import RunRecord

records = {row.shaping: RunRecord.load(row.run_dir) for row in summary.itertuples()}
pd.DataFrame({name: {"trainer": r.config.trainer, "env steps": r.timesteps,
                     "steps to 50 % success": r.steps_to_success(0.5)}
              for name, r in records.items()}).T"""),
    md("""## Plot
Success rate vs env steps (mean and min–max band across seeds). The same runs overlay in
TensorBoard: `tensorboard --logdir <logdir>`."""),
    code("""from IPython.display import Image
print("TensorBoard:", f"tensorboard --logdir {logdir}")
Image(filename=str(paths["plot"]))"""),
    md("""## Evaluate the trained agent
One runner evaluates any agent (SB3 models, random, LLM policies) on any env."""),
    code("""from stable_baselines3 import PPO
from densegym.agents import RandomAgent, evaluate

run_dir = summary.loc[summary["shaping"] == "potential", "run_dir"].iloc[0]
model = PPO.load(f"{run_dir}/final_model.zip", device="cpu")
trained = evaluate(model, "densegym/MiniHack-Room-5x5-v0", n_episodes=5, seed=100)
probe = gym.make("densegym/MiniHack-Room-5x5-v0")
random_agent = evaluate(RandomAgent(probe.action_space, seed=0), probe, n_episodes=5, seed=100)
pd.DataFrame({"ppo+potential": trained.as_dict(), "random": random_agent.as_dict()}).T[
    ["success_rate", "mean_extrinsic_return", "mean_length", "env_steps"]]"""),
]

if __name__ == "__main__":
    write(CELLS, Path(__file__).with_name("01_quickstart.ipynb"))
