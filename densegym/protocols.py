"""Capabilities an environment may declare, as small runtime-checkable protocols.

Shapers and agents ask for capabilities, never for a class: a shaper lists the ones it
needs in its ``requires`` class attribute, and ``gym.make(id, shaping=...)`` refuses an
incompatible pair with one sentence naming what is missing (:func:`missing_capabilities`).
Every check looks at ``env.unwrapped``, the base environment.

=================  ===========================================================
capability         what the base env offers
=================  ===========================================================
``HasTask``        ``task``: a JSON-friendly description of the current task
``HasStateKey``    ``state_key(obs)``: a hashable key of a state, for counts
``Snapshotable``   ``get_state()``, ``set_state(state)``, ``clone()``
``HasOracle``      ``oracle_step()`` (next step of a solution), ``oracle_remaining()``
``HasPotential``   ``default_potential``: the name of a registered potential
``HasGoalDistance``  ``goal_distance()`` and ``max_distance()`` (grid worlds)
=================  ===========================================================

Two more capabilities describe the env's spaces rather than its methods, so they look at
the env as given (a text view changes its spaces), not at the base env:

=====================  =======================================================
``ArrayObservations``  observations a network can encode: Box, Discrete,
                       MultiBinary, MultiDiscrete, or a Dict of those
``ArrayActions``       a Discrete or Box action space (e.g. ICM predicts actions)
=====================  =======================================================

Example:
    >>> import gymnasium as gym, densegym
    >>> env = gym.make("densegym/Arithmetic-v0")
    >>> capabilities(env)
    ['HasOracle', 'HasStepChain', 'HasTask', 'Snapshotable']
    >>> capabilities(gym.make("densegym/MountainCarSparse-v0"))
    ['ArrayActions', 'ArrayObservations', 'HasPotential', 'HasStateKey', 'HasTask']
    >>> missing_capabilities(gym.make("densegym/MountainCarSparse-v0"), ("Snapshotable",))
    ['Snapshotable']
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any, Protocol, runtime_checkable

from gymnasium import spaces


@runtime_checkable
class HasTask(Protocol):
    """The env describes its task for LLM modules (``env.unwrapped.task``)."""

    @property
    def task(self) -> Any:
        """A JSON-friendly description of the current task."""
        ...


@runtime_checkable
class HasStateKey(Protocol):
    """The env maps an observation to a hashable key (count-based bonuses use it)."""

    def state_key(self, obs: Any) -> Hashable:
        """Return the key of the state behind ``obs``."""
        ...


@runtime_checkable
class Snapshotable(Protocol):
    """The env's episode state can be saved, restored and branched (search, PAV)."""

    def get_state(self) -> Any:
        """Return a snapshot of the episode."""
        ...

    def set_state(self, state: Any) -> None:
        """Restore a snapshot from :meth:`get_state`."""
        ...

    def clone(self) -> Any:
        """Return an independent copy of the env in its current state."""
        ...


@runtime_checkable
class HasOracle(Protocol):
    """The env knows a solution from any state (provers, PRM labels, oracle agents)."""

    def oracle_step(self) -> Any:
        """Return the next action of a solution from the current state."""
        ...

    def oracle_remaining(self) -> int | None:
        """Return how many oracle steps remain, ``None`` if the oracle cannot finish."""
        ...


@runtime_checkable
class HasPotential(Protocol):
    """The env names a default potential for potential-based shaping."""

    default_potential: str


@runtime_checkable
class HasGoalDistance(Protocol):
    """The env measures the distance from the agent to its goal (grid worlds)."""

    def goal_distance(self) -> int | None:
        """Return the distance to the goal, ``None`` while it is unknown."""
        ...

    def max_distance(self) -> int:
        """Return an upper bound of :meth:`goal_distance`."""
        ...


@runtime_checkable
class HasStepChain(Protocol):
    """The episode is a chain of text steps a prover can continue (reasoning worlds).

    Process rewards (PAV, PRMs, implicit PRMs) score the steps written so far and
    continue them with noisy provers, which need a plausible wrong step as well as the
    oracle's.
    """

    @property
    def steps(self) -> tuple[str, ...]:
        """The steps written so far."""
        ...

    def wrong_step(self, rng: Any) -> str:
        """Return a plausible wrong next step."""
        ...

    def committed(self) -> dict[str, Any]:
        """The intermediate values the steps so far committed to."""
        ...


_ARRAY_LEAVES = (spaces.Box, spaces.Discrete, spaces.MultiBinary, spaces.MultiDiscrete)


def _array_observations(env: Any) -> bool:
    space = getattr(env, "observation_space", None)
    leaves = space.spaces.values() if isinstance(space, spaces.Dict) else [space]
    return all(isinstance(leaf, _ARRAY_LEAVES) for leaf in leaves)


def _array_actions(env: Any) -> bool:
    return isinstance(getattr(env, "action_space", None), (spaces.Discrete, spaces.Box))


#: Every protocol capability, by name (checked on the base env).
CAPABILITIES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        HasTask,
        HasStateKey,
        Snapshotable,
        HasOracle,
        HasPotential,
        HasGoalDistance,
        HasStepChain,
    )
}

#: Capabilities of the env's spaces, by name (checked on the env as given).
SPACE_CAPABILITIES: dict[str, Callable[[Any], bool]] = {
    "ArrayObservations": _array_observations,
    "ArrayActions": _array_actions,
}

#: What each capability means, for one-sentence errors ("an env that is <name> (<meaning>)").
MEANINGS: dict[str, str] = {
    "HasTask": "a task description in env.unwrapped.task",
    "HasStateKey": "state_key(obs), a hashable key of a state",
    "Snapshotable": "get_state/set_state/clone",
    "HasOracle": "oracle_step/oracle_remaining, a solution from any state",
    "HasPotential": "default_potential, the name of a registered potential",
    "HasGoalDistance": "goal_distance/max_distance",
    "HasStepChain": "a chain of text steps a prover can continue: steps/wrong_step/committed",
    "ArrayObservations": "Box, Discrete, MultiBinary or MultiDiscrete observations, or a "
    "Dict of those",
    "ArrayActions": "a Discrete or Box action space",
}


def _base(env: Any) -> Any:
    return getattr(env, "unwrapped", env)


def _check_name(name: str) -> None:
    if name not in CAPABILITIES and name not in SPACE_CAPABILITIES:
        known = ", ".join(sorted({*CAPABILITIES, *SPACE_CAPABILITIES}))
        raise ValueError(f"unknown capability {name!r}; known: {known}")


def has_capability(env: Any, name: str) -> bool:
    """Whether ``env`` (its base env, or its spaces) offers the capability called ``name``.

    Raises:
        ValueError: ``name`` is not a known capability.
    """
    _check_name(name)
    if name in SPACE_CAPABILITIES:
        return SPACE_CAPABILITIES[name](env)
    return isinstance(_base(env), CAPABILITIES[name])


def capabilities(env: Any) -> list[str]:
    """The names of every capability ``env`` offers, sorted."""
    names = {*CAPABILITIES, *SPACE_CAPABILITIES}
    return sorted(name for name in names if has_capability(env, name))


def missing_capabilities(env: Any, required: Iterable[str]) -> list[str]:
    """The names in ``required`` that ``env`` does not offer, in the order given."""
    return [name for name in required if not has_capability(env, name)]


def describe_capabilities(names: Iterable[str]) -> str:
    """Capability names with their meanings, joined for a sentence.

    Example:
        >>> describe_capabilities(["Snapshotable"])
        'Snapshotable (get_state/set_state/clone)'
        >>> describe_capabilities(["HasOracle", "HasPotential"]).count(" and ")
        1
    """
    parts = []
    for name in names:
        _check_name(name)
        parts.append(f"{name} ({MEANINGS[name]})")
    return " and ".join(parts)
