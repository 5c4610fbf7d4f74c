"""The Python blocks of docs/*.md run, and print what their ``# ...`` comment lines say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOCS = sorted((Path(__file__).parent.parent / "docs").glob("*.md"))
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _blocks() -> list[tuple[str, int, str]]:
    return [
        (doc.name, index, block)
        for doc in DOCS
        for index, block in enumerate(BLOCK.findall(doc.read_text()))
    ]


def _expected(block: str) -> list[str]:
    """The trailing ``# ...`` lines of a block: what it prints, ``...`` matching anything."""
    lines = block.rstrip().splitlines()
    expected: list[str] = []
    while lines and lines[-1].startswith("# "):
        expected.insert(0, lines.pop()[2:])
    return expected


def _matches(pattern: str, line: str) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.split("..."))
    return re.fullmatch(regex, line) is not None


def test_docs_have_python_blocks():
    assert any(name == "architecture.md" for name, _, _ in _blocks())


@pytest.mark.parametrize(("doc", "index", "block"), _blocks(), ids=lambda v: str(v)[:20])
def test_doc_block_runs_and_prints_what_it_says(doc, index, block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, f"{doc}[{index}]", "exec"), {"__name__": "__doc_block__"})
    printed = out.getvalue().strip().splitlines()
    expected = _expected(block)
    assert len(printed) == len(expected), (printed, expected)
    for pattern, line in zip(expected, printed, strict=True):
        assert _matches(pattern, line), (pattern, line)
