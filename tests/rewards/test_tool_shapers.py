"""Tool-world shapers: the call cost, the discovery bonus and the reward-hacking flag."""

from __future__ import annotations

import math

import gymnasium as gym
import pytest

import densegym  # noqa: F401  (registers the ids)
from densegym.rewards import ShapedReward, find_shapers
from densegym.rewards.tool_shapers import tracks_entities

ORDERS = "densegym/ToolShop-Orders-v0"
FAMILIES = ("Lookup", "Orders", "Config")
WRONG_ANSWER = '{"name": "answer", "arguments": {"answer": "no idea"}}'


def _oracle_episode(env: gym.Env, seed: int) -> list[dict]:
    env.reset(seed=seed)
    infos, done = [], False
    while not done:
        _, reward, terminated, truncated, info = env.step(env.unwrapped.oracle_step())
        assert math.isclose(reward, sum(info["reward_terms"].values()), abs_tol=1e-12)
        infos.append(info)
        done = terminated or truncated
    return infos


# -- call_cost -------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_call_cost_is_minus_scale_times_cost(family):
    env = gym.make(f"densegym/ToolShop-{family}-v0", shaping={"id": "call_cost", "scale": 0.5})
    for seed in range(5):
        infos = _oracle_episode(env, seed)
        for info in infos:
            assert info["reward_terms"]["call_cost"] == -0.5 * info["call_cost"]
        total = sum(info["reward_terms"]["call_cost"] for info in infos)
        assert math.isclose(total, -0.5 * infos[-1]["total_cost"])
    env.close()


def test_call_cost_charges_nothing_for_an_unreadable_call():
    env = gym.make(ORDERS, shaping="call_cost")
    env.reset(seed=0)
    info = env.step("this is not a call")[4]
    assert info["invalid_call"] and info["reward_terms"]["call_cost"] == 0.0


def test_call_cost_is_zero_without_the_key():
    env = gym.make("densegym/MountainCarSparse-v0", shaping="call_cost")
    env.reset(seed=0)
    assert env.step(1)[4]["reward_terms"]["call_cost"] == 0.0


@pytest.mark.parametrize("scale", [-1.0, float("nan"), "1", True])
def test_call_cost_refuses_a_bad_scale(scale):
    with pytest.raises(ValueError, match="call_cost"):
        gym.make(ORDERS, shaping={"id": "call_cost", "scale": scale})


# -- discovery -------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_discovery_pays_each_needed_id_once(family):
    env = gym.make(f"densegym/ToolShop-{family}-v0", shaping={"id": "discovery", "bonus": 1.0})
    shaper = find_shapers(env)[0]
    for seed in range(8):
        env.reset(seed=seed)
        base = env.unwrapped
        needed = base.needed_entities()
        in_request = base.seen_entities()
        total, done, calls = 0.0, False, []
        while not done:
            call = base.oracle_step()
            calls.append(call)
            _, _, terminated, truncated, info = env.step(call)
            total += info["reward_terms"]["discovery"]
            done = terminated or truncated
        unseen = needed - in_request
        assert math.isclose(total, len(unseen) / len(needed) if needed else 0.0)
        assert shaper.paid == base.seen_entities()
        assert total <= 1.0 + 1e-12


def test_discovery_never_pays_on_re_sight():
    env = gym.make(ORDERS, shaping={"id": "discovery", "bonus": 1.0})
    env.reset(seed=0)
    needed = env.unwrapped.needed_entities()
    assert len(needed) == 2
    paid = []
    reads = []
    while True:  # run the plan's reads, then repeat each one
        call = env.unwrapped.oracle_step()
        if '"report_infeasible"' in call or '"answer"' in call:
            break
        reads.append(call)
        paid.append(env.step(call)[4]["reward_terms"]["discovery"])
    assert math.isclose(sum(paid), 1.0) and all(p in (0.0, 0.5, 1.0) for p in paid)
    for call in reads * 3:
        assert env.step(call)[4]["reward_terms"]["discovery"] == 0.0
    # A new episode pays again, and at most the bonus.
    env.reset(seed=0)
    again = [env.step(call)[4]["reward_terms"]["discovery"] for call in reads * 2]
    assert math.isclose(sum(again), 1.0)


def test_discovery_is_zero_on_envs_without_entities():
    env = gym.make("densegym/MountainCarSparse-v0", shaping="discovery")
    assert not tracks_entities(env)
    env.reset(seed=0)
    assert env.step(1)[4]["reward_terms"]["discovery"] == 0.0


def test_entities_follow_snapshots():
    env = gym.make(ORDERS)
    env.reset(seed=0)
    base = env.unwrapped
    state = base.get_state()
    env.step(base.oracle_step())
    assert base.seen_entities()
    base.set_state(state)
    assert not base.seen_entities()
    assert base.clone().needed_entities() == base.needed_entities()


# -- the reward-hacking flag -----------------------------------------------------------


def _farm_then_fail(env: gym.Env, seed: int) -> dict:
    """Collect the discovery bonus with the plan's first read, then give a wrong answer."""
    env.reset(seed=seed)
    env.step(env.unwrapped.oracle_step())
    return env.step(WRONG_ANSWER)[4]


def test_farmed_reward_on_a_failed_task_is_flagged():
    env = gym.make(ORDERS, shaping={"id": "discovery", "bonus": 1.0})
    info = _farm_then_fail(env, seed=0)
    assert not info["is_success"] and info["reward_terms"]["discovery"] == 0.0
    assert info["reward_hacking"] is True and info["reward_hacking_episodes"] == 1
    info = _farm_then_fail(env, seed=1)
    assert info["reward_hacking"] is True and info["reward_hacking_episodes"] == 2
    assert find_shapers(env)[0].reward_hacking_episodes == 2


def test_success_and_unpaid_failure_are_not_flagged():
    env = gym.make(ORDERS, shaping={"id": "discovery", "bonus": 1.0})
    last = _oracle_episode(env, seed=0)[-1]
    assert last["is_success"] and last["reward_hacking"] is False
    assert last["reward_hacking_episodes"] == 0
    for info in _oracle_episode(env, seed=1)[:-1]:  # only the final step carries the flag
        assert "reward_hacking" not in info
    env.reset(seed=2)
    info = env.step(WRONG_ANSWER)[4]  # nothing earned, nothing farmed
    assert not info["is_success"] and info["reward_hacking"] is False


def test_the_outermost_shaper_judges_the_stack():
    # Discovery pays at most 0.1; the price of the calls outweighs it, so the stack's return
    # is negative and the outermost layer clears the inner one's flag.
    spec = [{"id": "discovery", "bonus": 0.1}, {"id": "call_cost", "scale": 1.0}]
    env = gym.make(ORDERS, shaping=spec)
    info = _farm_then_fail(env, seed=0)
    assert info["reward_hacking"] is False
    inner, outer = find_shapers(env)
    assert inner.reward_hacking_episodes == 1 and outer.reward_hacking_episodes == 0


class _TwoSteps(gym.Env):
    """Ends after two steps and reports no ``is_success``."""

    observation_space = gym.spaces.Discrete(3)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return 0, {}

    def step(self, action):
        self.t += 1
        return self.t, 0.0, self.t >= 2, False, {}


class _Farm(ShapedReward):
    def reward_term(self, transition):
        return 1.0


def test_no_flag_on_envs_without_is_success():
    env = _Farm(_TwoSteps())
    env.reset(seed=0)
    env.step(0)
    info = env.step(0)[4]
    assert info["reward_terms"]["shaped"] == 1.0 and "reward_hacking" not in info
