"""Registry data of the MiniWoB++ ids (``densegym/MiniWoB-<task>-v0``, extra ``web``).

Data only, so that :mod:`densegym.registration` (core) can list the ids without importing
the ``miniwob`` package or the web world. The tasks are those of ``miniwob==1.1.0``
that reset and step through :class:`densegym.envs.web.miniwob.MiniWoBEnv` here (each is
checked by ``tests/envs/test_web_miniwob.py``).

Example:
    >>> len(MINIWOB_TASKS) > 100, "click-test" in MINIWOB_TASKS
    (True, True)
    >>> sorted(KNOWN_REWARD_ISSUES)[:2]
    ['click-checkboxes', 'click-checkboxes-large']
    >>> max_steps("click-test"), max_steps("book-flight")
    (20, 60)
"""

from __future__ import annotations

__all__ = [
    "KNOWN_REWARD_ISSUES",
    "LONG_TASKS",
    "MINIWOB_TASKS",
    "NONDETERMINISTIC",
    "max_steps",
]

#: Every task of miniwob 1.1.0 (its own registration order).
MINIWOB_TASKS: tuple[str, ...] = (
    "bisect-angle",
    "book-flight",
    "book-flight-nodelay",
    "choose-date",
    "choose-date-easy",
    "choose-date-medium",
    "choose-date-nodelay",
    "choose-list",
    "circle-center",
    "click-button",
    "click-button-sequence",
    "click-checkboxes",
    "click-checkboxes-large",
    "click-checkboxes-soft",
    "click-checkboxes-transfer",
    "click-collapsible",
    "click-collapsible-2",
    "click-collapsible-2-nodelay",
    "click-collapsible-nodelay",
    "click-color",
    "click-dialog",
    "click-dialog-2",
    "click-link",
    "click-menu",
    "click-menu-2",
    "click-option",
    "click-pie",
    "click-pie-nodelay",
    "click-scroll-list",
    "click-shades",
    "click-shape",
    "click-tab",
    "click-tab-2",
    "click-tab-2-easy",
    "click-tab-2-hard",
    "click-tab-2-medium",
    "click-test",
    "click-test-2",
    "click-test-transfer",
    "click-widget",
    "copy-paste",
    "copy-paste-2",
    "count-shape",
    "count-sides",
    "drag-box",
    "drag-circle",
    "drag-cube",
    "drag-items",
    "drag-items-grid",
    "drag-shapes",
    "drag-sort-numbers",
    "email-inbox",
    "email-inbox-delete",
    "email-inbox-forward",
    "email-inbox-forward-nl",
    "email-inbox-forward-nl-turk",
    "email-inbox-important",
    "email-inbox-nl-turk",
    "email-inbox-noscroll",
    "email-inbox-reply",
    "email-inbox-star-reply",
    "enter-date",
    "enter-password",
    "enter-text",
    "enter-text-2",
    "enter-text-dynamic",
    "enter-time",
    "find-midpoint",
    "find-word",
    "focus-text",
    "focus-text-2",
    "grid-coordinate",
    "guess-number",
    "highlight-text",
    "highlight-text-2",
    "identify-shape",
    "login-user",
    "login-user-popup",
    "multi-layouts",
    "multi-orderings",
    "navigate-tree",
    "number-checkboxes",
    "read-table",
    "read-table-2",
    "resize-textarea",
    "right-angle",
    "scroll-text",
    "scroll-text-2",
    "search-engine",
    "simple-algebra",
    "simple-arithmetic",
    "social-media",
    "social-media-all",
    "social-media-some",
    "terminal",
    "text-editor",
    "text-transform",
    "tic-tac-toe",
    "unicode-test",
    "use-autocomplete",
    "use-autocomplete-nodelay",
    "use-colorwheel",
    "use-colorwheel-2",
    "use-slider",
    "use-slider-2",
    "use-spinner",
    "visual-addition",
    "flight.Alaska",
    "flight.Alaska-auto",
    "flight.AA",
    "ascending-numbers",
    "buy-ticket",
    "daily-calendar",
    "drag-shapes-2",
    "drag-single-shape",
    "draw-circle",
    "draw-line",
    "find-greatest",
    "form-sequence",
    "form-sequence-2",
    "form-sequence-3",
    "generate-number",
    "hot-cold",
    "odd-or-even",
    "order-food",
    "phone-book",
    "sign-agreement",
    "stock-market",
)

#: Tasks whose shipped reward is known to be wrong or weak (densegym's success is raw
#: reward exactly 1, which none of these pay for a wrong answer; the raw score still does).
KNOWN_REWARD_ISSUES: dict[str, str] = {
    "find-greatest": "a wrong card ends the episode with raw reward +0.1 "
    "(MiniWoB-plusplus issues #104, #108)",
    "click-checkboxes-large": "partial credit r/n is positive with a requested box left "
    "unchecked (MiniWoB-plusplus issue #106)",
    "click-checkboxes-soft": "the same partial credit as click-checkboxes-large: positive "
    "raw reward with wrong boxes",
    "click-checkboxes": "the same partial credit r/n: positive raw reward with wrong boxes "
    "(measured: 0.67 with one requested box unticked)",
    "click-checkboxes-transfer": "the same partial credit r/n as click-checkboxes",
}

#: Tasks miniwob 1.1.0 registers as nondeterministic (dates, clocks, animations).
NONDETERMINISTIC: frozenset[str] = frozenset(
    {
        "book-flight", "book-flight-nodelay", "choose-date", "choose-date-easy",
        "choose-date-medium", "choose-date-nodelay", "click-dialog", "click-dialog-2",
        "click-pie", "click-pie-nodelay", "click-scroll-list", "drag-cube", "scroll-text",
        "scroll-text-2", "search-engine", "social-media", "social-media-all",
        "social-media-some", "terminal", "flight.Alaska", "flight.Alaska-auto", "flight.AA",
        "order-food", "phone-book", "stock-market",
    }
)  # fmt: skip

#: Multi-page or multi-field tasks: 60 actions instead of 20.
LONG_TASKS: frozenset[str] = frozenset(
    {
        "book-flight", "book-flight-nodelay", "click-checkboxes-large", "email-inbox",
        "email-inbox-forward", "email-inbox-forward-nl", "email-inbox-forward-nl-turk",
        "email-inbox-nl-turk", "email-inbox-reply", "email-inbox-star-reply",
        "flight.Alaska", "flight.Alaska-auto", "flight.AA", "form-sequence-3",
        "multi-layouts", "multi-orderings", "order-food", "phone-book", "social-media-all",
        "social-media-some", "stock-market", "terminal", "text-editor", "tic-tac-toe",
    }
)  # fmt: skip


def max_steps(task: str) -> int:
    """The registered time limit (actions) of a task."""
    return 60 if task in LONG_TASKS else 20
