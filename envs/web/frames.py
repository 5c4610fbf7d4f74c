"""Frames of a web episode (``render_mode="rgb_array"`` screenshots) written as one PNG strip.

``densegym eval --record`` has no hook yet; :func:`write_strip` is what it would call with
the frames of an episode. Frames are scaled to one height and laid side by side (wrapped
into rows of ``per_row``), with a thin gap between them.

Example:
    >>> import numpy as np, tempfile, os
    >>> frames = [np.full((40, 60, 3), c, np.uint8) for c in (0, 128, 255)]
    >>> path = os.path.join(tempfile.mkdtemp(), "episode.png")
    >>> write_strip(frames, path, height=20, per_row=2)
    (2, 2)
    >>> from PIL import Image
    >>> Image.open(path).size
    (64, 44)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["write_strip"]

_GAP = 4


def write_strip(
    frames: Sequence[np.ndarray],
    path: str | Path,
    *,
    height: int = 240,
    per_row: int = 8,
    max_frames: int = 64,
) -> tuple[int, int]:
    """Write frames as one PNG: scaled to ``height``, ``per_row`` a row.

    Args:
        frames: ``(H, W, 3)`` ``uint8`` arrays (e.g. ``env.render()`` with ``rgb_array``).
        path: the PNG to write (its folder is created; written atomically).
        height: each frame's height in the strip (the width keeps the aspect ratio).
        per_row: frames per row.
        max_frames: at most this many frames, evenly spread over the episode (first and
            last kept).

    Returns:
        ``(rows, columns)`` of the strip.

    Raises:
        ValueError: no frames, or a frame that is not ``(H, W, 3)`` ``uint8``.
    """
    from PIL import Image

    if not frames:
        raise ValueError("no frames to write")
    if height < 1 or per_row < 1 or max_frames < 1:
        raise ValueError("height, per_row and max_frames must be positive")
    for frame in frames:
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3:
            raise ValueError("every frame must be an (H, W, 3) uint8 array")
        if frame.shape[2] != 3 or min(frame.shape[:2]) < 1:
            raise ValueError("every frame must be an (H, W, 3) uint8 array")
    if len(frames) > max_frames:
        keep = np.linspace(0, len(frames) - 1, max_frames).round().astype(int)
        frames = [frames[i] for i in keep]
    images = [
        Image.fromarray(f).resize((max(1, round(f.shape[1] * height / f.shape[0])), height))
        for f in frames
    ]
    columns = min(per_row, len(images))
    rows = -(-len(images) // columns)
    width = max(
        sum(im.width for im in images[r * columns : (r + 1) * columns]) for r in range(rows)
    )
    sheet = Image.new(
        "RGB", (width + _GAP * (columns - 1), rows * height + _GAP * (rows - 1)), "white"
    )
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        left = sum(im.width for im in images[row * columns : index]) + _GAP * column
        sheet.paste(image, (left, row * (height + _GAP)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    sheet.save(tmp, format="PNG")
    tmp.replace(path)
    return rows, columns
