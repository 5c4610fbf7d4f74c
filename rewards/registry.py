"""The shaper registry and the data spec that selects shapers.

A shaping spec is data, never a callable::

    None | "name" | {"id": "name", "coef": 0.1, ...} | [spec, spec, ...]

Each shaper class names the env capabilities it needs (``requires``, or
``requirements(kwargs)`` when they depend on the spec; see :mod:`densegym.protocols`);
:func:`make` refuses an env that lacks one before building the shaper.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable
from typing import Any

import gymnasium as gym

from densegym.protocols import describe_capabilities, missing_capabilities
from densegym.registry import Registry
from densegym.rewards.core import ShapedReward


def _stamp_name(name: str, cls: Any) -> None:
    cls.registry_name = name


#: Every shaper, by name (lazy ``"module:Class"`` entries are imported on first use).
SHAPERS: Registry[type[ShapedReward]] = Registry("shaper", on_load=_stamp_name)

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
    if entry_point is None:
        return SHAPERS.register(name)
    return SHAPERS.register(name, entry_point)


def available() -> list[str]:
    """Return the registered shaper names, sorted."""
    return SHAPERS.names()


def shaper_class(name: str) -> type[ShapedReward]:
    """Resolve a registered name to its class, importing it if it was registered lazily."""
    return SHAPERS.get(name)


def requirements(spec: str | dict[str, Any]) -> tuple[str, ...]:
    """The capabilities the one shaper that ``spec`` names needs from an env.

    Example:
        >>> requirements("pav"), requirements({"id": "pav", "prover": "llm:tiny-random"})
        (('Snapshotable', 'HasStepChain', 'HasOracle'), ('Snapshotable', 'HasStepChain'))
        >>> requirements("potential"), requirements({"id": "potential", "potential": "x"})
        (('HasPotential',), ())
    """
    kwargs = _one_spec(spec)
    return tuple(shaper_class(kwargs.pop("id")).requirements(kwargs))


def admits(env: gym.Env, spec: str | dict[str, Any]) -> bool:
    """Whether ``env`` offers every capability the shaper of ``spec`` needs.

    Example:
        >>> import gymnasium as gym, densegym
        >>> admits(gym.make("densegym/MountainCarSparse-v0"), "pav")
        False
    """
    return not missing_capabilities(env, requirements(spec))


def env_label(env: gym.Env) -> str:
    """The registered id of ``env`` when it can be told, else its base class's name.

    Inside ``gym.make`` the spec is not set yet, so the id is looked up among the
    densegym entries by base class (and, where several ids share one, by their kwargs).
    """
    spec = getattr(env, "spec", None)
    if spec is not None:
        return spec.id
    from densegym.registration import ENTRIES

    base = env.unwrapped
    path = f"{type(base).__module__}:{type(base).__qualname__}"
    candidates = [entry for entry in ENTRIES if entry.base == path]

    def same(entry: Any) -> bool:
        return all(
            getattr(base, key, None) == value or getattr(base, f"{key}_id", None) == value
            for key, value in entry.kwargs.items()
        )

    if len(candidates) > 1:
        candidates = [entry for entry in candidates if same(entry)]
    return candidates[0].id if len(candidates) == 1 else type(base).__name__


MAX_SHAPERS = 64
"""The most shapers one spec may stack (each is a wrapper layer; thousands hit the recursion
limit in gymnasium's attribute lookups)."""
MAX_SPEC_DEPTH = 16
"""The deepest nesting of lists (and JSON inside strings) a shaping spec may have."""


def normalize_spec(shaping: Any) -> list[dict[str, Any]]:
    """Turn any accepted shaping spec into a list of ``{"id": name, **kwargs}`` dicts.

    Strings may also be JSON or ``"a+b"`` stacks, which is what the CLI passes. A spec may
    stack at most :data:`MAX_SHAPERS` shapers and nest lists at most :data:`MAX_SPEC_DEPTH`
    deep; beyond either it is refused with a ``ValueError``, never a ``RecursionError``.

    Example:
        >>> normalize_spec("count+potential")
        [{'id': 'count'}, {'id': 'potential'}]
        >>> normalize_spec({"id": "potential", "gamma": 0.9})
        [{'id': 'potential', 'gamma': 0.9}]
        >>> normalize_spec(None)
        []
    """
    specs = _normalize(shaping, 0)
    if len(specs) > MAX_SHAPERS:
        raise ValueError(
            f"a shaping spec may stack at most {MAX_SHAPERS} shapers; this one has more"
        )
    return specs


def _normalize(shaping: Any, depth: int) -> list[dict[str, Any]]:
    if depth > MAX_SPEC_DEPTH:
        raise ValueError(f"a shaping spec may nest lists at most {MAX_SPEC_DEPTH} deep")
    if shaping is None:
        return []
    if isinstance(shaping, str):
        text = shaping.strip()
        if text.startswith(("{", "[")):
            try:
                loaded = json.loads(text)
            except json.JSONDecodeError as error:
                raise ValueError(f"shaping spec is not valid JSON: {text!r} ({error})") from None
            except RecursionError:
                raise ValueError(
                    f"a shaping spec may nest lists at most {MAX_SPEC_DEPTH} deep"
                ) from None
            return _normalize(loaded, depth + 1)
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
        specs = []
        for part in shaping:
            specs.extend(_normalize(part, depth + 1))
            if len(specs) > MAX_SHAPERS:  # stop early on a huge list
                break
        return specs
    raise TypeError(
        "shaping must be None, a name, a dict with an 'id' or a list of those "
        f"(data, not callables); got {type(shaping).__name__}"
    )


def _one_spec(spec: str | dict[str, Any]) -> dict[str, Any]:
    from densegym.rewards.batching import strip_batched  # it imports this module

    specs = normalize_spec(spec)
    if len(specs) != 1:
        raise ValueError(f"make() takes exactly one shaper spec, got {spec!r}")
    # "batched": true places a shaper in a vectorised trainer (see split_batched); on one
    # env it is applied in its per-env form, which computes the same term.
    return strip_batched(specs[0])


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

    A spec marked ``"batched": true`` (meant for a vectorised trainer, see
    :func:`~densegym.rewards.batching.split_batched`) gets its per-env form here, which
    computes the same term with the same rules.

    Args:
        env: environment to wrap.
        spec: a registered name or ``{"id": name, **kwargs}``.

    Returns:
        The shaping wrapper.

    Raises:
        ValueError: unknown name (the message lists registered names), an env that
            lacks a capability the shaper needs (checked before the shaper is built),
            or a bad value.
        TypeError: an argument the shaper does not accept.

    Example:
        >>> import gymnasium as gym, densegym
        >>> make(gym.make("densegym/MountainCarSparse-v0"), "pav")
        Traceback (most recent call last):
        ...
        ValueError: shaper 'pav' needs an env that is Snapshotable (get_state/set_state/clone) \
and HasStepChain (a chain of text steps a prover can continue: steps/wrong_step/committed) \
and HasOracle (oracle_step/oracle_remaining, a solution from any state); \
densegym/MountainCarSparse-v0 is not
    """
    kwargs = _one_spec(spec)
    name = kwargs.pop("id")
    cls = shaper_class(name)
    _check_kwargs(name, cls, kwargs)
    missing = missing_capabilities(env, cls.requirements(kwargs))
    if missing:
        raise ValueError(
            f"shaper {name!r} needs an env that is {describe_capabilities(missing)}; "
            f"{env_label(env)} is not"
        )
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
register("invalid_penalty", "densegym.rewards.invalid:InvalidActionPenalty")
register("call_cost", "densegym.rewards.tool_shapers:CallCost")
register("discovery", "densegym.rewards.tool_shapers:DiscoveryBonus")
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
