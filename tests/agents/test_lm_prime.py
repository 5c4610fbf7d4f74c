"""PRIME's online implicit PRM update inside the LM trainer (``prime_update``)."""

from __future__ import annotations

import math

import gymnasium as gym
import pytest
import torch

pytest.importorskip("transformers")

import densegym  # noqa: E402, F401
from densegym.agents.llm.lm_checkpoint import list_checkpoints, load_checkpoint  # noqa: E402
from densegym.agents.llm.lm_prime import OnlineImplicitPRM  # noqa: E402
from densegym.agents.llm.trainers import LMTrainer, train  # noqa: E402
from densegym.agents.runs import RunConfig  # noqa: E402
from densegym.rewards import find_shapers  # noqa: E402

ENV = "densegym/Arithmetic-v0"
SHAPING = {"id": "implicit_prm", "policy": "tiny-random", "beta": 0.5}


def _played(n=3):
    """Envs whose episode wrote oracle steps (1 and 3 steps) or a wrong step."""
    envs = [gym.make(ENV, difficulty=1, shaping=SHAPING) for _ in range(n)]
    for k, env in enumerate(envs):
        env.reset(seed=k)
        env.step("1 + 1 = 3" if k == 2 else env.unwrapped.oracle_step())
    return envs


def test_the_group_shares_one_policy_and_the_update_fits_the_outcome_labels():
    envs = _played()
    prime = OnlineImplicitPRM(envs, lr=1e-2)
    models = [find_shapers(env)[0].model for env in envs]
    assert all(m.policy is prime.prm.policy and m.reference is prime.prm.reference for m in models)
    reference = [p.detach().clone() for p in prime.reference.parameters()]
    labels = [True, True, False]
    examples = prime.examples(envs, labels)
    assert [e.label for e in examples] == [1.0, 1.0, 0.0] and all(e.steps for e in examples)
    with torch.no_grad():
        before = float(prime.loss(examples))
    assert before == pytest.approx(math.log(2), abs=1e-5)  # pi_phi == pi_ref: sigmoid(0)
    for _ in range(5):
        stats = prime.update(envs, labels)
    assert stats["examples"] == 3 and prime.updates == 5
    with torch.no_grad():
        assert float(prime.loss(examples)) < before - 0.01
    assert all(torch.equal(a, b) for a, b in zip(reference, prime.reference.parameters()))
    # The shaper now pays the labelled-right first step more than the wrong one.
    right = find_shapers(envs[0])[0].model.last_step_log_ratio(
        examples[0].question, examples[0].steps
    )
    wrong = find_shapers(envs[2])[0].model.last_step_log_ratio(
        examples[2].question, examples[2].steps
    )
    assert right > 0 > wrong


def test_prime_update_needs_an_implicit_prm_term(tmp_path):
    config = RunConfig(ENV, trainer="lm:grpo", shaping="pav", steps=2, logdir=str(tmp_path),
                       hyperparams={"group_size": 2, "prime_update": True})  # fmt: skip
    with pytest.raises(ValueError, match="prime_update needs exactly one implicit_prm term"):
        LMTrainer(config)


def _config(tmp_path, steps):
    return RunConfig(
        ENV, trainer="lm:grpo", shaping=SHAPING, steps=steps, log_every=1, logdir=str(tmp_path),
        env_kwargs={"difficulty": 1},
        hyperparams={"group_size": 2, "max_new_tokens": 5, "max_episode_steps": 2,
                     "advantage": "pav", "prime_update": True, "prime_lr": 1e-2,
                     "save_model": False},
    )  # fmt: skip


def test_a_prime_run_updates_pi_phi_logs_it_and_resumes_exactly(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    straight = _config(tmp_path / "a", 8)
    train(straight, progress=False)
    events = EventAccumulator(str(straight.run_dir))
    events.Reload()
    losses = [e.value for e in events.Scalars("lm/prime_loss")]
    assert losses and all(math.isfinite(v) and v > 0 for v in losses)
    state = load_checkpoint(list_checkpoints(straight.run_dir)[-1])
    assert state["prime"]["updates"] == len(losses)
    initial = OnlineImplicitPRM(_played(1), lr=0.0).model.state_dict()
    assert any(not torch.equal(initial[k], v) for k, v in state["prime"]["weights"].items())
    # Stop at 4 steps, resume to 8: pi_phi and the policy continue exactly.
    train(_config(tmp_path / "b", 4), progress=False)
    summary = train(_config(tmp_path / "b", 8), resume=True, progress=False)
    assert summary["resumed_from"].startswith("step_")
    got = load_checkpoint(list_checkpoints(_config(tmp_path / "b", 8).run_dir)[-1])
    assert got["env_steps"] == state["env_steps"]
    for key in ("weights",):
        for name, tensor in got[key].items():
            torch.testing.assert_close(tensor, state[key][name], rtol=0, atol=1e-6)
    for name, tensor in got["prime"]["weights"].items():
        torch.testing.assert_close(tensor, state["prime"]["weights"][name], rtol=0, atol=1e-6)
