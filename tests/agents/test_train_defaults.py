"""Per-env training defaults live in the registry entries; the numbers stay pinned.

Benchmark figures were produced with these exact hyperparameters (before they moved out of
``default_hyperparams`` into :class:`~densegym.registration.EnvEntry.train_defaults`), so
every registered id and algorithm is pinned here.
"""

from __future__ import annotations

import pytest

import densegym
from densegym.agents.sb3.extractors import MiniHackExtractor
from densegym.agents.sb3.training import ALGORITHMS, default_hyperparams
from densegym.registration import ENTRIES, entry_for

_PPO = {
    "batch_size": 256,
    "ent_coef": 0.0,
    "gae_lambda": 0.95,
    "gamma": 0.99,
    "learning_rate": 3e-4,
    "n_epochs": 4,
    "n_steps": 256,
}
_A2C = {"ent_coef": 0.01, "gamma": 0.99, "learning_rate": 7e-4, "n_steps": 16}
_DQN = {
    "batch_size": 64,
    "buffer_size": 50_000,
    "exploration_final_eps": 0.05,
    "exploration_fraction": 0.3,
    "gamma": 0.99,
    "learning_rate": 1e-4,
    "learning_starts": 1000,
    "target_update_interval": 1000,
    "train_freq": 4,
}
_LSTM = {"enable_critic_lstm": False, "lstm_hidden_size": 128, "shared_lstm": True}
_HEADS = {"features_extractor_class": MiniHackExtractor, "net_arch": {"pi": [64], "vf": [64]}}

#: What ids without per-env defaults get (the reasoning ids, and ids densegym does not own).
GENERIC = {
    "ppo": _PPO,
    "a2c": _A2C,
    "dqn": _DQN,
    "recurrent_ppo": {**_PPO, "policy_kwargs": _LSTM},
}
MOUNTAIN_CAR = {
    **GENERIC,
    "ppo": {**_PPO, "ent_coef": 0.01, "learning_rate": 1e-3},
    "recurrent_ppo": {**_PPO, "ent_coef": 0.01, "learning_rate": 1e-3, "policy_kwargs": _LSTM},
}
_MINIHACK_PPO = {**_PPO, "ent_coef": 0.01, "n_steps": 128}
MINIHACK = {
    "ppo": {**_MINIHACK_PPO, "policy_kwargs": _HEADS},
    "a2c": {**_A2C, "policy_kwargs": _HEADS},
    "dqn": {
        **_DQN,
        "policy_kwargs": {"features_extractor_class": MiniHackExtractor, "net_arch": [64, 64]},
    },
    "recurrent_ppo": {**_MINIHACK_PPO, "policy_kwargs": {**_HEADS, **_LSTM}},
}


_MULTIAGENT_PPO = {**_PPO, "n_steps": 128, "ent_coef": 0.01}
#: Single-agent views of the multi-agent tasks (one learner, oracle partners).
MULTIAGENT_VIEW = {
    **GENERIC,
    "ppo": _MULTIAGENT_PPO,
    "recurrent_ppo": {**_MULTIAGENT_PPO, "policy_kwargs": _LSTM},
}


def expected(env_id: str) -> dict:
    if env_id == "densegym/MountainCarSparse-v0":
        return MOUNTAIN_CAR
    if env_id.startswith("densegym/MiniHack-"):
        return MINIHACK
    if env_id.startswith("densegym/MA-"):
        return MULTIAGENT_VIEW
    return GENERIC


def test_every_registered_id_is_pinned():
    pinned = {"densegym/MountainCarSparse-v0"}
    pinned |= {i for i in densegym.ENV_IDS if i.startswith("densegym/MiniHack-")}
    worlds = ("reasoning", "tools", "web", "multiagent")
    pinned |= {entry.id for entry in ENTRIES if entry.world in worlds}
    assert pinned == set(densegym.ENV_IDS), "a new id: pin its training defaults here"
    assert set(GENERIC) == set(ALGORITHMS)


@pytest.mark.parametrize("algo", sorted(ALGORITHMS))
@pytest.mark.parametrize("env_id", [*densegym.ENV_IDS, "CartPole-v1"])
def test_default_hyperparams_are_pinned(env_id, algo):
    assert default_hyperparams(env_id, algo) == expected(env_id)[algo]


def test_defaults_are_copies_not_the_entry():
    params = default_hyperparams("densegym/MiniHack-Room-5x5-v0", "ppo")
    params["policy_kwargs"]["net_arch"]["pi"].append(1)
    assert default_hyperparams("densegym/MiniHack-Room-5x5-v0", "ppo") == MINIHACK["ppo"]
    entry = entry_for("densegym/MiniHack-Room-5x5-v0")
    assert isinstance(entry.train_defaults["ppo"]["policy_kwargs"]["features_extractor_class"], str)
