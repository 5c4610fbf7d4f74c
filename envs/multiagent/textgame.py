r"""What the two-player text games share: turns, text spaces, one-line actions, the API.

:class:`TurnTextGame` is a PettingZoo ``ParallelEnv`` in which the players take turns:
at every joint step one agent acts (the *actor*, named in every observation) and the
others' actions are ignored (never flagged). It owns seeding, the text spaces
(:class:`~densegym.spaces.PermissiveText`), reading an action as one bounded line,
the flags and counters for malformed actions, truncation after ``max_cycles`` steps,
``state()``, the keys and potentials the multi-agent shapers ask for, and the scripted
oracle's joint action. A game (:mod:`~densegym.envs.multiagent.referential`,
:mod:`~densegym.envs.multiagent.negotiation`) generates its instance from the seed,
renders each player's view and plays one line.

Example:
    >>> action_line("  propose(1, 2)\nsecond line")
    ('propose(1, 2)', False)
    >>> action_line(None), action_line(b"accept")
    (('', True), ('accept', False))
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from gymnasium.utils import seeding
from pettingzoo import ParallelEnv

from densegym.spaces import PermissiveText

__all__ = ["MAX_LINE", "Play", "TurnTextGame", "action_line"]

#: The longest action line a game reads; longer lines are cut (and flagged).
MAX_LINE = 200


def action_line(action: Any, limit: int = MAX_LINE) -> tuple[str, bool]:
    """Read an action as one line of text: ``(line, malformed)``.

    A ``str`` (or ``bytes``, or a 0-d numpy array of one) gives its first non-empty
    line, stripped and cut to ``limit`` characters; anything else, or undecodable bytes,
    gives ``("", True)``. Bounded: at most ``limit * 4`` characters are looked at.
    """
    if isinstance(action, np.ndarray) and action.shape == ():
        action = action.item()
    if isinstance(action, bytes):
        try:
            action = action.decode("utf-8")
        except UnicodeDecodeError:
            return "", True
    if not isinstance(action, str):
        return "", True
    for raw in action[: 4 * limit].splitlines():
        line = raw.strip()
        if line:
            return line[:limit], False
    return "", False


@dataclass
class Play:
    """What a game makes of the actor's line.

    Attributes:
        valid: the line was a legal move (``False``: flagged and counted; the turn passes
            or stays as the game says).
        done: the game is over (every agent terminates).
        reward: the team reward of this step (paid to every agent).
        reason: why the line was not legal (for ``info["invalid_reason"]``).
        info: extra keys for every agent's info this step.
    """

    valid: bool
    done: bool = False
    reward: float = 0.0
    reason: str = ""
    info: dict[str, Any] = field(default_factory=dict)


class TurnTextGame(ParallelEnv):
    """Base of the turn-taking text games (one actor per step, text in and out).

    Subclasses set ``roles`` (the agent names, in turn order) and implement
    :meth:`_generate`, :meth:`actor`, :meth:`_play`, :meth:`observe`, :meth:`state`,
    :meth:`progress`, :meth:`success`, :meth:`oracle_action` and
    :meth:`oracle_remaining`.

    Args:
        max_cycles: joint steps before the episode is truncated (PettingZoo's name).
        render_mode: ``None``, ``"ansi"`` (``render()`` returns the state text) or
            ``"human"`` (prints it).
    """

    metadata: ClassVar[dict[str, Any]] = {
        "name": "turn_text_game_v0",
        "render_modes": ["ansi", "human"],
        "is_parallelizable": True,
    }
    #: The agent names (subclasses override).
    roles: ClassVar[tuple[str, ...]] = ("agent_0", "agent_1")
    #: The most characters of an observation / of the state text.
    max_observation: ClassVar[int] = 8192
    #: Registered potentials (``densegym.rewards.multiagent``) per shaping scope.
    default_agent_potential: ClassVar[str] = "ma_agent_progress"
    default_team_potential: ClassVar[str] = "ma_team_progress"
    #: The most ``max_cycles`` a game accepts (keeps observations within their space).
    cycle_limit: ClassVar[int] = 40

    def __init__(self, max_cycles: int, render_mode: str | None = None):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        if not 1 <= int(max_cycles) <= self.cycle_limit:
            raise ValueError(f"max_cycles must be in [1, {self.cycle_limit}], got {max_cycles}")
        self.max_cycles = int(max_cycles)
        self.render_mode = render_mode
        self.possible_agents = list(self.roles)
        self.agents: list[str] = []
        self._observation_spaces = {
            agent: PermissiveText(self.max_observation) for agent in self.possible_agents
        }
        self._action_spaces = {agent: PermissiveText(MAX_LINE) for agent in self.possible_agents}
        self.state_space = PermissiveText(self.max_observation)
        self.np_random, self.np_random_seed = seeding.np_random(None)
        self.cycles = 0
        self.finished = False
        self.last_reward = 0.0
        self.invalid_actions = 0
        self.agent_invalid: dict[str, int] = dict.fromkeys(self.possible_agents, 0)
        self.history: list[tuple[str, str]] = []

    # -- what a game provides ----------------------------------------------------------------
    def _generate(self, rng: np.random.Generator) -> None:
        """Draw the game's instance from ``rng``."""
        raise NotImplementedError

    def actor(self) -> str:
        """The agent whose action counts at this step."""
        raise NotImplementedError

    def _play(self, agent: str, line: str) -> Play:
        """Play the actor's line (``line`` is already one stripped line)."""
        raise NotImplementedError

    def observe(self, agent: str) -> str:
        """``agent``'s view of the game now, as text."""
        raise NotImplementedError

    def state(self) -> str:
        """The whole game (private information included), as text."""
        raise NotImplementedError

    def progress(self, agent: str | None = None) -> float:
        """A potential in [0, 1] of how close the team is to success."""
        raise NotImplementedError

    def success(self) -> bool:
        """Whether the team has succeeded (read after the game is over)."""
        raise NotImplementedError

    def oracle_action(self) -> str:
        """The scripted oracle's line for the actor now."""
        raise NotImplementedError

    def oracle_remaining(self) -> int | None:
        """Steps the oracle team still needs, ``None`` if it cannot finish."""
        raise NotImplementedError

    def _candidates(self) -> list[str]:
        """Legal lines for the actor now, in a fixed order (the oracle's among them)."""
        raise NotImplementedError

    def candidate_actions(self, k: int | None = 8, include_oracle: bool = False) -> list[str]:
        """At most ``k`` (``None``: all) distinct legal lines for the actor now.

        The oracle's line is among them only with ``include_oracle=True``; the other
        agents' lines are ignored whatever they are. A random team draws from these.
        """
        if not self.agents:
            return []
        lines = list(dict.fromkeys(self._candidates()))
        if not include_oracle:
            oracle = self.oracle_action()
            lines = [line for line in lines if line != oracle]
        return lines if k is None else lines[: max(int(k), 0)]

    # -- PettingZoo API ----------------------------------------------------------------------
    def observation_space(self, agent: str) -> PermissiveText:
        """Text (the same object at every call)."""
        return self._observation_spaces[agent]

    def action_space(self, agent: str) -> PermissiveText:
        """One line of text, up to :data:`MAX_LINE` characters (the same object each call)."""
        return self._action_spaces[agent]

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
        """Draw a new instance from ``np_random`` (reseeded when ``seed`` is given)."""
        if seed is not None:
            self.np_random, self.np_random_seed = seeding.np_random(seed)
        self.agents = list(self.possible_agents)
        self.cycles = 0
        self.finished = False
        self.last_reward = 0.0
        self.invalid_actions = 0
        self.agent_invalid = dict.fromkeys(self.possible_agents, 0)
        self.history = []
        self._generate(self.np_random)
        actor = self.actor()
        infos = {agent: {"is_success": False, "acting": agent == actor} for agent in self.agents}
        if self.render_mode == "human":
            self.render()
        return {agent: self.observe(agent) for agent in self.agents}, infos

    def step(self, actions: dict[str, Any]):
        """Play the actor's action; the other agents' actions are ignored.

        A missing or malformed action (not one line of text, or a line the game cannot
        read) is flagged in the actor's info (``invalid_action``, ``invalid_reason``) and
        counted (``invalid_actions``), never raised; the episode goes on, bounded by
        ``max_cycles``.
        """
        if not self.agents:
            return {}, {}, {}, {}, {}
        actor = self.actor()
        line, malformed = action_line(actions.get(actor))
        if malformed:
            play = Play(valid=False, reason="the action is not a line of text")
        else:
            play = self._play(actor, line)
        self.history.append((actor, line))
        if not play.valid:
            self.invalid_actions += 1
            self.agent_invalid[actor] += 1
        self.cycles += 1
        self.finished = bool(play.done)
        self.last_reward = float(play.reward)
        success = self.finished and self.success()
        truncate = not self.finished and self.cycles >= self.max_cycles
        live = list(self.agents)
        next_actor = None if self.finished or truncate else self.actor()
        if next_actor is None:
            self.agents = []  # before the views, so they say the game is over
        obs = {agent: self.observe(agent) for agent in live}
        rewards = dict.fromkeys(live, self.last_reward)
        terminations = dict.fromkeys(live, self.finished)
        truncations = dict.fromkeys(live, truncate)
        infos = {}
        for agent in live:
            mine = agent == actor
            infos[agent] = {
                "is_success": success,
                "reward_terms": {"extrinsic": self.last_reward},
                "invalid_action": mine and not play.valid,
                "invalid_actions": self.agent_invalid[agent],
                "acting": agent == next_actor,
                **play.info,
            }
            if mine and not play.valid:
                infos[agent]["invalid_reason"] = play.reason
        if self.render_mode == "human":
            self.render()
        return obs, rewards, terminations, truncations, infos

    def render(self) -> str | None:
        """The state text (``"ansi"``) or print it (``"human"``)."""
        if self.render_mode is None:
            return None
        text = self.state()
        if self.render_mode == "human":
            print(text + "\n")
            return None
        return text

    def close(self) -> None:
        """Nothing to release."""

    # -- capabilities ----------------------------------------------------------------------
    def state_key(self, obs: str) -> str:
        """One agent's situation for per-agent counts: its observation text."""
        return str(obs)

    def team_state_key(self, state: str) -> str:
        """The joint situation for team counts: the state text."""
        return str(state)

    def oracle_step(self) -> dict[str, str]:
        """The oracle team's joint action: the actor's oracle line, ``""`` for the others."""
        if not self.agents:
            return {}
        actor = self.actor()
        return {agent: self.oracle_action() if agent == actor else "" for agent in self.agents}

    def _turn_line(self, agent: str) -> str:
        """The line of a view that says whose turn it is."""
        if not self.agents:
            return "The game is over."
        if self.actor() == agent:
            return "It is your turn."
        return f"Wait: it is {self.actor()}'s turn (your action is ignored)."
