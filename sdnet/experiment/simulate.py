"""Running a study's stacked design table in chunks and reducing it to metrics."""

from __future__ import annotations

import hashlib
import json
import math
import warnings
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sdnet.designs import Design
from sdnet.errors import CardError, SdnetError, SdnetWarning, UnknownVariableError
from sdnet.experiment.spec import Experiment
from sdnet.files import file_sha256
from sdnet.metrics import PERSISTENCE_LAG, Metric, Trajectories
from sdnet.sanity import flags_by_check

if TYPE_CHECKING:
    import pandas as pd

    from sdnet.model import Model
    from sdnet.results import EnsembleResult


def _stage_table(experiment: Experiment, design: Design, stage: str,
                 fixed: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Stack the design under every case: one row per (case, design row)."""
    import pandas as pd

    frames = []
    design_frame = design.to_frame()
    n = design.n_runs
    for case in experiment.cases:
        # one frame from whole columns: inserting them one by one cost a second a study
        columns: dict[str, Any] = {"row": np.arange(n), "case": np.full(n, case.name, object),
                                   "stage": np.full(n, stage, object)}
        columns.update({k: np.full(n, v) for k, v in case.values.items()})
        columns.update({k: np.full(n, v) for k, v in (fixed or {}).items()
                        if k not in case.values})
        columns.update({c: design_frame[c].to_numpy() for c in design_frame.columns})
        frames.append(pd.DataFrame(columns))
    return pd.concat(frames, ignore_index=True)


def _numeric(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=["row", "case", "stage"])


def report_outputs(model: Model) -> tuple[str, ...]:
    """Outputs every study saves: the report's fan charts show them (the card's
    ``[model] report_variables`` the model has, else the model's stock columns), so a study
    file need not list them under [run] variables."""
    present = tuple(name for name in model.card.report_variables if name in model)
    return present or tuple(model.stock_columns())


def _variables(experiment: Experiment, model: Model) -> list[str]:
    """The outputs to save: the metrics' inputs, [run] variables, the time-resolved
    variables, and the :func:`report_outputs` of the model."""
    names: list[str] = []
    for metric in experiment.metrics:
        names.extend(metric.variables)
    names.extend(experiment.run.variables)
    names.extend(experiment.analysis.time_resolved)
    names.extend(sanity_variables(model))
    if experiment.analysis.packages_success:
        names.extend(mechanism_variables(model))
    saved = set()
    for name in names:
        try:
            saved.add(model.vensim_name(name))
        except UnknownVariableError:
            saved.add(name)
    for name in report_outputs(model):
        try:
            model.resolve(name)
        except UnknownVariableError:
            continue
        if name not in saved:
            names.append(name)
    return list(dict.fromkeys(names))


def sanity_variables(model: Model) -> list[str]:
    """The outputs the model card's ``[[sanity]]`` checks read (every study saves them).

    Raises
    ------
    CardError
        Naming the card file and the check's key when the model has no such variable.
    """
    names: list[str] = []
    for index, check in enumerate(model.card.sanity):
        for j, condition in enumerate(check.when):
            for name in condition.variables:
                try:
                    model.resolve(name)
                except UnknownVariableError as error:
                    raise CardError(f"the model has no variable {name!r} ({error})",
                                    path=model.card.path, key=f"sanity[{index}].when[{j}]",
                                    value=condition.text) from None
                names.append(name)
            if condition.formed_of and condition.formed_of not in model.parameters:
                raise CardError(f"the model has no constant {condition.formed_of!r}",
                                path=model.card.path, key=f"sanity[{index}].when[{j}]",
                                value=condition.text)
    return names


def mechanism_variables(model: Model) -> list[str]:
    """The outputs the model card's ``[mechanism]`` reads (a package study saves them).

    Raises
    ------
    CardError
        Naming the card file and the share's or state's key when the model has no such
        variable.
    """
    mechanism = model.card.mechanism
    if mechanism is None:
        return []
    names: list[str] = []
    for kind, items in (("shares", mechanism.shares), ("states", mechanism.states)):
        for index, item in enumerate(items):
            for name in item.variables:
                try:
                    model.resolve(name)
                except UnknownVariableError as error:
                    key = "variables" if kind == "shares" else "variable"
                    raise CardError(f"the model has no variable {name!r} ({error})",
                                    path=model.card.path,
                                    key=f"mechanism.{kind}[{index}].{key}",
                                    value=name) from None
                names.append(name)
    return names


def mechanism_table(ensemble: EnsembleResult, table: pd.DataFrame,
                    model: Model) -> pd.DataFrame | None:
    """Every run's shares and states of the card's ``[mechanism]`` (NaN for failed runs);
    None without a mechanism or a push schedule."""
    import pandas as pd

    from sdnet.mechanism import mechanism_values

    mechanism = model.card.mechanism
    if mechanism is None or model.card.push is None:
        return None
    values = mechanism_values(mechanism, _trajectories(ensemble, table, model))
    ok = np.asarray(ensemble.ok, dtype=bool)
    return pd.DataFrame({name: np.where(ok, column, np.nan)
                         for name, column in values.items()})


def _sanity_flags(ensemble: EnsembleResult, table: pd.DataFrame,
                  model: Model) -> dict[str, np.ndarray]:
    """Which runs each of the card's sanity checks flags (empty without checks or push)."""
    checks = model.card.sanity
    if not checks or model.card.push is None:
        return {}
    data = _trajectories(ensemble, table, model)
    constants = {name: _table_column(table, model, name)
                 for check in checks for name in check.constants}
    data = replace(data, constants={**data.constants, **constants})
    return flags_by_check(checks, data, ok=ensemble.ok)


def _file_hash(path: Path) -> str:
    return file_sha256(path)


def _chunk_key(experiment: Experiment, stage: str, part: pd.DataFrame, method: str,
               time_step: float | None, variables: list[str]) -> str:
    # only what decides the runs' numbers: a changed analysis keeps the finished chunks
    digest = hashlib.sha256()
    run = experiment.run
    digest.update(json.dumps({
        "model": str(experiment.model_path), "model_sha256": _file_hash(experiment.model_path),
        "final_time": run.final_time, "saveper": run.saveper, "variables": variables,
        "stage": stage, "method": method, "time_step": time_step,
        # the data variables' values: a changed data file makes other runs
        **({"data_sha256": [_file_hash(f) for f in experiment.data_files]}
           if experiment.data_files else {}),
    }, sort_keys=True, default=str).encode())
    digest.update(np.ascontiguousarray(_numeric(part).to_numpy(dtype=float)).tobytes())
    digest.update(",".join(_numeric(part).columns).encode())
    return digest.hexdigest()


def _with_model_times(experiment: Experiment, model: Model) -> Experiment:
    """The experiment with the model file's final_time, time_step and saveper where ``[run]``
    leaves them out, so that ``spec.toml`` and the provenance say what ran (and a study
    reproduces the same runs after the model file's control section changes)."""
    run = experiment.run
    filled = {
        name: model.default_control(name)
        for name in ("final_time", "time_step", "saveper")
        if getattr(run, name) is None
    }
    return replace(experiment, run=replace(run, **filled)) if filled else experiment


def _simulate(
    model: Model, experiment: Experiment, table: pd.DataFrame, *, stage: str,
    chunk_file: Callable[[str], Path] | None, resume: bool, progress: bool,
    method: str | None = None, time_step: float | None = None, cluster: Any = None,
) -> EnsembleResult:
    """Run a stacked table in chunks, keeping finished chunks on disk when asked.

    ``chunk_file`` maps a chunk's name (``"chunks/sobol_000000000.npz"``) to the path to keep
    it at (:meth:`sdnet.outputs.Staging.work_file`, which records it as sdnet's); a chunk that
    cannot be read is computed again, with a warning. With a ``cluster`` (a
    ``distributed.Client``) the chunks not yet finished run there as tasks, each kept as it
    finishes (:func:`_simulate_on_cluster`); the numbers are the same bit for bit.
    """
    from sdnet.results import EnsembleResult
    from sdnet.runner import run_ensemble

    run = experiment.run
    method = method or run.method
    time_step = time_step or run.time_step
    variables = _variables(experiment, model)
    chunk = run.chunk_size
    n_total = len(table)
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[int, str, float]]]] = []
    times = None
    columns: list[str] = []
    units: dict[str, str] = {}
    provenance = None
    numerics: list[str] = []  # the numerical guard's finding per run ("" for none)
    flags: list[str] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_total, desc=f"{experiment.name} ({stage})", unit="run")
    keys = {start: _chunk_key(experiment, stage, table.iloc[start:start + chunk], method,
                              time_step, variables) for start in range(0, n_total, chunk)}

    def save(start: int, loaded: tuple[Any, ...]) -> None:
        if chunk_file is not None:
            _save_chunk(chunk_file, f"chunks/{stage}_{start:09d}", keys[start], loaded)

    found: dict[str, tuple[Any, ...]] = {}
    if chunk_file is not None and resume:
        for start in keys:
            file = chunk_file(f"chunks/{stage}_{start:09d}.npz")
            if file.exists():
                part = table.iloc[start:start + chunk]
                got = _read_chunk(file, keys[start], experiment=experiment, runs=len(part))
                if got is not None:
                    found[str(start)] = got
    remote: dict[int, tuple[tuple[Any, ...], list[str], list[str]]] = {}
    try:
        if cluster is not None:
            todo = [start for start in keys if str(start) not in found]
            remote = _simulate_on_cluster(
                cluster, model, experiment, table, todo, method=method, time_step=time_step,
                variables=variables, save=save, bar=bar)
        for start in range(0, n_total, chunk):
            part = table.iloc[start:start + chunk]
            loaded = found.get(str(start))
            if start in remote:
                loaded, chunk_numerics, chunk_flags = remote[start]
                numerics += chunk_numerics
                flags += [f for f in chunk_flags if f not in flags]
            elif loaded is None:
                result = run_ensemble(
                    model, _numeric(part).reset_index(drop=True), final_time=run.final_time,
                    time_step=time_step, saveper=run.saveper, method=method,  # type: ignore[arg-type]
                    variables=variables, chunk_size=chunk, progress=False,
                    seed=experiment.seed,
                )
                provenance = result.provenance
                ds = result.dataset
                numerics += [str(v) for v in ds["numerics"].to_numpy()]
                flags += [f for f in result.flags if f not in flags]
                failures = [(r, str(ds["failure"].values[r]), math.nan)
                            for r in np.nonzero(~result.ok)[0]]
                loaded = (ds["time"].to_numpy(), ds["outputs"].to_numpy(), result.ok,
                          [str(v) for v in ds["variable"].to_numpy()],
                          [str(u) for u in ds["units"].to_numpy()], failures)
                save(start, loaded)
            else:
                numerics += [""] * len(part)  # a resumed chunk: the guard ran when it was made
            times, columns = loaded[0], loaded[3]
            units = dict(zip(loaded[3], loaded[4], strict=True))
            parts.append((loaded[1], np.asarray(loaded[2], dtype=bool), np.arange(len(part))
                          + start, [(start + r, v, t) for r, v, t in loaded[5]]))
            if bar is not None and start not in remote:
                bar.update(len(part))
    finally:
        if bar is not None:
            bar.close()
    if provenance is None:
        from sdnet.results import Provenance

        provenance = Provenance.collect(model.path, model.sha256, seed=experiment.seed)
    provenance = replace(provenance, spec=experiment.to_dict())
    outputs = np.concatenate([p[0] for p in parts], axis=0)
    status = np.concatenate([p[1] for p in parts])
    failures = [f for p in parts for f in p[3]]
    if times is None:
        raise SdnetError(f"study {experiment.name!r} has no runs")
    return EnsembleResult.from_array(times, outputs, columns=columns, units=units,
                                     factors=_numeric(table).reset_index(drop=True),
                                     status=status, failures=failures, provenance=provenance
                                     ).with_flags(numerics, flags)


def _save_chunk(chunk_file: Callable[[str], Path], name: str, key: str,
                loaded: tuple[Any, ...]) -> None:
    """Keep a finished chunk (written beside, then renamed: never half a file)."""
    failures = loaded[5]
    tmp = chunk_file(f"{name}.tmp.npz")
    np.savez(tmp, key=key, times=loaded[0], outputs=loaded[1], status=loaded[2],
             columns=np.array(loaded[3]), units=np.array(loaded[4]),
             fail_run=np.array([f[0] for f in failures], dtype=int),
             fail_var=np.array([f[1] for f in failures], dtype=str),
             fail_time=np.array([f[2] for f in failures], dtype=float))
    tmp.replace(chunk_file(f"{name}.npz"))


def _simulate_on_cluster(
    client: Any, model: Model, experiment: Experiment, table: pd.DataFrame, todo: list[int],
    *, method: str, time_step: float | None, variables: list[str],
    save: Callable[[int, tuple[Any, ...]], None], bar: Any,
) -> dict[int, tuple[tuple[Any, ...], list[str], list[str]]]:
    """The chunks starting at ``todo`` as tasks on ``client``; each is kept (``save``) as it
    finishes. A chunk (the unit kept on disk, up to ``[run] chunk_size`` runs) is cut into
    tasks so that every worker has two (a Morris screen of a few thousand runs is one chunk);
    each run's numbers do not depend on the runs integrated beside it, so the pieces join
    into the chunk bit for bit. Returns start -> (chunk arrays as :func:`_read_chunk` gives
    them, the guard's finding per run, its summary lines): what
    :func:`sdnet.runner.run_ensemble` gives."""
    from dataclasses import replace as with_run

    from sdnet.cluster import n_workers, run_tasks
    from sdnet.engine import compile_model
    from sdnet.numerics import summarize
    from sdnet.runner import factor_table
    from sdnet.scheduler import plan_job
    from sdnet.store import Block

    if not todo:
        return {}
    run, chunk = experiment.run, experiment.run.chunk_size
    numeric = factor_table(model, _numeric(table).reset_index(drop=True))
    # the chunk size decides, as in run_ensemble, whether the guard also simulates the stocks
    # that are not kept: the same columns, so the same findings
    job, columns, units = plan_job(model, numeric, final_time=run.final_time,
                                   time_step=time_step, saveper=run.saveper, method=method,
                                   variables=variables, block_size=chunk)
    values = numeric.to_numpy(dtype=float)
    sizes = {start: min(chunk, len(table) - start) for start in todo}
    piece = max(1, min(chunk, -(-sum(sizes.values()) // (2 * n_workers(client)))))
    tasks = []
    for start in todo:
        for offset in range(0, sizes[start], piece):
            stop = min(sizes[start], offset + piece)
            # runs numbered from 0 in each piece (its findings are shifted when it joins)
            tasks.append(((start, offset), Block(len(tasks), 0, stop - offset),
                          np.ascontiguousarray(values[start + offset:start + stop])))
    results: dict[int, tuple[tuple[Any, ...], list[str], list[str]]] = {}
    waiting: dict[int, dict[int, Any]] = {start: {} for start in todo}
    unit_list = [units[c] for c in columns]

    def finished(key: tuple[int, int], outcome: Any) -> None:
        start, offset = key
        waiting[start][offset] = outcome
        if bar is not None:
            bar.update(outcome.block.size)
        if sum(part.block.size for part in waiting[start].values()) < sizes[start]:
            return
        parts = sorted(waiting.pop(start).items())  # (offset, outcome) in run order
        failure = [text for _, part in parts for text in part.failure]
        failures = [(r, text, math.nan) for r, text in enumerate(failure) if text]
        loaded = (job.times, np.concatenate([part.values for _, part in parts]),
                  np.concatenate([part.ok for _, part in parts]), list(columns), unit_list,
                  failures)
        save(start, loaded)
        findings = [with_run(f, run=f.run + offset) for offset, part in parts
                    for f in part.findings]
        summary = list(summarize(findings, sizes[start], time_step=job.settings["time_step"]))
        results[start] = (loaded, [text for _, part in parts for text in part.numerics],
                          summary)

    run_tasks(client, compile_model(model.path, data_files=model.data_files), job, tasks, finished)
    return results


def _read_chunk(file: Path, key: str, *, experiment: Experiment,
                runs: int) -> tuple[Any, ...] | None:
    """A finished chunk's arrays, or None when it belongs to other runs (another key) or cannot
    be read (cut short or damaged: then a warning says its runs are computed again)."""
    try:
        # opened here: np.load leaves a file it fails to read open
        with file.open("rb") as handle, np.load(handle, allow_pickle=False) as saved:
            if str(saved["key"]) != key:
                return None
            return (saved["times"], saved["outputs"], saved["status"],
                    [str(c) for c in saved["columns"]], [str(u) for u in saved["units"]],
                    [(int(r), str(v), float(t)) for r, v, t in
                     zip(saved["fail_run"], saved["fail_var"], saved["fail_time"],
                         strict=True)])
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        warnings.warn(
            f"study {experiment.name!r}: the finished chunk {file} cannot be read "
            f"({type(error).__name__}: {error}); its {runs} runs are computed again",
            SdnetWarning, stacklevel=3)
        return None


def _trajectories(ensemble: EnsembleResult, table: pd.DataFrame, model: Model,
                  rows: np.ndarray | slice = slice(None),
                  metrics: Sequence[Metric] = ()) -> Trajectories:
    """The bundle metrics read: outputs, each run's push end (when the card has a push
    schedule) and each constant the metrics read per run."""
    times = ensemble.dataset["time"].to_numpy()
    outputs = {v: ensemble.dataset["outputs"].sel(variable=v).to_numpy()[rows]
               for v in ensemble.variables}
    ends = _push_end(table, model)
    constants = {name: _table_column(table, model, name)[rows]
                 for metric in metrics for name in metric.constants}
    return Trajectories(times, outputs, None if ends is None else ends[rows], constants)


def _table_column(table: pd.DataFrame, model: Model, name: str) -> np.ndarray:
    """A constant's value in every run: its column of the table, else the model's default."""
    if name in table.columns:
        return table[name].to_numpy(dtype=float)
    return np.full(len(table), model.parameters[name].default)


def _push_end(table: pd.DataFrame, model: Model) -> np.ndarray | None:
    """The time each run's push ends (start + duration + taper of the card's push
    schedule); None when the model's card has no push schedule."""
    schedule = model.card.push
    if schedule is None:
        return None
    return sum((_table_column(table, model, name) for name in schedule.end_parameters),
               np.zeros(len(table)))


def _warn_if_read_past_the_horizon(experiment: Experiment, table: pd.DataFrame, model: Model,
                                   ensemble: EnsembleResult) -> str | None:
    """Warn when runs' pushes end too late for the after-push metrics to see ten years.

    Those metrics then read the horizon instead (documented in :mod:`sdnet.metrics`); a
    study whose pushes run to the end would otherwise rank levers on a shorter window
    without saying so. Returns the warning's text (None without a warning) for the summary.
    """
    used = [m.name for m in experiment.metrics if m.after_schedule]
    push_end = _push_end(table, model)
    if not used or push_end is None:
        return None
    horizon = float(ensemble.dataset["time"].to_numpy()[-1])
    late = (push_end + PERSISTENCE_LAG > horizon + 1e-9) & ensemble.ok
    if late.any():
        latest = float(np.max(push_end[late]))
        message = (
            f"{experiment.name}: in {int(late.sum())} of {len(late)} runs the push ends less "
            f"than {PERSISTENCE_LAG:g} years before the horizon (year {horizon:g}; latest end "
            f"year {latest:g}), so {', '.join(used)} read the horizon for them; set [run] "
            f"final_time to at least {latest + PERSISTENCE_LAG:g} to see ten years"
        )
        warnings.warn(SdnetWarning(message), stacklevel=2)
        return message
    return None


def _metric_table(experiment: Experiment, ensemble: EnsembleResult, table: pd.DataFrame,
                  model: Model) -> pd.DataFrame:
    import pandas as pd

    data = _trajectories(ensemble, table, model, metrics=experiment.metrics)
    frame = pd.DataFrame({"run": np.arange(len(table)), "case": table["case"].to_numpy(),
                          "stage": table["stage"].to_numpy(),
                          "status": np.where(ensemble.ok, "ok", "failed")})
    for metric in experiment.metrics:
        values = metric(data)
        values = np.where(ensemble.ok, values, np.nan)
        frame[metric.name] = values
    return frame
