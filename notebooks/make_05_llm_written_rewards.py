"""Write ``05_llm_written_rewards.ipynb``: ``python notebooks/make_05_llm_written_rewards.py``.

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
        """# 05 — LLM-written rewards: reward code, LLM feedback and the critic

densegym's `rewards.llm` package turns a language model into reward modules:

- **`llm_code`** (Eureka, Text2Reward, Auto MC-Reward): the LLM writes a function
  `reward(obs, action, next_obs, info)`; a **critic** rejects code that breaks the
  allow-list, errors, returns non-finite or constant values; each survivor is scored by
  a short PPO run, and the best is saved to a file. The file is then used as data:
  `shaping={"id": "llm_code", "path": ...}`. The code only ever runs in a sandboxed
  worker process.
- **`llm_feedback`** (ONI, Motif): captions of the states the agent visits go to a
  background annotator that asks the LLM "is this helpful for the task?"; a small
  classifier distils the answers and its score is the bonus. `step` never waits for the
  LLM.

This notebook runs one round of reward design on `MountainCarSparse` with the embedded
SmolLM2-135M-Instruct, shows the critic's verdicts and the chosen code, trains PPO with
it, and then looks at `llm_feedback`'s labels and its distilled model's scores.

`DENSEGYM_NOTEBOOK_TINY=1` swaps SmolLM2 for a random miniature model (the test suite
sets it); `DENSEGYM_NOTEBOOK_STEPS` sets the PPO budget.""",
    ),
    (
        "code",
        """import os
import tempfile
from pathlib import Path

import gymnasium as gym
import pandas as pd
import torch
from IPython.display import Image, display

import densegym
import densegym.llm
from densegym.agents.reward_design import design_reward
from densegym.agents.sb3.plotting import plot_success
from densegym.agents.runs import RunConfig, RunRecord, train
from densegym.rewards.llm import critique, sample_transitions
from densegym.rewards.llm.designer import menu_prompt
from densegym.rewards.llm.features import feature_menu
from densegym.rewards.potential import get_potential

torch.set_num_threads(1)
TINY = os.environ.get("DENSEGYM_NOTEBOOK_TINY") == "1"
STEPS = int(os.environ.get("DENSEGYM_NOTEBOOK_STEPS", "60000"))
BACKEND = "tiny-random" if TINY else "smollm2"
K = 2 if TINY else 3  # candidates in the design round
DESIGN_BUDGET = STEPS // 2 if TINY else STEPS  # PPO steps that score each candidate
ENV_ID = "densegym/MountainCarSparse-v0"
# PPO overrides that let PPO learn MountainCar at all (see benchmarks/README.md).
PPO = {"ent_coef": 0.01, "learning_rate": 1e-3}
pd.set_option("display.width", 160)
pd.set_option("display.max_colwidth", 100)
WORK = Path(tempfile.mkdtemp(prefix="densegym-nb05-"))
print(densegym.__version__, "| model:", BACKEND, "| PPO budget:", STEPS, "| work dir:", WORK)""",
    ),
    (
        "md",
        """## What the designer sees
The env's `task` dict is the designer's input: the goal in words and a compact schema of
the observation and `info` fields (Text2Reward's "compact representation"). For a small
model the default prompt is **structured**: it picks features from a menu and gives each
a weight (as in "Language to Rewards"); `compose_code` turns the answer into code. Large
models (`hf:`/`openai:` backends) get the free-form prompt and write the code
themselves.""",
    ),
    (
        "code",
        """task = gym.make(ENV_ID).unwrapped.task
menu = feature_menu(task)
print(menu_prompt(task, menu))""",
    ),
    (
        "md",
        """## The critic
Before any candidate costs a training run, the critic checks it: the AST allow-list
(only `math`, `numpy` and the arguments; no I/O, no dunders, no `eval`), then a run on
transitions a random policy collected, in the sandbox. Here it judges a few hand-written
functions.""",
    ),
    (
        "code",
        """HEADER = "def reward(obs, action, next_obs, info):\\n"
examples = {
    "energy gain (good)": "import math\\n\\n" + HEADER
    + "    def energy(o):\\n"
    + "        return 0.5 * float(o[1]) ** 2 + 0.0025 / 3 * math.sin(3 * float(o[0]))\\n"
    + "    return 1000 * (energy(next_obs) - energy(obs))\\n",
    "constant": HEADER + "    return 1.0\\n",
    "reads the disk": "import os\\n\\n" + HEADER + "    return float(len(os.listdir('.')))\\n",
    "dunder walk": HEADER + "    return float(len(().__class__.__bases__[0].__subclasses__()))\\n",
    "NaN": HEADER + "    return float('nan')\\n",
    "crashes": HEADER + "    return float(next_obs[5])\\n",
}
transitions = sample_transitions(ENV_ID, n=128, seed=0)
verdicts = {name: critique(code, transitions) for name, code in examples.items()}
pd.DataFrame(
    {"code": name, "accepted": v.accepted, "reason": v.reason[:80]}
    for name, v in verdicts.items()
)""",
    ),
    (
        "md",
        """## One round of reward design
`design_reward` asks the model for `K` candidates in one batched call, has the critic
judge each, trains PPO briefly with every accepted one (fitness = extrinsic success;
extrinsic return breaks ties) and saves the winner. With more `rounds`, the next
round's prompt carries the best candidate and its training statistics (Eureka's
reflection). Each candidate's training run is a TensorBoard run under `WORK/design`.""",
    ),
    (
        "code",
        """result = design_reward(
    ENV_ID,
    rounds=1,
    k=K,
    backend=BACKEND,
    budget=DESIGN_BUDGET,
    out=WORK / "reward_mountaincar.py",
    logdir=WORK / "design",
    hyperparams=PPO,
    progress=False,
)
pd.DataFrame(
    {
        "source": c["source"],
        "weights": c["weights"],
        "critic": c["verdict"],
        "success (fitness)": c["fitness"],
    }
    for c in result.candidates
)""",
    ),
    (
        "md",
        """`source` says where a candidate's weights came from: `menu` when the model's answer
named features with weights, `fallback` when it named none and random menu weights
stood in (the 135M model often answers in prose; the selection by training then does
the work). The winner, as saved:""",
    ),
    (
        "code",
        """print(Path(result.path).read_text())
print("design cost:", {k: round(v, 1) for k, v in result.llm_usage.items()})""",
    ),
    (
        "md",
        """## Training with the chosen code
The saved file is the shaping spec's only argument, so the env spec stays
serialisable. PPO with the designed reward against PPO on the sparse reward alone:""",
    ),
    (
        "code",
        """spec = {"id": "llm_code", "path": str(Path(result.path).resolve())}
runs = {"sparse": None, "llm_code": spec}
summaries, curves = {}, []
for label, shaping in runs.items():
    config = RunConfig(
        ENV_ID,
        shaping=shaping,
        steps=STEPS,
        n_envs=4,
        seed=0,
        logdir=str(WORK / "runs"),
        log_every=max(STEPS // 20, 256),
        hyperparams=PPO,
    )
    summary = train(config, progress=False)
    summaries[label] = summary
    curve = RunRecord.load(summary["run_dir"]).curve.assign(shaping=label, seed=0)
    curves.append(curve)
display(Image(str(plot_success(pd.concat(curves), WORK / "success.png", title=ENV_ID))))
pd.DataFrame(summaries).T[["timesteps", "success_rate", "extrinsic_return", "env_steps_per_s"]]""",
    ),
    (
        "md",
        """## `llm_feedback`: labels from the LLM, distilled into a classifier
A pumping policy with some random actions drives the car for a while; every new
caption (MountainCar's position and velocity, rounded) is queued for the annotator.
`wait_for_labels` blocks until the queue is empty — only notebooks and tests do that; in
training the labels arrive in the background and `step` only reads the classifier.
Labels are cached in SQLite keyed by backend, prompt and caption, so a second run pays
nothing.""",
    ),
    (
        "code",
        """from densegym.rewards.llm.feedback import LLMFeedbackBonus

env = gym.make(
    ENV_ID,
    shaping={"id": "llm_feedback", "backend": BACKEND, "model": "cls",
             "cache": str(WORK / "labels.sqlite")},
)
shaper = env
while not isinstance(shaper, LLMFeedbackBonus):
    shaper = shaper.env
env.action_space.seed(0)
obs, info = env.reset(seed=0)
for step in range(60 if TINY else 160):
    # Mostly push along the velocity (pumps energy, so the captions reach the flag).
    pump = 2 if obs[1] >= 0 else 0
    action = pump if step % 4 else env.action_space.sample()
    obs, reward, terminated, truncated, info = env.step(action)
    if terminated or truncated:
        obs, info = env.reset()
print("queued:", info["llm_feedback_stats"])
shaper.wait_for_labels(timeout=300)
print("after waiting:", shaper.annotator.stats)

energy = get_potential("mountaincar_energy")


def rule(caption: str) -> bool:
    \"\"\"Hand rule: the car holds at least half the energy it needs for the flag.\"\"\"
    position, velocity = (float(part.split()[1]) for part in caption.split(", "))
    return energy(None, (position, velocity)) >= 0.5


labels = pd.DataFrame(shaper.annotator.results, columns=["caption", "llm says helpful"])
labels["hand rule"] = labels["caption"].map(rule)
agreement = (labels["llm says helpful"] == labels["hand rule"]).mean()
print(f"{len(labels)} labels, {labels['llm says helpful'].mean():.0%} 'yes',",
      f"agreement with the hand rule {agreement:.0%}")
labels.iloc[:: max(len(labels) // 8, 1)]  # a spread along the trajectory""",
    ),
    (
        "md",
        """The distilled `cls` model (logistic regression over hashed word and character
n-grams) scores any caption in microseconds, labelled or not — this score, times the
shaper's `coef`, is the bonus:""",
    ),
    (
        "code",
        """captions = [
    "position -0.52, velocity 0.00",  # at rest in the valley
    "position -1.10, velocity 0.02",  # high on the left hill, turning back
    "position 0.20, velocity 0.05",  # climbing the right hill fast
    "position 0.45, velocity 0.03",  # just below the flag
    "position 0.52, velocity 0.01",  # at the flag
]
pd.DataFrame(
    {"caption": captions, "hand rule": [rule(c) for c in captions],
     "model score": shaper.model.score(captions).round(3)}
)""",
    ),
    (
        "code",
        """env.close()""",
    ),
    (
        "md",
        """## What to expect from a 135M model
SmolLM2-135M rarely follows the menu format (most candidates are `fallback`s, so the
design round is close to a random search over menu weights that the critic and the
training runs filter), and its yes/no labels barely track the hand rule.
`benchmarks/README.md` ("LLM-written rewards") has the measurements over 3 seeds. The
same code runs with a stronger model by changing one string: `backend="hf:<path>"` (a
local transformers model, GPU when present) or `"openai:<model>@<url>"` (vLLM,
llama.cpp, Ollama), where the designer switches to free-form code.""",
    ),
]


if __name__ == "__main__":
    write(CELLS, Path(__file__).with_name("05_llm_written_rewards.ipynb"))
