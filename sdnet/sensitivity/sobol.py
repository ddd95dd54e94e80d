"""Sobol' variance-based indices (SALib), reading ``calc_second_order`` from the design."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sdnet.designs import Design
from sdnet.sensitivity._common import check_method, check_outputs, quiet_salib

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["IndicesResult", "sobol"]


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

    def to_frame(self) -> pd.DataFrame:
        """Columns factor, S1, S1_conf, ST, ST_conf; sorted by ST, largest first."""
        import pandas as pd

        frame = pd.DataFrame({
            "factor": list(self.names), "S1": self.S1, "S1_conf": self.S1_conf,
            "ST": self.ST, "ST_conf": self.ST_conf,
        })
        return frame.sort_values("ST", ascending=False, kind="stable").reset_index(drop=True)

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
        """The ``k`` factors with the largest total index."""
        order = np.argsort(-np.nan_to_num(self.ST, nan=-np.inf), kind="stable")
        return [self.names[i] for i in order[:k]]


def sobol(
    design: Design, y: np.ndarray, *, num_resamples: int = 200, conf_level: float = 0.95,
    seed: int | None = None,
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

    Notes
    -----
    A constant output has no variance to apportion: its indices are NaN.

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
    return IndicesResult(
        "sobol", tuple(design.names),
        np.asarray(result["S1"], float), np.asarray(result["S1_conf"], float),
        np.asarray(result["ST"], float), np.asarray(result["ST_conf"], float),
        design.n, conf_level,
        np.asarray(result["S2"], float) if second else None,
        np.asarray(result["S2_conf"], float) if second else None,
    )
