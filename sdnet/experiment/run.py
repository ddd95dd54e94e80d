"""Running a study end to end: :func:`run_experiment` and its :class:`StudyResult`."""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sdnet.decision.optimize import OptimizeResult, RunSettings, optimize_package
from sdnet.designs import Design, make_design
from sdnet.errors import ExperimentError, InvalidValueError, SdnetError, SdnetWarning
from sdnet.experiment.analyses import (
    _analyse_stage,
    _compare,
    _hysteresis,
    _integration,
    _thresholds,
)
from sdnet.experiment.folder import _summary, _write, _write_packages
from sdnet.experiment.packages import (
    check_study_expectations,
    compare_study_packages,
    sets_main_design,
    study_mechanism,
    study_selected_by_targets,
)
from sdnet.experiment.parse import load_experiment
from sdnet.experiment.screen import _seeds, grow, screen
from sdnet.experiment.simulate import (
    _metric_table,
    _sanity_flags,
    _simulate,
    _stage_table,
    _warn_if_read_past_the_horizon,
    _with_model_times,
    mechanism_table,
)
from sdnet.experiment.spec import Experiment
from sdnet.metrics import ratio_totals
from sdnet.sanity import sanity_summary
from sdnet.sensitivity import (
    IndicesResult,
    MorrisResult,
    PrimResult,
    convergence,
    prim,
    time_resolved,
)

if TYPE_CHECKING:
    import pandas as pd

    from sdnet.model import Model
    from sdnet.results import EnsembleResult


@dataclass(frozen=True, eq=False)
class StudyResult:
    """Everything a study produced.

    Attributes
    ----------
    experiment : Experiment
        The resolved spec.
    design : Design
        The main design (the Sobol' stage of a screened study).
    screen_design : Design or None
        The Morris stage of a screened study.
    runs : pandas.DataFrame
        One row per run: ``run``, ``case``, ``stage``, then every factor and case constant.
    metrics : pandas.DataFrame
        One row per run: ``run``, ``case``, ``stage``, ``status``, one column per metric.
    ensemble : EnsembleResult
        Trajectories of the main stage.
    analyses : Mapping[str, Any]
        ``(kind, metric, case)`` keys as strings ``"kind/metric/case"`` -> result objects.
    summary : Mapping[str, Any]
        Key numbers (what ``summary.json`` holds).
    out : Path or None
        The results folder, when one was written.
    optimization : OptimizeResult or None
        The robust optimisation of the study's ``[optimize]`` table.
    """

    experiment: Experiment
    design: Design
    screen_design: Design | None
    runs: pd.DataFrame
    metrics: pd.DataFrame
    ensemble: EnsembleResult
    analyses: Mapping[str, Any]
    summary: Mapping[str, Any]
    out: Path | None = None
    optimization: OptimizeResult | None = None

    def _get(self, kind: str, metric: str, case: str | None) -> Any:
        case = case or self.experiment.cases[0].name
        key = f"{kind}/{metric}/{case}"
        if key not in self.analyses:
            available = sorted(k for k in self.analyses if k.startswith(kind + "/"))
            raise ExperimentError(
                f"no {kind} analysis of {metric!r} for case {case!r} (available: "
                f"{', '.join(available) or 'none'})", path=self.experiment.path, key="analysis",
                value=key)
        return self.analyses[key]

    def sobol(self, metric: str, *, case: str | None = None) -> IndicesResult:
        """Sobol' indices of a metric (the first case by default)."""
        return self._get("sobol", metric, case)

    def morris(self, metric: str, *, case: str | None = None) -> MorrisResult:
        """Morris screening of a metric."""
        return self._get("morris", metric, case)

    def efast(self, metric: str, *, case: str | None = None) -> IndicesResult:
        """eFAST indices of a metric."""
        return self._get("efast", metric, case)

    def prim(self, *, case: str | None = None) -> PrimResult:
        """The PRIM box of the case."""
        return self._get("prim", str(self.experiment.analysis.prim_metric), case)

    def to_frame(self) -> pd.DataFrame:
        """The metric table (one row per run)."""
        return self.metrics.copy()


def run_experiment(
    spec: Experiment | str | Path, *, out: str | Path | None = None, progress: bool = True,
    resume: bool = True, overwrite: bool = False, cluster: Any = None, engine: str = "auto",
) -> StudyResult:
    """Run a study end to end: design -> runs (in chunks) -> metrics -> analyses -> folder.

    Parameters
    ----------
    spec : Experiment or path
        The study (or the path of its TOML file).
    out : str or Path, optional
        The results folder to write (layout in docs/architecture.md); nothing is written when
        omitted. It appears whole when the study is done (see :mod:`sdnet.outputs`): a new or
        empty folder, or one holding the same study (same spec and model file), which is
        replaced; files you added to it stay.
    progress : bool
        Show progress bars.
    resume : bool
        Reuse the finished chunks of an interrupted run of the same study, kept beside the
        folder in ``.NAME.sdnet-work/chunks/``; each chunk is keyed by a hash of the model
        file, the run settings and its rows (a chunk that cannot be read is run again, with a
        warning). The chunks are deleted once the results folder is complete.
    overwrite : bool
        Replace another output found in ``out`` (another study, say); only the files sdnet
        wrote there are removed.
    cluster : str, ClusterSpec or distributed.Client, optional
        Run the chunks of the study's runs as tasks on a dask cluster: ``"local:N"`` (a
        LocalCluster of N worker processes), ``"tcp://HOST:PORT"`` (a running scheduler) or a
        client (:mod:`sdnet.cluster`). Every sampled stage runs there: the main design, the
        extra Morris screens (``screen.seeds``), the Sobol' stage and its growth (``grow``)
        the integration check, each step of the threshold bisections and each generation of
        ``[optimize]``. Each chunk is kept as it finishes; the numbers are the same bit for
        bit as without a cluster. Only the hysteresis test's single runs stay here.

    engine : {"auto", "vector"}, default "auto"
        ``"auto"`` runs the vectorized engine, or, for a model it cannot compile, PySD (one
        run at a time in worker processes) with one :class:`~sdnet.errors.SdnetWarning`
        naming the construct; the integration check then runs at half the time step only
        (PySD integrates with Euler). ``"vector"`` forces the engine and raises
        :class:`~sdnet.errors.UnsupportedConstructError` before any run.

    Returns
    -------
    StudyResult
        Reproducible: the same spec and seed give identical numbers.

    Raises
    ------
    OutputFolderError
        ``out`` is a file, holds files sdnet did not write, or holds another study and
        ``overwrite`` is false; :class:`~sdnet.errors.OutputFolderLockedError` when another
        sdnet command is writing it. Raised before any run.
    """
    from sdnet.model import load_model
    from sdnet.outputs import output_folder

    experiment = spec if isinstance(spec, Experiment) else load_experiment(spec)
    model = load_model(experiment.model_path, card=experiment.card_path,
                       data_files=experiment.data_files)
    experiment = _with_model_times(experiment, model)
    from sdnet.cluster import client_for, parse_cluster
    from sdnet.runner import choose_engine

    if engine not in ("auto", "vector"):
        raise InvalidValueError("engine", engine, expected="'auto' or 'vector'")
    chosen = choose_engine(model, engine)  # auto: one warning; vector: fails before any run
    if chosen == "pysd" and cluster is not None:
        raise SdnetError(f"{model.path.name}: a cluster runs the vectorized engine, which "
                         "cannot compile this model; run the study without --cluster (PySD "
                         "in local worker processes)")

    if isinstance(cluster, str):
        cluster = parse_cluster(cluster, option="cluster")
    if out is None:
        with client_for(cluster) as client:
            return _run_study(experiment, model, out=None, chunk_file=None, resume=resume,
                              progress=progress, cluster=client, engine=chosen)[0]
    with output_folder(out, kind="study", identity=_identity(experiment, model),
                       label=f"study {experiment.name!r}", overwrite=overwrite) as staging:
        with client_for(cluster) as client:
            result, write = _run_study(experiment, model, out=Path(out),
                                       chunk_file=staging.work_file, resume=resume,
                                       progress=progress, cluster=client, engine=chosen)
        write(staging.path)
    return result


def _identity(experiment: Experiment, model: Model) -> str:
    """What makes two studies the same: the resolved spec and the model file's bytes."""
    spec = experiment.to_dict()
    spec["experiment"]["model"] = str(Path(experiment.model_path).resolve())
    inputs = {"spec": spec, "model_sha256": model.sha256}
    if experiment.data_files:  # the data variables' values are the files' bytes
        from sdnet.files import file_sha256

        inputs["data_sha256"] = [file_sha256(f) for f in experiment.data_files]
    if experiment.design_method == "sets":  # the worlds are the file's bytes
        from sdnet.files import file_sha256

        inputs["worlds_sha256"] = file_sha256(Path(str(experiment.design_settings["file"])))
    text = json.dumps(inputs, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _ratios(experiment: Experiment, model: Model,
            metrics: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """The card's ``[[ratios]]`` whose two outcomes the study measures, per case of the main
    stage: totals over the case's runs and their ratio (None when nothing survived)."""
    measured = {m.name for m in experiment.metrics}
    result: dict[str, dict[str, Any]] = {}
    for ratio in model.card.ratios:
        if not {ratio.numerator, ratio.denominator} <= measured:
            continue
        for case in dict.fromkeys(metrics["case"]):
            part = metrics[metrics["case"] == case]
            result.setdefault(str(case), {})[ratio.name] = {
                **ratio_totals(part[ratio.numerator].to_numpy(dtype=float),
                               part[ratio.denominator].to_numpy(dtype=float)),
                "numerator_outcome": ratio.numerator,
                "denominator_outcome": ratio.denominator,
                "units": ratio.units, "plain": ratio.plain, "runs": len(part)}
    return result


def _run_study(
    experiment: Experiment, model: Model, *, out: Path | None,
    chunk_file: Callable[[str], Path] | None, resume: bool, progress: bool,
    cluster: Any = None, engine: str = "vector",
) -> tuple[StudyResult, Callable[[Path], None]]:
    """Run the study; return its result and the function that writes its results folder.

    ``engine`` is what :func:`sdnet.runner.choose_engine` chose: with ``"pysd"`` every
    ensemble falls back to PySD again, so its warning (already given once) is not repeated.
    """
    with warnings.catch_warnings():
        if engine == "pysd":
            warnings.filterwarnings("ignore", message=".*the vectorized engine does not "
                                    "support", category=SdnetWarning)
        return _run_study_on(experiment, model, out=out, chunk_file=chunk_file,
                             resume=resume, progress=progress, cluster=cluster, engine=engine)


def _run_study_on(
    experiment: Experiment, model: Model, *, out: Path | None,
    chunk_file: Callable[[str], Path] | None, resume: bool, progress: bool,
    cluster: Any, engine: str,
) -> tuple[StudyResult, Callable[[Path], None]]:
    analysis = experiment.analysis
    seeds = _seeds(experiment.seed, 3)
    analyses: dict[str, Any] = {}
    skipped: list[str] = []

    growth = None
    if experiment.design_method == "sets":
        design = sets_main_design(experiment, model)
    else:
        design = make_design(experiment.design_method, experiment.factors,
                             n=experiment.design_n, seed=experiment.seed,
                             **dict(experiment.design_settings))
    table = _stage_table(experiment, design, design.method)
    ensemble = _simulate(model, experiment, table, stage=design.method, chunk_file=chunk_file,
                         resume=resume, progress=progress, cluster=cluster)
    metrics = _metric_table(experiment, ensemble, table, model)
    if analysis.grow_max_n and design.method == "sobol":
        design, table, ensemble, metrics, growth = grow(
            model, experiment, design, table, ensemble, metrics, held=None,
            chunk_file=chunk_file, resume=resume, progress=progress, cluster=cluster)
    sanity_flags = [_sanity_flags(ensemble, table, model)]
    horizon_note = _warn_if_read_past_the_horizon(experiment, table, model, ensemble)
    _analyse_stage(experiment, design, metrics, analyses, skipped)
    screen_design = None
    tables = [table]
    metric_tables = [metrics]
    screen_ensemble = None

    stability = None
    if analysis.screen_top:
        screen_design, screen_ensemble = design, ensemble
        stability = screen(model, experiment, design, metrics, skipped,
                           chunk_file=chunk_file, resume=resume, progress=progress,
                           cluster=cluster)
        top = set(stability.chosen)
        chosen = [f for f in experiment.factors if f.name in top]
        design = make_design("sobol", chosen, n=analysis.screen_n, seed=seeds[0],
                             calc_second_order=analysis.calc_second_order)
        # the other factors are held at the case's value, else the model's default (within
        # the factor's bounds), and written out so factors.csv says what every run used
        held = {f.name: min(max(model.parameters[f.name].default, f.lower), f.upper)
                for f in experiment.factors if f.name not in top}
        table_main = _stage_table(experiment, design, "sobol", held)
        ensemble = _simulate(model, experiment, table_main, stage="sobol",
                             chunk_file=chunk_file, resume=resume, progress=progress,
                             cluster=cluster)
        metrics_main = _metric_table(experiment, ensemble, table_main, model)
        if analysis.grow_max_n:
            design, table_main, ensemble, metrics_main, growth = grow(
                model, experiment, design, table_main, ensemble, metrics_main, held=held,
                chunk_file=chunk_file, resume=resume, progress=progress, cluster=cluster)
        sanity_flags.append(_sanity_flags(ensemble, table_main, model))
        metrics_main["run"] += len(table)
        table_main.index += len(table)
        _analyse_stage(experiment, design, metrics_main, analyses, skipped)
        tables.append(table_main)
        metric_tables.append(metrics_main)
        table, metrics = table_main, metrics_main

    import pandas as pd

    all_runs = pd.concat(tables, ignore_index=True)
    all_runs.insert(0, "run", np.arange(len(all_runs)))
    all_metrics = pd.concat(metric_tables, ignore_index=True)
    main_metrics = metrics.reset_index(drop=True)

    if analysis.convergence and design.method == "sobol":
        for case in experiment.cases:
            part = main_metrics[main_metrics["case"] == case.name]
            for metric in experiment.metrics:
                values = part[metric.name].to_numpy(dtype=float)
                if not np.isfinite(values).all() or np.ptp(values) == 0:
                    continue
                result = convergence(design, values, min_n=min(16, design.n),
                                     metric=metric.name)
                analyses[f"convergence/{metric.name}/{case.name}"] = result

    if analysis.time_resolved and design.method in ("sobol", "efast"):
        for case in experiment.cases:
            rows = np.nonzero(main_metrics["case"].to_numpy() == case.name)[0]
            for variable in analysis.time_resolved:
                values = ensemble.outputs(variable).to_numpy()[rows]
                if not np.isfinite(values).all():
                    skipped.append(f"time-resolved {variable} ({case.name}): failed runs")
                    continue
                analyses[f"time_resolved/{_slug(variable)}/{case.name}"] = time_resolved(
                    design, values, times=ensemble.dataset["time"].to_numpy(),
                    every=analysis.time_resolved_every)

    if analysis.prim_metric:
        for case in experiment.cases:
            mask = (main_metrics["case"] == case.name).to_numpy()
            y = main_metrics.loc[mask, analysis.prim_metric].to_numpy(dtype=float)
            ok = np.isfinite(y)
            x = design.to_frame().loc[ok]
            if not (y[ok] > 0.5).any():
                skipped.append(f"prim ({case.name}): no run has {analysis.prim_metric} = 1")
                continue
            analyses[f"prim/{analysis.prim_metric}/{case.name}"] = prim(
                x, y[ok] > 0.5, alpha=analysis.prim_alpha,
                min_coverage=analysis.prim_min_coverage)

    comparison = None
    if analysis.compare_metric:
        comparison = _compare(experiment, design, main_metrics, analyses, skipped)

    packages = None
    if analysis.packages_success:
        packages = compare_study_packages(experiment, design, main_metrics, model)
    expectations = None if packages is None else check_study_expectations(
        experiment, packages[0])
    mechanism = None
    if packages is not None:
        values = mechanism_table(ensemble, table, model)
        if values is not None:
            mechanism = study_mechanism(experiment, main_metrics, values, model)

    thresholds = None
    if analysis.threshold_amounts:
        thresholds = _thresholds(model, experiment, search="duration", cluster=cluster)
    amount_thresholds = None
    if analysis.threshold_durations:
        amount_thresholds = _thresholds(model, experiment, search="amount", cluster=cluster)

    integration = None
    if analysis.integration_n:
        integration = _integration(model, experiment, table, main_metrics, ensemble, seeds[1],
                                   cluster=cluster, rk4=engine != "pysd")
        if engine == "pysd":
            skipped.append("integration check with RK4: PySD runs this study (the vectorized "
                           "engine cannot compile the model) and integrates with Euler only; "
                           "the half-step check ran")

    hysteresis = _hysteresis(model, experiment) if analysis.hysteresis else None
    optimization = (_optimize(model, experiment, progress=progress, cluster=cluster)
                    if experiment.optimize is not None else None)

    summary = _summary(experiment, design, screen_design, all_metrics, analyses, skipped,
                       thresholds, integration, hysteresis, comparison)
    summary["notes"] = [horizon_note] if horizon_note else []
    summary["numerical_flags"] = _numerical_flags([e for e in (screen_ensemble, ensemble)
                                                   if e is not None])
    if summary["numerical_flags"]["n_flagged"]:
        flagged = summary["numerical_flags"]
        summary["notes"].append(
            f"the numerical guard flagged {flagged['n_flagged']} of {flagged['n_runs']} runs: "
            f"{flagged['flags'][0]}")
    if stability is not None:
        summary["screen_stability"] = {"metric": analysis.screen_metric,
                                       **stability.to_dict()}
    if growth is not None:
        summary["growth"] = growth
    ratios = _ratios(experiment, model, main_metrics)
    if ratios:
        summary["ratios"] = ratios
    if model.card.sanity and sanity_flags[0]:
        flags = {name: np.concatenate([part[name] for part in sanity_flags])
                 for name in sanity_flags[0]}
        summary["sanity"] = sanity_summary(
            model.card.sanity, flags, cases=all_metrics["case"].to_numpy(),
            ok=(all_metrics["status"] == "ok").to_numpy(),
            factors=all_runs[[f.name for f in experiment.factors]])
    if packages is not None:
        summary["packages"] = _packages_summary(experiment, packages[0])
        if expectations is not None:
            summary["packages"]["expectations"] = _records(expectations[1])
        selected = study_selected_by_targets(experiment, model)
        if selected is not None:
            summary["packages"]["selected_by_targets"] = selected
    if mechanism is not None:
        summary["mechanism"] = mechanism[1]
    if amount_thresholds is not None:
        summary["amount_thresholds"] = amount_thresholds.replace({np.nan: None}).to_dict(
            "records")
    if optimization is not None:
        summary["optimize"] = optimization.summary()
    result = StudyResult(experiment, design, screen_design, all_runs, all_metrics, ensemble,
                         analyses, summary, out, optimization)

    def write(folder: Path) -> None:
        _write(result, folder, screen_ensemble, thresholds, integration, hysteresis,
               comparison)
        if amount_thresholds is not None:
            amount_thresholds.to_csv(folder / "analyses" / "thresholds_amount.csv",
                                     index=False)
        if stability is not None:
            stability.to_frame().to_csv(folder / "analyses" / "screen_stability.csv",
                                        index=False)
        if optimization is not None:
            optimization.optima_frame().to_csv(folder / "analyses" / "optimize_optima.csv",
                                               index=False)
            optimization.fronts.to_csv(folder / "analyses" / "optimize_front.csv",
                                       index=False)
            optimization.evaluated.to_csv(folder / "analyses" / "optimize_evaluated.csv",
                                          index=False)
            optimization.near_optimal().to_csv(folder / "analyses" / "optimize_near.csv",
                                               index=False)
        if packages is not None:
            _write_packages(folder, *packages)
        if expectations is not None:
            expectations[0].to_csv(folder / "analyses" / "expectations.csv", index=False)
        if mechanism is not None:
            mechanism[0].to_csv(folder / "analyses" / "mechanisms.csv", index=False)

    return result, write


def _optimize(model: Model, experiment: Experiment, *, progress: bool,
              cluster: Any = None) -> OptimizeResult:
    """The study's robust optimisation: its [optimize] table, run with the study's run
    settings, base push and constants, a progress bar over the generations."""
    spec = experiment.optimize
    assert spec is not None
    run = experiment.run
    push = experiment.cases[0].push
    fixed = {**(model.push_values(push) if push is not None else {}), **experiment.params}
    settings = RunSettings(run.final_time, run.time_step, run.saveper, run.method, fixed)
    searches = len(spec.regions) * len(spec.rates)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=searches * (spec.generations + 1), desc="sdnet optimise",
                   unit="generation", leave=False)
    try:
        return optimize_package(model, spec, settings=settings, cluster=cluster,
                                progress=None if bar is None else
                                (lambda line: (bar.set_postfix_str(line.split(": ", 1)[-1]),
                                               bar.update(1))))
    finally:
        if bar is not None:
            bar.close()


def _records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready records (None for what is undefined)."""
    return table.astype(object).where(table.notna(), None).to_dict("records")


def _packages_summary(experiment: Experiment, table: pd.DataFrame) -> dict[str, Any]:
    """What summary.json says of the package comparison: its settings and one record per
    region and package (None for what is undefined)."""
    analysis = experiment.analysis
    records = table.astype(object).where(table.notna(), None).to_dict("records")
    return {"success": analysis.packages_success, "at_least": analysis.packages_at_least,
            "cost": analysis.packages_cost, "satisfice": list(analysis.packages_satisfice),
            "confidence": analysis.packages_confidence,
            "min_successes": analysis.packages_min_successes, "rows": records}


def _slug(name: str) -> str:
    """A name for files and cases: runs of other characters become one ``_``."""
    import re

    return re.sub(r"[^0-9a-z]+", "_", name.strip().lower()).strip("_")


def _numerical_flags(ensembles: list[EnsembleResult]) -> dict[str, Any]:
    """What the numerical guard found over every stage: runs flagged and its summary lines."""
    flags: list[str] = []
    for ensemble in ensembles:
        flags += [f for f in ensemble.flags if f not in flags]
    return {"n_runs": sum(len(e.factors) for e in ensembles),
            "n_flagged": sum(int(e.flagged.sum()) for e in ensembles),
            "flags": flags}
