"""A small process reward model: logistic regression or an MLP over step features."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from densegym.rewards.progress.features import StepFeaturizer


class PRM(nn.Module):
    """Score a partial solution: the probability that its newest step is good.

    Args:
        featurizer: the :class:`StepFeaturizer` (or its config dict).
        hidden: hidden units; 0 gives logistic regression.

    Example:
        >>> prm = PRM(StepFeaturizer(dim=32))
        >>> 0.0 < prm.score("What is 2 + 3?", ["2 + 3 = 5"]) < 1.0
        True
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "prm.pt")
        >>> prm.save(path)
        >>> PRM.load(path).score("What is 2 + 3?", ["2 + 3 = 5"]) == prm.score(
        ...     "What is 2 + 3?", ["2 + 3 = 5"])
        True
    """

    def __init__(self, featurizer: StepFeaturizer | dict[str, Any], hidden: int = 0):
        super().__init__()
        if isinstance(featurizer, dict):
            featurizer = StepFeaturizer(**featurizer)
        self.featurizer = featurizer
        self.hidden = int(hidden)
        size = featurizer.size
        if self.hidden > 0:
            self.net: nn.Module = nn.Sequential(
                nn.Linear(size, self.hidden), nn.ReLU(), nn.Linear(self.hidden, 1)
            )
        else:
            self.net = nn.Linear(size, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Return logits, one per row of ``features``."""
        return self.net(features).squeeze(-1)

    def score_batch(self, items: Sequence[tuple[str, Sequence[str]]]) -> np.ndarray:
        """Return the probability for each ``(question, steps)``."""
        x = torch.from_numpy(self.featurizer.batch(list(items)))
        with torch.no_grad():
            return torch.sigmoid(self(x)).numpy().astype(np.float64)

    def score(self, question: str, steps: Sequence[str]) -> float:
        """Return the probability for one partial solution."""
        return float(self.score_batch([(question, steps)])[0])

    def save(self, path: str | Path) -> None:
        """Save weights and configuration to one file."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "featurizer": self.featurizer.config(),
                "hidden": self.hidden,
                "state_dict": self.state_dict(),
            },
            str(path),
        )

    @classmethod
    def load(cls, path: str | Path) -> PRM:
        """Load a model saved by :meth:`save`."""
        if not Path(path).exists():
            raise FileNotFoundError(
                f"no PRM at {path}; train one with densegym.rewards.progress.train_prm(path=...)"
            )
        data = torch.load(str(path), map_location="cpu", weights_only=True)
        model = cls(data["featurizer"], hidden=data["hidden"])
        model.load_state_dict(data["state_dict"])
        return model.eval()
