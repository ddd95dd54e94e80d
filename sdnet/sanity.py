"""Sanity checks: flag runs that reach an outcome for the wrong reason.

A model card's ``[[sanity]]`` entries (:class:`sdnet.card.SanityCheck`) say which runs are
suspect: for flexnet, a network still alive ten years after the push while its members value
membership below zero, or one kept alive with near-zero trust and embeddedness (a treadmill,
not an embedded network). This module evaluates them on an ensemble's trajectories (pure
functions, no model knowledge) and summarises where the flagged runs are: how many per case
(region and policy) and the factor ranges they come from. Every study records the result in
``summary.json`` (``sanity``) and its report says it.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from sdnet.card import SanityCheck, SanityCondition
from sdnet.metrics import Trajectories, formed_threshold, value_at

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["flag_runs", "flags_by_check", "sanity_summary"]

_OPERATORS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_COMBINE = {"mean": np.mean, "min": np.min, "max": np.max}
#: A factor is named as "where" the flagged runs are when the middle 90% of their values
#: (5th to 95th percentile) spans at most this share of the factor's range over all runs.
NARROW_SHARE = 0.5
#: The flagged runs' quantiles that bound "where" (a few outliers do not hide a cluster).
WHERE_QUANTILES = (0.05, 0.95)


def _condition_holds(condition: SanityCondition, data: Trajectories,
                     at: np.ndarray) -> np.ndarray:
    values = np.stack([value_at(data[v], data.times, time=at) for v in condition.variables])
    combined = values[0] if len(values) == 1 else _COMBINE[condition.combine](values, axis=0)
    if condition.formed_of:
        bound = formed_threshold(data.constant(condition.formed_of))
    else:
        bound = np.full(combined.shape, condition.value)
    return np.asarray(_OPERATORS[condition.op](combined, bound), dtype=bool)


def flag_runs(check: SanityCheck, data: Trajectories) -> np.ndarray:
    """Which runs meet every condition of ``check`` ``after_push`` after the push ends.

    Parameters
    ----------
    check : SanityCheck
        From a model card's ``[[sanity]]``.
    data : Trajectories
        The runs' outputs (every variable the check reads), each run's push end and the
        constants its ``formed(...)`` bounds read. A time past the horizon is read at the
        horizon, as the after-push metrics do.

    Returns
    -------
    numpy.ndarray
        ``(n_runs,)`` bool; a run with a non-finite value in a condition is not flagged.
    """
    at = data.schedule_end() + check.after_push
    flagged = np.ones(data.n_runs, dtype=bool)
    with np.errstate(invalid="ignore"):
        for condition in check.when:
            flagged &= _condition_holds(condition, data, at)
    return flagged


def flags_by_check(checks: Sequence[SanityCheck], data: Trajectories, *,
                   ok: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """:func:`flag_runs` of every check, by name; failed runs (``ok`` False) are never
    flagged."""
    good = np.ones(data.n_runs, dtype=bool) if ok is None else np.asarray(ok, dtype=bool)
    return {check.name: flag_runs(check, data) & good for check in checks}


def _where(flagged: np.ndarray, factors: pd.DataFrame) -> list[dict[str, Any]]:
    """Factors whose middle 90% over the flagged runs is narrow against their whole range."""
    narrow = []
    for name in factors.columns:
        values = factors[name].to_numpy(dtype=float)
        span = float(np.nanmax(values) - np.nanmin(values)) if values.size else 0.0
        if span <= 0 or not flagged.any():
            continue
        low, high = (float(q) for q in np.nanquantile(values[flagged], WHERE_QUANTILES))
        share = (high - low) / span
        if share <= NARROW_SHARE:
            narrow.append({"factor": str(name), "low": low, "high": high,
                           "all_low": float(np.nanmin(values)),
                           "all_high": float(np.nanmax(values)), "share": share})
    return sorted(narrow, key=lambda item: item["share"])


def sanity_summary(checks: Sequence[SanityCheck], flags: Mapping[str, np.ndarray], *,
                   cases: np.ndarray, ok: np.ndarray,
                   factors: pd.DataFrame | None = None) -> dict[str, Any]:
    """What ``summary.json`` records of the checks: per check its plain words, how many runs
    it flagged of how many finished, per case, and where in the factor space they are.

    Parameters
    ----------
    checks : Sequence[SanityCheck]
        The card's checks (in its order).
    flags : Mapping[str, numpy.ndarray]
        :func:`flags_by_check`.
    cases : numpy.ndarray
        ``(n_runs,)`` the case (region and policy) of each run.
    ok : numpy.ndarray
        ``(n_runs,)`` True for runs that finished.
    factors : pandas.DataFrame, optional
        ``(n_runs, n_factors)`` the varied factors of each run: ``where`` lists those whose
        flagged runs' 5th-95th percentiles span at most half the factor's range (narrowest
        first).
    """
    cases = np.asarray(cases).astype(str)
    ok = np.asarray(ok, dtype=bool)
    summary: dict[str, Any] = {}
    for check in checks:
        flagged = np.asarray(flags[check.name], dtype=bool)
        by_case = {str(case): {"flagged": int((flagged & (cases == case)).sum()),
                               "runs": int((ok & (cases == case)).sum())}
                   for case in dict.fromkeys(cases)}
        summary[check.name] = {
            "plain": check.plain,
            "after_push": check.after_push,
            "conditions": [c.text for c in check.when],
            "flagged": int(flagged.sum()),
            "runs": int(ok.sum()),
            "by_case": by_case,
            "where": [] if factors is None or factors.empty else _where(flagged, factors),
        }
    return summary
