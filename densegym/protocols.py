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

Example:
    >>> import gymnasium as gym, densegym
    >>> env = gym.make("densegym/Arithmetic-v0")
    >>> capabilities(env)
    ['HasOracle', 'HasTask', 'Snapshotable']
    >>> missing_capabilities(gym.make("densegym/MountainCarSparse-v0"), ("Snapshotable",))
    ['Snapshotable']
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any, Protocol, runtime_checkable


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


#: Every capability, by name (the names shapers list in ``requires``).
CAPABILITIES: dict[str, type] = {
    cls.__name__: cls
    for cls in (HasTask, HasStateKey, Snapshotable, HasOracle, HasPotential, HasGoalDistance)
}


def _base(env: Any) -> Any:
    return getattr(env, "unwrapped", env)


def has_capability(env: Any, name: str) -> bool:
    """Whether ``env`` (its base env) offers the capability called ``name``.

    Raises:
        ValueError: ``name`` is not a known capability.
    """
    if name not in CAPABILITIES:
        raise ValueError(f"unknown capability {name!r}; known: {', '.join(sorted(CAPABILITIES))}")
    return isinstance(_base(env), CAPABILITIES[name])


def capabilities(env: Any) -> list[str]:
    """The names of every capability ``env`` offers, sorted."""
    return sorted(name for name in CAPABILITIES if has_capability(env, name))


def missing_capabilities(env: Any, required: Iterable[str]) -> list[str]:
    """The names in ``required`` that ``env`` does not offer, in the order given."""
    return [name for name in required if not has_capability(env, name)]
