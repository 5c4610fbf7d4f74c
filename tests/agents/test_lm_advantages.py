"""Token advantages of lm:grpo's modes and lm:rloo, checked against hand computations."""

from __future__ import annotations

import math

import pytest

from densegym.agents.llm.lm_advantages import (
    ADVANTAGE_MODES,
    outcome_advantages,
    process_advantages,
    rloo_advantages,
    step_advantages,
)

# A 3-step example, three rollouts of one task. Each step reward is outcome + process:
#   A solves it (outcome 1 at the end) and makes progress 1 at steps 1 and 2;
#   B fails with outcome -1 and loses 1 of progress at steps 1 and 2;
#   C does nothing.
REWARDS = [[1.0, 1.0, 1.0], [-1.0, -1.0, -1.0], [0.0, 0.0, 0.0]]
OUTCOME = [[0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [0.0, 0.0, 0.0]]
S = math.sqrt(1.5)  # 1 / population std of the nine step rewards (std = sqrt(2/3))


def approx(rows):
    return [pytest.approx(row, abs=1e-9) for row in rows]


def test_process_mode_by_hand():
    # Mean 0; each reward normalised to +-sqrt(1.5) or 0; a step gets its own and every
    # later normalised reward: A 3s, 2s, s.
    got = step_advantages("process", REWARDS, OUTCOME, eps=0.0)
    assert got == approx([[3 * S, 2 * S, S], [-3 * S, -2 * S, -S], [0, 0, 0]])
    assert got == approx(process_advantages(REWARDS, eps=0.0, digits=None))


def test_outcome_mode_is_one_normalised_outcome_per_rollout():
    # Outcomes 1, -1, 0: mean 0, sample std 1 -> 1, -1, 0 on every step.
    got = step_advantages("outcome", REWARDS, OUTCOME, eps=0.0)
    assert got == approx([[1, 1, 1], [-1, -1, -1], [0, 0, 0]])


def test_pav_mode_adds_the_later_progress_to_the_outcome_advantage():
    # A: outcome advantage 1 plus its progress from the step on: 1 + (2, 1, 0).
    got = step_advantages("pav", REWARDS, OUTCOME, eps=0.0)
    assert got == approx([[3, 2, 1], [-3, -2, -1], [0, 0, 0]])


def test_process_weight_mixes_process_and_outcome():
    # w = 0.25: 0.25 * process + 0.75 * outcome.
    got = step_advantages("process", REWARDS, OUTCOME, process_weight=0.25, eps=0.0)
    want_a = [0.25 * k * S + 0.75 for k in (3, 2, 1)]
    assert got == approx([want_a, [-v for v in want_a], [0, 0, 0]])


def test_rloo_mode_subtracts_the_mean_of_the_other_returns():
    # Returns 3, -3, 0: A 3 - (-3 + 0) / 2 = 4.5, B -3 - (3 + 0) / 2 = -4.5, C 0 - 0.
    got = step_advantages("rloo", REWARDS, OUTCOME)
    assert got == approx([[4.5] * 3, [-4.5] * 3, [0] * 3])
    # Leave-one-out is G / (G - 1) times the plain mean baseline.
    returns = [0.5, 2.0, -1.0, 0.0]
    mean = sum(returns) / 4
    assert rloo_advantages(returns) == pytest.approx([4 / 3 * (r - mean) for r in returns])


@pytest.mark.parametrize("outcomes", [[1.0, 0.0, 0.0, 1.0], [0.3, -2.0, 5.0], [1.0, 1.0]])
def test_zero_step_rewards_reproduce_plain_grpo_exactly(outcomes):
    # Rollouts of different lengths with the outcome at the end and no process reward.
    lengths = [3, 1, 2, 4][: len(outcomes)]
    outcome = [[0.0] * (n - 1) + [o] for n, o in zip(lengths, outcomes)]
    grpo = step_advantages("outcome", outcome, outcome)
    assert grpo == [[a] * n for a, n in zip(outcome_advantages(outcomes), lengths)]
    assert step_advantages("pav", outcome, outcome) == grpo  # exactly, not approximately
    assert step_advantages("process", outcome, outcome, process_weight=0.0) == grpo


def test_outcome_advantages_scale_like_trl():
    # TRL's GRPOTrainer: (r - mean) / (sample std + 1e-4).
    rewards = [1.0, 0.0, 0.0, 0.0]
    mean, std = 0.25, math.sqrt(0.75 / 3)
    assert outcome_advantages(rewards) == pytest.approx(
        [(r - mean) / (std + 1e-4) for r in rewards]
    )
    assert outcome_advantages([2.0, 2.0, 2.0]) == [0.0, 0.0, 0.0]


def test_bad_arguments_fail_in_one_sentence():
    with pytest.raises(ValueError, match="unknown advantage mode 'ppo'; known: process"):
        step_advantages("ppo", REWARDS, OUTCOME)
    with pytest.raises(ValueError, match=r"process_weight must be in \[0, 1\]"):
        step_advantages("process", REWARDS, OUTCOME, process_weight=1.5)
    with pytest.raises(ValueError, match="one value per step"):
        step_advantages("pav", REWARDS, OUTCOME[:2])
    assert set(ADVANTAGE_MODES) == {"process", "outcome", "pav", "rloo"}
