"""Feature extractors for densegym observation presets."""

from __future__ import annotations

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn


class MiniHackExtractor(BaseFeaturesExtractor):
    """A small CNN over embedded glyph ids plus an MLP over the bottom-line stats.

    Glyph ids arrive as exact integers stored in float32 (SB3 casts Box observations
    to float); they are embedded, convolved and concatenated with a squashed
    ``sign(x)·log1p(|x|)`` view of ``blstats``. When the observation has the whole map
    (``full_map=True`` envs, leaf ``map``), the map's glyphs share the embedding and pass
    through two stride-2 convolutions (21×79 → 4×19), cheap enough for CPU training.

    Args:
        observation_space: the Dict space of a MiniHack preset (``glyphs``, ``blstats``).
        embedding_dim: size of each glyph embedding.
        features_dim: size of the output feature vector.

    Example:
        >>> import gymnasium as gym, densegym, torch
        >>> env = gym.make("densegym/MiniHack-Room-5x5-v0")
        >>> extractor = MiniHackExtractor(env.observation_space)
        >>> obs = {k: torch.as_tensor(v)[None] for k, v in env.reset(seed=0)[0].items()}
        >>> extractor(obs).shape
        torch.Size([1, 128])
    """

    def __init__(
        self, observation_space: gym.spaces.Dict, embedding_dim: int = 16, features_dim: int = 128
    ):
        super().__init__(observation_space, features_dim)
        glyph_space = observation_space["glyphs"]
        height, width = glyph_space.shape
        num_glyphs = int(glyph_space.high.max()) + 1
        num_stats = observation_space["blstats"].shape[0]
        self.embedding = nn.Embedding(num_glyphs, embedding_dim)
        self.cnn = _two_convs(embedding_dim, 32, padding=1)
        self.stats = nn.Sequential(nn.Linear(num_stats, 64), nn.ReLU())
        map_features = 0
        self.map_cnn: nn.Module | None = None
        if "map" in observation_space.spaces:
            self.map_cnn = _two_convs(embedding_dim, 16, stride=2)
            rows, cols = observation_space["map"].shape
            with torch.no_grad():
                probe = torch.zeros(1, embedding_dim, rows, cols)
                map_features = int(self.map_cnn(probe).shape[1])
        self.head = nn.Sequential(
            nn.Linear(32 * height * width + 64 + map_features, features_dim), nn.ReLU()
        )

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        """Encode a batch of observations."""
        stats = observations["blstats"]
        stats = torch.sign(stats) * torch.log1p(stats.abs())
        parts = [self.cnn(self._embed(observations["glyphs"])), self.stats(stats)]
        if self.map_cnn is not None:
            parts.append(self.map_cnn(self._embed(observations["map"])))
        return self.head(torch.cat(parts, dim=1))

    def _embed(self, glyphs: torch.Tensor) -> torch.Tensor:
        ids = glyphs.long().clamp_(0, self.embedding.num_embeddings - 1)
        return self.embedding(ids).permute(0, 3, 1, 2)


def _two_convs(in_channels: int, channels: int, **conv: int) -> nn.Sequential:
    """Two 3×3 convolutions with ReLUs, flattened (``conv``: stride/padding of both)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, channels, kernel_size=3, **conv),
        nn.ReLU(),
        nn.Conv2d(channels, channels, kernel_size=3, **conv),
        nn.ReLU(),
        nn.Flatten(),
    )
