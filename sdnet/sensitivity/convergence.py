"""Convergence of Sobol' indices: indices and interval widths as the sample grows.

The sub-samples are the first ``n`` base rows of one Saltelli design (see
:meth:`sdnet.designs.Design.sobol_subset`), so no extra runs are needed.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sdnet.designs import Design
from sdnet.errors import ConvergenceWarning, InvalidValueError, UnreliableIndexWarning
from sdnet.sensitivity._common import check_method, check_outputs
from sdnet.sensitivity.sobol import IndicesResult, sobol

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ConvergenceResult", "convergence", "separates_top"]


@dataclass(frozen=True, eq=False)
class ConvergenceResult:
    """Sobol' indices at growing sample sizes.

    Attributes
    ----------
    sizes : tuple[int, ...]
        Base sample sizes ``n`` analysed, increasing; the last is the full design.
    results : tuple[IndicesResult, ...]
        The indices at each size.
    top_k : int
        How many top factors the ranking check looked at.
    rankable : bool
        True when, at the full size, the ``top_k`` factors by total index are separated from
        the rest: the lower end of the k-th factor's interval lies above the upper end of
        every other factor's interval. False means: run more samples before naming the top
        levers.
    """

    sizes: tuple[int, ...]
    results: tuple[IndicesResult, ...]
    top_k: int
    rankable: bool

    def to_frame(self) -> pd.DataFrame:
        """Long table: n, factor, S1, S1_conf, ST, ST_conf."""
        import pandas as pd

        frames = []
        for n, result in zip(self.sizes, self.results, strict=True):
            frame = result.to_frame()
            frame.insert(0, "n", n)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    def max_st_conf(self) -> np.ndarray:
        """The widest total-index interval (half-width) at each size."""
        return np.array([float(np.max(r.ST_conf[np.isfinite(r.ST_conf)]))
                         if np.isfinite(r.ST_conf).any() else np.nan for r in self.results])


def separates_top(result: IndicesResult, k: int) -> bool:
    """True when the top ``k`` factors by ST are separated from the rest by their intervals
    (never when one of them is unreliable, see :attr:`IndicesResult.problems`)."""
    st = np.nan_to_num(result.ST, nan=-np.inf)
    order = np.argsort(-st, kind="stable")
    top, rest = order[:k], order[k:]
    if not result.reliable[top].all():
        return False
    if k >= st.size:
        return True
    lowest_top = np.min(result.ST[top] - result.ST_conf[top])
    highest_rest = np.max(result.ST[rest] + result.ST_conf[rest])
    return bool(lowest_top > highest_rest)


def convergence(
    design: Design, y: np.ndarray, *, min_n: int = 16, top_k: int = 3,
    num_resamples: int = 200, conf_level: float = 0.95, metric: str = "y",
) -> ConvergenceResult:
    """Sobol' indices of ``y`` on sub-samples of sizes ``min_n, 2 min_n, ..., design.n``.

    Issues a :class:`~sdnet.errors.ConvergenceWarning` when the intervals at the full size are
    too wide to separate the ``top_k`` factors from the rest (see
    :attr:`ConvergenceResult.rankable`).

    Parameters
    ----------
    design : Design
        A ``"sobol"`` design.
    y : numpy.ndarray
        ``(n_runs,)`` output of each run.
    min_n : int
        The smallest base size (a power of 2).
    top_k : int
        How many top factors must be separable.
    metric : str
        Name of the output, for the warning's message.
    """
    check_method(design, "sobol", analysis="a convergence study")
    y = check_outputs(design, y)
    if min_n < 2 or min_n & (min_n - 1):
        raise InvalidValueError("min_n", min_n, expected="a power of 2, at least 2")
    sizes = []
    n = min(min_n, design.n)
    while n < design.n:
        sizes.append(n)
        n *= 2
    sizes.append(design.n)
    results = []
    with warnings.catch_warnings():
        # the indices at the full size are the study's own analysis, which warns; the
        # sub-samples would repeat it at every size
        warnings.simplefilter("ignore", UnreliableIndexWarning)
        for n in sizes:
            sub = design.sobol_subset(n)
            results.append(sobol(sub, y[: sub.n_runs], num_resamples=num_resamples,
                                 conf_level=conf_level))
    rankable = separates_top(results[-1], top_k)
    problems = [p for p in dict.fromkeys(results[-1].problems) if p]
    if not rankable and problems:
        warnings.warn(
            f"the Sobol' indices of {metric!r} at n={design.n} are unreliable "
            f"({'; '.join(problems)}), so the top {top_k} factors cannot be named",
            ConvergenceWarning, stacklevel=2,
        )
    elif not rankable:
        warnings.warn(
            f"the confidence intervals of the total Sobol' indices of {metric!r} at n={design.n} "
            f"are too wide to separate the top {top_k} factors from the rest; increase n",
            ConvergenceWarning, stacklevel=2,
        )
    return ConvergenceResult(tuple(sizes), tuple(results), top_k, rankable)
