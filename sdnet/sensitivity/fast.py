"""Extended FAST indices (SALib), reading the interference factor ``M`` from the design."""

from __future__ import annotations

import numpy as np

from sdnet.designs import Design
from sdnet.sensitivity._common import check_method, check_outputs, quiet_salib
from sdnet.sensitivity.sobol import IndicesResult, checked

__all__ = ["efast"]


def efast(
    design: Design, y: np.ndarray, *, num_resamples: int = 200, conf_level: float = 0.95,
    seed: int | None = None, metric: str = "y",
) -> IndicesResult:
    """First-order and total indices of ``y`` over an eFAST design.

    Indices that cannot be trusted are flagged and warned about as by
    :func:`~sdnet.sensitivity.sobol` (``metric`` names the output in the warning).

    SALib estimates eFAST's confidence intervals by bootstrap, which its authors call
    indicative only (SALib issue 649): rank factors by eFAST, quote Sobol' intervals.

    References
    ----------
    Saltelli, Tarantola and Chan (1999), Technometrics 41(1), 39-56.
    """
    from SALib.analyze import fast as salib_fast

    check_method(design, "efast", analysis="eFAST indices")
    y = check_outputs(design, y)
    k = len(design.factors)
    if np.ptp(y) == 0:
        nan = np.full(k, np.nan)
        return IndicesResult("efast", tuple(design.names), nan, nan.copy(), nan.copy(),
                             nan.copy(), design.n, conf_level)
    with quiet_salib():
        result = salib_fast.analyze(
            design.problem, y, M=int(design.settings["M"]), num_resamples=num_resamples,
            conf_level=conf_level, seed=design.seed if seed is None else seed,
        )
    return checked(IndicesResult(
        "efast", tuple(design.names),
        np.asarray(result["S1"], float), np.asarray(result["S1_conf"], float),
        np.asarray(result["ST"], float), np.asarray(result["ST_conf"], float),
        design.n, conf_level,
    ), y, metric=metric)
