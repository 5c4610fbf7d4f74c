"""Env *views*: adapters requested by data through ``gym.make(..., view=...)``.

A view changes what the agent sees and does — a vector instead of text, a choice
among proposed steps instead of free text — and is applied to the base env before
any shaping, so shapers reward the same transitions whatever the view. Because a view
is plain data, ``env.spec.to_json()`` round-trips.

View specs:

* ``None`` — the env as it is (text in, text out).
* ``"ngram"`` / ``"minilm"`` or ``{"id": "encode", "encoder": <encoder spec>}`` —
  :class:`~densegym.envs.adapters.encode.EncodeText`.
* ``"candidates"`` or ``{"id": "candidates", "k": 4, "proposer": "oracle-0.7",
  "samples": None, "rank": "votes", "include_oracle": False, "proposer_kwargs": None,
  "encoder": "ngram"}`` —
  :class:`~densegym.envs.adapters.candidates.CandidateActions`, encoded with
  :class:`~densegym.envs.adapters.encode.EncodeCandidates` (``"encoder": None`` keeps
  the text observation, for LLM agents).

Example:
    >>> import gymnasium as gym, densegym
    >>> view = {"id": "candidates", "k": 4, "proposer": "oracle-0.7", "encoder": "ngram"}
    >>> env = gym.make("densegym/Arithmetic-v0", view=view)
    >>> env.observation_space.shape, env.action_space
    ((1284,), Discrete(4))
    >>> from gymnasium.envs.registration import EnvSpec
    >>> gym.make(EnvSpec.from_json(env.spec.to_json())).spec.kwargs["view"] == view
    True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym

from densegym.envs.adapters.candidates import CandidateActions
from densegym.envs.adapters.encode import EncodeCandidates, EncodeText
from densegym.envs.adapters.encoder import available_encoders

__all__ = ["VIEWS", "apply_view", "normalize_view"]

#: View ids accepted in a dict spec.
VIEWS = ("encode", "candidates")

_CANDIDATE_KEYS = ("k", "proposer", "samples", "rank", "include_oracle", "proposer_kwargs")


def normalize_view(view: Any) -> dict[str, Any] | None:
    """Return a view spec as a dict with an ``id`` (``None`` for no view).

    Example:
        >>> normalize_view("ngram"), normalize_view("candidates")
        ({'id': 'encode', 'encoder': 'ngram'}, {'id': 'candidates'})
    """
    if view is None:
        return None
    if isinstance(view, str):
        if view in VIEWS:
            return {"id": view}
        if view in available_encoders():
            return {"id": "encode", "encoder": view}
        raise ValueError(
            f"unknown view {view!r}; use one of {VIEWS}, an encoder name "
            f"({', '.join(available_encoders())}) or a dict spec"
        )
    if isinstance(view, Mapping) and view.get("id") in VIEWS:
        return dict(view)
    raise ValueError(f"a view is None, a name or a dict with 'id' in {VIEWS}; got {view!r}")


def apply_view(env: gym.Env, view: Any) -> gym.Env:
    """Wrap ``env`` with the adapters a view spec names (see the module docs)."""
    spec = normalize_view(view)
    if spec is None:
        return env
    if spec["id"] == "encode":
        unknown = set(spec) - {"id", "encoder"}
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)} in view {view!r}")
        return EncodeText(env, encoder=spec.get("encoder", "ngram"))
    unknown = set(spec) - {"id", "encoder", *_CANDIDATE_KEYS}
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)} in view {view!r}")
    env = CandidateActions(env, **{key: spec[key] for key in _CANDIDATE_KEYS if key in spec})
    encoder = spec.get("encoder", "ngram")
    return EncodeCandidates(env, encoder=encoder) if encoder is not None else env
