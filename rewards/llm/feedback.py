"""The ``llm_feedback`` shaper: an intrinsic reward distilled from LLM labels (ONI, Motif).

Captions of visited states go to an asynchronous :class:`~.labels.Annotator`; a reward
model (:mod:`.reward_models`) learns from its labels online; the bonus of every step is
the model's score of the caption. ``step`` never waits for the LLM.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from densegym.rewards.core import LearnedShaper, RunningMeanStd, Transition
from densegym.rewards.llm.labels import (
    Annotator,
    LabelCache,
    claim_usage,
    default_cache_path,
    llm_health,
)
from densegym.rewards.llm.reward_models import make_model
from densegym.rewards.llm.text import step_text

_ANNOTATORS: dict[tuple[Any, ...], list[Any]] = {}  # key -> [annotator, users]
_ANNOTATORS_LOCK = threading.Lock()


def _backend_key(backend: Any) -> Any:
    return backend if isinstance(backend, str) else id(backend)


def acquire_annotator(backend: Any, goal: str, mode: str, batch_size: int, cache: Any) -> Annotator:
    """An annotator shared by every shaper of this process with the same settings."""
    key = (_backend_key(backend), goal, mode, batch_size, str(cache))
    with _ANNOTATORS_LOCK:
        entry = _ANNOTATORS.get(key)
        if entry is None:
            label_cache = None
            if cache:
                label_cache = LabelCache(default_cache_path() if cache is True else Path(cache))
            annotator = Annotator(
                backend, goal, mode=mode, batch_size=batch_size, cache=label_cache
            )
            entry = _ANNOTATORS[key] = [annotator, 0]
        entry[1] += 1
        return entry[0]


def release_annotator(annotator: Annotator) -> None:
    """Give back an annotator; the last user stops its thread."""
    with _ANNOTATORS_LOCK:
        for key, entry in list(_ANNOTATORS.items()):
            if entry[0] is annotator:
                entry[1] -= 1
                if entry[1] <= 0:
                    del _ANNOTATORS[key]
                    annotator.close()
                return


class LLMFeedbackBonus(LearnedShaper):
    """Intrinsic reward distilled from LLM feedback on the agent's own captions (ONI, Motif).

    Each new caption (MiniHack caption + message; a text env's observation; a vector
    env's named fields, rounded) is queued for an LLM label in a background thread:
    ONI's yes/no "is this helpful for the task?" (``model="hash"`` or ``"cls"``) or a
    Motif preference between it and an earlier caption (``model="rank"``). Labels train
    the reward model online; the bonus is the model's normalised score: the probability
    of a "yes" for the label models, the standardised utility (running mean and
    standard deviation) for ``rank``. Counters go to ``info["<term>_stats"]``
    and LLM usage to ``info["llm_usage"]``.

    Args:
        env: environment to wrap.
        backend: ``densegym.llm`` spec of the annotator (default ``"smollm2"``).
        model: ``"hash"`` (lookup table), ``"cls"`` (hashed n-gram classifier) or
            ``"rank"`` (Bradley–Terry over pairs).
        batch_size: captions per LLM call.
        cache: ``True`` (the default SQLite file in densegym's cache), a path, or
            ``False`` (no disk cache).
        update_every: labels to collect before a model update.
        seed: seed of the preference pairing.
        online, coef, normalize, clip, name: see :class:`~densegym.rewards.LearnedShaper`.

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/MountainCarSparse-v0",
        ...                shaping={"id": "llm_feedback", "backend": "tiny-random",
        ...                         "cache": False})
        >>> _ = env.reset(seed=0)
        >>> info = env.step(2)[4]
        >>> [key for key in sorted(info["llm_feedback_stats"]) if key.startswith("cache")]
        ['cache_disabled', 'cache_errors', 'cache_hits']
        >>> env.close()
    """

    registry_name = "llm_feedback"
    requires = ("HasTask",)

    def __init__(
        self,
        env: gym.Env,
        *,
        backend: str = "smollm2",
        model: str = "cls",
        batch_size: int = 8,
        cache: bool | str = True,
        update_every: int = 8,
        seed: int = 0,
        online: bool = True,
        coef: float = 0.1,
        normalize: bool = False,
        clip: float | tuple[float, float] | None = None,
        name: str | None = None,
    ):
        self._record_args(locals())
        super().__init__(env, online=online, coef=coef, normalize=normalize, clip=clip, name=name)
        from densegym.llm.loading import check_spec

        check_spec(backend)  # a bad spec fails here, not in the annotator's thread
        self.model = make_model(model)
        self.model_name = model
        self.task = dict(env.unwrapped.task or {})
        goal = str(self.task.get("goal", self.task.get("id", "the task")))
        mode = "preference" if self.model.kind == "preference" else "label"
        self.annotator: Annotator | None = acquire_annotator(backend, goal, mode, batch_size, cache)
        self.update_every = int(update_every)
        self._cursor = 0
        self._pending: list[Any] = []
        self._recent: list[str] = []
        self._rng = random.Random(seed)
        self.labels_seen = 0
        self.score_stats = RunningMeanStd()
        self.last_update: dict[str, float] = {}

    def _drain(self) -> None:
        annotator = self.annotator
        if annotator is None:
            return
        new = annotator.results[self._cursor :]
        self._cursor += len(new)
        self._pending.extend(new)
        self.labels_seen += len(new)
        if self._pending and self.learning:
            if len(self._pending) >= self.update_every or annotator.queue_length == 0:
                self.last_update = self.model.update(self._pending)
                self._pending = []

    def _submit(self, text: str) -> None:
        assert self.annotator is not None
        if self.model.kind == "label":
            self.annotator.submit(text)
            return
        if text not in self._recent:
            if self._recent:
                other = self._rng.choice(self._recent)
                self.annotator.submit((text, other) if self._rng.random() < 0.5 else (other, text))
            self._recent.append(text)
            if len(self._recent) > 256:
                self._recent.pop(self._rng.randrange(len(self._recent)))

    def _usage_delta(self) -> dict[str, float]:
        llm = self.annotator.llm if self.annotator is not None else None
        if llm is None:
            return {"tokens": 0.0, "calls": 0.0}
        return claim_usage(llm)  # the annotator is shared: count its calls once

    def reward_term(self, transition: Transition) -> float:
        """Queue the caption for a label (never waits) and return the model's score of it."""
        self._drain()
        text = step_text(self.task, transition.next_obs, transition.info)
        info = transition.info
        if self.annotator is not None:
            info[f"{self.term_name}_stats"] = {
                **self.annotator.stats,
                "queue": self.annotator.queue_length,
                **llm_health(self.annotator.llm, self.annotator.cache),
            }
            if info[f"{self.term_name}_stats"]["llm_disabled"]:
                info[f"{self.term_name}_disabled"] = True
            delta = self._usage_delta()
            if delta["calls"] or delta["tokens"]:
                usage = info.setdefault("llm_usage", {"tokens": 0.0, "calls": 0.0})
                usage["tokens"] = usage.get("tokens", 0.0) + delta["tokens"]
                usage["calls"] = usage.get("calls", 0.0) + delta["calls"]
        if text is None:
            return 0.0
        if self.learning:
            self._submit(text)
        score = float(self.model.score([text])[0])
        if self.model.kind == "preference":
            if self.learning:
                self.score_stats.update(np.array([score]))
            score = (score - self.score_stats.mean) / self.score_stats.std
        return score

    def update(self, batch: dict[str, Any]) -> dict[str, float]:
        """Train the reward model on the labels that arrived since the last update."""
        self._drain()
        if self._pending and not self.frozen:
            self.last_update = self.model.update(self._pending)
            self._pending = []
        return dict(self.last_update)

    def wait_for_labels(self, timeout: float = 60.0) -> bool:
        """Block until the annotator's queue is empty, then train (notebooks and tests only)."""
        done = self.annotator.wait(timeout) if self.annotator is not None else True
        self.update({})
        return done

    def state_dict(self) -> dict[str, Any]:
        """Reward-model weights and normalisation statistics."""
        state = super().state_dict()
        state["model"] = self.model.state_dict()
        state["score_stats"] = self.score_stats.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the reward model and normalisation statistics."""
        super().load_state_dict(state)
        self.model.load_state_dict(state["model"])
        if "score_stats" in state:
            self.score_stats.load_state_dict(state["score_stats"])

    def close(self) -> None:
        """Stop the annotator thread (when no other shaper shares it) and the env."""
        if self.annotator is not None:
            release_annotator(self.annotator)
            self.annotator = None
        super().close()
