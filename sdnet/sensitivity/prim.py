"""Scenario discovery with PRIM: which ranges of the factors sustain the network.

The Patient Rule Induction Method (Friedman and Fisher 1999) starts from the box holding every
run and repeatedly *peels* off the slice (an ``alpha`` share of the remaining runs at the low or
high end of one factor) whose removal leaves the box with the highest share of cases of
interest, until the box holds fewer than ``min_mass`` of the runs. Each step is recorded in the
peeling trajectory with its

* coverage: the share of all cases of interest that lie inside the box,
* density: the share of runs inside the box that are cases of interest,
* mass: the share of all runs inside the box.

Written here because the maintained implementation (EMA Workbench) pulls in scikit-learn,
statsmodels, seaborn and an optimisation library; this is peeling only (no pasting), as in
Bryant and Lempert (2010)'s use of PRIM for scenario discovery.

References
----------
Friedman, J. H. and Fisher, N. I. (1999). Bump hunting in high-dimensional data. Statistics
and Computing 9, 123-143.
Bryant, B. P. and Lempert, R. J. (2010). Thinking inside the box: a participatory,
computer-assisted approach to scenario discovery. Technological Forecasting and Social Change
77, 34-49.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sdnet.errors import InvalidValueError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PrimResult", "prim"]


@dataclass(frozen=True, eq=False)
class PrimResult:
    """A PRIM peeling trajectory and the box chosen from it.

    Attributes
    ----------
    names : tuple[str, ...]
        Factors (columns of the input).
    lower, upper : numpy.ndarray
        ``(n_steps, n_factors)`` box limits at each step (step 0 is the whole data range).
    coverage, density, mass : numpy.ndarray
        ``(n_steps,)`` see the module docstring.
    n_restricted : numpy.ndarray
        ``(n_steps,)`` how many factors the box restricts.
    chosen : int
        The step the reported box starts from: the highest density among steps with coverage
        at least ``min_coverage`` (the earliest such step on ties).
    box_lower, box_upper : numpy.ndarray
        ``(n_factors,)`` the reported box: the chosen step's box with the restrictions that
        barely matter dropped (see :func:`prim`'s ``prune``).
    box_coverage, box_density, box_mass : float
        Coverage, density and mass of the reported box (after pruning, so they may differ
        from the chosen step's): the numbers to quote with the box.
    """

    names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray
    coverage: np.ndarray
    density: np.ndarray
    mass: np.ndarray
    n_restricted: np.ndarray
    chosen: int
    box_lower: np.ndarray
    box_upper: np.ndarray
    box_coverage: float
    box_density: float
    box_mass: float

    def box(self, step: int | None = None) -> pd.DataFrame:
        """The restricted factors of the reported box (or of a step's box on the trajectory):
        columns factor, lower, upper."""
        import pandas as pd

        lower = self.box_lower if step is None else self.lower[step]
        upper = self.box_upper if step is None else self.upper[step]
        restricted = (lower > self.lower[0]) | (upper < self.upper[0])
        return pd.DataFrame({
            "factor": [n for n, r in zip(self.names, restricted, strict=True) if r],
            "lower": lower[restricted],
            "upper": upper[restricted],
        })

    def to_frame(self) -> pd.DataFrame:
        """The reported box (see :meth:`box`)."""
        return self.box()

    def trajectory(self) -> pd.DataFrame:
        """The peeling trajectory: step, coverage, density, mass, n_restricted, chosen (True
        at the one step the reported box was chosen from; the box's own numbers are
        ``box_coverage``, ``box_density`` and ``box_mass``)."""
        import pandas as pd

        steps = np.arange(self.coverage.size)
        return pd.DataFrame({
            "step": steps, "coverage": self.coverage,
            "density": self.density, "mass": self.mass, "n_restricted": self.n_restricted,
            "chosen": steps == self.chosen,
        })


def _peel_candidates(
    xs: np.ndarray, alpha: float
) -> list[tuple[str, float, np.ndarray]]:
    """The low and high peels of one factor's values inside the box."""
    candidates: list[tuple[str, float, np.ndarray]] = []
    unique = np.unique(xs)
    if unique.size < 2:
        return candidates
    low = float(np.quantile(xs, alpha))
    keep = xs >= low
    if keep.all():  # ties at the minimum: peel the smallest value off
        low = float(unique[1])
        keep = xs >= low
    candidates.append(("lower", low, keep))
    high = float(np.quantile(xs, 1.0 - alpha))
    keep = xs <= high
    if keep.all():
        high = float(unique[-2])
        keep = xs <= high
    candidates.append(("upper", high, keep))
    return candidates


def prim(
    x: pd.DataFrame | np.ndarray, y: np.ndarray, *, names: Sequence[str] | None = None,
    alpha: float = 0.05, min_mass: float = 0.05, min_coverage: float = 0.5,
    prune: float = 0.1,
) -> PrimResult:
    """Find a box of factor ranges where the cases of interest concentrate.

    Parameters
    ----------
    x : pandas.DataFrame or numpy.ndarray
        ``(n_runs, n_factors)`` factor values (a DataFrame gives the names).
    y : numpy.ndarray
        ``(n_runs,)`` True (or 1) for the cases of interest, e.g. the ``sustained`` metric.
    names : sequence of str, optional
        Factor names for an array ``x``.
    alpha : float
        Share of the box's runs peeled at each step (0 < alpha < 0.5).
    min_mass : float
        Peeling stops before the box would hold less than this share of all runs.
    min_coverage : float
        The chosen box is the densest with at least this coverage.
    prune : float
        After choosing, drop one restriction at a time (the one whose removal costs the least
        density) while each drop lowers the box's density by at most the share ``prune`` of
        it (0.1: from 0.50 to no less than 0.45). Peeling on noise restricts many factors a
        little, and a box is only useful when it names the few that matter (Bryant and
        Lempert 2010).
    """
    if hasattr(x, "columns"):
        names = [str(c) for c in x.columns]  # type: ignore[union-attr]
        x = x.to_numpy(dtype=float)  # type: ignore[union-attr]
    x = np.asarray(x, dtype=float)
    if x.ndim != 2:
        raise InvalidValueError("x", f"array of shape {x.shape}", expected="2 dimensions")
    names = [f"x{i}" for i in range(x.shape[1])] if names is None else list(names)
    if len(names) != x.shape[1]:
        raise InvalidValueError("names", names, expected=f"{x.shape[1]} names")
    y_arr = np.asarray(y)
    if y_arr.shape != (x.shape[0],) or not np.isin(y_arr, (0, 1)).all():
        raise InvalidValueError("y", f"array of shape {y_arr.shape}",
                                expected=f"{x.shape[0]} values, each True/False or 1/0")
    y_bool = y_arr.astype(bool)
    if not np.isfinite(x).all():
        raise InvalidValueError("x", "non-finite values", expected="finite factor values")
    if not 0 < alpha < 0.5:
        raise InvalidValueError("alpha", alpha, expected="a number in (0, 0.5)")
    if not 0 < min_mass < 1:
        raise InvalidValueError("min_mass", min_mass, expected="a number in (0, 1)")
    total_hits = int(y_bool.sum())
    if total_hits == 0:
        raise InvalidValueError("y", "no cases of interest",
                                expected="at least one True value to find a box around")
    n_runs = x.shape[0]
    inside = np.ones(n_runs, dtype=bool)
    lower, upper = x.min(axis=0), x.max(axis=0)
    initial_lower, initial_upper = lower.copy(), upper.copy()

    lowers, uppers, coverage, density, mass, restricted = [], [], [], [], [], []

    def record() -> None:
        hits = int(y_bool[inside].sum())
        lowers.append(lower.copy())
        uppers.append(upper.copy())
        coverage.append(hits / total_hits)
        density.append(hits / int(inside.sum()))
        mass.append(inside.sum() / n_runs)
        restricted.append(int(((lower > initial_lower) | (upper < initial_upper)).sum()))

    record()
    while density[-1] < 1.0:
        best: tuple[float, int, int, str, float, np.ndarray] | None = None
        rows = np.nonzero(inside)[0]
        for j in range(x.shape[1]):
            for side, bound, keep in _peel_candidates(x[rows, j], alpha):
                kept = int(keep.sum())
                if kept < min_mass * n_runs:
                    continue
                score = (float(y_bool[rows][keep].mean()), kept)
                if best is None or score > best[:2]:
                    best = (score[0], kept, j, side, bound, keep)
        if best is None:
            break
        _, _, j, side, bound, keep = best
        inside[rows[~keep]] = False
        if side == "lower":
            lower[j] = bound
        else:
            upper[j] = bound
        record()

    coverage_arr, density_arr = np.array(coverage), np.array(density)
    eligible = np.nonzero(coverage_arr >= min_coverage)[0]
    if eligible.size == 0:
        eligible = np.array([0])
    chosen = int(eligible[np.argmax(density_arr[eligible])])
    box_lower, box_upper = lowers[chosen].copy(), uppers[chosen].copy()

    def stats(lo: np.ndarray, hi: np.ndarray) -> tuple[float, float]:
        inside_box = np.all((x >= lo) & (x <= hi), axis=1)
        hits = int(y_bool[inside_box].sum())
        return hits / total_hits, hits / max(int(inside_box.sum()), 1)

    def box_mass(lo: np.ndarray, hi: np.ndarray) -> float:
        return float(np.all((x >= lo) & (x <= hi), axis=1).mean())

    box_coverage, box_density = stats(box_lower, box_upper)
    while True:
        restricted_now = np.nonzero((box_lower > initial_lower) | (box_upper < initial_upper))[0]
        best_drop: tuple[float, float, int] | None = None
        for j in restricted_now:
            lo, hi = box_lower.copy(), box_upper.copy()
            lo[j], hi[j] = initial_lower[j], initial_upper[j]
            cov, dens = stats(lo, hi)
            if best_drop is None or dens > best_drop[1]:
                best_drop = (cov, dens, int(j))
        if best_drop is None or best_drop[1] < box_density * (1.0 - prune):
            break
        box_coverage, box_density, j = best_drop
        box_lower[j], box_upper[j] = initial_lower[j], initial_upper[j]
    return PrimResult(
        tuple(names), np.array(lowers), np.array(uppers), coverage_arr, density_arr,
        np.array(mass), np.array(restricted), chosen, box_lower, box_upper,
        float(box_coverage), float(box_density), box_mass(box_lower, box_upper),
    )
