"""A screened study's second stage: Morris screens over several seeds, the factors the Sobol'
stage varies, and the growth of a Sobol' sample until its top factors separate."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sdnet.designs import Design, make_design
from sdnet.errors import ExperimentError, UnreliableIndexWarning
from sdnet.experiment.simulate import _metric_table, _simulate, _stage_table
from sdnet.experiment.spec import Experiment
from sdnet.sensitivity import (
    MorrisResult,
    ScreenStability,
    morris,
    screen_stability,
    separates_top,
    sobol,
)

if TYPE_CHECKING:
    import pandas as pd

    from sdnet.model import Model
    from sdnet.results import EnsembleResult

#: How many seeds run_experiment derives for its own use (Sobol' stage, integration check,
#: spare) before those of the extra Morris screens.
_OWN_SEEDS = 3


def _seeds(seed: int, count: int) -> list[int]:
    """``count`` independent seeds derived from ``seed`` (the first ``k`` of ``count`` are
    those of ``k``: adding screens never changes the other seeds of a study)."""
    children = np.random.SeedSequence(seed).spawn(count)
    return [int(c.generate_state(1)[0]) for c in children]


def screen_seeds(experiment: Experiment) -> list[int]:
    """The seeds of a study's Morris screens: its own seed, then derived ones."""
    extra = experiment.analysis.screen_seeds - 1
    return [experiment.seed, *_seeds(experiment.seed, _OWN_SEEDS + extra)[_OWN_SEEDS:]]


def _case_results(experiment: Experiment, design: Design, metrics: pd.DataFrame,
                  metric: str) -> tuple[list[MorrisResult], list[str]]:
    """The Morris results of ``metric`` in every case, and why a case has none."""
    results, missing = [], []
    for case in experiment.cases:
        values = metrics.loc[metrics["case"] == case.name, metric].to_numpy(dtype=float)
        if not np.isfinite(values).all():
            missing.append(f"{case.name}: {int((~np.isfinite(values)).sum())} runs failed")
        elif np.ptp(values) == 0:
            missing.append(f"{case.name}: {metric} is {values[0]:g} in every run")
        else:
            results.append(morris(design, values, seed=experiment.seed))
    return results, missing


def screen(
    model: Model, experiment: Experiment, design: Design, metrics: pd.DataFrame,
    skipped: list[str], *, chunk_file: Callable[[str], Path] | None, resume: bool,
    progress: bool, cluster: Any = None,
) -> ScreenStability:
    """Rank the factors by Morris screens drawn with every seed of :func:`screen_seeds` (the
    first is the study's own ``design`` and ``metrics``), pooled over the cases; the result
    names the factors the Sobol' stage varies and whether the seeds agree. The extra screens
    run on ``cluster`` (a ``distributed.Client``) when one is given, as the study's own
    stages do.

    Raises
    ------
    ExperimentError
        The screening metric is constant or failed in every case of the study's own screen.
    """
    analysis = experiment.analysis
    metric = str(analysis.screen_metric)
    screens: dict[int, list[MorrisResult]] = {}
    for i, seed in enumerate(screen_seeds(experiment)):
        if i == 0:
            drawn, values = design, metrics
        else:
            drawn = make_design("morris", experiment.factors, n=design.n, seed=seed,
                                **dict(design.settings))
            table = _stage_table(experiment, drawn, "morris")
            ensemble = _simulate(model, experiment, table, stage=f"morris_seed{i + 1}",
                                 chunk_file=chunk_file, resume=resume, progress=progress,
                                 cluster=cluster)
            values = _metric_table(experiment, ensemble, table, model)
        results, missing = _case_results(experiment, drawn, values, metric)
        if i == 0 and not results:
            raise ExperimentError(
                f"cannot screen: the Morris analysis of {metric!r} failed in every case "
                f"({'; '.join(missing)})", path=experiment.path, key="analysis.screen")
        skipped += [f"Morris screen with seed {seed} of {metric} ({m})" for m in missing]
        if results:
            screens[seed] = results
    return screen_stability(screens, top=min(analysis.screen_top, len(experiment.factors)),
                            keep=analysis.screen_keep)


def _separated(experiment: Experiment, design: Design, metrics: pd.DataFrame, *,
               metric: str, top: int) -> dict[str, bool]:
    """Per case: do the total-index intervals of the ``top`` largest factors of ``metric``
    lie apart from the others' (False for a failed or constant metric)?"""
    found = {}
    for case in experiment.cases:
        values = metrics.loc[metrics["case"] == case.name, metric].to_numpy(dtype=float)
        if not np.isfinite(values).all() or np.ptp(values) == 0:
            found[case.name] = False
            continue
        with warnings.catch_warnings():
            # the final size's indices are the study's own analysis, which warns
            warnings.simplefilter("ignore", UnreliableIndexWarning)
            result = sobol(design, values, seed=experiment.seed, metric=metric)
        found[case.name] = separates_top(result, top)
    return found


def _join_runs(first: EnsembleResult, second: EnsembleResult,
               order: np.ndarray) -> EnsembleResult:
    """The runs of two ensembles of the same outputs as one, in ``order`` (positions in the
    concatenation ``first + second``)."""
    import pandas as pd
    import xarray as xr

    from sdnet.results import EnsembleResult

    dataset = xr.concat([first.dataset, second.dataset], dim="run", coords="minimal",
                        compat="override", join="override").isel(run=order)
    dataset = dataset.assign_coords(run=np.arange(dataset.sizes["run"]))
    flags = [*json.loads(first.dataset.attrs.get("numerical_flags", "[]"))]
    flags += [f for f in json.loads(second.dataset.attrs.get("numerical_flags", "[]"))
              if f not in flags]
    dataset.attrs["numerical_flags"] = json.dumps(flags)
    factors = pd.concat([first.factors, second.factors], ignore_index=True).iloc[order]
    return EnsembleResult(dataset=dataset, factors=factors.reset_index(drop=True),
                          provenance=first.provenance)


def grow(
    model: Model, experiment: Experiment, design: Design, table: pd.DataFrame,
    ensemble: EnsembleResult, metrics: pd.DataFrame, *, held: Mapping[str, float] | None,
    chunk_file: Callable[[str], Path] | None, resume: bool, progress: bool,
    cluster: Any = None,
) -> tuple[Design, pd.DataFrame, EnsembleResult, pd.DataFrame, dict[str, Any]]:
    """Double a Sobol' stage's base size, up to ``[analysis] grow.max_n``, until the
    ``grow.top`` largest total indices of ``grow.metric`` separate from the rest in every
    case.

    The Saltelli design of size ``2n`` with the same seed starts with the design of size
    ``n`` (:meth:`sdnet.designs.Design.sobol_subset`), so only the new rows are run (on
    ``cluster``, a ``distributed.Client``, when one is given).

    Returns
    -------
    design, table, ensemble, metrics, record
        The stage at its final size, and what ``summary.json`` says under ``growth``:
        metric, top, max_n, sizes tried, separated (every case) and by_case.
    """
    analysis = experiment.analysis
    metric, top = str(analysis.grow_metric), analysis.grow_top
    sizes = [design.n]
    by_case = _separated(experiment, design, metrics, metric=metric, top=top)
    while not all(by_case.values()) and design.n * 2 <= analysis.grow_max_n:
        bigger = make_design("sobol", design.factors, n=design.n * 2, seed=design.seed,
                             **dict(design.settings))
        stage = str(table["stage"].iloc[0])
        big_table = _stage_table(experiment, bigger, stage, held)
        new = big_table["row"].to_numpy() >= design.n_runs
        added = _simulate(model, experiment, big_table[new], stage=f"{stage}_n{bigger.n}",
                          chunk_file=chunk_file, resume=resume, progress=progress,
                          cluster=cluster)
        positions = np.concatenate([np.nonzero(~new)[0], np.nonzero(new)[0]])
        ensemble = _join_runs(ensemble, added, np.argsort(positions, kind="stable"))
        design, table = bigger, big_table.reset_index(drop=True)
        metrics = _metric_table(experiment, ensemble, table, model)
        sizes.append(design.n)
        by_case = _separated(experiment, design, metrics, metric=metric, top=top)
    record = {"metric": metric, "top": top, "max_n": analysis.grow_max_n, "sizes": sizes,
              "separated": all(by_case.values()), "by_case": by_case}
    return design, table, ensemble, metrics, record
