"""An episode's frames (``render_mode="rgb_array"``) kept and written as one PNG strip.

``densegym eval --record PATH`` wraps the eval env in :class:`RecordFrames` and writes
the first episode with :func:`write_strip`: frames scaled to one height and laid side by
side (wrapped into rows of ``per_row``), with a thin gap between them. Any env with an
``rgb_array`` render mode works (web pages in Chromium, MountainCar, MiniHack).

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
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["RecordFrames", "write_strip"]

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


class RecordFrames(gym.Wrapper):
    """Keep ``env.render()`` after the reset and every step of the first ``episodes`` episodes.

    Args:
        env: An env made with ``render_mode="rgb_array"``.
        episodes: How many episodes to record (later ones run without rendering).
        max_frames: Frames kept per episode at most (later steps are not rendered).

    Example:
        >>> env = RecordFrames(gym.make("MountainCar-v0", render_mode="rgb_array"))
        >>> _ = env.reset(seed=0)
        >>> for _ in range(3):
        ...     _ = env.step(1)
        >>> len(env.frames[0]), env.frames[0][0].shape
        (4, (400, 600, 3))
    """

    def __init__(self, env: gym.Env, episodes: int = 1, max_frames: int = 200):
        super().__init__(env)
        if env.render_mode != "rgb_array":
            raise ValueError(
                f"recording needs render_mode='rgb_array', this env has {env.render_mode!r}"
            )
        self.episodes = int(episodes)
        self.max_frames = int(max_frames)
        self.frames: list[list[np.ndarray]] = []

    def _keep(self) -> None:
        if len(self.frames) <= self.episodes and len(self.frames[-1]) < self.max_frames:
            frame = self.env.render()
            if isinstance(frame, np.ndarray):
                self.frames[-1].append(frame)

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """Reset, and start a new episode's frames."""
        out = self.env.reset(**kwargs)
        self.frames.append([])
        self._keep()
        return out

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        """Step, keeping the frame after it."""
        out = self.env.step(action)
        self._keep()
        return out
