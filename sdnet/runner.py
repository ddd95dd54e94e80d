"""Run many parameter sets of one model: the vectorized engine by default, PySD for checks.

An ensemble is processed in chunks so memory stays bounded, with a progress bar. A run whose
state becomes non-finite is marked failed (which variable, at what time) and the other runs are
kept; a chunk that fails as a whole marks its runs failed and the ensemble goes on. A callback
sees each finished chunk, so a long study can keep what it finished.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from sdnet.errors import (
    EngineInputError,
    InvalidValueError,
    NotAParameterError,
    SdnetError,
    SdnetWarning,
    SimulationError,
    UnknownVariableError,
    UnsupportedConstructError,
)
from sdnet.numerics import (
    Finding,
    NumericalWarning,
    check_trajectories,
    describe_runs,
    summarize,
)
from sdnet.numerics import warn as warn_numerics
from sdnet.params import CONTROL_NAMES, check_time_settings
from sdnet.policy import Push, Region
from sdnet.results import EnsembleResult, Provenance, RunResult

if TYPE_CHECKING:
    import pandas as pd

    from sdnet.designs import Factor
    from sdnet.model import Model

__all__ = [
    "ENGINES",
    "METHODS",
    "choose_engine",
    "factor_table",
    "ranged_factors",
    "run_ensemble",
    "run_single",
]

ENGINES = ("auto", "vector", "numba", "numpy", "pysd")
"""``auto``: the vectorized engine, or PySD (in worker processes) for a model it cannot compile;
``vector``: the engine only (a model it cannot compile is an error), on its numba kernel where
numba is installed and compiles the model, else on numpy (``$SDNET_BACKEND=numpy`` forces
numpy); ``numba``/``numpy``: the engine on that backend only (``numba`` is an error where numba
is missing or does not compile the model); ``pysd``: PySD only. The two backends give the same
numbers bit for bit."""
_BACKENDS = {"numba": "numba", "numpy": "numpy"}

#: PySD runs of an ensemble go to at most this many worker processes (the machine's cores).
PYSD_WORKERS = max(1, min(2, os.cpu_count() or 1))
METHODS = ("euler", "rk4")
#: Runs per chunk of the vector engine: about 100 MB of state for a flexnet-sized model.
DEFAULT_CHUNK_SIZE = 20_000
#: Memory (bytes per chunk) the numerical guard may use for stocks that were not asked for.
_GUARD_BYTES = 64 * 2**20

ChunkCallback = Callable[[int, EnsembleResult], None]


def _check_choice(name: str, value: str, valid: Sequence[str]) -> str:
    if value not in valid:
        raise InvalidValueError(name, value, expected=f"one of {', '.join(valid)}")
    return value


def factor_table(
    model: Model,
    factors: pd.DataFrame | Mapping[str, Any] | None,
    *,
    n_runs: int | None = None,
    check_ranges: bool = True,
) -> pd.DataFrame:
    """Validate a table of parameter sets and return it with Python names as columns.

    Parameters
    ----------
    model : Model
        The model whose parameters the columns name (Python or Vensim spelling).
    factors : DataFrame or Mapping[str, array-like] or None
        One column per varied parameter, one row per run. ``None`` (or no columns) needs
        ``n_runs`` and gives that many runs of the same values.
    n_runs : int, optional
        Number of runs when ``factors`` has no columns.
    check_ranges : bool, default True
        Reject values outside the ranges declared in the model file.

    Raises
    ------
    UnknownVariableError
        A column is not a parameter of the model (with close matches).
    EngineInputError
        Columns of different lengths, no runs, or a non-numeric column.
    InvalidValueError, OutOfRangeError
        A NaN or infinite value, or one outside the declared range.
    """
    import pandas as pd

    columns: dict[str, np.ndarray] = {}
    if factors is not None and not isinstance(factors, Mapping | pd.DataFrame):
        raise EngineInputError(
            f"factors must be a DataFrame or a mapping of name -> values, not "
            f"{type(factors).__name__} {_short(factors)} (e.g. {{'push_duration': [1, 2, 4]}})"
        )
    source: Any = {} if factors is None else factors  # a Mapping or a DataFrame
    lengths: dict[str, int] = {}
    given: dict[str, str] = {}
    for key, raw in source.items():
        parameter = model.parameters[str(key)]
        if parameter.name in given:
            raise EngineInputError(
                f"factor {parameter.name} is given twice, as {given[parameter.name]!r} and "
                f"{str(key)!r}: give one column per parameter"
            )
        given[parameter.name] = str(key)
        values = _factor_values(str(key), raw)
        bad = ~np.isfinite(values)
        if bad.any():
            index = int(np.flatnonzero(bad)[0])
            raise InvalidValueError(
                f"{parameter.name} (run {index})", float(values[index])
            )
        if check_ranges and values.size:
            low, high = float(values.min()), float(values.max())
            for value in (low, high):
                parameter.check(value, check_range=True)
        columns[parameter.name] = values
        lengths[parameter.name] = values.size
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{k}: {v}" for k, v in lengths.items())
        raise EngineInputError(f"factor columns have different lengths ({described})")
    rows = next(iter(lengths.values())) if lengths else n_runs
    if rows is None:
        raise EngineInputError("give a factor table or the number of runs (n_runs)")
    if n_runs is not None and lengths and rows != n_runs:
        raise EngineInputError(f"the factor table has {rows} rows but n_runs is {n_runs}")
    if int(rows) < 1:
        raise EngineInputError(f"an ensemble needs at least one run, not {rows}")
    table = pd.DataFrame(columns, index=pd.RangeIndex(int(rows), name="run"))
    return table


def ranged_factors(
    model: Model, names: Sequence[str] | None = None, *, exclude_kinds: Sequence[str] = ()
) -> list[Factor]:
    """Uniform factors over the declared ranges of the named constants (default: all ranged).

    ``exclude_kinds`` leaves parameters of those kinds out of the default set (e.g.
    ``("region",)`` when a region preset fixes them).

    Raises
    ------
    UnknownVariableError
        A name is not a parameter of the model.
    EngineInputError
        A named constant has no finite declared range, or the model has none to vary.
    """
    from sdnet.designs import Factor

    parameters = model.parameters
    if names is not None:
        if not names:
            raise EngineInputError("no factor names given; name at least one constant")
        chosen = [_parameter(model, name) for name in names]
    else:
        chosen = [
            p for p in parameters.values()
            if p.kind != "control" and p.kind not in exclude_kinds
            and p.bounded and p.lower < p.upper  # type: ignore[operator]
        ]
    if not chosen:
        raise EngineInputError(f"{model.path.name} has no constant with a declared range to vary")
    unranged = [p.name for p in chosen if not p.bounded or not p.lower < p.upper]  # type: ignore[operator]
    if unranged:
        raise EngineInputError(
            f"no finite declared range to sample for {', '.join(unranged)}; declare "
            "[min,max] in the units field of the model file"
        )
    return [Factor(p.name, float(p.lower), float(p.upper)) for p in chosen]  # type: ignore[arg-type]


def _parameter(model: Model, name: str) -> Any:
    """The parameter named ``name``; a stock or computed variable gets a message saying so."""
    if name not in model.parameters:
        try:
            vensim = model.vensim_name(name)
        except UnknownVariableError:
            pass
        else:
            kind = "stock" if vensim in model.stocks else "computed variable"
            raise NotAParameterError(vensim, kind=kind, hint="only constants can be factors")
    return model.parameters[name]


def _factor_values(key: str, raw: Any) -> np.ndarray:
    """One factor's values as a flat float array: numbers only, a flat list or a scalar."""
    if isinstance(raw, str | bytes | Mapping):
        raise EngineInputError(
            f"factor {key!r} has values that are not numbers (e.g. {_short(raw)})")

    def nested() -> EngineInputError:  # only when raised: the repr of a column takes ms
        return EngineInputError(
            f"factor {key!r} has nested values ({_short(raw)}); give one number per run")

    items = list(raw) if isinstance(raw, list | tuple) else []
    if any(isinstance(v, list | tuple | np.ndarray | Mapping) for v in items):
        raise nested()
    try:
        shaped = np.asarray(raw)
    except (TypeError, ValueError):  # ragged nesting
        raise nested() from None
    if shaped.ndim > 1:
        raise nested()
    flat = shaped.reshape(-1)
    # a numeric array holds no booleans; only lists and object arrays need a look at each
    # value (a Python loop over 10^6 values took a second)
    mixed = flat.dtype == object or (
        flat.dtype.kind not in "iuf" and not isinstance(raw, np.ndarray)) or items
    if flat.dtype == bool or (mixed and any(
            isinstance(v, bool | np.bool_) for v in [*items, *flat.tolist()])):
        raise EngineInputError(
            f"factor {key!r} has true/false values ({_short(raw)}); give numbers (0 and 1 "
            "if the model reads it as a switch)")
    try:
        # no copy of a float column: the table built from these copies once (DataFrame)
        return flat.astype(float, copy=False)
    except (TypeError, ValueError):
        raise EngineInputError(
            f"factor {key!r} has values that are not numbers (e.g. {_first(raw)!r})"
        ) from None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _first(raw: Any) -> Any:
    try:
        return next(iter(raw))
    except (TypeError, StopIteration):
        return raw


def choose_engine(model: Model, engine: str = "auto") -> Literal["vector", "pysd"]:
    """The engine that will run ``model``: ``engine`` itself unless it is ``"auto"``.

    ``"auto"`` compiles the model for the vectorized engine and falls back to PySD, with one
    :class:`~sdnet.errors.SdnetWarning` naming the construct and the variable, when the engine
    does not support something in it (or, naming the variable, when it cannot order equations
    that PySD runs: a loop without a stock broken by ACTIVE INITIAL). ``"vector"`` raises that
    :class:`~sdnet.errors.UnsupportedConstructError` (or
    :class:`~sdnet.errors.SimulationError`) instead.
    """
    _check_choice("engine", engine, ENGINES)
    if engine == "pysd":
        return "pysd"
    from sdnet.engine import compile_model

    try:
        compiled = compile_model(model.path, data_files=model.data_files)
    except (UnsupportedConstructError, SimulationError) as error:
        # SimulationError: equations the engine cannot order (a loop without a stock that
        # PySD breaks with ACTIVE INITIAL); PySD has loaded the model, so it can run it
        if engine != "auto":
            raise
        why = (f"does not support {error.construct} (in {error.variable!r})"
               if isinstance(error, UnsupportedConstructError) else f"cannot compile it "
               f"({error})")
        warnings.warn(
            f"{model.path.name}: the vectorized engine {why}; running it with PySD, one run "
            f"at a time in {PYSD_WORKERS} worker process(es)",
            SdnetWarning,
            stacklevel=2,
        )
        return "pysd"
    if engine == "numba":
        compiled.check_backend("numba")  # numba missing or a construct it does not compile
    return "vector"


def run_ensemble(
    model: Model,
    factors: pd.DataFrame | Mapping[str, Any] | None = None,
    *,
    n_runs: int | None = None,
    engine: Literal["auto", "vector", "numba", "numpy", "pysd"] = "auto",
    region: str | Region | None = None,
    push: Push | None = None,
    params: Mapping[str, Any] | None = None,
    final_time: float | None = None,
    time_step: float | None = None,
    saveper: float | None = None,
    method: Literal["euler", "rk4"] = "euler",
    variables: str | Sequence[str] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: bool = True,
    check_ranges: bool = True,
    seed: int | None = None,
    spec: Mapping[str, Any] | None = None,
    on_chunk: ChunkCallback | None = None,
    cluster: Any = None,
) -> EnsembleResult:
    """Run one model over many parameter sets.

    Parameters
    ----------
    model : Model
        A loaded model (:func:`sdnet.load_model`).
    factors : DataFrame or Mapping[str, array-like], optional
        One column per varied parameter (Python or Vensim names), one row per run. Parameters
        not given keep their value from ``params``, ``push``, ``region`` or the model file, in
        that order of precedence.
    n_runs : int, optional
        Number of runs when ``factors`` is empty.
    engine : {"auto", "vector", "pysd"}, default "auto"
        The compiled vectorized engine, or PySD one run at a time in worker processes (slow;
        for checks). ``"auto"`` uses the engine and falls back to PySD, with one warning, for
        a model the engine cannot compile (:func:`choose_engine`); ``"vector"`` then fails.
    region : str or Region, optional
        Region preset applied to every run.
    push : Push, optional
        Public-push schedule applied to every run (factors may still vary its parts).
    params : Mapping[str, float], optional
        Constants set in every run.
    final_time, time_step, saveper : float, optional
        Simulation control in model time units (Year for flexnet); default the model file's.
    method : {"euler", "rk4"}, default "euler"
        Integration method (the PySD engine supports Euler only).
    variables : "all", name or list of names, optional
        What to keep; default the model's key variables.
    chunk_size : int, default 20,000
        Runs per chunk: bounds memory (the engine's state is chunk_size x variables).
    progress : bool, default True
        Show a progress bar (tqdm, on stderr).
    check_ranges : bool, default True
        Reject values outside the declared ranges.
    seed : int, optional
        Recorded in the provenance (the seed of the design that drew ``factors``).
    spec : Mapping, optional
        Extra settings recorded in the provenance (e.g. the experiment spec).
    on_chunk : callable(start_run, EnsembleResult), optional
        Called with each finished chunk (e.g. to save it, so an interrupted study can resume).
    cluster : distributed.Client, optional
        Run the vector engine's runs as tasks on this dask cluster (:mod:`sdnet.cluster`),
        two per worker and at most ``chunk_size`` runs each; the numbers are the same bit for
        bit. Not with ``on_chunk`` (the runs come back together).

    Returns
    -------
    EnsembleResult
        Outputs (run x time x variable), the factor table, per-run status and provenance.
    """
    _check_choice("engine", engine, ENGINES)
    _check_choice("method", method, METHODS)
    backend = _BACKENDS.get(engine)  # None: the engine's own choice (auto, $SDNET_BACKEND)
    if engine != "pysd":  # "vector" fails here, before any run, on a model it cannot compile
        engine = choose_engine(model, engine)
    if engine == "pysd" and method != "euler":
        raise InvalidValueError("method", method, expected="'euler' with engine='pysd'")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InvalidValueError("chunk_size", chunk_size, expected="a positive integer")

    table = factor_table(model, factors, n_runs=n_runs, check_ranges=check_ranges)
    base = model.scenario_values(
        params, region=region, push=push, check_ranges=check_ranges
    )
    controls = {
        "final_time": final_time,
        "time_step": time_step,
        "saveper": saveper,
    }
    for name in CONTROL_NAMES:
        if name in table.columns:
            raise EngineInputError(
                f"{name} cannot vary across runs; pass it as a run option instead"
            )
        if name in base and controls.get(name) is None and name != "initial_time":
            controls[name] = base.pop(name)
    settings = _run_settings(model, controls)
    columns = model.columns(variables)
    units = {c: model.units(c) for c in columns}
    run_spec: dict[str, Any] = {
        "engine": engine,
        "method": method,
        "n_runs": len(table),
        "factors": list(table.columns),
        "fixed": base,
        **settings,
        **(dict(spec) if spec else {}),
    }
    provenance = Provenance.collect(model.path, model.sha256, seed=seed, spec=run_spec)

    n_total = len(table)
    times = _save_times(settings)
    outputs = np.full((n_total, times.size, len(columns)), np.nan)
    ok = np.zeros(n_total, dtype=bool)
    failures: list[tuple[int, str, float]] = []
    simulate = _vector_chunk if engine == "vector" else _pysd_chunk
    chunk = chunk_size if engine == "vector" else 1
    # The numerical guard reads every stock; those not asked for are simulated too while they
    # fit in a small budget (otherwise it reads the saved columns only).
    extra = [c for c in model.stock_columns() if c not in columns]
    if min(chunk, n_total) * times.size * len(extra) * 8 > _GUARD_BYTES:
        extra = []
    simulated = [*columns, *extra]
    bounds = model.declared_bounds(simulated)
    stocks = set(model.stock_columns())
    findings: list[Finding] = []

    if cluster is not None and engine == "vector":
        if on_chunk is not None:
            raise InvalidValueError("on_chunk", on_chunk, expected="None with a cluster")
        outputs, ok, failure, findings = _cluster_runs(
            cluster, model, table, base, settings, method=method, columns=columns,
            simulated=simulated, times=times, bounds=bounds, stocks=stocks, backend=backend,
            chunk=chunk)
        failures = [(run, text, math.nan) for run, text in enumerate(failure) if text]
        summary = summarize(findings, n_total, time_step=settings["time_step"])
        warn_numerics(summary, source=model.path.name, stacklevel=2)
        return _ensemble(times, outputs, columns, units, table, ok, failures,
                         provenance).with_flags(describe_runs(findings, n_total), summary)

    bar = _progress_bar(n_total, enabled=progress, engine=engine)
    pool = None
    if engine == "pysd" and PYSD_WORKERS > 1 and n_total > 1:
        # PySD runs one parameter set at a time: spread them over worker processes, each
        # loading the model once (its translation is cached)
        from concurrent.futures import ProcessPoolExecutor

        chunk = max(1, min(25, -(-n_total // (4 * PYSD_WORKERS))))
        pool = ProcessPoolExecutor(PYSD_WORKERS)
        pending = {
            start: pool.submit(
                _pysd_worker, model.path, table.iloc[start : start + chunk], base, settings,
                columns=simulated, times=times, check_ranges=check_ranges,
                data_files=model.data_files,
            )
            for start in range(0, n_total, chunk)
        }
    try:
        for start in range(0, n_total, chunk):
            stop = min(start + chunk, n_total)
            part = table.iloc[start:stop]
            try:
                if pool is not None:
                    values, part_ok, part_failures = pending.pop(start).result()
                else:
                    values, part_ok, part_failures = simulate(
                        model, part, base, settings, method=method, columns=simulated,
                        times=times, check_ranges=check_ranges, backend=backend,
                    )
            except SdnetError as error:
                # the chunk as a whole could not run: mark its runs failed, keep the others
                values = np.full((stop - start, times.size, len(simulated)), np.nan)
                part_ok = np.zeros(stop - start, dtype=bool)
                part_failures = [(r, f"run failed: {error}", math.nan) for r in range(stop - start)]
            part_findings = check_trajectories(
                times, values, simulated, bounds=bounds, stocks=stocks,
                runs=range(start, stop))
            findings.extend(part_findings)
            failures.extend((start + r, v, t) for r, v, t in part_failures)
            outputs[start:stop] = values[..., : len(columns)]
            ok[start:stop] = part_ok
            if on_chunk is not None:
                chunk_result = _ensemble(
                    times, outputs[start:stop], columns, units, part, part_ok,
                    [(r - start, v, t) for r, v, t in failures if start <= r < stop],
                    provenance,
                )
                shifted = [replace(f, run=f.run - start) for f in part_findings]
                on_chunk(start, chunk_result.with_flags(
                    describe_runs(shifted, stop - start),
                    summarize(shifted, stop - start, time_step=settings["time_step"])))
            bar.update(stop - start)
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    summary = summarize(findings, n_total, time_step=settings["time_step"])
    warn_numerics(summary, source=model.path.name, stacklevel=2)
    return _ensemble(times, outputs, columns, units, table, ok, failures, provenance).with_flags(
        describe_runs(findings, n_total), summary)


def run_single(
    model: Model,
    params: Mapping[str, Any] | None = None,
    *,
    engine: Literal["auto", "vector", "numba", "numpy", "pysd"] = "vector",
    method: Literal["euler", "rk4"] = "euler",
    **options: Any,
) -> RunResult:
    """One run on either engine, returned as a :class:`RunResult` with the same columns.

    ``engine="pysd"`` is :meth:`Model.run`; ``engine="vector"`` runs the compiled engine with
    one run (``"numba"``/``"numpy"``: on that backend, see :data:`ENGINES`); ``engine="auto"``
    the engine, or PySD for a model it cannot compile. Options are
    those of :meth:`Model.run` (region, push, final_time, time_step, saveper, variables,
    check_ranges).
    """
    _check_choice("engine", engine, ENGINES)
    if engine == "auto":
        engine = choose_engine(model, engine)
    if engine == "pysd":
        if method != "euler":
            raise InvalidValueError("method", method, expected="'euler' with engine='pysd'")
        result = model.run(params, **options)
        _raise_if_non_finite(model, result)
        return result
    variables = options.pop("variables", None)
    allowed = {"region", "push", "final_time", "time_step", "saveper", "check_ranges"}
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise InvalidValueError("options", unknown, expected=f"any of {', '.join(sorted(allowed))}")
    check_ranges = options.pop("check_ranges", True)
    wanted = model.columns(variables)
    stocks = model.stock_columns()
    keep = list(dict.fromkeys([*wanted, *stocks]))
    base = model.scenario_values(
        params,
        region=options.get("region"),
        push=options.get("push"),
        check_ranges=check_ranges,
    )
    ensemble = run_ensemble(
        model,
        n_runs=1,
        engine=engine if engine in _BACKENDS else "vector",
        params=base,
        final_time=options.get("final_time"),
        time_step=options.get("time_step"),
        saveper=options.get("saveper"),
        method=method,
        variables=keep,
        progress=False,
        check_ranges=check_ranges,
    )
    if not ensemble.ok[0]:
        reason = str(ensemble.dataset["failure"].values[0]).removeprefix("run failed: ")
        raise SimulationError(f"the run of {model.path.name} failed: {reason}")
    flags = ensemble.flags
    frame = ensemble.dataset["outputs"].isel(run=0).to_pandas()
    frame.index.name = "time"
    frame.columns.name = None
    units = {c: model.units(c) for c in keep}
    return RunResult(
        frame=frame[wanted],
        units=units,
        params=base,
        provenance=ensemble.provenance,
        stock_frame=frame[stocks],
        flags=flags,
    )


# -- helpers ---------------------------------------------------------------------------------


def _raise_if_non_finite(model: Model, result: RunResult) -> None:
    """The vector engine's failure, for a PySD run: which variable first went non-finite
    (a NaN where the model says ``:NA:`` is a value, as in the engine)."""
    frames = [result.frame] + ([result.stock_frame] if result.stock_frame is not None else [])
    first: tuple[float, str] | None = None
    na: frozenset[str] | None = None
    for frame in frames:
        values = frame.to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if np.isnan(values).any():
            na = _na_columns(model) if na is None else na
            allowed = np.array([str(c) in na for c in frame.columns], dtype=bool)
            bad &= ~(np.isnan(values) & allowed)
        if bad.any():
            rows = bad.any(axis=1)
            row = int(np.argmax(rows))
            column = str(frame.columns[int(np.argmax(bad[row]))])
            when = float(frame.index[row])
            if first is None or when < first[0]:
                first = (when, column)
    if first is not None:
        raise SimulationError(
            f"the run of {model.path.name} failed: {first[1]} non-finite at time {first[0]:g}"
        )



def _na_columns(model: Model) -> frozenset[str]:
    """The columns the engine finds may be NaN by definition (``:NA:``, undefined elements);
    none when it cannot compile the model."""
    from sdnet.engine import compile_model

    try:
        return compile_model(model.path, data_files=model.data_files).na_columns
    except SdnetError:
        return frozenset()


def _run_settings(model: Model, given: Mapping[str, float | None]) -> dict[str, float]:
    settings: dict[str, float] = {}
    for name in ("initial_time", "final_time", "time_step", "saveper"):
        value = given.get(name)
        if value is None:
            value = model.default_control(name)
        number = model.parameters[name].check(value, check_range=False)
        settings[name] = number
    check_time_settings(
        **settings,
        saveper_given=given.get("time_step") is not None or given.get("saveper") is not None,
    )
    return settings


def _save_times(settings: Mapping[str, float]) -> np.ndarray:
    start, final, save = settings["initial_time"], settings["final_time"], settings["saveper"]
    step = settings["time_step"]
    ratio = save / step
    if ratio < 1 - 1e-9 or abs(ratio - round(ratio)) > 1e-9 * ratio:
        # a model's own SAVEPER between time steps (check_time_settings refuses one given):
        # the steps PySD saves, as the engine saves them
        from sdnet.engine.model import pysd_save_times

        return pysd_save_times(start, final, step, save)
    count = math.floor((final - start) / save + 1e-9) + 1
    return start + save * np.arange(count)


def _cluster_runs(
    client: Any, model: Model, table: pd.DataFrame, base: Mapping[str, float],
    settings: Mapping[str, float], *, method: str, columns: Sequence[str],
    simulated: Sequence[str], times: np.ndarray, bounds: Mapping[str, tuple[float, float]],
    stocks: set[str], backend: str | None, chunk: int,
) -> tuple[np.ndarray, np.ndarray, list[str], list[Finding]]:
    """:func:`run_ensemble`'s runs on a dask cluster (:func:`sdnet.cluster.run_runs`)."""
    from sdnet.cluster import run_runs
    from sdnet.engine import compile_model
    from sdnet.scheduler import BlockJob

    compiled = compile_model(model.path, data_files=model.data_files)
    if compiled.sha256 != model.sha256:
        raise SimulationError(f"{model.path} changed since it was loaded; load the model again")
    job = BlockJob(base=dict(base), factor_names=tuple(str(c) for c in table.columns),
                   settings=dict(settings), method=method, simulated=tuple(simulated),
                   n_kept=len(columns), times=times, bounds=bounds, stocks=frozenset(stocks),
                   backend=backend)
    return run_runs(client, compiled, job, table.to_numpy(dtype=float), largest=chunk)


def _vector_chunk(
    model: Model,
    part: pd.DataFrame,
    base: Mapping[str, float],
    settings: Mapping[str, float],
    *,
    method: str,
    columns: Sequence[str],
    times: np.ndarray,
    check_ranges: bool,
    backend: str | None = None,
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, str, float]]]:
    from sdnet.engine import compile_model

    compiled = compile_model(model.path, data_files=model.data_files)
    if compiled.sha256 != model.sha256:
        # the engine would run other equations than the model's parameters describe
        raise SimulationError(
            f"{model.path} changed since it was loaded; load the model again"
        )
    values: dict[str, Any] = dict(base)
    values.update({name: part[name].to_numpy() for name in part.columns})
    simulation = compiled.simulate(
        values,
        n_runs=len(part),
        final_time=settings["final_time"],
        time_step=settings["time_step"],
        saveper=settings["saveper"],
        method=method,
        variables=list(columns),
        backend=backend,
    )
    if simulation.times.shape != times.shape or not np.allclose(simulation.times, times):
        raise SdnetError("the engine saved other times than the runner expected")
    stacked = (np.stack([simulation.outputs[c] for c in columns], axis=-1) if columns
               else np.empty((len(part), times.size, 0)))
    return stacked, np.asarray(simulation.ok, dtype=bool), list(simulation.failures)


def _pysd_worker(
    path: Any,
    part: pd.DataFrame,
    base: Mapping[str, float],
    settings: Mapping[str, float],
    *,
    columns: Sequence[str],
    times: np.ndarray,
    check_ranges: bool,
    data_files: Sequence[str | os.PathLike[str]] = (),
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, str, float]]]:
    """PySD runs of ``part`` in a worker process (the model loaded from its cached translation,
    with the parent's data files)."""
    from sdnet.model import load_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the parent process tells the warnings once
        model = load_model(path, data_files=data_files)
        return _pysd_chunk(
            model, part, base, settings, method="euler", columns=columns, times=times,
            check_ranges=check_ranges,
        )


def _pysd_chunk(
    model: Model,
    part: pd.DataFrame,
    base: Mapping[str, float],
    settings: Mapping[str, float],
    *,
    method: str,
    columns: Sequence[str],
    times: np.ndarray,
    check_ranges: bool,
    backend: str | None = None,
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, str, float]]]:
    # ``backend`` (the vector engine's numba/numpy) means nothing to PySD; it is accepted so
    # a single run, which runs here without the worker pool, takes the engine's call
    out = np.full((len(part), times.size, len(columns)), np.nan)
    ok = np.zeros(len(part), dtype=bool)
    failures: list[tuple[int, str, float]] = []
    for row in range(len(part)):
        params = dict(base)
        params.update({k: float(v) for k, v in part.iloc[row].items()})
        try:
            with warnings.catch_warnings():
                # the runner guards the whole ensemble at once: no warning per PySD run
                warnings.simplefilter("ignore", NumericalWarning)
                result = model.run(
                    params,
                    final_time=settings["final_time"],
                    time_step=settings["time_step"],
                    saveper=settings["saveper"],
                    variables=list(columns),
                    check_ranges=check_ranges,
                )
        except SdnetError as error:
            failures.append((row, f"run failed: {error}", math.nan))
            continue
        frame = result.frame.reindex(columns=list(columns))
        values = frame.to_numpy(dtype=float)
        n = min(values.shape[0], times.size)
        out[row, :n] = values[:n]
        bad = ~np.isfinite(values)
        if bad.any():
            t_index, c_index = np.argwhere(bad)[0]
            failures.append((row, columns[int(c_index)], float(frame.index[int(t_index)])))
            continue
        ok[row] = True
    return out, ok, failures


def _ensemble(
    times: np.ndarray,
    outputs: np.ndarray,
    columns: Sequence[str],
    units: Mapping[str, str],
    factors: pd.DataFrame,
    ok: np.ndarray,
    failures: Sequence[tuple[int, str, float]],
    provenance: Provenance,
) -> EnsembleResult:
    return EnsembleResult.from_array(
        times,
        outputs,
        columns=list(columns),
        units=units,
        factors=factors,
        status=ok,
        failures=failures,
        provenance=provenance,
    )


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress_bar(total: int, *, enabled: bool, engine: str) -> Any:
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"sdnet runs ({engine})", unit="run", leave=False)
