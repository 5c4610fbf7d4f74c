"""Single-agent views of the multi-agent tasks: one learner, fixed partners, a Gymnasium env.

A view wraps a PettingZoo ``ParallelEnv``, lets the agent being trained (the *learner*)
choose its own action and plays every other agent with a fixed *partner* policy, so the
whole single-agent toolbox — ``gym.make`` with shaping, the contract test, SB3 training,
``evaluate``, the text adapters — works on a multi-agent task unchanged.

Three classes, by what the wrapped env offers (each declares only what is true):

* :class:`SingleAgentView` — any parallel env: task, state keys, a progress potential.
* :class:`OracleAgentView` — envs with a scripted oracle team (``oracle_step``): the
  partners may be the oracle (the default); :meth:`~OracleAgentView.learner_oracle_action`
  is the learner's part of the oracle team's move.
* :class:`TextAgentView` — the turn-taking text games: also ``HasOracle`` (the learner's
  oracle line, as the text worlds' provers and search agents expect) and
  ``candidate_actions``, so the ``candidates`` view
  (:class:`~densegym.envs.adapters.candidates.CandidateActions`) offers the game's legal
  lines to SB3 as a ``Discrete`` choice.

The grid views do not declare ``HasOracle``: its consumers (provers, PAV, A*) continue
text episodes.

Partner policies (``partner=``): ``"oracle"`` (the env's scripted oracle team's action for
that agent), ``"random"`` (a legal line drawn uniformly from ``candidate_actions`` on text
games, a uniform draw from the agent's action space otherwise; seeded by the view) and
``"noop"`` (``0`` for a ``Discrete`` space, zeros for a ``Box``, ``""`` for text).

Rewards are the **team** reward: every multi-agent task here pays all agents the same
sparse reward, so the learner's reward is the team's. On a turn-taking game one view step
is the learner's turn plus the partners' turns up to the learner's next turn (or the end),
and the reward is the sum of the team rewards of those joint steps.

Example:
    >>> view = OracleAgentView("densegym.envs.multiagent.grid:SwitchDoorEnv", learner=0,
    ...                        size=7, n_agents=2, max_cycles=50)
    >>> obs, info = view.reset(seed=3)
    >>> obs.shape, view.action_space, info["learner"]
    ((17,), Discrete(5), 'agent_0')
    >>> done = False
    >>> while not done:  # the learner follows the oracle too: the team succeeds
    ...     obs, reward, terminated, truncated, info = view.step(view.learner_oracle_action())
    ...     done = terminated or truncated
    >>> reward, info["is_success"]
    (1.0, True)
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from densegym.registry import load_entry_point

__all__ = ["PARTNERS", "OracleAgentView", "SingleAgentView", "TextAgentView"]

#: Partner policies a view accepts.
PARTNERS = ("oracle", "random", "noop")
#: The module the wrapped parallel envs must come from (specs are data; no arbitrary code).
_ALLOWED_PREFIX = "densegym.envs.multiagent."


class SingleAgentView(gym.Env):
    """One agent of a parallel env as a Gymnasium env; the others play fixed partners.

    ## Description
    Builds the parallel env ``parallel`` (a ``"module:Class"`` under
    ``densegym.envs.multiagent``) with ``**parallel_kwargs``. Each step the learner's
    action and the partners' actions (``partner``) make one joint action; on turn-taking
    envs (an ``actor()`` method) the partners' turns are played inside the step until the
    learner acts again or the episode ends, and likewise inside ``reset``.

    ## Observation Space
    The learner's observation space in the parallel env.

    ## Action Space
    The learner's action space. A malformed action is handled as the parallel env
    handles it (flagged in ``info["invalid_action"]``, never raised).

    ## Rewards
    The team reward (every agent of these tasks gets the same reward): the sum over the
    joint steps the view step covers. ``info["reward_terms"] == {"extrinsic": reward}``.

    ## Termination
    Terminated when the parallel env terminates the learner; truncated when it truncates
    it (``max_cycles``); both passed through. ``info["is_success"]`` is the team's
    success. ``info["partner_actions"]`` holds what the partners played.

    ## Registered Configurations
    See :class:`OracleAgentView` and :class:`TextAgentView` (every registered view has an
    oracle); this class serves envs without one (``partner="random"`` or ``"noop"``).

    Args:
        parallel: ``"module:Class"`` of the parallel env (in ``densegym.envs.multiagent``).
        learner: the learner's name or index in ``possible_agents``.
        partner: ``"random"`` (default) or ``"noop"`` (``"oracle"`` needs
            :class:`OracleAgentView`).
        render_mode: passed to the parallel env.
        **parallel_kwargs: the parallel env's constructor arguments (``max_cycles``, ...).

    Raises:
        ValueError: an unknown partner or learner, or a ``parallel`` outside the
            multi-agent package.
        TypeError: ``parallel`` is not a PettingZoo ``ParallelEnv`` class.

    Example:
        >>> view = SingleAgentView("densegym.envs.multiagent.grid:GridSpreadEnv",
        ...                        learner="agent_1", partner="noop", size=6, n_agents=2)
        >>> obs, info = view.reset(seed=0)
        >>> view.learner, view.partners, obs.shape == view.observation_space.shape
        ('agent_1', ('agent_0',), True)
        >>> _, reward, terminated, truncated, info = view.step(2)
        >>> info["partner_actions"], info["reward_terms"]
        ({'agent_0': 0}, {'extrinsic': 0.0})
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "human"]}
    #: Partners this class can play.
    partner_policies: ClassVar[tuple[str, ...]] = ("random", "noop")
    #: The registered potential (:mod:`densegym.rewards.potential`) that reads
    #: :meth:`progress` — named ``tool_progress`` after the world that added it; it
    #: reads ``env.progress()`` whatever the world.
    default_potential: str = "tool_progress"

    def __init__(
        self,
        parallel: str,
        learner: str | int = 0,
        partner: str = "random",
        render_mode: str | None = None,
        **parallel_kwargs: Any,
    ):
        if not isinstance(parallel, str) or not parallel.startswith(_ALLOWED_PREFIX):
            raise ValueError(
                f"parallel must be a 'module:Class' under {_ALLOWED_PREFIX}, got {parallel!r}"
            )
        if partner not in self.partner_policies:
            raise ValueError(
                f"partner must be one of {self.partner_policies} for {type(self).__name__}, "
                f"got {partner!r}"
            )
        cls = load_entry_point(parallel)
        if not (isinstance(cls, type) and issubclass(cls, ParallelEnv)):
            raise TypeError(f"{parallel} is not a PettingZoo ParallelEnv class")
        if render_mode is not None:
            parallel_kwargs["render_mode"] = render_mode
        self.base: Any = cls(**parallel_kwargs)
        agents = list(self.base.possible_agents)
        if isinstance(learner, (int, np.integer)) and not isinstance(learner, bool):
            if not 0 <= int(learner) < len(agents):
                raise ValueError(f"learner index {learner} is out of range for agents {agents}")
            learner = agents[int(learner)]
        if learner not in agents:
            raise ValueError(f"learner must be one of {agents} (or its index), got {learner!r}")
        # The constructor's data stays readable: the shaper registry tells the registered
        # views apart by their kwargs (one sentence naming the id when it refuses a pair).
        self.parallel = parallel
        for key, value in parallel_kwargs.items():
            if key != "render_mode" and not hasattr(type(self), key):
                self.__dict__.setdefault(key, value)
        self.render_mode = render_mode
        self.learner: str = str(learner)
        self.partners: tuple[str, ...] = tuple(a for a in agents if a != self.learner)
        self.partner = partner
        self.observation_space = self.base.observation_space(self.learner)
        self.action_space = self.base.action_space(self.learner)
        self.turn_taking = callable(getattr(self.base, "actor", None))
        self._pending: tuple[Any, ...] | None = None
        self._last_obs: Any = None

    # -- partners ------------------------------------------------------------------------
    def _partner_action(self, agent: str) -> Any:
        if self.partner == "random":
            return self._random_action(agent, self.base.action_space(agent))
        return self._idle_for(agent)

    def _random_action(self, agent: str, space: spaces.Space) -> Any:
        if isinstance(space, spaces.Discrete):
            return int(space.start + self.np_random.integers(space.n))
        if isinstance(space, spaces.Box):
            low = np.nan_to_num(space.low, neginf=-1.0)
            high = np.nan_to_num(space.high, posinf=1.0)
            return self.np_random.uniform(low, high).astype(space.dtype)
        space.seed(int(self.np_random.integers(2**31)))
        return space.sample()

    def _joint(self, action: Any | None) -> dict[str, Any]:
        """The joint action: the learner's ``action`` (``None``: not its turn), the partners'.

        On a turn-taking env only the actor's policy is asked; the others send idle.
        """
        live = self.base.agents
        actor = self.base.actor() if self.turn_taking and live else None
        joint = {
            a: self._partner_action(a) if actor in (None, a) else self._idle_for(a)
            for a in self.partners
            if a in live
        }
        if self.learner in live:
            joint[self.learner] = action if action is not None else self._idle_for(self.learner)
        return joint

    def _idle_for(self, agent: str) -> Any:
        """What ``agent`` sends while it is not its turn (ignored by turn-taking envs)."""
        space = self.base.action_space(agent)
        if isinstance(space, spaces.Discrete):
            return int(space.start)
        if isinstance(space, spaces.Box):
            return np.zeros(space.shape, dtype=space.dtype)
        return ""

    def _learner_turn(self) -> bool:
        return not self.turn_taking or self.base.actor() == self.learner

    def _play_partners(self, info: dict[str, Any]) -> tuple[float, bool, bool, dict[str, Any]]:
        """Play the partners' turns until the learner's turn or the end (bounded)."""
        total, terminated, truncated = 0.0, False, False
        limit = int(getattr(self.base, "max_cycles", 10_000)) + 1
        for _ in range(limit):
            if not self.base.agents or self._learner_turn():
                break
            joint = self._joint(None)
            info["partner_actions"].update({a: v for a, v in joint.items() if a != self.learner})
            obs, rewards, terms, truncs, infos = self.base.step(joint)
            info["joint_steps"] += 1
            total += float(rewards.get(self.learner, 0.0))
            terminated = bool(terms.get(self.learner, False))
            truncated = bool(truncs.get(self.learner, False))
            self._last_obs = obs.get(self.learner, self._last_obs)
            mine = infos.get(self.learner, {})
            info["is_success"] = bool(mine.get("is_success", False))
            for key, value in mine.items():
                if key not in ("invalid_action", "invalid_reason", "reward_terms"):
                    info[key] = value
        return total, terminated, truncated, info

    # -- Gymnasium API -------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset the parallel env (with ``seed``), then play partners up to the learner's turn.

        The layout is the parallel env's for the same seed; the random partner draws from
        this view's ``np_random``.
        """
        super().reset(seed=seed)
        observations, infos = self.base.reset(seed=seed, options=options)
        self._last_obs = observations[self.learner]
        info = dict(infos.get(self.learner, {}))
        info.update(learner=self.learner, partner_actions={}, joint_steps=0)
        info.setdefault("is_success", False)
        self._pending = None
        reward, terminated, truncated, info = self._play_partners(info)
        if terminated or truncated:  # the partners ended it before the learner's turn
            self._pending = (reward, terminated, truncated, dict(info))
        return self._last_obs, info

    def step(self, action: Any):
        """Play the learner's action with the partners' (and their turns after it, if any)."""
        if self._pending is not None:
            reward, terminated, truncated, info = self._pending
            self._pending = None
            info.update(learner_skipped=True, reward_terms={"extrinsic": float(reward)})
            return self._last_obs, float(reward), terminated, truncated, info
        if not self.base.agents:
            raise RuntimeError("step() after the episode ended: call reset()")
        joint = self._joint(action)
        observations, rewards, terms, truncs, infos = self.base.step(joint)
        self._last_obs = observations.get(self.learner, self._last_obs)
        mine = infos.get(self.learner, {})
        info = {k: v for k, v in mine.items() if k != "reward_terms"}
        info.update(
            learner=self.learner,
            partner_actions={a: v for a, v in joint.items() if a != self.learner},
            joint_steps=1,
            is_success=bool(mine.get("is_success", False)),
        )
        total = float(rewards.get(self.learner, 0.0))
        terminated = bool(terms.get(self.learner, False))
        truncated = bool(truncs.get(self.learner, False))
        if not (terminated or truncated):
            more, terminated, truncated, info = self._play_partners(info)
            total += more
        info["reward_terms"] = {"extrinsic": total}
        return self._last_obs, total, terminated, truncated, info

    def render(self) -> Any:
        """The parallel env's rendering (``"ansi"``: text)."""
        return self.base.render()

    def close(self) -> None:
        """Close the parallel env."""
        self.base.close()

    # -- capabilities --------------------------------------------------------------------
    @property
    def task(self) -> dict[str, Any]:
        """The parallel env's task, with the learner and the partners' policy."""
        return {
            **self.base.task,
            "learner": self.learner,
            "partners": dict.fromkeys(self.partners, self.partner),
        }

    def state_key(self, obs: Any) -> Any:
        """The learner's situation for counts (the parallel env's per-agent key)."""
        return self.base.state_key(obs)

    def progress(self) -> float:
        """The team's progress towards success in [0, 1] (a potential; see the module)."""
        return float(self.base.progress(None))


class OracleAgentView(SingleAgentView):
    """A single-agent view of an env with a scripted oracle team; partners default to it.

    ## Description
    As :class:`SingleAgentView`, with ``partner="oracle"`` (the default): each partner
    plays its part of ``oracle_step()``, the env's scripted oracle team. On the grid
    tasks the oracle walks every agent to its own switch / target, so the learner must
    reach its own (``SwitchDoor``: its switch; once the door opens the oracle partner
    walks to the goal too, so the learner's job is its switch).

    ## Observation Space
    The learner's (e.g. ``Box(-1, 1, (17,))`` on ``SwitchDoor-N2-S7``).

    ## Action Space
    The learner's (``Discrete(5)`` on the grids).

    ## Rewards
    The team reward, as :class:`SingleAgentView`.

    ## Termination
    As :class:`SingleAgentView`.

    ## Registered Configurations
    ``densegym/MA-SwitchDoor-N2-S7-Solo-v0``, ``densegym/MA-SwitchDoor-N2-S9-Solo-v0`` and
    ``densegym/MA-GridSpread-N2-S6-Solo-v0``: learner ``agent_0``, the oracle partner, the
    parallel id's ``max_cycles``.

    Example:
        >>> view = OracleAgentView("densegym.envs.multiagent.grid:SwitchDoorEnv", size=7)
        >>> _ = view.reset(seed=0)
        >>> view.learner_oracle_action() in range(5), view.oracle_team_remaining() > 0
        (True, True)
    """

    partner_policies: ClassVar[tuple[str, ...]] = PARTNERS

    def __init__(
        self,
        parallel: str,
        learner: str | int = 0,
        partner: str = "oracle",
        render_mode: str | None = None,
        **parallel_kwargs: Any,
    ):
        self._oracle_now: dict[str, Any] = {}
        super().__init__(parallel, learner, partner, render_mode, **parallel_kwargs)
        if not callable(getattr(self.base, "oracle_step", None)):
            raise TypeError(f"{parallel} has no scripted oracle (oracle_step); use SingleAgentView")

    def _partner_action(self, agent: str) -> Any:
        if self.partner == "oracle":
            return self._oracle_now.get(agent, self._idle_for(agent))
        return super()._partner_action(agent)

    def _oracle_joint(self) -> dict[str, Any]:
        return dict(self.base.oracle_step()) if self.base.agents else {}

    def _joint(self, action: Any | None) -> dict[str, Any]:
        # One oracle call per joint step, shared by every partner.
        self._oracle_now = self._oracle_joint() if self.partner == "oracle" else {}
        return super()._joint(action)

    def learner_oracle_action(self) -> Any:
        """The learner's action in the oracle team's joint action now."""
        return self._oracle_joint().get(self.learner, self._idle_for(self.learner))

    def oracle_team_remaining(self) -> int | None:
        """Steps the oracle team needs from here; ``None`` unless the partners are the oracle.

        With random or no-op partners the oracle's count does not describe what the team
        will do, so it is not given.
        """
        if self.partner != "oracle":
            return None
        return self.base.oracle_remaining()


class TextAgentView(OracleAgentView):
    """A single-agent view of a turn-taking text game, ready for the ``candidates`` view.

    ## Description
    As :class:`OracleAgentView` on a game of :mod:`~densegym.envs.multiagent.textgame`:
    the partners' turns are played inside ``reset`` and ``step``, so every observation is
    the learner's on its own turn. :meth:`candidate_actions` gives the game's legal lines
    for the learner, so ``gym.make(id, view={"id": "candidates", "k": K,
    "include_oracle": True})`` offers them to SB3 as ``Discrete(K)`` with vector
    observations (``include_oracle=True``: the games leave the oracle's line out
    otherwise — on the listener's side that is the right answer).

    ## Observation Space
    Text: the learner's view of the game (:class:`~densegym.spaces.PermissiveText`).

    ## Action Space
    One line of text (:class:`~densegym.spaces.PermissiveText`, 200 characters).

    ## Rewards
    The team reward of the learner's turn and the partners' turns after it (1.0 when the
    listener picks the target; the deal's efficiency on agreement).

    ## Termination
    As :class:`SingleAgentView`.

    ## Registered Configurations
    ``densegym/MA-Referential-Listener-v0`` (learner ``listener``, oracle speaker; with
    ``learner="speaker"`` the speaker's side, an episode of one step: the oracle listener
    answers inside it), ``densegym/MA-Negotiation-Solo-v0`` (learner ``agent_0``, oracle
    ``agent_1``).

    Example:
        >>> view = TextAgentView("densegym.envs.multiagent.referential:ReferentialEnv",
        ...                      learner="listener")
        >>> obs, info = view.reset(seed=0)  # the oracle speaker has spoken already
        >>> info["partner_actions"], view.candidate_actions(None, include_oracle=True)
        ({'speaker': 'orange'}, ['1', '2', '3', '4'])
        >>> _, reward, terminated, _, info = view.step(view.oracle_step())
        >>> reward, terminated, info["is_success"]
        (1.0, True, True)
    """

    def __init__(
        self,
        parallel: str,
        learner: str | int = 0,
        partner: str = "oracle",
        render_mode: str | None = None,
        **parallel_kwargs: Any,
    ):
        super().__init__(parallel, learner, partner, render_mode, **parallel_kwargs)
        if not self.turn_taking or not callable(getattr(self.base, "candidate_actions", None)):
            raise TypeError(f"{parallel} is not a turn-taking text game (actor, candidate_actions)")
        self.max_observation_chars = int(self.observation_space.max_length)
        self.max_step_chars = int(self.action_space.max_length)

    def _partner_action(self, agent: str) -> Any:
        if self.partner == "random":
            lines = self.base.candidate_actions(None, include_oracle=True)
            return lines[int(self.np_random.integers(len(lines)))] if lines else ""
        return super()._partner_action(agent)

    def oracle_step(self) -> str:
        """The learner's oracle line now (``HasOracle``)."""
        return str(self.learner_oracle_action())

    def oracle_remaining(self) -> int | None:
        """Steps the oracle team needs (``HasOracle``); ``None`` with non-oracle partners."""
        return self.oracle_team_remaining()

    def candidate_actions(self, k: int | None = 8, include_oracle: bool = False) -> list[str]:
        """At most ``k`` legal lines for the learner now (the game's ``candidate_actions``).

        Empty when it is not the learner's turn (only after the episode ended).
        """
        if not self.base.agents or not self._learner_turn():
            return []
        return self.base.candidate_actions(k, include_oracle=include_oracle)
