"""Process rewards on the tool world: the step chain, noisy-oracle provers, ``pav``, ``prm``."""

import json
import random
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import densegym  # noqa: F401  (registers the ids)
from densegym.envs.reasoning.provers import NoisyOracleProver, make_prover
from densegym.envs.tools import ConfigEnv, LookupEnv, OrdersEnv
from densegym.envs.tools.step_chain import column_values, wrong_call
from densegym.envs.tools.tasks import PlanStep
from densegym.protocols import capabilities, has_capability
from densegym.rewards.progress.value import ProverValue

FAMILIES = ["Lookup", "Orders", "Config"]
CLASSES = [LookupEnv, OrdersEnv, ConfigEnv]


def _feasible(env, start=1, difficulty=None):
    """Reset ``env`` to the first feasible task from seed ``start``; return the seed."""
    for seed in range(start, start + 50):
        options = {"difficulty": difficulty} if difficulty else None
        env.reset(seed=seed, options=options)
        if not env.unwrapped.problem.infeasible:
            return seed
    raise AssertionError("no feasible task")


# -- the step chain ------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_tool_envs_have_a_step_chain(family):
    env = gym.make(f"densegym/ToolShop-{family}-v0")
    assert {"HasStepChain", "Snapshotable", "HasOracle"} <= set(capabilities(env))
    base = env.unwrapped
    _feasible(env)
    assert base.steps == () and base.committed()["consistent"]
    base.step(base.oracle_step())
    base.step("not a call")
    assert base.steps == (base.calls[0].call, "[unreadable call]")
    assert base.steps[0].startswith(json.loads(base.task["plan"][0]["name"].join('""')))
    state = base.get_state()
    assert state.steps == base.steps and state.question == base.task["request"]
    copy = state.to_env()
    assert copy is not base and copy.steps == base.steps
    assert copy.oracle_step() == base.oracle_step()


@pytest.mark.parametrize("cls", CLASSES)
def test_wrong_steps_are_valid_calls_from_the_world_and_differ_from_the_oracle(cls):
    env = cls()
    rng = random.Random(0)
    n_checked = 0
    for seed in range(8):
        env.reset(seed=seed)
        values = {v for vs in column_values(env.problem.world_seed).values() for v in vs}
        while True:
            snapshot = env.get_state()
            oracle = env.oracle_step()
            for _ in range(3):
                wrong = env.wrong_step(rng)
                assert wrong != oracle
                call = json.loads(wrong)
                assert call["name"] in env.tools
                oracle_args = json.loads(oracle)["arguments"]
                new = [
                    v
                    for k, v in call["arguments"].items()
                    if isinstance(v, str) and oracle_args.get(k) != v
                ]
                # a swapped value comes from the world (or is a number moved a little,
                # or a canned final call)
                assert all(
                    v in values or any(c.isdigit() for c in v) or v in ("done", "cannot be done")
                    for v in new
                ), (oracle, wrong)
                _, _, _, _, info = env.step(wrong)
                assert not info["invalid_call"], (wrong, info["invalid_reason"])
                env.set_state(snapshot)
                n_checked += 1
            _, _, terminated, truncated, _ = env.step(oracle)
            if terminated or truncated:
                break
    assert n_checked > 20


def test_wrong_steps_are_seeded_and_some_wrong_writes_lose_the_task():
    env = OrdersEnv(difficulty=1)
    lost = 0
    for seed in range(30):
        env.reset(seed=seed)
        if env.problem.infeasible:
            continue
        first = [env.wrong_step(random.Random(seed)) for _ in range(2)]
        assert first[0] == first[1]  # same rng seed, same wrong call
        while True:
            step = env.remaining_plan()[0]
            if step.writes:
                snapshot = env.get_state()
                for k in range(6):
                    env.step(env.wrong_step(random.Random(k)))
                    lost += env.remaining_plan() is None
                    env.set_state(snapshot)
            _, _, terminated, _, _ = env.step(env.oracle_step())
            if terminated:
                break
    assert lost > 0  # a swapped id in a write changes rows the gold plan leaves alone


def test_wrong_call_swaps_within_a_column_and_answers_wrongly():
    order = column_values(0)[("orders", "order_id")][0]
    from densegym.envs.tools.tools import toolset

    tools = toolset()
    for k in range(10):
        call = json.loads(
            wrong_call(PlanStep("get_order", {"order_id": order}), 0, tools, random.Random(k))
        )
        assert call["arguments"]["order_id"] in column_values(0)[("orders", "order_id")]
        assert call["arguments"]["order_id"] != order
    answer = json.loads(
        wrong_call(PlanStep("answer", {"answer": "42.50"}), 0, tools, random.Random(0))
    )
    assert answer["name"] == "answer" and answer["arguments"]["answer"] != "42.50"
    infeasible = json.loads(
        wrong_call(PlanStep("report_infeasible", {"reason": "x"}), 0, tools, random.Random(0))
    )
    assert infeasible["name"] == "answer"


# -- provers on tool envs ------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_noisy_prover_estimate_lies_strictly_between_zero_and_one(family):
    env = gym.make(f"densegym/ToolShop-{family}-v0")
    _feasible(env)
    noisy = make_prover("oracle-0.6", seed=0).estimate_value(env, n=64, seed=1)
    exact = make_prover("oracle", seed=0).estimate_value(env, n=8, seed=1)
    assert 0.0 < noisy < 1.0
    assert exact == 1.0
    # from the env or from its state (rebuilt with to_env): the same rollouts
    again = make_prover("oracle-0.6").estimate_value(env.unwrapped.get_state(), n=64, seed=1)
    assert again == noisy
    # the closed form q ** r is the chance of no mistake: below the Monte-Carlo value
    closed = NoisyOracleProver(0.4).success_probability(env)
    assert closed == pytest.approx(0.6 ** env.unwrapped.oracle_remaining())
    assert closed < noisy


def test_rollouts_leave_the_env_untouched_and_end_on_truncation():
    env = gym.make("densegym/ToolShop-Lookup-v0")
    _feasible(env)
    before = env.unwrapped.get_state()

    class Babbler(NoisyOracleProver):
        def act(self, observation, env):
            return "not a call"

    result = Babbler().rollout(env, max_steps=10)
    assert not result.success and not result.finished and len(result.steps) == 3
    assert env.unwrapped.get_state() == before


# -- pav -----------------------------------------------------------------------------


def _oracle_episode(env, seed):
    env.reset(seed=seed)
    terms, values = [], []
    while True:
        _, reward, terminated, truncated, info = env.step(env.unwrapped.oracle_step())
        assert reward == pytest.approx(sum(info["reward_terms"].values()))
        terms.append(info["reward_terms"]["pav"])
        values.append(info["progress_value"])
        if terminated or truncated:
            return terms, values, info


@pytest.mark.parametrize("family", FAMILIES)
def test_pav_progress_is_nonnegative_on_average_along_the_oracle(family):
    env = gym.make(
        f"densegym/ToolShop-{family}-v0",
        shaping={"id": "pav", "prover": "oracle-0.7", "n_rollouts": 32},
    )
    assert has_capability(env, "HasStepChain")
    all_terms = []
    for seed in range(1, 7):
        terms, values, info = _oracle_episode(env, seed)
        assert info["is_success"] and values[-1] == 1.0
        all_terms += terms
        # the sum telescopes to V(s_T) - V(s_0) = 1 - V(s_0) >= 0
        assert sum(terms) == pytest.approx(1.0 - (values[0] - terms[0]))
    assert np.mean(all_terms) > 0.0


@pytest.mark.parametrize("family", FAMILIES)
def test_the_oracle_call_has_a_larger_advantage_than_a_wrong_call(family):
    env = gym.make(f"densegym/ToolShop-{family}-v0")
    base = env.unwrapped
    value = ProverValue("oracle-0.7", n_rollouts=128, seed=0)
    gaps, final_gaps = [], []
    for seed in range(1, 6):
        env.reset(seed=seed)
        rng = random.Random(seed)
        while True:
            snapshot = base.get_state()
            v0 = value(snapshot)
            oracle, wrong = base.oracle_step(), base.wrong_step(rng)
            final = json.loads(oracle)["name"] in ("answer", "report_infeasible")
            base.step(wrong)
            advantage_wrong = value(base.get_state()) - v0
            base.set_state(snapshot)
            _, _, terminated, truncated, _ = base.step(oracle)
            advantage_oracle = value(base.get_state()) - v0
            gaps.append(advantage_oracle - advantage_wrong)
            if final:
                final_gaps.append(advantage_oracle - advantage_wrong)
            if terminated or truncated:
                break
    assert np.mean(gaps) > 0.1
    assert min(final_gaps) > 0.5  # a wrong final call ends the episode unsuccessfully
    assert np.mean([g > -0.15 for g in gaps]) == 1.0  # never clearly worse (MC noise)


def test_pav_is_deterministic_given_the_seed():
    def run(shaper_seed):
        env = gym.make(
            "densegym/ToolShop-Orders-v0",
            shaping={"id": "pav", "prover": "oracle-0.7", "n_rollouts": 16, "seed": shaper_seed},
        )
        return [_oracle_episode(env, seed)[0] for seed in (1, 2)]

    assert run(0) == run(0)
    assert run(0) != run(5)


def test_pav_closed_form_on_tools_pays_each_oracle_call():
    env = gym.make(
        "densegym/ToolShop-Orders-v0",
        shaping={"id": "pav", "prover": "oracle-0.5", "estimator": "closed_form"},
    )
    seed = _feasible(env)
    remaining = env.unwrapped.oracle_remaining()
    terms, values, _ = _oracle_episode(env, seed)
    assert values[0] == pytest.approx(0.5 ** (remaining - 1))
    assert all(t > 0 for t in terms)
    assert sum(terms) == pytest.approx(1.0 - 0.5**remaining)


def test_pav_with_an_llm_prover_uses_the_tool_prompt():
    seen = []

    class Caller:  # a stand-in model: answers with the env's first oracle-free guess
        def generate(self, prompts, **kwargs):
            seen.extend(prompts)
            return [type("R", (), {"text": 'answer(answer="no idea")'})() for _ in prompts]

    from densegym.envs.reasoning.provers import LLMProver

    env = gym.make("densegym/ToolShop-Lookup-v0")
    _feasible(env)
    assert LLMProver(Caller()).estimate_value(env, n=2, seed=0) == 0.0
    assert seen and "tool call" in seen[0] and "Request:" in seen[0]


def test_ppo_trains_on_grounded_candidates_with_pav(tmp_path):
    from densegym.agents.sb3.training import RunConfig, train

    config = RunConfig(
        "densegym/ToolShop-Lookup-v0",
        algo="ppo",
        steps=256,
        n_envs=2,
        seed=0,
        logdir=str(tmp_path),
        env_kwargs={
            "view": {"id": "candidates", "k": 8, "encoder": {"id": "ngram", "dim": 32}},
            "shaping": {"id": "pav", "n_rollouts": 8},
        },
        hyperparams={"n_steps": 64, "batch_size": 64, "n_epochs": 2},
        log_every=128,
    )
    summary = train(config, progress=False)
    assert summary["timesteps"] >= 256
    assert (Path(summary["run_dir"]) / "final_model.zip").exists()


# -- prm -------------------------------------------------------------------------------


def test_prm_trains_on_monte_carlo_labels_of_tool_calls(tmp_path):
    from densegym.rewards.progress import collect_step_labels, train_prm

    data = collect_step_labels(
        "densegym/ToolShop-Orders-v0", "oracle-0.6", n_problems=12, n_rollouts=6, labels="soft"
    )
    assert len(data) > 12 and all(0.0 <= d.label <= 1.0 for d in data)
    assert 0.0 < np.mean([d.label for d in data]) < 1.0
    path = tmp_path / "prm.pt"
    result = train_prm(data, dim=128, epochs=60, path=path)
    assert result.losses[-1] < result.losses[0]
    env = gym.make("densegym/ToolShop-Orders-v0", shaping={"id": "prm", "path": str(path)})
    env.reset(seed=1)
    _, reward, _, _, info = env.step(env.unwrapped.oracle_step())
    assert 0.0 <= info["prm_score"] <= 1.0
    assert reward == pytest.approx(sum(info["reward_terms"].values()))
