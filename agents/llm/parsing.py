r"""Read one reasoning step out of a model's free-form reply.

Models number their steps, wrap them in markdown, or keep going for several lines.
A reasoning env takes one line per action, so the policy keeps the first line that
says something, without list markers or ``Step 2:`` labels. A final-answer line keeps
its ``Answer:`` label, so the env sees it as the end of the episode.

Example:
    >>> parse_step("  2. Apples left: 12 - 2 = 10\nAnswer: 10")
    'Apples left: 12 - 2 = 10'
    >>> parse_step("**Answer: 42**")
    'Answer: 42'
    >>> parse_step("Step 3: Answer: 7"), parse_step("\n\n")
    ('Answer: 7', '')
"""

from __future__ import annotations

import re

__all__ = ["parse_step"]

# "1.", "2)", "- ", "* ", "Step 3:", "Next step:" at the start of a line.
_PREFIX_RE = re.compile(
    r"^\s*(?:(?:next\s+)?step\s*\d*\s*[:.)-]|\d+\s*[.)](?!\d)|[-*\u2022](?=\s))\s*",
    flags=re.IGNORECASE,
)
_MARKUP_RE = re.compile(r"\*\*|__|`")
_ANSWER_LABEL_RE = re.compile(r"\banswer\s*:", flags=re.IGNORECASE)


def parse_step(text: str) -> str:
    """Return the step in a reply: its first non-empty line, labels and markup removed.

    Args:
        text: the model's reply.

    Returns:
        The step, or ``""`` when the reply is empty (the env flags an empty step).
    """
    for raw in str(text).splitlines():
        line = _MARKUP_RE.sub("", raw).strip()
        previous = None
        while line != previous:  # "Step 2: 1. ..." has two labels
            previous = line
            line = _PREFIX_RE.sub("", line, count=1).strip()
        if not line:
            continue
        match = _ANSWER_LABEL_RE.search(line)
        if match and match.start() > 0 and not line[: match.start()].strip(" .,;:-"):
            line = line[match.start() :]
        return line
    return ""
