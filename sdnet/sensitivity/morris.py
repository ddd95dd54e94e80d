"""Morris elementary-effects screening (SALib), reading its settings from the design."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sdnet.designs import Design
from sdnet.sensitivity._common import check_method, check_outputs

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MorrisResult", "morris"]


@dataclass(frozen=True, eq=False)
class MorrisResult:
    """Morris screening measures of one output.

    Attributes
    ----------
    names : tuple[str, ...]
        Factors, in design order.
    mu, mu_star, sigma : numpy.ndarray
        Mean, mean absolute value and standard deviation of the elementary effects, in the
        output's units per unit of the factor's *normalised* range (the change of the output
        when a factor moves by ``num_levels / (2 (num_levels - 1))`` of its range).
    mu_star_conf : numpy.ndarray
        Half-width of the bootstrap confidence interval of ``mu_star``.
    conf_level : float
        Confidence level of the intervals.
    """

    names: tuple[str, ...]
    mu: np.ndarray
    mu_star: np.ndarray
    sigma: np.ndarray
    mu_star_conf: np.ndarray
    conf_level: float

    def to_frame(self) -> pd.DataFrame:
        """Columns factor, mu, mu_star, sigma, mu_star_conf; sorted by mu_star, largest first."""
        import pandas as pd

        frame = pd.DataFrame({
            "factor": list(self.names), "mu": self.mu, "mu_star": self.mu_star,
            "sigma": self.sigma, "mu_star_conf": self.mu_star_conf,
        })
        return frame.sort_values("mu_star", ascending=False, kind="stable").reset_index(
            drop=True)

    def top(self, k: int) -> list[str]:
        """The ``k`` factors with the largest ``mu_star``."""
        order = np.argsort(-self.mu_star, kind="stable")
        return [self.names[i] for i in order[:k]]


def morris(
    design: Design, y: np.ndarray, *, num_resamples: int = 1000, conf_level: float = 0.95,
    seed: int | None = None,
) -> MorrisResult:
    """Morris screening of output ``y`` over a Morris design.

    Parameters
    ----------
    design : Design
        A ``"morris"`` design; its ``num_levels`` setting is used.
    y : numpy.ndarray
        ``(n_runs,)`` output of each run of the design.
    num_resamples : int
        Bootstrap resamples for the interval of ``mu_star``.
    conf_level : float
        Confidence level of the intervals.
    seed : int, optional
        Seed of the bootstrap (default: the design's seed).

    References
    ----------
    Morris (1991); Campolongo, Cariboni and Saltelli (2007), An effective screening design for
    sensitivity analysis of large models, Environmental Modelling & Software 22, 1509-1518.
    """
    from SALib.analyze import morris as salib_morris

    check_method(design, "morris", analysis="Morris screening")
    y = check_outputs(design, y)
    result = salib_morris.analyze(
        design.problem, np.array(design.unit), y, num_resamples=num_resamples,
        conf_level=conf_level, num_levels=int(design.settings["num_levels"]),
        seed=design.seed if seed is None else seed,
    )
    return MorrisResult(
        tuple(design.names),
        np.asarray(result["mu"], dtype=float),
        np.asarray(result["mu_star"], dtype=float),
        np.asarray(result["sigma"], dtype=float),
        np.asarray(result["mu_star_conf"], dtype=float),
        conf_level,
    )
