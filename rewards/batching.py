"""Where each shaper of a spec runs: per sub-env, or batched over a whole VecEnv.

A spec entry may say ``"batched": true``; it is data like the rest of the spec, so it
round-trips through ``env.spec`` JSON and a run's ``config.json``::

    [{"id": "potential"}, {"id": "e3b", "coef": 0.1, "batched": true}]

A vectorised trainer splits the spec with :func:`split_batched`: the per-env entries
go to ``gym.make`` for every sub-env, each batched entry becomes a
:class:`~densegym.rewards.intrinsic.vec.VecIntrinsicBonus` around the VecEnv (one
module and one forward pass for all sub-envs; learned intrinsic shapers only). On a
single env (``gym.make(id, shaping=...)``) a batched entry is applied in its per-env
form, which computes the same bonus with the same rules, so a run's shaping also
builds its evaluation env.
"""

from __future__ import annotations

from typing import Any

from densegym.rewards.registry import normalize_spec, shaping_label

#: The spec key that asks for the batched (VecEnv) form.
BATCHED_KEY = "batched"


def is_batched(spec: dict[str, Any]) -> bool:
    """Whether one normalised spec entry asks for the batched form.

    Raises:
        TypeError: ``"batched"`` is not a bool.

    Example:
        >>> is_batched({"id": "e3b", "batched": True}), is_batched({"id": "count"})
        (True, False)
    """
    value = spec.get(BATCHED_KEY, False)
    if not isinstance(value, bool):
        raise TypeError(
            f"shaper {spec.get('id')!r}: 'batched' must be true or false, got {value!r}"
        )
    return value


def strip_batched(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of one spec entry without its ``"batched"`` key (checked to be a bool).

    Example:
        >>> strip_batched({"id": "e3b", "coef": 0.1, "batched": True})
        {'id': 'e3b', 'coef': 0.1}
    """
    is_batched(spec)
    return {key: value for key, value in spec.items() if key != BATCHED_KEY}


def split_batched(shaping: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split a shaping spec into its per-env entries and its batched entries.

    Both lists hold normalised entries (``{"id": name, **kwargs}``) without the
    ``"batched"`` key, in spec order, ready for ``gym.make(..., shaping=per_env)`` and
    ``VecIntrinsicBonus(venv, entry)``.

    Args:
        shaping: any shaping spec (``None``, a name, a dict, a list of those, JSON text).

    Returns:
        ``(per_env_specs, batched_specs)``.

    Raises:
        ValueError: two entries would write the same term name.
        TypeError: a ``"batched"`` value that is not a bool.

    Example:
        >>> split_batched(["potential", {"id": "e3b", "coef": 0.1, "batched": True}])
        ([{'id': 'potential'}], [{'id': 'e3b', 'coef': 0.1}])
        >>> split_batched('{"id": "count", "batched": true}')
        ([], [{'id': 'count'}])
    """
    per_env: list[dict[str, Any]] = []
    batched: list[dict[str, Any]] = []
    names: set[str] = set()
    for spec in normalize_spec(shaping):
        term = spec.get("name") or spec["id"]
        if term in names:
            raise ValueError(
                f"two shaping terms are named {term!r}; give one a distinct 'name' in its spec"
            )
        names.add(term)
        (batched if is_batched(spec) else per_env).append(strip_batched(spec))
    return per_env, batched


def fold_batched(shaping: Any, batched_shaping: Any) -> Any:
    """One spec from a per-env spec and a separate batched one (the old two-field form).

    Returns ``shaping`` unchanged when ``batched_shaping`` is empty, so configs without
    the old field keep their exact form; else a list: the per-env entries, then each
    batched entry marked ``"batched": True``.

    Example:
        >>> fold_batched("count", "e3b")
        [{'id': 'count'}, {'id': 'e3b', 'batched': True}]
        >>> fold_batched("potential", None)
        'potential'
    """
    extra = normalize_spec(batched_shaping)
    if not extra:
        return shaping
    return [*normalize_spec(shaping), *({**spec, BATCHED_KEY: True} for spec in extra)]


def run_shaping_label(shaping: Any) -> str:
    """The label of a run's shaping: the per-env part, then ``batched-<label>`` per batched entry.

    It equals :func:`~densegym.rewards.registry.shaping_label` for specs without
    batched entries, and the label runs had when the batched spec was a separate
    field, so run directories keep their names.

    Example:
        >>> run_shaping_label({"id": "e3b", "batched": True})
        'batched-e3b'
        >>> run_shaping_label(["count", {"id": "rnd", "coef": 0.1, "batched": True}])
        'count+batched-rnd(coef=0.1)'
        >>> run_shaping_label("count+potential"), run_shaping_label(None)
        ('count+potential', 'none')
    """
    per_env, batched = split_batched(shaping)
    parts = [shaping_label(per_env)] if per_env else []
    parts += [f"batched-{shaping_label(spec)}" for spec in batched]
    return "+".join(parts) if parts else "none"
