"""SB3 on PettingZoo parallel envs with parameter sharing: one policy for every agent.

:class:`ParallelVecEnv` turns N copies of a parallel env into one SB3 ``VecEnv`` with a
row per (copy, agent), so PPO trains one shared policy on every agent's experience. It is
written here rather than taken from SuperSuit, whose ``pettingzoo_env_to_vec_env_v1`` +
``concat_vec_envs_v1`` path has three faults measured with SB3 2.9 (issue 25):
``PPO(..., seed=0)`` raises (no ``seed``), truncation is not flagged
``TimeLimit.truncated`` (SB3 then treats every time-limit end as terminal and never
bootstraps), and envs left open spray errors at exit. Here ``seed`` works (SB3's
``VecEnv.seed``: copy c is reset with the seed of its first row), a time-limit end sets
``info["TimeLimit.truncated"]`` and ``info["terminal_observation"]``, ``close()`` closes
every copy once, and each row's ``info`` is the agent's own (``reward_terms``,
``is_success``), plus SB3's ``episode`` record (return, length) at an episode's end.

Team and per-agent success: when a copy's episode ends, its rows' infos carry
``episode_stats`` (the counter form densegym's
:class:`~densegym.agents.sb3.callbacks.MetricsCallback` logs as ``episode/<stat>``):
``team_success_rate`` (the team succeeded: every agent's last ``is_success``),
``team_count`` (team episodes so far) and ``success_rate/<agent>``, means over the last
:attr:`ParallelVecEnv.window` team episodes. So a run's TensorBoard has
``episode/team_success_rate`` and ``episode/success_rate/agent_0`` next to
``episode/success_rate`` (the mean over agent rows). :meth:`ParallelVecEnv.state_dict`
holds that window and every copy's shaper states, so checkpoints keep them.

The agents of one env must share one observation space and one action space (the grid
tasks and MPE's spread do; their observations carry the agent's index). Agents leave a
copy together (the team tasks here); an agent that leaves early keeps its last
observation, reward 0 and no ``done`` until its copy resets.

Example:
    >>> from stable_baselines3 import PPO
    >>> venv = make_parallel_vec_env("densegym/MA-SwitchDoor-N2-S7-v0", n_envs=2, seed=0)
    >>> venv.num_envs, venv.n_agents
    (4, 2)
    >>> model = PPO("MlpPolicy", venv, n_steps=32, batch_size=64, n_epochs=1, seed=0)
    >>> _ = model.learn(128)
    >>> venv.close()
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices

from densegym import logging as names
from densegym.agents.runs.lock import write_text_atomically
from densegym.agents.sb3.callbacks import MetricsCallback
from densegym.agents.sb3.run_logs import run_logger
from densegym.rewards.registry import shaping_label

__all__ = [
    "TEAM_STATS",
    "ParallelVecEnv",
    "evaluate_parallel",
    "make_parallel_vec_env",
    "team_summary",
    "train_parallel",
]

#: The ``info`` key of the team counters (logged as ``episode/<stat>``).
TEAM_STATS = "episode_stats"
#: Team success rate and team episodes, as TensorBoard scalars.
TEAM_SUCCESS_RATE = "episode/team_success_rate"
TEAM_EPISODES = "episode/team_count"


class ParallelVecEnv(VecEnv):
    """Copies of a PettingZoo parallel env as one SB3 VecEnv, one row per (copy, agent).

    Row ``c * n_agents + i`` is agent ``i`` (of ``possible_agents``) in copy ``c``.

    Args:
        env_fns: one constructor per copy.
        window: team episodes the team and per-agent success rates are means over.

    Raises:
        ValueError: the agents do not share one observation space and one action space.
    """

    def __init__(self, env_fns: Sequence[Callable[[], Any]], window: int = 30):
        self.envs = [fn() for fn in env_fns]
        first = self.envs[0]
        self.agents = list(first.possible_agents)
        self.n_agents = len(self.agents)
        obs_space = first.observation_space(self.agents[0])
        action_space = first.action_space(self.agents[0])
        for agent in self.agents[1:]:
            if (
                first.observation_space(agent) != obs_space
                or first.action_space(agent) != action_space
            ):
                raise ValueError(
                    "parameter sharing needs one observation space and one action space for "
                    f"every agent; {agent} differs from {self.agents[0]}"
                )
        super().__init__(len(self.envs) * self.n_agents, obs_space, action_space)
        self._obs = np.zeros((self.num_envs, *obs_space.shape), dtype=obs_space.dtype)
        self._returns = np.zeros(self.num_envs)
        self._lengths = np.zeros(self.num_envs, dtype=np.int64)
        self._actions: np.ndarray | None = None
        self._start = time.perf_counter()
        self.closed = False
        self.window = int(window)
        #: Per finished team episode: each agent's last ``is_success``, in agent order.
        self.team_episodes: deque[tuple[bool, ...]] = deque(maxlen=self.window)
        self.team_count = 0
        self._success = np.zeros(self.num_envs, dtype=bool)

    def _rows(self, copy: int) -> range:
        return range(copy * self.n_agents, (copy + 1) * self.n_agents)

    def _store(self, copy: int, obs: dict[str, Any], infos: dict[str, Any]) -> None:
        for row, agent in zip(self._rows(copy), self.agents):
            if agent in obs:
                self._obs[row] = obs[agent]
            self.reset_infos[row] = dict(infos.get(agent, {}))
            self._returns[row], self._lengths[row] = 0.0, 0
            self._success[row] = False

    def reset(self) -> np.ndarray:
        """Reset every copy (with the seeds and options set since the last reset)."""
        for copy, env in enumerate(self.envs):
            first_row = copy * self.n_agents
            options = self._options[first_row] or None
            obs, infos = env.reset(seed=self._seeds[first_row], options=options)
            self._store(copy, obs, infos)
        self._reset_seeds()
        self._reset_options()
        return self._obs.copy()

    def step_async(self, actions: np.ndarray) -> None:
        """Remember one action per row."""
        self._actions = np.asarray(actions)

    def _action(self, row: int) -> Any:
        assert self._actions is not None
        action = self._actions[row]
        return int(action) if isinstance(self.action_space, spaces.Discrete) else action

    def step_wait(self):
        """Step every copy once; a copy whose episode ended is reset (SB3's convention)."""
        rewards = np.zeros(self.num_envs, dtype=np.float32)
        dones = np.zeros(self.num_envs, dtype=bool)
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for copy, env in enumerate(self.envs):
            live = set(env.agents)
            rows = self._rows(copy)
            joint = {a: self._action(r) for r, a in zip(rows, self.agents) if a in live}
            obs, rews, terms, truncs, step_infos = env.step(joint)
            for row, agent in zip(rows, self.agents):
                if agent not in rews:
                    continue
                info = dict(step_infos.get(agent, {}))
                self._success[row] = bool(info.get("is_success", False))
                self._obs[row] = obs[agent]
                rewards[row] = rews[agent]
                self._returns[row] += float(rews[agent])
                self._lengths[row] += 1
                done = bool(terms[agent]) or bool(truncs[agent])
                if done:
                    info["TimeLimit.truncated"] = bool(truncs[agent]) and not bool(terms[agent])
                    info["terminal_observation"] = np.array(obs[agent])
                    info["episode"] = {
                        "r": float(self._returns[row]),
                        "l": int(self._lengths[row]),
                        "t": round(time.perf_counter() - self._start, 6),
                    }
                dones[row] = done
                infos[row] = info
            if not env.agents:
                stats = self._end_team_episode(copy)
                for row in rows:
                    infos[row][TEAM_STATS] = stats
                self._store(copy, *env.reset())
        return self._obs.copy(), rewards, dones, infos

    def _end_team_episode(self, copy: int) -> dict[str, float]:
        """Record a copy's finished episode; the team counters over the window."""
        self.team_episodes.append(tuple(bool(self._success[r]) for r in self._rows(copy)))
        self.team_count += 1
        return self.team_stats()

    def team_stats(self) -> dict[str, float]:
        """``team_success_rate``, ``team_count`` and ``success_rate/<agent>`` (window means).

        Example:
            >>> from densegym.envs.multiagent.grid import SwitchDoorEnv
            >>> venv = ParallelVecEnv([SwitchDoorEnv])
            >>> venv.team_episodes.extend([(True, True), (True, False)])
            >>> venv.team_stats()["team_success_rate"], venv.team_stats()["success_rate/agent_1"]
            (0.5, 0.5)
        """
        episodes = list(self.team_episodes)
        stats = {"team_count": float(self.team_count)}
        if episodes:
            stats["team_success_rate"] = float(np.mean([all(e) for e in episodes]))
            for i, agent in enumerate(self.agents):
                stats[f"success_rate/{agent}"] = float(np.mean([e[i] for e in episodes]))
        return stats

    # -- checkpoints ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The team-success window and every copy's shaper states (per owner, innermost first)."""
        shapers = []
        for env in self.envs:
            owners = env.shapers() if callable(getattr(env, "shapers", None)) else {}
            shapers.append(
                {owner: [s.state_dict() for s in stack] for owner, stack in owners.items()}
            )
        return {
            "team_episodes": [list(e) for e in self.team_episodes],
            "team_count": self.team_count,
            "shapers": shapers,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s state into copies built with the same shaping.

        Raises:
            ValueError: the state is of another number of copies or another shaping.
        """
        saved = state.get("shapers", [])
        if len(saved) != len(self.envs):
            raise ValueError(
                f"checkpoint has shaper state for {len(saved)} env copies, this run has "
                f"{len(self.envs)}"
            )
        for env, owners in zip(self.envs, saved):
            mine = env.shapers() if callable(getattr(env, "shapers", None)) else {}
            if {o: len(s) for o, s in mine.items()} != {o: len(s) for o, s in owners.items()}:
                raise ValueError("checkpoint's multi-agent shaping differs from this run's")
            for owner, stack in mine.items():
                for shaper, shaper_state in zip(stack, owners[owner]):
                    shaper.load_state_dict(shaper_state)
        self.team_episodes.clear()
        self.team_episodes.extend(tuple(e) for e in state.get("team_episodes", []))
        self.team_count = int(state.get("team_count", len(self.team_episodes)))

    def close(self) -> None:
        """Close every copy (once)."""
        if self.closed:
            return
        self.closed = True
        for env in self.envs:
            env.close()

    def _copies(self, indices: VecEnvIndices) -> list[Any]:
        return [self.envs[row // self.n_agents] for row in self._get_indices(indices)]

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """An attribute of each row's copy."""
        return [getattr(env, attr_name) for env in self._copies(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute on each row's copy."""
        for env in self._copies(indices):
            setattr(env, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **kwargs: Any
    ) -> list[Any]:
        """Call a method of each row's copy (a copy answers once per agent row)."""
        return [getattr(env, method_name)(*method_args, **kwargs) for env in self._copies(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        """Parallel envs are never wrapped in Gymnasium wrappers."""
        return [False] * len(self._get_indices(indices))

    def get_images(self) -> Sequence[np.ndarray | None]:
        """No images: the copies render text or nothing."""
        return [None] * len(self.envs)


def make_parallel_vec_env(
    env_id: str,
    n_envs: int = 4,
    seed: int | None = None,
    shaping: Any = None,
    env_kwargs: dict[str, Any] | None = None,
) -> ParallelVecEnv:
    """``n_envs`` copies of a registered multi-agent id, shaped, as one :class:`ParallelVecEnv`.

    Args:
        env_id: a PettingZoo-registered densegym id (``densegym/MA-...``).
        n_envs: copies; the VecEnv has ``n_envs * n_agents`` rows.
        seed: seeds the next reset (copy c gets ``seed + c * n_agents``); ``None``: random.
        shaping: a shaping spec; entries may carry ``"scope"`` (``"agent"``, ``"team"``).
        env_kwargs: extra kwargs for the env (e.g. ``max_cycles``).
    """
    import pettingzoo

    import densegym  # noqa: F401  (registers the ids)

    kwargs = dict(env_kwargs or {})

    def build() -> Any:
        return pettingzoo.make("parallel", env_id, shaping=shaping, **kwargs)

    venv = ParallelVecEnv([build for _ in range(n_envs)])
    if seed is not None:
        venv.seed(seed)
    return venv


#: PPO settings for the small grid tasks: short rollouts, an entropy bonus.
PPO_DEFAULTS: dict[str, Any] = {
    "n_steps": 128,
    "batch_size": 256,
    "n_epochs": 4,
    "learning_rate": 3e-4,
    "ent_coef": 0.01,
    "gamma": 0.99,
    "gae_lambda": 0.95,
}


def train_parallel(
    env_id: str,
    *,
    shaping: Any = None,
    steps: int = 50_000,
    n_envs: int = 4,
    seed: int = 0,
    hyperparams: dict[str, Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    logdir: str | Path = "runs",
    callbacks: list[BaseCallback] | None = None,
) -> dict[str, Any]:
    """Train one PPO policy shared by every agent; write a run directory; return its summary.

    The run directory (``logdir/<env>/<shaping>/ppo-seed<seed>``) holds the same files as
    a single-agent run: ``config.json``, ``curve.csv`` (team success: every agent row of
    an episode carries the team's ``is_success``), TensorBoard events with densegym's
    scalar names, ``final_model.zip`` and ``summary.json``. ``steps`` counts
    agent-steps (SB3 timesteps: one per row).

    Example:
        >>> import tempfile
        >>> summary = train_parallel("densegym/MA-GridSpread-N2-S6-v0", steps=512, n_envs=2,
        ...                          logdir=tempfile.mkdtemp())
        >>> summary["timesteps"] >= 512, 0.0 <= summary["success_rate"] <= 1.0
        (True, True)
    """
    torch.set_num_threads(1)
    run_dir = Path(logdir) / names.run_name(env_id, shaping_label(shaping), "ppo", seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "env_id": env_id,
        "trainer": "sb3:ppo",
        "parameter_sharing": True,
        "shaping": shaping,
        "steps": steps,
        "n_envs": n_envs,
        "seed": seed,
        "hyperparams": hyperparams or {},
        "env_kwargs": env_kwargs or {},
    }
    write_text_atomically(run_dir / "config.json", json.dumps(config, indent=2))
    venv = make_parallel_vec_env(env_id, n_envs, seed, shaping, env_kwargs)
    try:
        params = {**PPO_DEFAULTS, **(hyperparams or {})}
        model = PPO("MlpPolicy", venv, seed=seed, device="cpu", verbose=0, **params)
        model.set_logger(run_logger(run_dir))
        metrics = MetricsCallback(run_dir / "curve.csv", log_every=max(1, steps // 20))
        start = time.perf_counter()
        model.learn(steps, callback=CallbackList([metrics, *(callbacks or [])]))
        wall = time.perf_counter() - start
        model.save(run_dir / "final_model.zip")
    finally:
        venv.close()
    summary = {
        "env_id": env_id,
        "trainer": "sb3:ppo",
        "shaping": shaping_label(shaping),
        "seed": seed,
        "timesteps": int(model.num_timesteps),
        "episodes": int(metrics.latest.get(names.EPISODES, 0)) // venv.n_agents,
        "success_rate": metrics.latest.get(names.SUCCESS_RATE, float("nan")),
        "extrinsic_return": metrics.latest.get(names.reward_tag(names.EXTRINSIC), float("nan")),
        "wall_time_s": wall,
        "agent_steps_per_s": model.num_timesteps / wall if wall > 0 else 0.0,
        "run_dir": str(run_dir),
    }
    write_text_atomically(run_dir / "summary.json", json.dumps(summary, indent=2))
    return summary


def team_summary(latest: dict[str, float], n_agents: int) -> dict[str, Any]:
    """The team fields of a multi-agent run's summary, from the metrics' latest scalars.

    Flat keys (one column each in a sweep's ``summary.csv``): ``n_agents``,
    ``team_success_rate``, ``team_episodes`` and ``success_rate/<agent>``.

    Args:
        latest: :attr:`~densegym.agents.sb3.callbacks.MetricsCallback.latest`.
        n_agents: agents per team (rows per env copy).

    Example:
        >>> team_summary({"episode/team_success_rate": 0.5, "episode/team_count": 8.0,
        ...               "episode/success_rate/agent_0": 0.25}, 2)
        {'n_agents': 2, 'team_success_rate': 0.5, 'team_episodes': 8, 'success_rate/agent_0': 0.25}
    """
    summary: dict[str, Any] = {
        "n_agents": int(n_agents),
        "team_success_rate": latest.get(TEAM_SUCCESS_RATE, float("nan")),
        "team_episodes": int(latest.get(TEAM_EPISODES, 0)),
    }
    prefix = names.SUCCESS_RATE.split("/", 1)[0] + "/"
    for key, value in latest.items():
        if key.startswith(names.SUCCESS_RATE + "/"):
            summary[key[len(prefix) :]] = value
    return summary


def evaluate_parallel(
    agent: Any,
    env_id: str,
    n_episodes: int = 10,
    seed: int = 0,
    deterministic: bool = True,
    shaping: Any = None,
    env_kwargs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run one agent for every member of a team (parameter sharing); report team success.

    Every live agent's action comes from ``agent.predict(obs[agent])``; episode ``i``
    resets with seed ``seed + i``. A bindable agent (``random``) is bound to the first
    agent's side of the env (a :class:`~densegym.rewards.multiagent.ScopeView`).

    Args:
        agent: anything with SB3's ``predict`` (an SB3 model of a multi-agent run).
        env_id: a registered multi-agent id.
        n_episodes: team episodes.
        seed: seed of the first episode.
        deterministic: passed to ``predict``.
        shaping: the env's shaping (returns are shaped; success never is).
        env_kwargs: extra kwargs for the env.

    Returns:
        ``episodes``, ``team_success_rate``, ``success_rate`` (mean over agents),
        ``agent_success_rate`` (per agent), ``mean_return`` and ``mean_extrinsic_return``
        (per agent, averaged over agents and episodes), ``mean_length``, ``agent_steps``
        and ``wall_time_s``.

    Example:
        >>> from densegym.agents.evaluate import RandomAgent
        >>> result = evaluate_parallel(RandomAgent(seed=0), "densegym/MA-GridSpread-N2-S6-v0",
        ...                            n_episodes=2)
        >>> result["episodes"], 0.0 <= result["team_success_rate"] <= 1.0
        (2, True)
    """
    import pettingzoo

    import densegym  # noqa: F401  (registers the ids)
    from densegym.agents.protocol import bind_agent
    from densegym.rewards.multiagent import ScopeView

    env = pettingzoo.make("parallel", env_id, shaping=shaping, **(env_kwargs or {}))
    agents = list(env.possible_agents)
    team, lengths, steps = [], [], 0
    per_agent = {a: [] for a in agents}
    returns: list[float] = []
    extrinsic: list[float] = []
    start = time.perf_counter()
    try:
        bind_agent(agent, ScopeView(env, agents[0]))
        for episode in range(n_episodes):
            obs, _ = env.reset(seed=seed + episode)
            shaped = dict.fromkeys(agents, 0.0)
            own = dict.fromkeys(agents, 0.0)
            success = dict.fromkeys(agents, False)
            length = 0
            while env.agents:
                joint = {}
                for name in env.agents:
                    action, _ = agent.predict(obs[name], deterministic=deterministic)
                    joint[name] = action.item() if isinstance(action, np.ndarray) else action
                obs, rewards, _, _, infos = env.step(joint)
                length += 1
                steps += len(rewards)
                for name, reward in rewards.items():
                    info = infos.get(name, {})
                    shaped[name] += float(reward)
                    own[name] += float(info.get("reward_terms", {}).get("extrinsic", reward))
                    success[name] = bool(info.get("is_success", False))
            team.append(all(success.values()))
            lengths.append(length)
            for name in agents:
                per_agent[name].append(success[name])
                returns.append(shaped[name])
                extrinsic.append(own[name])
    finally:
        env.close()

    def mean(values: list[Any]) -> float:
        return float(np.mean(values)) if values else float("nan")

    agent_rates = {name: mean(values) for name, values in per_agent.items()}
    return {
        "episodes": n_episodes,
        "n_agents": len(agents),
        "team_success_rate": mean(team),
        "success_rate": mean(list(agent_rates.values())),
        "agent_success_rate": agent_rates,
        "mean_return": mean(returns),
        "mean_extrinsic_return": mean(extrinsic),
        "mean_length": mean(lengths),
        "agent_steps": steps,
        "wall_time_s": time.perf_counter() - start,
    }
