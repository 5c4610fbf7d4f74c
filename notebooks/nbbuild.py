"""Shared by the notebook generators: turn ``(kind, source)`` cells into a notebook file.

Example:
    >>> node = build([("md", "# Title"), ("code", "x = 1")])
    >>> [cell.cell_type for cell in node.cells]
    ['markdown', 'code']
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def build(cells: Sequence[tuple[str, str]]) -> nbformat.NotebookNode:
    """The notebook as an nbformat node (``"md"`` cells as markdown, the rest as code)."""
    notebook = new_notebook(
        cells=[
            new_markdown_cell(source) if kind == "md" else new_code_cell(source)
            for kind, source in cells
        ]
    )
    notebook.metadata["kernelspec"] = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    return notebook


def write(cells: Sequence[tuple[str, str]], path: Path) -> None:
    """Build the notebook and write it to ``path`` (no outputs; the tests execute it)."""
    nbformat.write(build(cells), path)
    print("wrote", path)
