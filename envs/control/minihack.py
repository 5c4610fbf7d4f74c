"""MiniHack navigation tasks with an SB3-ready observation preset and text captions."""

from __future__ import annotations

import importlib
import logging
import warnings
from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.error import DependencyNotInstalled

from densegym.spaces import CategoricalBox

logger = logging.getLogger(__name__)

INSTALL_HINT = 'pip install -e ".[minihack]"  (nle>=1.3, minihack==1.0.2, minigrid, setuptools<81)'
NUM_BLSTATS = 27
ROWS, COLS = 21, 79
# NetHack 3.6 map symbols that block movement: stone, the eleven wall pieces, bars, tree.
_BLOCKING_CMAP = frozenset(range(0, 12)) | {17, 18}
_NOTABLE_CHARS = {
    ord(">"): "staircase down (goal)",
    ord("<"): "staircase up",
    ord("+"): "door",
    ord("("): "item",
    ord("`"): "boulder",
    ord("}"): "water",
    ord("{"): "fountain",
    ord("^"): "trap",
}
_CAPTION_LUT = np.zeros(256, dtype=bool)
_CAPTION_LUT[list(_NOTABLE_CHARS)] = True
_CAPTION_LUT[[ord(c) for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"]] = True
_CHAR_COLOURS = np.zeros((256, 3), dtype=np.uint8)
_CHAR_COLOURS[ord(".")] = (90, 90, 90)
_CHAR_COLOURS[[ord("|"), ord("-")]] = (200, 200, 200)
_CHAR_COLOURS[ord("@")] = (255, 255, 255)
_CHAR_COLOURS[ord(">")] = (0, 220, 0)
_CHAR_COLOURS[ord("+")] = (170, 110, 40)
_CHAR_COLOURS[ord("}")] = (30, 60, 220)
_CHAR_COLOURS[ord("`")] = (140, 140, 100)
_CHAR_COLOURS[ord("(")] = (230, 200, 0)
_CHAR_COLOURS[ord("#")] = (60, 60, 60)


def _import_minihack():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            minihack = importlib.import_module("minihack")
            nethack = importlib.import_module("nle.nethack")
    except ImportError as error:
        raise DependencyNotInstalled(
            f"MiniHack environments need nle and minihack ({error}); "
            f"install them with: {INSTALL_HINT}"
        ) from error
    return minihack, nethack


def _passable_table(nethack: Any) -> np.ndarray:
    table = np.ones(nethack.MAX_GLYPH + 1, dtype=bool)
    for glyph in range(nethack.MAX_GLYPH):
        if nethack.glyph_is_cmap(glyph) and nethack.glyph_to_cmap(glyph) in _BLOCKING_CMAP:
            table[glyph] = False
    return table


_PASSABLE: np.ndarray | None = None
_GOAL_GLYPH = -1  # set on first use: the glyph of the staircase down


class MiniHackNavigation(gym.Env):
    """A MiniHack navigation task (reach the staircase down) with an SB3-ready preset.

    ## Description
    Wraps one MiniHack task (Samvelyan et al., 2021) built on the NetHack Learning
    Environment. The agent must find and reach the staircase down (``>``); some tasks
    add doors and keys (KeyRoom), several rooms (MultiRoom) or a river to cross with
    boulders (River). The task's own sparse reward is left unchanged.

    ## Observation Space
    ``Dict(glyphs=Box(0, 5976, (crop, crop), float32), blstats=Box(-inf, inf, (27,), float32))``:
    the egocentric crop of glyph ids around the agent (exact integers stored as float32,
    embedded by :class:`~densegym.agents.sb3.MiniHackExtractor`; the leaf's space is a
    :class:`~densegym.spaces.CategoricalBox`, which tells learned intrinsic encoders to
    embed it too) and NetHack's bottom-line statistics (``blstats[0:2]`` is the agent's
    x, y). With ``full_map=True`` a third leaf, ``map=Box(0, 5976, (21, 79), float32)``,
    holds the whole map's glyph ids: NetHack keeps what the agent has seen drawn, so the
    map shows the explored part of the level (the input the MiniHack papers' agents get).
    It is declared a plain Box: intrinsic encoders scale it as a vector, since embedding
    its 1659 ids at every step costs more than it helps. Every leaf is float32, so SB3's
    ``VecNormalize`` never stores normalised values in an integer buffer.

    ## Action Space
    The task's own ``Discrete`` action set (8 compass moves; KeyRoom adds pick-up and apply).

    ## Rewards
    MiniHack's defaults: 1 on reaching the goal, 0 otherwise, and −0.01 for a move that
    does not advance game time (e.g. walking into a wall).

    ## Termination
    Terminates on reaching the goal or on death. The registered spec truncates at
    MiniHack's own step budget for the task. ``info`` holds ``is_success`` (every step),
    ``message`` (the game message) and ``caption`` (a one-line description of what is
    around the agent, for LLM-based shapers).

    ## Registered Configurations
    ``densegym/MiniHack-<Task>-v0`` for Room-5x5, Room-15x15, Room-Dark-15x15, Corridor-R2,
    Corridor-R3, KeyRoom-S5, KeyRoom-S15, MultiRoom-N2, MultiRoom-N4, MultiRoom-N6,
    MultiRoom-N6-OpenDoor (six rooms, doors open), MultiRoom-N10-OpenDoor (ten rooms,
    doors open), MultiRoom-N4-Monster (a monster in the rooms; dying ends the episode)
    and River.

    Example:
        >>> import gymnasium as gym, densegym
        >>> env = gym.make("densegym/MiniHack-Room-5x5-v0")
        >>> obs, info = env.reset(seed=0)
        >>> obs["glyphs"].shape, obs["blstats"].dtype, "caption" in info
        ((9, 9), dtype('float32'), True)
        >>> mapped = gym.make("densegym/MiniHack-Room-5x5-v0", full_map=True)
        >>> mapped.reset(seed=0)[0]["map"].shape
        (21, 79)
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 10}
    default_potential = "minihack_goal_distance"

    def __init__(
        self,
        task: str = "MiniHack-Room-5x5-v0",
        crop_size: int = 9,
        full_map: bool = False,
        render_mode: str | None = None,
        **minihack_kwargs: Any,
    ):
        global _PASSABLE
        minihack, nethack = _import_minihack()
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        if task not in gym.registry:
            raise ValueError(f"unknown MiniHack task {task!r}")
        if crop_size < 3 or crop_size % 2 == 0:
            raise ValueError(f"crop_size must be an odd number >= 3, got {crop_size}")
        self.task_id = task
        self.render_mode = render_mode
        self.crop_size = crop_size
        self.full_map = bool(full_map)
        self._nethack = nethack
        entry = gym.registry[task].entry_point
        module_name, _, cls_name = entry.partition(":")
        cls = getattr(importlib.import_module(module_name), cls_name)
        self._game = cls(
            # Crops are cut here (one slice of a padded buffer) rather than by MiniHack,
            # whose per-key np.pad costs ~40 µs a step.
            observation_keys=("glyphs", "chars", "blstats", "message"),
            # Time limits live in the registered spec, not in NLE.
            max_episode_steps=10**9,
            **minihack_kwargs,
        )
        if _PASSABLE is None:
            global _GOAL_GLYPH
            _PASSABLE = _passable_table(nethack)
            _GOAL_GLYPH = next(
                g
                for g in range(nethack.MAX_GLYPH)
                if nethack.glyph_is_cmap(g) and nethack.glyph_to_cmap(g) == 24  # S_dnstair
            )
        self.action_space = spaces.Discrete(self._game.action_space.n)
        leaves = {
            "glyphs": CategoricalBox(0, nethack.MAX_GLYPH, (crop_size, crop_size), np.float32),
            "blstats": spaces.Box(-np.inf, np.inf, (NUM_BLSTATS,), np.float32),
        }
        if self.full_map:
            leaves["map"] = spaces.Box(0, nethack.MAX_GLYPH, (ROWS, COLS), np.float32)
        self.observation_space = spaces.Dict(leaves)
        self.action_names = [getattr(a, "name", str(a)) for a in self._game.actions]
        self.task = {
            "id": task,
            "goal": "Reach the staircase down ('>'); it may lie behind doors, rooms or water.",
            "observation": {
                "glyphs": f"{crop_size}x{crop_size} NetHack glyph ids centred on the agent",
                "blstats": "27 bottom-line stats; blstats[0], blstats[1] = agent x, y",
                **({"map": f"{ROWS}x{COLS} glyph ids of the whole map"} if full_map else {}),
            },
            "actions": dict(enumerate(self.action_names)),
            "reward": "1 on reaching the goal, 0 otherwise (-0.01 for moves that waste no time)",
            "info": {
                "is_success": "bool, True on reaching the goal",
                "message": "the game's message line",
                "caption": "one line: agent position and notable things nearby",
                "invalid_action": "bool: the action was not an action index; the game did "
                "not advance",
                "n_invalid_actions": "int: invalid actions so far",
            },
        }
        self._raw: dict[str, np.ndarray] = {}
        self._n_invalid = 0
        half = crop_size // 2
        self._padded_glyphs = np.full(
            (ROWS + 2 * half, COLS + 2 * half), nethack.MAX_GLYPH, np.int16
        )
        self._padded_chars = np.full((ROWS + 2 * half, COLS + 2 * half), ord(" "), dtype=np.uint8)
        self._glyph_crop = np.zeros((crop_size, crop_size), dtype=np.int16)
        self._char_crop = np.zeros((crop_size, crop_size), dtype=np.uint8)
        self._field: np.ndarray | None = None
        self._field_glyphs: np.ndarray | None = None

    # -- gymnasium API --------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start a new game; the NetHack RNGs are seeded from ``self.np_random``."""
        super().reset(seed=seed)
        core, disp = (int(s) for s in self.np_random.integers(0, 2**62, size=2))
        minigrid_env = getattr(self._game, "minigrid_env", None)
        if minigrid_env is None:
            self._game.seed(core, disp, reseed=False)
        else:
            # MultiRoom tasks draw their layout from a MiniGrid env, and MiniHack 1.0.2's
            # MiniGridHack.seed calls the removed gym `Env.seed`. Seed the layout generator
            # through Gymnasium's reset(seed=...) (the game's reset then draws from it) and
            # NetHack's RNGs through the NLE base method.
            from minihack.envs.minigrid import MiniGridHack

            minigrid_env.reset(seed=int(self.np_random.integers(0, 2**31)))
            super(MiniGridHack, self._game).seed(core, disp, reseed=False)
        raw, _ = self._game.reset()
        self._raw = raw
        self._n_invalid = 0
        self._field = None
        self._field_glyphs = None
        self._crop()
        return self._observation(), self._info(success=False)

    def action_index(self, action: Any) -> int | None:
        """The action index ``action`` names, or ``None`` when it names none.

        Only integers in ``[0, n)`` are actions (also as numpy integers or one-element
        integer arrays): ``-1`` is not "the last action" and ``1.5`` or ``"1"`` are not 1.
        """
        if isinstance(action, np.ndarray) and action.size == 1:
            action = action.reshape(()).item() if action.dtype.kind in "iu" else None
        if isinstance(action, (bool, np.bool_)) or not isinstance(action, (int, np.integer)):
            return None
        return int(action) if 0 <= action < self.action_space.n else None

    def step(self, action: int):
        """Take one game action; an invalid one is flagged and counted, and the game waits."""
        index = self.action_index(action)
        if index is None:
            self._n_invalid += 1
            logger.warning(
                "MiniHack: invalid action %r ignored (not in 0..%d)",
                action,
                self.action_space.n - 1,
            )
            info = self._info(success=False, invalid=True)
            return self._observation(), 0.0, False, False, info
        raw, reward, terminated, _, game_info = self._game.step(index)
        self._raw = raw
        self._crop()
        success = game_info.get("end_status") == self._game.StepStatus.TASK_SUCCESSFUL
        return self._observation(), float(reward), bool(terminated), False, self._info(success)

    def render(self) -> str | np.ndarray | None:
        """Return the map as text (``ansi``) or as a small colour image (``rgb_array``)."""
        if not self._raw or self.render_mode is None:
            return None
        if self.render_mode == "ansi":
            rows = (bytes(row).decode("latin-1").rstrip() for row in self._raw["chars"])
            return "\n".join(row for row in rows if row)
        cells = _CHAR_COLOURS[self._raw["chars"]]
        return np.repeat(np.repeat(cells, 6, axis=0), 6, axis=1)

    def close(self) -> None:
        """Close the NetHack process."""
        self._game.close()

    # -- helpers for shapers ----------------------------------------------------
    def agent_position(self) -> tuple[int, int]:
        """The agent's (x, y) on the 21×79 map."""
        blstats = self._raw["blstats"]
        return int(blstats[0]), int(blstats[1])

    def state_key(self, obs: dict[str, np.ndarray]) -> tuple[int, int, int]:
        """Agent position and dungeon depth: the key count bonuses use."""
        blstats = obs["blstats"]
        return int(blstats[0]), int(blstats[1]), int(blstats[12])

    def goal_distance(self) -> int | None:
        """BFS steps from the agent to the nearest visible goal, ``None`` if none is visible.

        The distance field is recomputed only when a cell's passability changed since the
        last computation (new cells seen, a door opened, the goal appeared), so most steps
        cost one array comparison.
        """
        glyphs = self._raw["glyphs"]
        if self._field_glyphs is None or self._map_changed(glyphs):
            chars = self._raw["chars"]
            goals = np.argwhere(chars == ord(">"))
            self._field = _distance_field(_PASSABLE[glyphs], goals) if len(goals) else None
            self._field_glyphs = glyphs.copy()
        if self._field is None:
            return None
        x, y = self.agent_position()
        distance = int(self._field[y, x])
        return None if distance < 0 else distance

    def _map_changed(self, glyphs: np.ndarray) -> bool:
        before = self._field_glyphs.ravel()
        changed = np.flatnonzero(glyphs.ravel() != before)
        if changed.size == 0:
            return False
        if changed.size > 8:
            return True
        now = glyphs.ravel()[changed]
        for new, old in zip(now.tolist(), before[changed].tolist()):
            if _PASSABLE[new] != _PASSABLE[old] or new == _GOAL_GLYPH:
                return True
        before[changed] = now  # only monsters or the agent moved: the field is still valid
        return False

    def goal_seen(self) -> bool:
        """Whether the staircase down is on the map the agent has seen so far this episode.

        Example:
            >>> import gymnasium as gym, densegym
            >>> env = gym.make("densegym/MiniHack-Room-5x5-v0")
            >>> _ = env.reset(seed=0)
            >>> env.unwrapped.goal_seen()  # a lit 5x5 room: the stairs are in view
            True
        """
        return bool(self._raw) and bool(np.any(self._raw["chars"] == ord(">")))

    def max_distance(self) -> int:
        """Distance at which the goal-distance potential bottoms out."""
        return ROWS + COLS

    def caption(self) -> str:
        """One line: the agent's position and the notable things in its crop."""
        chars = self._char_crop
        centre = self.crop_size // 2
        seen = []
        rows, cols = np.nonzero(_CAPTION_LUT[chars])
        for r, c in zip(rows.tolist(), cols.tolist()):
            if r == centre and c == centre:
                continue
            code = int(chars[r, c])
            label = _NOTABLE_CHARS.get(code) or f"monster '{chr(code)}'"
            dy, dx = r - centre, c - centre
            parts = []
            if dx:
                parts.append(f"{abs(dx)} {'east' if dx > 0 else 'west'}")
            if dy:
                parts.append(f"{abs(dy)} {'south' if dy > 0 else 'north'}")
            seen.append(f"{label} {' '.join(parts)}")
        x, y = self.agent_position()
        nearby = "; ".join(seen) if seen else "nothing notable"
        return f"You are at x={x}, y={y}. Nearby: {nearby}."

    def message(self) -> str:
        """The game's current message line."""
        text = bytes(self._raw["message"]).split(b"\0", 1)[0]
        return text.decode("latin-1").strip()

    # -- internals ----------------------------------------------------------------
    def _crop(self) -> None:
        half = self.crop_size // 2
        self._padded_glyphs[half : half + ROWS, half : half + COLS] = self._raw["glyphs"]
        self._padded_chars[half : half + ROWS, half : half + COLS] = self._raw["chars"]
        x, y = self.agent_position()
        # Padded coordinates of the agent are (y + half, x + half); the crop starts half before.
        self._glyph_crop[:] = self._padded_glyphs[y : y + self.crop_size, x : x + self.crop_size]
        self._char_crop[:] = self._padded_chars[y : y + self.crop_size, x : x + self.crop_size]

    def _observation(self) -> dict[str, np.ndarray]:
        obs = {
            "glyphs": self._glyph_crop.astype(np.float32),
            "blstats": self._raw["blstats"].astype(np.float32),
        }
        if self.full_map:
            obs["map"] = self._raw["glyphs"].astype(np.float32)
        return obs

    def _info(self, success: bool, invalid: bool = False) -> dict[str, Any]:
        return {
            "is_success": bool(success),
            "message": self.message(),
            "caption": self.caption(),
            "invalid_action": invalid,
            "n_invalid_actions": self._n_invalid,
        }


def _distance_field(passable: np.ndarray, goals: np.ndarray) -> np.ndarray:
    """Multi-source BFS distances (8-connected, like NetHack moves); -1 where unreachable."""
    rows, cols = passable.shape
    field = np.full((rows, cols), -1, dtype=np.int32)
    queue: deque[tuple[int, int]] = deque()
    for r, c in goals:
        field[r, c] = 0
        queue.append((int(r), int(c)))
    while queue:
        r, c = queue.popleft()
        next_distance = field[r, c] + 1
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                nr, nc = r + dr, c + dc
                if 0 <= nr < rows and 0 <= nc < cols and field[nr, nc] < 0 and passable[nr, nc]:
                    field[nr, nc] = next_distance
                    queue.append((nr, nc))
    return field
