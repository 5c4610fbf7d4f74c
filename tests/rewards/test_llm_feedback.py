"""llm_feedback: asynchronous LLM labels, reward models, the disk cache, never blocking step."""

import doctest
import importlib
import pkgutil
import time

import gymnasium as gym
import numpy as np
import pytest

import densegym  # noqa: F401
import densegym.llm
import densegym.rewards.llm as llm_rewards
from densegym.rewards import find_shapers
from densegym.rewards.llm.labels import Annotator, LabelCache, ask_choice
from densegym.rewards.llm.reward_models import HashedNgrams, make_model
from densegym.rewards.llm.text import step_text

ENV = "densegym/MountainCarSparse-v0"
MODULES = [f"densegym.rewards.llm.{m.name}" for m in pkgutil.iter_modules(llm_rewards.__path__)]


@pytest.mark.parametrize("name", [*MODULES, "densegym.rewards.llm"])
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


@pytest.fixture(scope="module")
def tiny():
    return densegym.llm.load("tiny-random")


def test_step_does_not_wait_for_the_llm(tmp_path):
    shaping = {"id": "llm_feedback", "backend": "tiny-random", "cache": str(tmp_path / "c.db")}
    env = gym.make(ENV, shaping=shaping)
    env.reset(seed=0)
    env.action_space.seed(0)
    shaper = find_shapers(env)[0]
    step_times, values = [], []
    for _ in range(150):
        start = time.perf_counter()
        _, reward, _, _, info = env.step(env.action_space.sample())
        step_times.append(time.perf_counter() - start)
        values.append(info["reward_terms"]["llm_feedback"])
    assert shaper.wait_for_labels(120)
    stats = shaper.annotator.stats
    usage = shaper.annotator.llm.usage
    assert stats["labels"] == stats["submitted"] > 0 and stats["llm_calls"] == usage["calls"]
    seconds_per_call = usage["seconds"] / usage["calls"]
    assert np.median(step_times) < seconds_per_call / 5  # step only enqueues
    assert shaper.model.updates > 0 and np.isfinite(values).all()
    for _ in range(20):  # after training: finite, not all equal
        values.append(env.step(env.action_space.sample())[4]["reward_terms"]["llm_feedback"])
    assert np.isfinite(values).all() and len(set(np.round(values[-20:], 6))) > 1
    env.close()


def test_cache_hits_skip_the_llm(tmp_path, tiny):
    cache = LabelCache(tmp_path / "labels.db")
    captions = [f"position {x:.2f}, velocity 0.00" for x in np.linspace(-1, 0.5, 12)]
    first = Annotator(tiny, "Reach the flag", cache=cache, batch_size=4)
    for caption in captions:
        first.submit(caption)
    assert first.wait(60)
    first.close()
    calls = tiny.usage["calls"]
    assert first.stats["llm_calls"] >= 3 and first.stats["cache_hits"] == 0

    second = Annotator(tiny, "Reach the flag", cache=LabelCache(tmp_path / "labels.db"))
    for caption in captions:
        second.submit(caption)
    assert second.wait(60)
    second.close()
    assert tiny.usage["calls"] == calls  # no new LLM call
    assert second.stats["cache_hits"] == len(captions) and second.stats["llm_calls"] == 0
    assert sorted(second.results) == sorted(first.results)


def test_annotator_survives_an_unreachable_backend():
    annotator = Annotator("openai:none@http://127.0.0.1:9/v1", "goal", batch_size=2)
    start = time.perf_counter()
    assert annotator.submit("a caption")
    assert time.perf_counter() - start < 0.1  # submitting never waits
    deadline = time.monotonic() + 60
    while annotator.stats["errors"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    annotator.close()
    assert annotator.stats["errors"] >= 1 and annotator.results == []
    assert "127.0.0.1:9" in annotator.last_error or "onnect" in annotator.last_error


def test_preference_labels_train_a_rank_model(tiny, tmp_path):
    shaping = {"id": "llm_feedback", "backend": "tiny-random", "model": "rank", "cache": False}
    env = gym.make(ENV, shaping=shaping)
    env.reset(seed=0)
    shaper = find_shapers(env)[0]
    for _ in range(40):
        env.step(2)
    assert shaper.wait_for_labels(120)
    assert shaper.annotator.mode == "preference" and shaper.labels_seen > 0
    assert isinstance(shaper.annotator.results[0][0], tuple)
    assert np.isfinite(shaper.model.score(["position -0.50, velocity 0.00"])).all()
    env.close()


def test_ask_choice_answers_every_prompt(tiny):
    answers = ask_choice(tiny, ["Is the sky blue?", "Is fire cold?"])
    assert len(answers) == 2 and set(answers) <= {0.0, 1.0}


@pytest.mark.parametrize("name", ["hash", "cls"])
def test_label_models_separate_labelled_captions(name):
    model = make_model(name)
    data = [("you see a key on the floor", 1.0), ("it's solid stone", 0.0)] * 30
    model.update(data)
    helpful, dull = model.score(["you see a key on the floor", "it's solid stone"])
    assert helpful > dull


def test_rank_model_learns_preferences():
    model = make_model("rank")
    model.update([(("near the goal", "far away"), 1.0), (("far away", "near the goal"), 0.0)] * 30)
    near, far = model.score(["near the goal", "far away"])
    assert near > far
    state = model.state_dict()
    other = make_model("rank")
    other.load_state_dict(state)
    assert np.allclose(other.score(["near the goal"]), model.score(["near the goal"]))


def test_featurizer_is_stable_and_normalised():
    vectors = HashedNgrams(dim=128)(["a door to the east", ""])
    assert np.isclose(np.linalg.norm(vectors[0]), 1.0) and not vectors[1].any()
    assert np.allclose(HashedNgrams(dim=128)(["a door to the east"])[0], vectors[0])


def test_step_text_views():
    assert step_text({}, "text obs", {}) == "text obs"
    assert step_text({}, np.zeros(2), {}) is None
    assert step_text({}, None, {"caption": "At x=1.", "message": ""}) == "At x=1."
