"""Language reasoning environments: multi-step problems solved one step per action.

Registered ids (see each class's docstring for kwargs):

* ``densegym/Arithmetic-v0`` — :class:`~densegym.envs.reasoning.arithmetic.ArithmeticEnv`
* ``densegym/WordProblems-v0`` — :class:`~densegym.envs.reasoning.word_problems.WordProblemsEnv`
* ``densegym/Countdown-v0`` — :class:`~densegym.envs.reasoning.countdown.CountdownEnv`
* ``densegym/GSM8K-v0`` — :class:`~densegym.envs.reasoning.gsm8k.GSM8KEnv` (needs ``path=``)

Modules: ``base`` (the env), ``task`` and ``chain``/``countdown`` (tasks, checkers,
oracles), ``parsing`` and ``expr`` (reading steps), ``curriculum``, and one module
per family. Provers that roll these envs out live in :mod:`densegym.envs.reasoning.provers`.

Example:
    >>> import gymnasium as gym, densegym
    >>> env = gym.make("densegym/WordProblems-v0", difficulty=1)
    >>> obs, info = env.reset(seed=0)
    >>> _, _, _, _, info = env.step(env.unwrapped.oracle_step())
    >>> info["progress"] > 0, info["invalid_step"]
    (True, False)
"""

from densegym.envs.reasoning.arithmetic import ArithmeticEnv
from densegym.envs.reasoning.base import ReasoningEnv, ReasoningState
from densegym.envs.reasoning.countdown import CountdownEnv
from densegym.envs.reasoning.gsm8k import GSM8KEnv
from densegym.envs.reasoning.word_problems import WordProblemsEnv

__all__ = [
    "ArithmeticEnv",
    "CountdownEnv",
    "GSM8KEnv",
    "ReasoningEnv",
    "ReasoningState",
    "WordProblemsEnv",
]
