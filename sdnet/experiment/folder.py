"""The results folder of a study: ``summary.json`` and every file docs/architecture.md lists."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sdnet.designs import Design
from sdnet.experiment.spec import Experiment
from sdnet.experiment.toml import to_toml
from sdnet.sensitivity import (
    ConvergenceResult,
    IndicesResult,
    IntegrationCheckResult,
    MorrisResult,
    PrimResult,
)

if TYPE_CHECKING:
    import pandas as pd

    from sdnet.experiment.run import StudyResult
    from sdnet.policy import Push
    from sdnet.results import EnsembleResult


def _push_window(push: Push | None) -> list[float] | None:
    if push is None or push.amount == 0:
        return None
    return [float(push.start), float(push.start + push.duration + push.taper)]


def _summary(experiment: Experiment, design: Design, screen: Design | None,
             metrics: pd.DataFrame, analyses: Mapping[str, Any], skipped: list[str],
             thresholds: pd.DataFrame | None, integration: IntegrationCheckResult | None,
             hysteresis: pd.DataFrame | None, comparison: pd.DataFrame | None,
             ) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "name": experiment.name,
        "question": experiment.question,
        "seed": experiment.seed,
        "n_runs": len(metrics),
        "n_failed": int((metrics["status"] != "ok").sum()),
        "cases": [c.name for c in experiment.cases],
        # each case's push window (start, end of taper), or None without a push: a package
        # study's fan charts shade each panel's own push
        "case_push": {c.name: _push_window(c.push) for c in experiment.cases},
        "design": design.to_dict(),
        "screen_design": None if screen is None else screen.to_dict(),
        "metric_means": {},
        "rankings": {},
        "skipped": list(skipped),
    }
    main = metrics[metrics["stage"] == design.method]
    for case in experiment.cases:
        part = main[main["case"] == case.name]
        summary["metric_means"][case.name] = {
            m.name: _finite_or_none(part[m.name].mean()) for m in experiment.metrics}
    for key, result in analyses.items():
        if isinstance(result, IndicesResult):
            frame = result.to_frame()
            summary["rankings"][key] = [
                {"factor": r.factor, "ST": _finite_or_none(r.ST),
                 "ST_conf": _finite_or_none(r.ST_conf), "S1": _finite_or_none(r.S1),
                 "reliable": bool(r.reliable), "problem": str(r.problem)}
                for r in frame.itertuples()]
        elif isinstance(result, MorrisResult):
            frame = result.to_frame()
            summary["rankings"][key] = [
                {"factor": r.factor, "mu_star": _finite_or_none(r.mu_star),
                 "mu_star_conf": _finite_or_none(r.mu_star_conf),
                 "sigma": _finite_or_none(r.sigma)} for r in frame.itertuples()]
        elif isinstance(result, ConvergenceResult):
            summary.setdefault("convergence", {})[key] = {
                "rankable": result.rankable, "sizes": list(result.sizes),
                "max_st_conf": [_finite_or_none(v) for v in result.max_st_conf()]}
        elif isinstance(result, PrimResult):
            summary.setdefault("prim", {})[key] = {
                "coverage": result.box_coverage, "density": result.box_density,
                "mass": result.box_mass, "chosen_step": result.chosen,
                "box": result.to_frame().to_dict("records")}
    if thresholds is not None:
        summary["thresholds"] = thresholds.replace({np.nan: None}).to_dict("records")
    if integration is not None:
        summary["integration_check"] = {
            "n_runs": integration.n_runs, "tolerance": integration.tolerance,
            "ok": bool(integration.ok.all()),
            "worst": {m: _finite_or_none(max(h, r)) for m, h, r in zip(
                integration.metrics, integration.max_change_half_dt, integration.max_change_rk4,
                strict=True)}}
    if hysteresis is not None:
        summary["hysteresis"] = hysteresis.to_dict("records")
    if comparison is not None:
        summary["comparison"] = comparison.to_dict("records")
    return summary


def _finite_or_none(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _relative_to(file: Path, folder: Path) -> str:
    """``file`` as a POSIX path relative to ``folder`` (absolute when there is none, e.g.
    another drive)."""
    import os

    try:
        return Path(os.path.relpath(Path(file).resolve(), Path(folder).resolve())).as_posix()
    except ValueError:
        return str(file)


def _write_packages(out: Path, summary: pd.DataFrame, worlds: pd.DataFrame) -> None:
    """The package comparison: ``analyses/packages.csv`` (one row per region and package)
    and ``analyses/package_worlds.csv`` (one row per region, package and world)."""
    (out / "analyses").mkdir(parents=True, exist_ok=True)
    summary.to_csv(out / "analyses" / "packages.csv", index=False)
    worlds.to_csv(out / "analyses" / "package_worlds.csv", index=False)


#: From this many runs a study's factors and metrics are Parquet files, not CSV (sdnet report
#: reads both).
PARQUET_ROWS = 100_000
#: From this many bytes of trajectories a study's ensemble is a Zarr store (``ensemble.zarr``,
#: chunked and compressed), not NetCDF.
ZARR_BYTES = 2**29


def _write(result: StudyResult, out: Path, screen_ensemble: EnsembleResult | None,
           thresholds: pd.DataFrame | None, integration: IntegrationCheckResult | None,
           hysteresis: pd.DataFrame | None, comparison: pd.DataFrame | None) -> None:
    """Write the results folder (layout in docs/architecture.md)."""
    experiment = result.experiment
    out.mkdir(parents=True, exist_ok=True)
    analyses_dir = out / "analyses"
    analyses_dir.mkdir(exist_ok=True)
    spec = experiment.to_dict()
    # the model relative to the folder (spec.toml's paths are relative to its folder), so the
    # folder reproduces on another machine with the same layout and leaks no local path
    spec["experiment"]["model"] = _relative_to(experiment.model_path, out)
    if experiment.card_path is not None:
        spec["experiment"]["card"] = _relative_to(experiment.card_path, out)
    if experiment.data_files:
        spec["experiment"]["data"] = [_relative_to(f, out) for f in experiment.data_files]
    if "sets" in spec.get("optimize", {}):
        spec["optimize"]["sets"] = _relative_to(Path(spec["optimize"]["sets"]), out)
    if "file" in spec["design"]:  # a sets design's worlds, like the model
        spec["design"]["file"] = _relative_to(Path(spec["design"]["file"]), out)
    (out / "spec.toml").write_text(to_toml(spec), encoding="utf-8")
    provenance = result.ensemble.provenance
    if provenance is not None:
        (out / "provenance.json").write_text(json.dumps(provenance.to_dict(), indent=2),
                                             encoding="utf-8")
    design_info = result.design.to_dict()
    if result.screen_design is not None:
        design_info["screen"] = result.screen_design.to_dict()
    (out / "design.json").write_text(json.dumps(design_info, indent=2), encoding="utf-8")
    big_tables = len(result.runs) >= PARQUET_ROWS
    for stem, frame in (("factors", result.runs), ("metrics", result.metrics)):
        if big_tables:
            frame.to_parquet(out / f"{stem}.parquet", index=False, compression="zstd")
        else:
            frame.to_csv(out / f"{stem}.csv", index=False)
    for stem, ensemble in (("ensemble", result.ensemble), ("ensemble_screen", screen_ensemble)):
        if ensemble is None:
            continue
        big = ensemble.dataset["outputs"].nbytes >= ZARR_BYTES
        ensemble.save(out / f"{stem}.{'zarr' if big else 'nc'}")
    several = len(experiment.cases) > 1
    for key, analysis in result.analyses.items():
        kind, metric, case = key.split("/")
        suffix = f"__{case}" if several else ""
        if kind == "prim":
            analysis.to_frame().to_csv(analyses_dir / f"prim_{case}.csv", index=False)
            analysis.trajectory().to_csv(analyses_dir / f"prim_{case}_trajectory.csv",
                                         index=False)
            continue
        stem = "fast" if kind == "efast" else kind
        analysis.to_frame().to_csv(analyses_dir / f"{stem}_{metric}{suffix}.csv", index=False)
        if kind == "sobol" and analysis.S2 is not None:
            analysis.second_order_frame().to_csv(
                analyses_dir / f"sobol2_{metric}{suffix}.csv", index=False)
    if thresholds is not None:
        thresholds.to_csv(analyses_dir / "thresholds.csv", index=False)
    if integration is not None:
        integration.to_frame().to_csv(analyses_dir / "integration_check.csv", index=False)
    if hysteresis is not None:
        hysteresis.to_csv(analyses_dir / "hysteresis.csv", index=False)
    if comparison is not None:
        comparison.to_csv(analyses_dir / "comparison.csv", index=False)
    (out / "summary.json").write_text(json.dumps(result.summary, indent=2, default=str),
                                      encoding="utf-8")
