"""Write ``03_language_reasoning.ipynb``: ``python notebooks/make_03_language_reasoning.py``.

The notebook is generated so that its cells stay reviewable as plain Python; the test
suite executes the ``.ipynb`` with ``DENSEGYM_NOTEBOOK_STEPS=1024`` and
``DENSEGYM_NOTEBOOK_TINY=1`` (the ``tiny-random`` model instead of SmolLM2).
"""

from __future__ import annotations

from pathlib import Path

from nbbuild import write

CELLS: list[tuple[str, str]] = [
    (
        "md",
        """# 03 — Language reasoning: WordProblems by hand, by oracle, by LLM and by PPO

densegym's reasoning envs are multi-turn text tasks: the observation is a question plus
the steps written so far, each action is **one reasoning step** (a line such as
`3 * 4 = 12`), and the episode ends with `Answer: <number>` (reward 1 if correct).
This notebook plays `densegym/WordProblems-v0` by hand, with the task's oracle, with an
LLM policy (the embedded SmolLM2-135M-Instruct), and finally trains SB3 PPO on the
`CandidateActions` view, which turns the text task into a choice among proposed steps.

`DENSEGYM_NOTEBOOK_TINY=1` swaps SmolLM2 for a random miniature model (the test suite
sets it); `DENSEGYM_NOTEBOOK_STEPS` sets the PPO budget.""",
    ),
    (
        "code",
        """import json
import os
import tempfile
from pathlib import Path

import gymnasium as gym
import pandas as pd
import torch

import densegym
from densegym.agents import RandomAgent, evaluate

torch.set_num_threads(1)
TINY = os.environ.get("DENSEGYM_NOTEBOOK_TINY") == "1"
STEPS = int(os.environ.get("DENSEGYM_NOTEBOOK_STEPS", "20000"))
BACKEND = "tiny-random" if TINY else "smollm2"
print(densegym.__version__, "| model:", BACKEND, "| PPO budget:", STEPS)""",
    ),
    (
        "md",
        """## Play by hand
Every step you write is checked: a stated computation is committed as an intermediate
value (`info["progress"]` rises), a wrong result is flagged (`arithmetic_error`), and an
empty or unparseable step is flagged as invalid — never an exception.""",
    ),
    (
        "code",
        """env = gym.make("densegym/WordProblems-v0", difficulty=1)
obs, info = env.reset(seed=7)
print(obs)
for step in ["", "I think the answer is near 3 * 4 = 13"]:
    obs, reward, terminated, truncated, info = env.step(step)
    print(f"\\n>>> {step!r}")
    print({k: info[k] for k in ("invalid_step", "invalid_reason", "arithmetic_error", "progress")})
print()
print(obs)""",
    ),
    (
        "md",
        """## The oracle
`env.unwrapped.oracle_step()` returns the next correct step from *any* prefix (wrong
values written so far are recomputed), so following it always earns reward 1.
`env.unwrapped.task` describes the task for LLM reward modules.""",
    ),
    (
        "code",
        """obs, info = env.reset(seed=7)
done = False
while not done:
    step = env.unwrapped.oracle_step()
    obs, reward, terminated, truncated, info = env.step(step)
    print(f"{step:45s} progress={info['progress']:.2f}")
    done = terminated or truncated
print("reward:", reward, "| success:", info["is_success"])
{k: env.unwrapped.task[k] for k in ("id", "answer", "solution_steps")}""",
    ),
    (
        "md",
        """## An LLM policy
`LLMPolicy` prompts any `densegym.llm` backend with the observation (zero-shot, or
few-shot with worked examples replayed turn by turn), keeps the first line of the reply
as the step, and counts its tokens in `usage`, which the common evaluation runner
reports. The same agent runs from the shell:
`densegym eval --agent llm:smollm2 --env densegym/WordProblems-v0`.""",
    ),
    (
        "code",
        """from densegym.agents.llm import LLMPolicy

policy = LLMPolicy(BACKEND, shots=1, max_tokens=12 if TINY else 48)
print(policy.prompt(env.reset(seed=3)[0])[-1]["content"])
obs, info = env.reset(seed=3)
for _ in range(3):
    step, _ = policy.predict(obs, deterministic=True)
    obs, reward, terminated, truncated, info = env.step(step)
    print(f"model: {policy.last_replies[0]!r}")
    print(f"  -> step {step!r}, progress {info['progress']:.2f}")
    if terminated or truncated:
        break""",
    ),
    (
        "code",
        """limit = 4 if TINY else 16
short = gym.make("densegym/WordProblems-v0", difficulty=1, max_episode_steps=limit)
result = evaluate(policy, short, n_episodes=2 if TINY else 10, seed=100)
columns = ["success_rate", "mean_length", "llm_calls", "llm_tokens", "wall_time_s"]
pd.Series(result.as_dict())[columns]""",
    ),
    (
        "md",
        """How good is the 135M model? `benchmarks/llm_accuracy.py` measures its greedy
accuracy per difficulty level (table in `benchmarks/README.md`); when the results file
is on disk it is shown here.""",
    ),
    (
        "code",
        """repo = Path(densegym.__file__).resolve().parents[1]
results = repo / "benchmarks" / "results" / "smollm2_accuracy.json"
if results.exists():
    levels = json.loads(results.read_text())["levels"]
    display(pd.DataFrame(levels).T[["n", "accuracy", "ci95", "mean_steps"]])
else:
    print("run: python benchmarks/llm_accuracy.py --out benchmarks/results/smollm2_accuracy.json")""",
    ),
    (
        "md",
        """## CandidateActions: a text task for SB3
SB3 agents need vector observations and a fixed action set. The `candidates` view asks a
proposer (here the task's oracle, right with probability 0.7 per step) for candidate
steps, merges repeats as votes, and offers `k` of them; the action is the number of the
step to take. Requested by data, so the spec round-trips and `densegym train` can use it:

    densegym train --env densegym/Arithmetic-v0 --env-kwargs \\
      '{"view": {"id": "candidates", "k": 4, "proposer": "oracle-0.7", "samples": 8}}'

With `"encoder": None` the observation stays text (for people and LLMs):""",
    ),
    (
        "code",
        """view = {"id": "candidates", "k": 4, "proposer": "oracle-0.7", "samples": 8}
text_env = gym.make("densegym/Arithmetic-v0", difficulty=2, view={**view, "encoder": None})
obs, info = text_env.reset(seed=0)
print(obs)
print("\\nvotes:", info["candidate_votes"], "| action space:", text_env.action_space)""",
    ),
    (
        "md",
        """With an encoder (the default `ngram`: a hashed bag of character and word n-grams;
`minilm`: offline sentence embeddings) each part is encoded separately — context, each
candidate, the vote shares — into one float32 vector. PPO learns which slot to trust.""",
    ),
    (
        "code",
        """from densegym.agents.runs import RunConfig, train
from densegym.agents.sb3.training import ALGORITHMS

vector_view = {**view, "encoder": {"id": "ngram", "dim": 64}}
env_kwargs = {"view": vector_view, "difficulty": 2}
config = RunConfig("densegym/Arithmetic-v0", trainer="sb3:ppo", steps=STEPS, n_envs=4,
                   logdir=tempfile.mkdtemp(prefix="densegym-nb03-"), env_kwargs=env_kwargs,
                   hyperparams={"n_steps": 128, "batch_size": 128, "learning_rate": 1e-3},
                   log_every=max(STEPS // 10, 256))
summary = train(config, progress=False)
model = ALGORITHMS["ppo"].load(f"{summary['run_dir']}/final_model.zip", device="cpu")
eval_env = gym.make("densegym/Arithmetic-v0", **env_kwargs)
rows = {
    "ppo": evaluate(model, eval_env, n_episodes=30, seed=1000).as_dict(),
    "random": evaluate(RandomAgent(eval_env.action_space, seed=0), eval_env,
                       n_episodes=30, seed=1000).as_dict(),
}
print("TensorBoard:", f"tensorboard --logdir {config.logdir}")
pd.DataFrame(rows).T[["success_rate", "mean_length", "env_steps"]]""",
    ),
    (
        "md",
        """With about 3,000 steps PPO learns to take the proposer's consensus step and solves
~0.9 of the tasks (random picks: ~0.05). Harder settings — `"rank": "shuffle"` (no
ordering hint), an LLM proposer (`"proposer": "llm:smollm2"`) or shaping on top
(`gym.make(..., view=..., shaping=...)`; the view is applied before the shapers) — are
where the reward modules of the next notebooks come in.""",
    ),
]


if __name__ == "__main__":
    write(CELLS, Path(__file__).with_name("03_language_reasoning.ipynb"))
