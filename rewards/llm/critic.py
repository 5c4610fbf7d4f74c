r"""The critic (Auto MC-Reward): reject reward code before it costs a training run.

Code passes when it clears the AST allow-list, loads in the sandbox, and returns finite,
bounded, non-constant numbers on transitions sampled from the env with random actions.

Example:
    >>> transitions = sample_transitions("densegym/MountainCarSparse-v0", n=32)
    >>> critique("def reward(obs, action, next_obs, info):\n    return 1.0", transitions).reason
    'constant: it returns 1 on every sampled transition'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from densegym.rewards.llm.policy import CodeRejected, check_code
from densegym.rewards.llm.sandbox import Sandbox, SandboxError
from densegym.rewards.terms import TERM_BOUND


@dataclass
class Verdict:
    """The critic's decision on one piece of code.

    Attributes:
        accepted: whether the code may be trained with.
        reason: ``"ok"`` or why it was rejected.
        stats: mean/std/min/max of its values on the sampled transitions.
    """

    accepted: bool
    reason: str
    stats: dict[str, float] = field(default_factory=dict)


def sample_transitions(
    env_id: str, n: int = 256, seed: int = 0, env_kwargs: dict[str, Any] | None = None
) -> list[tuple[Any, Any, Any, dict[str, Any]]]:
    """``n`` transitions ``(obs, action, next_obs, info)`` of a random policy (no shaping)."""
    import densegym  # noqa: F401  (registers the env ids)

    env = gym.make(env_id, **(env_kwargs or {}))
    env.action_space.seed(seed)
    transitions = []
    obs, _ = env.reset(seed=seed)
    episode = 0
    while len(transitions) < n:
        action = env.action_space.sample()
        next_obs, _, terminated, truncated, info = env.step(action)
        transitions.append((obs, action, next_obs, dict(info)))
        obs = next_obs
        if terminated or truncated:
            episode += 1
            obs, _ = env.reset(seed=seed + episode)
    env.close()
    return transitions


def critique(
    code: str, transitions: list[tuple[Any, ...]], *, timeout: float = 5.0, memory_mb: int = 1024
) -> Verdict:
    """Check ``code`` statically, then run it on ``transitions`` in the sandbox.

    Rejects: allow-list violations, code that fails to load, any error/timeout/crash or
    non-number on a transition, non-finite values, values beyond ``±TERM_BOUND`` (the
    term pipeline would clamp them, so training would see a different reward) and
    constant output.
    """
    problems = check_code(code)
    if problems:
        return Verdict(False, "allow-list: " + "; ".join(problems))
    try:
        box = Sandbox(code, timeout=timeout, per_item_timeout=0.0, memory_mb=memory_mb)
    except (CodeRejected, SandboxError) as error:
        return Verdict(False, f"load: {error}")
    with box:
        results = box.call_batch(transitions)
    failed = [r for r in results if not r.ok]
    if failed:
        first = failed[0]
        return Verdict(
            False, f"{first.kind} on {len(failed)}/{len(results)} transitions: {first.error}"
        )
    values = np.array([r.value for r in results], dtype=np.float64)
    stats = {
        "mean": float(values.mean()),
        "std": float(values.std()),
        "min": float(values.min()),
        "max": float(values.max()),
    }
    extreme = np.abs(values) > TERM_BOUND
    if extreme.any():
        return Verdict(
            False,
            f"extreme: {int(extreme.sum())}/{values.size} values beyond ±{TERM_BOUND:g} "
            f"(e.g. {float(values[extreme][0]):g}); the term pipeline would clamp them",
            stats,
        )
    if values.size and stats["max"] - stats["min"] <= 1e-12 * max(1.0, abs(stats["mean"])):
        return Verdict(
            False, f"constant: it returns {stats['mean']:g} on every sampled transition", stats
        )
    return Verdict(True, "ok", stats)
