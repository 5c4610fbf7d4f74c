"""Names shared by every densegym run: TensorBoard scalars and run directories.

Every run writes the same scalar names so TensorBoard overlays compare like with
like, and one directory per (env, shaping, agent, seed) so TensorBoard groups them.

Example:
    >>> run_name("densegym/MiniHack-Room-5x5-v0", "count", "ppo", 1)
    'MiniHack-Room-5x5-v0/count/ppo-seed1'
    >>> reward_tag("potential"), shaping_time_tag("potential")
    ('reward/potential', 'shaping/potential_ms_per_step')
"""

from __future__ import annotations

import re

EXTRINSIC = "extrinsic"
SUCCESS_RATE = "episode/success_rate"
EPISODE_LENGTH = "episode/length"
EPISODES = "episode/count"
LLM_TOKENS = "llm/tokens"
LLM_CALLS = "llm/calls"
FPS = "time/fps"
# Language-model trainers (``lm:*``): loss, KL to the reference, mean group return,
# generated tokens so far (cumulative), share of clipped ratios.
LM_LOSS = "lm/loss"
LM_KL = "lm/kl"
LM_REWARD = "lm/reward"
LM_TOKENS = "lm/tokens"
LM_CLIP_FRACTION = "lm/clip_fraction"


def reward_tag(term: str) -> str:
    """Scalar name of a reward term's per-episode sum (``reward/<term>``)."""
    return f"reward/{term}"


def shaping_time_tag(term: str) -> str:
    """Scalar name of a shaper's cost (``shaping/<term>_ms_per_step``)."""
    return f"shaping/{term}_ms_per_step"


def env_slug(env_id: str) -> str:
    """The env id without its namespace, safe as a folder name."""
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", env_id.split("/")[-1])


def run_name(env_id: str, shaping_label: str, agent: str, seed: int) -> str:
    """Relative run directory ``<env>/<shaping>/<agent>-seed<seed>``."""
    return f"{env_slug(env_id)}/{shaping_label}/{agent}-seed{seed}"
