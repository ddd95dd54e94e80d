"""What the report's sections share: :class:`ReportContext` (results, model text, units,
bounds, push) and small helpers for keys, labels and figures."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from sdnet.card import ModelCard, find_card
from sdnet.errors import SdnetError
from sdnet.metrics import Metric, card_metrics
from sdnet.plotting._style import A4_TEXT_WIDTH
from sdnet.reports._brief import BriefItem
from sdnet.reports._document import Block, Section, anchor_for
from sdnet.reports._findings import Finding
from sdnet.reports._model_text import ModelText, read_model_text
from sdnet.reports._results import StudyResults

logger = logging.getLogger("sdnet.reports._build")


class ReportContext:
    """What several sections share: the results, the model's text, units, bounds, push."""

    def __init__(self, results: StudyResults) -> None:
        self.results = results
        self.model_file = _find_model(results)
        self.model_label = _model_label(results)
        self.model_text: ModelText | None = None
        if self.model_file is not None:
            self.model_text = read_model_text(self.model_file)
        self.card = _find_card(self.model_file, results)
        self.outcomes = _outcome_metrics(self.card)
        #: the model's time unit: the card's, else the model file's FINAL TIME units
        self.time_unit = self.card.time_unit or (
            self.model_text.units.get("final_time", "") if self.model_text else "") or "Year"
        self.units = self._factor_units()
        self.factor_table = self._factor_table()
        self.bounds = {
            str(r["factor"]): (float(r["lower"]), float(r["upper"]))
            for _, r in self.factor_table.iterrows()
        }
        self.push = self._push_window()
        self.findings: list[Finding] = []
        #: what the sections offer the brief at the top (see sdnet.reports._brief)
        self.brief: list[BriefItem] = []

    def offer(self, item: BriefItem) -> None:
        """Offer the brief at the top of the report an answer, figure, cost or caveat
        (:class:`~sdnet.reports._brief.BriefItem`); the best-ranked ones are shown."""
        self.brief.append(item)

    def add(self, found: list[Finding], *, topic: str) -> None:
        """Keep findings for the Findings section, grouped under ``topic``."""
        self.findings += [replace(f, topic=topic) for f in found]

    # ---- factors ----------------------------------------------------------------------

    def _factor_units(self) -> dict[str, str]:
        units = dict(self.model_text.units) if self.model_text else {}
        for entry in _factor_entries(self.results):
            if entry.get("units"):
                units[str(entry["name"])] = str(entry["units"])
        return units

    def _factor_table(self) -> pd.DataFrame:
        rows = []
        seen = set()
        observed = self.results.factors
        for entry in _factor_entries(self.results):
            name = str(entry["name"])
            if name in seen:
                continue
            seen.add(name)
            lower, upper = _entry_bounds(entry)
            source = "study design"
            if (lower is None or upper is None) and observed is not None and name in \
                    varied_columns(observed):
                lower = float(observed[name].min())
                upper = float(observed[name].max())
                source = "observed in runs"
            rows.append({
                "factor": name,
                "units": self.units.get(name, ""),
                "lower": np.nan if lower is None else lower,
                "upper": np.nan if upper is None else upper,
                "distribution": str(entry.get("distribution") or entry.get("dist") or "uniform"),
                "range from": source,
                "stage": str(entry.get("stage", "")),
            })
        if observed is not None and not rows:
            for name in varied_columns(observed):
                rows.append({
                    "factor": str(name),
                    "units": self.units.get(str(name), ""),
                    "lower": float(observed[name].min()),
                    "upper": float(observed[name].max()),
                    "distribution": "not recorded",
                    "range from": "observed in runs",
                })
        table = pd.DataFrame(rows, columns=["factor", "units", "lower", "upper",
                                            "distribution", "range from", "stage"])
        if not (table["stage"] != "").any():
            table = table.drop(columns="stage")
        return table

    # ---- push -------------------------------------------------------------------------

    def _push_window(self) -> tuple[float, float] | None:
        """Start and end (years) of the push: spec, else median of factors, else model."""
        spec_push = self.results.spec.get("push", {})
        values: dict[str, float] = {}
        constants = self.model_text.constants if self.model_text else {}
        fixed = self.results.spec.get("params", {}) if isinstance(
            self.results.spec.get("params"), dict) else {}
        schedule = self.card.push
        if schedule is None:
            return None
        for key in ("start", "duration", "taper"):
            if key not in schedule.parameters:
                continue
            name = schedule.parameters[key]
            if isinstance(spec_push, dict) and key in spec_push:
                values[key] = float(spec_push[key])
            elif self.results.factors is not None and name in self.results.factors and \
                    pd.api.types.is_numeric_dtype(self.results.factors[name]):
                values[key] = float(self.results.factors[name].median())
            elif name in fixed:
                values[key] = float(fixed[name])
            elif name in constants:
                values[key] = constants[name]
        if "start" not in values or "duration" not in values:
            return None
        start = values["start"]
        return (start, start + values["duration"] + values.get("taper", 0.0))

    def case_push(self, case: str) -> tuple[float, float] | None:
        """The push window of one case (region preset x package): the study's own record in
        summary.json, so a ten-year package is not shaded as the base push; the study-wide
        window where the push timing is sampled (then it varies within a case) or not
        recorded (a results folder of an earlier sdnet)."""
        windows = self.results.summary.get("case_push")
        if not isinstance(windows, dict) or case not in windows or self._push_varies_in(case):
            return self.push
        window = windows[case]
        if window is None:
            return None
        start, end = window
        return (float(start), float(end))

    def _push_varies_in(self, case: str) -> bool:
        """Whether the runs of one case sample the push timing (its factors vary there)."""
        factors, metrics, schedule = self.main_factors(), self.results.metrics, self.card.push
        main = self.results.main_mask()
        if factors is None or metrics is None or main is None or schedule is None or \
                "case" not in metrics.columns:
            return self.push_varies()
        rows = (metrics.loc[main, "case"].astype(str) == case).to_numpy()
        if len(rows) != len(factors):
            return self.push_varies()
        varied = varied_columns(factors.loc[rows])
        return any(name in varied for name in schedule.end_parameters)

    def main_factors(self) -> pd.DataFrame | None:
        """The factor values of the main stage's runs (the runs the figures draw)."""
        main = self.results.main_mask()
        if main is None:
            return self.results.factors
        return self.results.factor_rows(main)

    def push_varies(self) -> bool:
        factors = self.main_factors()
        schedule = self.card.push
        return factors is not None and schedule is not None and any(
            name in varied_columns(factors) for name in schedule.end_parameters
        )

    def metric_units(self, key: str) -> str | None:
        outcome = self.outcomes.get(split_key(key)[0])
        return outcome.units if outcome is not None else None

    def metric_description(self, key: str) -> str | None:
        outcome = self.outcomes.get(split_key(key)[0])
        return outcome.description if outcome is not None else None

    def factor_label(self, name: str) -> str:
        """A factor as readers know it: the model's own (Vensim) name, e.g. "Push Amount"
        for ``push_amount``; the name as given when the model file is not at hand."""
        if self.model_text is not None:
            return self.model_text.names.get(name, name)
        return name

    def outcome_label(self, name: str) -> str:
        """An outcome (metric) in plain words: the card's plain name ("whether ..." for the
        "1 if ..." of a yes/no outcome); the metric's name when the card has none."""
        metric, case = split_key(name)
        outcome = self.card.outcomes.get(metric)
        # not an outcome of the card (a time-resolved output): the model's own name
        plain = outcome.plain.strip() if outcome is not None and outcome.plain else \
            self.factor_label(metric)
        plain = re.sub(r"^1 if\s+", "whether ", plain)
        return f"{plain} ({self.case_label(case)})" if case else plain

    def short_label(self, name: str) -> str:
        """An outcome for an axis: its name in words ("survived 10 (embedded prone)"), short
        enough for a plot, where :meth:`outcome_label` would not fit."""
        metric, case = split_key(name)
        words = metric.replace("_", " ")
        return f"{words} ({self.case_label(case)})" if case else words

    def labelled(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with its factor columns (``factor``, ``factor_1``, ``factor_2``) in the
        model's own names (:meth:`factor_label`)."""
        columns = {c: frame[c].map(lambda v: self.factor_label(str(v)))
                   for c in ("factor", "factor_1", "factor_2") if c in frame.columns}
        return frame.assign(**columns) if columns else frame

    def case_label(self, case: str) -> str:
        """A case (region preset, policy) for readers: "embedded prone" for
        ``embedded_prone``."""
        return case.replace("_", " ").strip()

    def word(self, key: str) -> str:
        """What the report calls ``key`` (the model card's words; neutral without a card)."""
        return self.card.word(key)

    def fan_outputs(self, saved: list[str]) -> list[str]:
        """The outputs drawn as fan charts: the card's ``report_variables``, else every saved
        output (at most six)."""
        return list(self.card.report_variables) or saved[:6]


def _find_card(model_file: Path | None, results: StudyResults) -> ModelCard:
    """The study's card (``[experiment] card`` of spec.toml, relative to the results folder),
    else the card beside the model; neutral when there is none or it cannot be read: a report
    never fails on it."""
    given = results.spec.get("experiment", {}).get("card")
    card = None if not isinstance(given, str) else (
        Path(given) if Path(given).is_absolute() else results.path / given)
    if model_file is None and card is None:
        return ModelCard()
    try:
        return find_card(model_file or Path("model.mdl"), card)
    except SdnetError as error:
        logger.warning("the model card could not be read: %s", error)
        return ModelCard()


def _outcome_metrics(card: ModelCard) -> dict[str, Metric]:
    try:
        return card_metrics(card)
    except SdnetError:
        return {}


_BOOKKEEPING = ("run", "case", "stage", "row", "status")


def varied_columns(frame: pd.DataFrame) -> list[str]:
    """Numeric columns of a run table that vary between runs (the factors actually varied)."""
    found = []
    for column in frame.columns:
        if str(column) in _BOOKKEEPING or not pd.api.types.is_numeric_dtype(frame[column]):
            continue
        if frame[column].nunique(dropna=True) > 1:
            found.append(str(column))
    return found


def split_key(key: str) -> tuple[str, str | None]:
    """``"metric__case"`` -> ``("metric", "case")``; a key without a case -> ``(key, None)``."""
    metric, sep, case = key.partition("__")
    return (metric, case) if sep else (key, None)


def display(key: str) -> str:
    """A metric key for readers: ``"persistence_after_push (typical)"``."""
    metric, case = split_key(key)
    return f"{metric} ({case})" if case else metric


def _factor_entries(results: StudyResults) -> list[dict[str, Any]]:
    """Factor descriptions from design.json (preferred; a screened study's screening stage
    too) and the spec's [[factors]]."""
    entries: list[dict[str, Any]] = []
    screen = results.design.get("screen")
    main_names: set[str] = set()
    if isinstance(results.design.get("factors"), list):
        main_names = {str(e.get("name")) for e in results.design["factors"]
                      if isinstance(e, Mapping)}
    if isinstance(screen, Mapping) and isinstance(screen.get("factors"), list):
        entries += [
            {**e, "stage": "screening and main" if str(e.get("name")) in main_names
             else "screening"}
            for e in screen["factors"] if isinstance(e, Mapping)
        ]
    design_factors = results.design.get("factors")
    if isinstance(design_factors, Mapping):
        entries += [{"name": k, **(v if isinstance(v, Mapping) else {"bounds": v})}
                    for k, v in design_factors.items()]
    elif isinstance(design_factors, list):
        entries += [e if isinstance(e, Mapping) else {"name": str(e)} for e in design_factors]
    spec_factors = results.spec.get("factors", [])
    if isinstance(spec_factors, list):
        entries += [dict(e) for e in spec_factors if isinstance(e, Mapping) and "name" in e]
    return [dict(e) for e in entries if "name" in e]


def _entry_bounds(entry: Mapping[str, Any]) -> tuple[float | None, float | None]:
    bounds = entry.get("bounds") or entry.get("range")
    if isinstance(bounds, list | tuple) and len(bounds) == 2:
        return float(bounds[0]), float(bounds[1])
    lower = entry.get("lower", entry.get("min"))
    upper = entry.get("upper", entry.get("max"))
    return (None if lower is None else float(lower), None if upper is None else float(upper))


def _spec_model(results: StudyResults) -> str | None:
    experiment = results.spec.get("experiment", {})
    model = experiment.get("model") if isinstance(experiment, Mapping) else None
    return str(model) if model else None


def _find_model(results: StudyResults) -> Path | None:
    """The model file the study ran: spec.toml's path (relative to the results folder, as
    `sdnet experiment` writes it), then provenance's, then either beside the results."""
    given = [g for g in dict.fromkeys([_spec_model(results), results.model_path]) if g]
    candidates = []
    for name in given:
        if Path(name).is_absolute():
            candidates.append(Path(name))
        else:
            candidates += [parent / name for parent in [results.path, *results.path.parents]]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    return None


def _model_label(results: StudyResults) -> str:
    """The model file for readers, without the absolute path of the machine the study ran
    on: its name, and where it lies relative to the results folder when spec.toml says."""
    given = _spec_model(results) or results.model_path
    if not given:
        return "not recorded"
    name = Path(given).name
    if Path(given).is_absolute() or Path(given).as_posix() == name:
        return name
    # the relative path says where the model lies only within one repository; beyond it,
    # it spells out this machine's folders
    root = _repository_root(results.path.resolve())
    if root is None or not (results.path / given).resolve().is_relative_to(root):
        return name
    return f"{name} ({Path(given).as_posix()} from the results folder)"


def _repository_root(path: Path) -> Path | None:
    """The nearest folder at or above ``path`` holding a ``.git``."""
    for parent in [path, *path.parents]:
        if (parent / ".git").exists():
            return parent
    return None


def _reproduce_command(results: StudyResults, model_file: Path | None) -> str:
    """Commands that rerun the resolved spec and rewrite this report, with no path of the
    machine the study ran on: from the repository root when the results folder (and the
    model) lie in one, else from inside the results folder."""
    folder = results.path.resolve()
    root = _repository_root(folder)
    model_inside = model_file is None or (
        root is not None and model_file.resolve().is_relative_to(root))
    if root is not None and model_inside and folder != root:
        rel = folder.relative_to(root).as_posix()
        return (f"# from the repository root\n"
                f"sdnet experiment {rel}/spec.toml --out {rel}   # same spec, same seed\n"
                f"sdnet report {rel}   # this report alone")
    return ("# from inside the results folder (spec.toml names the model relative to it)\n"
            "sdnet experiment spec.toml --out .   # same spec, same seed\n"
            "sdnet report .   # this report alone")


def _without_local_paths(text: str, results: StudyResults) -> str:
    """``text`` with the absolute model path of an older results folder replaced by the
    reader's label of the model."""
    for given in (_spec_model(results), results.model_path):
        if given and Path(given).is_absolute():
            text = text.replace(given, Path(given).name)
    return text


def _new_figure(width: float = A4_TEXT_WIDTH, height: float = 3.6) -> Figure:
    return Figure(figsize=(width, height), layout="constrained")


def _section(title: str, blocks: list[Block]) -> Section:
    return Section(title=title, anchor=anchor_for(title), blocks=tuple(blocks))
