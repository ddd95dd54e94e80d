"""Time-resolved indices: the sensitivity of an output at every saved time.

They show how the drivers of, say, membership change before, during and after the push.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sdnet.designs import Design
from sdnet.errors import InvalidValueError, UnreliableIndexWarning
from sdnet.sensitivity.fast import efast
from sdnet.sensitivity.sobol import IndicesResult, sobol

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TimeResolvedResult", "time_resolved"]


@dataclass(frozen=True, eq=False)
class TimeResolvedResult:
    """Indices of one output at each of several times.

    Attributes
    ----------
    times : numpy.ndarray
        ``(n_times,)`` the times analysed (Year).
    results : tuple[IndicesResult, ...]
        The indices at each time; NaN where the output does not vary across runs (e.g.
        before the push starts, when every run is still at its initial value).
    """

    times: np.ndarray
    results: tuple[IndicesResult, ...]

    def to_frame(self) -> pd.DataFrame:
        """Long table: time, factor, S1, S1_conf, ST, ST_conf."""
        import pandas as pd

        frames = []
        for time, result in zip(self.times, self.results, strict=True):
            frame = result.to_frame()
            frame.insert(0, "time", float(time))
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)


def time_resolved(
    design: Design, values: np.ndarray, *, times: np.ndarray, every: float | None = None,
    num_resamples: int = 100, conf_level: float = 0.95,
) -> TimeResolvedResult:
    """Sobol' (or eFAST, by the design's method) indices of ``values`` at each saved time.

    Parameters
    ----------
    design : Design
        A ``"sobol"`` or ``"efast"`` design.
    values : numpy.ndarray
        ``(n_runs, n_time)`` an output of every run at the saved times.
    times : numpy.ndarray
        ``(n_time,)`` the saved times (Year).
    every : float, optional
        Analyse only saved times that are multiples of ``every`` years from the first (default:
        every saved time). ``every=1`` gives yearly indices from a quarterly save.
    num_resamples, conf_level
        As for :func:`~sdnet.sensitivity.sobol`.
    """
    values, times = np.asarray(values, dtype=float), np.asarray(times, dtype=float)
    if values.ndim != 2 or values.shape != (design.n_runs, times.size):
        raise InvalidValueError(
            "values", f"array of shape {values.shape}",
            expected=f"shape (n_runs, n_time) = ({design.n_runs}, {times.size})",
        )
    keep = np.ones(times.size, dtype=bool)
    if every is not None:
        if not every > 0:
            raise InvalidValueError("every", every, expected="a positive number of years")
        steps = (times - times[0]) / every
        keep = np.isclose(steps, np.round(steps), atol=1e-9)
    analyse = efast if design.method == "efast" else sobol
    with warnings.catch_warnings():
        # one warning per time would drown the others; each result keeps its flags
        warnings.simplefilter("ignore", UnreliableIndexWarning)
        results = tuple(
            analyse(design, values[:, i], num_resamples=num_resamples, conf_level=conf_level)
            for i in np.nonzero(keep)[0]
        )
    return TimeResolvedResult(times[keep], results)
