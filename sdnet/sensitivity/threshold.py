"""Threshold search: the smallest push that sustains the network, by bisection.

The search is vectorised: ``sustains`` is called with one candidate value per problem (for
example one push duration per region preset and push amount), so each bisection step is one
ensemble run of the engine. It assumes the outcome is monotone in the searched value (model.md
BR8: long-run membership is non-decreasing in push duration) and brackets the threshold to
``tol``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sdnet.errors import InvalidValueError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ThresholdResult", "bisect_threshold"]


@dataclass(frozen=True, eq=False)
class ThresholdResult:
    """Thresholds of several problems.

    Attributes
    ----------
    threshold : numpy.ndarray
        ``(n_problems,)`` smallest value found to sustain (the upper end of the final bracket);
        ``lower`` itself when even the lower end sustains; NaN when not even the upper end does.
    bracket_low, bracket_high : numpy.ndarray
        The final bracket: ``bracket_low`` does not sustain, ``bracket_high`` does.
    found : numpy.ndarray
        ``(n_problems,)`` bool: a threshold lies within the searched range.
    evaluations : int
        How many times ``sustains`` was called.
    """

    threshold: np.ndarray
    bracket_low: np.ndarray
    bracket_high: np.ndarray
    found: np.ndarray
    evaluations: int

    def to_frame(self) -> pd.DataFrame:
        """Columns threshold, bracket_low, bracket_high, found (one row per problem)."""
        import pandas as pd

        return pd.DataFrame({
            "threshold": self.threshold, "bracket_low": self.bracket_low,
            "bracket_high": self.bracket_high, "found": self.found,
        })


def bisect_threshold(
    sustains: Callable[[np.ndarray], np.ndarray],
    bounds: tuple[float | np.ndarray, float | np.ndarray], *, tol: float,
    size: int | None = None, max_iter: int = 60,
) -> ThresholdResult:
    """Bisect for the smallest value at which ``sustains`` turns True, for many problems.

    Parameters
    ----------
    sustains : callable
        Takes ``(n_problems,)`` candidate values, returns ``(n_problems,)`` bools.
    bounds : (lower, upper)
        The searched range: numbers shared by every problem or arrays with one value per
        problem, in the searched value's units.
    tol : float
        Stop when every bracket is narrower than this (same units).
    size : int, optional
        Number of problems when ``lower`` and ``upper`` are both numbers (default 1).
    max_iter : int
        At most this many bisection steps.
    """
    lower, upper = bounds
    lo = np.asarray(lower, dtype=float)
    hi = np.asarray(upper, dtype=float)
    shape = np.broadcast_shapes(lo.shape, hi.shape, () if size is None else (size,))
    lo = np.broadcast_to(lo, shape).astype(float).reshape(-1)
    hi = np.broadcast_to(hi, shape).astype(float).reshape(-1)
    if not (np.isfinite(lo).all() and np.isfinite(hi).all() and (lo < hi).all()):
        raise InvalidValueError("bounds", [lower, upper], expected="finite lower < upper")
    if not tol > 0:
        raise InvalidValueError("tol", tol, expected="a positive number")

    def call(values: np.ndarray) -> np.ndarray:
        result = np.asarray(sustains(values), dtype=bool)
        if result.shape != values.shape:
            raise InvalidValueError(
                "sustains", f"result of shape {result.shape}",
                expected=f"one bool per problem, shape {values.shape}",
            )
        return result

    at_low, at_high = call(lo), call(hi)
    evaluations = 2
    found = at_high & ~at_low
    active = found.copy()
    steps = 0
    while active.any() and steps < max_iter:
        mid = np.where(active, 0.5 * (lo + hi), lo)
        ok = call(mid)
        evaluations += 1
        hi = np.where(active & ok, mid, hi)
        lo = np.where(active & ~ok, mid, lo)
        active = found & (hi - lo > tol)
        steps += 1
    threshold = np.where(found, hi, np.where(at_low, lo, np.nan))
    return ThresholdResult(threshold, np.where(found, lo, np.nan), np.where(found, hi, np.nan),
                           found | at_low, evaluations)
