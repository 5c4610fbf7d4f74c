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
    ``sign(x)·log1p(|x|)`` view of ``blstats``.

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
        self.cnn = nn.Sequential(
            nn.Conv2d(embedding_dim, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        self.stats = nn.Sequential(nn.Linear(num_stats, 64), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(32 * height * width + 64, features_dim), nn.ReLU())

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        """Encode a batch of observations."""
        glyphs = observations["glyphs"].long().clamp_(0, self.embedding.num_embeddings - 1)
        embedded = self.embedding(glyphs).permute(0, 3, 1, 2)
        stats = observations["blstats"]
        stats = torch.sign(stats) * torch.log1p(stats.abs())
        return self.head(torch.cat([self.cnn(embedded), self.stats(stats)], dim=1))
