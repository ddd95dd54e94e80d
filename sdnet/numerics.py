"""The numerical guard: signs that a run's numbers cannot be trusted, found after every run.

Euler integration with too large a time step does not fail: it overshoots. A stock declared
``[0, ?]`` drains past zero (flexnet at ``--time-step 8`` ends with -80.5 members), or a
stock see-saws around its equilibrium from one step to the next with an amplitude that does
not shrink (the step factor ``1 - k * dt`` of a first-order outflow is below -1 once
``dt > 2 / k``). Both engines and PySD give the same wrong numbers, so nothing raises; this
module reads the trajectories afterwards and says what looks wrong:

* ``bounds``: a column leaves the range declared in the model file (``[0, ?]``, ``[0, 1]``);
* ``oscillation``: the step-to-step change of a stock flips sign at least
  :data:`MIN_FLIPS` times in a row without shrinking (each swing at least
  :data:`KEPT_AMPLITUDE` of the one before, and at least :data:`MIN_SWING` of the column's
  largest magnitude), the signature of an unstable or barely stable
  Euler step. A true oscillation whose period is a few saved steps long also matches: save more
  often (``saveper``) or halve the time step to tell the two apart.

The guard is pure (arrays in, findings out); the runner and the model facade attach its
findings to results and turn them into :class:`NumericalWarning`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sdnet.errors import SdnetWarning

__all__ = [
    "KEPT_AMPLITUDE",
    "MIN_FLIPS",
    "MIN_SWING",
    "Finding",
    "NumericalWarning",
    "check_trajectories",
    "describe_runs",
    "summarize",
    "warn",
]

#: Consecutive sign flips of the step-to-step change that make an oscillation finding.
MIN_FLIPS = 4
#: Each swing must keep at least this share of the previous one (a decaying see-saw is fine).
KEPT_AMPLITUDE = 0.9
#: Relative slack on declared bounds (round-off of a stock that drains exactly to a bound).
BOUND_SLACK = 1e-9
#: A see-saw smaller than this share of the column's largest magnitude is not reported: it
#: cannot change what a run says (flexnet v2 shows swings of 1e-4 of a perceived value).
MIN_SWING = 1e-3


class NumericalWarning(SdnetWarning):
    """A run's numbers look numerically wrong (out of declared bounds, or an Euler see-saw)."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One suspicious column of one run.

    Attributes
    ----------
    run : int
        Run number (0 for a single run).
    kind : {"bounds", "oscillation"}
        What was seen.
    column : str
        The column (Vensim name, ``Name[Element]`` for subscripted ones).
    time : float
        When it was first seen (model time units).
    value : float
        The worst value outside the bounds, or the largest swing of the oscillation.
    limit : float
        The bound that was crossed (NaN for an oscillation).
    """

    run: int
    kind: str
    column: str
    time: float
    value: float
    limit: float = math.nan

    def __str__(self) -> str:
        if self.kind == "bounds":
            side = "below its declared minimum" if self.value < self.limit else (
                "above its declared maximum")
            return (f"{self.column} reaches {self.value:.4g}, {side} {self.limit:g}, "
                    f"from time {self.time:g}")
        return (f"{self.column} see-saws from one saved step to the next from time "
                f"{self.time:g} (swings of {self.value:.3g})")


def check_trajectories(
    times: np.ndarray,
    values: np.ndarray,
    columns: Sequence[str],
    *,
    bounds: Mapping[str, tuple[float, float]],
    stocks: Iterable[str] = (),
    runs: Sequence[int] | None = None,
) -> list[Finding]:
    """Find out-of-bounds values and Euler see-saws in a block of runs.

    Parameters
    ----------
    times : ndarray (n_time,)
        Saved times.
    values : ndarray (n_runs, n_time, n_columns)
        The trajectories; non-finite values are ignored (the runner marks those runs failed).
    columns : sequence of str
        Column names of the last axis.
    bounds : mapping of column to (lower, upper)
        Declared ranges; NaN or infinite for an open side. Columns not listed have none.
    stocks : iterable of str
        Columns to test for oscillation (stocks integrate; auxiliaries may jump on purpose).
    runs : sequence of int, optional
        Run numbers of the rows (default 0, 1, ...).

    Returns
    -------
    list of Finding
        At most one finding per (run, column, kind), in run order.
    """
    values = np.asarray(values, dtype=float)
    times = np.asarray(times, dtype=float)
    n_runs = values.shape[0]
    numbers = np.arange(n_runs) if runs is None else np.asarray(runs)
    stocks = set(stocks)
    found: list[Finding] = []
    if values.ndim != 3 or values.shape[1] == 0 or n_runs == 0:
        return found
    limits = np.array([bounds.get(c, (math.nan, math.nan)) for c in columns],
                      dtype=float).reshape(len(columns), 2)
    see_saw = np.array([c in stocks for c in columns], dtype=bool) & (
        values.shape[1] >= MIN_FLIPS + 2)
    # cheap whole-block tests pick the runs that can have a finding; the exact tests below run
    # on those runs only (the same findings: every run they drop fails the exact test too)
    below, above, flips = _candidates(values, limits, see_saw)
    for index, column in enumerate(columns):
        lower, upper = limits[index]
        for limit, candidates, is_below in ((lower, below, True), (upper, above, False)):
            rows = np.flatnonzero(candidates[:, index]) if math.isfinite(limit) else ()
            if len(rows):
                found.extend(_outside(times, values[rows, :, index], column, numbers[rows],
                                      float(limit), below=is_below))
        rows = np.flatnonzero(flips[:, index] >= MIN_FLIPS) if see_saw[index] else ()
        if len(rows):
            series = values[rows, :, index]
            found.extend(_see_saws(times, series, _scale(series), column, numbers[rows]))
    found.sort(key=lambda f: (f.run, f.time))
    return found


#: From this many values a block's candidates are found by the compiled pass (when numba is
#: already loaded, as the engine's kernel loads it): one pass over the block instead of
#: about seven numpy passes per column.
_COMPILED_FROM = 1_000_000


def _candidates(values: np.ndarray, limits: np.ndarray, see_saw: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per run and column: a finite value below the lower limit, one above the upper limit
    (a value past limit -/+ slack is past the limit itself; NaN is skipped), and the number of
    sign flips of the step from one saved time to the next (a see-saw needs MIN_FLIPS; NaN
    never flips). Where a limit is NaN its mask is False; flips count 0 without see_saw."""
    import sys

    if values.size >= _COMPILED_FROM and "numba" in sys.modules:
        compiled = _compiled_candidates()
        if compiled is not None:
            n_runs, _, n_cols = values.shape
            below = np.zeros((n_runs, n_cols), dtype=bool)
            above = np.zeros((n_runs, n_cols), dtype=bool)
            flips = np.zeros((n_runs, n_cols), dtype=np.int64)
            compiled(np.ascontiguousarray(values), limits[:, 0].copy(), limits[:, 1].copy(),
                     see_saw, below, above, flips)
            return below, above, flips
    n_runs, _, n_cols = values.shape
    below = np.zeros((n_runs, n_cols), dtype=bool)
    above = np.zeros((n_runs, n_cols), dtype=bool)
    flips = np.zeros((n_runs, n_cols), dtype=np.int64)
    for index in range(n_cols):
        lower, upper = limits[index]
        if not (math.isfinite(lower) or math.isfinite(upper) or see_saw[index]):
            continue
        series = np.ascontiguousarray(values[:, :, index])
        if math.isfinite(lower):  # fmin and fmax skip NaN
            below[:, index] = np.fmin.reduce(series, axis=1) < lower
        if math.isfinite(upper):
            above[:, index] = np.fmax.reduce(series, axis=1) > upper
        if see_saw[index]:
            steps = np.diff(series, axis=1)
            flips[:, index] = np.count_nonzero(steps[:, 1:] * steps[:, :-1] < 0, axis=1)
    return below, above, flips


_COMPILED: list[Any] = []


def _compiled_candidates() -> Any:
    """The numba version of :func:`_candidates`' loop (compiled once, cached on disk), or
    None when numba cannot compile it."""
    if not _COMPILED:
        try:
            import numba

            _COMPILED.append(numba.njit(cache=True, nogil=True)(_candidates_loop))
        except Exception:  # numba broken or absent: the numpy passes
            _COMPILED.append(None)
    return _COMPILED[0]


def _candidates_loop(values: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                     see_saw: np.ndarray, below: np.ndarray, above: np.ndarray,
                     flips: np.ndarray) -> None:  # pragma: no cover - run compiled
    """:func:`_candidates` in one pass (the same comparisons, in float64)."""
    n_runs, n_time, n_cols = values.shape
    for r in range(n_runs):
        for t in range(n_time):
            for c in range(n_cols):
                v = values[r, t, c]
                if v < lower[c]:
                    below[r, c] = True
                if v > upper[c]:
                    above[r, c] = True
                if see_saw[c] and t >= 2:
                    before = values[r, t - 1, c] - values[r, t - 2, c]
                    after = v - values[r, t - 1, c]
                    if after * before < 0:
                        flips[r, c] += 1


def _scale(series: np.ndarray) -> np.ndarray:
    """Each row's largest finite magnitude (0 for none)."""
    finite = np.isfinite(series)
    return np.max(np.abs(np.where(finite, series, 0.0)), axis=1, initial=0.0)


def _outside(times: np.ndarray, series: np.ndarray, column: str, numbers: np.ndarray,
             limit: float, *, below: bool) -> list[Finding]:
    """Rows whose finite values pass ``limit`` by more than the slack (round-off)."""
    finite = np.isfinite(series)
    slack = BOUND_SLACK * np.maximum(_scale(series), 1.0)
    outside = finite & ((series < limit - slack[:, None]) if below
                        else (series > limit + slack[:, None]))
    found = []
    for row in np.flatnonzero(outside.any(axis=1)):
        where = outside[row]
        worst = series[row][where].min() if below else series[row][where].max()
        first = int(np.argmax(where))
        found.append(Finding(int(numbers[row]), "bounds", column, float(times[first]),
                             float(worst), float(limit)))
    return found


def _see_saws(times: np.ndarray, series: np.ndarray, scale: np.ndarray, column: str,
              numbers: np.ndarray) -> list[Finding]:
    """Runs whose step-to-step change flips sign MIN_FLIPS times in a row without shrinking."""
    steps = np.diff(series, axis=1)
    tiny = MIN_SWING * np.maximum(scale, 1e-300)[:, None]
    size = np.abs(steps)
    flips = (steps[:, 1:] * steps[:, :-1] < 0) & (size[:, 1:] > tiny) & (size[:, :-1] > tiny)
    kept = size[:, 1:] >= KEPT_AMPLITUDE * size[:, :-1]
    bad = flips & kept & np.isfinite(steps[:, 1:]) & np.isfinite(steps[:, :-1])
    found = []
    for row in np.flatnonzero(bad.sum(axis=1) >= MIN_FLIPS):
        streak, start = 0, -1
        for t, flag in enumerate(bad[row]):
            streak = streak + 1 if flag else 0
            if streak == MIN_FLIPS:
                start = t - MIN_FLIPS + 1
                break
        if start >= 0:
            swing = float(size[row, start:start + MIN_FLIPS + 1].max())
            found.append(Finding(int(numbers[row]), "oscillation", column,
                                 float(times[start]), swing))
    return found


def describe_runs(findings: Iterable[Finding], n_runs: int) -> list[str]:
    """One line per run (empty when the run has no finding): its first finding and how many."""
    lines = [""] * n_runs
    counts = [0] * n_runs
    for finding in findings:
        counts[finding.run] += 1
        if not lines[finding.run]:
            lines[finding.run] = str(finding)
    return [line if count < 2 else f"{line} (+{count - 1} more)"
            for line, count in zip(lines, counts, strict=True)]


def summarize(findings: Iterable[Finding], n_runs: int, *, time_step: float | None = None
              ) -> tuple[str, ...]:
    """Warnings for people: one line per (kind, column), with how many runs and the worst.

    ``time_step`` (when known) is named in the advice to halve it.
    """
    groups: dict[tuple[str, str], list[Finding]] = {}
    for finding in findings:
        groups.setdefault((finding.kind, finding.column), []).append(finding)
    advice = (f"the time step {time_step:g} may be too large; halve it (or check the model)"
              if time_step is not None else "halve the time step (or check the model)")
    lines = []
    for (kind, _column), group in groups.items():
        if kind == "bounds":
            worst = max(group, key=lambda f: abs(f.value - f.limit))
        else:
            worst = max(group, key=lambda f: f.value)
        runs = len({f.run for f in group})
        where = "" if n_runs == 1 else f" in {runs} of {n_runs} runs (worst: run {worst.run})"
        lines.append(f"{worst}{where}: {advice}")
    return tuple(lines)


def warn(summary: Sequence[str], *, source: str, limit: int = 3, stacklevel: int = 2) -> None:
    """Issue the summary lines as :class:`NumericalWarning` (at most ``limit``, then a count)."""
    for line in summary[:limit]:
        warnings.warn(NumericalWarning(f"{source}: {line}"), stacklevel=stacklevel + 1)
    if len(summary) > limit:
        warnings.warn(NumericalWarning(
            f"{source}: and {len(summary) - limit} more findings of the numerical guard "
            "(the result's flags list them all)"), stacklevel=stacklevel + 1)
