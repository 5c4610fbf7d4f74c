"""Write ``06_tool_use.ipynb``: ``python notebooks/make_06_tool_use.py``.

The notebook is generated so that its cells stay reviewable as plain Python; the test
suite executes the ``.ipynb`` with ``DENSEGYM_NOTEBOOK_STEPS=1024`` and
``DENSEGYM_NOTEBOOK_TINY=1`` (fewer tasks, a few hundred PPO steps).
"""

from __future__ import annotations

from pathlib import Path

from nbbuild import write

CELLS: list[tuple[str, str]] = [
    (
        "md",
        """# 06 — Tool use: a SQLite shop world, BFCL's multi-turn set, shaping and search

densegym's tool-use world is a procedurally generated **shop in SQLite** (users, orders,
products, payments). An action is **one tool call** as text; the world's real state is
what success is checked against, and a reset restores the world from its serialised
bytes, so no episode sees another's writes. Three families: `ToolShop-Lookup`
(read-only lookups, exact answer), `ToolShop-Orders` (writes under a written policy) and
`ToolShop-Config` (setter chains). BFCL's multi-turn set runs as an external anchor
(`densegym/BFCL-MultiTurn-v0`, extra `tools`).

This notebook makes a call, replays the oracle, feeds the env bad input, trains PPO on
the grounded-candidates view with and without potential shaping, runs A* over tool
calls, and plots the agents side by side.

`DENSEGYM_NOTEBOOK_STEPS` sets the PPO budget; `DENSEGYM_NOTEBOOK_TINY=1` (the test suite
sets it) plays fewer tasks.""",
    ),
    (
        "code",
        """import os
import tempfile
from pathlib import Path

import gymnasium as gym
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
import torch
from IPython.display import Image, display

import densegym
from densegym.agents import evaluate, make_agent

torch.set_num_threads(1)
TINY = os.environ.get("DENSEGYM_NOTEBOOK_TINY") == "1"
STEPS = int(os.environ.get("DENSEGYM_NOTEBOOK_STEPS", "20000"))
PPO_STEPS = min(STEPS, 512) if TINY else STEPS
TASKS = 5 if TINY else 50
WORK = Path(tempfile.mkdtemp(prefix="densegym-nb06-"))
print(densegym.__version__, "| PPO budget:", PPO_STEPS, "| tasks per agent:", TASKS)""",
    ),
    (
        "md",
        """## The world and one call
The observation is the request, the policy, the tool signatures and the calls so far.
The tools are also in `env.unwrapped.task["tools"]` as OpenAI function schemas, for LLM
agents that call tools natively.""",
    ),
    (
        "code",
        """env = gym.make("densegym/ToolShop-Orders-v0")
obs, info = env.reset(seed=0)
print(obs[:900], "...")
print(len(env.unwrapped.task["tools"]), "tools; first schema:", env.unwrapped.task["tools"][0])""",
    ),
    (
        "code",
        """import re

email = re.search(r"[\\w.+-]+@[\\w.-]+\\.\\w+", env.unwrapped.problem.request).group(0)
action = f'find_user(email="{email}")'  # call syntax; JSON {"name": ..., "arguments": ...} too
obs, reward, terminated, truncated, info = env.step(action)
print(action, "->", env.unwrapped.calls[-1].result[:300])
{k: info[k] for k in ("tool", "invalid_call", "call_cost", "progress", "oracle_remaining")}""",
    ),
    (
        "md",
        """## The oracle
Every task comes with a gold plan, and `oracle_step()` re-plans from any state (which
checks are unmet, which ids are already known), so it finishes from wherever an agent
left off.""",
    ),
    (
        "code",
        """obs, info = env.reset(seed=1)
rows = []
while True:
    action = env.unwrapped.oracle_step()
    obs, reward, terminated, truncated, info = env.step(action)
    rows.append({"call": action[:90], "progress": info["progress"],
                 "oracle_remaining": info["oracle_remaining"], "reward": reward})
    if terminated or truncated:
        break
print("success:", info["is_success"])
pd.DataFrame(rows)""",
    ),
    (
        "md",
        """## Bad input is flagged, never raised
Unreadable text, unknown tools, arguments that do not fit and code smuggled into an
argument all come back as an `Error: ...` observation with `info["invalid_call"]` and a
counter; a policy violation is the tool's own answer (`tool_error`). Three invalid calls
in a row truncate the episode.""",
    ),
    (
        "code",
        """env.reset(seed=2)
bad = ["please cancel it", "teleport(order_id='#W1')", "get_order(order=1)",
       "get_order(order_id=__import__('os'))", 'cancel_order(order_id="#W1", reason="whim")']
rows = []
for action in bad:
    _, _, terminated, truncated, info = env.step(action)
    rows.append({"action": action, "invalid": info["invalid_call"],
                 "reason": info["invalid_reason"], "tool_error": info["tool_error"],
                 "n_invalid": info["n_invalid"], "truncated": truncated})
    if terminated or truncated:
        env.reset(seed=2)
pd.DataFrame(rows)""",
    ),
    (
        "md",
        """## BFCL multi-turn, scored by its own state and response checks
With the `bfcl-eval` wheel installed (`pip install --no-deps "bfcl-eval==2026.3.23"`), BFCL's
multi-turn tasks run on BFCL's own API classes. Each user turn ends with `end_turn()` and
is checked: the API instances' state must equal the ground truth's, and the ground
truth's results must be among the agent's. The oracle replays the ground truth.""",
    ),
    (
        "code",
        """try:
    bfcl = gym.make("densegym/BFCL-MultiTurn-v0")
except gym.error.DependencyNotInstalled as error:
    bfcl = None
    print(error)
if bfcl is not None:
    obs, info = bfcl.reset(options={"entry": "multi_turn_base_1"})
    print(obs[:600], "...")
    _, _, _, _, info = bfcl.step("ls(a=True)")
    print("a call:", bfcl.unwrapped.calls[-1].result[:120])
    _, _, _, _, info = bfcl.step("end_turn()")
    print("turn checks after ls + end_turn:", info["turn_checks"])
    bfcl.reset(options={"entry": "multi_turn_base_1"})
    while True:
        *_, terminated, truncated, info = bfcl.step(bfcl.unwrapped.oracle_step())
        if terminated or truncated:
            break
    print("oracle: per-turn", info["turn_success"], "success", info["is_success"])""",
    ),
    (
        "md",
        """## Potential shaping
`shaping="potential"` adds F = γΦ(s′) − Φ(s) with Φ = the share of the task's checks
met (LOOP's fraction of tests passed), so every step that satisfies a predicate is paid
at once; the extrinsic reward is still 1/0 at the end and stays under
`reward_terms["extrinsic"]`.""",
    ),
    (
        "code",
        """potential = {"id": "potential", "gamma": 0.99}
shaped = gym.make("densegym/ToolShop-Orders-v0", shaping=potential)
obs, info = shaped.reset(seed=1)
rows = []
while True:
    obs, reward, terminated, truncated, info = shaped.step(shaped.unwrapped.oracle_step())
    rows.append({"tool": info["tool"], **info["reward_terms"], "reward": reward})
    if terminated or truncated:
        break
pd.DataFrame(rows).round(3)""",
    ),
    (
        "md",
        """## Grounded candidates and PPO
SB3 cannot write text, so the `candidates` view turns the env into a choice among `k`
calls built from the tools and the entities seen so far (ids and emails in results,
literals in the request), encoded as hashed n-grams. PPO then trains on it like on any
Gymnasium env; the runs differ only in shaping.""",
    ),
    (
        "code",
        """VIEW = {"id": "candidates", "k": 8, "encoder": {"id": "ngram", "dim": 256}}
view_env = gym.make("densegym/ToolShop-Lookup-v0", view=VIEW)
obs, info = view_env.reset(seed=0)
print(view_env.observation_space, view_env.action_space)
for i, call in enumerate(view_env.get_wrapper_attr("candidates")):
    print(i, call[:100])""",
    ),
    (
        "code",
        """from densegym.agents.runs import RunConfig, RunRecord, train

summaries = {}
for shaping in ("none", "potential"):
    config = RunConfig(
        "densegym/ToolShop-Lookup-v0",
        algo="ppo",
        shaping=None if shaping == "none" else shaping,
        steps=PPO_STEPS,
        n_envs=2,
        seed=0,
        logdir=str(WORK / "ppo"),
        env_kwargs={"view": VIEW},
        hyperparams={"n_steps": 128, "batch_size": 128, "n_epochs": 4, "learning_rate": 1e-3},
        log_every=max(PPO_STEPS // 4, 128),
    )
    summaries[shaping] = train(config, progress=False)
pd.DataFrame({s: {k: v for k, v in summary.items() if isinstance(v, (int, float))}
              for s, summary in summaries.items()}).T""",
    ),
    (
        "md",
        """## A* over tool calls
`search:astar` (ToolChain*) searches from world snapshots: nodes are `env.get_state()`
snapshots, expansions are grounded candidate calls (or LLM samples), `g` is the summed
tool cost and `h` the task's unmet checks. The simulator is the model it plans with.""",
    ),
    (
        "code",
        """astar = make_agent("search:astar", budget_expansions=60)
text_env = gym.make("densegym/ToolShop-Lookup-v0")
result = evaluate(astar, text_env, n_episodes=TASKS, seed=100)
print("A*: success", result.success_rate, "| env steps", result.env_steps)""",
    ),
    (
        "md",
        """## Side by side
The same held-out tasks for a random choice among the candidates, the two PPO models
and A*. (An LLM agent plays the same text env: `make_agent("llm:<backend>")` calls tools
through `chat(..., tools=...)`.)""",
    ),
    (
        "code",
        """from densegym.agents.make import load_run_model
from densegym.agents.evaluate import RandomAgent

rows = {"random (candidates)": evaluate(RandomAgent(seed=0), view_env, n_episodes=TASKS, seed=100)}
for shaping, summary in summaries.items():
    model = load_run_model(summary["run_dir"])
    rows[f"PPO, {shaping}"] = evaluate(model, view_env, n_episodes=TASKS, seed=100)
rows["A* (progress h)"] = result
table = pd.DataFrame({name: {"success": r.success_rate, "mean return": r.mean_return}
                      for name, r in rows.items()}).T
fig, ax = plt.subplots(figsize=(6, 3))
table["success"].plot.barh(ax=ax, color="tab:blue")
ax.set_xlabel("success rate")
ax.set_xlim(0, 1)
ax.set_title(f"ToolShop-Lookup, {TASKS} tasks")
fig.tight_layout()
png = WORK / "tool_use_agents.png"
fig.savefig(png, dpi=100)
display(Image(filename=str(png)))
table""",
    ),
    (
        "md",
        """## An LLM agent with tool calls
`make_agent("llm:<backend>")` bound to a tool env sends the observation with the tool
schemas (`chat(..., tools=...)`) and plays the first tool call of the reply. The
`tiny-random` model below only shows the mechanics (it is random); use `smollm2`, an
`hf:` model with a tool chat template, or an `openai:` server for real runs.""",
    ),
    (
        "code",
        """llm_agent = make_agent("llm:tiny-random", tool_max_tokens=24)
episode = evaluate(llm_agent, gym.make("densegym/ToolShop-Lookup-v0", max_episode_steps=4),
                   n_episodes=1, seed=0)
print("LLM calls:", episode.llm_calls, "| tokens:", episode.llm_tokens)
print("last reply:", llm_agent.last_replies[-1][:120])""",
    ),
]

if __name__ == "__main__":
    write(CELLS, Path(__file__).with_name("06_tool_use.ipynb"))
