"""Point fit: the one parameter set whose run best matches an observed time series.

For users with time series rather than a few targets. The series is a CSV file with a ``time``
column and one column per observed model output (either spelling of its name; one element of a
subscripted variable as ``Members[Micro]``); empty cells are missing observations. The fit
minimises the sum of squared scaled residuals

``sum_k sum_t ((simulated_k(t) - observed_k(t)) / scale_k) ** 2``

over the varied parameters within their declared ranges, where ``scale_k`` is the standard
deviation of column *k*'s observations (so outputs of different units weigh alike) unless
given. The simulated value at an observation time is interpolated linearly between saved
times.

Two optimisers (scipy):

* ``"least_squares"`` (default): trust-region reflective (:func:`scipy.optimize.least_squares`)
  from the model file's values (or ``start``); a local method, fast on smooth problems. Its
  Jacobian is computed by forward differences with one vectorized ensemble of ``d + 1`` runs.
* ``"differential_evolution"``: a global search (:func:`scipy.optimize.differential_evolution`,
  each generation one vectorized ensemble), then polished by ``least_squares`` from the best
  member. Slower; for fits with several local minima.

Parameters are optimised in the unit hypercube of their declared ranges, so their scales do
not matter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sdnet.errors import InvalidValueError, SdnetError, TargetsError, UnknownVariableError
from sdnet.files import file_sha256
from sdnet.metrics import value_at
from sdnet.policy import Push, Region
from sdnet.results import Provenance
from sdnet.runner import ranged_factors, run_ensemble

if TYPE_CHECKING:
    import pandas as pd

    from sdnet.designs import Factor
    from sdnet.model import Model

__all__ = ["FIT_METHODS", "PointFit", "Series", "load_series", "point_fit"]

FIT_METHODS = ("least_squares", "differential_evolution")
#: Forward-difference step of the Jacobian, in the unit hypercube of the declared ranges.
_STEP = 1e-6


@dataclass(frozen=True, eq=False)
class Series:
    """An observed time series: times and one column per model output.

    Attributes
    ----------
    times : numpy.ndarray
        ``(n_time,)`` observation times (model time units), increasing.
    columns : tuple[str, ...]
        Vensim names of the observed outputs (model columns).
    values : numpy.ndarray
        ``(n_time, n_columns)`` observations; NaN where missing.
    path : Path or None
        The CSV file read, if any.
    sha256 : str or None
        Its SHA-256.
    """

    times: np.ndarray
    columns: tuple[str, ...]
    values: np.ndarray
    path: Path | None = None
    sha256: str | None = None

    def __post_init__(self) -> None:
        self.times.setflags(write=False)
        self.values.setflags(write=False)


def load_series(path: str | Path, model: Model) -> Series:
    """Read an observed time series (CSV: ``time``, then one column per output).

    Raises
    ------
    TargetsError
        The file is missing or malformed: names the file, the column, the bad value and what
        is valid.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise TargetsError("time series file not found (give the path of a .csv file with a "
                           "time column and one column per model output)", path=path,
                           value=str(path))
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise TargetsError(f"cannot read it as CSV: {error}", path=path) from error
    columns = [str(c).strip() for c in frame.columns]
    frame.columns = columns
    lowered = {c.lower(): c for c in columns}
    if "time" not in lowered:
        raise TargetsError(f"no 'time' column (columns: {', '.join(columns)})", path=path,
                           key="time")
    time_column = lowered["time"]
    outputs = [c for c in columns if c != time_column]
    if not outputs:
        raise TargetsError("no output column besides time (add one column per observed "
                           "model output)", path=path)
    times = _numeric(frame[time_column], path, time_column)
    if np.isnan(times).any():
        raise TargetsError("has an empty or non-numeric time", path=path, key=time_column)
    if times.size < 1 or np.any(np.diff(times) <= 0):
        raise TargetsError("times must increase strictly", path=path, key=time_column,
                           value=times.tolist()[:5])
    names = []
    for column in outputs:
        try:
            found = model.columns([column])
        except UnknownVariableError as error:
            raise TargetsError(str(error), path=path, key=column, value=column) from None
        except SdnetError as error:
            raise TargetsError(str(error), path=path, key=column, value=column) from None
        if len(found) != 1:
            raise TargetsError(f"{column!r} has {len(found)} elements; name one of "
                               f"{', '.join(found)}", path=path, key=column, value=column)
        names.append(found[0])
    values = np.column_stack([_numeric(frame[c], path, c) for c in outputs])
    for i, column in enumerate(outputs):
        if np.isfinite(values[:, i]).sum() < 1:
            raise TargetsError("has no observation", path=path, key=column)
    return Series(np.array(times), tuple(names), values, path=path, sha256=file_sha256(path))


def _numeric(column: Any, path: Path, name: str) -> np.ndarray:
    import pandas as pd

    converted = pd.to_numeric(column, errors="coerce")
    bad = converted.isna() & column.notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise TargetsError(f"row {row + 1} is not a number: {column.iloc[row]!r}", path=path,
                           key=name, value=column.iloc[row])
    values = converted.to_numpy(dtype=float)
    if np.isinf(values).any():
        raise TargetsError("has an infinite value", path=path, key=name)
    return values


@dataclass(frozen=True, eq=False)
class PointFit:
    """The result of :func:`point_fit`.

    Attributes
    ----------
    factors : tuple[Factor, ...]
        The fitted parameters with their declared ranges.
    values : numpy.ndarray
        ``(n_parameters,)`` best-fitting values.
    start : numpy.ndarray
        Where the local search started.
    cost : float
        Half the sum of squared scaled residuals at the best values (scipy's cost).
    rmse : Mapping[str, float]
        Per observed column, the root-mean-square residual in the output's units.
    scale : Mapping[str, float]
        The scale each column's residuals were divided by.
    success : bool
        The optimiser's own verdict.
    message : str
        The optimiser's message.
    evaluations : int
        Model runs made.
    method : str
        ``"least_squares"`` or ``"differential_evolution"``.
    series : Series
        The observations.
    fitted : numpy.ndarray
        ``(n_time, n_columns)`` the best run at the observation times.
    provenance : Provenance
    """

    factors: tuple[Factor, ...]
    values: np.ndarray
    start: np.ndarray
    cost: float
    rmse: Mapping[str, float]
    scale: Mapping[str, float]
    success: bool
    message: str
    evaluations: int
    method: str
    series: Series
    fitted: np.ndarray
    provenance: Provenance

    @property
    def params(self) -> dict[str, float]:
        """Best values: Python name -> value."""
        return {f.name: float(v) for f, v in zip(self.factors, self.values, strict=True)}

    def to_frame(self) -> pd.DataFrame:
        """One row per parameter: parameter, value, start, lower, upper, at_bound."""
        import pandas as pd

        rows = []
        for f, value, start in zip(self.factors, self.values, self.start, strict=True):
            span = f.upper - f.lower
            at_bound = min(value - f.lower, f.upper - value) < 1e-6 * span
            rows.append({"parameter": f.name, "value": float(value), "start": float(start),
                         "lower": f.lower, "upper": f.upper, "at_bound": bool(at_bound)})
        return pd.DataFrame(rows)

    def series_frame(self) -> pd.DataFrame:
        """time, then per column the observed and fitted values (``<name>``,
        ``<name> (fitted)``)."""
        import pandas as pd

        frame = pd.DataFrame({"time": self.series.times})
        for i, name in enumerate(self.series.columns):
            frame[name] = self.series.values[:, i]
            frame[f"{name} (fitted)"] = self.fitted[:, i]
        return frame


class _Objective:
    """Scaled residuals of many parameter sets at once (one vectorized ensemble per call)."""

    def __init__(self, model: Model, series: Series, factors: Sequence[Factor],
                 scale: np.ndarray, options: Mapping[str, Any]) -> None:
        self.model = model
        self.series = series
        self.names = [f.name for f in factors]
        self.lower = np.array([f.lower for f in factors])
        self.width = np.array([f.upper - f.lower for f in factors])
        self.scale = scale
        self.options = dict(options)
        self.mask = np.isfinite(series.values)
        self.evaluations = 0

    def to_values(self, unit: np.ndarray) -> np.ndarray:
        return self.lower + np.clip(unit, 0.0, 1.0) * self.width

    def simulate(self, unit: np.ndarray) -> np.ndarray:
        """``(n_sets, n_time, n_columns)`` simulated values at the observation times."""
        unit = np.atleast_2d(unit)
        values = self.to_values(unit)
        table = {name: values[:, i] for i, name in enumerate(self.names)}
        ensemble = run_ensemble(self.model, table, variables=list(self.series.columns),
                                progress=False, **self.options)
        self.evaluations += unit.shape[0]
        times = ensemble.dataset["time"].to_numpy()
        out = np.empty((unit.shape[0], self.series.times.size, len(self.series.columns)))
        for k, column in enumerate(self.series.columns):
            trajectories = ensemble.outputs(column).to_numpy()
            for j, t in enumerate(self.series.times):
                out[:, j, k] = value_at(trajectories, times, time=float(t))
        out[~np.asarray(ensemble.ok, dtype=bool)] = np.nan
        return out

    def residuals(self, unit: np.ndarray) -> np.ndarray:
        """``(n_sets, n_observations)`` scaled residuals (failed runs get a large value)."""
        simulated = self.simulate(unit)
        scaled = (simulated - self.series.values[None]) / self.scale[None, None, :]
        flat = scaled[:, self.mask]
        return np.where(np.isfinite(flat), flat, 1e6)


def point_fit(
    model: Model | str | Path,
    series: Series | str | Path,
    *,
    vary: Sequence[str] | None = None,
    region: str | Region | None = None,
    push: Push | None = None,
    params: Mapping[str, float] | None = None,
    method: str = "least_squares",
    start: Mapping[str, float] | None = None,
    scale: Mapping[str, float] | None = None,
    seed: int = 0,
    max_evaluations: int = 5000,
    final_time: float | None = None,
    time_step: float | None = None,
    saveper: float | None = None,
) -> PointFit:
    """Fit the varied parameters to an observed time series by least squares.

    Parameters
    ----------
    model : Model or path
        The model.
    series : Series or path
        The observations (:func:`load_series`).
    vary : sequence of str, optional
        Parameters to fit (either spelling); default every ``uncertain`` constant with a
        declared range, else every constant with one.
    region, push, params
        The scenario of the observations (as in :func:`sdnet.run_ensemble`).
    method : {"least_squares", "differential_evolution"}, default "least_squares"
        Local trust-region least squares, or a global differential evolution polished by it.
    start : Mapping[str, float], optional
        Starting values of the local search (default: the model file's values).
    scale : Mapping[str, float], optional
        Residual scale per observed column (its units); default the column's standard
        deviation (1 if it has none).
    seed : int, default 0
        Seed of differential evolution.
    max_evaluations : int, default 5000
        Budget of model runs (approximate).
    final_time, time_step, saveper : float, optional
        Simulation control; ``final_time`` defaults to the later of the model's and the last
        observation time.

    Returns
    -------
    PointFit

    Raises
    ------
    InvalidValueError
        A bad option.
    TargetsError
        A bad series file.
    """
    from scipy import optimize

    from sdnet.model import Model, load_model

    if not isinstance(model, Model):
        model = load_model(model)
    if not isinstance(series, Series):
        series = load_series(series, model)
    if method not in FIT_METHODS:
        raise InvalidValueError("method", method, expected="one of " + ", ".join(FIT_METHODS))
    if isinstance(max_evaluations, bool) or not isinstance(max_evaluations, int) \
            or max_evaluations < 10:
        raise InvalidValueError("max_evaluations", max_evaluations, expected="an integer >= 10")
    factors = tuple(_fit_factors(model, vary))
    start_values = _start(model, factors, start, params)
    scales = _scales(series, scale)
    horizon = max(model.default_control("final_time"), float(series.times[-1]))
    options = {
        "region": region, "push": push, "params": params,
        "final_time": final_time if final_time is not None else horizon,
        "time_step": time_step, "saveper": saveper,
    }
    if float(series.times[-1]) > options["final_time"] + 1e-9:
        raise InvalidValueError("final_time", options["final_time"],
                                expected=f"at least the last observation time "
                                         f"{series.times[-1]:g}")
    objective = _Objective(model, series, factors, scales, options)
    width = np.array([f.upper - f.lower for f in factors])
    lower = np.array([f.lower for f in factors])
    x0 = np.clip((start_values - lower) / width, 0.0, 1.0)

    if method == "differential_evolution":
        def cost(unit_columns: np.ndarray) -> np.ndarray:
            residuals = objective.residuals(np.asarray(unit_columns).T)
            return np.sum(residuals**2, axis=1)

        d = len(factors)
        popsize = 15
        generations = max(1, max_evaluations // (2 * popsize * d) - 1)
        found = optimize.differential_evolution(
            cost, [(0.0, 1.0)] * d, rng=np.random.default_rng(seed), vectorized=True,
            updating="deferred", polish=False, maxiter=generations, popsize=popsize, tol=1e-8,
        )
        x0 = np.asarray(found.x, dtype=float)

    def fun(unit: np.ndarray) -> np.ndarray:
        return objective.residuals(unit[None])[0]

    def jac(unit: np.ndarray) -> np.ndarray:
        # forward differences, stepping inwards at the upper bound, in one ensemble
        steps = np.where(unit + _STEP <= 1.0, _STEP, -_STEP)
        points = np.vstack([unit, unit + np.diag(steps)])
        residuals = objective.residuals(points)
        return ((residuals[1:] - residuals[0]) / steps[:, None]).T

    remaining = max(10, max_evaluations - objective.evaluations)
    fitted = optimize.least_squares(
        fun, x0, jac=jac, bounds=(0.0, 1.0), method="trf", x_scale=1.0,
        max_nfev=max(2, remaining // (len(factors) + 2)), xtol=1e-10, ftol=1e-12, gtol=1e-10,
    )
    best_unit = np.clip(np.asarray(fitted.x, dtype=float), 0.0, 1.0)
    best = objective.to_values(best_unit)
    simulated = objective.simulate(best_unit[None])[0]
    rmse = {}
    for k, column in enumerate(series.columns):
        mask = np.isfinite(series.values[:, k])
        rmse[column] = float(np.sqrt(np.mean((simulated[mask, k] - series.values[mask, k]) ** 2)))
    provenance = Provenance.collect(model.path, model.sha256, seed=seed, spec={
        "kind": "point_fit", "method": method,
        "series_path": str(series.path) if series.path else None,
        "series_sha256": series.sha256, "vary": [f.name for f in factors],
        "region": region if isinstance(region, str) or region is None else region.name,
        "push": push.as_params(model.card) if push is not None else None,
        "params": dict(params or {}), "scale": {c: float(s) for c, s in
                                                zip(series.columns, scales, strict=True)},
    })
    return PointFit(
        factors=factors, values=best, start=start_values, cost=float(fitted.cost),
        rmse=rmse, scale={c: float(s) for c, s in zip(series.columns, scales, strict=True)},
        success=bool(fitted.success), message=str(fitted.message),
        evaluations=objective.evaluations, method=method, series=series, fitted=simulated,
        provenance=provenance,
    )


def _fit_factors(model: Model, vary: Sequence[str] | None) -> list[Factor]:
    if vary is not None:
        return ranged_factors(model, list(vary))
    uncertain = [p.name for p in model.parameters.values()
                 if p.kind == "uncertain" and p.bounded and p.lower < p.upper]  # type: ignore[operator]
    return ranged_factors(model, uncertain) if uncertain else ranged_factors(model)


def _start(model: Model, factors: Sequence[Factor], start: Mapping[str, float] | None,
           params: Mapping[str, float] | None) -> np.ndarray:
    given = {model.parameters[k].name: v for k, v in (start or {}).items()}
    fixed = {model.parameters[k].name: v for k, v in (params or {}).items()}
    values = []
    for f in factors:
        value = given.get(f.name, fixed.get(f.name, model.parameters[f.name].default))
        if value is None or not isinstance(value, int | float) or not math.isfinite(value):
            value = 0.5 * (f.lower + f.upper)
        if not f.lower <= float(value) <= f.upper:
            raise InvalidValueError(f"start.{f.name}", value,
                                    expected=f"a number in [{f.lower:g}, {f.upper:g}]")
        values.append(float(value))
    return np.array(values)


def _scales(series: Series, scale: Mapping[str, float] | None) -> np.ndarray:
    out = []
    for k, column in enumerate(series.columns):
        observed = series.values[:, k]
        observed = observed[np.isfinite(observed)]
        if scale and column in scale:
            value = float(scale[column])
            if not math.isfinite(value) or value <= 0:
                raise InvalidValueError(f"scale.{column}", value, expected="a positive number")
        else:
            value = float(np.std(observed)) if observed.size > 1 else 0.0
            if not value > 0:
                value = 1.0
        out.append(value)
    return np.array(out)
