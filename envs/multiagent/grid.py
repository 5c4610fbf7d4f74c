"""Sparse cooperative grid tasks: nobody is paid until the team has worked together.

A small family in the spirit of the cooperative grid tasks of subgoal-based hierarchical
MARL (GMAH): :class:`CoopGridEnv` owns the grid, the simultaneous moves, seeding, the
observation layout, truncation, rendering and the scripted oracle's walk; each task class
(:class:`SwitchDoorEnv`, :class:`GridSpreadEnv`) only generates its layout from the seed,
says when the team has succeeded and measures its progress.

Every layout is drawn from ``self.np_random`` (seeded by ``reset(seed=...)``), and every
layout is solvable: the scripted oracle team (:meth:`CoopGridEnv.oracle_step`) succeeds on
every seed (tested on 200 seeds).
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from pettingzoo import ParallelEnv
from pettingzoo.utils.conversions import parallel_to_aec

Cell = tuple[int, int]

#: Action ids: stay, up, down, left, right (as (row, column) offsets).
MOVES: tuple[Cell, ...] = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))
ACTION_NAMES = ("stay", "up", "down", "left", "right")
_UNREACHABLE = 10**6


class CoopGridEnv(ParallelEnv):
    """Base of the cooperative grid tasks: N agents move at once on a walled grid.

    Subclasses implement :meth:`_generate` (the layout, from ``self.np_random``),
    :meth:`_update` (task state after the agents moved; returns success),
    :meth:`_task_features` / :meth:`_task_flags` / :meth:`_task_state` (their part of the
    observations and the global state), :meth:`_targets` (where the oracle walks each
    agent now) and :meth:`progress` (a potential in [0, 1]).

    Args:
        size: the grid's side, walls included.
        n_agents: number of agents.
        max_cycles: steps before the episode is truncated (PettingZoo's name).
        render_mode: ``None``, ``"ansi"`` (``render()`` returns the grid as text) or
            ``"human"`` (prints it).
    """

    metadata: ClassVar[dict[str, Any]] = {
        "name": "coop_grid_v0",
        "render_modes": ["ansi", "human"],
        "is_parallelizable": True,
    }
    #: Flags (0/1 features right after an agent's own position) the task adds.
    n_flags: ClassVar[int] = 0
    #: Registered potentials (see ``densegym.rewards.multiagent``) per shaping scope.
    default_agent_potential: ClassVar[str] = "ma_agent_progress"
    default_team_potential: ClassVar[str] = "ma_team_progress"

    def __init__(
        self,
        size: int = 7,
        n_agents: int = 2,
        max_cycles: int = 50,
        render_mode: str | None = None,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']}")
        if int(size) < 5:
            raise ValueError(f"size must be at least 5, got {size}")
        if int(n_agents) < 1:
            raise ValueError(f"n_agents must be positive, got {n_agents}")
        if int(max_cycles) < 1:
            raise ValueError(f"max_cycles must be positive, got {max_cycles}")
        self.size = int(size)
        self.n_agents = int(n_agents)
        self.max_cycles = int(max_cycles)
        self.render_mode = render_mode
        self.possible_agents = [f"agent_{i}" for i in range(self.n_agents)]
        self.agents: list[str] = []
        features = 2 + self.n_flags + self.n_agents + 2 * (self.n_agents - 1)
        features += self._n_task_features()
        self._observation_spaces = {
            agent: spaces.Box(-1.0, 1.0, (features,), np.float32) for agent in self.possible_agents
        }
        self._action_spaces = {agent: spaces.Discrete(len(MOVES)) for agent in self.possible_agents}
        state_len = 2 * self.n_agents + self.n_flags + self._n_task_state()
        self.state_space = spaces.Box(0.0, float(self.size), (state_len,), np.float32)
        self.np_random, self.np_random_seed = seeding.np_random(None)
        self.walls = np.ones((self.size, self.size), dtype=bool)
        self.positions: list[Cell] = []
        self._free_count = 1
        # Per step: the task's flags (computed once, read by every observation and state());
        # per episode: the task's objects in state() and the closeness grids of progress().
        self._flags: list[float] = []
        self._static_state: list[float] = []
        self._orders: list[tuple[int, ...]] = []
        self._match_grids: Any = None
        self._match_cache: dict[tuple[Cell, ...], float] = {}
        self.cycles = 0
        self.success = False
        self.invalid_actions = 0

    # -- what a task class provides ----------------------------------------------------------
    def _n_task_features(self) -> int:
        raise NotImplementedError

    def _n_task_state(self) -> int:
        raise NotImplementedError

    def _generate(self, rng: np.random.Generator) -> None:
        """Draw the layout (walls, objects) and ``self.positions`` from ``rng``."""
        raise NotImplementedError

    def _update(self) -> bool:
        """Update the task state after the agents moved; return whether the team succeeded."""
        raise NotImplementedError

    def _task_flags(self) -> list[float]:
        """``n_flags`` 0/1 values shared by every agent's observation (door open, ...)."""
        return []

    def _task_features(self, cell: Cell) -> list[float]:
        """Relative positions of the task's objects seen from ``cell``."""
        raise NotImplementedError

    def _task_state(self) -> list[float]:
        """The task's objects in absolute grid coordinates (for :meth:`state`).

        Fixed for an episode: read once after :meth:`_generate`.
        """
        raise NotImplementedError

    def _prepare(self) -> None:
        """Cache what a new layout fixes for the episode (subclasses add their grids)."""
        self._static_state = [float(v) for v in self._task_state()]
        self._match_grids, self._match_cache = None, {}

    def _targets(self) -> list[Cell]:
        """The cell the oracle walks each agent towards now, in agent order."""
        raise NotImplementedError

    def _blocked(self, cell: Cell) -> bool:
        """Whether an agent may not enter ``cell`` (walls; tasks add closed doors)."""
        return bool(self.walls[cell])

    def progress(self, agent: str | None = None) -> float:
        """How far the team (``agent=None``) or one agent is towards success, in [0, 1]."""
        raise NotImplementedError

    def oracle_remaining(self) -> int | None:
        """Steps the oracle team still needs, ``None`` if it cannot finish."""
        raise NotImplementedError

    # -- PettingZoo API ----------------------------------------------------------------------
    def observation_space(self, agent: str) -> spaces.Box:
        """The observation space of ``agent`` (the same object at every call)."""
        return self._observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Discrete:
        """``Discrete(5)``: stay, up, down, left, right."""
        return self._action_spaces[agent]

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        """Draw a new layout from ``np_random`` (reseeded when ``seed`` is given)."""
        if seed is not None:
            self.np_random, self.np_random_seed = seeding.np_random(seed)
        self.agents = list(self.possible_agents)
        self.cycles = 0
        self.success = False
        self.invalid_actions = 0
        self._generate(self.np_random)
        self._free_count = int((~self.walls).sum())
        self._prepare()
        self._update()
        self._flags = self._task_flags()
        infos = {agent: {"is_success": False} for agent in self.agents}
        if self.render_mode == "human":
            self.render()
        return {agent: self._observe(i) for i, agent in enumerate(self.agents)}, infos

    def step(self, actions: dict[str, Any]):
        """Move every live agent at once, then check the team's success.

        A missing or malformed action means "stay" and is flagged in that agent's info
        (``invalid_action``) and counted (``invalid_actions``), never raised.
        """
        if not self.agents:
            return {}, {}, {}, {}, {}
        invalid: dict[str, bool] = {}
        for i, agent in enumerate(self.possible_agents):
            if agent not in self.agents:
                continue
            move = self._parse_action(actions.get(agent))
            invalid[agent] = move is None
            row, col = self.positions[i]
            drow, dcol = MOVES[move or 0]
            target = (row + drow, col + dcol)
            if not self._blocked(target):
                self.positions[i] = target
        self.invalid_actions += sum(invalid.values())
        self.cycles += 1
        self.success = bool(self._update())
        self._flags = self._task_flags()
        truncate = not self.success and self.cycles >= self.max_cycles
        reward = 1.0 if self.success else 0.0
        live = list(self.agents)
        obs = {agent: self._observe(self.possible_agents.index(agent)) for agent in live}
        rewards = dict.fromkeys(live, reward)
        terminations = dict.fromkeys(live, self.success)
        truncations = dict.fromkeys(live, truncate)
        infos = {
            agent: {
                "is_success": self.success,
                "reward_terms": {"extrinsic": reward},
                "invalid_action": invalid[agent],
            }
            for agent in live
        }
        if self.success or truncate:
            self.agents = []
        if self.render_mode == "human":
            self.render()
        return obs, rewards, terminations, truncations, infos

    def _parse_action(self, action: Any) -> int | None:
        if type(action) is int:  # the common case, checked without numpy
            return action if 0 <= action < len(MOVES) else None
        try:
            move = int(action)
        except (TypeError, ValueError):
            return None
        if np.ndim(action) != 0 or move != action or not 0 <= move < len(MOVES):
            return None
        return move

    def state(self) -> np.ndarray:
        """The global state: every agent's cell, the task's flags and objects (grid units)."""
        cells = [float(v) for cell in self.positions for v in cell]
        return np.array(cells + self._flags + self._static_state, dtype=np.float32)

    def render(self) -> str | None:
        """The grid as text: ``#`` wall, digits agents, task objects in capitals."""
        if self.render_mode is None:
            return None
        grid = [["#" if wall else "." for wall in row] for row in self.walls]
        for (row, col), char in self._symbols():
            grid[row][col] = char
        for i, (row, col) in enumerate(self.positions):
            grid[row][col] = str(i % 10)
        text = "\n".join("".join(row) for row in grid)
        if self.render_mode == "human":
            print(text + "\n")
            return None
        return text

    def _symbols(self) -> list[tuple[Cell, str]]:
        return []

    def close(self) -> None:
        """Nothing to release."""

    # -- observations, keys, distances -------------------------------------------------------
    def _scale(self) -> float:
        return float(self.size - 1)

    def _relative(self, origin: Cell, cell: Cell) -> list[float]:
        scale = self._scale()
        return [(cell[0] - origin[0]) / scale, (cell[1] - origin[1]) / scale]

    def _offsets(self, origin: Cell, cells: list[Cell]) -> list[float]:
        """:meth:`_relative` of each of ``cells``, flattened."""
        scale = self._scale()
        row, col = origin
        values: list[float] = []
        for other_row, other_col in cells:
            values += [(other_row - row) / scale, (other_col - col) / scale]
        return values

    def _observe(self, index: int) -> np.ndarray:
        own = self.positions[index]
        scale = self._scale()
        row, col = own
        values = [row / scale, col / scale, *self._flags]
        one_hot = [0.0] * self.n_agents
        one_hot[index] = 1.0
        values += one_hot
        for j, (other_row, other_col) in enumerate(self.positions):
            if j != index:
                values += [(other_row - row) / scale, (other_col - col) / scale]
        values += self._task_features(own)
        return np.array(values, dtype=np.float32)

    def state_key(self, obs: np.ndarray) -> tuple[int, ...]:
        """One agent's situation for per-agent counts: its cell and the task's flags.

        Example:
            >>> env = SwitchDoorEnv()
            >>> obs, _ = env.reset(seed=0)
            >>> env.state_key(obs["agent_0"]) == (*env.positions[0], 0, 0, 0)
            True
        """
        head = obs[: 2 + self.n_flags].tolist()
        scale = self._scale()
        key = [round(head[0] * scale), round(head[1] * scale)]
        for value in head[2:]:  # a loop, not a comprehension: count shapers call this per step
            key.append(1 if value > 0.5 else 0)
        return tuple(key)

    def team_state_key(self, state: np.ndarray) -> tuple[int, ...]:
        """The joint situation for team counts: every agent's cell and the task's flags."""
        return tuple(int(round(float(v))) for v in state[: 2 * self.n_agents + self.n_flags])

    def distances(self, start: Cell, blocked: Any = None) -> np.ndarray:
        """Breadth-first distances from ``start`` to every cell (``10**6``: unreachable).

        Args:
            start: the source cell.
            blocked: a predicate on cells (default: :meth:`_blocked` now).
        """
        blocked = blocked or self._blocked
        dist = np.full(self.walls.shape, _UNREACHABLE, dtype=np.int64)
        dist[start] = 0
        queue = deque([start])
        while queue:
            row, col = queue.popleft()
            for drow, dcol in MOVES[1:]:
                cell = (row + drow, col + dcol)
                if dist[cell] == _UNREACHABLE and not blocked(cell):
                    dist[cell] = dist[row, col] + 1
                    queue.append(cell)
        return dist

    def max_distance(self) -> int:
        """An upper bound of every finite distance: the number of free cells."""
        return self._free_count

    def _closeness(self, distance: float) -> float:
        bound = self._free_count
        return 1.0 - min(float(distance), bound) / bound

    def _closeness_grid(self, dmap: np.ndarray) -> list[list[float]]:
        """:meth:`_closeness` of every cell of a distance map, as nested lists (fast to index)."""
        return [[self._closeness(d) for d in row] for row in dmap.tolist()]

    def _best_matching(self, grids: list[list[list[float]]]) -> float:
        """Mean closeness of agents to targets (one closeness grid each), best assignment.

        Remembered per placement of the agents until the layout or the grids change (team
        potentials read it every step, and agents revisit placements).
        """
        positions = tuple(self.positions)
        if grids is self._match_grids:
            known = self._match_cache.get(positions)
            if known is not None:
                return known
        else:
            self._match_grids, self._match_cache = grids, {}
        if len(self._orders) == 0 or len(self._orders[0]) != len(grids):
            self._orders = list(itertools.permutations(range(self.n_agents), len(grids)))
        count = len(grids)
        best = 0.0
        for order in self._orders:
            total = 0.0
            for a, grid in zip(order, grids):
                row, col = positions[a]
                total += grid[row][col]
            value = total / count
            if value > best:  # max(best, value), without the call
                best = value
        self._match_cache[positions] = best
        return best

    # -- the scripted oracle team ------------------------------------------------------------
    def oracle_step(self) -> dict[str, int]:
        """The oracle team's next joint action: each agent steps towards its target.

        Example:
            >>> env = SwitchDoorEnv(size=7)
            >>> obs, _ = env.reset(seed=3)
            >>> while env.agents:
            ...     obs, rewards, *_ , infos = env.step(env.oracle_step())
            >>> infos["agent_0"]["is_success"], rewards["agent_1"]
            (True, 1.0)
        """
        actions = {}
        for i, target in enumerate(self._targets()):
            agent = self.possible_agents[i]
            if agent not in self.agents:
                continue
            dist = self.distances(target)
            row, col = self.positions[i]
            best, choice = dist[row, col], 0
            for action, (drow, dcol) in enumerate(MOVES):
                cell = (row + drow, col + dcol)
                if not self._blocked(cell) and dist[cell] < best:
                    best, choice = dist[cell], action
            actions[agent] = choice
        return actions

    def _free_cells(self, rows: range, cols: range) -> list[Cell]:
        return [(r, c) for r in rows for c in cols if not self.walls[r, c]]

    def _draw_cells(self, rng: np.random.Generator, cells: list[Cell], k: int) -> list[Cell]:
        picks = rng.choice(len(cells), size=k, replace=False)
        return [cells[int(i)] for i in picks]


class SwitchDoorEnv(CoopGridEnv):
    """Every agent must stand on a switch at once to open the door to the goal.

    ## Description
    A walled grid split by a vertical wall into a start room (left) and a goal room
    (right), joined by one door. The start room holds one switch per agent. The door
    opens, and stays open, on the first step at which every switch has an agent on it;
    then any agent that reaches the goal cell ends the episode with success. No agent can
    open the door alone, and nothing is paid before the goal: a sparse cooperative task.
    Each reset draws the wall's column, the door's row, the switches, the goal and the
    start cells from ``np_random``.

    ## Observation Space
    Per agent, ``Box(-1, 1, (2 + (1 + N) + N + 2(N-1) + 2N + 4,), float32)`` (N agents):
    its own cell (row, column) / (size-1); the flags door open and switch k pressed; a
    one-hot agent index (so one shared policy can tell the agents apart); every other
    agent's offset; every switch's, the door's and the goal's offset (all in grid cells /
    (size-1)). ``state()`` gives the global state in grid units.

    ## Action Space
    ``Discrete(5)`` per agent: stay, up, down, left, right. Moves into walls or a closed
    door leave the agent in place; agents may share a cell. A malformed action means
    stay and is flagged in ``infos[agent]["invalid_action"]``.

    ## Rewards
    Team reward: every agent gets 1.0 on the step the goal is reached (door open), else
    0.0. ``infos[agent]["reward_terms"] == {"extrinsic": reward}``.

    ## Termination
    Every agent terminates on success; every agent is truncated after ``max_cycles``
    steps. ``infos[agent]["is_success"]`` is the team's success at every step.

    ## Registered Configurations
    ``densegym/MA-SwitchDoor-N2-S7-v0`` (2 agents, 7×7, 50 steps),
    ``densegym/MA-SwitchDoor-N2-S9-v0`` (2 agents, 9×9, 80 steps),
    ``densegym/MA-SwitchDoor-N3-S9-v0`` (3 agents, 9×9, 80 steps).

    Example:
        >>> env = SwitchDoorEnv(size=7, n_agents=2, render_mode="ansi")
        >>> obs, infos = env.reset(seed=0)
        >>> env.agents, obs["agent_0"].shape, infos["agent_0"]["is_success"]
        (['agent_0', 'agent_1'], (17,), False)
        >>> print(env.render())
        #######
        #0..#.#
        #SS.#.#
        #1..#.#
        #...D.#
        #...#G#
        #######
    """

    metadata: ClassVar[dict[str, Any]] = {**CoopGridEnv.metadata, "name": "switch_door_v0"}

    def __init__(
        self,
        size: int = 7,
        n_agents: int = 2,
        max_cycles: int = 50,
        render_mode: str | None = None,
    ):
        self.n_flags = 1 + int(n_agents)
        self.switches: list[Cell] = []
        self.door: Cell = (0, 0)
        self.goal: Cell = (0, 0)
        self.door_open = False
        self.task = {
            "id": "SwitchDoor",
            "goal": (
                "Cooperate: every agent stands on a switch at the same time to open the door "
                "(it stays open), then any agent walks through the door to the goal."
            ),
            "actions": dict(enumerate(ACTION_NAMES)),
            "reward": "1 to every agent when the goal is reached, 0 otherwise",
            "info": {"is_success": "bool, the team's success"},
        }
        super().__init__(
            size=size, n_agents=n_agents, max_cycles=max_cycles, render_mode=render_mode
        )
        if (self.size - 2) * (max(3, self.size // 2 - 1) - 1) < 2 * self.n_agents:
            raise ValueError(f"a {self.size}x{self.size} grid has no room for {n_agents} agents")

    def _n_task_features(self) -> int:
        return 2 * self.n_agents + 4

    def _n_task_state(self) -> int:
        return 2 * self.n_agents + 4

    def _generate(self, rng: np.random.Generator) -> None:
        size = self.size
        self.walls = np.ones((size, size), dtype=bool)
        self.walls[1:-1, 1:-1] = False
        column = int(rng.integers(max(3, size // 2 - 1), min(size // 2 + 1, size - 3) + 1))
        self.walls[:, column] = True
        self.door = (int(rng.integers(1, size - 1)), column)
        left = self._free_cells(range(1, size - 1), range(1, column))
        right = self._free_cells(range(1, size - 1), range(column + 1, size - 1))
        cells = self._draw_cells(rng, left, 2 * self.n_agents)
        self.switches = cells[: self.n_agents]
        self.positions = cells[self.n_agents :]
        self.goal = right[int(rng.integers(len(right)))]
        self.door_open = False
        self._closed_maps = [self.distances(s, self._closed) for s in self.switches]
        self._goal_map = self.distances(self.goal, self._open)

    def _prepare(self) -> None:
        super()._prepare()
        self._closed_grids = [self._closeness_grid(m) for m in self._closed_maps]
        self._goal_grid = self._closeness_grid(self._goal_map)

    def _closed(self, cell: Cell) -> bool:
        return bool(self.walls[cell])

    def _open(self, cell: Cell) -> bool:
        return bool(self.walls[cell]) and cell != self.door

    def _blocked(self, cell: Cell) -> bool:
        return self._open(cell) if self.door_open else self._closed(cell)

    def pressed(self) -> list[bool]:
        """Whether each switch has an agent on it now."""
        occupied = set(self.positions)
        return [switch in occupied for switch in self.switches]

    def _update(self) -> bool:
        if all(self.pressed()):
            self.door_open = True
        return self.door_open and self.goal in self.positions

    def _task_flags(self) -> list[float]:
        return [float(self.door_open), *(float(p) for p in self.pressed())]

    def _task_features(self, cell: Cell) -> list[float]:
        return self._offsets(cell, [*self.switches, self.door, self.goal])

    def _task_state(self) -> list[float]:
        return [float(v) for target in [*self.switches, self.door, self.goal] for v in target]

    def _symbols(self) -> list[tuple[Cell, str]]:
        marks = [(s, "S") for s in self.switches]
        return [*marks, (self.door, "/" if self.door_open else "D"), (self.goal, "G")]

    def _targets(self) -> list[Cell]:
        if self.door_open:
            return [self.goal] * self.n_agents
        return list(self.switches)

    def progress(self, agent: str | None = None) -> float:
        """Φ in [0, 1]: up to 0.5 for closeness to the switches, then closeness to the goal.

        With the door closed, Φ is half the mean closeness ``1 - d/d_max`` (BFS distance)
        of the agents to the switches (team: best assignment; an agent: its own switch,
        same index); once the door is open, 0.5 plus half the closeness to the goal (team:
        the closest agent).

        Example:
            >>> env = SwitchDoorEnv()
            >>> _ = env.reset(seed=0)
            >>> 0.0 < env.progress() <= 0.5, 0.0 < env.progress("agent_1") <= 0.5
            (True, True)
        """
        if agent is not None:
            i = self.possible_agents.index(agent)
            row, col = self.positions[i]
            if not self.door_open:
                return 0.5 * self._closed_grids[i][row][col]
            return 0.5 + 0.5 * self._goal_grid[row][col]
        if not self.door_open:
            return 0.5 * self._best_matching(self._closed_grids)
        goal = self._goal_grid
        return 0.5 + 0.5 * max(goal[row][col] for row, col in self.positions)

    def oracle_remaining(self) -> int:
        """Steps the oracle needs at most: walk to the switches, then the nearest to the goal.

        (Fewer when an agent crosses another's switch while its owner already stands on
        its own: the door then opens early.)
        """
        if self.door_open:
            return int(min(self._goal_map[cell] for cell in self.positions))
        walk = max(int(m[p]) for m, p in zip(self._closed_maps, self.positions))
        return walk + int(min(self._goal_map[s] for s in self.switches))


class GridSpreadEnv(CoopGridEnv):
    """Every target cell must have an agent on it at the same time (a grid spread).

    ## Description
    A walled room with one target cell per agent and a few wall blocks inside; success
    comes on the first step at which every target is occupied. It is the grid analogue of
    MPE's cooperative navigation with the dense distance reward removed. Each reset draws
    the blocks, targets and start cells from ``np_random``; every free cell is reachable.

    ## Observation Space
    Per agent, ``Box(-1, 1, (2 + N + N + 2(N-1) + 2N,), float32)`` (N agents): its own
    cell / (size-1); the flags target k occupied; a one-hot agent index; every other
    agent's offset; every target's offset. ``state()`` gives the global state in grid
    units.

    ## Action Space
    ``Discrete(5)`` per agent: stay, up, down, left, right (see :class:`SwitchDoorEnv`).

    ## Rewards
    Team reward: every agent gets 1.0 on the step every target is covered, else 0.0.

    ## Termination
    Every agent terminates on success and is truncated after ``max_cycles`` steps.
    ``infos[agent]["is_success"]`` is the team's success.

    ## Registered Configurations
    ``densegym/MA-GridSpread-N2-S6-v0`` (2 agents, 6×6, 30 steps),
    ``densegym/MA-GridSpread-N3-S8-v0`` (3 agents, 8×8, 50 steps).

    Example:
        >>> env = GridSpreadEnv(size=6, n_agents=2)
        >>> obs, _ = env.reset(seed=1)
        >>> obs["agent_1"].shape, env.state().shape
        ((12,), (10,))
    """

    metadata: ClassVar[dict[str, Any]] = {**CoopGridEnv.metadata, "name": "grid_spread_v0"}

    def __init__(
        self,
        size: int = 6,
        n_agents: int = 2,
        max_cycles: int = 30,
        render_mode: str | None = None,
        blocks: int = 2,
    ):
        self.n_flags = int(n_agents)
        self.blocks = int(blocks)
        self.targets: list[Cell] = []
        self.task = {
            "id": "GridSpread",
            "goal": "Cooperate: cover every target cell with an agent at the same time.",
            "actions": dict(enumerate(ACTION_NAMES)),
            "reward": "1 to every agent when every target is covered, 0 otherwise",
            "info": {"is_success": "bool, the team's success"},
        }
        super().__init__(
            size=size, n_agents=n_agents, max_cycles=max_cycles, render_mode=render_mode
        )
        if (self.size - 2) ** 2 - self.blocks < 2 * self.n_agents:
            raise ValueError(f"a {self.size}x{self.size} grid has no room for {n_agents} agents")

    def _n_task_features(self) -> int:
        return 2 * self.n_agents

    def _n_task_state(self) -> int:
        return 2 * self.n_agents

    def _generate(self, rng: np.random.Generator) -> None:
        size = self.size
        self.walls = np.ones((size, size), dtype=bool)
        self.walls[1:-1, 1:-1] = False
        inner = self._free_cells(range(1, size - 1), range(1, size - 1))
        for cell in self._draw_cells(rng, inner, self.blocks):
            self.walls[cell] = True
            if not self._connected():
                self.walls[cell] = False  # keep every free cell reachable
        cells = self._draw_cells(rng, self._free_cells(range(size), range(size)), 2 * self.n_agents)
        self.targets = cells[: self.n_agents]
        self.positions = cells[self.n_agents :]
        self._maps = [self.distances(t) for t in self.targets]

    def _prepare(self) -> None:
        super()._prepare()
        self._grids = [self._closeness_grid(m) for m in self._maps]

    def _connected(self) -> bool:
        free = np.argwhere(~self.walls)
        start = (int(free[0][0]), int(free[0][1]))
        return bool((self.distances(start)[~self.walls] < _UNREACHABLE).all())

    def covered(self) -> list[bool]:
        """Whether each target has an agent on it now."""
        occupied = set(self.positions)
        return [target in occupied for target in self.targets]

    def _update(self) -> bool:
        return all(self.covered())

    def _task_flags(self) -> list[float]:
        return [float(c) for c in self.covered()]

    def _task_features(self, cell: Cell) -> list[float]:
        return self._offsets(cell, self.targets)

    def _task_state(self) -> list[float]:
        return [float(v) for target in self.targets for v in target]

    def _symbols(self) -> list[tuple[Cell, str]]:
        return [(t, "T") for t in self.targets]

    def _targets(self) -> list[Cell]:
        return list(self.targets)

    def progress(self, agent: str | None = None) -> float:
        """Φ in [0, 1]: mean closeness ``1 - d/d_max`` of agents to targets.

        Team: under the best assignment of agents to targets; an agent: to its own
        target (same index).
        """
        if agent is not None:
            i = self.possible_agents.index(agent)
            row, col = self.positions[i]
            return self._grids[i][row][col]
        return self._best_matching(self._grids)

    def oracle_remaining(self) -> int:
        """Steps the oracle needs: the longest walk of an agent to its target."""
        return max(int(m[p]) for m, p in zip(self._maps, self.positions))


def switch_door_aec(**kwargs: Any) -> Any:
    """The AEC form of :class:`SwitchDoorEnv` (PettingZoo's ``parallel_to_aec``).

    Example:
        >>> env = switch_door_aec(size=7)
        >>> env.reset(seed=0)
        >>> env.agent_selection
        'agent_0'
    """
    return parallel_to_aec(SwitchDoorEnv(**kwargs))


def grid_spread_aec(**kwargs: Any) -> Any:
    """The AEC form of :class:`GridSpreadEnv`."""
    return parallel_to_aec(GridSpreadEnv(**kwargs))
