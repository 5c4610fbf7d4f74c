"""Multi-agent tasks as PettingZoo ``ParallelEnv``s: sparse cooperative grids and MPE.

The ids are registered in PettingZoo's registry by ``import densegym`` (when the
``multiagent`` extra is installed); make them with :func:`densegym.make_parallel` or
``pettingzoo.make("parallel", "densegym/MA-...")``.
"""
