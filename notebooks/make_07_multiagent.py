"""Write ``07_multiagent.ipynb``: ``python notebooks/make_07_multiagent.py``.

The notebook is generated so that its cells stay reviewable as plain Python; the test
suite executes the ``.ipynb`` with ``DENSEGYM_NOTEBOOK_STEPS=1024``.
"""

from __future__ import annotations

from pathlib import Path

from nbbuild import write

CELLS: list[tuple[str, str]] = [
    (
        "md",
        """# 07 — Multi-agent: cooperative grid tasks, per-agent and team shaping

densegym's multi-agent ids are PettingZoo `ParallelEnv`s in PettingZoo's registry. In
`densegym/MA-SwitchDoor-N2-S7-v0` two agents must each stand on a switch *at the same time*
to open a door; then either one walks through to the goal. Nobody is paid anything until
the goal: a sparse cooperative task. This notebook looks at the task and its scripted
oracle team, compares per-agent and team shaping, trains PPO with one policy shared by both
agents (parameter sharing), and plots the team success.

The training budget comes from `DENSEGYM_NOTEBOOK_STEPS` (the test suite sets it small).""",
    ),
    (
        "code",
        """import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

import densegym

STEPS = int(os.environ.get("DENSEGYM_NOTEBOOK_STEPS", "150000"))
TASK = "densegym/MA-SwitchDoor-N2-S7-v0"
print(densegym.__version__, "budget", STEPS, "agent-steps per run")""",
    ),
    (
        "md",
        """## The task and the oracle team
`render_mode="ansi"` draws the grid: `#` walls, `S` switches, `D` the closed door
(`/` once open), `G` the goal, digits the agents. Every layout is drawn from the reset
seed, and the scripted oracle team (`oracle_step()`) succeeds on every seed.""",
    ),
    (
        "code",
        """env = densegym.make_parallel(TASK, render_mode="ansi")
obs, infos = env.reset(seed=0)
print(env.render())
print("agents:", env.agents, "observation:", obs["agent_0"].shape, "state:", env.state().shape)

steps = 0
while env.agents:
    obs, rewards, terminations, truncations, infos = env.step(env.unwrapped.oracle_step())
    steps += 1
print(env.render())
print(f"oracle team: success {infos['agent_0']['is_success']} in {steps} steps, "
      f"rewards {rewards}")

wins = []
for seed in range(50):
    env.reset(seed=seed)
    while env.agents:
        *_, infos = env.step(env.unwrapped.oracle_step())
    wins.append(infos["agent_0"]["is_success"])
print("oracle success on 50 seeds:", np.mean(wins))""",
    ),
    (
        "md",
        """## Per-agent and team shaping
The shaping specs are the single-agent ones with one more key, `scope`:
- `"agent"` (default): one shaper per agent on that agent's own transition — per-agent
  counts, a per-agent potential (each agent's closeness to *its* switch, then the goal);
- `"team"`: one shaper on the global `state()`, its term paid to every agent.

A potential-based term on a team potential, γ·Φ(s′) − Φ(s), keeps the game's equilibria
(Devlin & Kudenko 2011). `infos[agent]["reward_terms"]` uses the single-agent names, and
each agent's reward is the sum of its terms.""",
    ),
    (
        "code",
        """SHAPINGS = {
    "count (per agent)": {"id": "count", "coef": 0.05},
    "potential (per agent)": {"id": "potential", "name": "potential_agent"},
    "potential (team)": {"id": "potential", "scope": "team"},
}
env = densegym.make_parallel(TASK, shaping=list(SHAPINGS.values()))
env.reset(seed=0)
rows = []
for t in range(12):
    *_, infos = env.step(env.unwrapped.oracle_step())
    for agent, info in infos.items():
        rows.append({"step": t, "agent": agent, **info["reward_terms"]})
terms = pd.DataFrame(rows)
terms.pivot(index="step", columns="agent").round(3)""",
    ),
    (
        "md",
        """The team potential is the same for both agents at every step; the per-agent terms
differ. Summed with discount γ over an episode, the team term telescopes to
γ^T·Φ(s_T) − Φ(s_0):""",
    ),
    (
        "code",
        """gamma = 0.99
env = densegym.make_parallel(TASK, shaping={"id": "potential", "scope": "team", "gamma": gamma})
env.reset(seed=4)
phi_0 = env.unwrapped.progress()
total, t = 0.0, 0
rng = np.random.default_rng(0)
while env.agents:
    *_, terminations, _, infos = env.step({a: int(rng.integers(5)) for a in env.agents})
    total += gamma**t * infos["agent_0"]["reward_terms"]["potential"]
    t += 1
phi_end = 0.0 if all(terminations.values()) else env.unwrapped.progress()
print(f"discounted sum {total:.6f} == gamma^T phi_T - phi_0 = {gamma**t * phi_end - phi_0:.6f}")""",
    ),
    (
        "md",
        """## PPO with parameter sharing
`densegym train --env densegym/MA-SwitchDoor-N2-S7-v0 --shaping '{"id":"potential","scope":"team"}'`
and `densegym compare` take multi-agent ids: the env becomes an SB3 VecEnv with one row per
agent, one policy plays both agents (the observation carries the agent's index), and the
run folders, curves and TensorBoard scalars are the single-agent ones plus
`episode/team_success_rate` and `episode/success_rate/<agent>`. Here the same through
Python: plain PPO, team potential and per-agent counts.""",
    ),
    (
        "code",
        """from densegym.agents.runs.config import RunConfig
from densegym.agents.sb3.compare import compare

logdir = tempfile.mkdtemp(prefix="densegym-ma-")
base = RunConfig(TASK, steps=STEPS, n_envs=8, logdir=logdir, log_every=max(STEPS // 20, 256))
paths = compare(
    base,
    shapings=[None, {"id": "potential", "scope": "team"}, {"id": "count", "coef": 0.05}],
    seeds=[0],
    workers=1,
)
summary = pd.read_csv(paths["summary_csv"])
summary[["shaping", "timesteps", "team_success_rate", "success_rate/agent_0",
         "success_rate/agent_1", "env_steps_per_s"]]""",
    ),
    (
        "md",
        """## Team success over training
`curves.csv` holds every run's curve (`success_rate` is the mean over agent rows; in these
team tasks every agent reports the team's success). The plot is the one `densegym compare`
writes.""",
    ),
    (
        "code",
        """from IPython.display import Image, display

curves = pd.read_csv(paths["curves_csv"])
print(curves.groupby("shaping")["success_rate"].last().round(2))
display(Image(filename=str(paths["plot"])))""",
    ),
    (
        "md",
        """## Evaluating the trained team
`densegym eval --run <run dir>` plays one shared policy for every agent and reports the
team success rate; in Python it is `evaluate_parallel`. A learned bonus can also be
computed for every agent in one batch — `{"id": "e3b", "batched": true}`: one module with a
row per agent.""",
    ),
    (
        "code",
        """from densegym.agents import make_agent
from densegym.agents.sb3.multiagent import evaluate_parallel

run_dir = Path(summary.loc[summary["shaping"] == "potential(scope=team)", "run_dir"].iloc[0])
model = make_agent(f"sb3:{run_dir}")
result = evaluate_parallel(model, TASK, n_episodes=10, seed=10_000)
print({k: result[k] for k in ("team_success_rate", "agent_success_rate", "mean_length")})""",
    ),
    (
        "md",
        """## Text games and LLM teams
`MA-Referential-v0` (a speaker describes a target, a listener picks it by number) and
`MA-Negotiation-v0` (split items with private values; the team is paid the deal's
efficiency) take one line of text per turn. `TeamLLMPolicy` prompts one policy per agent
(`densegym eval --env densegym/MA-Referential-v0 --agent llm:smollm2` does the same);
here the scripted oracle and the `tiny-random` model, for speed.""",
    ),
    (
        "code",
        """import densegym
from densegym.agents.llm.team_policy import TeamLLMPolicy, evaluate_team

env = densegym.make_parallel("densegym/MA-Referential-v0")
obs, infos = env.reset(seed=0)
print(obs["listener"])
for team in ("oracle", TeamLLMPolicy("tiny-random", shots=1, max_tokens=4)):
    result = evaluate_team(team, "densegym/MA-Referential-v0", n_episodes=3)
    print(team, result["team_success_rate"], result["agent_tokens"])""",
    ),
]


if __name__ == "__main__":
    write(CELLS, Path(__file__).with_name("07_multiagent.ipynb"))
