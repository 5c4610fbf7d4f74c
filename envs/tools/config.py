"""Config: setter chains over account settings (ToolChain*/ToolBench style).

Levels: 1 (the user id is given; one or two settings to set), 2 (the customer is
named by email, or by name and zip; find them, then set two settings), 3 (find them,
read their payment methods to set the default payment to one of a kind, read their
settings to resolve a conditional request, and set one more). Success: the changed
settings equal the criteria exactly (no other row changed), then ``answer(...)``; the
partial score is the criteria F1 between the settings changed and the settings asked
for. Infeasible tasks ask for a value a setting does not take, a setting that does not
exist, or a payment method the customer does not have; they are solved by
``report_infeasible`` with nothing written.

Settings can be set again, so a wrong value is not fatal: the oracle re-plans the
setter of a criterion whose value is wrong and restores a setting changed by mistake
to its initial value (only writes to other tables lose the task).

Example:
    >>> import random
    >>> from densegym.envs.tools.catalog import catalog_for_seed
    >>> task = generate_config(random.Random(0), catalog_for_seed(0), difficulty=3)
    >>> [step.name for step in task.plan][:3], len(task.criteria)
    (['find_user', 'get_user', 'get_settings'], 3)
"""

from __future__ import annotations

import random

from densegym.envs.tools.base import ToolEnv
from densegym.envs.tools.catalog import Catalog, User, catalog_for_seed
from densegym.envs.tools.lookup import _who
from densegym.envs.tools.tasks import Evaluation, PlanStep, Predicate, ToolTask, replan
from densegym.envs.tools.world import SETTING_VALUES, WorldDiff

__all__ = ["ConfigEnv", "criteria_f1", "generate_config"]

_FINISH = (
    " If any part cannot be done, change nothing and call report_infeasible(...); when "
    "everything is done, call answer(...) with a short summary."
)
#: Values no setting takes, and settings that do not exist (infeasible requests).
_BAD_VALUES: dict[str, tuple[str, ...]] = {
    "language": ("pt", "zh", "ru"),
    "currency": ("CHF", "CAD", "INR"),
    "newsletter": ("daily", "hourly"),
    "notifications": ("sms_only", "push_only"),
    "two_factor": ("sms", "auto"),
}
_UNKNOWN_KEYS: tuple[tuple[str, str], ...] = (
    ("dark_mode", "on"),
    ("timezone", "UTC"),
    ("font_size", "large"),
)
_KIND_WORDS = {"credit_card": "credit card", "paypal": "PayPal account", "gift_card": "gift card"}


def _predicate(user_id: str, key: str, value: str) -> Predicate:
    return Predicate(
        f"setting {key} of {user_id} is {value}",
        "SELECT value FROM settings WHERE user_id = ? AND key = ?",
        (user_id, key),
        value,
    )


def _phrase(key: str, value: str) -> str:
    return f'{key} to "{value}"'


def _draw_changes(
    rng: random.Random, user: User, n: int, exclude: tuple[str, ...] = ()
) -> list[tuple[str, str]]:
    """Draw ``n`` distinct settings with a value other than the current one."""
    keys = [k for k in SETTING_VALUES if k not in exclude]
    chosen = rng.sample(keys, n)
    return [
        (key, rng.choice([v for v in SETTING_VALUES[key] if v != user.settings[key]]))
        for key in chosen
    ]


def _infeasible_part(rng: random.Random, user: User, allow_payment: bool) -> tuple[str, str]:
    """Return ``(request text, kind)`` of a request the settings cannot fulfil."""
    kinds = {p[1] for p in user.payments}
    missing = [k for k in _KIND_WORDS if k not in kinds]
    draw = rng.randrange(3 if allow_payment and missing else 2)
    if draw == 0:
        key = rng.choice(list(_BAD_VALUES))
        return f"set {_phrase(key, rng.choice(_BAD_VALUES[key]))}", "bad-value"
    if draw == 1:
        key, value = rng.choice(_UNKNOWN_KEYS)
        return f"set {_phrase(key, value)}", "unknown-setting"
    kind = rng.choice(missing)
    return f"make their {_KIND_WORDS[kind]} the default payment method", "missing-payment"


def generate_config(
    rng: random.Random, catalog: Catalog, difficulty: int = 1, infeasible: bool = False
) -> ToolTask:
    """Draw a Config task over the world indexed by ``catalog``."""
    user = rng.choice(catalog.users)
    uid = user.user_id
    steps: list[PlanStep] = []
    if difficulty == 1:
        who = f"The user with id {uid}"
    else:
        who, find = _who(rng, user)
        steps.append(find)
    parts: list[str] = []
    changes: list[tuple[str, str]] = []
    if infeasible:
        good = _draw_changes(rng, user, 1)
        bad, template = _infeasible_part(rng, user, allow_payment=difficulty == 3)
        parts = [f"set {_phrase(*good[0])}", bad]
        rng.shuffle(parts)
        read = "get_user" if template == "missing-payment" else "get_settings"
        steps.append(PlanStep(read, {"user_id": uid}))
        plan = (*steps, PlanStep("report_infeasible", {"reason": "the setting cannot be made"}))
        request = f"{who} wants to " + " and to ".join(parts) + "." + _FINISH
        return ToolTask(
            "Config",
            request,
            catalog.seed,
            plan,
            kind="state",
            infeasible=True,
            difficulty=difficulty,
            meta={"template": template, "user_id": uid},
        )
    template = f"set-{difficulty}"
    if difficulty == 3:
        default = user.settings["default_payment"]
        options = [
            p
            for p in user.payments
            if p[0] != default and sum(q[1] == p[1] for q in user.payments) == 1
        ]
        if options:
            method = rng.choice(options)
            steps.append(PlanStep("get_user", {"user_id": uid}, reveals=(method[0],)))
            parts.append(f"make their {_KIND_WORDS[method[1]]} the default payment method")
            changes.append(("default_payment", method[0]))
        else:
            template = "set-3-no-payment"
        key = rng.choice(list(SETTING_VALUES))
        values = SETTING_VALUES[key]
        current = user.settings[key]
        probe = current if rng.random() < 0.5 else rng.choice([v for v in values if v != current])
        then = rng.choice([v for v in values if v != probe])
        otherwise = rng.choice([v for v in values if v != current])
        steps.append(PlanStep("get_settings", {"user_id": uid}))
        parts.append(
            f'set {key} to "{then}" if it is currently "{probe}", otherwise to "{otherwise}"'
        )
        changes.append((key, then if current == probe else otherwise))
        extra = _draw_changes(rng, user, 1, exclude=(key,))
    else:
        extra = _draw_changes(rng, user, rng.randint(1, 2) if difficulty == 1 else 2)
    parts += [f"set {_phrase(k, v)}" for k, v in extra]
    changes += extra
    predicates = tuple(_predicate(uid, k, v) for k, v in changes)
    # Setters come after every read: a chain that reads, then writes.
    steps += [
        PlanStep("update_setting", {"user_id": uid, "key": k, "value": v}, predicates=(i,))
        for i, (k, v) in enumerate(changes)
    ]
    request = f"{who} wants to " + ", and to ".join(parts) + "." + _FINISH
    return ToolTask(
        "Config",
        request,
        catalog.seed,
        (*steps, PlanStep("answer", {"answer": "done"})),
        kind="state",
        predicates=predicates,
        difficulty=difficulty,
        criteria=tuple((uid, k, v) for k, v in changes),
        meta={"template": template, "user_id": uid},
    )


def _changed_settings(diff: WorldDiff) -> set[tuple[str, str, str]]:
    return {tuple(row) for row in diff.added.get("settings", {})}


def criteria_f1(task: ToolTask, diff: WorldDiff) -> float:
    """F1 between the settings changed (``(user, key, value)``) and the task's criteria.

    Rows changed in other tables count as wrong changes (they lower precision).

    Example:
        >>> from collections import Counter
        >>> task = ToolTask("Config", "", 0, (), criteria=(("u", "language", "fr"),
        ...                                              ("u", "currency", "EUR")))
        >>> diff = WorldDiff(added={"settings": Counter([("u", "language", "fr"),
        ...                                              ("u", "newsletter", "off")])})
        >>> criteria_f1(task, diff)
        0.5
    """
    target = set(task.criteria)
    changed = _changed_settings(diff)
    other = sum(1 for table, _ in diff.keys() if table != "settings")
    denominator = len(target) + len(changed) + other
    return 2 * len(target & changed) / denominator if denominator else 0.0


class ConfigEnv(ToolEnv):
    """Change a customer's account settings as asked: a chain of setter calls.

    ## Description
    ToolChain*/ToolBench-style setter chains over the ``settings`` table
    (``get_settings``, ``update_setting``). Level 1 gives the user id and one or two
    settings; level 2 names the customer (email, or name and zip) and two settings;
    level 3 adds a default payment method named by its kind (read with ``get_user``)
    and a conditional setting that depends on its current value (read with
    ``get_settings``). About 7% of tasks ask for something the settings do not allow;
    those are solved by ``report_infeasible`` with nothing written. See
    :class:`~densegym.envs.tools.base.ToolEnv` for tools, transport and info fields.

    ## Observation Space
    ``PermissiveText``: request, policy, tool signatures and the last calls.

    ## Action Space
    ``PermissiveText``: one tool call (JSON or call syntax).

    ## Rewards
    1 on the final ``answer(...)`` when the changed settings equal the criteria
    exactly (every criterion holds, nothing else changed); 0 otherwise.
    ``progress``: criteria met / all; ``score``: the criteria F1 (settings changed vs
    settings asked for).

    ## Termination
    On ``answer`` or ``report_infeasible``; truncated after 3 invalid calls in a row
    and at ``max_episode_steps``.

    ## Registered Configurations
    ``densegym/ToolShop-Config-v0`` (``difficulty`` 1-3 or ``None`` for a mix,
    ``n_distractors``, ``transport``, ``world_seed``, ``n_worlds``).

    Example:
        >>> env = ConfigEnv(difficulty=2)
        >>> obs, info = env.reset(seed=0)
        >>> uid, key, value = env.problem.criteria[0]
        >>> wrong = next(v for v in SETTING_VALUES[key] if v != value)
        >>> _ = env.step(env.oracle_step())   # find the user
        >>> _, _, _, _, info = env.step(
        ...     f'update_setting(user_id="{uid}", key="{key}", value="{wrong}")')
        >>> info["oracle_remaining"] > 0      # a wrong value can be set again
        True
        >>> while True:
        ...     obs, reward, terminated, truncated, info = env.step(env.oracle_step())
        ...     if terminated or truncated:
        ...         break
        >>> reward, info["is_success"], info["score"]
        (1.0, True, 1.0)
    """

    family_id = "Config"

    def _generate(
        self, rng: random.Random, catalog: Catalog, difficulty: int, infeasible: bool
    ) -> ToolTask:
        return generate_config(rng, catalog, difficulty, infeasible)

    def _score(self, evaluation: Evaluation) -> float:
        if self._success:
            return 1.0
        task = self._require_task()
        if task.infeasible:
            return evaluation.score
        return criteria_f1(task, self.world_diff())

    def remaining_plan(self) -> list[PlanStep] | None:
        """Return the oracle's calls from here, ``None`` if the task can no longer be done.

        Settings written by mistake are restored to their initial values (a setter
        each, before the final call); a write to any other table loses the task.
        """
        task = self._require_task()
        if self._done:
            return [] if self._success else None
        diff = self.world_diff()
        expected = WorldDiff() if task.infeasible else task.expected_diff
        stray = diff.keys() - expected.keys()
        if any(table != "settings" for table, _ in stray):
            return None
        steps = replan(task, self._conn, WorldDiff(), self._seen, self._done_calls)
        if steps is None:  # pragma: no cover - an empty diff is never lost
            return None
        users = {u.user_id: u for u in catalog_for_seed(task.world_seed).users}
        restores = []
        for _, (uid, key) in sorted(stray):
            initial = users[uid].settings[key]
            restores.append(
                PlanStep("update_setting", {"user_id": uid, "key": key, "value": initial})
            )
        return steps[:-1] + restores + steps[-1:]
