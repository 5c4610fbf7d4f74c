"""Rendering shared by the text worlds: the observation text is the rendering.

Example:
    >>> class Demo(TextRendering):
    ...     render_mode = "ansi"
    ...     def _render_ready(self): return True
    ...     def _observation(self): return "Task: add 2 and 3."
    >>> Demo().render()
    'Task: add 2 and 3.'
"""

from __future__ import annotations

__all__ = ["TextRendering"]


class TextRendering:
    """Mixin: ``render()`` for envs whose observation is text (``ansi`` and ``human``).

    The env provides ``render_mode``, ``_observation()`` and ``_render_ready()`` (whether
    an episode is loaded, so there is something to show).
    """

    render_mode: str | None

    def _observation(self) -> str:
        raise NotImplementedError

    def _render_ready(self) -> bool:
        raise NotImplementedError

    def render(self) -> str | None:
        """``ansi``: return the observation text; ``human``: print it."""
        if self.render_mode is None or not self._render_ready():
            return None
        text = self._observation()
        if self.render_mode == "human":
            print(text + "\n")
            return None
        return text
