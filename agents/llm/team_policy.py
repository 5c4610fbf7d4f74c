"""LLM teams for PettingZoo parallel text games: one prompted :class:`LLMPolicy` per agent.

:class:`TeamLLMPolicy` holds one :class:`RolePolicy` (an :class:`LLMPolicy` with a
role's instruction and few-shot demonstrations) per agent, all on one loaded backend,
and returns a dict of actions for a dict of observations. In the turn-taking games only
the acting agents (``infos[agent]["acting"]``) are asked, so every token counted is a
token that played. Usage is counted per agent.

:func:`evaluate_team` plays a team on a multi-agent id and reports the team's success
rate, its mean reward and each agent's tokens; ``densegym eval --env
densegym/MA-Referential-v0 --agent llm:<backend>`` calls it. The scripted
:class:`OracleTeam` and the uniform :class:`RandomTeam` (over the env's legal lines,
``candidate_actions``) give the bounds the LLM teams sit between.

The few-shot demonstrations are the oracle team's own moves on seeds far from the
evaluation seeds (``DEMO_SEED`` onwards), from a copy of the env: the prompt shows the
format of a good move, never the episode being played.
"""

from __future__ import annotations

import copy
import random
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from densegym.agents.llm.policy import LLMPolicy
from densegym.llm.usage import Usage

__all__ = [
    "DEMO_SEED",
    "ROLE_PROMPTS",
    "OracleTeam",
    "RandomTeam",
    "RolePolicy",
    "TeamLLMPolicy",
    "demonstrations",
    "evaluate_team",
    "make_team",
]

#: The first seed of the demonstration episodes (far from evaluation seeds).
DEMO_SEED = 1_000_000

_NEGOTIATOR = (
    "You negotiate a split of a pool of items with a partner; you and your partner are one "
    "team, paid the deal's efficiency: every item should go to whoever values it more. "
    "Reply with exactly one line: propose(item=count, ...) with the counts YOU keep (the "
    "rest go to your partner), or accept to take your partner's standing proposal."
)

#: Instructions per (task id, agent).
ROLE_PROMPTS: dict[tuple[str, str], str] = {
    ("Referential", "speaker"): (
        "You are the speaker in a referential game. Describe the target so that the listener "
        "can tell it apart from the other objects. Reply with one short line: only the words "
        "(size, colour, shape) of the target that no other object shares."
    ),
    ("Referential", "listener"): (
        "You are the listener in a referential game. Read the speaker's message and reply "
        "with only the number of the candidate it describes."
    ),
    ("Negotiation", "agent_0"): _NEGOTIATOR,
    ("Negotiation", "agent_1"): _NEGOTIATOR,
}

_MARKUP_RE = re.compile(r"\*\*|__|`")


def _first_line(text: str) -> str:
    """A reply's first non-empty line without markdown emphasis (numbers kept: "3." stays)."""
    for raw in str(text).splitlines():
        line = _MARKUP_RE.sub("", raw).strip()
        if line:
            return line
    return ""


def _role_prompt(task: Any, agent: str) -> str:
    task_id = task.get("id") if isinstance(task, Mapping) else None
    prompt = ROLE_PROMPTS.get((str(task_id), agent))
    if prompt is not None:
        return prompt
    goal = task.get("goal", "") if isinstance(task, Mapping) else ""
    return f"You are {agent} in a cooperative text game. {goal} Reply with one line: your action."


def demonstrations(env: Any, agent: str, n: int, seed: int = DEMO_SEED) -> list[tuple[str, str]]:
    """Up to ``n`` (observation, oracle line) pairs where ``agent`` acts, from a copy of ``env``.

    Episodes ``seed, seed + 1, ...`` of a deep copy of the base env are played by its
    oracle (``oracle_step``); the env itself is not touched. An env without an oracle
    gives none.

    Example:
        >>> from densegym.envs.multiagent.referential import ReferentialEnv
        >>> (view, line), = demonstrations(ReferentialEnv(), "listener", 1)
        >>> line.isdigit(), view.startswith("You are the listener")
        (True, True)
    """
    base = getattr(env, "unwrapped", env)
    if n <= 0 or not callable(getattr(base, "oracle_step", None)):
        return []
    game = copy.deepcopy(base)
    pairs: list[tuple[str, str]] = []
    for episode in range(4 * n):
        obs, _ = game.reset(seed=seed + episode)
        while game.agents and len(pairs) < n:
            joint = game.oracle_step()
            if agent in joint and joint[agent]:
                pairs.append((obs[agent], str(joint[agent])))
                break  # one pair per episode: varied demonstrations
            obs, *_ = game.step(joint)
        if len(pairs) >= n:
            break
    return pairs


class RolePolicy(LLMPolicy):
    """An :class:`LLMPolicy` for one role: its instruction, then demonstrations as turns.

    Args:
        backend: a loaded backend or a spec (see :class:`LLMPolicy`).
        system: the role's instruction.
        demos: (observation, line) pairs replayed as user/assistant turns.
        **kwargs: :class:`LLMPolicy` options (``chat``, ``max_tokens``, ``temperature``,
            ``top_p``, ``seed``).

    Example:
        >>> policy = RolePolicy("tiny-random", system="Answer a number.",
        ...                     demos=[("Pick 1 or 2.", "1")], max_tokens=4)
        >>> [m["role"] for m in policy.prompt("Pick 3 or 4.")]
        ['system', 'user', 'assistant', 'user']
        >>> isinstance(policy("Pick 3 or 4."), str), policy.usage.calls
        (True, 1)
    """

    def __init__(
        self,
        backend: Any,
        *,
        system: str,
        demos: Iterable[tuple[str, str]] = (),
        **kwargs: Any,
    ):
        self.demos = list(demos)
        super().__init__(backend, shots=len(self.demos), system=system, **kwargs)

    def prompt(self, observation: str) -> str | list[dict[str, str]]:
        """The role's conversation (chat) or plain-text prompt for one observation."""
        if self.chat:
            messages = [{"role": "system", "content": self.system}]
            for shown, line in self.demos:
                messages.append({"role": "user", "content": shown})
                messages.append({"role": "assistant", "content": line})
            messages.append({"role": "user", "content": str(observation)})
            return messages
        parts = [self.system, ""]
        for shown, line in self.demos:
            parts += [shown, f"Action: {line}", ""]
        parts += [str(observation), "Action:"]
        return "\n".join(parts)

    def act(self, observations: Any, deterministic: bool = True) -> list[str]:
        """One line per observation: the reply's first line (``"3."`` stays ``"3."``)."""
        super().act(observations, deterministic)
        return [_first_line(reply) for reply in self.last_replies]


class _Team:
    """What every team shares: binding, the acting agents, ``predict`` and usage."""

    def __init__(self) -> None:
        self._env: Any = None

    def bind(self, env: Any) -> _Team:
        """Remember the parallel env (the scripted teams read it); return the team."""
        self._env = env
        return self

    def _line(self, agent: str, observation: Any, deterministic: bool) -> Any:
        raise NotImplementedError

    def act(
        self,
        observations: Mapping[str, Any],
        acting: Iterable[str] | None = None,
        deterministic: bool = True,
    ) -> dict[str, Any]:
        """One action per agent in ``observations``; agents not ``acting`` get ``""``.

        Args:
            observations: per agent, its observation.
            acting: the agents whose action counts (``None``: every agent).
            deterministic: greedy decoding (LLM teams) or not.
        """
        chosen = set(observations) if acting is None else set(acting)
        return {
            agent: self._line(agent, obs, deterministic) if agent in chosen else ""
            for agent, obs in observations.items()
        }

    def predict(
        self,
        observation: Mapping[str, Any],
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
    ) -> tuple[dict[str, Any], Any]:
        """SB3's signature on a dict of observations: ``(actions, state)``.

        Asks the bound env's actor (``actor()``) only, when it has one.
        """
        base = getattr(self._env, "unwrapped", None)
        acting = [base.actor()] if base is not None and getattr(base, "agents", None) else None
        if acting is not None and not callable(getattr(base, "actor", None)):
            acting = None
        return self.act(observation, acting, deterministic), state

    @property
    def usage(self) -> dict[str, Usage]:
        """Per agent, the model work it cost (empty for scripted teams)."""
        return {}


class OracleTeam(_Team):
    """The env's scripted oracle team (``oracle_step``): the upper bound.

    Example:
        >>> from densegym.envs.multiagent.negotiation import NegotiationEnv
        >>> evaluate_team(OracleTeam(), NegotiationEnv(), n_episodes=3)["team_success_rate"]
        1.0
    """

    def act(
        self,
        observations: Mapping[str, Any],
        acting: Iterable[str] | None = None,
        deterministic: bool = True,
    ) -> dict[str, Any]:
        """The oracle's joint action (the observations are not needed)."""
        joint = self._env.unwrapped.oracle_step()
        return {agent: joint.get(agent, "") for agent in observations}


class RandomTeam(_Team):
    """Each acting agent plays a uniformly drawn legal line (``candidate_actions``).

    Args:
        seed: seed of the draws.
    """

    def __init__(self, seed: int | None = None):
        super().__init__()
        self.rng = random.Random(seed)

    def _line(self, agent: str, observation: Any, deterministic: bool) -> Any:
        lines = self._env.unwrapped.candidate_actions(None, include_oracle=True)
        return self.rng.choice(lines) if lines else ""


class TeamLLMPolicy(_Team):
    """One prompted :class:`RolePolicy` per agent of a parallel text game, one backend.

    The role policies are built by :meth:`bind` (from the env's ``task`` id and its
    agents: :data:`ROLE_PROMPTS`, else a prompt from the task's goal; ``shots`` oracle
    demonstrations each). The backend is loaded once and shared.

    Args:
        backend: a ``densegym.llm`` spec (``"smollm2"``, ``"tiny-random"``, ...) or a
            loaded backend.
        shots: oracle demonstrations per role (0: zero-shot).
        chat: use the chat template (``False``: plain-text prompts for base models).
        max_tokens: most tokens per move.
        temperature: sampling temperature of non-deterministic moves.
        top_p: nucleus mass of non-deterministic moves.
        seed: seed of the per-call sampling seeds.
        prompts: per agent, an instruction that replaces the built-in one.

    Example:
        >>> from densegym.envs.multiagent.referential import ReferentialEnv
        >>> env = ReferentialEnv()
        >>> team = TeamLLMPolicy("tiny-random", shots=1, max_tokens=6).bind(env)
        >>> obs, infos = env.reset(seed=0)
        >>> actions = team.act(obs, [a for a in env.agents if infos[a]["acting"]])
        >>> actions["listener"], team.usage["speaker"].calls, team.usage["listener"].calls
        ('', 1, 0)
    """

    def __init__(
        self,
        backend: Any = "smollm2",
        *,
        shots: int = 2,
        chat: bool = True,
        max_tokens: int = 32,
        temperature: float = 0.7,
        top_p: float = 0.95,
        seed: int | None = None,
        prompts: Mapping[str, str] | None = None,
    ):
        super().__init__()
        if shots < 0:
            raise ValueError(f"shots must be >= 0, got {shots}")
        self._backend = backend
        self.shots = int(shots)
        self.options = {
            "chat": bool(chat),
            "max_tokens": int(max_tokens),
            "temperature": float(temperature),
            "top_p": float(top_p),
        }
        self.seed = seed
        self.prompts = dict(prompts or {})
        self.policies: dict[str, RolePolicy] = {}

    @property
    def llm(self) -> Any:
        """The backend, loaded on first use (shared by every role)."""
        if isinstance(self._backend, (str, Mapping)):
            from densegym.llm import load

            self._backend = load(self._backend)
        return self._backend

    def bind(self, env: Any) -> TeamLLMPolicy:
        """Build one role policy per agent of ``env`` (kept when the roles are the same)."""
        super().bind(env)
        base = env.unwrapped
        task = getattr(base, "task", {})
        for i, agent in enumerate(base.possible_agents):
            if agent in self.policies:
                continue
            self.policies[agent] = RolePolicy(
                self.llm,
                system=self.prompts.get(agent) or _role_prompt(task, agent),
                demos=demonstrations(base, agent, self.shots),
                seed=None if self.seed is None else self.seed + i,
                **self.options,
            )
        return self

    def _line(self, agent: str, observation: Any, deterministic: bool) -> Any:
        if agent not in self.policies:
            raise ValueError(f"TeamLLMPolicy has no policy for {agent!r}; bind it to the env first")
        return self.policies[agent].act([str(observation)], deterministic)[0]

    @property
    def usage(self) -> dict[str, Usage]:
        """Per agent, its calls, prompt and completion tokens and seconds (live counters)."""
        return {agent: policy.usage for agent, policy in self.policies.items()}

    def reset_usage(self) -> None:
        """Set every agent's counters back to zero."""
        for policy in self.policies.values():
            policy.reset_usage()

    def __repr__(self) -> str:
        name = getattr(self._backend, "name", self._backend)
        return f"TeamLLMPolicy({name!r}, shots={self.shots})"


def make_team(spec: Any, seed: int | None = None, **options: Any) -> Any:
    """A team from a spec: ``"oracle"``, ``"random"``, ``"llm:<backend>"``; objects pass.

    Example:
        >>> make_team("llm:tiny-random", shots=0)
        TeamLLMPolicy('tiny-random', shots=0)
        >>> make_team("nobody")
        Traceback (most recent call last):
        ...
        ValueError: unknown team 'nobody'; use oracle, random or llm:<backend>
    """
    if not isinstance(spec, str):
        return spec
    if spec == "oracle":
        return OracleTeam()
    if spec == "random":
        return RandomTeam(seed)
    if spec.startswith("llm:") and spec[4:]:
        return TeamLLMPolicy(spec[4:], seed=seed, **options)
    raise ValueError(f"unknown team {spec!r}; use oracle, random or llm:<backend>")


def evaluate_team(
    team: Any,
    env: Any,
    n_episodes: int = 10,
    seed: int = 0,
    deterministic: bool = True,
    shaping: Any = None,
    env_kwargs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Play a team on a parallel env; report team success, team reward, per-agent tokens.

    Episode ``i`` resets with seed ``seed + i``. At every step only the agents whose
    info says ``acting`` are asked (every live agent when the env does not say).

    Args:
        team: a team (:class:`TeamLLMPolicy`, :class:`OracleTeam`, ...) or a spec for
            :func:`make_team`.
        env: a registered multi-agent id or a parallel env (left open).
        n_episodes: episodes to play.
        seed: seed of the first episode.
        deterministic: greedy decoding.
        shaping: the env's shaping when ``env`` is an id (returns are shaped; success
            and the team reward never are).
        env_kwargs: extra kwargs when ``env`` is an id.

    Returns:
        ``episodes``, ``n_agents``, ``team_success_rate``, ``mean_team_reward`` (the
        extrinsic team reward per episode), ``agent_success_rate``, ``mean_return``
        (per agent, shaped), ``mean_length``, ``invalid_actions`` (per agent, per
        episode), ``agent_tokens`` and ``agent_calls`` (per agent, this evaluation's),
        ``llm_tokens``, ``llm_calls`` and ``wall_time_s``.

    Raises:
        ValueError: ``n_episodes`` below 1 or an unknown team spec.
    """
    if n_episodes < 1:
        raise ValueError(f"n_episodes must be at least 1, got {n_episodes}")
    team = make_team(team, seed=seed)
    owned = isinstance(env, str)
    if owned:
        import pettingzoo

        import densegym  # noqa: F401  (registers the ids)

        env_id = env
        env = pettingzoo.make("parallel", env_id, shaping=shaping, **dict(env_kwargs or {}))
    agents = list(env.possible_agents)
    team.bind(env)
    before = {agent: usage.snapshot() for agent, usage in team.usage.items()}
    successes, team_rewards, lengths = [], [], []
    per_agent: dict[str, list[bool]] = {a: [] for a in agents}
    returns: dict[str, list[float]] = {a: [] for a in agents}
    invalid = dict.fromkeys(agents, 0)
    start = time.perf_counter()
    try:
        for episode in range(n_episodes):
            obs, infos = env.reset(seed=seed + episode)
            shaped = dict.fromkeys(agents, 0.0)
            success = dict.fromkeys(agents, False)
            reward, length = 0.0, 0
            while env.agents:
                acting = [a for a in env.agents if infos.get(a, {}).get("acting", False)]
                known = any("acting" in infos.get(a, {}) for a in env.agents)
                live = {a: obs[a] for a in env.agents}
                actions = team.act(live, acting if known else None, deterministic)
                obs, rewards, _, _, infos = env.step(actions)
                length += 1
                extrinsic = []
                for agent, value in rewards.items():
                    info = infos.get(agent, {})
                    shaped[agent] += float(value)
                    extrinsic.append(float(info.get("reward_terms", {}).get("extrinsic", value)))
                    success[agent] = bool(info.get("is_success", False))
                    invalid[agent] += bool(info.get("invalid_action", False))
                reward += float(np.mean(extrinsic)) if extrinsic else 0.0
            successes.append(all(success.values()))
            team_rewards.append(reward)
            lengths.append(length)
            for agent in agents:
                per_agent[agent].append(success[agent])
                returns[agent].append(shaped[agent])
    finally:
        if owned:
            env.close()
    spent = {agent: usage - before.get(agent, {}) for agent, usage in team.usage.items()}
    tokens = {agent: int(spent[agent].tokens) if agent in spent else 0 for agent in agents}
    calls = {agent: int(spent[agent].calls) if agent in spent else 0 for agent in agents}
    return {
        "episodes": n_episodes,
        "n_agents": len(agents),
        "team_success_rate": float(np.mean(successes)),
        "mean_team_reward": float(np.mean(team_rewards)),
        "agent_success_rate": {a: float(np.mean(v)) for a, v in per_agent.items()},
        "mean_return": {a: float(np.mean(v)) for a, v in returns.items()},
        "mean_length": float(np.mean(lengths)),
        "invalid_actions": {a: invalid[a] / n_episodes for a in agents},
        "agent_tokens": tokens,
        "agent_calls": calls,
        "llm_tokens": int(sum(tokens.values())),
        "llm_calls": int(sum(calls.values())),
        "wall_time_s": time.perf_counter() - start,
    }
