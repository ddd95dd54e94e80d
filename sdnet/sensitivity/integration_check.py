"""Integration check: do the metrics change at half the time step or with RK4?

Sampled rates can push Euler integration toward instability. A study re-runs a sample of its
runs at ``time_step / 2`` and with RK4 (the experiment layer does the runs); this module
compares the metrics. The change of a metric is the largest absolute difference over the
sample divided by the largest absolute value of the metric in the base runs, so a metric that
is near zero in a few runs does not blow up the ratio. A flag metric (``sustained``) that
flips in any run changes by 100%: that run sits on a threshold the time step decides.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sdnet.errors import IntegrationWarning, InvalidValueError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["IntegrationCheckResult", "integration_check", "relative_change"]


@dataclass(frozen=True, eq=False)
class IntegrationCheckResult:
    """Largest change of each metric (dmnl share) and whether it is within the tolerance.

    ``rk4_checked`` is False when the runs could not be repeated with RK4 (a study that PySD
    runs, Euler only): ``max_change_rk4`` is then NaN and ``ok`` reads the half step alone.
    """

    metrics: tuple[str, ...]
    max_change_half_dt: np.ndarray
    max_change_rk4: np.ndarray
    tolerance: float
    n_runs: int
    rk4_checked: bool = True

    @property
    def ok(self) -> np.ndarray:
        """Per metric: both changes (the half step's alone without RK4) within the
        tolerance."""
        half = np.nan_to_num(self.max_change_half_dt, nan=np.inf) <= self.tolerance
        if not self.rk4_checked:
            return half
        return half & (np.nan_to_num(self.max_change_rk4, nan=np.inf) <= self.tolerance)

    def to_frame(self) -> pd.DataFrame:
        """Columns metric, max_change_half_dt, max_change_rk4, ok."""
        import pandas as pd

        return pd.DataFrame({
            "metric": list(self.metrics), "max_change_half_dt": self.max_change_half_dt,
            "max_change_rk4": self.max_change_rk4, "ok": self.ok,
        })


def relative_change(base: np.ndarray, other: np.ndarray) -> float:
    """``max |other - base| / max |base|`` over the finite pairs (0 when both are all zero)."""
    base, other = np.asarray(base, float), np.asarray(other, float)
    if base.shape != other.shape:
        raise InvalidValueError("other", f"shape {other.shape}",
                                expected=f"the base shape {base.shape}")
    finite = np.isfinite(base) & np.isfinite(other)
    if not finite.any():
        return float("nan")
    diff = float(np.max(np.abs(other[finite] - base[finite])))
    scale = float(np.max(np.abs(base[finite])))
    if scale == 0.0:
        return 0.0 if diff == 0.0 else float("inf")
    return diff / scale


def integration_check(
    base: Mapping[str, np.ndarray], *, half_dt: Mapping[str, np.ndarray],
    rk4: Mapping[str, np.ndarray] | None, tolerance: float = 0.01,
) -> IntegrationCheckResult:
    """Compare metrics of the same runs at the study's time step, at half of it and with RK4.

    Issues an :class:`~sdnet.errors.IntegrationWarning` naming the metrics whose change
    exceeds ``tolerance`` (default 1%).

    Parameters
    ----------
    base, half_dt, rk4 : Mapping[str, numpy.ndarray]
        Metric name -> ``(n_runs,)`` values of the same runs; ``rk4`` None when the runs
        could not be repeated with RK4 (the check then reads the half step alone).
    tolerance : float
        Largest acceptable relative change (share, 0.01 = 1%).
    """
    names = tuple(base)
    checked = rk4 is not None
    rk4 = rk4 if rk4 is not None else {m: np.full(np.shape(base[m]), np.nan) for m in base}
    for label, other in (("half_dt", half_dt), ("rk4", rk4)):
        missing = sorted(set(names) - set(other))
        if missing:
            raise InvalidValueError(label, missing, expected="the same metrics as base")
    half = np.array([relative_change(base[m], half_dt[m]) for m in names])
    rk = np.array([relative_change(base[m], rk4[m]) for m in names])
    n_runs = int(np.asarray(next(iter(base.values()))).shape[0]) if names else 0
    result = IntegrationCheckResult(names, half, rk, tolerance, n_runs, rk4_checked=checked)
    bad = [m for m, ok in zip(names, result.ok, strict=True) if not ok]
    if bad:
        worst = ", ".join(
            f"{m} ({h if np.isnan(r) else max(h, r):.1%})"
            for m, h, r, ok in zip(names, half, rk, result.ok, strict=True) if not ok)
        warnings.warn(
            f"integration check: metrics change by more than {tolerance:.0%} at half the "
            f"time step or with RK4: {worst}; use a smaller time_step",
            IntegrationWarning, stacklevel=2,
        )
    return result
