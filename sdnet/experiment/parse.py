"""Parsing study files (TOML or a dict) into an :class:`~sdnet.experiment.spec.Experiment`."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sdnet.decision.optimize import parse_optimize
from sdnet.designs import DISTRIBUTIONS, METHODS, Factor
from sdnet.errors import (
    ExperimentError,
    ModelFileError,
    NotAParameterError,
    OutOfRangeError,
    SdnetError,
    UnknownPresetError,
    UnknownVariableError,
    close_matches,
)
from sdnet.experiment.checks import (
    _check_keys,
    _design_n,
    _err,
    _integer,
    _number,
    _ordered,
    _string,
    _table,
)
from sdnet.experiment.packages import (
    budget_policies,
    parse_expectations,
    parse_packages_analysis,
    parse_sets,
)
from sdnet.experiment.spec import (
    _NAME,
    _PUSH_FIELDS,
    _TOP_KEYS,
    AnalysisSpec,
    Case,
    Experiment,
    RunSpec,
)
from sdnet.files import data_file_paths
from sdnet.metrics import REDUCERS, REQUIRED_OPTIONS, Metric, card_metrics, user_metric
from sdnet.params import python_name
from sdnet.policy import Push, base_push

if TYPE_CHECKING:

    from sdnet.model import Model


def load_experiment(path: str | Path, *, model: Model | None = None,
                    card: str | Path | None = None,
                    data_files: Sequence[str | Path] | None = None) -> Experiment:
    """Read and validate an experiment file.

    ``[experiment] model`` is a path relative to the experiment file's folder; when no file
    is there, relative to the current directory. So are the files of ``[experiment] data``
    (the model's data files); ``data_files`` (``--data``) replaces them.

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
        # utf-8-sig: a byte-order mark (Windows editors) is not part of the TOML
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ExperimentError(f"is not UTF-8 text (byte {error.start}: "
                              f"{error.object[error.start:error.start + 1]!r}); save it as "
                              "UTF-8", path=path) from error
    except OSError as error:
        raise ExperimentError(f"cannot be read ({error.strerror or error})", path=path
                              ) from error
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ExperimentError(f"not valid TOML: {error}", path=path) from error
    return parse_experiment(data, path=path, model=model, card=card, data_files=data_files)


def _values_table(value: Any, path: Path | None, key: str) -> Mapping[str, Any]:
    """A table of parameter values (``[params]``, ``[[policies]] params``), or a clear error."""
    if not isinstance(value, Mapping):
        raise _err(f"must be a table of parameter values such as {{ push_amount = 300000 }}, "
                   f"not {value!r}", path, key, value)
    return value


def _lever_values(raw: Any, path: Path | None, key: str, model: Model) -> dict[str, float]:
    """A table of constants a package sets, each checked against its declared range."""
    extra = {}
    for k, v in _values_table(raw, path, key).items():
        name_k = _parameter(model, k, path, f"{key}.{k}")
        extra[name_k] = _in_range(model, name_k, _number(v, path, f"{key}.{k}"), path,
                                  f"{key}.{k}")
    return extra


def _data_files(exp: Mapping[str, Any], path: Path | None,
                given: Sequence[str | Path] | None) -> tuple[Path, ...]:
    """The model's data files: ``given`` (``--data``, relative to the current directory),
    else ``[experiment] data`` (a file or a list of files; each relative to the experiment
    file's folder, else to the current directory, as ``[experiment] model``), each checked."""
    if given:
        try:
            return data_file_paths(given, base=Path.cwd(), source="--data")
        except ModelFileError as error:
            raise ExperimentError(str(error), value=[str(f) for f in given]) from None
    if "data" not in exp:
        return ()
    raw = exp["data"]
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not names or not all(
            isinstance(n, str) and n.strip() for n in names):
        raise _err(f"must be the path of a data file or a list of them (.tab or .csv, "
                   f"relative to the experiment file), not {raw!r}", path, "experiment.data",
                   raw)
    found: list[Path] = []
    for name in names:
        folder = Path.cwd() if path is None else path.parent
        if not (folder / name).exists():
            folder = Path.cwd()  # as [experiment] model: beside the file, else here
        try:
            found.extend(data_file_paths(
                [name], base=folder,
                source="[experiment] data, beside the experiment file or in the current "
                "directory"))
        except ModelFileError as error:
            raise _err(str(error), path, "experiment.data", name) from None
    return tuple(dict.fromkeys(found))


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
    schedule = model.card.push
    names = {} if schedule is None else schedule.parameters
    for f in _PUSH_FIELDS:
        if f in fields and f in names and names[f] in model.parameters:
            _in_range(model, names[f], values[f], path, f"{key}.{f}")
    return push


def parse_experiment(
    data: Mapping[str, Any], *, path: str | Path | None = None, model: Model | None = None,
    card: str | Path | None = None, data_files: Sequence[str | Path] | None = None,
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
    card : str or Path, optional
        The model card (``--card``); else ``[experiment] card``; else the ``.toml`` beside
        the model (:mod:`sdnet.card`).
    data_files : sequence of str or Path, optional
        The model's data files (``--data``; relative to the current directory); else
        ``[experiment] data``; else those of ``model`` when given.
    """
    from sdnet.model import load_model

    path = None if path is None else Path(path)
    if not isinstance(data, Mapping):
        raise _err("an experiment must be a table", path, "", data)
    _check_keys(data, _TOP_KEYS, path, "")  # type: ignore[arg-type]

    exp = _table(data, "experiment", path, ("name", "model", "seed", "question", "card",
                                            "data"))
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
    card_path = None
    if card is not None:
        card_path = Path(card).resolve()
    elif "card" in exp:
        given = Path(_string(exp["card"], path, "experiment.card"))
        card_path = (given if given.is_absolute() or path is None
                     else path.parent / given).resolve()
        if not card_path.is_file():
            raise _err(f"model card not found: {exp['card']!r} (relative to the experiment "
                       "file)", path, "experiment.card", exp["card"])
    data_paths = _data_files(exp, path, data_files)
    if model is None:
        model = load_model(model_path, card=card_path, data_files=data_paths)
    elif not data_paths:
        data_paths = model.data_files

    run = _parse_run(_table(data, "run", path, ("final_time", "time_step", "saveper", "method",
                                                  "chunk_size", "variables")), path, model)
    params = {}
    for key, value in _values_table(data.get("params", {}), path, "params").items():
        pname = _parameter(model, key, path, f"params.{key}")
        params[pname] = _in_range(model, pname, _number(value, path, f"params.{key}"), path,
                                  f"params.{key}")
    cases, scenario = _parse_cases(data, path, model, params)
    design = _table(data, "design", path, ("method", "n", "calc_second_order", "num_levels", "M",
                                             "file", "targets"))
    method = design.get("method", "lhs")
    if method not in METHODS:
        hint = close_matches(str(method), METHODS)
        did = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
        raise _err(f"unknown design method {method!r}{did} (valid: {', '.join(METHODS)})",
                   path, "design.method", method)
    for key in ("file", "targets"):
        if key in design and method != "sets":
            raise _err(f"is a setting of a sets design (the rows of a table of parameter "
                       f"sets), not of a {method} design", path, f"design.{key}", design[key])
    if method == "sets":
        for key in ("calc_second_order", "num_levels", "M"):
            if key in design:
                raise _err("is not a setting of a sets design (its settings: file, n, "
                           "targets)", path, f"design.{key}", design[key])
        sets = parse_sets(design, path, model, seed=seed, has_factors="factors" in data,
                          cases=cases)
        factors = sets[0]
    else:
        factors = _parse_factors(data.get("factors", []), path, model)
    if "n" not in design and method != "sets":
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
    if method == "sets":
        n, settings = sets[1], sets[2]
    else:
        n = _design_n(design["n"], method, path=path, settings=settings)
    start = model.default_control("initial_time")
    horizon = run.final_time if run.final_time is not None else model.default_control(
        "final_time")
    chosen = data.get("metrics", _default_metrics(model))
    if "metrics" not in data and not chosen:
        raise _err(f"the study lists no [[metrics]] and {model.path.name} has no stock and no "
                   "variable computed over time to measure by default; list [[metrics]] "
                   "(name, variable, reducer)", path, "metrics", None)
    metrics = _parse_metrics(chosen, path, model, (start, horizon))
    if cases[0].push is None:
        for i, metric in enumerate(metrics):
            if metric.after_schedule:
                raise _err(f"metric {metric.name!r} reads the time after the push ends, and "
                           f"{_no_schedule(model)}", path, f"metrics[{i}].name", metric.name)
    if not factors:
        raise _err("a study needs at least one [[factors]] entry", path, "factors", [])
    analysis = _parse_analysis(_table(data, "analysis", path, (
        "screen", "convergence", "time_resolved", "prim", "thresholds", "integration_check",
        "hysteresis", "compare", "grow", "packages", "expect")), path, method, metrics, cases,
        model, factors=factors, n=n)
    optimize = None
    if "optimize" in data:
        optimize = parse_optimize(data["optimize"], model, path=path, seed=seed,
                                  regions=[c.region for c in cases], final_time=horizon,
                                  fixed=cases[0].values)
    return Experiment(name, path, model_path, seed, question, run, cases, params,
                      tuple(factors), method, n, settings, tuple(metrics), analysis, scenario,
                      dict(data), card_path, optimize, data_paths)


def _card_name(model: Model) -> str:
    """How messages name a model's card."""
    card = model.card
    return f"card {card.path.name}" if card.path is not None else (
        f"the model has no card ({model.path.with_suffix('.toml').name} beside it)")


def _no_schedule(model: Model) -> str:
    """Why a study of ``model`` cannot have a push."""
    card = model.card
    if card.path is None:
        return (f"{model.path.name} has no model card ({model.path.with_suffix('.toml').name} "
                "beside it with a [[schedules]] entry of kind \"push\"); remove the push or "
                "write the card")
    return (f"card {card.path.name} has no [[schedules]] entry of kind \"push\"; remove the "
            "push or add one")


#: At most this many default metrics of a model without stocks (one per variable it computes)
_MAX_DEFAULT_METRICS = 12


def _default_metrics(model: Model) -> list[dict[str, Any]]:
    """What a study measures when it lists no [[metrics]]: the card's default outcomes, else
    the final value of every stock of the model, else (a model without stocks) of the first
    :data:`_MAX_DEFAULT_METRICS` flows and auxiliaries, as ``sdnet run`` plots them."""
    chosen = [o for o in model.card.default_outcomes if o.variable in model]
    if chosen:  # those the model has (a small test model may lack some of its card's)
        return [{"name": o.name} for o in chosen]
    metrics = []
    columns = model.stock_columns()
    if not columns:
        computed = [str(row.vensim_name) for row in model.variables.itertuples()
                    if row.kind in ("flow", "auxiliary")]
        columns = model.columns(computed)[:_MAX_DEFAULT_METRICS] if computed else []
    for column in columns:
        try:
            units = str(model.variables.loc[model.resolve(column), "units"] or "")
        except (SdnetError, KeyError):
            units = ""
        name = "final_" + re.sub(r"\W+", "_", python_name(column)).strip("_")
        metrics.append({"name": name, "variable": column, "reducer": "final", "units": units})
    return metrics


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
    _check_run_times(values, path, model)
    return RunSpec(values.get("final_time"), values.get("time_step"), values.get("saveper"),
                   method, chunk, tuple(variables))


def _check_run_times(values: Mapping[str, float], path: Path | None, model: Model) -> None:
    """[run] final_time, time_step and saveper that no run can use, blamed on the key the file
    sets (a save step the file leaves to the model is named as the model's)."""
    from sdnet.params import check_time_settings

    settings = {name: values.get(name, model.default_control(name))
                for name in ("final_time", "time_step", "saveper")}
    start = model.default_control("initial_time")
    try:
        check_time_settings(initial_time=start, **settings,
                            saveper_given="time_step" in values or "saveper" in values)
    except SdnetError as error:
        name = str(getattr(error, "name", ""))
        if name == "saveper" and "saveper" not in values:
            step = settings["time_step"]
            raise _err(f"{step:g} does not divide the model file's save step SAVEPER = "
                       f"{settings['saveper']:g}; set [run] saveper to a whole multiple of "
                       f"{step:g} too", path, "run.time_step", step) from error
        key = f"run.{name}" if name in values else "run"
        detail = str(error)
        if name in ("final_time", "time_step", "saveper") and name not in values:
            detail += f" (from the model file's {name.upper()})"
        raise _err(detail, path, key, values.get(name)) from error


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
            names.append(model.card.preset(preset).name)
        except UnknownPresetError as error:
            presets_of = model.card.presets
            hint = close_matches(str(preset), presets_of)
            did = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
            valid = ", ".join(presets_of) or (
                f"none: the model's card defines no [[presets]] ({_card_name(model)})")
            raise _err(f"unknown {model.card.preset_kind} {preset!r}{did} (valid: {valid})",
                       path, key, preset) from error
    region_values: dict[str, float] = {}
    raw_values = region.get("values", {})
    if not isinstance(raw_values, Mapping):
        raise _err("must be a table of parameter values", path, "region.values", raw_values)
    for key, value in raw_values.items():
        pname = _parameter(model, key, path, f"region.values.{key}")
        region_values[pname] = _in_range(
            model, pname, _number(value, path, f"region.values.{key}"), path,
            f"region.values.{key}")

    push_table = _table(data, "push", path, _PUSH_FIELDS)
    schedule = model.card.push
    if schedule is None:
        if "push" in data:
            raise _err(f"a push needs a push schedule, and {_no_schedule(model)}", path, "push",
                       dict(push_table))
        base = None
    else:
        base = _push(push_table, base_push(model.card), path, "push", model)
    raw_policies = data.get("policies", [])
    if not isinstance(raw_policies, list):
        raise _err("must be an array of tables ([[policies]])", path, "policies", raw_policies)
    policies: list[tuple[str, Push | None, dict[str, float], str]] = []
    for i, entry in enumerate(raw_policies):
        key = f"policies[{i}]"
        if not isinstance(entry, Mapping):
            raise _err("must be a table", path, key, entry)
        _check_keys(entry, ("name", "label", *_PUSH_FIELDS, "params"), path, key)
        label = entry.get("label", "")
        if not isinstance(label, str):
            raise _err(f"must be a string (the package in plain words), not {label!r}", path,
                       f"{key}.label", label)
        pname = _string(entry.get("name"), path, f"{key}.name")
        if not _NAME.match(pname):
            raise _err(f"must be a Python identifier, not {pname!r}", path, f"{key}.name", pname)
        extra = {}
        for k, v in _values_table(entry.get("params", {}), path, f"{key}.params").items():
            name_k = _parameter(model, k, path, f"{key}.params.{k}")
            extra[name_k] = _in_range(model, name_k, _number(v, path, f"{key}.params.{k}"),
                                      path, f"{key}.params.{k}")
        pushed = [f for f in _PUSH_FIELDS if f in entry]
        if base is None and pushed:
            raise _err(f"a push needs a push schedule, and {_no_schedule(model)}", path,
                       f"{key}.{pushed[0]}", entry[pushed[0]])
        policies.append((pname, None if base is None else _push(entry, base, path, key, model),
                         extra, label))
    given = len(policies)
    policies += budget_policies(data, path, model, base, push=_push,
                                values=lambda raw, where: _lever_values(raw, path, where, model))
    if len({p[0] for p in policies}) != len(policies):
        names_given = [p[0] for p in policies]
        twice = sorted({n for n in names_given if names_given.count(n) > 1})
        raise _err(f"policy names must be unique ({', '.join(twice)} twice; [budget] adds "
                   "budget_short_strong, budget_medium, budget_long_weak, budget_tapered, "
                   "budget_matched)", path, "policies", names_given)
    if not policies:
        policies = [("base", base, {}, "")]

    cases = []
    for region_name in names:
        for policy, push, extra, label in policies:
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
            cases.append(Case(case_name, region_name, policy, push, values, label))
    # a constant one policy sets keeps the model's value in the others (stacked runs share
    # one table, where a missing value would be a hole)
    every = list(dict.fromkeys(k for case in cases for k in case.values))
    cases = [replace(case, values={**{k: model.parameters[k].default for k in every},
                                   **case.values}) for case in cases]
    region_table: dict[str, Any] = {}
    if len(names) > 1:
        region_table["presets"] = list(names)
    elif names[0] is not None:
        region_table["preset"] = names[0]
    if region_values:
        region_table["values"] = region_values
    scenario = {
        "region": region_table,
        "push": {} if base is None else {f: getattr(base, f) for f in _PUSH_FIELDS},
        "policies": [] if raw_policies == [] else [
            {"name": n, **({"label": label} if label else {}),
             **({} if p is None else {f: getattr(p, f) for f in _PUSH_FIELDS}),
             **({"params": extra} if extra else {})}
            for n, p, extra, label in policies[:given]],
        "budget": dict(data.get("budget", {})),
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
    outcomes = card_metrics(model.card)
    for i, entry in enumerate(raw):
        key = f"metrics[{i}]"
        if not isinstance(entry, Mapping):
            raise _err("must be a table", path, key, entry)
        name = _string(entry.get("name"), path, f"{key}.name")
        if "reducer" not in entry and "variable" not in entry:
            _check_keys(entry, ("name",), path, key)
            if name not in outcomes:
                hint = close_matches(name, outcomes)
                did = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
                if outcomes:
                    named = f"the outcomes of {_card_name(model)}: {', '.join(outcomes)}"
                elif model.card.path is not None:
                    named = f"{_card_name(model)} names no [[outcomes]]"
                else:
                    named = (f"{model.path.name} has no model card "
                             f"({model.path.with_suffix('.toml').name} beside it), so no "
                             "named outcomes")
                raise _err(f"unknown metric {name!r}{did} ({named}; or give variable and "
                           "reducer)", path, f"{key}.name", name)
            for variable in outcomes[name].variables:
                try:
                    model.columns([variable])
                except SdnetError as error:
                    raise _err(f"outcome {name!r} of {_card_name(model)}: {error}", path,
                               f"{key}.name", name) from error
            metrics.append(outcomes[name])
            continue
        options = sorted({o for _, opts in REDUCERS.values() for o in opts})
        _check_keys(entry, ("name", "variable", "reducer", "units", *options), path, key)
        if not _NAME.match(name) or name in outcomes:
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
        units = entry.get("units", "")
        if not isinstance(units, str):
            raise _err(f"must be a units string such as \"widget\", not {units!r}", path,
                       f"{key}.units", units)
        if "direction" in kwargs and kwargs["direction"] not in ("above", "below"):
            raise _err(f"must be 'above' or 'below', not {kwargs['direction']!r}", path,
                       f"{key}.direction", kwargs["direction"])
        if "start" in kwargs and "end" in kwargs and not kwargs["start"] < kwargs["end"]:
            raise _err(f"start {kwargs['start']:g} must come before end {kwargs['end']:g}",
                       path, f"{key}.start", kwargs["start"])
        try:
            metrics.append(user_metric(name, variable=variable, reducer=reducer,
                                       units=units, **kwargs))
        except SdnetError as error:
            option = str(getattr(error, "name", ""))
            where = f"{key}.{option}" if option in entry else key
            raise _err(str(error), path, where, entry.get(option, dict(entry))) from error
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


def _share(value: Any, path: Path | None, key: str, *, below: float, meaning: str,
           closed: bool = False) -> float:
    """A share in (0, below) (or (0, below] when ``closed``), with what it means on error."""
    number = _number(value, path, key)
    if not (0 < number < below or (closed and number == below)):
        interval = f"(0, {below:g}{']' if closed else ')'}"
        raise _err(f"must be a number in {interval} ({meaning}), not {value!r}", path, key,
                   value)
    return number


def _tolerance(value: Any, span: tuple[float, float], path: Path | None, key: str,
               units: str) -> float:
    """A bisection tolerance: positive and smaller than the searched range."""
    number = _number(value, path, key, positive=True)
    width = span[1] - span[0]
    if number >= width:
        raise _err(f"must be smaller than the searched range ({width:g} {units}), not "
                   f"{value!r}: the search would stop before it starts", path, key, value)
    return number


def _parse_keep(value: Any, factors: Sequence[Factor], top: int, path: Path | None,
                model: Model) -> tuple[str, ...]:
    """``[analysis] screen.keep``: factors of the study (either spelling), at most ``top``."""
    key = "analysis.screen.keep"
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _err("must be a list of factor names such as [\"push_amount\", "
                   "\"push_duration\"]", path, key, value)
    names = [f.name for f in factors]
    kept: list[str] = []
    for given in value:
        name = model.parameters[given].name if given in model.parameters else None
        if name not in names:
            hint = close_matches(given, names)
            did = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
            raise _err(f"{given!r} is not a factor of the study{did} (a kept factor must be "
                       "one of the [[factors]] the screen varies)", path, key, given)
        if name in kept:
            raise _err(f"{given!r} is given twice", path, key, value)
        kept.append(str(name))
    if len(kept) > top:
        raise _err(f"keeps {len(kept)} factors, more than screen.top = {top} (the Sobol' "
                   "stage varies top factors, the kept ones among them)", path, key, value)
    return tuple(kept)


def _parse_grow(table: Mapping[str, Any], path: Path | None, method: str,
                metrics: Sequence[Metric], spec: Mapping[str, Any], n: int,
                n_factors: int) -> dict[str, Any]:
    """``[analysis] grow``: doubling of the Sobol' sample until the top factors separate."""
    grow = _table(table, "grow", path, ("max_n", "top", "metric"), where="analysis.grow")
    screened = bool(spec.get("screen_top"))
    if method != "sobol" and not screened:
        raise _err(f"growing the sample needs a sobol design (or a morris screen), not "
                   f"{method!r}", path, "analysis.grow", dict(grow))
    if "max_n" not in grow:
        raise _err("missing (the largest base size N to grow to, a power of 2)", path,
                   "analysis.grow.max_n")
    max_n = _design_n(grow["max_n"], "sobol", path=path, key="analysis.grow.max_n")
    start = int(spec["screen_n"]) if screened else n
    if max_n < start:
        raise _err(f"must be at least the Sobol' stage's N = {start} (it grows from there), "
                   f"not {grow['max_n']!r}", path, "analysis.grow.max_n", grow["max_n"])
    varied = min(int(spec["screen_top"]), n_factors) if screened else n_factors
    top = _integer(grow.get("top", min(3, max(1, varied - 1))), path, "analysis.grow.top",
                   minimum=1)
    if top >= varied:
        raise _err(f"must be smaller than the {varied} factors the Sobol' stage varies (the "
                   f"top {top} are told apart from the others), not {top!r}", path,
                   "analysis.grow.top", grow.get("top"))
    default = spec.get("screen_metric") or metrics[0].name
    return {"grow_max_n": max_n, "grow_top": top,
            "grow_metric": _metric_name(grow.get("metric", default), metrics, path,
                                        "analysis.grow.metric")}


def _parse_analysis(table: Mapping[str, Any], path: Path | None, method: str,
                    metrics: Sequence[Metric], cases: Sequence[Case],
                    model: Model, *, factors: Sequence[Factor] = (),
                    n: int = 0) -> AnalysisSpec:
    spec: dict[str, Any] = {}
    if "screen" in table:
        screen = _table(table, "screen", path, ("top", "n", "metric", "calc_second_order",
                                                 "seeds", "keep"),
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
        # three screens by default: one seed's Morris ranking is too noisy to trust (issue 13)
        spec["screen_seeds"] = _integer(screen.get("seeds", 3), path, "analysis.screen.seeds",
                                        minimum=1)
        spec["screen_keep"] = _parse_keep(screen.get("keep", []), factors,
                                          spec["screen_top"], path, model)
    if "grow" in table:
        spec.update(_parse_grow(table, path, method, metrics, spec, n, len(factors)))
    for flag in ("convergence", "hysteresis"):
        if flag in table:
            if not isinstance(table[flag], bool):
                raise _err("must be true or false", path, f"analysis.{flag}", table[flag])
            spec[flag] = table[flag]
    if spec.get("hysteresis") and model.card.push is None:
        raise _err(f"the hysteresis test stops the push, and {_no_schedule(model)}", path,
                   "analysis.hysteresis", True)
    if spec.get("hysteresis") and not any(
            m.options.get("reducer") in ("alive_after", "sustained_after")
            for m in card_metrics(model.card).values()):
        raise _err(f"the hysteresis test needs an outcome with reducer alive_after or "
                   f"sustained_after in {_card_name(model)}", path, "analysis.hysteresis", True)
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
        if method not in ("sobol", "efast") and "screen" not in table:
            raise _err(f"time-resolved indices need a sobol or efast design (or a morris "
                       f"screen), not {method!r}", path, "analysis.time_resolved",
                       dict(tr))
        spec["time_resolved"] = tuple(variables)
        spec["time_resolved_every"] = _number(tr.get("every", 1.0), path,
                                              "analysis.time_resolved.every", positive=True)
    if "prim" in table:
        pr = _table(table, "prim", path, ("metric", "alpha", "min_coverage"),
                    where="analysis.prim")
        regime = next((m.name for m in metrics if m.options.get("reducer") ==
                       "sustained_after"), metrics[0].name)
        spec["prim_metric"] = _metric_name(pr.get("metric", regime), metrics, path,
                                           "analysis.prim.metric")
        spec["prim_alpha"] = _share(pr.get("alpha", 0.05), path, "analysis.prim.alpha",
                                    below=0.5, meaning="the share of runs peeled per step")
        spec["prim_min_coverage"] = _share(pr.get("min_coverage", 0.5), path,
                                           "analysis.prim.min_coverage", below=1.0,
                                           meaning="the share of the cases of interest the "
                                           "box must keep", closed=True)
    if "thresholds" in table:
        th = _table(table, "thresholds", path, ("amounts", "duration", "tol", "durations",
                                                 "amount", "amount_tol", "metric"),
                    where="analysis.thresholds")
        schedule = model.card.push
        if schedule is None:
            raise _err(f"a threshold search varies the push, and {_no_schedule(model)}", path,
                       "analysis.thresholds", dict(th))
        flags = [name for name, m in card_metrics(model.card).items()
                 if m.options.get("reducer") in ("alive_after", "sustained_after")]
        if not flags:
            raise _err(f"a threshold search needs an outcome with reducer alive_after or "
                       f"sustained_after in {_card_name(model)}", path,
                       "analysis.thresholds", dict(th))
        alive = next((name for name in flags if card_metrics(model.card)[name].options.get(
            "reducer") == "alive_after"), flags[0])
        flag = th.get("metric", alive)
        if flag not in flags:
            raise _err(f"must be {' or '.join(flags)}, not {flag!r}", path,
                       "analysis.thresholds.metric", flag)
        spec["threshold_metric"] = flag
        amounts = th.get("amounts", [] if "durations" in th else
                         [base_push(model.card).amount])
        if not isinstance(amounts, list):
            raise _err("must be a list of push amounts ($/Year)", path,
                       "analysis.thresholds.amounts", amounts)
        spec["threshold_amounts"] = tuple(
            _number(a, path, "analysis.thresholds.amounts", positive=True) for a in amounts)
        spec["threshold_duration"] = _search_range(
            th.get("duration", [0.0, 15.0]), path, "analysis.thresholds.duration", "Year")
        spec["threshold_tol"] = _tolerance(th.get("tol", 0.05), spec["threshold_duration"],
                                           path, "analysis.thresholds.tol", "Year")
        durations = th.get("durations", [])
        if not isinstance(durations, list):
            raise _err("must be a list of push durations (Year)", path,
                       "analysis.thresholds.durations", durations)
        spec["threshold_durations"] = tuple(
            _number(d, path, "analysis.thresholds.durations", minimum=0.0) for d in durations)
        declared = model.parameters[schedule.parameters["amount"]]
        spec["threshold_amount"] = _search_range(
            th.get("amount", [declared.lower or 0.0, declared.upper or 2_000_000.0]),
            path, "analysis.thresholds.amount", "$/Year")
        spec["threshold_amount_tol"] = _tolerance(th.get("amount_tol", 1000.0),
                                                  spec["threshold_amount"], path,
                                                  "analysis.thresholds.amount_tol", "$/Year")
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
    if "packages" in table:
        spec.update(parse_packages_analysis(table, path, metrics, cases, model))
    if "expect" in table:
        if "packages" not in table:
            raise _err("claims are checked on a package comparison: add [analysis] packages",
                       path, "analysis.expect", table["expect"])
        spec["packages_expect"] = parse_expectations(table["expect"], path, cases)
    return AnalysisSpec(**spec)
