"""Agents for ``benchmarks/web.py``'s agents section: a greedy LLM and a web ``q_select``.

* :class:`GreedyLLM` — :class:`densegym.agents.llm.LLMPolicy` (greedy decoding) on the
  shop's text observation, with the page's grounded candidate actions listed under it
  (the ids and queries an agent could read off the page); a reply that names a
  candidate is sent as that candidate, any other reply is sent as it is (the env flags
  it invalid). Tokens are the policy's ``usage``.
* :class:`WebQSelect` — Step-Q's rule on the text driver: propose ``k`` grounded
  candidates, value each by one step on a clone of the env (``env.clone()`` +
  ``set_state``), take the best. Two valuations:

  - ``"honest"``: only the text the agent would see next — the share of the
    instruction's words found on the next page's title and checked options (results
    pages count half, via their query; a purchase counts the receipt page), minus
    0.3 for a page already seen this episode; the env's score is never read.
  - ``"simulator"``: **privileged**, not a fair agent — the env's purchase stage
    (``shop_progress``, which knows the target) after the step, or the WebShop score
    when the step buys. Still one step deep, so myopic: a partly right purchase can
    outvalue the next stage (level 3 shows it), so it is not an upper bound.

Example:
    >>> from densegym.envs.web import WebShopEnv
    >>> env = WebShopEnv(difficulty=1)
    >>> _ = env.reset(seed=1000)
    >>> agent = WebQSelect(scorer="simulator", k=8)
    >>> row = run_episode(env, 1000, agent)
    >>> row["success"], row["tokens"]
    (True, 0)
    >>> env.close()
"""

from __future__ import annotations

import re
from typing import Any

WEB_SYSTEM = (
    "You are shopping on a web site for the item the instruction describes. Each turn you "
    "see the page and a numbered list of possible actions. Reply with exactly one action "
    "copied from the list and nothing else. First search, then open a matching item, "
    "then choose the options the instruction asks for, then buy."
)
_STOP = set(
    "please buy a an the i im need want looking for with and of in to that is it my me "
    "color colour size price under lower than dollars dollar less get find".split()
)
_WORD = re.compile(r"[a-z0-9]+")


def instruction_words(obs: str) -> set[str]:
    """The content words of an observation's instruction line (no prices, no fillers).

    Example:
        >>> sorted(instruction_words("Instruction: please buy a red sofa, price under 90.00"))
        ['red', 'sofa']
    """
    line = obs.splitlines()[0] if obs else ""
    words = _WORD.findall(line.lower().removeprefix("instruction:"))
    return {w for w in words if w not in _STOP and not w.isdigit()}


def page_value(obs: str, wanted: set[str]) -> float:
    """Share of ``wanted`` on a page's title and checked options (see the module docs).

    Example:
        >>> lines = ["Instruction: x", "Page: Red Sofa", '[3] radio "large" (checked) #o']
        >>> page = chr(10).join([*lines, '[4] radio "small" #p', '[5] link "Buy" #buy-now'])
        >>> page_value(page, {"red", "sofa", "large", "oak"})
        0.75
    """
    if not wanted:
        return 0.0
    lines = obs.splitlines()[1:]
    title = lines[0].removeprefix("Page: ") if lines else ""
    if title.startswith("Thank you"):
        text, weight = " ".join(lines), 1.0
    elif title.startswith("Results:"):
        text, weight = title.removeprefix("Results:"), 0.5
    elif any("#buy-now" in line for line in lines):
        checked = [line for line in lines if "(checked)" in line]
        text, weight = " ".join([title, *checked]), 1.0
    else:
        return 0.0
    found = wanted & set(_WORD.findall(text.lower()))
    return weight * len(found) / len(wanted)


class GreedyLLM:
    """Greedy LLM choice of the next action (see the module docs).

    Args:
        backend: an LLM spec for :class:`~densegym.agents.llm.LLMPolicy` (``"smollm2"``).
        k: grounded candidates listed under the page.
        max_tokens: most tokens generated per step.
    """

    def __init__(self, backend: Any = "smollm2", k: int = 8, max_tokens: int = 16):
        from densegym.agents.llm import LLMPolicy

        self.k = int(k)
        self.policy = LLMPolicy(backend, shots=0, max_tokens=max_tokens, system=WEB_SYSTEM)
        self.unmatched = 0

    @property
    def tokens(self) -> int:
        """Prompt plus generated tokens so far."""
        return int(self.policy.usage.tokens)

    @property
    def calls(self) -> int:
        """LLM calls so far."""
        return int(self.policy.usage.calls)

    def __call__(self, env: Any) -> str:
        """The next action for the page ``env`` shows."""
        cands = env.candidate_actions(self.k)
        listed = "\n".join(f"{i}. {cand}" for i, cand in enumerate(cands, 1))
        text = f"{env.observation()}\n\nPossible actions:\n{listed}"
        reply = self.policy(text).strip()
        for cand in cands:
            if cand == reply or cand in reply:
                return cand
        number = re.match(r"\D{0,12}?(\d+)", reply)
        if number and 1 <= int(number.group(1)) <= len(cands):
            return cands[int(number.group(1)) - 1]
        self.unmatched += 1
        return reply or "click[none]"


class WebQSelect:
    """Step-level Q selection among ``k`` grounded candidates (text driver; see module docs).

    Args:
        scorer: ``"honest"`` or ``"simulator"`` (privileged; see the module docs).
        k: candidates proposed per step.
        gamma: discount of a non-terminal step's value.
        revisit_cost: value lost by a step to a page already seen this episode
            (``"honest"`` only).
    """

    def __init__(
        self, scorer: str = "honest", k: int = 8, gamma: float = 0.9, revisit_cost: float = 0.3
    ):
        if scorer not in ("honest", "simulator"):
            raise ValueError(f"scorer is 'honest' or 'simulator', got {scorer!r}")
        self.scorer, self.k, self.gamma, self.revisit_cost = scorer, int(k), gamma, revisit_cost
        self.tokens = 0  # grounded proposer: no LLM
        self.simulated_steps = 0
        self._seen: set[str] = set()
        self._episode: object = None

    def _value(self, sim: Any, obs: str, done: bool, info: dict[str, Any], wanted: set[str]):
        if self.scorer == "simulator":
            return float(info["score"]) if done else self.gamma * sim.shop_progress()
        page = obs.split("\n", 1)[-1]
        value = page_value(obs, wanted)
        if done:
            return value
        return self.gamma * value - (self.revisit_cost if page in self._seen else 0.0)

    def __call__(self, env: Any) -> str:
        """The best-valued candidate for the page ``env`` shows."""
        obs = env.observation()
        task = id(env.task)
        if task != self._episode:  # a new episode: forget the pages seen
            self._episode, self._seen = task, set()
        self._seen.add(obs.split("\n", 1)[-1])
        cands = env.candidate_actions(self.k)
        if len(cands) == 1:
            return cands[0]
        wanted = instruction_words(obs)
        state, values = env.get_state(), []
        sim = env.clone()
        try:
            for cand in cands:
                sim.set_state(state)
                next_obs, _, terminated, truncated, info = sim.step(cand)
                self.simulated_steps += 1
                values.append(self._value(sim, next_obs, terminated or truncated, info, wanted))
        finally:
            sim.close()
        return cands[max(range(len(cands)), key=values.__getitem__)]


def run_episode(env: Any, seed: int, pick: Any, max_steps: int = 40) -> dict[str, Any]:
    """One episode of ``pick`` (env -> action) on task ``seed``: success, score, steps, tokens."""
    env.reset(seed=seed)
    before = int(getattr(pick, "tokens", 0))
    steps, info = 0, {}
    while True:
        _, _, terminated, truncated, info = env.step(pick(env))
        steps += 1
        if terminated or truncated or steps >= max_steps:
            break
    return {
        "success": bool(info["is_success"]),
        "score": float(info["score"]),
        "steps": steps,
        "tokens": int(getattr(pick, "tokens", 0)) - before,
        "invalid": int(info.get("n_invalid", 0)),
    }
