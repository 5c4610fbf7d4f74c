"""One evaluation runner for every agent (SB3 models, LLM policies, search agents).

:func:`evaluate` follows the agent contract of :mod:`densegym.agents.protocol`: it binds
a :class:`~densegym.agents.protocol.Bindable` agent to the env it runs on, and reports
the LLM work of a :class:`~densegym.agents.protocol.HasUsage` agent as the difference of
its ``usage`` before and after the run.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

import densegym  # noqa: F401  (registers the env ids)
from densegym.agents.protocol import Agent, bind_agent, usage_of
from densegym.llm.usage import Usage

__all__ = ["Agent", "EvalResult", "RandomAgent", "evaluate"]


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
        llm_usage: everything the agent's ``usage`` counted during the run
            (:meth:`densegym.llm.Usage.as_dict`: calls, tokens, seconds, search counters);
            zeros for an agent without ``usage``.
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
    llm_usage: dict[str, float] = field(default_factory=lambda: Usage().as_dict())

    def as_dict(self) -> dict[str, Any]:
        """The result as a plain dict."""
        return asdict(self)


class RandomAgent:
    """Samples uniformly from the action space: the floor every agent should beat.

    Args:
        action_space: the space to sample from; ``None`` takes the env's in :meth:`bind`
            (which :func:`evaluate` calls).
        seed: seed of the action space.

    Example:
        >>> env = gym.make("densegym/MountainCarSparse-v0")
        >>> agent = RandomAgent(env.action_space, seed=0)
        >>> int(agent.predict(env.reset(seed=0)[0])[0]) in (0, 1, 2)
        True
        >>> evaluate(RandomAgent(seed=0), env, n_episodes=1).env_steps  # bound by evaluate
        200
    """

    def __init__(self, action_space: gym.Space | None = None, seed: int | None = None):
        self.seed = seed
        self.action_space = action_space
        if action_space is not None:
            action_space.seed(seed)

    def bind(self, env: gym.Env) -> RandomAgent:
        """Sample from ``env``'s action space (seeded with ``seed`` when it is a new space)."""
        if env.action_space is not self.action_space:
            self.action_space = env.action_space
            self.action_space.seed(self.seed)
        return self

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[Any, Any]:
        """Return a random action."""
        if self.action_space is None:
            raise RuntimeError("RandomAgent: bind it to its env first (agent.bind(env))")
        return self.action_space.sample(), state


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
    seed face the same tasks. A :class:`~densegym.agents.protocol.Bindable` agent is
    bound to the env (``agent.bind(env)``) before the first episode; the LLM work of an
    agent with a ``usage`` is what its counters grew by during the run.

    Args:
        agent: anything with SB3's ``predict`` (see :mod:`densegym.agents.protocol`).
        env: a registered id (made with ``env_kwargs``) or an env instance.
        n_episodes: number of episodes.
        seed: seed of the first episode.
        deterministic: passed to ``predict``.
        env_kwargs: kwargs for ``gym.make`` when ``env`` is an id.

    Raises:
        TypeError: the agent's ``usage`` is not a :class:`densegym.llm.Usage`.

    Example:
        >>> env = gym.make("densegym/MountainCarSparse-v0")
        >>> result = evaluate(RandomAgent(env.action_space, seed=0), env, n_episodes=2)
        >>> result.episodes, result.env_steps, result.llm_calls
        (2, 400, 0)
    """
    own_env = isinstance(env, str)
    environment = gym.make(env, **(env_kwargs or {})) if own_env else env
    returns, extrinsic, lengths, successes = [], [], [], []
    start = time.perf_counter()
    try:
        # Search agents plan on (and random agents sample from) the env they run on.
        bind_agent(agent, environment)
        before = usage_of(agent)
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
        after = usage_of(agent)
    finally:
        if own_env:
            environment.close()
    spent = after.since(before) if before is not None and after is not None else Usage()
    return EvalResult(
        episodes=n_episodes,
        success_rate=float(np.mean(successes)) if successes else 0.0,
        mean_return=float(np.mean(returns)) if returns else 0.0,
        std_return=float(np.std(returns)) if returns else 0.0,
        mean_extrinsic_return=float(np.mean(extrinsic)) if extrinsic else 0.0,
        mean_length=float(np.mean(lengths)) if lengths else 0.0,
        env_steps=int(sum(lengths)),
        llm_tokens=spent.tokens,
        llm_calls=spent.calls,
        wall_time_s=time.perf_counter() - start,
        llm_usage=spent.as_dict(),
    )
