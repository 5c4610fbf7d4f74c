import gymnasium as gym
import pytest

import densegym  # noqa: F401  (registers the ids)
from densegym.protocols import has_capability
from densegym.rewards.potential import get_potential

IDS = ["densegym/ToolShop-Lookup-v0", "densegym/ToolShop-Orders-v0", "densegym/ToolShop-Config-v0"]


@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize("potential", [None, "oracle_distance"])
def test_potential_shaping_telescopes_on_an_oracle_episode(env_id, potential):
    spec = {"id": "potential", "gamma": 1.0}
    if potential:
        spec["potential"] = potential
    env = gym.make(env_id, shaping=spec)
    assert has_capability(env, "HasPotential")
    phi = get_potential(potential or env.unwrapped.default_potential)
    for seed in range(10):
        obs, info = env.reset(seed=seed)
        phi0 = phi(env.unwrapped, obs)
        total = 0.0
        while True:
            obs, reward, terminated, truncated, info = env.step(env.unwrapped.oracle_step())
            total += info["reward_terms"]["potential"]
            if terminated or truncated:
                break
        assert info["reward_terms"]["extrinsic"] == 1.0
        assert total == pytest.approx(-phi0)  # γ = 1 and Φ(terminal) = 0


def test_progress_potential_pays_for_a_satisfied_predicate_and_distance_for_each_call():
    env = gym.make("densegym/ToolShop-Orders-v0", difficulty=1, shaping="potential")
    distance = gym.make(
        "densegym/ToolShop-Orders-v0",
        difficulty=1,
        shaping={"id": "potential", "potential": "oracle_distance", "gamma": 1.0},
    )
    for seed in range(20):
        env.reset(seed=seed)
        distance.reset(seed=seed)
        if not env.unwrapped.problem.infeasible:
            break
    terms, steps = [], []
    while True:
        action = env.unwrapped.oracle_step()
        _, _, terminated, _, info = env.step(action)
        _, _, _, _, dinfo = distance.step(action)
        terms.append(info["reward_terms"]["potential"])
        steps.append(dinfo["reward_terms"]["potential"])
        if terminated:
            break
    assert max(terms[:-1]) > 0  # the write that satisfies the predicates
    assert all(s > 0 for s in steps)  # every oracle call brings the goal nearer


def test_oracle_distance_is_one_when_the_task_is_lost():
    env = gym.make("densegym/ToolShop-Orders-v0", difficulty=1)
    for seed in range(50):
        env.reset(seed=seed)
        problem = env.unwrapped.problem
        if not problem.infeasible and problem.meta["requests"] == ["cancel"]:
            break
    base = env.unwrapped
    other = base._conn.execute(
        "SELECT order_id FROM orders WHERE status = 'pending' AND order_id != ?",
        (problem.meta["orders"][0],),
    ).fetchone()[0]
    assert 0 < base.oracle_distance() <= 1 and base.progress() == 0.0
    env.step(f'cancel_order(order_id="{other}", reason="no longer needed")')
    assert base.oracle_distance() == 1.0
    assert get_potential("oracle_distance")(base, None) == -1.0
