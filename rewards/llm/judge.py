"""The ``llm_judge`` shaper: subgoal credit from an LLM (CALM).

The LLM splits the task into subgoals once per task; every step's text is judged
against the subgoals still open in the episode (answers cached by caption, in memory
and on disk); each subgoal pays ``coef`` once per episode.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import gymnasium as gym

from densegym.rewards.core import ShapedReward, Transition
from densegym.rewards.llm.labels import (
    LabelCache,
    ask_choice,
    claim_usage,
    default_cache_path,
    llm_health,
)
from densegym.rewards.llm.text import step_text

logger = logging.getLogger(__name__)

DECOMPOSE_PROMPT = (
    "Task: {goal}\nBreak this task into {n} short subgoals an agent reaches in order. "
    "Answer with a numbered list, one subgoal per line."
)
JUDGE_PROMPT = (
    "Subgoal: {subgoal}\nWhat the agent now sees: {text}\n"
    "Has the agent achieved the subgoal? Answer yes or no."
)
_ITEM = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s*(.+?)\s*$")


def parse_subgoals(text: str, limit: int) -> list[str]:
    r"""Numbered or bulleted lines of an answer, as subgoals.

    Example:
        >>> parse_subgoals("Sure:\n1. Find the key.\n2) Open the door\n- Reach >", 5)
        ['Find the key.', 'Open the door', 'Reach >']
    """
    items = [m.group(1) for m in map(_ITEM.match, text.splitlines()) if m and m.group(1)]
    return [item[:200] for item in items if len(item) > 2][:limit]


class LLMJudgeBonus(ShapedReward):
    """Subgoal credit from an LLM (CALM): each achieved subgoal pays once per episode.

    Subgoals come from ``subgoals`` when given, else from one LLM call per task
    (falling back to the task's goal itself when the answer lists none). Judging is a
    yes/no question per open subgoal and new caption, batched in one LLM call and
    cached; an LLM failure judges "no", sets ``info["<term>_error"]`` and is logged.
    ``info["<term>_achieved"]`` lists the subgoals reached this episode. A server that
    keeps failing trips its backend's circuit breaker: the term pays 0 without calling
    it, ``info["<term>_disabled"]`` is set, and it is tried again after the cool-down.
    ``info["<term>_stats"]`` counts errors, breaker and label-cache failures
    (:func:`~densegym.rewards.llm.labels.llm_health`); a broken cache file only turns
    the cache off.

    Args:
        env: environment to wrap.
        backend: ``densegym.llm`` spec (default ``"smollm2"``).
        subgoals: fixed subgoals (skips the decomposition call).
        n_subgoals: how many subgoals to ask for.
        cache: ``True`` (default SQLite file), a path, or ``False``.
        coef, normalize, clip, name: see :class:`~densegym.rewards.ShapedReward`.

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/MountainCarSparse-v0", shaping={
        ...     "id": "llm_judge", "backend": "tiny-random", "cache": False,
        ...     "subgoals": ["Reach the flag"]})
        >>> _ = env.reset(seed=0)
        >>> info = env.step(2)[4]
        >>> info["reward_terms"]["llm_judge"] in (0.0, 1.0), info["llm_judge_subgoals"]
        (True, ['Reach the flag'])
    """

    registry_name = "llm_judge"
    requires = ("HasTask",)

    def __init__(
        self,
        env: gym.Env,
        *,
        backend: str = "smollm2",
        subgoals: list[str] | None = None,
        n_subgoals: int = 3,
        cache: bool | str = True,
        coef: float = 1.0,
        normalize: bool = False,
        clip: float | tuple[float, float] | None = None,
        name: str | None = None,
    ):
        self._record_args(locals())
        super().__init__(env, coef=coef, normalize=normalize, clip=clip, name=name)
        from densegym.llm.loading import check_spec

        check_spec(backend)  # a bad spec fails here, not inside step
        self.backend_spec = backend
        self.task = dict(env.unwrapped.task or {})
        self.goal = str(self.task.get("goal", self.task.get("id", "the task")))
        self.n_subgoals = int(n_subgoals)
        self.cache = None
        if cache:
            self.cache = LabelCache(default_cache_path() if cache is True else Path(cache))
        self.subgoals: list[str] | None = list(subgoals) if subgoals else None
        self.llm: Any = None
        self.judgements: dict[tuple[str, str], bool] = {}
        self.open: set[int] = set()
        self.achieved: list[str] = []
        self.errors = 0

    def _backend(self) -> Any:
        if self.llm is None:
            import densegym.llm

            self.llm = densegym.llm.load(self.backend_spec, shared=True)
        return self.llm

    def decompose(self) -> list[str]:
        """The task's subgoals (one LLM call per task, cached on disk)."""
        if self.subgoals is not None:
            return self.subgoals
        llm = self._backend()
        prompt = DECOMPOSE_PROMPT.format(goal=self.goal, n=self.n_subgoals)
        key = LabelCache.key(llm.name, prompt, "subgoals")
        stored = self.cache.get_json(key) if self.cache is not None else None
        if stored is None:
            try:
                answer = llm.chat([{"role": "user", "content": prompt}], max_tokens=96)[0].text
                stored = parse_subgoals(answer, self.n_subgoals)
            except Exception as error:  # noqa: BLE001 - fall back to the goal itself
                self._error(f"decomposition failed: {type(error).__name__}: {error}")
                stored = []
            if self.cache is not None and stored:
                self.cache.put_json(key, stored)
        self.subgoals = stored or [self.goal]
        return self.subgoals

    def _error(self, text: str) -> None:
        self.errors += 1
        if self.errors == 1:
            logger.warning("%s: %s; judged 'no' and going on", self.term_name, text)

    def on_reset(self, obs: Any, info: dict[str, Any]) -> None:
        """Open every subgoal for the new episode."""
        self.open = set(range(len(self.decompose())))
        self.achieved = []

    def judge(self, text: str, indices: list[int]) -> dict[int, bool]:
        """Whether ``text`` shows each subgoal of ``indices`` achieved (cached)."""
        subgoals = self.decompose()
        todo = [i for i in indices if (subgoals[i], text) not in self.judgements]
        if todo:
            llm = self._backend()
            prompts = {i: JUDGE_PROMPT.format(subgoal=subgoals[i], text=text) for i in todo}
            keys = {
                i: LabelCache.key(llm.name, JUDGE_PROMPT, subgoals[i] + "\x1e" + text) for i in todo
            }
            cached = self.cache.get_many(list(keys.values())) if self.cache is not None else {}
            ask = [i for i in todo if keys[i] not in cached]
            answers: dict[int, float | None] = {
                i: cached[keys[i]] for i in todo if keys[i] in cached
            }
            if ask:
                try:
                    values = ask_choice(llm, [prompts[i] for i in ask])
                except Exception as error:  # noqa: BLE001 - a dead LLM must not stop training
                    self._error(f"judging failed: {type(error).__name__}: {error}")
                    return {i: False for i in indices}
                answers.update(zip(ask, values))
                if self.cache is not None:
                    self.cache.put_many({keys[i]: v for i, v in zip(ask, values) if v is not None})
            for i in todo:
                self.judgements[(subgoals[i], text)] = bool(answers.get(i))
        return {i: self.judgements[(subgoals[i], text)] for i in indices}

    def reward_term(self, transition: Transition) -> float:
        """Pay 1 for each open subgoal the step's text shows achieved (once per episode)."""
        info = transition.info
        text = step_text(self.task, transition.next_obs, info)
        errors_before = self.errors
        paid = 0
        if text is not None and self.open:
            for index, done in self.judge(text, sorted(self.open)).items():
                if done:
                    self.open.discard(index)
                    self.achieved.append(self.decompose()[index])
                    paid += 1
        if self.errors > errors_before:
            info[f"{self.term_name}_error"] = True
        health = llm_health(self.llm, self.cache)
        if health["llm_disabled"]:
            info[f"{self.term_name}_disabled"] = True
        info[f"{self.term_name}_stats"] = {"errors": self.errors, **health}
        info[f"{self.term_name}_subgoals"] = list(self.decompose())
        info[f"{self.term_name}_achieved"] = list(self.achieved)
        if self.llm is not None:
            delta = claim_usage(self.llm)  # the backend is shared: count its calls once
            if delta["calls"]:
                record = info.setdefault("llm_usage", {"tokens": 0.0, "calls": 0.0})
                record["tokens"] = record.get("tokens", 0.0) + delta["tokens"]
                record["calls"] = record.get("calls", 0.0) + delta["calls"]
        return float(paid)
