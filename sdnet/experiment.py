"""Experiments: TOML study files -> frozen, validated specs -> runs, metrics and analyses.

An experiment file is data (no code is evaluated)::

    [experiment]
    name = "sustaining_levers"
    model = "../models/flexnet/flexnet.mdl"   # relative to this file's folder, else the cwd
    seed = 20261126
    question = "Which levers keep an embedded network alive ten years after the push ends?"

    [run]                    # optional: final_time, time_step, saveper (Year), method,
    final_time = 30          # chunk_size, variables (extra outputs to save)

    [region]                 # optional: preset = "typical" or presets = [...], values = {...}
    preset = "typical"

    [push]                   # the base push; missing fields come from sdnet.policy.BASE_PUSH
    amount = 300000
    duration = 3.5

    [params]                 # optional: constants set in every run
    number_of_firms = 150

    [[policies]]             # optional: push variants run on the same design (name + fields)

    [[factors]]              # what the design varies (Python or Vensim names of constants)
    name = "push_duration"
    bounds = [0, 8]          # default: the model's declared range
    distribution = "uniform" # or loguniform, triangular (mode), truncnormal (mean, sd)
    [[factors]]
    kind = "uncertain"       # every other constant of this kind, over its declared range

    [design]
    method = "morris"        # lhs, sobol, morris, efast, grid
    n = 20                   # plus method settings: calc_second_order, num_levels, M

    [[metrics]]
    name = "persistence_after_push"     # built in (sdnet.metrics.BUILTIN), or a user metric:
    [[metrics]]
    name = "peak_trust"
    variable = "Trust"
    reducer = "peak"                    # sdnet.metrics.REDUCERS, with its options

    [analysis]               # optional; see AnalysisSpec
    screen = { top = 5, n = 256, metric = "persistence_after_push" }
    prim = { metric = "sustained" }

The study runs every *case* (each region preset x each policy) on the same design. Errors name
the file, the key, the bad value and what is valid (:class:`~sdnet.errors.ExperimentError`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sdnet.designs import DISTRIBUTIONS, METHODS, Design, Factor, make_design
from sdnet.errors import (
    ExperimentError,
    NotAParameterError,
    OutOfRangeError,
    SdnetError,
    SdnetWarning,
    UnknownPresetError,
    UnknownVariableError,
    close_matches,
)
from sdnet.files import file_sha256
from sdnet.metrics import (
    BUILTIN,
    PERSISTENCE_LAG,
    REDUCERS,
    REQUIRED_OPTIONS,
    Metric,
    Trajectories,
    user_metric,
)
from sdnet.policy import BASE_PUSH, PUSH_PARAMETERS, REGIONS, Push, get_region
from sdnet.sensitivity import (
    ConvergenceResult,
    IndicesResult,
    IntegrationCheckResult,
    MorrisResult,
    PrimResult,
    ThresholdResult,
    bisect_threshold,
    convergence,
    efast,
    integration_check,
    morris,
    prim,
    sobol,
    time_resolved,
)

if TYPE_CHECKING:
    import pandas as pd

    from sdnet.model import Model
    from sdnet.results import EnsembleResult

__all__ = [
    "AnalysisSpec",
    "Case",
    "Experiment",
    "RunSpec",
    "StudyResult",
    "load_experiment",
    "parse_experiment",
    "run_experiment",
]

_TOP_KEYS = ("experiment", "run", "region", "push", "params", "policies", "factors", "design",
             "metrics", "analysis")
_PUSH_FIELDS = ("amount", "start", "duration", "taper", "match")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEFAULT_METRICS = ("persistence_after_push", "sustained", "members_share", "embeddedness")


# ---------------------------------------------------------------------------- spec objects


@dataclass(frozen=True)
class RunSpec:
    """Simulation settings shared by every run (Year; ``None`` = the model file's value)."""

    final_time: float | None = None
    time_step: float | None = None
    saveper: float | None = None
    method: str = "euler"
    chunk_size: int = 20_000
    variables: tuple[str, ...] = ()


@dataclass(frozen=True)
class Case:
    """One region x policy combination every design row is run under.

    Attributes
    ----------
    name : str
        ``region`` or ``policy`` name, or ``region_policy`` when both vary.
    region : str or None
        Region preset name (None: the model file's region).
    policy : str
        Policy name (``"base"`` when the study has no ``[[policies]]``).
    push : Push
        The public push of this case.
    values : Mapping[str, float]
        Constants this case sets (region preset, region values, push, params), Python names.
    """

    name: str
    region: str | None
    policy: str
    push: Push
    values: Mapping[str, float]


@dataclass(frozen=True)
class AnalysisSpec:
    """Which analyses a study runs after its runs (all optional).

    Attributes
    ----------
    screen_top, screen_n, screen_metric : int, int, str or None
        Two-stage screening (Morris design only): after the Morris stage, a Sobol' stage of
        ``screen_n`` base rows over the ``screen_top`` factors with the largest mu* of
        ``screen_metric``; other factors stay at their case values.
    calc_second_order : bool
        Second-order Sobol' indices in the screening stage.
    convergence : bool
        Convergence of the Sobol' indices (sub-samples of the Sobol' design).
    time_resolved : tuple[str, ...]
        Outputs (Vensim names) whose indices are computed at every ``time_resolved_every``
        years (Sobol' or eFAST designs).
    prim_metric : str or None
        PRIM scenario discovery on this 0/1 metric, per case.
    prim_alpha, prim_min_coverage : float
        PRIM peeling share and minimum coverage of the reported box.
    threshold_amounts : tuple[float, ...]
        Push amounts ($/Year) for the threshold search (empty: no search).
    threshold_duration : tuple[float, float]
        Searched push durations (Year).
    threshold_tol : float
        Bracket width at which the search stops (Year).
    threshold_durations : tuple[float, ...]
        Push durations (Year) for the search of the smallest sufficient amount (empty: none).
    threshold_amount : tuple[float, float]
        Searched push amounts ($/Year).
    threshold_amount_tol : float
        Bracket width at which the amount search stops ($/Year).
    threshold_metric : str
        The 0/1 built-in metric that decides "the network is sustained" in the search:
        ``alive_after_push`` (default, BR8's long-run membership, monotone in the duration) or
        ``sustained``.
    integration_n : int
        Runs re-run at half the time step and with RK4 (0: no check).
    hysteresis : bool
        Run the hysteresis test per region (PySD runs from a working network's state).
    compare_metric : str or None
        With two policies: per design row, which policy gives the larger metric.
    """

    screen_top: int = 0
    screen_n: int = 256
    screen_metric: str | None = None
    calc_second_order: bool = False
    convergence: bool = False
    time_resolved: tuple[str, ...] = ()
    time_resolved_every: float = 1.0
    prim_metric: str | None = None
    prim_alpha: float = 0.05
    prim_min_coverage: float = 0.5
    threshold_amounts: tuple[float, ...] = ()
    threshold_duration: tuple[float, float] = (0.0, 15.0)
    threshold_tol: float = 0.05
    threshold_durations: tuple[float, ...] = ()
    threshold_amount: tuple[float, float] = (0.0, 2_000_000.0)
    threshold_amount_tol: float = 1000.0
    threshold_metric: str = "alive_after_push"
    integration_n: int = 32
    hysteresis: bool = False
    compare_metric: str | None = None


@dataclass(frozen=True, eq=False)
class Experiment:
    """A validated experiment: everything needed to run it, every default filled in.

    Build one with :func:`load_experiment` (a TOML file) or :func:`parse_experiment` (a dict,
    e.g. written in Python).
    """

    name: str
    path: Path | None
    model_path: Path
    seed: int
    question: str
    run: RunSpec
    cases: tuple[Case, ...]
    params: Mapping[str, float]
    factors: tuple[Factor, ...]
    design_method: str
    design_n: int
    design_settings: Mapping[str, Any]
    metrics: tuple[Metric, ...]
    analysis: AnalysisSpec
    scenario: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The resolved spec as plain data in the experiment-file format, every default filled
        in (what ``spec.toml`` holds): loading it again gives the same study."""
        data: dict[str, Any] = {
            "experiment": {"name": self.name, "model": str(self.model_path), "seed": self.seed,
                           "question": self.question},
            "run": {k: v for k, v in {
                "final_time": self.run.final_time, "time_step": self.run.time_step,
                "saveper": self.run.saveper, "method": self.run.method,
                "chunk_size": self.run.chunk_size, "variables": list(self.run.variables),
            }.items() if v is not None},
            **{k: v for k, v in self.scenario.items() if v},
            "params": dict(self.params),
            "factors": [f.to_dict() for f in self.factors],
            "design": {"method": self.design_method, "n": self.design_n,
                       **dict(self.design_settings)},
            "metrics": [{"name": m.name, **dict(m.options)} for m in self.metrics],
            "analysis": _analysis_tables(self.analysis),
        }
        if not data["params"]:
            del data["params"]
        return data

    def with_options(
        self, *, n: int | None = None, seed: int | None = None, screen_n: int | None = None
    ) -> Experiment:
        """A copy with another design size, seed or screening-stage size (``--n``, ``--seed``,
        ``--screen-n`` on the command line)."""
        changed = self
        if n is not None:
            try:
                _design_n(n, self.design_method, path=self.path, settings=self.design_settings)
            except ExperimentError as error:
                raise _as_option(error, "--n", "design.n") from None
            changed = replace(changed, design_n=int(n))
        if screen_n is not None:
            if not self.analysis.screen_top:
                raise ExperimentError(
                    f"--screen-n {screen_n!r}: the study has no screening stage ([analysis."
                    f"screen] in {self.path.name if self.path else 'the spec'})",
                    value=screen_n)
            try:
                _design_n(screen_n, "sobol", path=self.path, key="analysis.screen.n")
            except ExperimentError as error:
                raise _as_option(error, "--screen-n", "analysis.screen.n") from None
            changed = replace(changed, analysis=replace(self.analysis, screen_n=int(screen_n)))
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
                raise ExperimentError(f"--seed must be a non-negative integer, not {seed!r} "
                                      "(it replaces [experiment.seed])", value=seed)
            changed = replace(changed, seed=int(seed))
        return changed


# ---------------------------------------------------------------------------- parsing


def load_experiment(path: str | Path, *, model: Model | None = None) -> Experiment:
    """Read and validate an experiment file.

    ``[experiment] model`` is a path relative to the experiment file's folder; when no file
    is there, relative to the current directory.

    Raises
    ------
    ExperimentError
        Naming the file, the key, the bad value and what is valid.
    """
    path = Path(path)
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.toml"))
        listed = f"; this folder has {', '.join(found)}" if found else ""
        raise ExperimentError(f"is a folder, not an experiment file (give the path of a .toml "
                              f"file{listed})", path=path, value=str(path))
    if not path.is_file():
        raise ExperimentError("experiment file not found (give the path of a .toml file)",
                              path=path, value=str(path))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ExperimentError(f"not valid TOML: {error}", path=path) from error
    return parse_experiment(data, path=path, model=model)


def _err(message: str, path: Path | None, key: str, value: Any = None) -> ExperimentError:
    return ExperimentError(message, path=path, key=key, value=value)


def _table(data: Mapping[str, Any], key: str, path: Path | None, allowed: Sequence[str],
           *, where: str | None = None) -> dict[str, Any]:
    where = where or key
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise _err(f"must be a table, not {value!r}", path, where, value)
    _check_keys(value, allowed, path, where)
    return dict(value)


def _check_keys(table: Mapping[str, Any], allowed: Sequence[str], path: Path | None,
                where: str) -> None:
    for key in table:
        if key not in allowed:
            hint = close_matches(key, allowed)
            did = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
            raise _err(f"unknown key {key!r}{did} (valid: {', '.join(allowed)})", path,
                       f"{where}.{key}" if where else str(key), key)


def _number(value: Any, path: Path | None, key: str, *, positive: bool = False,
            minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _err(f"must be a number, not {value!r}", path, key, value)
    if positive and value <= 0:
        raise _err(f"must be a positive number, not {value!r}", path, key, value)
    if minimum is not None and value < minimum:
        raise _err(f"must be at least {minimum:g}, not {value!r}", path, key, value)
    return float(value)


def _integer(value: Any, path: Path | None, key: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _err(f"must be an integer >= {minimum}, not {value!r}", path, key, value)
    return int(value)


def _string(value: Any, path: Path | None, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise _err(f"must be a non-empty string, not {value!r}", path, key, value)
    return value


def _design_n(n: Any, method: str, *, path: Path | None, key: str = "design.n",
              settings: Mapping[str, Any] | None = None) -> int:
    minimum = 1 if method == "lhs" else 2
    number = _integer(n, path, key, minimum=minimum)
    if method == "sobol" and number & (number - 1):
        lower = 1 << (number.bit_length() - 1)
        raise _err(f"must be a power of 2 for a sobol design, not {n!r} (e.g. {lower} or "
                   f"{lower * 2})", path, key, n)
    if method == "efast":
        # SALib's eFAST needs more than 4 M**2 samples per factor (designs.efast_design)
        m = int((settings or METHODS["efast"]).get("M", METHODS["efast"]["M"]))
        if number <= 4 * m * m:
            raise _err(f"must be at least {4 * m * m + 1} for an efast design with M = {m} "
                       f"(n > 4 M^2), not {n!r}", path, key, n)
    return number


def _as_option(error: ExperimentError, option: str, key: str) -> ExperimentError:
    """The same error, blaming the command-line option (``--n``) that gave the bad value
    instead of the file key it replaces (the file is fine)."""
    detail = error.message.split("] ", 1)[1] if "] " in error.message else error.message
    where = f" in {error.path.name}" if error.path is not None else ""
    return ExperimentError(f"{option} {detail} (it replaces [{key}]{where})",
                           value=error.value)


def _resolve_model_path(value: str, path: Path | None) -> Path:
    candidate = Path(value)
    if candidate.is_absolute():
        found = candidate
    else:
        beside = (path.parent / candidate) if path is not None else candidate
        found = beside if beside.exists() else Path.cwd() / candidate
    if not found.is_file():
        raise _err(f"model file not found: {value!r} (looked beside the experiment file and in "
                   "the current directory)", path, "experiment.model", value)
    return found.resolve()


def _parameter(model: Model, name: Any, path: Path | None, key: str) -> str:
    if not isinstance(name, str):
        raise _err(f"must be a parameter name, not {name!r}", path, key, name)
    table = model.parameters
    if name not in table:
        try:
            vname = model.resolve(name)
        except UnknownVariableError:
            vname = None
        if vname is not None and vname not in table:
            kind = str(model.variables.loc[vname, "kind"])
            hint = {"stock": "a study can set constants only (a stock starts from the "
                             "initial value its equation gives)",
                    "constant": "subscripted constants cannot be set yet"}.get(
                kind, "it is computed from other variables")
            raise _err(str(NotAParameterError(name, kind=kind, hint=hint)), path, key, name)
        pythonic = _NAME.match(name) is not None and name == name.lower()
        candidates = list(table) if pythonic else [p.vensim_name for p in table.values()]
        hint = close_matches(name, candidates)
        did = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
        raise _err(f"unknown parameter {name!r} of {model.path.name}{did}", path, key, name)
    parameter = table[name]
    if parameter.kind == "control":
        raise _err(f"{name!r} is a simulation control; set it in [run]", path, key, name)
    return parameter.name


def _in_range(model: Model, name: str, value: float, path: Path | None, key: str) -> float:
    """``value`` checked against the range the model file declares for ``name``, the error
    naming the key that gave it (a TOML file cannot opt out of the range check)."""
    try:
        return model.parameters[name].check(value)
    except OutOfRangeError as error:
        raise _err(error.summary, path, key, value) from None


def _push(fields: Mapping[str, Any], base: Push, path: Path | None, key: str,
          model: Model) -> Push:
    values = {f: getattr(base, f) for f in _PUSH_FIELDS}
    for f in _PUSH_FIELDS:
        if f in fields:
            values[f] = _number(fields[f], path, f"{key}.{f}")
    try:
        push = Push(**values)
    except SdnetError as error:
        raise _err(str(error), path, f"{key}.{getattr(error, 'field', '')}",
                   getattr(error, "value", None)) from error
    for f in _PUSH_FIELDS:
        if f in fields and PUSH_PARAMETERS[f] in model.parameters:
            _in_range(model, PUSH_PARAMETERS[f], values[f], path, f"{key}.{f}")
    return push


def parse_experiment(
    data: Mapping[str, Any], *, path: str | Path | None = None, model: Model | None = None
) -> Experiment:
    """Validate an experiment given as a dict (the parsed TOML) and resolve its defaults.

    Parameters
    ----------
    data : Mapping
        The experiment, shaped like the TOML file.
    path : str or Path, optional
        The file it came from (for messages and for the model path).
    model : Model, optional
        The model, if already loaded (else it is loaded from ``[experiment] model``).
    """
    from sdnet.model import load_model

    path = None if path is None else Path(path)
    if not isinstance(data, Mapping):
        raise _err("an experiment must be a table", path, "", data)
    _check_keys(data, _TOP_KEYS, path, "")  # type: ignore[arg-type]

    exp = _table(data, "experiment", path, ("name", "model", "seed", "question"))
    if "name" not in exp:
        raise _err("missing (give the study a name, a Python identifier)", path,
                   "experiment.name")
    name = _string(exp["name"], path, "experiment.name")
    if not _NAME.match(name):
        raise _err(f"must be a Python identifier (letters, digits, _), not {name!r}", path,
                   "experiment.name", name)
    if "model" not in exp:
        raise _err("missing (give the path of the model's .mdl file)", path, "experiment.model")
    model_path = _resolve_model_path(_string(exp["model"], path, "experiment.model"), path)
    seed = _integer(exp.get("seed", 0), path, "experiment.seed")
    question = exp.get("question", "")
    if not isinstance(question, str):
        raise _err(f"must be a string, not {question!r}", path, "experiment.question", question)
    if model is None:
        model = load_model(model_path)

    run = _parse_run(_table(data, "run", path, ("final_time", "time_step", "saveper", "method",
                                                  "chunk_size", "variables")), path, model)
    params = {}
    for key, value in _table(data, "params", path, list(data.get("params", {}))).items():
        pname = _parameter(model, key, path, f"params.{key}")
        params[pname] = _in_range(model, pname, _number(value, path, f"params.{key}"), path,
                                  f"params.{key}")
    cases, scenario = _parse_cases(data, path, model, params)
    factors = _parse_factors(data.get("factors", []), path, model)
    design = _table(data, "design", path, ("method", "n", "calc_second_order", "num_levels", "M"))
    method = design.get("method", "lhs")
    if method not in METHODS:
        hint = close_matches(str(method), METHODS)
        did = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
        raise _err(f"unknown design method {method!r}{did} (valid: {', '.join(METHODS)})",
                   path, "design.method", method)
    if "n" not in design:
        raise _err("missing (the design's base size)", path, "design.n")
    settings = dict(METHODS[method])
    for key in ("calc_second_order", "num_levels", "M"):
        if key in design:
            if key not in METHODS[method]:
                valid = ", ".join(METHODS[method]) or "none"
                raise _err(f"is not a setting of a {method} design (its settings: {valid})",
                           path, f"design.{key}", design[key])
            settings[key] = design[key]
    if "calc_second_order" in settings and not isinstance(settings["calc_second_order"], bool):
        raise _err("must be true or false", path, "design.calc_second_order",
                   settings["calc_second_order"])
    for key in ("num_levels", "M"):
        if key in settings:
            settings[key] = _integer(settings[key], path, f"design.{key}", minimum=1)
    if "num_levels" in settings and (settings["num_levels"] < 2 or settings["num_levels"] % 2):
        raise _err(f"must be an even integer >= 2 (levels of the Morris grid), not "
                   f"{settings['num_levels']!r}", path, "design.num_levels",
                   settings["num_levels"])
    n = _design_n(design["n"], method, path=path, settings=settings)
    start = model.default_control("initial_time")
    horizon = run.final_time if run.final_time is not None else model.default_control(
        "final_time")
    metrics = _parse_metrics(data.get("metrics", [{"name": m} for m in DEFAULT_METRICS]), path,
                             model, (start, horizon))
    analysis = _parse_analysis(_table(data, "analysis", path, (
        "screen", "convergence", "time_resolved", "prim", "thresholds", "integration_check",
        "hysteresis", "compare")), path, method, metrics, cases, model)
    if not factors:
        raise _err("a study needs at least one [[factors]] entry", path, "factors", [])
    return Experiment(name, path, model_path, seed, question, run, cases, params,
                      tuple(factors), method, n, settings, tuple(metrics), analysis, scenario,
                      dict(data))


def _parse_run(table: Mapping[str, Any], path: Path | None, model: Model) -> RunSpec:
    values: dict[str, Any] = {}
    for key in ("final_time", "time_step", "saveper"):
        if key in table:
            values[key] = _number(table[key], path, f"run.{key}", positive=True)
    method = table.get("method", "euler")
    if method not in ("euler", "rk4"):
        raise _err(f"unknown integration method {method!r} (valid: euler, rk4)", path,
                   "run.method", method)
    chunk = _integer(table.get("chunk_size", 20_000), path, "run.chunk_size", minimum=1)
    variables = table.get("variables", [])
    if not isinstance(variables, list) or not all(isinstance(v, str) for v in variables):
        raise _err("must be a list of variable names", path, "run.variables", variables)
    for v in variables:
        try:
            model.columns([v])
        except SdnetError as error:
            raise _err(str(error), path, "run.variables", v) from error
    return RunSpec(values.get("final_time"), values.get("time_step"), values.get("saveper"),
                   method, chunk, tuple(variables))


def _parse_cases(data: Mapping[str, Any], path: Path | None, model: Model,
                 params: Mapping[str, float]) -> tuple[tuple[Case, ...], dict[str, Any]]:
    region = _table(data, "region", path, ("preset", "presets", "values"))
    if "preset" in region and "presets" in region:
        raise _err("give either preset or presets, not both", path, "region.presets")
    presets: list[str | None]
    if "presets" in region:
        raw = region["presets"]
        if not isinstance(raw, list) or not raw:
            raise _err("must be a non-empty list of preset names", path, "region.presets", raw)
        presets = list(raw)
    elif "preset" in region:
        presets = [region["preset"]]
    else:
        presets = [None]
    names: list[str | None] = []
    for i, preset in enumerate(presets):
        if preset is None:
            names.append(None)
            continue
        key = "region.preset" if "preset" in region else f"region.presets[{i}]"
        try:
            names.append(get_region(preset).name)
        except UnknownPresetError as error:
            hint = close_matches(str(preset), REGIONS)
            did = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
            raise _err(f"unknown region preset {preset!r}{did} (valid: "
                       f"{', '.join(REGIONS)})", path, key, preset) from error
    region_values: dict[str, float] = {}
    raw_values = region.get("values", {})
    if not isinstance(raw_values, Mapping):
        raise _err("must be a table of parameter values", path, "region.values", raw_values)
    for key, value in raw_values.items():
        pname = _parameter(model, key, path, f"region.values.{key}")
        region_values[pname] = _in_range(
            model, pname, _number(value, path, f"region.values.{key}"), path,
            f"region.values.{key}")

    base = _push(_table(data, "push", path, _PUSH_FIELDS), BASE_PUSH, path, "push", model)
    raw_policies = data.get("policies", [])
    if not isinstance(raw_policies, list):
        raise _err("must be an array of tables ([[policies]])", path, "policies", raw_policies)
    policies: list[tuple[str, Push, dict[str, float]]] = []
    for i, entry in enumerate(raw_policies):
        key = f"policies[{i}]"
        if not isinstance(entry, Mapping):
            raise _err("must be a table", path, key, entry)
        _check_keys(entry, ("name", *_PUSH_FIELDS, "params"), path, key)
        pname = _string(entry.get("name"), path, f"{key}.name")
        if not _NAME.match(pname):
            raise _err(f"must be a Python identifier, not {pname!r}", path, f"{key}.name", pname)
        extra = {}
        for k, v in dict(entry.get("params", {})).items():
            name_k = _parameter(model, k, path, f"{key}.params.{k}")
            extra[name_k] = _in_range(model, name_k, _number(v, path, f"{key}.params.{k}"),
                                      path, f"{key}.params.{k}")
        policies.append((pname, _push(entry, base, path, key, model), extra))
    if len({p[0] for p in policies}) != len(policies):
        raise _err("policy names must be unique", path, "policies", [p[0] for p in policies])
    if not policies:
        policies = [("base", base, {})]

    cases = []
    for region_name in names:
        for policy, push, extra in policies:
            if len(names) > 1 and len(policies) > 1:
                case_name = f"{region_name}_{policy}"
            elif len(policies) > 1:
                case_name = policy
            else:
                case_name = region_name or "default"
            try:
                values = model.scenario_values(
                    {**region_values, **params, **extra}, region=region_name, push=push)
            except SdnetError as error:
                raise _err(str(error), path, "region", region_name) from error
            cases.append(Case(case_name, region_name, policy, push, values))
    region_table: dict[str, Any] = {}
    if len(names) > 1:
        region_table["presets"] = list(names)
    elif names[0] is not None:
        region_table["preset"] = names[0]
    if region_values:
        region_table["values"] = region_values
    scenario = {
        "region": region_table,
        "push": {f: getattr(base, f) for f in _PUSH_FIELDS},
        "policies": [] if raw_policies == [] else [
            {"name": n, **{f: getattr(p, f) for f in _PUSH_FIELDS},
             **({"params": extra} if extra else {})} for n, p, extra in policies],
    }
    return tuple(cases), scenario


def _parse_factors(raw: Any, path: Path | None, model: Model) -> list[Factor]:
    if not isinstance(raw, list):
        raise _err("must be an array of tables ([[factors]])", path, "factors", raw)
    factors: list[Factor] = []
    seen: set[str] = set()
    named = {model.parameters[e["name"]].name for e in raw if isinstance(e, Mapping)
             and isinstance(e.get("name"), str) and e["name"] in model.parameters}
    for i, entry in enumerate(raw):
        key = f"factors[{i}]"
        if not isinstance(entry, Mapping):
            raise _err("must be a table", path, key, entry)
        if "kind" in entry:
            _check_keys(entry, ("kind",), path, key)
            kinds = ("lever", "region", "uncertain")
            if entry["kind"] not in kinds:
                raise _err(f"unknown parameter kind {entry['kind']!r} (valid: "
                           f"{', '.join(kinds)})", path, f"{key}.kind", entry["kind"])
            for parameter in model.parameters.of_kind(entry["kind"]).values():
                if parameter.name in seen or parameter.name in named or not parameter.bounded:
                    continue
                seen.add(parameter.name)
                factors.append(Factor(parameter.name, float(parameter.lower),  # type: ignore[arg-type]
                                      float(parameter.upper)))  # type: ignore[arg-type]
            continue
        _check_keys(entry, ("name", "bounds", "distribution", "mode", "mean", "sd"), path, key)
        if "name" not in entry:
            raise _err("missing (a model constant's Python or Vensim name)", path, f"{key}.name")
        name = _parameter(model, entry["name"], path, f"{key}.name")
        if name in seen:
            raise _err(f"factor {name!r} is given twice", path, f"{key}.name", entry["name"])
        seen.add(name)
        parameter = model.parameters[name]
        if "bounds" in entry:
            bounds = entry["bounds"]
            if not (isinstance(bounds, list) and len(bounds) == 2):
                raise _err("must be [lower, upper]", path, f"{key}.bounds", bounds)
            lower = _number(bounds[0], path, f"{key}.bounds")
            upper = _number(bounds[1], path, f"{key}.bounds")
            lo_ok = parameter.lower is None or lower >= parameter.lower
            hi_ok = parameter.upper is None or upper <= parameter.upper
            if not (lo_ok and hi_ok):
                raise _err(
                    f"bounds {bounds!r} leave the declared range of {name!r} "
                    f"[{parameter.lower:g}, {parameter.upper:g}]", path, f"{key}.bounds", bounds)
        else:
            if not parameter.bounded:
                raise _err(f"{name!r} has no declared range in the model; give bounds", path,
                           f"{key}.bounds")
            lower, upper = float(parameter.lower), float(parameter.upper)  # type: ignore[arg-type]
        distribution = entry.get("distribution", "uniform")
        if distribution not in DISTRIBUTIONS:
            raise _err(f"unknown distribution {distribution!r} (valid: "
                       f"{', '.join(DISTRIBUTIONS)})", path, f"{key}.distribution", distribution)
        dparams = {}
        for p in DISTRIBUTIONS[distribution]:
            if p not in entry:
                raise _err(f"missing (a {distribution} distribution needs "
                           f"{', '.join(DISTRIBUTIONS[distribution])})", path, f"{key}.{p}")
            dparams[p] = _number(entry[p], path, f"{key}.{p}")
        try:
            factors.append(Factor(name, lower, upper, distribution, dparams))
        except SdnetError as error:
            raise _err(str(error), path, key, dict(entry)) from error
    return factors


#: What each reducer option means (for "missing" messages).
_OPTION_MEANING = {"threshold": "the level the output must reach, in the output's units",
                   "time": "the year at which to read the output"}


def _parse_metrics(raw: Any, path: Path | None, model: Model,
                   span: tuple[float, float]) -> list[Metric]:
    if not isinstance(raw, list) or not raw:
        raise _err("must be a non-empty array of tables ([[metrics]])", path, "metrics", raw)
    metrics: list[Metric] = []
    for i, entry in enumerate(raw):
        key = f"metrics[{i}]"
        if not isinstance(entry, Mapping):
            raise _err("must be a table", path, key, entry)
        name = _string(entry.get("name"), path, f"{key}.name")
        if "reducer" not in entry and "variable" not in entry:
            _check_keys(entry, ("name",), path, key)
            if name not in BUILTIN:
                hint = close_matches(name, BUILTIN)
                did = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
                raise _err(f"unknown metric {name!r}{did} (built in: {', '.join(BUILTIN)}; or "
                           "give variable and reducer)", path, f"{key}.name", name)
            metrics.append(BUILTIN[name])
            continue
        options = sorted({o for _, opts in REDUCERS.values() for o in opts})
        _check_keys(entry, ("name", "variable", "reducer", "units", *options), path, key)
        if not _NAME.match(name) or name in BUILTIN:
            raise _err(f"a user metric needs a new Python identifier as name, not {name!r}",
                       path, f"{key}.name", name)
        variable = _string(entry.get("variable"), path, f"{key}.variable")
        try:
            model.columns([variable])
        except SdnetError as error:
            raise _err(str(error), path, f"{key}.variable", variable) from error
        reducer = entry.get("reducer")
        if reducer not in REDUCERS:
            raise _err(f"unknown reducer {reducer!r} (valid: {', '.join(REDUCERS)})", path,
                       f"{key}.reducer", reducer)
        for option in REQUIRED_OPTIONS.get(reducer, ()):
            if option not in entry:
                raise _err(f"missing (reducer {reducer!r} needs {option}: "
                           f"{_OPTION_MEANING[option]})", path, f"{key}.{option}")
        kwargs = {k: v for k, v in entry.items() if k in options}
        for option in ("threshold", "time", "start", "end"):
            if option in kwargs and option in REDUCERS[reducer][1]:
                kwargs[option] = _number(kwargs[option], path, f"{key}.{option}")
        for option in ("time", "start", "end"):
            if option in kwargs and not span[0] <= kwargs[option] <= span[1]:
                raise _err(f"{entry[option]!r} is outside the simulated time: must be within "
                           f"[{span[0]:g}, {span[1]:g}] (Year; the run ends at final_time "
                           f"{span[1]:g})", path, f"{key}.{option}", entry[option])
        try:
            metrics.append(user_metric(name, variable=variable, reducer=reducer,
                                       units=str(entry.get("units", "")), **kwargs))
        except SdnetError as error:
            raise _err(str(error), path, key, dict(entry)) from error
    names = [m.name for m in metrics]
    if len(set(names)) != len(names):
        raise _err("metric names must be unique", path, "metrics", names)
    return metrics


def _metric_name(value: Any, metrics: Sequence[Metric], path: Path | None, key: str) -> str:
    names = [m.name for m in metrics]
    if value not in names:
        hint = close_matches(str(value), names)
        did = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
        raise _err(f"{value!r} is not one of the study's metrics{did} (metrics: "
                   f"{', '.join(names)})", path, key, value)
    return str(value)


def _search_range(value: Any, path: Path | None, key: str, units: str) -> tuple[float, float]:
    """A bisection range ``[lower, upper]``: two non-negative numbers, lower first."""
    if not (isinstance(value, list) and len(value) == 2):
        raise _err(f"must be [lower, upper] ({units})", path, key, value)
    lower = _number(value[0], path, key, minimum=0.0)
    upper = _number(value[1], path, key, minimum=0.0)
    _ordered(lower, upper, value, path, key)
    return lower, upper


def _parse_analysis(table: Mapping[str, Any], path: Path | None, method: str,
                    metrics: Sequence[Metric], cases: Sequence[Case],
                    model: Model) -> AnalysisSpec:
    spec: dict[str, Any] = {}
    if "screen" in table:
        screen = _table(table, "screen", path, ("top", "n", "metric", "calc_second_order"),
                        where="analysis.screen")
        if method != "morris":
            raise _err(f"screening needs a morris design, not {method!r}", path,
                       "analysis.screen", dict(screen))
        spec["screen_top"] = _integer(screen.get("top", 5), path, "analysis.screen.top",
                                      minimum=1)
        spec["screen_n"] = _design_n(screen.get("n", 256), "sobol", path=path)
        spec["screen_metric"] = _metric_name(screen.get("metric", metrics[0].name), metrics,
                                             path, "analysis.screen.metric")
        second = screen.get("calc_second_order", False)
        if not isinstance(second, bool):
            raise _err("must be true or false", path, "analysis.screen.calc_second_order",
                       second)
        spec["calc_second_order"] = second
    for flag in ("convergence", "hysteresis"):
        if flag in table:
            if not isinstance(table[flag], bool):
                raise _err("must be true or false", path, f"analysis.{flag}", table[flag])
            spec[flag] = table[flag]
    if spec.get("convergence") and method != "sobol" and not spec.get("screen_top"):
        raise _err("a convergence study needs a sobol design (or a morris screen)", path,
                   "analysis.convergence", True)
    if "time_resolved" in table:
        tr = _table(table, "time_resolved", path, ("variables", "every"),
                    where="analysis.time_resolved")
        variables = tr.get("variables", [])
        if not isinstance(variables, list) or not variables:
            raise _err("must be a non-empty list of output names", path,
                       "analysis.time_resolved.variables", variables)
        for v in variables:
            try:
                model.columns([v])
            except SdnetError as error:
                raise _err(str(error), path, "analysis.time_resolved.variables", v) from error
        spec["time_resolved"] = tuple(variables)
        spec["time_resolved_every"] = _number(tr.get("every", 1.0), path,
                                              "analysis.time_resolved.every", positive=True)
    if "prim" in table:
        pr = _table(table, "prim", path, ("metric", "alpha", "min_coverage"),
                    where="analysis.prim")
        spec["prim_metric"] = _metric_name(pr.get("metric", "sustained"), metrics, path,
                                           "analysis.prim.metric")
        spec["prim_alpha"] = _number(pr.get("alpha", 0.05), path, "analysis.prim.alpha",
                                     positive=True)
        spec["prim_min_coverage"] = _number(pr.get("min_coverage", 0.5), path,
                                            "analysis.prim.min_coverage", positive=True)
    if "thresholds" in table:
        th = _table(table, "thresholds", path, ("amounts", "duration", "tol", "durations",
                                                 "amount", "amount_tol", "metric"),
                    where="analysis.thresholds")
        flag = th.get("metric", "alive_after_push")
        if flag not in ("alive_after_push", "sustained"):
            raise _err(f"must be alive_after_push or sustained, not {flag!r}", path,
                       "analysis.thresholds.metric", flag)
        spec["threshold_metric"] = flag
        amounts = th.get("amounts", [] if "durations" in th else [BASE_PUSH.amount])
        if not isinstance(amounts, list):
            raise _err("must be a list of push amounts ($/Year)", path,
                       "analysis.thresholds.amounts", amounts)
        spec["threshold_amounts"] = tuple(
            _number(a, path, "analysis.thresholds.amounts", positive=True) for a in amounts)
        spec["threshold_duration"] = _search_range(
            th.get("duration", [0.0, 15.0]), path, "analysis.thresholds.duration", "Year")
        spec["threshold_tol"] = _number(th.get("tol", 0.05), path, "analysis.thresholds.tol",
                                        positive=True)
        durations = th.get("durations", [])
        if not isinstance(durations, list):
            raise _err("must be a list of push durations (Year)", path,
                       "analysis.thresholds.durations", durations)
        spec["threshold_durations"] = tuple(
            _number(d, path, "analysis.thresholds.durations", minimum=0.0) for d in durations)
        declared = model.parameters["push_amount"]
        spec["threshold_amount"] = _search_range(
            th.get("amount", [declared.lower or 0.0, declared.upper or 2_000_000.0]),
            path, "analysis.thresholds.amount", "$/Year")
        spec["threshold_amount_tol"] = _number(th.get("amount_tol", 1000.0), path,
                                               "analysis.thresholds.amount_tol", positive=True)
    if "integration_check" in table:
        ic = table["integration_check"]
        if isinstance(ic, bool):
            spec["integration_n"] = 32 if ic else 0
        else:
            ic_table = _table(table, "integration_check", path, ("n",),
                              where="analysis.integration_check")
            spec["integration_n"] = _integer(ic_table.get("n", 32), path,
                                             "analysis.integration_check.n")
    if "compare" in table:
        cmp_table = _table(table, "compare", path, ("metric",), where="analysis.compare")
        policies = {c.policy for c in cases}
        if len(policies) != 2:
            raise _err(f"comparing needs exactly two [[policies]], not {len(policies)}", path,
                       "analysis.compare", dict(cmp_table))
        spec["compare_metric"] = _metric_name(cmp_table.get("metric", metrics[0].name),
                                              metrics, path, "analysis.compare.metric")
    return AnalysisSpec(**spec)


def _ordered(lower: float, upper: float, given: Any, path: Path | None, key: str) -> None:
    """Refuse a search interval ``[lower, upper]`` that is empty or written the wrong way
    round, saying which."""
    if lower > upper:
        raise _err(f"must be [lower, upper] with lower < upper, not {given!r} (the wrong way "
                   f"round: did you mean [{given[1]!r}, {given[0]!r}]?)", path, key, given)
    if lower == upper:
        raise _err(f"must be [lower, upper] with lower < upper, not {given!r} (an empty "
                   "interval)", path, key, given)


def _analysis_tables(spec: AnalysisSpec) -> dict[str, Any]:
    """An AnalysisSpec in the experiment-file format (only the analyses that run)."""
    tables: dict[str, Any] = {"integration_check": {"n": spec.integration_n}
                              if spec.integration_n else False}
    if spec.screen_top:
        tables["screen"] = {"top": spec.screen_top, "n": spec.screen_n,
                            "metric": spec.screen_metric,
                            "calc_second_order": spec.calc_second_order}
    if spec.convergence:
        tables["convergence"] = True
    if spec.time_resolved:
        tables["time_resolved"] = {"variables": list(spec.time_resolved),
                                   "every": spec.time_resolved_every}
    if spec.prim_metric:
        tables["prim"] = {"metric": spec.prim_metric, "alpha": spec.prim_alpha,
                          "min_coverage": spec.prim_min_coverage}
    if spec.threshold_amounts or spec.threshold_durations:
        tables["thresholds"] = {"amounts": list(spec.threshold_amounts),
                                "duration": list(spec.threshold_duration),
                                "tol": spec.threshold_tol,
                                "durations": list(spec.threshold_durations),
                                "amount": list(spec.threshold_amount),
                                "amount_tol": spec.threshold_amount_tol,
                                "metric": spec.threshold_metric}
    if spec.hysteresis:
        tables["hysteresis"] = True
    if spec.compare_metric:
        tables["compare"] = {"metric": spec.compare_metric}
    return tables


# ---------------------------------------------------------------------------- TOML writer


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
        if math.isnan(number):
            return "nan"
        return repr(number)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value))


def to_toml(data: Mapping[str, Any]) -> str:
    """Write the resolved spec (tables, arrays of tables, scalars) as TOML."""
    lines: list[str] = []
    for key, value in data.items():
        if isinstance(value, Mapping):
            lines.append(f"[{key}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in value.items())
            lines.append("")
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for entry in value:
                lines.append(f"[[{key}]]")
                lines.extend(f"{k} = {_toml_value(v)}" for k, v in entry.items())
                lines.append("")
        else:
            lines.insert(0, f"{key} = {_toml_value(value)}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- results


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


# ---------------------------------------------------------------------------- running


def _seeds(seed: int, count: int) -> list[int]:
    children = np.random.SeedSequence(seed).spawn(count)
    return [int(c.generate_state(1)[0]) for c in children]


def _stage_table(experiment: Experiment, design: Design, stage: str,
                 fixed: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Stack the design under every case: one row per (case, design row)."""
    import pandas as pd

    frames = []
    design_frame = design.to_frame()
    for case in experiment.cases:
        frame = pd.DataFrame({k: np.full(design.n_runs, v) for k, v in case.values.items()})
        for k, v in (fixed or {}).items():
            if k not in frame.columns:
                frame[k] = v
        for column in design_frame.columns:
            frame[column] = design_frame[column].to_numpy()
        frame.insert(0, "stage", stage)
        frame.insert(0, "case", case.name)
        frame.insert(0, "row", np.arange(design.n_runs))
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    return table


def _numeric(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=["row", "case", "stage"])


#: Outputs every study saves when the model has them: the report's fan charts show these four
#: (docs/architecture.md), so a study file need not list them under [run] variables.
REPORT_OUTPUTS: tuple[str, ...] = ("Total Members", "Trust", "Collective Knowledge",
                                   "Embeddedness")


def _variables(experiment: Experiment, model: Model) -> list[str]:
    """The outputs to save: the metrics' inputs, [run] variables, the time-resolved
    variables, and the :data:`REPORT_OUTPUTS` the model has."""
    names: list[str] = []
    for metric in experiment.metrics:
        names.extend(metric.variables)
    names.extend(experiment.run.variables)
    names.extend(experiment.analysis.time_resolved)
    saved = set()
    for name in names:
        try:
            saved.add(model.vensim_name(name))
        except UnknownVariableError:
            saved.add(name)
    for name in REPORT_OUTPUTS:
        try:
            model.resolve(name)
        except UnknownVariableError:
            continue
        if name not in saved:
            names.append(name)
    return list(dict.fromkeys(names))


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
    chunks_dir: Path | None, resume: bool, progress: bool, method: str | None = None,
    time_step: float | None = None,
) -> EnsembleResult:
    """Run a stacked table in chunks, keeping finished chunks on disk when asked."""
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
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_total, desc=f"{experiment.name} ({stage})", unit="run")
    try:
        for start in range(0, n_total, chunk):
            part = table.iloc[start:start + chunk]
            key = _chunk_key(experiment, stage, part, method, time_step, variables)
            file = None if chunks_dir is None else chunks_dir / f"{stage}_{start:09d}.npz"
            loaded = None
            if file is not None and resume and file.exists():
                with np.load(file, allow_pickle=False) as saved:
                    if str(saved["key"]) == key:
                        loaded = (saved["times"], saved["outputs"], saved["status"],
                                  [str(c) for c in saved["columns"]],
                                  [str(u) for u in saved["units"]],
                                  [(int(r), str(v), float(t)) for r, v, t in
                                   zip(saved["fail_run"], saved["fail_var"], saved["fail_time"],
                                       strict=True)])
            if loaded is None:
                result = run_ensemble(
                    model, _numeric(part).reset_index(drop=True), final_time=run.final_time,
                    time_step=time_step, saveper=run.saveper, method=method,  # type: ignore[arg-type]
                    variables=variables, chunk_size=chunk, progress=False,
                    seed=experiment.seed,
                )
                provenance = result.provenance
                ds = result.dataset
                failures = [(r, str(ds["failure"].values[r]), math.nan)
                            for r in np.nonzero(~result.ok)[0]]
                loaded = (ds["time"].to_numpy(), ds["outputs"].to_numpy(), result.ok,
                          [str(v) for v in ds["variable"].to_numpy()],
                          [str(u) for u in ds["units"].to_numpy()], failures)
                if file is not None:
                    file.parent.mkdir(parents=True, exist_ok=True)
                    tmp = file.with_suffix(".tmp.npz")
                    np.savez(tmp, key=key, times=loaded[0], outputs=loaded[1],
                             status=loaded[2], columns=np.array(loaded[3]),
                             units=np.array(loaded[4]),
                             fail_run=np.array([f[0] for f in failures], dtype=int),
                             fail_var=np.array([f[1] for f in failures], dtype=str),
                             fail_time=np.array([f[2] for f in failures], dtype=float))
                    tmp.replace(file)
            times, columns = loaded[0], loaded[3]
            units = dict(zip(loaded[3], loaded[4], strict=True))
            parts.append((loaded[1], np.asarray(loaded[2], dtype=bool), np.arange(len(part))
                          + start, [(start + r, v, t) for r, v, t in loaded[5]]))
            if bar is not None:
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
                                     status=status, failures=failures, provenance=provenance)


def _trajectories(ensemble: EnsembleResult, table: pd.DataFrame, model: Model,
                  rows: np.ndarray | slice = slice(None)) -> Trajectories:
    times = ensemble.dataset["time"].to_numpy()
    outputs = {v: ensemble.dataset["outputs"].sel(variable=v).to_numpy()[rows]
               for v in ensemble.variables}

    return Trajectories(times, outputs, _push_end(table, model)[rows],
                        _table_column(table, model, "number_of_firms")[rows])


def _table_column(table: pd.DataFrame, model: Model, name: str) -> np.ndarray:
    """A constant's value in every run: its column of the table, else the model's default."""
    if name in table.columns:
        return table[name].to_numpy(dtype=float)
    return np.full(len(table), model.parameters[name].default)


def _push_end(table: pd.DataFrame, model: Model) -> np.ndarray:
    """The year each run's push ends (start + duration + taper)."""
    return sum(_table_column(table, model, name)
               for name in ("push_start", "push_duration", "push_taper"))


#: built-in metrics that read Total Members PERSISTENCE_LAG years after the push ends
_AFTER_PUSH_METRICS = ("persistence_after_push", "sustained", "alive_after_push")


def _warn_if_read_past_the_horizon(experiment: Experiment, table: pd.DataFrame, model: Model,
                                   ensemble: EnsembleResult) -> str | None:
    """Warn when runs' pushes end too late for the after-push metrics to see ten years.

    Those metrics then read the horizon instead (documented in :mod:`sdnet.metrics`); a
    study whose pushes run to the end would otherwise rank levers on a shorter window
    without saying so. Returns the warning's text (None without a warning) for the summary.
    """
    used = [m.name for m in experiment.metrics if m.name in _AFTER_PUSH_METRICS]
    if not used:
        return None
    horizon = float(ensemble.dataset["time"].to_numpy()[-1])
    push_end = _push_end(table, model)
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

    data = _trajectories(ensemble, table, model)
    frame = pd.DataFrame({"run": np.arange(len(table)), "case": table["case"].to_numpy(),
                          "stage": table["stage"].to_numpy(),
                          "status": np.where(ensemble.ok, "ok", "failed")})
    for metric in experiment.metrics:
        values = metric(data)
        values = np.where(ensemble.ok, values, np.nan)
        frame[metric.name] = values
    return frame


def _indices(design: Design, values: np.ndarray, *, seed: int, metric: str) -> Any:
    if design.method == "sobol":
        return sobol(design, values, seed=seed, metric=metric)
    if design.method == "efast":
        return efast(design, values, seed=seed, metric=metric)
    if design.method == "morris":
        return morris(design, values, seed=seed)
    return None


def _analyse_stage(experiment: Experiment, design: Design, metrics: pd.DataFrame,
                   analyses: dict[str, Any], skipped: list[str]) -> None:
    if design.method not in ("sobol", "efast", "morris"):
        return  # lhs and grid designs feed PRIM, thresholds and comparisons, not indices
    for case in experiment.cases:
        part = metrics[metrics["case"] == case.name]
        for metric in experiment.metrics:
            values = part[metric.name].to_numpy(dtype=float)
            if not np.isfinite(values).all():
                bad = int((~np.isfinite(values)).sum())
                skipped.append(f"{design.method} of {metric.name} ({case.name}): {bad} runs "
                               "failed or gave non-finite values")
                continue
            if np.ptp(values) == 0:
                skipped.append(f"{design.method} of {metric.name} ({case.name}): the metric "
                               f"is {values[0]:g} in every run")
                continue
            result = _indices(design, values, seed=experiment.seed, metric=metric.name)
            if result is not None:
                analyses[f"{design.method}/{metric.name}/{case.name}"] = result


def run_experiment(
    spec: Experiment | str | Path, *, out: str | Path | None = None, progress: bool = True,
    resume: bool = True,
) -> StudyResult:
    """Run a study end to end: design -> runs (in chunks) -> metrics -> analyses -> folder.

    Parameters
    ----------
    spec : Experiment or path
        The study (or the path of its TOML file).
    out : str or Path, optional
        The results folder to write (layout in docs/architecture.md); nothing is written when
        omitted.
    progress : bool
        Show progress bars.
    resume : bool
        Reuse finished chunks found in ``out/chunks`` (from an interrupted run of the same
        study); each chunk is keyed by a hash of the model file, the run settings and its
        rows. The chunks are deleted once the results folder is complete.

    Returns
    -------
    StudyResult
        Reproducible: the same spec and seed give identical numbers.
    """
    from sdnet.model import load_model

    experiment = spec if isinstance(spec, Experiment) else load_experiment(spec)
    model = load_model(experiment.model_path)
    experiment = _with_model_times(experiment, model)
    out_path = None if out is None else Path(out)
    chunks_dir = None if out_path is None else out_path / "chunks"
    analysis = experiment.analysis
    seeds = _seeds(experiment.seed, 3)
    analyses: dict[str, Any] = {}
    skipped: list[str] = []

    design = make_design(experiment.design_method, experiment.factors, n=experiment.design_n,
                         seed=experiment.seed, **dict(experiment.design_settings))
    table = _stage_table(experiment, design, design.method)
    ensemble = _simulate(model, experiment, table, stage=design.method, chunks_dir=chunks_dir,
                         resume=resume, progress=progress)
    metrics = _metric_table(experiment, ensemble, table, model)
    horizon_note = _warn_if_read_past_the_horizon(experiment, table, model, ensemble)
    _analyse_stage(experiment, design, metrics, analyses, skipped)
    screen_design = None
    tables = [table]
    metric_tables = [metrics]
    screen_ensemble = None

    if analysis.screen_top:
        screen_design, screen_ensemble = design, ensemble
        first = experiment.cases[0].name
        ranking = analyses.get(f"morris/{analysis.screen_metric}/{first}")
        if ranking is None:
            raise ExperimentError(
                f"cannot screen: the Morris analysis of {analysis.screen_metric!r} failed "
                f"({'; '.join(skipped)})", path=experiment.path, key="analysis.screen")
        top = set(ranking.top(analysis.screen_top))
        chosen = [f for f in experiment.factors if f.name in top]
        design = make_design("sobol", chosen, n=analysis.screen_n, seed=seeds[0],
                             calc_second_order=analysis.calc_second_order)
        # the other factors are held at the case's value, else the model's default (within
        # the factor's bounds), and written out so factors.csv says what every run used
        held = {f.name: min(max(model.parameters[f.name].default, f.lower), f.upper)
                for f in experiment.factors if f.name not in top}
        table_main = _stage_table(experiment, design, "sobol", held)
        ensemble = _simulate(model, experiment, table_main, stage="sobol",
                             chunks_dir=chunks_dir, resume=resume, progress=progress)
        metrics_main = _metric_table(experiment, ensemble, table_main, model)
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

    thresholds = None
    if analysis.threshold_amounts:
        thresholds = _thresholds(model, experiment, search="push_duration")
    amount_thresholds = None
    if analysis.threshold_durations:
        amount_thresholds = _thresholds(model, experiment, search="push_amount")

    integration = None
    if analysis.integration_n:
        integration = _integration(model, experiment, table, main_metrics, ensemble, seeds[1])

    hysteresis = _hysteresis(model, experiment) if analysis.hysteresis else None

    summary = _summary(experiment, design, screen_design, all_metrics, analyses, skipped,
                       thresholds, integration, hysteresis, comparison)
    summary["notes"] = [horizon_note] if horizon_note else []
    if amount_thresholds is not None:
        summary["amount_thresholds"] = amount_thresholds.replace({np.nan: None}).to_dict(
            "records")
    result = StudyResult(experiment, design, screen_design, all_runs, all_metrics, ensemble,
                         analyses, summary, out_path)
    if out_path is not None:
        _write(result, out_path, screen_ensemble, thresholds, integration, hysteresis,
               comparison)
        if amount_thresholds is not None:
            amount_thresholds.to_csv(out_path / "analyses" / "thresholds_amount.csv",
                                     index=False)
        if chunks_dir is not None and chunks_dir.exists():
            # the study is complete: its chunks only matter to an interrupted run
            import shutil

            shutil.rmtree(chunks_dir)
    return result


def _slug(name: str) -> str:
    from sdnet.params import python_name

    return python_name(name)


def _compare(experiment: Experiment, design: Design, metrics: pd.DataFrame,
             analyses: dict[str, Any], skipped: list[str]) -> pd.DataFrame:
    """Per design row and region, which of the two policies gives the larger metric."""
    import pandas as pd

    metric = str(experiment.analysis.compare_metric)
    policies = list(dict.fromkeys(c.policy for c in experiment.cases))
    regions = list(dict.fromkeys(c.region for c in experiment.cases))
    rows = []
    for region in regions:
        by_policy = {}
        for case in experiment.cases:
            if case.region == region:
                by_policy[case.policy] = metrics.loc[metrics["case"] == case.name,
                                                     metric].to_numpy(dtype=float)
        a, b = by_policy[policies[0]], by_policy[policies[1]]
        first_wins = a > b + 1e-12
        second_wins = b > a + 1e-12
        rows.append({"region": region or "default", "metric": metric,
                     f"{policies[0]}_wins": float(first_wins.mean()),
                     f"{policies[1]}_wins": float(second_wins.mean()),
                     "ties": float((~first_wins & ~second_wins).mean()),
                     f"{policies[0]}_mean": float(np.nanmean(a)),
                     f"{policies[1]}_mean": float(np.nanmean(b))})
        if first_wins.any() and experiment.analysis.prim_metric is None:
            analyses[f"prim/{policies[0]}_wins/{region or 'default'}"] = prim(
                design.to_frame(), first_wins)
        elif not first_wins.any():
            skipped.append(f"prim of {policies[0]} wins ({region}): it never wins")
    return pd.DataFrame(rows)


def _base_values(model: Model, experiment: Experiment, case: Case) -> dict[str, float]:
    values = dict(case.values)
    for factor in experiment.factors:
        if factor.name not in values:
            default = model.parameters[factor.name].default
            values[factor.name] = min(max(default, factor.lower), factor.upper)
    return values


def _sustained_of(model: Model, experiment: Experiment, table: pd.DataFrame) -> np.ndarray:
    """Run the table on the engine; True where the threshold metric says "sustained"."""
    from sdnet.metrics import BUILTIN as METRICS
    from sdnet.runner import run_ensemble

    run = experiment.run
    result = run_ensemble(model, table, final_time=run.final_time, time_step=run.time_step,
                          saveper=run.saveper, method=run.method,  # type: ignore[arg-type]
                          variables=["Total Members"], progress=False)
    table = table.assign(case="", stage="", row=0)
    data = _trajectories(result, table, model)
    flag = METRICS[experiment.analysis.threshold_metric](data)
    return (flag > 0.5) & result.ok


def _thresholds(model: Model, experiment: Experiment, *, search: str) -> pd.DataFrame:
    """Smallest push duration (per amount) or amount (per duration) that sustains the
    network, per region; one engine ensemble per bisection step."""
    import pandas as pd

    analysis = experiment.analysis
    regions: dict[str, Case] = {}
    for case in experiment.cases:
        regions.setdefault(case.region or "default", case)
    if search == "push_duration":
        given, levels = "push_amount", analysis.threshold_amounts
        (lo, hi), tol, label = analysis.threshold_duration, analysis.threshold_tol, \
            "min_duration"
    else:
        given, levels = "push_duration", analysis.threshold_durations
        (lo, hi), tol, label = analysis.threshold_amount, analysis.threshold_amount_tol, \
            "min_amount"
    problems = [(region, case, level) for region, case in regions.items() for level in levels]
    base_rows = []
    for _, case, level in problems:
        values = _base_values(model, experiment, case)
        values[given] = level
        base_rows.append(values)
    base = pd.DataFrame(base_rows)

    def sustains(candidates: np.ndarray) -> np.ndarray:
        table = base.copy()
        table[search] = candidates
        return _sustained_of(model, experiment, table)

    found: ThresholdResult = bisect_threshold(sustains, (lo, hi), tol=tol, size=len(problems))
    return pd.DataFrame({
        "region": [p[0] for p in problems],
        given: [p[2] for p in problems],
        label: found.threshold,
        "bracket_low": found.bracket_low,
        "bracket_high": found.bracket_high,
        "found": found.found,
    })


def _integration(model: Model, experiment: Experiment, table: pd.DataFrame,
                 metrics: pd.DataFrame, ensemble: EnsembleResult,
                 seed: int) -> IntegrationCheckResult | None:
    """Re-run a sample of the main runs at half the time step and with RK4."""
    ok_rows = np.nonzero(ensemble.ok)[0]
    if ok_rows.size == 0:
        return None
    rng = np.random.default_rng(seed)
    n = min(experiment.analysis.integration_n, ok_rows.size)
    rows = np.sort(rng.choice(ok_rows, size=n, replace=False))
    sample = table.iloc[rows].reset_index(drop=True)
    time_step = experiment.run.time_step or model.default_control("time_step")
    names = [m.name for m in experiment.metrics]
    base = {m: metrics[m].to_numpy(dtype=float)[rows] for m in names}
    small = replace(experiment, run=replace(experiment.run, chunk_size=max(n, 1)))
    half = _simulate(model, small, sample, stage="half_dt", chunks_dir=None, resume=False,
                     progress=False, time_step=time_step / 2)
    rk4 = _simulate(model, small, sample, stage="rk4", chunks_dir=None, resume=False,
                    progress=False, method="rk4", time_step=time_step)
    m_half = _metric_table(experiment, half, sample, model)
    m_rk4 = _metric_table(experiment, rk4, sample, model)
    return integration_check(base, half_dt={m: m_half[m].to_numpy(float) for m in names},
                             rk4={m: m_rk4[m].to_numpy(float) for m in names})


def _hysteresis(model: Model, experiment: Experiment) -> pd.DataFrame:
    """Per region: does a working network's full state persist with no push?

    A run with a long push (the upper end of the threshold search's durations) gives the
    state of a working network when the push ends; a run from that state with no push shows
    whether it persists (members ten years later over members at the start). A run from the
    state half a year into the push (below critical mass) is the contrast (model.md BR8).
    """
    import pandas as pd

    from sdnet.metrics import PERSISTENCE_LAG, formed_threshold

    rows = []
    seen: set[str] = set()
    final_time = experiment.run.final_time
    for case in experiment.cases:
        region = case.region or "default"
        if region in seen:
            continue
        seen.add(region)
        values = {k: v for k, v in case.values.items() if k not in PUSH_PARAMETERS.values()}
        long_push = replace(case.push, duration=experiment.analysis.threshold_duration[1],
                            taper=0.0)
        start_run = model.run(values, push=long_push, final_time=final_time,
                              time_step=experiment.run.time_step)
        firms = values.get("number_of_firms", model.parameters["number_of_firms"].default)
        for label, when in (("working", long_push.end), ("early", long_push.start + 0.5)):
            state = start_run.state_at(when)
            no_push = Push(amount=0.0, start=0.0, duration=0.0)
            after = model.run(values, push=no_push, initial_state=state,
                              final_time=when + PERSISTENCE_LAG,
                              time_step=experiment.run.time_step)
            members = after["Total Members"].to_numpy(dtype=float)
            ratio = float(members[-1] / members[0]) if members[0] > 1e-9 else 0.0
            persists = ratio >= 0.6 and members[-1] >= float(formed_threshold(
                np.array([firms]))[0])
            rows.append({"region": region, "start": label, "start_time": when,
                         "members_start": float(members[0]), "members_after_10y":
                         float(members[-1]), "ratio": ratio, "persists": bool(persists)})
    return pd.DataFrame(rows)


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
    (out / "spec.toml").write_text(to_toml(spec), encoding="utf-8")
    provenance = result.ensemble.provenance
    if provenance is not None:
        (out / "provenance.json").write_text(json.dumps(provenance.to_dict(), indent=2),
                                             encoding="utf-8")
    design_info = result.design.to_dict()
    if result.screen_design is not None:
        design_info["screen"] = result.screen_design.to_dict()
    (out / "design.json").write_text(json.dumps(design_info, indent=2), encoding="utf-8")
    result.runs.to_csv(out / "factors.csv", index=False)
    result.metrics.to_csv(out / "metrics.csv", index=False)
    result.ensemble.save(out / "ensemble.nc")
    if screen_ensemble is not None:
        screen_ensemble.save(out / "ensemble_screen.nc")
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
