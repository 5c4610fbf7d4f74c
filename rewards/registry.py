"""The shaper registry and the data spec that selects shapers.

A shaping spec is data, never a callable::

    None | "name" | {"id": "name", "coef": 0.1, ...} | [spec, spec, ...]
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
from collections.abc import Callable
from typing import Any

import gymnasium as gym

from densegym.rewards.core import ShapedReward

_REGISTRY: dict[str, type[ShapedReward] | str] = {}

#: Names that mean "no shaping" (useful on the command line).
NO_SHAPING = frozenset({"", "none", "sparse"})


def register(
    name: str, entry_point: type[ShapedReward] | str | None = None
) -> Callable[[type[ShapedReward]], type[ShapedReward]] | type[ShapedReward]:
    """Register a shaper class under ``name`` (directly or as a decorator).

    ``entry_point`` may be the class or a lazy ``"module:Class"`` string, so shapers
    with heavy dependencies cost nothing until used.

    Example:
        >>> from densegym.rewards import ShapedReward, register
        >>> @register("unit_bonus")
        ... class UnitBonus(ShapedReward):
        ...     def reward_term(self, transition):
        ...         return 1.0
        >>> "unit_bonus" in available()
        True
    """
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"shaper names are lower_snake_case identifiers, got {name!r}")

    def _add(cls: type[ShapedReward]) -> type[ShapedReward]:
        if not isinstance(cls, str):
            cls.registry_name = name
        _REGISTRY[name] = cls
        return cls

    if entry_point is None:
        return _add
    return _add(entry_point)  # type: ignore[arg-type]


def available() -> list[str]:
    """Return the registered shaper names, sorted."""
    return sorted(_REGISTRY)


def shaper_class(name: str) -> type[ShapedReward]:
    """Resolve a registered name to its class, importing it if it was registered lazily."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown shaper {name!r}; registered shapers: {', '.join(available())}")
    entry = _REGISTRY[name]
    if isinstance(entry, str):
        module_name, _, attr = entry.partition(":")
        entry = getattr(importlib.import_module(module_name), attr)
        entry.registry_name = name
        _REGISTRY[name] = entry
    return entry


def normalize_spec(shaping: Any) -> list[dict[str, Any]]:
    """Turn any accepted shaping spec into a list of ``{"id": name, **kwargs}`` dicts.

    Strings may also be JSON or ``"a+b"`` stacks, which is what the CLI passes.

    Example:
        >>> normalize_spec("count+potential")
        [{'id': 'count'}, {'id': 'potential'}]
        >>> normalize_spec({"id": "potential", "gamma": 0.9})
        [{'id': 'potential', 'gamma': 0.9}]
        >>> normalize_spec(None)
        []
    """
    if shaping is None:
        return []
    if isinstance(shaping, str):
        text = shaping.strip()
        if text.startswith(("{", "[")):
            try:
                return normalize_spec(json.loads(text))
            except json.JSONDecodeError as error:
                raise ValueError(f"shaping spec is not valid JSON: {text!r} ({error})") from None
        if text.lower() in NO_SHAPING:
            return []
        return [{"id": part.strip()} for part in text.split("+") if part.strip()]
    if isinstance(shaping, dict):
        if "id" not in shaping:
            raise ValueError(f"a shaping dict needs a string 'id' key, got {shaping!r}")
        if not isinstance(shaping["id"], str):
            raise TypeError(
                "a shaping dict's 'id' must be a registered shaper name (data, not a "
                f"callable); got {type(shaping['id']).__name__}"
            )
        if shaping["id"].lower() in NO_SHAPING:
            return []
        return [dict(shaping)]
    if isinstance(shaping, (list, tuple)):
        return [item for part in shaping for item in normalize_spec(part)]
    raise TypeError(
        "shaping must be None, a name, a dict with an 'id' or a list of those "
        f"(data, not callables); got {type(shaping).__name__}"
    )


def _check_kwargs(name: str, cls: type[ShapedReward], kwargs: dict[str, Any]) -> None:
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    accepted = [p for p in params if p not in ("self", "env")]
    for key in kwargs:
        if key not in accepted:
            raise TypeError(
                f"shaper {name!r} got an unexpected argument {key!r}; "
                f"it accepts: {', '.join(accepted)}"
            )


def make(env: gym.Env, spec: str | dict[str, Any]) -> ShapedReward:
    """Wrap ``env`` with the one shaper that ``spec`` names.

    Args:
        env: environment to wrap.
        spec: a registered name or ``{"id": name, **kwargs}``.

    Returns:
        The shaping wrapper.

    Raises:
        ValueError: unknown name (the message lists registered names) or a bad value.
        TypeError: an argument the shaper does not accept.
    """
    specs = normalize_spec(spec)
    if len(specs) != 1:
        raise ValueError(f"make() takes exactly one shaper spec, got {spec!r}")
    kwargs = dict(specs[0])
    name = kwargs.pop("id")
    cls = shaper_class(name)
    _check_kwargs(name, cls, kwargs)
    try:
        return cls(env, **kwargs)
    except (TypeError, ValueError) as error:
        message = str(error)
        if name not in message:
            message = f"shaper {name!r}: {message}"
        raise type(error)(message) from error


def apply_shaping(env: gym.Env, shaping: Any) -> gym.Env:
    """Stack the shapers of a spec onto ``env``, innermost first.

    Example:
        >>> import gymnasium as gym, densegym
        >>> base = gym.make("densegym/MountainCarSparse-v0")
        >>> shaped = apply_shaping(base, ["count", {"id": "step_penalty", "coef": 2.0}])
        >>> [s.term_name for s in find_shapers(shaped)]
        ['count', 'step_penalty']
    """
    seen: set[str] = {s.term_name for s in find_shapers(env)}
    for spec in normalize_spec(shaping):
        env = make(env, spec)
        if env.term_name in seen or env.term_name == "extrinsic":
            raise ValueError(
                f"two shaping terms are named {env.term_name!r}; give one a distinct "
                "'name' in its spec"
            )
        seen.add(env.term_name)
    return env


def find_shapers(env: gym.Env) -> list[ShapedReward]:
    """Return the shaping wrappers inside ``env``, innermost first."""
    found: list[ShapedReward] = []
    current: Any = env
    while current is not None:
        if isinstance(current, ShapedReward):
            found.append(current)
        current = getattr(current, "env", None)
    return found[::-1]


def shaping_label(shaping: Any) -> str:
    """A short filesystem-safe label for a spec, used in run directory names.

    Example:
        >>> shaping_label(None), shaping_label("count+potential")
        ('none', 'count+potential')
        >>> shaping_label({"id": "count", "mode": "episodic"})
        'count(mode=episodic)'
    """
    specs = normalize_spec(shaping)
    if not specs:
        return "none"
    parts = []
    for spec in specs:
        extras = {k: v for k, v in spec.items() if k != "id"}
        if extras:
            inner = ",".join(f"{k}={v}" for k, v in sorted(extras.items()))
            parts.append(f"{spec['id']}({inner})")
        else:
            parts.append(spec["id"])
    label = "+".join(parts)
    return re.sub(r"[^A-Za-z0-9_.,=+()\-]", "_", label)


register("potential", "densegym.rewards.potential:PotentialShaping")
register("step_penalty", "densegym.rewards.penalty:StepPenalty")
register("count", "densegym.rewards.intrinsic.counts:CountBonus")
register("rnd", "densegym.rewards.intrinsic.rnd:RNDBonus")
register("icm", "densegym.rewards.intrinsic.icm:ICMBonus")
register("e3b", "densegym.rewards.intrinsic.e3b:E3BBonus")
register("noveld", "densegym.rewards.intrinsic.noveld:NovelDBonus")
register("global_episodic", "densegym.rewards.intrinsic.global_episodic:GlobalEpisodicBonus")
register("outcome", "densegym.rewards.progress.outcome:OutcomeReward")
register("pav", "densegym.rewards.progress.pav:ProgressAdvantageReward")
register("prm", "densegym.rewards.progress.prm:ProcessRewardShaper")
register("implicit_prm", "densegym.rewards.progress.implicit:ImplicitPRMReward")
register("llm_code", "densegym.rewards.llm.code_shaper:LLMCodeReward")
register("llm_feedback", "densegym.rewards.llm.feedback:LLMFeedbackBonus")
register("llm_judge", "densegym.rewards.llm.judge:LLMJudgeBonus")
