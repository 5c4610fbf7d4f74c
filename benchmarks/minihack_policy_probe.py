r"""What a trained MiniHack policy does: its actions, how far it roams, whether it finds the goal.

Loads a saved SB3 model (a run's ``final_model.zip`` or a checkpoint), plays it
(stochastic actions, as in training) on fresh episodes of a densegym MiniHack task and
reports, over those episodes:

* the share of each action (a policy that collapsed onto one action shows here);
* success rate, mean episode length and mean extrinsic return;
* distinct cells visited per episode (how far it roams);
* how each episode ended: goal reached, goal *seen* (on the agent's map) but not
  reached, or goal never seen. "Seen, not reached" points at goal avoidance (e.g. a
  novelty bonus worth more than the goal); "never seen" at failed exploration.

Prints a Markdown table and writes a JSON file. ``--model random`` plays uniformly
random actions instead: the baseline a trained policy should beat.

    python benchmarks/minihack_policy_probe.py \
        --model runs/minihack_exploration/MiniHack-Corridor-R3-v0/none/ppo-seed0/final_model.zip \
        --env densegym/MiniHack-Corridor-R3-v0 --episodes 20
    python benchmarks/minihack_policy_probe.py --model random \
        --env densegym/MiniHack-MultiRoom-N4-v0 --episodes 60
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import densegym  # noqa: F401  (registers the envs)
from densegym.agents.sb3 import ALGORITHM_NAMES


class RandomPolicy:
    """Uniformly random actions through SB3's ``predict`` interface (a seeded baseline).

    Example:
        >>> policy = RandomPolicy(n_actions=8, seed=0)
        >>> actions = [policy.predict(None)[0] for _ in range(200)]
        >>> sorted(set(actions)) == list(range(8))
        True
    """

    def __init__(self, n_actions: int, seed: int = 0):
        self.n_actions = n_actions
        self.rng = np.random.default_rng(seed)

    def predict(self, obs: Any, state: Any = None, episode_start: Any = None, **_: Any):
        """Return a random action and no state."""
        return int(self.rng.integers(self.n_actions)), None


def probe(model: Any, env_id: str, episodes: int = 20, seed: int = 10_000) -> dict[str, Any]:
    """Play ``model`` for ``episodes`` episodes of ``env_id`` and summarise its behaviour.

    Args:
        model: anything with SB3's ``predict`` (a recurrent policy's state is carried
            across an episode's steps), or ``"random"`` for the uniform-random baseline.
        env_id: a densegym MiniHack id (no shaping: extrinsic reward only).
        episodes: number of episodes.
        seed: seed of the first episode (episode i uses ``seed + i``), away from
            the training seeds by default.

    Returns:
        ``success_rate``, ``mean_length``, ``mean_return``, ``mean_cells``,
        ``outcomes`` (counts of ``reached`` / ``seen_not_reached`` / ``never_seen``)
        and ``action_share`` (action name → share of all steps).
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    env = gym.make(env_id)
    if isinstance(model, str) and model == "random":
        model = RandomPolicy(env.action_space.n, seed=seed)
    game = env.unwrapped
    if not hasattr(game, "goal_seen"):
        raise ValueError(f"{env_id} is not a densegym MiniHack task")
    actions: Counter[int] = Counter()
    outcomes = Counter({"reached": 0, "seen_not_reached": 0, "never_seen": 0})
    lengths, returns, cells = [], [], []
    for episode in range(episodes):
        obs, info = env.reset(seed=seed + episode)
        visited, total, steps, seen = set(), 0.0, 0, game.goal_seen()
        state, start = None, np.ones((1,), dtype=bool)
        while True:
            action, state = model.predict(
                obs, state=state, episode_start=start, deterministic=False
            )
            start = np.zeros((1,), dtype=bool)
            action = int(action)
            actions[action] += 1
            obs, reward, terminated, truncated, info = env.step(action)
            total, steps = total + float(reward), steps + 1
            visited.add(game.agent_position())
            seen = seen or game.goal_seen()
            if terminated or truncated:
                break
        if info.get("is_success"):
            outcomes["reached"] += 1
        else:
            outcomes["seen_not_reached" if seen else "never_seen"] += 1
        lengths.append(steps)
        returns.append(total)
        cells.append(len(visited))
    env.close()
    all_steps = sum(actions.values())
    names = game.action_names
    return {
        "env_id": env_id,
        "episodes": episodes,
        "success_rate": outcomes["reached"] / episodes,
        "mean_length": float(np.mean(lengths)),
        "mean_return": float(np.mean(returns)),
        "mean_cells": float(np.mean(cells)),
        "outcomes": dict(outcomes),
        "action_share": {names[a]: actions[a] / all_steps for a in range(len(names))},
    }


def markdown(result: dict[str, Any]) -> str:
    """The probe's result as two small Markdown tables.

    Example:
        >>> result = {"success_rate": 0.5, "mean_length": 10.0, "mean_return": 0.4,
        ...           "mean_cells": 7.0, "episodes": 2,
        ...           "outcomes": {"reached": 1, "seen_not_reached": 0, "never_seen": 1},
        ...           "action_share": {"N": 0.75, "E": 0.25}}
        >>> print(markdown(result).splitlines()[2])
        | 0.50 | 10 | 0.40 | 7.0 | 1 | 0 | 1 |
    """
    outcomes = result["outcomes"]
    lines = [
        "| success | mean length | mean return | cells visited | reached | goal seen, "
        "not reached | goal never seen |",
        "|---|---|---|---|---|---|---|",
        f"| {result['success_rate']:.2f} | {result['mean_length']:.0f} | "
        f"{result['mean_return']:.2f} | {result['mean_cells']:.1f} | {outcomes['reached']} | "
        f"{outcomes['seen_not_reached']} | {outcomes['never_seen']} |",
        "",
        "| " + " | ".join(result["action_share"]) + " |",
        "|" + "---|" * len(result["action_share"]),
        "| " + " | ".join(f"{share:.2f}" for share in result["action_share"].values()) + " |",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command-line entry point; returns the result it printed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", required=True, help="a saved SB3 model (.zip), or 'random' for the baseline"
    )
    parser.add_argument("--env", required=True, help="densegym MiniHack env id")
    parser.add_argument("--algo", default="ppo", choices=ALGORITHM_NAMES)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=10_000)
    parser.add_argument("--out", default="", help="JSON file to write ('' to skip)")
    args = parser.parse_args(argv)
    model: Any = args.model  # "random": probe builds the baseline on its own env
    if args.model != "random":
        from densegym.agents.sb3.training import ALGORITHMS

        model = ALGORITHMS[args.algo].load(args.model, device="cpu")
    result = probe(model, args.env, args.episodes, args.seed)
    result["model"] = str(args.model)
    print(markdown(result))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
