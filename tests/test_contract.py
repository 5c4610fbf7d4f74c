"""The env and shaper contracts, checked on every registered id × every shaper it admits.

Which pairs run is derived, never listed by hand: the ids are every ``densegym/`` id in
Gymnasium's registry, and a shaper is paired with an id when the env offers every
capability the shaper's ``requirements(kwargs)`` names (:mod:`densegym.protocols`). A new
world joins by registering its ids; a new shaper by registering (it runs with its default
kwargs unless :data:`CHEAP_KWARGS` names cheaper ones or files it needs).

Per id: Gymnasium's ``check_env`` on the made env, ``EnvSpec.to_json()`` round trip,
pickling (or the documented reason it cannot pickle). Per admitted pair: ``check_env`` on the
made, shaped env, ``reward == sum(info["reward_terms"].values())`` with the extrinsic term
and observations equal to the unshaped env's, seeded determinism (skipped for ids
registered ``nondeterministic=True``), the spec round trip and pickling. Per refused pair:
``gym.make`` raises the one-sentence ``ValueError`` before building the shaper.

``check_env`` runs on the made env (``gym.make``'s wrappers plus shaping), not on
``env.unwrapped``: that is what agents step, and the shaping wrappers must keep the
Gymnasium API too. Learned shapers are frozen for it: Gymnasium's checker steps twice from
the same seed and expects the same reward, while a learning shaper (global counts, RND, ...)
changes its reward between the two by design. The determinism check below runs them
unfrozen, from two fresh envs.
"""

from __future__ import annotations

import json
import math
import pickle
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.envs.registration import EnvSpec
from gymnasium.utils.env_checker import check_env, data_equivalence

import densegym  # noqa: F401  (registers the ids)
from densegym.protocols import has_capability, missing_capabilities
from densegym.rewards import available, find_shapers
from densegym.rewards.registry import shaper_class

#: Every densegym id Gymnasium knows (new worlds join by registering).
ENV_IDS = sorted(env_id for env_id in gym.registry if env_id.startswith("densegym/"))

#: MiniWoB++ registers 128 tasks, each a page in Chromium (~1 min for one id's pairs); the
#: default run keeps these three (a click, a text entry, a select) and the rest are ``slow``
#: (every id also resets and steps in tests/envs/test_web_miniwob.py's slow sweep).
MINIWOB_SAMPLE = {
    "densegym/MiniWoB-click-test-v0",
    "densegym/MiniWoB-enter-text-v0",
    "densegym/MiniWoB-choose-list-v0",
}


def _param(*values: str) -> Any:
    """A test parameter, marked ``slow`` for MiniWoB ids outside :data:`MINIWOB_SAMPLE`."""
    env_id = values[0]
    slow = env_id.startswith("densegym/MiniWoB-") and env_id not in MINIWOB_SAMPLE
    return pytest.param(*values, marks=pytest.mark.slow if slow else ())


ENV_PARAMS = [_param(env_id) for env_id in ENV_IDS]


def test_the_miniwob_sample_is_registered():
    assert MINIWOB_SAMPLE <= set(ENV_IDS)

#: Cheap kwargs per shaper; LLM-driven shapers use the ``tiny-random`` backend and no disk
#: cache. ``"<prm>"`` and ``"<code>"`` are replaced by files written in a tmp dir (``prm``
#: and ``llm_code`` cannot be built without one). Nothing is skipped.
CHEAP_KWARGS: dict[str, dict[str, Any]] = {  # shapers not named here run with {}
    "potential": {},
    "step_penalty": {},
    "count": {},
    "rnd": {"update_every": 4},
    "icm": {"update_every": 4},
    "e3b": {"update_every": 4},
    "noveld": {"update_every": 4},
    "global_episodic": {"update_every": 4},
    "outcome": {},
    "pav": {"prover": "oracle-0.7", "estimator": "closed_form"},
    "prm": {"path": "<prm>"},
    "implicit_prm": {"policy": "tiny-random"},
    "llm_code": {"path": "<code>"},
    "llm_feedback": {"backend": "tiny-random", "cache": False},
    "llm_judge": {"backend": "tiny-random", "cache": False},
}

#: Ids whose env cannot be pickled, and why (asserted: they must really fail).
NOT_PICKLABLE = {
    **{
        env_id: "the NLE game holds native NetHack state and a module reference"
        for env_id in ENV_IDS
        if env_id.startswith("densegym/MiniHack-")
    },
    **{
        env_id: "the world lives in an open sqlite3 connection (clone() copies it instead)"
        for env_id in ENV_IDS
        if env_id.startswith("densegym/ToolShop-")
    },
}
#: Shapers that cannot be pickled on any env, and why (asserted).
SHAPERS_NOT_PICKLABLE = {
    "llm_code": "it owns a sandbox worker process",
    "llm_feedback": "its annotator runs a background thread with a lock",
    "implicit_prm": "its LLM backends hold thread locks",
    "llm_judge": "its LLM backend holds a thread lock",
}
#: Info keys left out of the determinism checks, and why: ``llm_usage`` is cost accounting
#: (a cached LLM answer costs nothing, so a repeated step reports no usage), and
#: ``llm_feedback``'s counters belong to the annotator that every env in the process shares,
#: filled by its background thread.
VOLATILE_INFO = {"llm_usage", "llm_feedback_stats"}
#: Shapers whose term depends on timing, and why; their determinism check compares
#: everything else (observations, the extrinsic term, termination, infos).
ASYNC_TERMS = {
    "llm_feedback": "LLM labels arrive from a background thread (ONI's design: step never "
    "waits), and the bonus changes when the reward model learns from them",
}


class _WithoutAccounting(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Drop :data:`VOLATILE_INFO` keys, so Gymnasium's checker compares the rest exactly."""

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        return obs, {k: v for k, v in info.items() if k not in VOLATILE_INFO}

    def step(self, action: Any):
        *out, info = self.env.step(action)
        return (*out, {k: v for k, v in info.items() if k not in VOLATILE_INFO})


def _kwargs_of(name: str) -> dict[str, Any]:
    """The kwargs the contract builds shaper ``name`` with (its defaults unless listed)."""
    return dict(CHEAP_KWARGS.get(name, {}))


#: Steps per rollout (MiniHack steps cost about a millisecond; LLM shapers more).
STEPS = 6


def _made(env_id: str) -> gym.Env | None:
    try:
        return gym.make(env_id)
    except (ImportError, gym.error.DependencyNotInstalled):
        return None


def _plan() -> tuple[list[Any], list[Any]]:
    """Admitted and refused (id, shaper) pairs."""
    admitted: list[Any] = []
    refused: list[Any] = []
    for env_id in ENV_IDS:
        env = _made(env_id)
        if env is None:
            mark = pytest.mark.skip(reason=f"{env_id}: its optional dependency is missing")
            admitted.append(pytest.param(env_id, "step_penalty", marks=mark))
            continue
        for name in available():
            needs = shaper_class(name).requirements(_kwargs_of(name))
            missing = missing_capabilities(env, needs)
            (refused if missing else admitted).append(_param(env_id, name))
        env.close()
    return admitted, refused


ADMITTED, REFUSED = _plan()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """The tiny user files some shapers need: a saved PRM and reward code."""
    from densegym.rewards.progress.prm import fit_prm
    from densegym.rewards.progress.prm_data import StepExample

    folder = tmp_path_factory.mktemp("contract")
    examples = [StepExample("q", ("1 + 1 = 2",), 1.0), StepExample("q", ("1 + 1 = 3",), 0.0)]
    prm = folder / "prm.pt"
    fit_prm(examples, dim=16, epochs=2).model.save(prm)
    code = folder / "reward.py"
    code.write_text("def reward(obs, action, next_obs, info):\n    return 0.5\n")
    return {"<prm>": str(prm), "<code>": str(code)}


def _spec(name: str, files: dict[str, str]) -> dict[str, Any]:
    kwargs = {k: files.get(v, v) if isinstance(v, str) else v for k, v in _kwargs_of(name).items()}
    return {"id": name, **kwargs}


def _check(env: gym.Env) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is different from the unwrapped version")
        warnings.filterwarnings("ignore", message=".*(not within the observation space|Box).*")
        check_env(env, skip_render_check=True)


def _action(env: gym.Env, step: int, rng: np.random.Generator) -> Any:
    """Mostly the oracle's step where there is one (plus one unparsable line), else random."""
    if has_capability(env, "HasOracle"):
        return "no step here" if step == 1 else env.unwrapped.oracle_step()
    if isinstance(env.action_space, gym.spaces.Discrete):
        return int(rng.integers(env.action_space.n))
    env.action_space.seed(int(rng.integers(2**31)))
    return env.action_space.sample()


def _rollout(env: gym.Env, seed: int, actions: list[Any] | None = None) -> tuple[list, list]:
    """Step ``env`` from ``reset(seed)``; record the actions taken (or replay ``actions``)."""
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    trace, taken = [(obs, info)], []
    for step in range(STEPS):
        action = actions[step] if actions is not None else _action(env, step, rng)
        taken.append(action)
        obs, reward, terminated, truncated, info = env.step(action)
        trace.append((obs, reward, terminated, truncated, info))
        if terminated or truncated:
            trace.append(env.reset())
    return trace, taken


def _comparable(trace: list, name: str | None = None) -> list:
    """Drop what may differ between two equal runs (:data:`VOLATILE_INFO`, async terms)."""
    out = []
    for item in trace:
        info = {k: v for k, v in item[-1].items() if k not in VOLATILE_INFO}
        if name in ASYNC_TERMS and len(item) == 5:
            info["reward_terms"] = {k: v for k, v in info["reward_terms"].items() if k != name}
            item = (item[0], None, *item[2:])
        out.append((*item[:-1], info))
    return out


# -- per id ----------------------------------------------------------------------------


def test_cheap_kwargs_name_registered_shapers_only():
    assert set(CHEAP_KWARGS) <= set(available())


def test_every_registered_entry_takes_part():
    from densegym.registration import ENTRIES

    assert {entry.id for entry in ENTRIES if entry.kind == "single"} <= set(ENV_IDS)


@pytest.mark.parametrize("env_id", ENV_PARAMS)
def test_check_env_and_spec_round_trip(env_id):
    env = _made(env_id)
    if env is None:
        pytest.skip(f"{env_id}: its optional dependency is missing")
    _check(env)
    remade = gym.make(EnvSpec.from_json(env.spec.to_json()))
    assert remade.spec.to_json() == env.spec.to_json()
    assert type(remade.unwrapped) is type(env.unwrapped)
    env.close()
    remade.close()


@pytest.mark.parametrize("env_id", ENV_PARAMS)
def test_env_pickles_unless_listed(env_id):
    env = _made(env_id)
    if env is None:
        pytest.skip(f"{env_id}: its optional dependency is missing")
    first, taken = _rollout(env, seed=4)
    if env_id in NOT_PICKLABLE:
        with pytest.raises((TypeError, pickle.PicklingError, AttributeError)):
            pickle.dumps(env)
        return
    env.reset(seed=4)
    copy = pickle.loads(pickle.dumps(env))
    again, _ = _rollout(copy, seed=4, actions=taken)
    assert data_equivalence(_comparable(first), _comparable(again), exact=True)


def test_registered_nondeterminism_reaches_gymnasium():
    from densegym.registration import ENTRIES

    for entry in ENTRIES:
        if entry.id in gym.registry:
            assert gym.spec(entry.id).nondeterministic is entry.nondeterministic
            assert entry.id.endswith(f"-v{entry.version}")


# -- per admitted (id, shaper) pair ----------------------------------------------------


def _make_shaped(env_id: str, name: str, files: dict[str, str]) -> gym.Env:
    return gym.make(env_id, shaping=_spec(name, files))


@pytest.mark.parametrize(("env_id", "name"), ADMITTED)
def test_admitted_pair_keeps_the_contract(env_id, name, files):
    env = _make_shaped(env_id, name, files)
    assert [s.term_name for s in find_shapers(env)] == [name]

    # The returned reward is the sum of the terms; the env's own side is untouched.
    first, taken = _rollout(env, seed=7)
    plain = gym.make(env_id)
    reference, _ = _rollout(plain, seed=7, actions=taken)
    plain.close()
    for item, ref in zip(first, reference, strict=True):
        assert data_equivalence(item[0], ref[0], exact=True)  # same observations
        if len(item) == 5:
            reward, info = item[1], item[4]
            assert set(info["reward_terms"]) == {"extrinsic", name}
            assert info["reward_terms"]["extrinsic"] == ref[1]
            assert all(math.isfinite(v) for v in info["reward_terms"].values())
            assert math.isclose(reward, sum(info["reward_terms"].values()), abs_tol=1e-9)

    # Seeded determinism: a second env, same seed and actions.
    if not gym.spec(env_id).nondeterministic:
        twin = _make_shaped(env_id, name, files)
        second, _ = _rollout(twin, seed=7, actions=taken)
        assert data_equivalence(_comparable(first, name), _comparable(second, name), exact=True)
        twin.close()

    # The spec is data: it round-trips through JSON and gym.make.
    text = env.spec.to_json()
    json.loads(text)
    remade = gym.make(EnvSpec.from_json(text))
    assert [type(s) for s in find_shapers(remade)] == [type(s) for s in find_shapers(env)]
    assert remade.spec.to_json() == text
    remade.close()

    # Pickling, where the env and the shaper allow it.
    if env_id not in NOT_PICKLABLE and name not in SHAPERS_NOT_PICKLABLE:
        pickle.loads(pickle.dumps(env)).close()
    elif env_id not in NOT_PICKLABLE:
        with pytest.raises((TypeError, pickle.PicklingError, AttributeError)):
            pickle.dumps(env)

    # Gymnasium's checker, on the made env with learned shapers frozen (see the module doc).
    for shaper in find_shapers(env):
        shaper.freeze()
    _check(_WithoutAccounting(env))
    env.close()


# -- per refused pair ------------------------------------------------------------------


@pytest.mark.parametrize(("env_id", "name"), REFUSED)
def test_refused_pair_raises_one_sentence(env_id, name, files):
    env = gym.make(env_id)
    needs = shaper_class(name).requirements(_kwargs_of(name))
    missing = missing_capabilities(env, needs)
    env.close()
    with pytest.raises(ValueError) as error:
        _make_shaped(env_id, name, files)
    message = str(error.value)
    assert message.startswith(f"shaper {name!r} needs an env that is {missing[0]} (")
    assert message.endswith(f"; {env_id} is not")
    assert all(capability in message for capability in missing)
    assert "\n" not in message and message.count(";") == 1
