"""Decay schedules for a shaper's ``coef`` (kept for imports; they live in the term pipeline).

:class:`CoefSchedule` is defined in :mod:`densegym.rewards.terms`, whose
:class:`~densegym.rewards.terms.TermPipeline` owns the step counter it is read at.
"""

from __future__ import annotations

from densegym.rewards.terms import CoefSchedule

__all__ = ["CoefSchedule"]
