"""A negotiation in text: two agents split a pool of items they value privately.

The action grammar is one line, read by regular expressions (never ``eval``)::

    propose(book=1, hat=0, ball=2)   # the counts the proposer keeps; the rest go to the other
    propose(1, 0, 2)                 # the same, one count per item type in pool order
    accept                           # take the other agent's standing proposal

Item names are case-insensitive, an item left out of the named form is a count of 0
(it goes to the other agent), and text around the first ``propose(...)`` or ``accept``
is ignored. The team is paid the deal's efficiency: the sum of the values both agents
realise over the best sum any split achieves (every item to whoever values it more).
"""

from __future__ import annotations

import itertools
import re
from typing import Any, ClassVar

import numpy as np

from densegym.envs.multiagent.textgame import Play, TurnTextGame

__all__ = ["ITEMS", "NegotiationEnv", "parse_action"]

#: Item types, in the order a game adds them (``n_types``).
ITEMS: tuple[str, ...] = ("book", "hat", "ball", "pen", "cup")
_ACTION_RE = re.compile(r"\b(?:propose\s*\(([^()]{0,120})\)|(accept)\b)", re.IGNORECASE)
_NAMED_RE = re.compile(r"^\s*([a-z]+)\s*[=:]\s*(\d{1,3})\s*$", re.IGNORECASE)
_COUNT_RE = re.compile(r"^\s*(\d{1,3})\s*$")


def parse_action(line: str, items: tuple[str, ...]) -> tuple[str, tuple[int, ...] | None, str]:
    """Read one negotiation line: ``(kind, counts, error)``.

    ``kind`` is ``"propose"`` (``counts``: what the proposer keeps, per item type),
    ``"accept"`` or ``"invalid"`` (``error`` says why). Bounds against the pool are
    checked by the env, not here.

    Example:
        >>> parse_action("propose(book=1, ball=2)", ("book", "hat", "ball"))
        ('propose', (1, 0, 2), '')
        >>> parse_action("I accept.", ("book", "hat", "ball"))
        ('accept', None, '')
        >>> parse_action("propose(1, 2)", ("book", "hat", "ball"))[2]
        'propose(...) needs 3 counts (book, hat, ball) or item=count pairs'
    """
    match = _ACTION_RE.search(line[:400])
    if match is None:
        return "invalid", None, "write propose(item=count, ...) or accept"
    if match.group(2) is not None:
        return "accept", None, ""
    parts = [p for p in match.group(1).split(",") if p.strip()]
    counts = [0] * len(items)
    if parts and all(_COUNT_RE.match(p) for p in parts):
        if len(parts) != len(items):
            wanted = ", ".join(items)
            return (
                "invalid",
                None,
                f"propose(...) needs {len(items)} counts ({wanted}) or item=count pairs",
            )
        return "propose", tuple(int(p) for p in parts), ""
    seen = set()
    for part in parts:
        named = _NAMED_RE.match(part)
        if named is None:
            return "invalid", None, f"cannot read {part.strip()[:30]!r} (write item=count)"
        name = named.group(1).lower()
        if name not in items and name.endswith("s") and name[:-1] in items:
            name = name[:-1]  # "books=2"
        if name not in items:
            return "invalid", None, f"unknown item {named.group(1)[:20]!r}"
        if name in seen:
            return "invalid", None, f"{name} is named twice"
        seen.add(name)
        counts[items.index(name)] = int(named.group(2))
    return "propose", tuple(counts), ""


class NegotiationEnv(TurnTextGame):
    r"""Two agents with private values split a pool of items in alternating turns.

    ## Description
    Each reset draws a pool (``1..max_count`` items of each of ``n_types`` types) and
    each agent's private value per item type (integers in ``0..max_value``; each agent
    values the pool at 1 or more). ``agent_0`` acts at even steps, ``agent_1`` at odd
    ones. A turn is one line: ``propose(...)`` (what the proposer keeps; the rest goes to
    the other, replacing any standing proposal) or ``accept`` (agree to the other
    agent's standing proposal, which ends the game). The grammar is in the module
    docstring.

    ## Observation Space
    Per agent, text (:class:`~densegym.spaces.PermissiveText`): the pool, its own
    values (never the other's), the moves so far, the standing proposal, whose turn it
    is and the grammar. ``state()`` is the whole game as text, both agents' values
    included.

    ## Action Space
    One line of text per agent (:class:`~densegym.spaces.PermissiveText`, 200
    characters); only the actor's line is read. An unreadable line, a count beyond the
    pool or an ``accept`` with nothing to accept is flagged
    (``infos[agent]["invalid_action"]``, ``invalid_reason``) and counted
    (``invalid_actions``); the turn passes to the other agent.

    ## Rewards
    Team reward on agreement, paid to both agents: the deal's efficiency,
    ``(v0·a0 + v1·a1) / Σ_i n_i·max(v0_i, v1_i)`` in [0, 1]; 0 at every other step
    and when no deal is made (``infos[agent]["reward_terms"] == {"extrinsic": r}``).

    ## Termination
    Both agents terminate on ``accept``; both are truncated after ``max_cycles`` steps
    (the N rounds to agree in). ``infos[agent]["is_success"]`` is whether a deal with
    efficiency of at least ``success_threshold`` (default 1.0: a best split) was made;
    ``infos[agent]["efficiency"]`` is set on agreement.

    ## Registered Configurations
    ``densegym/MA-Negotiation-v0`` (3 item types, 1-4 of each, values 0-5, 8 steps).

    Example:
        >>> env = NegotiationEnv()
        >>> obs, infos = env.reset(seed=0)
        >>> env.pool, env.values["agent_0"], env.values["agent_1"]
        ((4, 3, 3), (1, 1, 0), (0, 0, 1))
        >>> _ = env.step({"agent_0": "propose(book=4, hat=0, ball=3)", "agent_1": ""})
        >>> *_, infos = env.step({"agent_0": "", "agent_1": "accept"})
        >>> round(infos["agent_0"]["efficiency"], 3), infos["agent_1"]["is_success"]
        (0.4, False)
        >>> env.reset(seed=0)[0]["agent_0"].count("\n") > 4
        True
    """

    metadata: ClassVar[dict[str, Any]] = {**TurnTextGame.metadata, "name": "negotiation_v0"}
    roles: ClassVar[tuple[str, ...]] = ("agent_0", "agent_1")

    def __init__(
        self,
        n_types: int = 3,
        max_count: int = 4,
        max_value: int = 5,
        success_threshold: float = 1.0,
        max_cycles: int = 8,
        render_mode: str | None = None,
    ):
        if not 1 <= int(n_types) <= len(ITEMS):
            raise ValueError(f"n_types must be in [1, {len(ITEMS)}], got {n_types}")
        if not 1 <= int(max_count) <= 10:
            raise ValueError(f"max_count must be in [1, 10], got {max_count}")
        if not 1 <= int(max_value) <= 100:
            raise ValueError(f"max_value must be in [1, 100], got {max_value}")
        if not 0.0 <= float(success_threshold) <= 1.0:
            raise ValueError(f"success_threshold must be in [0, 1], got {success_threshold}")
        if int(max_cycles) < 2:
            raise ValueError(f"max_cycles must be at least 2 (propose, accept), got {max_cycles}")
        self.items = ITEMS[: int(n_types)]
        self.max_count = int(max_count)
        self.max_value = int(max_value)
        self.success_threshold = float(success_threshold)
        self.pool: tuple[int, ...] = ()
        self.values: dict[str, tuple[int, ...]] = {}
        self.proposal: tuple[str, tuple[int, ...]] | None = None
        self.deal: dict[str, tuple[int, ...]] | None = None
        self.efficiency = 0.0
        self.task = {
            "id": "Negotiation",
            "goal": (
                "Cooperate: agree on a split of the item pool that gives each item to the "
                "agent who values it more, within the step limit."
            ),
            "actions": "propose(item=count, ...) keeps those counts for you; accept takes "
            "the other agent's standing proposal",
            "reward": "the deal's efficiency (realised value over the best possible) to both "
            "agents on agreement, 0 otherwise",
            "info": {
                "is_success": "bool, a deal at least success_threshold efficient",
                "efficiency": "float, on agreement",
            },
        }
        super().__init__(max_cycles=max_cycles, render_mode=render_mode)

    # -- the instance ------------------------------------------------------------------------
    def _generate(self, rng: np.random.Generator) -> None:
        n = len(self.items)
        self.pool = tuple(int(c) for c in rng.integers(1, self.max_count + 1, size=n))
        self.values = {}
        for agent in self.possible_agents:
            values = tuple(int(v) for v in rng.integers(0, self.max_value + 1, size=n))
            if not any(values):  # every agent values the pool: one item type is worth 1
                values = tuple(int(i == int(rng.integers(n))) for i in range(n))
            self.values[agent] = values
        self.proposal = None
        self.deal = None
        self.efficiency = 0.0

    def other(self, agent: str) -> str:
        """The other agent."""
        return self.possible_agents[1 - self.possible_agents.index(agent)]

    def best_total(self) -> int:
        """The best sum of realised values any split achieves (> 0)."""
        v0, v1 = self.values["agent_0"], self.values["agent_1"]
        return sum(n * max(a, b) for n, a, b in zip(self.pool, v0, v1))

    def split_efficiency(self, agent: str, keeps: tuple[int, ...]) -> float:
        """The efficiency of the split in which ``agent`` keeps ``keeps`` (the rest: other)."""
        mine, theirs = self.values[agent], self.values[self.other(agent)]
        total = sum(k * a + (n - k) * b for n, k, a, b in zip(self.pool, keeps, mine, theirs))
        return total / self.best_total()

    def best_split(self, agent: str) -> tuple[int, ...]:
        """What ``agent`` keeps in a best split: each type it values more (ties: agent_0)."""
        mine, theirs = self.values[agent], self.values[self.other(agent)]
        first = agent == self.possible_agents[0]
        return tuple(
            n if (a > b or (a == b and first)) else 0 for n, a, b in zip(self.pool, mine, theirs)
        )

    # -- the game ----------------------------------------------------------------------------
    def actor(self) -> str:
        """``agent_0`` at even steps, ``agent_1`` at odd ones."""
        return self.possible_agents[self.cycles % 2]

    def _play(self, agent: str, line: str) -> Play:
        kind, counts, error = parse_action(line, self.items)
        if kind == "invalid":
            return Play(valid=False, reason=error)
        if kind == "accept":
            if self.proposal is None or self.proposal[0] == agent:
                return Play(valid=False, reason="there is no proposal of the other agent to accept")
            proposer, keeps = self.proposal
            rest = tuple(n - k for n, k in zip(self.pool, keeps))
            self.deal = {proposer: keeps, agent: rest}
            self.efficiency = self.split_efficiency(proposer, keeps)
            return Play(valid=True, done=True, reward=self.efficiency,
                        info={"efficiency": self.efficiency})  # fmt: skip
        assert counts is not None
        over = [f"{c} {i}" for c, n, i in zip(counts, self.pool, self.items) if c > n]
        if over:
            return Play(valid=False, reason=f"the pool has fewer items than {', '.join(over)}")
        self.proposal = (agent, counts)
        return Play(valid=True)

    def success(self) -> bool:
        """Whether a deal at least ``success_threshold`` efficient was made."""
        return self.deal is not None and self.efficiency >= self.success_threshold - 1e-9

    # -- views -------------------------------------------------------------------------------
    def _listing(self, counts: tuple[int, ...]) -> str:
        return ", ".join(f"{c} {item}" for c, item in zip(counts, self.items))

    def _move_text(self, agent: str, line: str) -> str:
        kind, counts, _ = parse_action(line, self.items)
        if kind == "propose" and counts is not None:
            return f"{agent}: propose({', '.join(f'{i}={c}' for i, c in zip(self.items, counts))})"
        return f"{agent}: {'accept' if kind == 'accept' else '(invalid) ' + line[:60]!s}"

    def observe(self, agent: str) -> str:
        """``agent``'s view: pool, its own values, the moves, the proposal, the grammar."""
        values = ", ".join(f"{item}={v}" for item, v in zip(self.items, self.values[agent]))
        example = ", ".join(f"{item}={n // 2}" for item, n in zip(self.items, self.pool))
        lines = [
            f"You are {agent} in a negotiation with {self.other(agent)} over a pool of items.",
            f"Pool: {self._listing(self.pool)}.",
            f"Your values per item: {values} (the other agent's values are private).",
            "The team is paid the deal's efficiency: give each item to whoever values it more.",
            f"Step {min(self.cycles + 1, self.max_cycles)} of {self.max_cycles}; "
            "agent_0 acts at odd steps, agent_1 at even ones.",
        ]
        lines += ["Moves so far:"] + [f"  {self._move_text(a, m)}" for a, m in self.history[-12:]]
        if self.proposal is None:
            lines.append("Standing proposal: none.")
        else:
            proposer, keeps = self.proposal
            rest = tuple(n - k for n, k in zip(self.pool, keeps))
            yours, theirs = (keeps, rest) if proposer == agent else (rest, keeps)
            lines.append(
                f"Standing proposal by {proposer}: you get {self._listing(yours)}; "
                f"{self.other(agent)} gets {self._listing(theirs)}."
            )
        if self.deal is not None:
            lines.append(f"Deal made, efficiency {self.efficiency:.2f}.")
        lines.append(f"Write one line: propose({example}) with the counts you keep, or accept.")
        lines.append(self._turn_line(agent))
        return "\n".join(lines)

    def state(self) -> str:
        """The whole game as text: pool, both agents' values, proposal, deal."""
        phase = "over" if not self.agents and self.cycles else self.actor()
        values = " | ".join(f"{a} values {self.values.get(a)}" for a in self.possible_agents)
        return (
            f"negotiation | turn: {phase} | step {self.cycles}/{self.max_cycles}\n"
            f"pool {self.pool} {self.items}\n{values}\n"
            f"proposal: {self.proposal}\ndeal: {self.deal}"
        )

    # -- potential and oracle ----------------------------------------------------------------
    def progress(self, agent: str | None = None) -> float:
        """Φ in [0, 0.5]: half the efficiency of the standing proposal (0 without one).

        The same for the team and each agent (one shared goal).

        Example:
            >>> env = NegotiationEnv()
            >>> _ = env.reset(seed=0)
            >>> env.progress()
            0.0
            >>> _ = env.step(env.oracle_step())
            >>> env.progress(), env.progress("agent_1")
            (0.5, 0.5)
        """
        if self.proposal is None:
            return 0.0
        return 0.5 * self.split_efficiency(*self.proposal)

    def oracle_action(self) -> str:
        """The oracle (who knows both agents' values) accepts a best proposal, else makes one."""
        agent = self.actor()
        if self.proposal is not None and self.proposal[0] != agent:
            if self.split_efficiency(*self.proposal) >= 1.0 - 1e-9:
                return "accept"
        keeps = self.best_split(agent)
        return f"propose({', '.join(f'{i}={c}' for i, c in zip(self.items, keeps))})"

    def _candidates(self) -> list[str]:
        """``accept`` if a proposal stands, the oracle's line, then splits (first 256)."""
        agent = self.actor()
        lines = ["accept"] if self.proposal is not None and self.proposal[0] != agent else []
        lines.append(self.oracle_action())
        splits = itertools.islice(itertools.product(*(range(n + 1) for n in self.pool)), 256)
        lines += [
            f"propose({', '.join(f'{i}={c}' for i, c in zip(self.items, keeps))})"
            for keeps in splits
        ]
        return lines

    def oracle_remaining(self) -> int | None:
        """1 when a best proposal of the other agent stands, else 2 (``None``: no time)."""
        agent = self.actor()
        standing = self.proposal is not None and self.proposal[0] != agent
        need = 1 if standing and self.split_efficiency(*self.proposal) >= 1.0 - 1e-9 else 2
        return need if self.cycles + need <= self.max_cycles else None
