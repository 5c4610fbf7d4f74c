"""The web potentials beside the purchase stage: item match and 1/rank of the target."""

from __future__ import annotations

import gymnasium as gym
import pytest

import densegym  # noqa: F401
from densegym.envs.web import WebShopEnv


def oracle_episode(seed: int, difficulty: int = 1):
    env = WebShopEnv(difficulty=difficulty)
    env.reset(seed=seed)
    trace = [(None, env.viewed_item_match(), env.target_rank_score())]
    done = False
    while not done:
        _, _, terminated, truncated, info = env.step(env.oracle_step())
        done = terminated or truncated
        trace.append((info.get("page"), env.viewed_item_match(), env.target_rank_score()))
    return env, trace, info


@pytest.mark.parametrize("seed", range(12))
def test_oracle_episode_raises_both_signals_to_the_top(seed):
    env, trace, info = oracle_episode(seed, difficulty=1 + seed % 3)
    assert info["is_success"]
    assert trace[0][1] == 0.0 and trace[0][2] == 0.0  # nothing searched, no item on screen
    ranks = [rank for _, _, rank in trace[1:-1]]
    assert max(ranks) > 0  # the oracle's query lists the target
    matches = [match for _, match, _ in trace[:-1]]
    assert max(matches) == pytest.approx(1.0)  # the target with every asked option chosen
    assert trace[-1][1] == 1.0 and trace[-1][2] == 0.0  # bought: the score; rank is over
    env.close()


def test_a_wrong_item_matches_less_and_rank_follows_the_url_query():
    env = WebShopEnv(difficulty=1)
    env.reset(seed=3)
    task = env.task
    env.step("search[" + task["query"] + "]")
    rank = env.target_rank_score()
    assert 0 < rank <= 1
    links = [e for e in env.page.elements if e.id.startswith("item-")]
    other = next(e for e in links if e.id != "item-" + task["asin"].lower())
    env.step(f"click[{other.id}]")
    assert env.viewed_item_match() < 1.0
    assert env.target_rank_score() == rank  # the item page carries the query
    env.close()


@pytest.mark.parametrize("potential", ["web_item_match", "web_target_rank"])
def test_as_shaping_the_terms_sum_to_the_reward(potential):
    env = gym.make(
        "densegym/WebShop-Search-v0", shaping={"id": "potential", "potential": potential}
    )
    env.reset(seed=5)
    done = False
    while not done:
        _, reward, terminated, truncated, info = env.step(env.unwrapped.oracle_step())
        assert reward == pytest.approx(sum(info["reward_terms"].values()))
        done = terminated or truncated
    assert info["is_success"]
    env.close()
