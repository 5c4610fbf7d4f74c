"""Procedurally generated grade-school word problems with exact integer answers.

Example:
    >>> import random
    >>> task = generate_word_problem(random.Random(0), 1, n_steps=2, templates=("shopping",))
    >>> len(task.plan), task.answer.denominator
    (2, 1)
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from densegym.envs.reasoning.base import ReasoningEnv
from densegym.envs.reasoning.chain import ChainTask
from densegym.envs.reasoning.word_templates import TEMPLATES

#: Solution length (inclusive range of steps) drawn at each difficulty level.
STEP_RANGES: dict[int, tuple[int, int]] = {1: (2, 3), 2: (3, 4), 3: (4, 5), 4: (5, 6), 5: (7, 8)}
MIN_STEPS, MAX_STEPS = 2, 8


def _check_templates(templates: Sequence[str] | None) -> tuple[str, ...]:
    if templates is None:
        return tuple(TEMPLATES)
    if isinstance(templates, str):
        templates = (templates,)
    unknown = [t for t in templates if t not in TEMPLATES]
    if unknown or not templates:
        raise ValueError(
            f"unknown word-problem templates {unknown}; choose from {sorted(TEMPLATES)}"
        )
    return tuple(templates)


def generate_word_problem(
    rng: random.Random,
    difficulty: int = 2,
    n_steps: int | None = None,
    templates: Sequence[str] | None = None,
) -> ChainTask:
    """Draw a word problem.

    Args:
        rng: the generator's random source.
        difficulty: level 1–5: the solution length range (:data:`STEP_RANGES`) and the
            size of the numbers.
        n_steps: exact number of solution steps (2–8), overriding the level's range.
        templates: restrict to these template names (default: all of
            :data:`~densegym.envs.reasoning.word_templates.TEMPLATES`).
    """
    names = _check_templates(templates)
    if n_steps is None:
        n_steps = rng.randint(*STEP_RANGES[difficulty])
    elif not MIN_STEPS <= int(n_steps) <= MAX_STEPS:
        raise ValueError(f"n_steps must be between {MIN_STEPS} and {MAX_STEPS}, got {n_steps!r}")
    name = rng.choice(names)
    question, plan, answer = TEMPLATES[name](rng, int(n_steps), difficulty)
    return ChainTask(
        family="word_problems",
        question=question,
        answer=plan.value(answer),
        plan=plan.steps(),
        meta={"difficulty": difficulty, "n_steps": int(n_steps), "template": name},
    )


class WordProblemsEnv(ReasoningEnv):
    """Solve a generated grade-school word problem step by step.

    ## Description
    Problems come from six templates — ``shopping`` (items, coupons, change),
    ``travel`` (distance at speeds), ``work`` (wages, spending, saving a fraction),
    ``ages`` (chains of age relations), ``sharing`` (equal shares) and ``units``
    (mixed-unit conversion, then cutting and selling) — with 2–8 solution steps and an
    exact integer answer; every intermediate value is a positive integer. The oracle
    writes labelled steps such as ``Cost of the pens: 3 * 4 = 12`` and then
    ``Answer: 17``; any phrasing that states the computations works.

    ## Observation Space
    ``PermissiveText``: the question, a format hint and the numbered steps so far.

    ## Action Space
    ``PermissiveText``: one step (first non-empty line, at most ``max_step_chars``).

    ## Rewards
    1.0 for a correct final answer, else 0.0.

    ## Termination
    Terminates on the first step stating a final answer. The registered spec
    truncates after 16 steps. ``info["is_success"]`` is reported at every step.

    ## Registered Configurations
    ``densegym/WordProblems-v0`` with kwargs ``difficulty`` (1–5, default 2; steps
    2–3, 3–4, 4–5, 5–6 and 7–8, with growing numbers), ``n_steps`` (2–8, exact),
    ``templates`` (a list of template names), ``curriculum`` (``True`` or a dict of
    :class:`~densegym.envs.reasoning.curriculum.Curriculum` settings: start at level 1
    and move up after 80 % success over 20 episodes), ``max_step_chars`` and
    ``render_mode``.

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/WordProblems-v0", n_steps=3)
        >>> obs, info = env.reset(seed=1)
        >>> obs.startswith("Question: "), len(env.unwrapped.task["plan"])
        (True, 3)
        >>> _, _, terminated, _, info = env.step("Answer: I am not sure")
        >>> terminated, info["invalid_step"], info["n_invalid_steps"]
        (False, True, 1)
    """

    family_id = "WordProblems"
    levels = tuple(STEP_RANGES)

    def __init__(
        self,
        difficulty: int = 2,
        n_steps: int | None = None,
        templates: Sequence[str] | None = None,
        curriculum: bool | dict[str, Any] | None = None,
        render_mode: str | None = None,
        max_step_chars: int = 400,
    ):
        super().__init__(
            difficulty=difficulty,
            curriculum=curriculum,
            render_mode=render_mode,
            max_step_chars=max_step_chars,
        )
        if n_steps is not None and not MIN_STEPS <= int(n_steps) <= MAX_STEPS:
            raise ValueError(
                f"n_steps must be between {MIN_STEPS} and {MAX_STEPS}, got {n_steps!r}"
            )
        self.n_steps = n_steps
        self.templates = _check_templates(templates)

    def _generate(self, rng: random.Random, options: dict[str, Any]) -> ChainTask:
        return generate_word_problem(rng, self.difficulty, self.n_steps, self.templates)
