"""Observation wrappers that turn text observations into float32 vectors for SB3.

* :class:`EncodeText` — any text env: the observation becomes one encoder vector.
* :class:`EncodeCandidates` — over :class:`~densegym.envs.adapters.candidates.CandidateActions`:
  the context and each candidate are encoded separately, in slot order, followed by
  each slot's share of the proposer's votes, so a policy can tell the choices apart.

Example:
    >>> import gymnasium as gym, densegym
    >>> env = EncodeText(gym.make("densegym/WordProblems-v0"), encoder={"id": "ngram", "dim": 64})
    >>> obs, _ = env.reset(seed=0)
    >>> obs.shape, obs.dtype, env.observation_space.contains(obs)
    ((64,), dtype('float32'), True)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

from densegym.envs.adapters.candidates import CandidateActions
from densegym.envs.adapters.encoder import TextEncoder, make_encoder

__all__ = ["EncodeCandidates", "EncodeText"]

EncoderSpec = str | Mapping[str, Any] | TextEncoder


class EncodeText(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Replace a text observation by its encoding (``Box(-1, 1, (dim,), float32)``).

    Args:
        env: an env with string observations.
        encoder: an encoder spec for :func:`~densegym.envs.adapters.encoder.make_encoder`
            (``"ngram"``, ``{"id": "ngram", "dim": 128}``, ``"minilm"``) or an encoder.
    """

    def __init__(self, env: gym.Env, encoder: EncoderSpec = "ngram"):
        gym.utils.RecordConstructorArgs.__init__(self, encoder=encoder)
        super().__init__(env)
        self.encoder = make_encoder(encoder)
        self.observation_space = self.encoder.space()

    def observation(self, observation: Any) -> np.ndarray:
        """Encode one text observation."""
        return self.encoder(str(observation))


class EncodeCandidates(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Encode a :class:`CandidateActions` observation slot by slot.

    The vector is ``[enc(context), enc(candidate_0), ..., enc(candidate_{k-1}),
    votes_0 / samples, ..., votes_{k-1} / samples]``: ``(k + 1) * dim + k`` float32
    values in [-1, 1].

    Args:
        env: an env with a :class:`CandidateActions` wrapper inside.
        encoder: an encoder spec or an encoder (see :class:`EncodeText`).

    Example:
        >>> import gymnasium as gym, densegym
        >>> inner = CandidateActions(gym.make("densegym/Arithmetic-v0"), k=4)
        >>> env = EncodeCandidates(inner, encoder={"id": "ngram", "dim": 32})
        >>> obs, _ = env.reset(seed=0)
        >>> obs.shape, env.action_space
        ((164,), Discrete(4))
    """

    def __init__(self, env: gym.Env, encoder: EncoderSpec = "ngram"):
        gym.utils.RecordConstructorArgs.__init__(self, encoder=encoder)
        super().__init__(env)
        self.candidate_env = _find_candidates(env)
        self.encoder = make_encoder(encoder)
        k = self.candidate_env.k
        size = (k + 1) * self.encoder.dim + k
        self.observation_space = gym.spaces.Box(-1.0, 1.0, shape=(size,), dtype=np.float32)

    def observation(self, observation: Any) -> np.ndarray:
        """Encode the context, every candidate and the vote shares."""
        source = self.candidate_env
        texts = [source.context, *source.candidates]
        vectors = self.encoder.encode(texts).reshape(-1)
        votes = np.asarray(source.votes, dtype=np.float32) / max(source.samples, 1)
        return np.concatenate([vectors, np.clip(votes, 0.0, 1.0)]).astype(np.float32)


def _find_candidates(env: gym.Env) -> CandidateActions:
    current: Any = env
    while current is not None:
        if isinstance(current, CandidateActions):
            return current
        current = getattr(current, "env", None)
    raise TypeError("EncodeCandidates needs a CandidateActions wrapper inside the env")
