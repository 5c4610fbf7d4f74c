"""Multi-agent tasks as PettingZoo ``ParallelEnv``s: sparse cooperative grids, MPE, text games.

The text games (``MA-Referential-v0``, ``MA-Negotiation-v0``) take turns and speak text:
one line per turn, bad lines flagged and counted (:mod:`.textgame`, :mod:`.referential`,
:mod:`.negotiation`); ``densegym.agents.llm.team_policy`` plays them with one LLM per agent.

The ids are registered in PettingZoo's registry by ``import densegym`` (when the
``multiagent`` extra is installed); make them with :func:`densegym.make_parallel` or
``pettingzoo.make("parallel", "densegym/MA-...")``.
"""
