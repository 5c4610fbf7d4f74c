"""A referential game in text: a speaker describes a target, a listener picks it out.

The objects are attribute tuples (size, colour, shape, pattern) drawn from the seed. The
scripted oracle team communicates through the text only — the speaker names a smallest
set of the target's attributes that no distractor shares (:func:`oracle_message`), the
listener keeps the candidates that agree with every attribute named
(:func:`oracle_answer`) — and wins on every seed (tested on 200+ seeds).
"""

from __future__ import annotations

import itertools
import re
from typing import Any, ClassVar

import numpy as np

from densegym.envs.multiagent.textgame import Play, TurnTextGame

__all__ = ["ATTRIBUTES", "ReferentialEnv", "oracle_answer", "oracle_message"]

#: Attribute kinds and their values, in the order a game adds them (``n_attributes``).
#: Every value is one word and no value belongs to two kinds.
ATTRIBUTES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("colour", ("red", "green", "blue", "yellow", "purple", "orange")),
    ("shape", ("circle", "square", "triangle", "star", "heart", "diamond")),
    ("size", ("small", "medium", "large")),
    ("pattern", ("plain", "striped", "dotted", "checked")),
)
#: The order attributes are written in: "small red striped circle".
_DISPLAY = ("size", "colour", "pattern", "shape")
_KIND_OF = {value: kind for kind, values in ATTRIBUTES for value in values}
_WORD_RE = re.compile(r"[a-z]+")
_NUMBER_RE = re.compile(r"\d+")
_CANDIDATE_RE = re.compile(r"^\s*(\d+)\.\s+(.+?)\s*$")

Obj = tuple[int, ...]


def _words(text: str) -> list[str]:
    return _WORD_RE.findall(text.lower())


def _attributes(text: str) -> dict[str, str]:
    """The attribute values a description names, by kind (unknown words are skipped)."""
    return {_KIND_OF[w]: w for w in _words(text) if w in _KIND_OF}


def _named(message: str) -> dict[str, set[str]]:
    """Every value a message names, by kind."""
    named: dict[str, set[str]] = {}
    for word in _words(message):
        if word in _KIND_OF:
            named.setdefault(_KIND_OF[word], set()).add(word)
    return named


def _agrees(description: dict[str, str], named: dict[str, set[str]]) -> bool:
    return all(description.get(kind) in values for kind, values in named.items())


def _line_after(text: str, label: str) -> str | None:
    for line in text.splitlines():
        if line.startswith(label):
            return line[len(label) :].strip()
    return None


def oracle_message(speaker_view: str) -> str:
    r"""The oracle speaker's message, read off the speaker's view only.

    It names a smallest set of the target's attributes that no other object shown
    shares (all of them when the view shows no other objects), in display order.

    Example:
        >>> view = "Target: small red circle\nOther objects: large red circle; small blue star"
        >>> oracle_message(view)
        'small red'
    """
    target = _attributes(_line_after(speaker_view, "Target:") or "")
    others_line = _line_after(speaker_view, "Other objects:")
    others = [_attributes(part) for part in (others_line or "").split(";") if part.strip()]
    kinds = [kind for kind, _ in ATTRIBUTES if kind in target]
    chosen: tuple[str, ...] = tuple(kinds)
    if others_line is not None:
        for size in range(1, len(kinds) + 1):
            found = next(
                (
                    subset
                    for subset in itertools.combinations(kinds, size)
                    if not any(all(o.get(k) == target[k] for k in subset) for o in others)
                ),
                None,
            )
            if found is not None:
                chosen = found
                break
    return " ".join(target[kind] for kind in _DISPLAY if kind in chosen)


def oracle_answer(listener_view: str) -> str:
    r"""The oracle listener's answer, read off the listener's view only.

    It keeps the candidates that agree with every attribute the message names and
    answers the first one's number (the only one, after an oracle message).

    Example:
        >>> view = ('Candidates:\n1. large red circle\n2. small red circle\n'
        ...         'Message from the speaker: "small red"')
        >>> oracle_answer(view)
        '2'
    """
    candidates = []
    for line in listener_view.splitlines():
        match = _CANDIDATE_RE.match(line)
        if match:
            candidates.append((match.group(1), _attributes(match.group(2))))
    named = _named(_line_after(listener_view, "Message from the speaker:") or "")
    for number, description in candidates:
        if _agrees(description, named):
            return number
    return candidates[0][0] if candidates else "1"


class ReferentialEnv(TurnTextGame):
    """A speaker describes the target object; the listener picks it among distractors.

    ## Description
    Each reset draws a target and ``n_distractors`` other objects (all distinct), each a
    tuple of ``n_attributes`` attribute values (colour, shape, size, pattern, in that
    order of inclusion). ``near_distractors`` of the distractors differ from the target
    in exactly one attribute (the hard cases); the rest are drawn uniformly. The
    candidates are shown to the listener shuffled and numbered. Step 1: the speaker, who
    sees the target (and the distractors unless ``speaker_sees_distractors=False``),
    writes a free-text message (cut to ``max_message`` characters, flagged
    ``message_truncated``). Then the listener, who sees the numbered candidates and the
    message, answers with a candidate's number (``"2"``, ``"Answer: 2"``) or its name
    (``"small red circle"``).

    ## Observation Space
    Per agent, text (:class:`~densegym.spaces.PermissiveText`): its role, what it sees,
    whose turn it is, and the outcome once the game is over. ``state()`` is the whole
    game as text (target number included).

    ## Action Space
    One line of text per agent (:class:`~densegym.spaces.PermissiveText`, 200
    characters); only the actor's line is read. A listener line that names no
    candidate (no number in range, no single candidate's full name, or two names) is
    flagged (``infos["listener"]["invalid_action"]``, ``invalid_reason``), counted,
    and the listener answers again at the next step.

    ## Rewards
    Team reward: both agents get 1.0 when the listener picks the target, 0.0 otherwise
    (``infos[agent]["reward_terms"] == {"extrinsic": reward}``).

    ## Termination
    Both agents terminate on the listener's first readable answer; both are truncated
    after ``max_cycles`` steps (one speaker step and ``max_cycles - 1`` answer tries).
    ``infos[agent]["is_success"]`` is whether the listener picked the target.

    ## Registered Configurations
    ``densegym/MA-Referential-v0`` (3 attributes, 3 distractors of which 1 differs in one
    attribute, 4 steps).

    Example:
        >>> env = ReferentialEnv(n_distractors=2, near_distractors=1)
        >>> obs, infos = env.reset(seed=0)
        >>> env.agents, infos["speaker"]["acting"]
        (['speaker', 'listener'], True)
        >>> print(obs["speaker"].splitlines()[1])
        Target: medium orange star
        >>> obs, rewards, *_ = env.step({"speaker": "orange", "listener": ""})
        >>> obs, rewards, terminations, _, infos = env.step(env.oracle_step())
        >>> rewards["listener"], infos["speaker"]["is_success"], env.agents
        (1.0, True, [])
    """

    metadata: ClassVar[dict[str, Any]] = {**TurnTextGame.metadata, "name": "referential_v0"}
    roles: ClassVar[tuple[str, ...]] = ("speaker", "listener")
    max_observation: ClassVar[int] = 4096

    def __init__(
        self,
        n_distractors: int = 3,
        n_attributes: int = 3,
        near_distractors: int = 1,
        speaker_sees_distractors: bool = True,
        max_message: int = 60,
        max_cycles: int = 4,
        render_mode: str | None = None,
    ):
        if not 2 <= int(n_attributes) <= len(ATTRIBUTES):
            raise ValueError(f"n_attributes must be in [2, {len(ATTRIBUTES)}], got {n_attributes}")
        self.kinds = ATTRIBUTES[: int(n_attributes)]
        sizes = [len(values) for _, values in self.kinds]
        most = int(np.prod(sizes)) - 1
        if not 1 <= int(n_distractors) <= min(most, 20):
            raise ValueError(f"n_distractors must be in [1, {min(most, 20)}], got {n_distractors}")
        most_near = min(sum(n - 1 for n in sizes), int(n_distractors))
        if not 0 <= int(near_distractors) <= most_near:
            raise ValueError(
                f"near_distractors must be in [0, {most_near}], got {near_distractors}"
            )
        if not 1 <= int(max_message) <= 200:
            raise ValueError(f"max_message must be in [1, 200], got {max_message}")
        if int(max_cycles) < 2:
            raise ValueError(f"max_cycles must be at least 2 (speak, answer), got {max_cycles}")
        self.n_distractors = int(n_distractors)
        self.near_distractors = int(near_distractors)
        self.speaker_sees_distractors = bool(speaker_sees_distractors)
        self.max_message = int(max_message)
        self.candidates: list[Obj] = []
        self.target_index = 0
        self.message: str | None = None
        self.answer: int | None = None
        self.task = {
            "id": "Referential",
            "goal": (
                "Cooperate: the speaker writes a short message describing the target object; "
                "the listener answers with the number of the candidate the message describes."
            ),
            "roles": {
                "speaker": "sees the target and the other objects; writes one message",
                "listener": "sees the numbered candidates and the message; answers a number",
            },
            "reward": "1 to both agents when the listener picks the target, 0 otherwise",
            "info": {"is_success": "bool, whether the listener picked the target"},
        }
        super().__init__(max_cycles=max_cycles, render_mode=render_mode)

    # -- the instance ------------------------------------------------------------------------
    def describe(self, obj: Obj) -> str:
        """An object's name: its values in display order, e.g. ``"small red circle"``.

        Example:
            >>> ReferentialEnv().describe((0, 0, 0))
            'small red circle'
        """
        values = {kind: values[i] for (kind, values), i in zip(self.kinds, obj)}
        return " ".join(values[kind] for kind in _DISPLAY if kind in values)

    def _generate(self, rng: np.random.Generator) -> None:
        sizes = [len(values) for _, values in self.kinds]
        target: Obj = tuple(int(rng.integers(n)) for n in sizes)
        near = [
            target[:k] + (v,) + target[k + 1 :]
            for k, n in enumerate(sizes)
            for v in range(n)
            if v != target[k]
        ]
        picks = rng.choice(len(near), size=self.near_distractors, replace=False)
        objects = [target, *(near[int(i)] for i in sorted(picks))]
        taken = set(objects)
        rest = [o for o in itertools.product(*(range(n) for n in sizes)) if o not in taken]
        more = rng.choice(len(rest), size=self.n_distractors - self.near_distractors, replace=False)
        objects += [tuple(int(v) for v in rest[int(i)]) for i in sorted(more)]
        order = rng.permutation(len(objects))
        self.candidates = [objects[int(i)] for i in order]
        self.target_index = int(np.flatnonzero(order == 0)[0])
        self.message = None
        self.answer = None

    @property
    def target(self) -> Obj:
        """The target object."""
        return self.candidates[self.target_index]

    # -- the game ----------------------------------------------------------------------------
    def actor(self) -> str:
        """The speaker until it has spoken, then the listener."""
        return "speaker" if self.message is None else "listener"

    def _play(self, agent: str, line: str) -> Play:
        if agent == "speaker":
            self.message = line[: self.max_message]
            return Play(valid=True, info={"message_truncated": len(line) > self.max_message})
        choice, reason = self.read_answer(line)
        if choice is None:
            return Play(valid=False, reason=reason)
        self.answer = choice
        return Play(valid=True, done=True, reward=float(choice == self.target_index))

    def read_answer(self, line: str) -> tuple[int | None, str]:
        """The candidate (0-based) a listener line picks, or ``None`` and why not.

        A number picks by number (the first number in the line); otherwise the line
        must contain exactly one candidate's full name.

        Example:
            >>> env = ReferentialEnv()
            >>> _ = env.reset(seed=0)
            >>> env.read_answer("Answer: 2")[0], env.read_answer("7")
            (1, (None, 'no candidate is numbered 7'))
            >>> env.read_answer(env.describe(env.candidates[3]))[0]
            3
        """
        number = _NUMBER_RE.search(line)
        if number is not None:
            index = int(number.group()[:6]) - 1
            if 0 <= index < len(self.candidates):
                return index, ""
            return None, f"no candidate is numbered {number.group()[:6]}"
        words = set(_words(line))
        hits = [
            i for i, obj in enumerate(self.candidates) if set(self.describe(obj).split()) <= words
        ]
        if len(hits) == 1:
            return hits[0], ""
        if hits:
            return None, "the answer names more than one candidate"
        return None, "the answer names no candidate (give its number)"

    def success(self) -> bool:
        """Whether the listener picked the target."""
        return self.answer == self.target_index

    # -- views -------------------------------------------------------------------------------
    def observe(self, agent: str) -> str:
        """The speaker's or the listener's view (see the class docstring)."""
        if agent == "speaker":
            lines = [
                "You are the speaker in a referential game.",
                f"Target: {self.describe(self.target)}",
            ]
            if self.speaker_sees_distractors:
                others = [self.describe(o) for o in self.candidates if o != self.target]
                lines.append(f"Other objects: {'; '.join(others)}")
            lines.append(
                f"Write a short message (at most {self.max_message} characters) that lets the "
                "listener pick the target out of all these objects."
            )
            if self.message is not None:
                lines.append(f'Your message: "{self.message}"')
        else:
            lines = ["You are the listener in a referential game.", "Candidates:"]
            lines += [f"{i + 1}. {self.describe(o)}" for i, o in enumerate(self.candidates)]
            if self.message is None:
                lines.append("Message from the speaker: (not yet sent)")
            else:
                lines.append(f'Message from the speaker: "{self.message}"')
            lines.append("Answer with the number of the candidate the message describes.")
            if self.history and self.history[-1][0] == "listener" and self.answer is None:
                lines.append(f'Your last answer "{self.history[-1][1][:60]}" was not readable.')
        if self.answer is not None:
            verdict = "correct" if self.success() else "wrong"
            picked = self.describe(self.candidates[self.answer])
            lines.append(f"Outcome: the listener picked {self.answer + 1} ({picked}): {verdict}.")
        lines.append(self._turn_line(agent))
        return "\n".join(lines)

    def state(self) -> str:
        """The whole game as text: target, candidates, message, answer."""
        if not self.candidates:
            return "referential | not reset yet"
        phase = "over" if not self.agents and self.cycles else self.actor()
        listing = "; ".join(f"{i + 1}. {self.describe(o)}" for i, o in enumerate(self.candidates))
        answer = "none" if self.answer is None else str(self.answer + 1)
        return (
            f"referential | turn: {phase} | step {self.cycles}/{self.max_cycles}\n"
            f"target: {self.target_index + 1}\ncandidates: {listing}\n"
            f"message: {self.message!r}\nanswer: {answer}"
        )

    # -- potential and oracle ----------------------------------------------------------------
    def consistent(self) -> list[int]:
        """The candidates (0-based) that agree with every attribute the message names."""
        named = _named(self.message or "")
        return [
            i
            for i, obj in enumerate(self.candidates)
            if _agrees(_attributes(self.describe(obj)), named)
        ]

    def progress(self, agent: str | None = None) -> float:
        """Φ in [0, 1]: the share of distractors the message rules out (0 before it).

        0 as well when the message rules out the target. The same for the team and
        each agent (one shared goal).

        Example:
            >>> env = ReferentialEnv()
            >>> _ = env.reset(seed=0)
            >>> env.progress()
            0.0
            >>> _ = env.step(env.oracle_step())
            >>> env.progress(), env.progress("listener")
            (1.0, 1.0)
        """
        if self.message is None:
            return 0.0
        kept = self.consistent()
        if self.target_index not in kept:
            return 0.0
        return (len(self.candidates) - len(kept)) / self.n_distractors

    def oracle_action(self) -> str:
        """The oracle's line for the actor, from the actor's view only."""
        view = self.observe(self.actor())
        return oracle_message(view) if self.actor() == "speaker" else oracle_answer(view)

    def _candidates(self) -> list[str]:
        """Speaker: each message naming some of the target's words; listener: each number."""
        if self.actor() == "listener":
            return [str(i + 1) for i in range(len(self.candidates))]
        words = self.describe(self.target).split()
        return [
            " ".join(subset)
            for size in range(1, len(words) + 1)
            for subset in itertools.combinations(words, size)
        ]

    def oracle_remaining(self) -> int | None:
        """2 before the message; 1 after it if the oracle listener then picks the target."""
        if self.message is None:
            return 2
        picked = int(oracle_answer(self.observe("listener"))) - 1
        return 1 if picked == self.target_index else None
