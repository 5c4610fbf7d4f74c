"""One evaluation runner for every agent (SB3 models, LLM policies, search agents)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import gymnasium as gym
import numpy as np

import densegym  # noqa: F401  (registers the env ids)


class Agent(Protocol):
    """Anything with SB3's ``predict`` signature is an agent."""

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[Any, Any]:
        """Return ``(action, next_state)`` for one observation."""
        ...


@dataclass
class EvalResult:
    """What :func:`evaluate` reports.

    Attributes:
        episodes: episodes run.
        success_rate: fraction of episodes with ``info["is_success"]`` at the end.
        mean_return: mean episode return (shaped, as the agent saw it).
        std_return: standard deviation of the episode return.
        mean_extrinsic_return: mean episode sum of the task's own reward.
        mean_length: mean episode length in steps.
        env_steps: total env steps (cost).
        llm_tokens: LLM tokens the agent spent (0 for non-LLM agents).
        llm_calls: LLM calls the agent made.
        wall_time_s: wall-clock seconds.
    """

    episodes: int
    success_rate: float
    mean_return: float
    std_return: float
    mean_extrinsic_return: float
    mean_length: float
    env_steps: int
    llm_tokens: int
    llm_calls: int
    wall_time_s: float

    def as_dict(self) -> dict[str, Any]:
        """The result as a plain dict."""
        return asdict(self)


class RandomAgent:
    """Samples uniformly from the action space: the floor every agent should beat.

    Example:
        >>> env = gym.make("densegym/MountainCarSparse-v0")
        >>> agent = RandomAgent(env.action_space, seed=0)
        >>> int(agent.predict(env.reset(seed=0)[0])[0]) in (0, 1, 2)
        True
    """

    def __init__(self, action_space: gym.Space, seed: int | None = None):
        self.action_space = action_space
        self.action_space.seed(seed)

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[Any, Any]:
        """Return a random action."""
        return self.action_space.sample(), state


def _llm_usage(agent: Any) -> tuple[int, int]:
    usage = getattr(agent, "usage", None)
    if callable(usage):
        usage = usage()
    if isinstance(usage, dict):
        tokens = usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
        return int(usage.get("tokens", tokens)), int(usage.get("calls", 0))
    return 0, 0


def evaluate(
    agent: Agent,
    env: str | gym.Env,
    n_episodes: int = 10,
    seed: int = 0,
    deterministic: bool = True,
    env_kwargs: dict[str, Any] | None = None,
) -> EvalResult:
    """Run an agent for ``n_episodes`` and report success, returns and cost.

    Episode ``i`` resets with seed ``seed + i``, so two agents evaluated with the same
    seed face the same tasks.

    Args:
        agent: anything with SB3's ``predict``.
        env: a registered id (made with ``env_kwargs``) or an env instance.
        n_episodes: number of episodes.
        seed: seed of the first episode.
        deterministic: passed to ``predict``.
        env_kwargs: kwargs for ``gym.make`` when ``env`` is an id.

    Example:
        >>> env = gym.make("densegym/MountainCarSparse-v0")
        >>> result = evaluate(RandomAgent(env.action_space, seed=0), env, n_episodes=2)
        >>> result.episodes, result.env_steps
        (2, 400)
    """
    own_env = isinstance(env, str)
    environment = gym.make(env, **(env_kwargs or {})) if own_env else env
    tokens_before, calls_before = _llm_usage(agent)
    returns, extrinsic, lengths, successes = [], [], [], []
    start = time.perf_counter()
    try:
        for episode in range(n_episodes):
            obs, info = environment.reset(seed=seed + episode)
            state, episode_start = None, np.ones((1,), dtype=bool)
            total = total_extrinsic = 0.0
            length, done = 0, False
            while not done:
                action, state = agent.predict(
                    obs, state=state, episode_start=episode_start, deterministic=deterministic
                )
                episode_start = np.zeros((1,), dtype=bool)
                if isinstance(action, np.ndarray) and action.shape == ():
                    action = action.item()
                obs, reward, terminated, truncated, info = environment.step(action)
                total += float(reward)
                total_extrinsic += float(info.get("reward_terms", {}).get("extrinsic", reward))
                length += 1
                done = terminated or truncated
            returns.append(total)
            extrinsic.append(total_extrinsic)
            lengths.append(length)
            successes.append(bool(info.get("is_success", False)))
    finally:
        if own_env:
            environment.close()
    tokens_after, calls_after = _llm_usage(agent)
    return EvalResult(
        episodes=n_episodes,
        success_rate=float(np.mean(successes)) if successes else 0.0,
        mean_return=float(np.mean(returns)) if returns else 0.0,
        std_return=float(np.std(returns)) if returns else 0.0,
        mean_extrinsic_return=float(np.mean(extrinsic)) if extrinsic else 0.0,
        mean_length=float(np.mean(lengths)) if lengths else 0.0,
        env_steps=int(sum(lengths)),
        llm_tokens=tokens_after - tokens_before,
        llm_calls=calls_after - calls_before,
        wall_time_s=time.perf_counter() - start,
    )
