"""Read a study's results folder (layout in ``docs/architecture.md``) for the report.

Every part is optional except that the folder must exist and hold at least one of the files
a study writes: a report is written from whatever the study produced, and says what is absent.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sdnet.errors import ResultsFolderError

__all__ = ["StudyResults", "load_results"]

_KNOWN_FILES = ("spec.toml", "provenance.json", "design.json", "factors.csv", "metrics.csv",
                "ensemble.nc", "summary.json", "factors.parquet", "metrics.parquet",
                "ensemble.zarr")
_REGIME_COLUMNS = ("sustained", "regime", "embedded")


@dataclass(frozen=True, eq=False)
class StudyResults:
    """What a finished study left in its results folder.

    Attributes
    ----------
    path : Path
        The results folder.
    spec : dict
        ``spec.toml`` (empty when absent).
    spec_text : str
        The text of ``spec.toml`` as written (empty when absent).
    provenance : dict
        ``provenance.json``.
    design : dict
        ``design.json``.
    factors, metrics : DataFrame or None
        ``factors.csv`` and ``metrics.csv`` as written (columns ``run``, maybe ``case`` and
        ``stage``, then factors or ``status`` and metrics).
    ensemble : EnsembleResult or None
        ``ensemble.nc``.
    analyses : dict of str to DataFrame
        ``analyses/*.csv`` by file stem (``"sobol_persistence_after_push"``).
    summary : dict
        ``summary.json``.
    """

    path: Path
    spec: dict[str, Any] = field(default_factory=dict)
    spec_text: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    design: dict[str, Any] = field(default_factory=dict)
    factors: pd.DataFrame | None = None
    metrics: pd.DataFrame | None = None
    ensemble: Any = None
    analyses: dict[str, pd.DataFrame] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    # ---- convenience views used by the report -------------------------------------------

    @property
    def name(self) -> str:
        """The study's name (from the spec, else the folder's name)."""
        experiment = self.spec.get("experiment", {})
        return str(experiment.get("name") or self.path.name)

    @property
    def question(self) -> str | None:
        """The study's question in words, when the spec states one."""
        experiment = self.spec.get("experiment", {})
        text = experiment.get("question") or self.spec.get("question")
        return str(text).strip() if text else None

    @property
    def seed(self) -> int | None:
        """The study's seed (spec, provenance, else the design's)."""
        for source in (self.spec.get("experiment", {}), self.provenance, self.design):
            if isinstance(source, dict) and source.get("seed") is not None:
                return int(source["seed"])
        return None

    @property
    def model_path(self) -> str | None:
        """The model file as the study named it."""
        text = self.provenance.get("model_path") or self.spec.get("experiment", {}).get("model")
        return str(text) if text else None

    def analyses_of(self, kind: str) -> dict[str, pd.DataFrame]:
        """Analysis tables of one kind by metric: ``analyses_of("sobol")["persistence..."]``.

        A study of several cases suffixes the file names with ``__<case>``; the key keeps the
        suffix (``"persistence_after_push__typical"``)."""
        prefix = f"{kind}_"
        found = {}
        for stem, frame in self.analyses.items():
            if stem.startswith(prefix) and not stem.endswith("_trajectory"):
                found[stem[len(prefix):]] = frame
        return found

    def main_mask(self) -> np.ndarray | None:
        """Rows of ``metrics`` in the study's main stage (the last stage listed).

        A screened study writes the Morris screening runs and the main (Sobol') runs into the
        same tables, told apart by a ``stage`` column; ``ensemble.nc`` holds the main stage.
        """
        if self.metrics is None:
            return None
        if "stage" not in self.metrics.columns:
            return np.ones(len(self.metrics), dtype=bool)
        stages = self.metrics["stage"].astype(str)
        return (stages == stages.iloc[-1]).to_numpy()

    def factor_rows(self, mask_of_metrics: np.ndarray) -> pd.DataFrame | None:
        """The rows of ``factors`` that belong to the given rows of ``metrics``.

        ``sdnet experiment`` writes both tables in the same row order, so rows are matched by
        position when the tables have equal length, else by the ``run`` column.
        """
        if self.factors is None or self.metrics is None:
            return None
        if len(self.factors) == len(self.metrics):
            return self.factors.loc[np.asarray(mask_of_metrics, dtype=bool)].reset_index(
                drop=True)
        if "run" in self.factors.columns and "run" in self.metrics.columns:
            indexed = self.factors.drop_duplicates("run").set_index("run")
            runs = self.metrics.loc[np.asarray(mask_of_metrics, dtype=bool), "run"]
            return indexed.reindex(runs.to_numpy()).reset_index()
        return None

    def regime(self) -> np.ndarray | None:
        """``"sustained"`` / ``"not sustained"`` / ``"failed"`` for each row of ``metrics``.

        "not sustained" rather than "collapsed": the flag is 0 also for a network that shrank
        by more than 40% but is still alive (QA F18).

        From the ``sustained`` metric (1 or 0), or a ``regime`` column of strings.
        """
        if self.metrics is None:
            return None
        ok = self.ok_mask()
        for column in _REGIME_COLUMNS:
            if column in self.metrics.columns:
                values = self.metrics[column]
                if values.dtype == object:
                    labels = values.astype(str).to_numpy()
                else:
                    numbers = values.to_numpy(float)
                    labels = np.where(
                        np.isfinite(numbers),
                        np.where(numbers >= 0.5, "sustained", "not sustained"),
                        "failed",
                    )
                if ok is not None:
                    labels = np.where(ok, labels, "failed")
                return labels
        return None

    def ok_mask(self) -> np.ndarray | None:
        """True for rows of ``metrics`` whose status is ``ok``."""
        if self.metrics is None or "status" not in self.metrics.columns:
            return None
        return (self.metrics["status"].astype(str) == "ok").to_numpy()


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise ResultsFolderError(f"cannot read table {path}: {error}", path=path) from error


def _read_table(path: Path, stem: str) -> pd.DataFrame | None:
    """``STEM.csv``, or ``STEM.parquet`` (what a big study writes), or None."""
    if (path / f"{stem}.csv").is_file():
        return _read_csv(path / f"{stem}.csv")
    file = path / f"{stem}.parquet"
    if not file.is_file():
        return None
    try:
        return pd.read_parquet(file)
    except (OSError, ValueError) as error:
        raise ResultsFolderError(f"cannot read table {file}: {error}", path=file) from error


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ResultsFolderError(f"cannot read {path}: {error}", path=path) from error
    return data if isinstance(data, dict) else {"value": data}


def _check_consistent(path: Path, design: Mapping[str, Any], summary: Mapping[str, Any],
                      factors: pd.DataFrame | None, metrics: pd.DataFrame | None) -> None:
    """Refuse a folder whose files disagree (a truncated table, an edited design.json): a
    report drawn from them would present wrong numbers as the study's."""
    from sdnet.designs import METHODS

    for name, where in (("design", design), ("screen", design.get("screen") or {})):
        if not isinstance(where, Mapping) or "method" not in where:
            continue
        method = where["method"]
        if not isinstance(method, str) or method not in METHODS:
            key = "method" if name == "design" else "screen.method"
            raise ResultsFolderError(
                f"{path / 'design.json'}: [{key}] {method!r} is not a design method (valid: "
                f"{', '.join(METHODS)}); the file was edited or damaged, rerun the study",
                path=path / "design.json")
    counts = {}
    if factors is not None:
        counts["factors.csv"] = len(factors)
    if metrics is not None:
        counts["metrics.csv"] = len(metrics)
    n_runs = summary.get("n_runs")
    if isinstance(n_runs, int) and not isinstance(n_runs, bool):
        counts["summary.json n_runs"] = n_runs
    if len(set(counts.values())) > 1:
        described = ", ".join(f"{k}: {v}" for k, v in counts.items())
        raise ResultsFolderError(
            f"{path}: the files disagree on the number of runs ({described}); a file was cut "
            "short or replaced, rerun the study", path=path)


def load_results(results_dir: str | Path) -> StudyResults:
    """Read everything a study wrote into its results folder.

    Parameters
    ----------
    results_dir : str or Path
        The folder ``sdnet experiment`` wrote.

    Raises
    ------
    ResultsFolderError
        The folder does not exist, holds none of a study's files, or a file is malformed.
    """
    path = Path(results_dir)
    if not path.is_dir():
        raise ResultsFolderError(
            f"results folder not found: {path} (give the folder `sdnet experiment` wrote)",
            path=path,
        )
    analyses_dir = path / "analyses"
    if not any((path / name).exists() for name in _KNOWN_FILES) and not analyses_dir.is_dir():
        raise ResultsFolderError(
            f"{path} is not a study's results folder: it has none of "
            f"{', '.join(_KNOWN_FILES)} nor an analyses/ folder",
            path=path,
        )
    spec: dict[str, Any] = {}
    spec_text = ""
    if (path / "spec.toml").is_file():
        spec_text = (path / "spec.toml").read_text(encoding="utf-8")
        try:
            spec = tomllib.loads(spec_text)
        except tomllib.TOMLDecodeError as error:
            raise ResultsFolderError(
                f"cannot read {path / 'spec.toml'}: {error}", path=path / "spec.toml"
            ) from error
    provenance = _read_json(path / "provenance.json") if (path / "provenance.json").is_file() \
        else {}
    design = _read_json(path / "design.json") if (path / "design.json").is_file() else {}
    summary = _read_json(path / "summary.json") if (path / "summary.json").is_file() else {}
    factors = _read_table(path, "factors")
    metrics = _read_table(path, "metrics")
    _check_consistent(path, design, summary, factors, metrics)
    ensemble = None
    # a big study stores its trajectories as a Zarr store (sdnet.store), a small one as NetCDF
    found = [path / name for name in ("ensemble.nc", "ensemble.zarr") if (path / name).exists()]
    if found:
        from sdnet.results import EnsembleResult

        try:
            ensemble = EnsembleResult.load(found[0])
        except (OSError, ValueError, KeyError) as error:
            raise ResultsFolderError(
                f"cannot read {found[0]}: {error}", path=found[0]
            ) from error
    analyses: dict[str, pd.DataFrame] = {}
    if analyses_dir.is_dir():
        for csv_path in sorted(analyses_dir.glob("*.csv")):
            analyses[csv_path.stem] = _read_csv(csv_path)
    return StudyResults(
        path=path,
        spec=spec,
        spec_text=spec_text,
        provenance=provenance,
        design=design,
        factors=factors,
        metrics=metrics,
        ensemble=ensemble,
        analyses=analyses,
        summary=summary,
    )


def ratio_entries(ratios: object) -> list[tuple[str, str, Mapping[str, Any]]]:
    """summary.json's ``ratios`` (case -> ratio name -> entry) as (case, name, entry) triples,
    skipping anything that is not a table (an older or hand-edited summary)."""
    if not isinstance(ratios, Mapping):
        return []
    return [(str(case), str(name), entry)
            for case, entries in ratios.items() if isinstance(entries, Mapping)
            for name, entry in entries.items() if isinstance(entry, Mapping)]
