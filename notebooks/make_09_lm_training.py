"""Write ``09_lm_training.ipynb``: ``python notebooks/make_09_lm_training.py``.

The notebook is generated so that its cells stay reviewable as plain Python; the test
suite executes the ``.ipynb`` with ``DENSEGYM_NOTEBOOK_STEPS=1024`` and
``DENSEGYM_NOTEBOOK_TINY=1`` (the ``tiny-random`` model instead of SmolLM2, a few
seconds of training).
"""

from __future__ import annotations

from pathlib import Path

from nbbuild import write

CELLS: list[tuple[str, str]] = [
    (
        "md",
        """# 09 — Fine-tuning a language model with dense step rewards

densegym's text envs pay a reward per step through the same `shaping=` specs SB3 runs use
(`pav`, `prm`, `implicit_prm`, guards...). The `lm:grpo` and `lm:rloo` trainers fine-tune a
`densegym.llm` model on such an env: each iteration samples a group of rollouts of one task
with the model being trained (one generated line per env step; observation tokens are never
in the loss), turns the step rewards into token advantages, and takes a clipped GRPO step.

This notebook shows the advantage modes on a hand-sized example, trains and **resumes** a
run, and trains an `lm:rloo` run with LoRA adapters. `DENSEGYM_NOTEBOOK_TINY=1` swaps
SmolLM2 for a random miniature model (the test suite sets it): the mechanics are the same,
the learning is not.""",
    ),
    (
        "code",
        """import os
import tempfile

import pandas as pd

import densegym
from densegym.agents.llm.lm_advantages import step_advantages
from densegym.agents.runs import RunConfig, RunRecord, resume_run, train
from densegym.agents.runs.record import list_checkpoints

TINY = os.environ.get("DENSEGYM_NOTEBOOK_TINY") == "1"
MODEL = "tiny-random" if TINY else "smollm2"
STEPS = 8 if TINY else 400  # env steps (generated lines) per run
HP = {"model": MODEL, "group_size": 2 if TINY else 8, "max_new_tokens": 6 if TINY else 32,
      "max_episode_steps": 2 if TINY else 8, "learning_rate": 1e-3 if TINY else 1e-5,
      "shots": 1, "save_model": False}
LOGDIR = tempfile.mkdtemp(prefix="densegym-nb09-")
print(densegym.__version__, MODEL, STEPS, "env steps per run")""",
    ),
    (
        "md",
        """## From step rewards to advantages
Three rollouts of one task, three steps each. Every step reward is the task's outcome (the
`extrinsic` term) plus what the shaping paid (`pav` progress, say): rollout A solves the task
and makes progress at steps 1 and 2, B fails and loses progress, C does nothing.

* `outcome` — plain GRPO: the outcome normalised in the group, the same on every step;
* `process` — DeepSeekMath's process supervision: all step rewards normalised together, each
  step gets the sum from itself on (`process_weight` mixes in the outcome advantage);
* `pav` — the outcome advantage plus the progress still to come;
* `rloo` (`lm:rloo`) — the return minus the mean of the *other* rollouts' returns.""",
    ),
    (
        "code",
        """rewards = [[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0], [0.0, 0.0, 0.0]]
outcome = [[0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [0.0, 0.0, 0.0]]
rows = {}
for mode in ("outcome", "process", "pav", "rloo"):
    for name, steps in zip("ABC", step_advantages(mode, rewards, outcome)):
        rows[(mode, name)] = [round(a, 3) for a in steps]
rows[("process w=0.5", "A")] = [round(a, 3) for a in step_advantages(
    "process", rewards, outcome, process_weight=0.5)[0]]
pd.DataFrame(rows, index=["step 1", "step 2", "step 3"]).T""",
    ),
    (
        "md",
        """With no step rewards at all (every `pav` term zero) the `pav` mode *is* plain GRPO —
`tests/agents/test_lm_trl_contract.py` checks that, and that our loss equals TRL 1.16's
GRPO loss on the same per-token inputs.

## A run, stopped and resumed
`lm:grpo` with the `pav` progress reward of a noisy-oracle prover. `steps` counts env steps;
a checkpoint (weights, optimizer, RNG streams, curve) is written every
`checkpoint_iterations` iterations and at the end, so the run can be continued to a larger
budget, and continues exactly as if it had never stopped.""",
    ),
    (
        "code",
        """config = RunConfig("densegym/Arithmetic-v0", trainer="lm:grpo",
                   shaping=[{"id": "pav", "prover": "oracle-0.7", "n_rollouts": 4}],
                   steps=STEPS // 2, log_every=1, logdir=LOGDIR,
                   hyperparams={**HP, "advantage": "pav", "checkpoint_iterations": 2})
first = train(config, progress=False)
print("first segment:", first["timesteps"], "env steps,", first["iterations"], "iterations")
print("checkpoints:", [p.name for p in list_checkpoints(config.run_dir)])
resumed = resume_run(config.run_dir, steps=STEPS, progress=False)
print("resumed from", resumed["resumed_from"], "->", resumed["timesteps"], "env steps,",
      resumed["generated_tokens"], "generated tokens")
RunRecord.load(config.run_dir).curve.tail()""",
    ),
    (
        "md",
        """## RLOO with LoRA adapters
`lm:rloo` shares the rollout loop and the loss; only the advantage differs. `lora_r > 0`
trains LoRA adapters (`peft`, the `lmrl` extra) and keeps the base weights frozen; the KL
reference is then the base model itself (adapters switched off), no copy needed.""",
    ),
    (
        "code",
        """pav = [{"id": "pav", "prover": "oracle-0.7", "n_rollouts": 4}]
rloo = RunConfig("densegym/Arithmetic-v0", trainer="lm:rloo", shaping=pav,
                 steps=STEPS, log_every=1, logdir=LOGDIR,
                 hyperparams={**HP, "lora_r": 4, "kl_coef": 0.05})
summary = train(rloo, progress=False)
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

events = EventAccumulator(str(rloo.run_dir))
events.Reload()
scalars = {tag: [round(e.value, 4) for e in events.Scalars(tag)]
           for tag in ("lm/loss", "lm/kl", "lm/tokens", "episode/success_rate")}
print({k: summary[k] for k in ("trainer", "advantage", "timesteps", "generated_tokens")})
pd.DataFrame(scalars)""",
    ),
    (
        "md",
        """`lm/tokens` counts generated tokens so far; `lm/kl` is the k3 estimate of the KL to
the reference; `reward/<term>` holds each term's episode sum, as in every densegym run.

The question these trainers exist for — does a dense progress reward make LM RL more
sample-efficient than the outcome reward? — is `benchmarks/lm_process_rewards.py`
(`--smoke` checks its mechanics in under a minute; `--budget 100` is the real run).""",
    ),
]


if __name__ == "__main__":
    write(CELLS, Path(__file__).with_name("09_lm_training.ipynb"))
