"""Small CPU-sized torch networks for intrinsic rewards: observation encoders and action codecs.

An :class:`ObsPreprocessor` turns a numpy batch of any Box, Discrete, MultiBinary or
MultiDiscrete observation, or a Dict of those, into tensors; an :class:`ObsEncoder`
maps them to a feature vector. Leaves the env declares categorical (a
:class:`~densegym.spaces.CategoricalBox`, e.g. MiniHack's glyph crop: exact integer ids
stored as floats) go through an ``nn.Embedding``; every other leaf is flattened, scaled
to about [-1, 1] and passes through a linear layer. The parts are concatenated and mixed
by a small MLP.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch import nn
from torch.nn import functional as F

from densegym.rewards.intrinsic.batches import Batch
from densegym.spaces import CategoricalBox

#: Width of the per-glyph embedding.
GLYPH_DIM = 4
#: Width of the embedding of a Discrete observation.
DISCRETE_DIM = 16

#: Encoder inputs: one tensor per observation leaf (key ``""`` for a non-Dict space).
Tensors = dict[str, torch.Tensor]


def is_categorical(space: spaces.Space) -> bool:
    """Tell whether a leaf holds ids to embed: the env declared it a ``CategoricalBox``.

    Example:
        >>> is_categorical(CategoricalBox(0, 9, (3,))), is_categorical(spaces.Box(0, 9, (3,)))
        (True, False)
    """
    return isinstance(space, CategoricalBox)


def _bounds(space: spaces.Space) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(space, spaces.Box):
        return space.low.ravel().astype(np.float64), space.high.ravel().astype(np.float64)
    if isinstance(space, spaces.MultiBinary):
        size = int(np.prod(space.shape))
        return np.zeros(size), np.ones(size)
    if isinstance(space, spaces.MultiDiscrete):
        nvec = space.nvec.ravel().astype(np.float64)
        return np.zeros_like(nvec), nvec - 1
    raise ValueError(f"unsupported observation space {space}")


class _Leaf:
    """How one observation leaf becomes an encoder input (done in numpy: cheaper per op)."""

    def __init__(self, key: str, space: spaces.Space):
        self.key = key
        if isinstance(space, spaces.Discrete) or is_categorical(space):
            self.kind = "ids"
            if isinstance(space, spaces.Discrete):
                self.offset, self.num_ids, self.size = int(space.start), int(space.n), 1
            else:
                assert isinstance(space, CategoricalBox)
                self.offset, self.num_ids = 0, space.num_ids
                self.size = int(np.prod(space.shape))
            return
        self.kind = "vector"
        low, high = _bounds(space)
        self.size = len(low)
        self.bounded = np.isfinite(low) & np.isfinite(high) & (high > low)
        self.low = np.where(self.bounded, low, 0.0).astype(np.float32)
        self.scale = (2.0 / np.where(self.bounded, high - low, 1.0)).astype(np.float32)

    def __call__(self, value: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        x = np.asarray(value)
        x = x.reshape(len(x), -1)
        if x.dtype.kind in "fc":
            finite = np.isfinite(x)
            ok = finite.all(axis=1)
            if not ok.all():
                x = np.where(finite, x, 0.0)
        else:
            ok = np.ones(len(x), dtype=bool)
        if self.kind == "ids":
            ids = np.clip(x - self.offset, 0, self.num_ids - 1).astype(np.int64)
            return torch.from_numpy(ids), ok
        x = x.astype(np.float32)
        if self.bounded.all():
            out = (x - self.low) * self.scale - 1.0
        else:
            squashed = np.sign(x) * np.log1p(np.abs(x))
            if self.bounded.any():
                out = np.where(self.bounded, (x - self.low) * self.scale - 1.0, squashed)
            else:
                out = squashed
        return torch.from_numpy(np.ascontiguousarray(out, dtype=np.float32)), ok


class ObsPreprocessor:
    """Turn a numpy batch of observations into encoder inputs and a finite-row mask.

    Categorical leaves (and Discrete ones) become clipped int64 ids; every other leaf is
    flattened and scaled to about [-1, 1]: by its bounds where they are finite, by
    ``sign(x)·log1p(|x|)`` where they are not. Non-finite values are zeroed and their
    rows flagged in the mask (callers turn those rows' outputs into NaN and leave
    them out of training).

    Args:
        space: Box, Discrete, MultiBinary or MultiDiscrete, or a Dict of those.
        keys: the Dict leaves to encode (default: all); other leaves are ignored, e.g.
            MiniHack's whole-map leaf ``map`` when the crop and blstats suffice.

    Raises:
        ValueError: an unsupported space (Text, Tuple, Graph, ...), or ``keys`` that are
            not leaves of a Dict space.

    Example:
        >>> from gymnasium import spaces
        >>> prepare = ObsPreprocessor(spaces.Box(-1.0, 1.0, (2,)))
        >>> inputs, ok = prepare(np.array([[0.0, 1.0], [np.nan, 0.0]]))
        >>> inputs[""].tolist(), ok.tolist()
        ([[0.0, 1.0], [0.0, 0.0]], [True, False])
    """

    def __init__(self, space: spaces.Space, keys: Sequence[str] | None = None):
        is_dict = isinstance(space, spaces.Dict)
        leaves = dict(space.spaces) if is_dict else {"": space}
        if keys is not None:
            keys = [keys] if isinstance(keys, str) else list(keys)
            if not is_dict:
                raise ValueError(f"obs_keys={keys!r} needs a Dict observation space, got {space}")
            missing = sorted(set(keys) - set(leaves))
            if missing or not keys:
                raise ValueError(
                    f"obs_keys must name some of the observation's leaves {sorted(leaves)}; "
                    f"got {keys!r}"
                )
            leaves = {key: leaves[key] for key in keys}
        self.is_dict = is_dict
        self.leaves = [_Leaf(key, leaves[key]) for key in sorted(leaves)]

    def __call__(self, batch: Batch) -> tuple[Tensors, np.ndarray]:
        """Return the encoder inputs of ``batch`` and its finite-row mask."""
        inputs: Tensors = {}
        ok: np.ndarray | None = None
        for leaf in self.leaves:
            value = batch[leaf.key] if self.is_dict else batch
            inputs[leaf.key], leaf_ok = leaf(value)
            ok = leaf_ok if ok is None else ok & leaf_ok
        assert ok is not None
        return inputs, ok


def cat_tensors(first: Tensors, second: Tensors) -> Tensors:
    """Concatenate two batches of encoder inputs along the batch axis."""
    return {key: torch.cat([first[key], second[key]]) for key in first}


def index_tensors(inputs: Tensors, index: torch.Tensor) -> Tensors:
    """Select rows of a batch of encoder inputs."""
    return {key: value[index] for key, value in inputs.items()}


class MLP(nn.Module):
    """Linear → ReLU → Linear, written with functional calls (fewer Python layers per step).

    Example:
        >>> tuple(MLP(4, 8, 2)(torch.zeros(3, 4)).shape)
        (3, 2)
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int):
        super().__init__()
        self.hidden = nn.Linear(in_dim, hidden_dim)
        self.out = nn.Linear(hidden_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the MLP's output."""
        hidden = torch.relu(F.linear(x, self.hidden.weight, self.hidden.bias))
        return F.linear(hidden, self.out.weight, self.out.bias)


def mlp(in_dim: int, hidden_dim: int, out_dim: int) -> MLP:
    """Build a Linear → ReLU → Linear network."""
    return MLP(in_dim, hidden_dim, out_dim)


class ObsEncoder(nn.Module):
    """Encode a batch of prepared observations into ``out_dim`` features.

    Id leaves (glyph grids, Discrete values) are embedded (``GLYPH_DIM`` per glyph,
    ``DISCRETE_DIM`` per Discrete value) and flattened; they are concatenated with the
    scaled vector leaves and mapped by a Linear → ReLU → Linear MLP. Few, wide
    layers: at batch size 1 the cost is the number of torch calls, not their size.

    Args:
        prepare: the :class:`ObsPreprocessor` of the observation space.
        out_dim: feature size.
        hidden_dim: width of the hidden layer.

    Example:
        >>> from gymnasium import spaces
        >>> space = spaces.Dict({
        ...     "glyphs": CategoricalBox(0, 5976, (9, 9), np.float32),
        ...     "blstats": spaces.Box(-np.inf, np.inf, (27,), np.float32)})
        >>> prepare = ObsPreprocessor(space)
        >>> encoder = ObsEncoder(prepare, out_dim=16, hidden_dim=32)
        >>> inputs, ok = prepare({k: np.zeros((4, *s.shape), np.float32)
        ...                       for k, s in space.items()})
        >>> tuple(encoder(inputs).shape)
        (4, 16)
    """

    def __init__(self, prepare: ObsPreprocessor, out_dim: int, hidden_dim: int):
        super().__init__()
        self.keys = [leaf.key for leaf in prepare.leaves]
        self.embeddings = nn.ModuleDict()
        in_dim = 0
        for i, leaf in enumerate(prepare.leaves):
            if leaf.kind == "ids":
                width = GLYPH_DIM if leaf.size > 1 else DISCRETE_DIM
                self.embeddings[str(i)] = nn.Embedding(leaf.num_ids, width)
                in_dim += leaf.size * width
            else:
                in_dim += leaf.size
        self.mlp = MLP(in_dim, hidden_dim, out_dim)

    def forward(self, x: Tensors) -> torch.Tensor:
        """Return the features of a batch from :class:`ObsPreprocessor`."""
        parts = []
        for i, key in enumerate(self.keys):
            value = x[key]
            if str(i) in self.embeddings:
                value = F.embedding(value, self.embeddings[str(i)].weight).flatten(1)
            parts.append(value)
        return self.mlp(parts[0] if len(parts) == 1 else torch.cat(parts, dim=1))


def init_weights(module: nn.Module, generator: torch.Generator) -> None:
    """Initialise every layer from ``generator`` alone, so a seed fixes the weights.

    Linear weights are orthogonal with gain √2 and zero bias; embeddings are N(0, 1).
    """
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.orthogonal_(layer.weight, gain=math.sqrt(2.0), generator=generator)
            nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.Embedding):
            nn.init.normal_(layer.weight, 0.0, 1.0, generator=generator)


def _as_floats(array: np.ndarray) -> np.ndarray:
    """A numeric array as floats; entries that are not numbers (text, None) become NaN."""
    if array.dtype.kind in "biuf":
        return array.astype(np.float64, copy=False)

    def number(value: Any) -> float:
        try:
            return float(value)
        except (TypeError, ValueError):
            return float("nan")

    return np.vectorize(number, otypes=[np.float64])(array) if array.size else array.astype(float)


class ActionCodec:
    """Actions as network inputs (one-hot or flat floats) and inverse-dynamics targets.

    Args:
        space: a Discrete or Box action space.
        owner: shaper name for error messages.

    Raises:
        ValueError: any other action space.

    Example:
        >>> from gymnasium import spaces
        >>> codec = ActionCodec(spaces.Discrete(3))
        >>> actions, ok = codec.to_tensor(np.array([2, 0]))
        >>> codec.features(actions).tolist(), codec.dim
        ([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], 3)
    """

    def __init__(self, space: spaces.Space, owner: str = "shaper"):
        if isinstance(space, spaces.Discrete):
            self.discrete = True
            self.start = int(space.start)
            self.dim = int(space.n)
        elif isinstance(space, spaces.Box):
            self.discrete = False
            self.start = 0
            self.dim = int(np.prod(space.shape))
        else:
            raise ValueError(f"{owner}: needs a Discrete or Box action space, got {space}")

    def to_tensor(self, actions: np.ndarray) -> tuple[torch.Tensor, np.ndarray]:
        """Actions as a tensor (class indices or flat floats) and a mask of usable rows.

        A row is unusable (masked, encoded as the first action or zeros) when it is not
        finite, not a number at all (a malformed text action an env flagged), or, for a
        Discrete space, not one of its actions.

        Example:
            >>> from gymnasium import spaces
            >>> _, ok = ActionCodec(spaces.Discrete(3)).to_tensor(np.array(["oops", 1, 7], object))
            >>> ok.tolist()
            [False, True, False]
        """
        array = _as_floats(np.asarray(actions))
        if self.discrete:
            array = array.reshape(len(array))
            ids = np.where(np.isfinite(array), array, self.start) - self.start
            ok = np.isfinite(array) & (ids == np.round(ids)) & (ids >= 0) & (ids < self.dim)
            ids = np.where(ok, ids, 0).astype(np.int64)
            return torch.from_numpy(ids), ok
        flat = array.reshape(len(array), -1).astype(np.float32)
        ok = np.isfinite(flat).all(axis=1)
        return torch.from_numpy(np.nan_to_num(flat, nan=0.0, posinf=0.0, neginf=0.0)), ok

    def features(self, actions: torch.Tensor) -> torch.Tensor:
        """Float features of actions from :meth:`to_tensor`."""
        if self.discrete:
            return nn.functional.one_hot(actions, self.dim).float()
        return actions

    def inverse_loss(self, prediction: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Per-sample inverse-dynamics loss: cross-entropy (Discrete) or squared error (Box)."""
        if self.discrete:
            return nn.functional.cross_entropy(prediction, actions, reduction="none")
        return ((prediction - actions) ** 2).mean(dim=1)
