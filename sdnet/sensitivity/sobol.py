"""Sobol' variance-based indices (SALib), reading ``calc_second_order`` from the design."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sdnet.designs import Design
from sdnet.errors import UnreliableIndexWarning
from sdnet.sensitivity._common import check_method, check_outputs, quiet_salib

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "FAR_OUTSIDE",
    "FEW_RUNS_SHARE",
    "UNINFORMATIVE_HALF_WIDTH",
    "IndicesResult",
    "checked",
    "index_problems",
    "output_problem",
    "sobol",
    "warn_unreliable",
]

UNINFORMATIVE_HALF_WIDTH: float = 1.0
"""An index whose interval half-width exceeds this (share of variance) says nothing: the
interval is more than twice as wide as the whole range 0-1 an index can take."""

FAR_OUTSIDE: float = 0.5
"""An estimate more than this beyond 0-1 (share of variance) is an estimation failure
whatever its interval (e.g. ST = 93.6 ± 172)."""

FEW_RUNS_SHARE: float = 0.001
"""An output whose largest squared deviations from the mean in at most this share of the runs
(at least one run) make up half its variance is dominated by a few runs: the variance
estimators, and their bootstrap intervals, then hinge on those runs."""


def output_problem(y: np.ndarray) -> str:
    """Why variance-based indices of output ``y`` cannot be trusted, or ``""``.

    Two cases: a variance at the level of rounding error (a nearly constant output), or half
    of the variance coming from a handful of runs (:data:`FEW_RUNS_SHARE`), as for a
    heavy-tailed metric that is near zero in almost every run. A constant output is not a
    problem here: its indices are NaN.
    """
    y = np.asarray(y, dtype=float)
    deviation = (y - y.mean()) ** 2
    total = float(deviation.sum())
    if y.size == 0 or total == 0.0:
        return ""
    scale = float(np.max(np.abs(y)))
    sd = float(np.sqrt(total / y.size))
    if sd <= 1e-9 * scale:
        return (f"its spread (standard deviation {sd:.2g}) is at the level of rounding error "
                f"for values up to {scale:.2g}")
    ordered = np.sort(deviation)[::-1]
    runs = int(np.searchsorted(np.cumsum(ordered) / total, 0.5)) + 1
    if runs <= max(1, int(FEW_RUNS_SHARE * y.size)):
        return (f"half of its variance comes from {runs} of {y.size} runs: a heavy-tailed "
                "or nearly constant output")
    return ""


def index_problems(
    s1: np.ndarray, s1_conf: np.ndarray, st: np.ndarray, st_conf: np.ndarray
) -> tuple[str, ...]:
    """For each factor, why its indices cannot be trusted, or ``""``.

    A share of variance lies in 0-1: an estimate outside that range by more than its
    confidence interval, or by more than :data:`FAR_OUTSIDE` whatever its interval, is an
    estimation failure, and an interval of half-width above
    :data:`UNINFORMATIVE_HALF_WIDTH` carries no information. A small negative S1 within its
    interval is noise around 0 and is not flagged; a merely wide interval is a caution, not
    a failure.
    """
    found = []
    for values in zip(s1, s1_conf, st, st_conf, strict=True):
        reasons = []
        for label, value, conf in (("S1", values[0], values[1]), ("ST", values[2], values[3])):
            half = float(conf) if np.isfinite(conf) else 0.0
            if not np.isfinite(value):
                reasons.append(f"{label} could not be estimated")
            elif value - half > 1.0 or value + half < 0.0:
                reasons.append(f"{label} = {value:.3g} ± {half:.2g} lies outside 0-1 by more "
                               "than its interval")
            elif value > 1.0 + FAR_OUTSIDE or value < -FAR_OUTSIDE:
                reasons.append(f"{label} = {value:.3g} ± {half:.3g} is far outside the "
                               "possible range 0-1")
            elif half > UNINFORMATIVE_HALF_WIDTH:
                reasons.append(f"the interval of {label} (± {half:.3g}) is more than twice "
                               "as wide as the possible range 0-1")
        found.append("; ".join(reasons))
    return tuple(found)


def warn_unreliable(result: IndicesResult, *, metric: str, output: str = "") -> None:
    """Issue an :class:`~sdnet.errors.UnreliableIndexWarning` naming what is unreliable."""
    label = "Sobol'" if result.method == "sobol" else "eFAST"
    if output:
        text = (f"the {label} indices of {metric!r} are unreliable: {output}; do not rank "
                "factors on them")
    else:
        bad = [f"{n} ({why})" for n, why in zip(result.names, result.problems, strict=True)
               if why]
        if not bad:
            return
        text = (f"the {label} indices of {metric!r} are unreliable for {'; '.join(bad)}; "
                "these factors are not ranked")
    warnings.warn(text, UnreliableIndexWarning, stacklevel=3)


@dataclass(frozen=True, eq=False)
class IndicesResult:
    """First-order and total variance-based indices of one output (Sobol' or eFAST).

    Attributes
    ----------
    method : str
        ``"sobol"`` or ``"efast"``.
    names : tuple[str, ...]
        Factors, in design order.
    S1, S1_conf, ST, ST_conf : numpy.ndarray
        First-order and total indices (share of the output's variance, dmnl) with the
        half-widths of their bootstrap confidence intervals.
    S2, S2_conf : numpy.ndarray or None
        ``(n_factors, n_factors)`` second-order indices (upper triangle), when computed.
    n : int
        Base sample size of the design.
    conf_level : float
        Confidence level of the intervals.
    problems : tuple[str, ...]
        For each factor, why its indices cannot be trusted (``""`` when they can): see
        :func:`index_problems` and :func:`output_problem`. Empty when not checked.
    """

    method: str
    names: tuple[str, ...]
    S1: np.ndarray
    S1_conf: np.ndarray
    ST: np.ndarray
    ST_conf: np.ndarray
    n: int
    conf_level: float
    S2: np.ndarray | None = None
    S2_conf: np.ndarray | None = None
    problems: tuple[str, ...] = ()

    @property
    def reliable(self) -> np.ndarray:
        """``(n_factors,)`` True where the factor's indices can be ranked."""
        if not self.problems:
            return np.ones(len(self.names), dtype=bool)
        return np.array([not why for why in self.problems], dtype=bool)

    def to_frame(self) -> pd.DataFrame:
        """Columns factor, S1, S1_conf, ST, ST_conf, reliable, problem; the reliable factors
        first, sorted by ST, largest first, then the unreliable ones (not ranked)."""
        import pandas as pd

        frame = pd.DataFrame({
            "factor": list(self.names), "S1": self.S1, "S1_conf": self.S1_conf,
            "ST": self.ST, "ST_conf": self.ST_conf, "reliable": self.reliable,
            "problem": list(self.problems) if self.problems else [""] * len(self.names),
        })
        return frame.sort_values(["reliable", "ST"], ascending=[False, False],
                                 kind="stable").reset_index(drop=True)

    def second_order_frame(self) -> pd.DataFrame:
        """Columns factor_1, factor_2, S2, S2_conf (empty when S2 was not computed)."""
        import pandas as pd

        rows = []
        if self.S2 is not None and self.S2_conf is not None:
            k = len(self.names)
            for i in range(k):
                for j in range(i + 1, k):
                    rows.append((self.names[i], self.names[j], self.S2[i, j],
                                 self.S2_conf[i, j]))
        return pd.DataFrame(rows, columns=["factor_1", "factor_2", "S2", "S2_conf"])

    def top(self, k: int) -> list[str]:
        """The ``k`` factors with the largest total index, reliable ones first."""
        order = np.lexsort((-np.nan_to_num(self.ST, nan=-np.inf), ~self.reliable))
        return [self.names[i] for i in order[:k]]


def sobol(
    design: Design, y: np.ndarray, *, num_resamples: int = 200, conf_level: float = 0.95,
    seed: int | None = None, metric: str = "y",
) -> IndicesResult:
    """Sobol' indices of output ``y`` over a Saltelli design (Jansen/Saltelli estimators).

    Parameters
    ----------
    design : Design
        A ``"sobol"`` design; its ``calc_second_order`` setting decides whether S2 is computed.
    y : numpy.ndarray
        ``(n_runs,)`` output of each run.
    num_resamples : int
        Bootstrap resamples for the confidence intervals.
    conf_level : float
        Confidence level of the intervals.
    seed : int, optional
        Seed of the bootstrap (default: the design's seed).
    metric : str
        Name of the output, for the warning's message.

    Notes
    -----
    A constant output has no variance to apportion: its indices are NaN. Indices that cannot
    be trusted (outside 0-1 beyond their interval, an interval wider than 0-1, or an output
    whose variance comes from a handful of runs) are flagged in ``problems`` and the frame's
    ``reliable`` column, and an :class:`~sdnet.errors.UnreliableIndexWarning` says why.

    References
    ----------
    Saltelli, A., Annoni, P., Azzini, I., Campolongo, F., Ratto, M. and Tarantola, S. (2010).
    Variance based sensitivity analysis of model output. Computer Physics Communications 181,
    259-270.
    """
    from SALib.analyze import sobol as salib_sobol

    check_method(design, "sobol", analysis="Sobol' indices")
    y = check_outputs(design, y)
    second = bool(design.settings.get("calc_second_order", False))
    k = len(design.factors)
    if np.ptp(y) == 0:
        nan = np.full(k, np.nan)
        s2 = np.full((k, k), np.nan) if second else None
        return IndicesResult("sobol", tuple(design.names), nan, nan.copy(), nan.copy(),
                             nan.copy(), design.n, conf_level, s2,
                             None if s2 is None else s2.copy())
    with quiet_salib():
        result = salib_sobol.analyze(
            design.problem, y, calc_second_order=second, num_resamples=num_resamples,
            conf_level=conf_level, seed=design.seed if seed is None else seed,
        )
    return checked(IndicesResult(
        "sobol", tuple(design.names),
        np.asarray(result["S1"], float), np.asarray(result["S1_conf"], float),
        np.asarray(result["ST"], float), np.asarray(result["ST_conf"], float),
        design.n, conf_level,
        np.asarray(result["S2"], float) if second else None,
        np.asarray(result["S2_conf"], float) if second else None,
    ), y, metric=metric)


def checked(result: IndicesResult, y: np.ndarray, *, metric: str) -> IndicesResult:
    """``result`` with its ``problems`` filled in, warning when there are any."""
    from dataclasses import replace

    output = output_problem(y)
    problems = (
        tuple(output for _ in result.names) if output
        else index_problems(result.S1, result.S1_conf, result.ST, result.ST_conf)
    )
    flagged = replace(result, problems=problems)
    warn_unreliable(flagged, metric=metric, output=output)
    return flagged
