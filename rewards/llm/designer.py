r"""The reward designer: prompts an LLM for reward code and turns its answers into source.

Two prompt styles. ``"menu"`` (the default for small models, after "Language to
Rewards"): the model picks terms and weights from a menu of named features and answers
``name: weight`` lines, which :func:`~densegym.rewards.llm.features.compose_code` turns
into code. ``"code"`` (for capable models, after Eureka / Text2Reward): the model writes
``reward(obs, action, next_obs, info)`` itself.

Example:
    >>> menu = [Feature("height", "float(next_obs[0])", "height")]
    >>> parse_weights("height: 2.5\nspeed: 1\n", menu)
    {'height': 2.5}
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from typing import Any

from densegym.rewards.llm.features import Feature, compose_code

MAX_WEIGHT = 10.0
_WEIGHT_LINE = re.compile(
    r"^[\s\-*\d.)]*`?([A-Za-z_][A-Za-z0-9_]*)`?\s*[:=]\s*([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)"
)
_CODE_BLOCK = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.DOTALL)

SYSTEM = "You are an expert in reinforcement learning who designs dense reward functions."


@dataclass
class Candidate:
    """One proposed reward function and what became of it.

    Attributes:
        code: the Python source.
        source: ``"menu"`` (weights parsed from the model), ``"code"`` (model-written
            code) or ``"fallback"`` (the answer had no usable weights; random menu weights).
        response: the model's raw answer.
        weights: the menu weights, for menu and fallback candidates.
        verdict: the critic's verdict (filled in later).
        fitness: extrinsic success of its training run (filled in later).
        stats: training statistics (filled in later).
        path: where the code was saved (filled in later).
    """

    code: str
    source: str
    response: str = ""
    weights: dict[str, float] | None = None
    verdict: Any = None
    fitness: float | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    path: str | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-ready record of this candidate."""
        return {
            "source": self.source,
            "weights": self.weights,
            "accepted": bool(self.verdict and self.verdict.accepted),
            "verdict": self.verdict.reason if self.verdict else None,
            "fitness": self.fitness,
            "stats": self.stats,
            "path": self.path,
        }


def default_style(backend_name: str) -> str:
    """``"code"`` for remote or user-supplied models, ``"menu"`` for the small local ones."""
    return "code" if backend_name.startswith(("openai:", "hf:")) else "menu"


def describe_task(task: dict[str, Any]) -> str:
    """The task in words plus a compact schema of what the reward may read."""
    parts = [f"Task: {task.get('goal', task.get('id', 'unknown'))}"]
    for key in ("observation", "actions", "info"):
        if task.get(key):
            parts.append(f"{key.capitalize()}: {json.dumps(task[key], default=str)}")
    return "\n".join(parts)


def _reflection(best: Candidate | None) -> str:
    if best is None or best.fitness is None:
        return ""
    stats = best.stats
    text = [
        "",
        f"The best reward so far reached a success rate of {best.fitness:.2f}.",
    ]
    if best.weights:
        text.append("Its weights: " + ", ".join(f"{k}: {v:g}" for k, v in best.weights.items()))
    else:
        text.append("Its code:\n" + best.code)
    if stats.get("term_means"):
        means = ", ".join(f"{k} {v:.3g}" for k, v in stats["term_means"].items())
        text.append(f"Per-episode reward terms (mean): {means}.")
    if stats.get("success_curve"):
        text.append(
            "Success rate during training: "
            + ", ".join(f"{v:.2f}" for v in stats["success_curve"])
            + "."
        )
    text.append("Propose a better reward.")
    return "\n".join(text)


def menu_prompt(task: dict[str, Any], menu: list[Feature], best: Candidate | None = None) -> str:
    """The structured prompt: choose features and weights from ``menu``."""
    lines = [
        describe_task(task),
        "",
        "Design a dense reward that helps an agent learn this task. Choose 2 to 4 features "
        f"from this menu and give each a weight between -{MAX_WEIGHT:g} and {MAX_WEIGHT:g}:",
    ]
    lines += [f"- {f.name}: {f.description}" for f in menu]
    lines.append(_reflection(best))
    lines.append("Answer with one line per feature, `name: weight`, and nothing else.")
    return "\n".join(line for line in lines if line is not None)


def code_prompt(task: dict[str, Any], best: Candidate | None = None) -> str:
    """The free-form prompt: write the reward function."""
    return "\n".join(
        [
            describe_task(task),
            "",
            "Write a Python function `reward(obs, action, next_obs, info) -> float` that "
            "gives a dense reward for making progress on this task. Use only `math`, "
            "`numpy as np` and the arguments; no other imports, no I/O, no classes, "
            "no try/except, no attributes starting with an underscore.",
            _reflection(best),
            "Reply with one ```python code block.",
        ]
    )


def parse_weights(text: str, menu: list[Feature]) -> dict[str, float]:
    """Read ``name: weight`` lines for features of ``menu``; weights are clipped."""
    names = {f.name for f in menu}
    weights: dict[str, float] = {}
    for line in text.splitlines():
        match = _WEIGHT_LINE.match(line)
        if match and match.group(1) in names and match.group(1) not in weights:
            value = float(match.group(2))
            if value != 0.0:
                weights[match.group(1)] = max(-MAX_WEIGHT, min(MAX_WEIGHT, value))
    return dict(list(weights.items())[:6])


def extract_code(text: str) -> str:
    r"""The code in the answer's first fenced block (or the answer itself).

    Example:
        >>> extract_code("Here:\n```python\ndef reward(o, a, n, i):\n    return 1.0\n```")
        'def reward(o, a, n, i):\n    return 1.0\n'
    """
    match = _CODE_BLOCK.search(text)
    return match.group(1) if match else text.strip() + "\n"


def random_weights(menu: list[Feature], rng: random.Random) -> dict[str, float]:
    """2–3 menu features with random weights (the fallback for unusable answers)."""
    chosen = rng.sample(menu, k=min(len(menu), rng.randint(2, 3)))
    return {f.name: round(rng.uniform(0.5, MAX_WEIGHT), 2) for f in chosen}


def menu_candidate(response: str, menu: list[Feature], rng: random.Random) -> Candidate:
    """Turn a menu answer into a candidate (random weights if it names no feature)."""
    weights = parse_weights(response, menu)
    source = "menu"
    if not weights:
        weights, source = random_weights(menu, rng), "fallback"
    note = f"densegym llm_code candidate ({source}); weights chosen from the feature menu"
    return Candidate(compose_code(weights, menu, note), source, response, weights)


def propose(
    llm: Any,
    task: dict[str, Any],
    menu: list[Feature],
    k: int,
    style: str,
    best: Candidate | None = None,
    *,
    temperature: float = 0.8,
    max_tokens: int | None = None,
    seed: int = 0,
) -> list[Candidate]:
    """Ask ``llm`` for ``k`` candidates in one batched chat call."""
    if style not in ("menu", "code"):
        raise ValueError(f"prompt style must be 'menu' or 'code', got {style!r}")
    prompt = menu_prompt(task, menu, best) if style == "menu" else code_prompt(task, best)
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
    tokens = max_tokens or (64 if style == "menu" else 400)
    completions = llm.chat(messages, n=k, max_tokens=tokens, temperature=temperature, seed=seed)
    rng = random.Random(seed)
    candidates = []
    for completion in completions:
        if style == "menu":
            candidates.append(menu_candidate(completion.text, menu, rng))
        else:
            candidates.append(Candidate(extract_code(completion.text), "code", completion.text))
    return candidates
