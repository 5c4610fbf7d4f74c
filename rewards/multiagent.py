"""Shaping for PettingZoo parallel envs, per agent or per team, with the single-agent shapers.

No library ships stateful per-agent shaping for PettingZoo (SuperSuit's reward lambda maps
a value only), so this module reuses densegym's own: every registered shaper, built from
the same data spec, wraps a small :class:`ScopeView` — one agent's side of the parallel
env, or the team's — so its :class:`~densegym.rewards.terms.TermPipeline` (coefficient
and schedule, normalisation, clipping, the bound on finite values, non-finite
replacement, timing, state) applies unchanged. A spec entry takes one more key,
``scope``::

    shaping = [{"id": "count", "scope": "agent", "coef": 0.05},
               {"id": "potential", "scope": "team", "gamma": 0.99}]

- ``"agent"`` (the default): one shaper per agent, fed that agent's transition (its
  observation, action, reward, flags and info): per-agent counts, a per-agent potential,
  one pipeline each.
- ``"team"``: one shaper fed the joint transition — the global ``state()``, the dict of
  actions, the mean reward, terminated/truncated when every agent is — and its term is
  paid to every agent.

``infos[agent]["reward_terms"]`` holds ``extrinsic`` and one entry per spec, under the
single-agent names (``count``, ``potential``), so TensorBoard overlays carry over, and
each agent's reward is their sum. Two specs of one name need distinct ``name`` keys.

A potential-based term on a team potential, γ·Φ(s′) − Φ(s) with Φ a function of the
joint state, is paid identically to every agent; it leaves the Nash equilibria of the
stochastic game unchanged (Devlin & Kudenko, 2011), as a single-agent potential leaves
the optimal policy unchanged (Ng et al., 1999). Its discounted episode sum telescopes to
γ^T·Φ(s_T) − Φ(s_0) (Φ = 0 at a terminal state); the tests check it.

What a view offers a shaper comes from the parallel env (its ``unwrapped``): both scopes
get ``task``; the agent scope gets ``state_key(obs)`` (of one agent's observation) and
``default_potential`` from ``default_agent_potential``; the team scope gets
``state_key`` from ``team_state_key(state)`` and ``default_potential`` from
``default_team_potential``. The potentials ``ma_agent_progress`` and
``ma_team_progress`` read the env's ``progress(agent)`` / ``progress(None)``.

Per step, each stack runs flat (no Gym wrapper chain, no view to feed) and the two
commonest shapers, ``count`` and ``potential``, run as kernels: their own rules inline,
without a :class:`~densegym.rewards.core.Transition` (:func:`term_kernel`). A team
whose terms are all obs-free potentials (``ma_team_progress``) reads only
"every agent terminated": the team's ``state()``, reward, flags and info are not
built. Every number is the one the wrapper chains pay
(``tests/envs/test_multiagent_fast_path.py``); other shapers run their own
``reward_term``.

Example:
    >>> from densegym.envs.multiagent.grid import SwitchDoorEnv
    >>> env = ParallelShaping(SwitchDoorEnv(), [{"id": "count", "coef": 0.1},
    ...                                         {"id": "potential", "scope": "team"}])
    >>> obs, infos = env.reset(seed=0)
    >>> _, rewards, _, _, infos = env.step({"agent_0": 4, "agent_1": 1})
    >>> sorted(infos["agent_0"]["reward_terms"])
    ['count', 'extrinsic', 'potential']
    >>> rewards["agent_1"] == sum(infos["agent_1"]["reward_terms"].values())
    True
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import gymnasium as gym
from gymnasium import spaces
from pettingzoo import ParallelEnv
from pettingzoo.utils.wrappers import BaseParallelWrapper

from densegym.rewards.core import ShapedReward, Transition
from densegym.rewards.potential import PotentialShaping, available_potentials, register_potential
from densegym.rewards.registry import apply_shaping, find_shapers, normalize_spec
from densegym.rewards.terms import TermPipeline

__all__ = [
    "SCOPES",
    "FastTerm",
    "ParallelShaping",
    "ScopeView",
    "fast_terms",
    "run_terms",
    "scoped_specs",
    "step_shapers",
    "term_kernel",
]

#: The scopes a spec may name; the first is the default.
SCOPES = ("agent", "team")
SCOPE_KEY = "scope"

#: The per-term counters a step's info carries (see :meth:`TermPipeline.write_info`).
_NONFINITE, _CLAMPED = "reward_terms_nonfinite", "reward_terms_clamped"
_COUNTER_KEYS = (_NONFINITE, _CLAMPED)
#: Stands for the team's ``state()`` when no team term reads it (it is then not built).
_NO_STATE: Any = object()

#: What each scope's view takes from the parallel env: view attribute -> env attribute.
_SCOPE_ATTRS: dict[str, dict[str, str]] = {
    "agent": {
        "task": "task",
        "state_key": "state_key",
        "default_potential": "default_agent_potential",
    },
    "team": {
        "task": "task",
        "state_key": "team_state_key",
        "default_potential": "default_team_potential",
    },
}


def scoped_specs(shaping: Any) -> list[tuple[str, dict[str, Any]]]:
    """Split a shaping spec into ``(scope, spec without scope)`` pairs, in spec order.

    Raises:
        ValueError: a scope that is not ``"agent"`` or ``"team"``.

    Example:
        >>> scoped_specs(["count", {"id": "potential", "scope": "team", "gamma": 1.0}])
        [('agent', {'id': 'count'}), ('team', {'id': 'potential', 'gamma': 1.0})]
    """
    pairs = []
    for spec in normalize_spec(shaping):
        spec = dict(spec)
        scope = spec.pop(SCOPE_KEY, SCOPES[0])
        if scope not in SCOPES:
            raise ValueError(
                f"shaper {spec['id']!r}: scope must be one of {', '.join(SCOPES)}, got {scope!r}"
            )
        pairs.append((scope, spec))
    return pairs


class ScopeView(gym.Env):
    """One agent's side (``agent`` given) or the team's side of a parallel env, as a Gym env.

    Single-agent shapers wrap it. It never steps the parallel env: :class:`ParallelShaping`
    steps that once per joint step and hands each view its part with :meth:`feed`; the
    view's :meth:`step` and :meth:`reset` return what they were fed. The capabilities a
    shaper asks for are read from the parallel env (see the module docstring).

    Args:
        env: the parallel env (its ``unwrapped`` answers capability questions).
        agent: the agent, or ``None`` for the team.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(self, env: ParallelEnv, agent: str | None):
        self.__dict__["base"] = env.unwrapped
        self.parallel_env = env
        self.agent = agent
        self.scope = "agent" if agent is not None else "team"
        agents = list(env.possible_agents)
        if agent is not None:
            self.observation_space = env.observation_space(agent)
            self.action_space = env.action_space(agent)
        else:
            state_space = getattr(env, "state_space", None)
            if not isinstance(state_space, spaces.Space):
                raise ValueError(
                    f"team-scope shaping needs a parallel env with state() and state_space; "
                    f"{type(env.unwrapped).__name__} has none"
                )
            self.observation_space = state_space
            self.action_space = spaces.Dict({a: env.action_space(a) for a in agents})
        self._fed: tuple[Any, ...] = ()

    def __getattr__(self, name: str) -> Any:
        mapped = _SCOPE_ATTRS[self.__dict__.get("scope", "agent")].get(name)
        if name.startswith("_") or mapped is None or "base" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.__dict__["base"], mapped)

    def feed(self, *transition: Any) -> None:
        """Hand the view what its next :meth:`reset` ``(obs, info)`` or :meth:`step` returns."""
        self._fed = transition

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Return the fed ``(obs, info)``."""
        return self._fed

    def step(self, action: Any):
        """Return the fed ``(obs, reward, terminated, truncated, info)``."""
        return self._fed


def _flat_shapers(stack: gym.Env) -> list[ShapedReward] | None:
    """The shapers of a stack, innermost first, when :func:`step_shapers` may run them.

    That is when every layer above the :class:`ScopeView` is a :class:`ShapedReward`
    that keeps the base ``step`` (it only adds its term); ``None`` otherwise (the stack
    is then stepped as a Gym wrapper chain).
    """
    layers: list[ShapedReward] = []
    current: Any = stack
    while not isinstance(current, ScopeView):
        if not isinstance(current, ShapedReward) or type(current).step is not ShapedReward.step:
            return None
        layers.append(current)
        current = current.env
    return layers[::-1]


def step_shapers(
    shapers: list[ShapedReward],
    obs: Any,
    action: Any,
    terminated: bool,
    truncated: bool,
    info: dict[str, Any],
) -> None:
    """One step of a shaper stack without its Gym wrapper chain: each term into ``info``.

    What :meth:`ShapedReward.step` does for each shaper, innermost first — the
    transition from the shaper's last observation, ``reward_term``, its time, the term
    pipeline (the scalar hot path for a plain float), ``write_info`` — with no view to
    feed and no nested calls. ``info["reward_terms"]`` must hold ``extrinsic``.
    """
    extrinsic = info["reward_terms"]["extrinsic"]
    clock = time.perf_counter
    for shaper in shapers:
        transition = Transition(
            shaper._last_obs, action, obs, extrinsic, terminated, truncated, info
        )
        pipeline = shaper.pipeline
        start = clock()
        raw = shaper.reward_term(transition)
        pipeline.compute_seconds += clock() - start
        pipeline.compute_steps += 1
        if type(raw) is float:
            contribution = pipeline._process_number(raw)
        else:
            contribution = pipeline.process(raw)
        pipeline.write_info(info, contribution)
        shaper._last_obs = obs


#: A raw term computed without a :class:`Transition`: ``kernel(next_obs, terminated)``
#: returns what the shaper's ``reward_term`` would, or ``None`` when the shaper must
#: take its own ``reward_term`` this step.
Kernel = Callable[[Any, bool], Any]


@dataclass(slots=True)
class FastTerm:
    """One shaper of a flat stack as :meth:`ParallelShaping.step` runs it.

    Attributes:
        shaper: the shaping wrapper (its pipeline, name and per-step state).
        pipeline: its term pipeline.
        name: its term name.
        kernel: its raw term without a :class:`Transition` (see :func:`term_kernel`), or
            ``None``: the shaper's ``reward_term``.
        reads_obs: whether the term reads the observation (the team's ``state()`` is
            built only when a team term does).
    """

    shaper: ShapedReward
    pipeline: TermPipeline
    name: str
    kernel: Kernel | None
    reads_obs: bool


def _potential_kernel(shaper: PotentialShaping) -> tuple[Kernel, bool]:
    """:meth:`PotentialShaping.reward_term` without a transition (same numbers).

    For the multi-agent potentials, Φ is the env's ``progress(agent)`` (``None``: the
    team), read straight from the env; the observation is not needed.
    """
    view = shaper.env.unwrapped
    phi = shaper.phi
    if phi is agent_progress or phi is team_progress:
        progress = view.base.progress
        who = view.agent

        def potential_term(obs: Any, terminated: bool) -> float:
            phi_next = 0.0 if terminated else float(float(progress(who)))
            value = shaper.gamma * phi_next - shaper._phi_last
            shaper._phi_last = phi_next
            return value if math.isfinite(value) else math.nan

        return potential_term, False

    def obs_potential_term(obs: Any, terminated: bool) -> float:
        phi_next = 0.0 if terminated else float(phi(view, obs))
        value = shaper.gamma * phi_next - shaper._phi_last
        shaper._phi_last = phi_next
        return value if math.isfinite(value) else math.nan

    return obs_potential_term, True


def _count_kernel(shaper: Any) -> Kernel:
    """:meth:`CountBonus.reward_term` on :class:`CountModule`'s rules, inlined (same numbers).

    ``None`` (the shaper's own path) while the shaper keeps transitions for a later
    ``update`` (not ``online``, not frozen).
    """
    from densegym.rewards.intrinsic.base import default_state_key

    module = shaper.module
    pipeline = shaper.pipeline
    # Fixed when the module is built: its key function and its mode.
    state_key = module.state_key
    own_key = state_key is not default_state_key
    mode = module.mode

    def count_term(obs: Any, terminated: bool) -> float | None:
        frozen = pipeline.frozen
        if not frozen and not shaper.online:
            return None
        if own_key:
            try:
                key = state_key(obs)
            except (ValueError, OverflowError, TypeError):
                return math.nan
        else:
            key = module.key_of(obs)
            if key is None:
                return math.nan
        if mode == "global":
            counts = module.counts
            if frozen:
                n = max(counts.get(key, 0), 1)
            else:
                n = counts[key] = counts.get(key, 0) + 1
        else:
            table = shaper.episodic[0]
            n = table[key] = table.get(key, 0) + 1
        if mode == "first_visit":
            return 1.0 if n == 1 else 0.0
        return 1.0 / math.sqrt(n)

    return count_term


def term_kernel(shaper: ShapedReward) -> tuple[Kernel | None, bool]:
    """The fast raw term of a shaper whose rules this module mirrors, and whether it reads obs.

    Only for the exact classes (a subclass may override ``reward_term``):
    :class:`~densegym.rewards.potential.PotentialShaping` and
    :class:`~densegym.rewards.intrinsic.counts.CountBonus`. Others get ``(None, True)``
    and run their own ``reward_term``. ``tests/envs/test_multiagent_fast_path.py``
    checks that both paths pay the same numbers.

    Example:
        >>> from densegym.envs.multiagent.grid import SwitchDoorEnv
        >>> env = ParallelShaping(SwitchDoorEnv(), [{"id": "potential", "scope": "team"},
        ...                                         {"id": "step_penalty", "name": "p"}])
        >>> team = env.shapers()["team"][0]
        >>> kernel, reads_obs = term_kernel(team)
        >>> _ = env.reset(seed=0)
        >>> reads_obs, kernel(None, True) == -team.potential_of(None)  # Φ(terminal) = 0
        (False, True)
        >>> term_kernel(env.shapers()["agent_0"][0])  # step_penalty: its own reward_term
        (None, True)
    """
    cls = type(shaper)
    if cls is PotentialShaping:
        return _potential_kernel(shaper)  # type: ignore[arg-type]
    if getattr(cls, "registry_name", None) == "count":
        from densegym.rewards.intrinsic.counts import CountBonus

        if cls is CountBonus:
            return _count_kernel(shaper), True
    return None, True


def fast_terms(shapers: list[ShapedReward] | None) -> list[FastTerm] | None:
    """The :class:`FastTerm` of each shaper of a flat stack (``None`` stays ``None``).

    Example:
        >>> from densegym.envs.multiagent.grid import SwitchDoorEnv
        >>> env = ParallelShaping(SwitchDoorEnv(), {"id": "count"})
        >>> [(t.name, t.reads_obs) for t in fast_terms(env.shapers()["agent_1"])]
        [('count', True)]
    """
    if shapers is None:
        return None
    terms = []
    for shaper in shapers:
        kernel, reads_obs = term_kernel(shaper)
        terms.append(FastTerm(shaper, shaper.pipeline, shaper.term_name, kernel, reads_obs))
    return terms


def run_terms(
    terms: list[FastTerm],
    obs: Any,
    action: Any,
    terminated: bool,
    truncated: bool,
    info: dict[str, Any],
    reward_terms: dict[str, float],
) -> None:
    """:func:`step_shapers` on :class:`FastTerm` entries: kernels where a shaper has one.

    The same rules in the same order: each raw term timed, through its pipeline, then
    its contribution and counters written to ``info`` as
    :meth:`~densegym.rewards.terms.TermPipeline.write_info` writes them.
    ``reward_terms`` is ``info["reward_terms"]`` (holding ``extrinsic``).

    Example:
        >>> from densegym.envs.multiagent.grid import SwitchDoorEnv
        >>> env = ParallelShaping(SwitchDoorEnv(), {"id": "count", "coef": 1.0})
        >>> obs, _ = env.reset(seed=0)
        >>> info = {"reward_terms": {"extrinsic": 0.0}}
        >>> run_terms(fast_terms(env.shapers()["agent_0"]), obs["agent_0"], 0, False, False,
        ...           info, info["reward_terms"])  # the reset state, seen a second time
        >>> round(info["reward_terms"]["count"], 4), info["reward_terms_nonfinite"]
        (0.7071, {'count': 0})
    """
    for term in terms:
        shaper, pipeline, kernel = term.shaper, term.pipeline, term.kernel
        start = perf_counter()
        raw = None if kernel is None else kernel(obs, terminated)
        if raw is None:
            raw = shaper.reward_term(
                Transition(
                    shaper._last_obs,
                    action,
                    obs,
                    reward_terms["extrinsic"],
                    terminated,
                    truncated,
                    info,
                )
            )
        pipeline.compute_seconds += perf_counter() - start
        pipeline.compute_steps += 1
        if type(raw) is float:
            contribution = pipeline._process_number(raw)
        else:
            contribution = pipeline.process(raw)
        name = term.name
        reward_terms[name] = float(contribution)
        # The keys spelled out (constants, not globals): this runs per agent and step.
        nonfinite = info.get("reward_terms_nonfinite")
        if nonfinite is None:
            info["reward_terms_nonfinite"] = {name: pipeline.nonfinite_count}
        else:
            nonfinite[name] = pipeline.nonfinite_count
        clamped = info.get("reward_terms_clamped")
        if clamped is None:
            info["reward_terms_clamped"] = {name: pipeline.clamped_count}
        else:
            clamped[name] = pipeline.clamped_count
        if obs is not _NO_STATE:
            shaper._last_obs = obs


def agent_progress(env: Any, obs: Any) -> float:
    """Φ = ``progress(agent)`` of a multi-agent env, for the agent a :class:`ScopeView` shows."""
    return float(env.base.progress(env.agent))


def team_progress(env: Any, obs: Any) -> float:
    """Φ = ``progress(None)`` of a multi-agent env: the team's progress."""
    return float(env.base.progress(None))


_POTENTIALS = {"ma_agent_progress": agent_progress, "ma_team_progress": team_progress}


def register_potentials() -> None:
    """Register the multi-agent potentials (idempotent).

    Every :class:`ParallelShaping` calls it, so a registry reset after this module's
    import (the doctest walk isolates registries) cannot lose them.
    """
    known = set(available_potentials())
    for name, fn in _POTENTIALS.items():
        if name not in known:
            register_potential(name, fn)


register_potentials()


class ParallelShaping(BaseParallelWrapper):
    """Adds per-agent and team shaping terms to a PettingZoo parallel env's rewards.

    Args:
        env: the parallel env.
        shaping: a shaping spec (data); each entry may carry ``"scope": "agent" | "team"``.

    Attributes:
        agent_shapers: per agent, its shaping stack (a Gym wrapper chain on a view), or
            nothing when no entry has the agent scope.
        team_shaper: the team's shaping stack, or ``None``.
        term_names: the term names in spec order.

    Raises:
        ValueError: a bad scope, two terms of one name, or an env that lacks what a
            shaper needs (one sentence, as from ``gym.make``).
    """

    def __init__(self, env: ParallelEnv, shaping: Any):
        super().__init__(env)
        register_potentials()
        self.shaping = shaping
        pairs = scoped_specs(shaping)
        self.scopes = [scope for scope, _ in pairs]
        agent_specs = [spec for scope, spec in pairs if scope == "agent"]
        team_specs = [spec for scope, spec in pairs if scope == "team"]
        self.agent_shapers: dict[str, gym.Env] = {}
        self.team_shaper: gym.Env | None = None
        if agent_specs:
            for agent in env.possible_agents:
                self.agent_shapers[agent] = self._build(ScopeView(env, agent), agent_specs)
        if team_specs:
            self.team_shaper = self._build(ScopeView(env, None), team_specs)
        agent_names = self._names(next(iter(self.agent_shapers.values()), None))
        team_names = self._names(self.team_shaper)
        clash = set(agent_names) & set(team_names)
        if clash:
            raise ValueError(
                f"two shaping terms are named {sorted(clash)[0]!r}; give one a distinct "
                "'name' in its spec"
            )
        agent_iter, team_iter = iter(agent_names), iter(team_names)
        self.term_names = [next(agent_iter if s == "agent" else team_iter) for s in self.scopes]
        self._team_names = team_names
        self._reorder = self.term_names != [*agent_names, *team_names]
        self._n_terms = len(self.term_names) + 1  # and extrinsic
        self._build_fast_path()

    def _build_fast_path(self) -> None:
        """The hot path (see :meth:`step`): each stack's shapers flat, as FastTerms.

        Kernels close over their shapers, so a copy or an unpickled wrapper builds its
        own (see :meth:`__getstate__`).
        """
        self._agent_flat: dict[str, list[FastTerm] | None] = {
            agent: fast_terms(_flat_shapers(s)) for agent, s in self.agent_shapers.items()
        }
        self._team_flat: list[FastTerm] | None = (
            fast_terms(_flat_shapers(self.team_shaper)) if self.team_shaper else None
        )
        # The team's terms read nothing but "terminated" (obs-free potentials): then
        # neither state() nor the team's reward, flags and info are built per step.
        self._team_light = self._team_flat is not None and all(
            term.kernel is not None and not term.reads_obs for term in self._team_flat
        )

    def __getstate__(self) -> dict[str, Any]:
        """Everything but the fast path (its kernels are closures over these shapers)."""
        state = self.__dict__.copy()
        for key in ("_agent_flat", "_team_flat", "_team_light"):
            state.pop(key, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore, then build the fast path over the restored shapers."""
        self.__dict__.update(state)
        self._build_fast_path()

    @property
    def agents(self) -> list[str]:
        """The live agents (read straight from the env, not via ``__getattr__``: hot path)."""
        return self.env.agents

    def _build(self, view: ScopeView, specs: list[dict[str, Any]]) -> gym.Env:
        try:
            return apply_shaping(view, specs)
        except ValueError as error:
            label = type(self.env.unwrapped).__name__
            message = str(error).replace(
                "; ScopeView is not", f"; {label} ({view.scope} scope) is not"
            )
            raise ValueError(message) from error

    @staticmethod
    def _names(stack: gym.Env | None) -> list[str]:
        return [s.term_name for s in find_shapers(stack)] if stack is not None else []

    def shapers(self) -> dict[str, list[ShapedReward]]:
        """The shaping wrappers by owner (each agent, and ``"team"``), innermost first."""
        owners = {agent: find_shapers(stack) for agent, stack in self.agent_shapers.items()}
        if self.team_shaper is not None:
            owners["team"] = find_shapers(self.team_shaper)
        return owners

    def shaping_times(self) -> dict[str, dict[str, float]]:
        """Cumulative compute time per term, summed over the agents' copies."""
        times: dict[str, dict[str, float]] = {}
        for stack in self.shapers().values():
            for shaper in stack:
                entry = times.setdefault(shaper.term_name, {"seconds": 0.0, "steps": 0.0})
                entry["seconds"] += shaper.compute_seconds
                entry["steps"] += float(shaper.compute_steps)
        return times

    # -- the parallel API ---------------------------------------------------------------------
    def _team_info(self, infos: dict[str, dict[str, Any]], reward: float) -> dict[str, Any]:
        success = any(bool(info.get("is_success", False)) for info in infos.values())
        return {"is_success": success, "reward_terms": {"extrinsic": reward}}

    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None):
        """Reset the env and every shaper's per-episode state."""
        obs, infos = self.env.reset(seed=seed, options=options)
        for agent, stack in self.agent_shapers.items():
            if agent in obs:
                stack.unwrapped.feed(obs[agent], infos[agent])
                stack.reset()
        if self.team_shaper is not None:
            self.team_shaper.unwrapped.feed(self.env.state(), self._team_info(infos, 0.0))
            self.team_shaper.reset()
        return obs, infos

    def step(self, actions: dict[str, Any]):
        """Step the env once; add every agent's own terms and the team's terms.

        Per step, the team's shapers run once and each agent's run on that agent's
        transition, straight through their term pipelines (:func:`run_terms`: the
        count and potential rules inline, other shapers' ``reward_term``); the objects
        made are the team's terms and counters and the counter dicts each ``info``
        carries (plus a transition per shaper without a kernel, and the team's state
        and info when a team term reads them).
        """
        obs, rewards, terminations, truncations, infos = self.env.step(actions)
        if not rewards:
            return obs, {}, terminations, truncations, infos
        team = self.team_shaper is not None
        if team:
            team_terms, team_nonfinite, team_clamped = self._team_step(
                actions, rewards, terminations, truncations, infos
            )
        shaped: dict[str, float] = {}
        agent_flat, agent_stacks = self._agent_flat, self.agent_shapers
        n_terms, reorder = self._n_terms, self._reorder
        for agent, value in rewards.items():
            info = infos.get(agent)
            if info is None:
                info = infos[agent] = {}
            terms = info.get("reward_terms")
            if terms is None:
                terms = info["reward_terms"] = {"extrinsic": float(value)}
            flat = agent_flat.get(agent) if agent_stacks else False
            if flat:
                run_terms(
                    flat,
                    obs[agent],
                    actions.get(agent),
                    bool(terminations[agent]),
                    bool(truncations[agent]),
                    info,
                    terms,
                )
            elif flat is None and agent in agent_stacks:
                stack = agent_stacks[agent]
                stack.unwrapped.feed(
                    obs[agent], value, terminations[agent], truncations[agent], info
                )
                stack.step(actions.get(agent))
            if team:
                terms.update(team_terms)
                mine = info.get("reward_terms_nonfinite")
                if mine is None:
                    info["reward_terms_nonfinite"] = team_nonfinite.copy()
                else:
                    mine.update(team_nonfinite)
                mine = info.get("reward_terms_clamped")
                if mine is None:
                    info["reward_terms_clamped"] = team_clamped.copy()
                else:
                    mine.update(team_clamped)
            if reorder or len(terms) != n_terms:
                ordered = {"extrinsic": terms["extrinsic"]}
                ordered.update((name, terms[name]) for name in self.term_names)
                info["reward_terms"] = terms = ordered
            shaped[agent] = float(sum(terms.values()))
        return obs, shaped, terminations, truncations, infos

    def _team_step(
        self,
        actions: dict[str, Any],
        rewards: dict[str, Any],
        terminations: dict[str, Any],
        truncations: dict[str, Any],
        infos: dict[str, dict[str, Any]],
    ) -> tuple[dict[str, float], dict[str, int], dict[str, int]]:
        """The team's terms for this step and its two counter dicts, from the joint transition.

        Plain loops, not generator expressions: a team has a few agents, and this runs
        every joint step.
        """
        flat = self._team_flat
        if flat is not None and self._team_light:
            terminated = True
            for agent in rewards:
                if not terminations[agent]:
                    terminated = False
                    break
            if terminated:
                for agent in terminations:
                    if not terminations[agent]:
                        terminated = False
                        break
            counters: dict[str, Any] = {}
            team_terms: dict[str, float] = {}
            run_terms(flat, _NO_STATE, None, terminated, False, counters, team_terms)
            return team_terms, counters[_NONFINITE], counters[_CLAMPED]
        reward = 0
        terminated = truncated = True
        for agent, value in rewards.items():
            reward += float(value)
            if not terminations[agent]:
                terminated = False
                if not truncations[agent]:
                    truncated = False
        reward /= len(rewards)
        for agent in terminations:
            if not terminations[agent]:
                terminated = False
                break
        truncated = truncated and not terminated
        success = False
        for agent_info in infos.values():
            if agent_info.get("is_success", False):
                success = True
                break
        terms = {"extrinsic": reward}
        info = {"is_success": success, "reward_terms": terms}
        state = self.env.state()
        if flat is not None:
            run_terms(flat, state, dict(actions), terminated, truncated, info, terms)
        else:
            assert self.team_shaper is not None
            self.team_shaper.unwrapped.feed(state, reward, terminated, truncated, info)
            _, _, _, _, info = self.team_shaper.step(dict(actions))
            terms = info["reward_terms"]
        team_terms = {}
        for name in self._team_names:
            team_terms[name] = terms[name]
        return team_terms, info[_NONFINITE], info[_CLAMPED]

    def close(self) -> None:
        """Close the shapers' stacks and the env."""
        for stack in [*self.agent_shapers.values(), self.team_shaper]:
            if stack is not None:
                stack.close()
        self.env.close()
