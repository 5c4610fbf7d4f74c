"""``prm``: a process reward model trained from Monte-Carlo step labels, and its shaper.

:func:`train_prm` builds the dataset (``prm_data.collect_step_labels``), fits a small
:class:`~densegym.rewards.progress.prm_model.PRM` on it with binary cross-entropy
(soft labels allowed) and saves it; :class:`ProcessRewardShaper` loads a saved PRM by
path and pays its score of each new step. Trained on ``"outcome"`` labels
the same model is an outcome reward model (ORM); on ``"soft"`` labels it estimates a
prover's V̂, i.e. a process advantage verifier usable by ``pav`` (``value_model=path``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from densegym.envs.reasoning.base import ReasoningState
from densegym.envs.reasoning.provers import Prover
from densegym.rewards.core import Transition
from densegym.rewards.progress.base import StepRewardShaper
from densegym.rewards.progress.features import StepFeaturizer
from densegym.rewards.progress.prm_data import StepExample, collect_step_labels
from densegym.rewards.progress.prm_model import PRM
from densegym.rewards.progress.state import question_of


@dataclass
class PRMTrainResult:
    """What :func:`train_prm` returns.

    Attributes:
        model: the trained PRM (in eval mode).
        losses: training loss after each epoch (the first entry is before training).
        n_examples: labelled steps trained on.
        positive_rate: mean label.
        path: where the model was saved (``None`` if not saved).
    """

    model: PRM
    losses: list[float] = field(default_factory=list)
    n_examples: int = 0
    positive_rate: float = 0.0
    path: str | None = None


def fit_prm(
    examples: Sequence[StepExample],
    dim: int = 1024,
    hidden: int = 0,
    epochs: int = 200,
    lr: float = 0.05,
    weight_decay: float = 1e-4,
    seed: int = 0,
) -> PRMTrainResult:
    """Fit a PRM on labelled steps (full-batch Adam on binary cross-entropy).

    Example:
        >>> data = [StepExample("q", ("2 + 3 = 5",), 1.0), StepExample("q", ("2 + 3 = 6",), 0.0)]
        >>> result = fit_prm(data, dim=16, epochs=50)
        >>> result.losses[-1] < result.losses[0]
        True
    """
    if not examples:
        raise ValueError("no examples to train a PRM on")
    torch.manual_seed(seed)
    model = PRM(StepFeaturizer(dim=dim), hidden=hidden)
    x = torch.from_numpy(model.featurizer.batch([(e.question, e.steps) for e in examples]))
    y = torch.tensor([float(e.label) for e in examples], dtype=torch.float32)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    losses = []
    model.train()
    for _ in range(int(epochs)):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        losses.append(float(loss.detach()))
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        losses.append(float(loss_fn(model(x), y)))
    model.eval()
    return PRMTrainResult(model, losses, len(examples), float(y.mean()))


def train_prm(
    examples: Sequence[StepExample] | None = None,
    *,
    env: str | gym.Env = "densegym/WordProblems-v0",
    policy: str | Prover = "oracle-0.7",
    completer: str | Prover | None = None,
    n_problems: int = 64,
    n_rollouts: int = 8,
    labels: str = "hard",
    env_kwargs: dict[str, Any] | None = None,
    dim: int = 1024,
    hidden: int = 0,
    epochs: int = 200,
    lr: float = 0.05,
    seed: int = 0,
    path: str | Path | None = None,
) -> PRMTrainResult:
    """Build a Monte-Carlo-labelled dataset by rolling out ``policy``, train a PRM, save it.

    Args:
        examples: labelled steps to train on (skips the data collection).
        env: reasoning env id or instance.
        policy: the prover that writes the solutions.
        completer: the prover whose rollouts label the steps (default: ``policy``).
        n_problems: problems rolled out.
        n_rollouts: completions per step.
        labels: ``"hard"``, ``"soft"`` or ``"outcome"``.
        env_kwargs: kwargs for ``gym.make``.
        dim: hashed feature buckets per field.
        hidden: hidden units (0: logistic regression).
        epochs: full-batch training epochs.
        lr: Adam learning rate.
        seed: seed of the data collection and the initialisation.
        path: save the model here (load it with ``PRM.load`` or the ``prm`` shaper).

    Example:
        >>> result = train_prm(env="densegym/Arithmetic-v0", env_kwargs={"difficulty": 1},
        ...                    n_problems=8, n_rollouts=4, dim=64, epochs=30)
        >>> result.losses[-1] < result.losses[0], result.n_examples > 8
        (True, True)
    """
    if examples is None:
        examples = collect_step_labels(
            env, policy, completer, n_problems, n_rollouts, labels, seed, env_kwargs=env_kwargs
        )
    result = fit_prm(examples, dim=dim, hidden=hidden, epochs=epochs, lr=lr, seed=seed)
    if path is not None:
        result.model.save(path)
        result.path = str(path)
    return result


class ProcessRewardShaper(StepRewardShaper):
    """Step reward from a saved PRM: its score of each new step (or the change in score).

    Args:
        env: a reasoning env or a view of one.
        path: a PRM saved by :func:`train_prm`.
        mode: ``"score"`` (the reward is PRM(s′), in [0, 1]) or ``"progress"``
            (PRM(s′) − PRM(s)).
        guard, threshold: ``"clip"``/``"delta"`` guards against reward farming; a
            ``"score"`` reward is farmable by repeating good-looking steps.
        coef, normalize, clip, name: see :class:`~densegym.rewards.ShapedReward`.

    ``info["prm_score"]`` holds PRM(s′) after every step.
    """

    registry_name = "prm"
    requires = ("Snapshotable", "HasStepChain")

    def __init__(
        self,
        env: gym.Env,
        *,
        path: str | None = None,
        mode: str = "score",
        guard: str | None = None,
        threshold: float = 0.0,
        coef: float = 1.0,
        normalize: bool = False,
        clip: float | tuple[float, float] | None = None,
        name: str | None = None,
    ):
        self._record_args(locals())
        super().__init__(
            env,
            guard=guard,
            threshold=threshold,
            coef=coef,
            normalize=normalize,
            clip=clip,
            name=name,
        )
        if path is None:
            raise ValueError("prm needs path=<a PRM saved by densegym.rewards.progress.train_prm>")
        if mode not in ("score", "progress"):
            raise ValueError(f"mode must be 'score' or 'progress', got {mode!r}")
        self.model = PRM.load(path)
        self.mode = mode
        self._score_before = 0.0

    def score(self, state: ReasoningState) -> float:
        """Return PRM(state)."""
        return self.model.score(question_of(state), state.steps)

    def on_episode_start(self, state: ReasoningState) -> None:
        """Score the empty solution (used by ``mode="progress"``)."""
        self._score_before = self.score(state)

    def step_reward(
        self, before: ReasoningState, after: ReasoningState, transition: Transition
    ) -> float:
        """Return the PRM score of the new step (or its change)."""
        score = self.score(after)
        transition.info["prm_score"] = score
        value = score - self._score_before if self.mode == "progress" else score
        self._score_before = score
        return value


def rank_accuracy(model: PRM, pairs: Sequence[tuple[str, Sequence[str], str, str]]) -> float:
    """Fraction of ``(question, prefix, good_step, bad_step)`` pairs the PRM orders right.

    Example:
        >>> result = fit_prm([StepExample("q", ("1 + 1 = 2",), 1.0),
        ...                   StepExample("q", ("1 + 1 = 3",), 0.0)], dim=16, epochs=50)
        >>> rank_accuracy(result.model, [("q", (), "2 + 2 = 4", "2 + 2 = 5")])
        1.0
    """
    if not pairs:
        return float("nan")
    items = []
    for question, prefix, good, bad in pairs:
        items += [(question, (*prefix, good)), (question, (*prefix, bad))]
    scores = model.score_batch(items)
    return float(np.mean(scores[0::2] > scores[1::2]))
