"""Calibration targets: what a model should reproduce, read from a TOML file beside the model.

A *target* is one observed number and how to read the same number from a run: a model output
reduced to one value per run (its value at a time, its mean, maximum or minimum over a window,
its final value, or the ratio of its values at two times), under a scenario (a region preset,
a public push and constants set for that target), with the observation's standard deviation,
an optional model-discrepancy standard deviation, and the source it comes from. History
matching (:mod:`sdnet.calibration`) rules out parameter sets whose runs miss the targets by more
than their uncertainty allows.

File format (every key but those marked optional is required)::

    [calibration]                    # optional
    description = "what the targets stand for"
    vary = ["innovation_coefficient", "imitation_coefficient"]   # optional; default below

    [run]                            # optional: simulation control of every run
    final_time = 20                  # model time units
    time_step = 0.0625
    saveper = 0.25

    [[targets]]
    name = "adopters_year_5"         # a Python identifier, unique in the file
    output = "Adopters"              # a model variable (either spelling; one element)
    reducer = "value_at"             # optional: value_at (needs time; the default when time
                                     # is given), mean / max / min (need window; mean is the
                                     # default when window is given), final, ratio (value at
                                     # time over value at relative_to)
    time = 5                         # value_at, ratio
    window = [2, 8]                  # mean, max, min
    relative_to = 5                  # ratio
    observed = 327.0
    sd = 15.0                        # standard deviation of the observation (> 0)
    discrepancy = 5.0                # optional: model-discrepancy standard deviation (>= 0)
    region = "typical"               # optional: region preset
    push = { amount = 300000, start = 2, duration = 3.5 }   # optional: public push
    set = { market_size = 1000 }     # optional: constants of this target's scenario
    source = "Bass (1969), ..."      # citation of the observed value

``vary`` defaults to every constant of kind ``uncertain`` with a declared range, or, in a
model without kind tags, to every constant with a declared range. Targets that share a
scenario (region, push and set constants) share the runs.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from sdnet import tomlcheck
from sdnet.errors import (
    PushScheduleError,
    SdnetError,
    TargetsError,
    UnknownPresetError,
    UnknownVariableError,
    close_matches,
)
from sdnet.files import file_sha256
from sdnet.metrics import mean_over, value_at
from sdnet.policy import Push, get_region

if TYPE_CHECKING:
    from sdnet.model import Model

__all__ = [
    "REDUCERS",
    "Scenario",
    "Target",
    "Targets",
    "load_targets",
    "parse_targets",
]

#: Reducer name -> keys it needs (besides output, observed, sd, source).
REDUCERS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "value_at": ("time",),
    "mean": ("window",),
    "max": ("window",),
    "min": ("window",),
    "final": (),
    "ratio": ("time", "relative_to"),
})
_TIME_KEYS = ("time", "window", "relative_to")
_TARGET_KEYS = ("name", "output", "reducer", *_TIME_KEYS, "observed", "sd", "discrepancy",
                "region", "push", "set", "source", "note")
_TOP_KEYS = ("calibration", "run", "targets")
_CALIBRATION_KEYS = ("description", "vary")
_RUN_KEYS = ("final_time", "time_step", "saveper")
_PUSH_KEYS = ("amount", "start", "duration", "taper", "match")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: A ratio's denominator below this is read as this: a ratio of near-zero values says nothing.
RATIO_FLOOR = 1e-9


@dataclass(frozen=True)
class Scenario:
    """The conditions a target's runs share: region preset, push and constants set.

    Hashable, so targets can be grouped by scenario and each scenario run once per wave.
    """

    region: str | None = None
    push: Push | None = None
    constants: tuple[tuple[str, float], ...] = ()

    @property
    def params(self) -> dict[str, float]:
        """The constants set (Python name -> value)."""
        return dict(self.constants)

    def describe(self) -> str:
        """One line for people: ``"typical region; $300,000/yr from year 2 for 3.5 yr"``."""
        parts = []
        if self.region:
            parts.append(f"{self.region} region")
        if self.push is not None:
            parts.append(self.push.describe())
        parts += [f"{k} = {v:g}" for k, v in self.constants]
        return "; ".join(parts) or "the model file's values"


@dataclass(frozen=True)
class Target:
    """One observed value and how a run is reduced to the same quantity.

    Attributes
    ----------
    name : str
        Python identifier, unique among the targets.
    output : str
        Vensim name of the model output column the target reads.
    reducer : str
        One of :data:`REDUCERS`.
    observed : float
        The observed value (the output's units; dmnl for a ratio).
    sd : float
        Standard deviation of the observation (> 0).
    source : str
        Where the observed value comes from (a citation).
    time, window, relative_to
        When to read the output (model time units), as the reducer needs.
    discrepancy : float
        Model-discrepancy standard deviation (>= 0): how far the model may miss the real
        system even at its best parameters.
    scenario : Scenario
        Region preset, push and constants of the target's runs.
    note : str
        Optional remark (how the observed value was derived).
    """

    name: str
    output: str
    reducer: str
    observed: float
    sd: float
    source: str
    time: float | None = None
    window: tuple[float, float] | None = None
    relative_to: float | None = None
    discrepancy: float = 0.0
    scenario: Scenario = field(default_factory=Scenario)
    note: str = ""

    @property
    def variance(self) -> float:
        """Observation variance plus model-discrepancy variance (the implausibility's scale)."""
        return self.sd**2 + self.discrepancy**2

    def describe(self) -> str:
        """How the output is read, e.g. ``"Adopters at t = 5"``, ``"max of X over [2, 8]"``."""
        if self.reducer == "value_at":
            return f"{self.output} at t = {self.time:g}"
        if self.reducer == "final":
            return f"final {self.output}"
        if self.reducer == "ratio":
            return f"{self.output} at t = {self.time:g} / {self.relative_to:g}"
        lo, hi = self.window  # type: ignore[misc]
        return f"{self.reducer} of {self.output} over [{lo:g}, {hi:g}]"

    def reduce(self, values: np.ndarray, times: np.ndarray) -> np.ndarray:
        """The target's quantity for each run from ``(n_runs, n_time)`` saved values."""
        values = np.asarray(values, dtype=float)
        times = np.asarray(times, dtype=float)
        if self.reducer == "value_at":
            return value_at(values, times, time=float(self.time))  # type: ignore[arg-type]
        if self.reducer == "final":
            return values[:, -1]
        if self.reducer == "ratio":
            top = value_at(values, times, time=float(self.time))  # type: ignore[arg-type]
            bottom = value_at(values, times, time=float(self.relative_to))  # type: ignore[arg-type]
            return top / np.maximum(np.abs(bottom), RATIO_FLOOR)
        lo, hi = self.window  # type: ignore[misc]
        if self.reducer == "mean":
            return mean_over(values, times, start=lo, end=hi)
        inside = (times >= lo - 1e-9) & (times <= hi + 1e-9)
        window = values[:, inside]
        return window.max(axis=1) if self.reducer == "max" else window.min(axis=1)

    def latest_time(self) -> float | None:
        """The latest time the target reads (None for ``final``)."""
        times = [t for t in (self.time, self.relative_to) if t is not None]
        if self.window is not None:
            times.append(self.window[1])
        return max(times) if times else None


@dataclass(frozen=True)
class Targets:
    """The targets of one file, the parameters to vary and the runs' simulation control.

    Attributes
    ----------
    targets : tuple[Target, ...]
        In file order.
    vary : tuple[str, ...] or None
        Python names of the parameters history matching samples; ``None`` for the default
        (every ``uncertain`` constant with a range, else every constant with a range).
    run : Mapping[str, float]
        ``final_time``, ``time_step``, ``saveper`` given in ``[run]`` (others: the model's).
    description : str
        What the targets stand for.
    path : Path or None
        The file read, if any.
    sha256 : str or None
        SHA-256 of that file (provenance).
    """

    targets: tuple[Target, ...]
    vary: tuple[str, ...] | None = None
    run: Mapping[str, float] = field(default_factory=dict)
    description: str = ""
    path: Path | None = None
    sha256: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "run", MappingProxyType(dict(self.run)))

    @property
    def names(self) -> list[str]:
        """Target names, in file order."""
        return [t.name for t in self.targets]

    def scenarios(self) -> dict[Scenario, list[Target]]:
        """Targets grouped by the scenario their runs share (first-seen order)."""
        groups: dict[Scenario, list[Target]] = {}
        for target in self.targets:
            groups.setdefault(target.scenario, []).append(target)
        return groups

    def to_frame(self) -> Any:
        """One row per target: name, what is read, scenario, observed, sd, discrepancy, source."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "target": t.name,
                    "reads": t.describe(),
                    "scenario": t.scenario.describe(),
                    "observed": t.observed,
                    "sd": t.sd,
                    "discrepancy": t.discrepancy,
                    "source": t.source,
                }
                for t in self.targets
            ]
        )


# ---------------------------------------------------------------------------- loading


def load_targets(path: str | Path, *, model: Model | None = None) -> Targets:
    """Read and validate a targets file (TOML).

    Parameters
    ----------
    path : str or Path
        The targets file.
    model : Model, optional
        When given, outputs, parameters, presets and times are checked against it.

    Raises
    ------
    TargetsError
        Naming the file, the key, the bad value and what is valid.
    """
    path = Path(path)
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.toml"))
        listed = f"; this folder has {', '.join(found)}" if found else ""
        raise TargetsError(f"is a folder, not a targets file (give the path of a .toml "
                           f"file{listed})", path=path, value=str(path))
    if not path.is_file():
        raise TargetsError("targets file not found (give the path of a .toml file)",
                           path=path, value=str(path))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise TargetsError(f"not valid TOML: {error}", path=path) from error
    except UnicodeDecodeError as error:
        raise TargetsError("is not a UTF-8 text file", path=path) from error
    targets = parse_targets(data, path=path, model=model)
    return Targets(targets.targets, targets.vary, targets.run, targets.description,
                   path=path, sha256=file_sha256(path))


def parse_targets(
    data: Mapping[str, Any], *, path: Path | None = None, model: Model | None = None
) -> Targets:
    """Validate the parsed TOML of a targets file (see the module docstring for the format).

    Raises
    ------
    TargetsError
        Naming the file, the key, the bad value and what is valid.
    """
    _check_keys(data, _TOP_KEYS, path, "")
    calibration = _table(data, "calibration", path, _CALIBRATION_KEYS)
    run_table = _table(data, "run", path, _RUN_KEYS)
    description = calibration.get("description", "")
    if not isinstance(description, str):
        raise _err(f"must be a string, not {description!r}", path, "calibration.description",
                   description)
    run = {k: _number(v, path, f"run.{k}", positive=True) for k, v in run_table.items()}
    vary = _vary(calibration.get("vary"), path, model)
    raw = data.get("targets")
    if raw is None:
        raise _err("no targets: add at least one [[targets]] table", path, "targets")
    if not isinstance(raw, list) or not all(isinstance(t, Mapping) for t in raw):
        raise _err(f"must be an array of tables ([[targets]]), not {raw!r}", path, "targets",
                   raw)
    if not raw:
        raise _err("no targets: add at least one [[targets]] table", path, "targets")
    targets = [_target(entry, i, path, model, run) for i, entry in enumerate(raw)]
    names = [t.name for t in targets]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise _err(f"target names must be unique; repeated: {', '.join(dupes)}", path,
                   "targets.name", dupes)
    if vary is not None:
        for target in targets:
            clash = sorted(set(target.scenario.params) & set(vary))
            if clash:
                raise _err(f"sets {', '.join(clash)}, which [calibration] vary samples; drop "
                           "it from one of them", path, f"targets.{target.name}.set", clash)
    return Targets(tuple(targets), vary, run, description, path=path)


def _target(entry: Mapping[str, Any], index: int, path: Path | None, model: Model | None,
            run: Mapping[str, float]) -> Target:
    label = str(entry.get("name", f"#{index + 1}"))
    where = f"targets.{label}"
    _check_keys(entry, _TARGET_KEYS, path, where)
    for key in ("name", "output", "observed", "sd", "source"):
        if key not in entry:
            raise _err(f"missing key {key!r} (a target needs name, output, observed, sd and "
                       "source)", path, f"{where}.{key}")
    name = entry["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise _err(f"must be a Python identifier (letters, digits, _), not {name!r}", path,
                   f"targets.#{index + 1}.name", name)
    output = _string(entry["output"], path, f"{where}.output")
    if model is not None:
        output = _output(model, output, path, f"{where}.output")
    reducer = _reducer(entry, path, where)
    times = _times(entry, reducer, path, where, model, run)
    observed = _number(entry["observed"], path, f"{where}.observed")
    sd = _number(entry["sd"], path, f"{where}.sd", positive=True)
    discrepancy = _number(entry.get("discrepancy", 0.0), path, f"{where}.discrepancy",
                          minimum=0.0)
    source = _string(entry["source"], path, f"{where}.source")
    note = entry.get("note", "")
    if not isinstance(note, str):
        raise _err(f"must be a string, not {note!r}", path, f"{where}.note", note)
    scenario = _scenario(entry, path, where, model)
    return Target(name=name, output=output, reducer=reducer, observed=observed, sd=sd,
                  source=source, discrepancy=discrepancy, scenario=scenario, note=note,
                  **times)


def _reducer(entry: Mapping[str, Any], path: Path | None, where: str) -> str:
    reducer = entry.get("reducer")
    if reducer is None:
        if "window" in entry:
            return "mean"
        if "time" in entry:
            return "value_at"
        raise _err("say when to read the output: time = T (value at T), window = [A, B] "
                   "(mean over it), or reducer = \"final\"", path, f"{where}.reducer")
    if not isinstance(reducer, str) or reducer not in REDUCERS:
        hint = close_matches(str(reducer), REDUCERS)
        did = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
        raise _err(f"unknown reducer {reducer!r}{did} (valid: {', '.join(REDUCERS)})", path,
                   f"{where}.reducer", reducer)
    return reducer


def _times(entry: Mapping[str, Any], reducer: str, path: Path | None, where: str,
           model: Model | None, run: Mapping[str, float]) -> dict[str, Any]:
    needed = REDUCERS[reducer]
    for key in needed:
        if key not in entry:
            raise _err(f"missing key {key!r}: reducer {reducer!r} needs "
                       f"{' and '.join(needed)}", path, f"{where}.{key}")
    for key in _TIME_KEYS:
        if key in entry and key not in needed:
            uses = " and ".join(needed) if needed else "no time"
            raise _err(f"{key!r} does not apply to reducer {reducer!r} (it uses {uses})",
                       path, f"{where}.{key}", entry[key])
    out: dict[str, Any] = {}
    for key in ("time", "relative_to"):
        if key in entry:
            out[key] = _number(entry[key], path, f"{where}.{key}")
    if "window" in entry:
        window = entry["window"]
        if (not isinstance(window, list) or len(window) != 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool)
                           and math.isfinite(v) for v in window)
                or not window[0] < window[1]):
            raise _err(f"must be [start, end] with start < end, not {window!r}", path,
                       f"{where}.window", window)
        out["window"] = (float(window[0]), float(window[1]))
    if model is not None:
        start = model.default_control("initial_time")
        end = run.get("final_time", model.default_control("final_time"))
        for key, value in out.items():
            values = value if isinstance(value, tuple) else (value,)
            for v in values:
                if not start <= v <= end:
                    raise _err(f"{v:g} is outside the simulated time [{start:g}, {end:g}] "
                               "(set [run] final_time to read later times)", path,
                               f"{where}.{key}", v)
    return out


def _scenario(entry: Mapping[str, Any], path: Path | None, where: str,
              model: Model | None) -> Scenario:
    region = entry.get("region")
    if region is not None and model is not None:
        # presets live on the model's card (issue 12); without a model the name is kept as
        # written and checked when the runs are made
        try:
            region = get_region(region, card=model.card).name
        except UnknownPresetError as error:
            raise _err(str(error), path, f"{where}.region", region) from None
    push = None
    if "push" in entry:
        raw = entry["push"]
        if not isinstance(raw, Mapping):
            raise _err(f"must be a table such as {{ amount = 300000, start = 2, duration = "
                       f"3.5 }}, not {raw!r}", path, f"{where}.push", raw)
        _check_keys(raw, _PUSH_KEYS, path, f"{where}.push")
        missing = [k for k in ("amount", "start", "duration") if k not in raw]
        if missing:
            raise _err(f"missing {', '.join(missing)} (a push needs amount, start and "
                       "duration)", path, f"{where}.push", dict(raw))
        try:
            push = Push(**raw)
        except PushScheduleError as error:
            raise _err(str(error), path, f"{where}.push.{error.field}", error.value) from None
    constants: dict[str, float] = {}
    raw_set = entry.get("set", {})
    if not isinstance(raw_set, Mapping):
        raise _err(f"must be a table of constants such as {{ name = 1.0 }}, not {raw_set!r}",
                   path, f"{where}.set", raw_set)
    for key, value in raw_set.items():
        number = _number(value, path, f"{where}.set.{key}")
        name = _parameter(model, key, path, f"{where}.set.{key}") if model else key
        constants[name] = number
    scenario = Scenario(region, push, tuple(sorted(constants.items())))
    if model is not None:
        try:
            model.scenario_values(scenario.params, region=region, push=push)
        except SdnetError as error:
            raise _err(str(error), path, where, None) from None
    return scenario


def _vary(value: Any, path: Path | None, model: Model | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _err(f"must be a non-empty list of parameter names, not {value!r}", path,
                   "calibration.vary", value)
    names = [_parameter(model, v, path, "calibration.vary") if model else v for v in value]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise _err(f"names a parameter twice: {', '.join(dupes)}", path, "calibration.vary",
                   dupes)
    if model is not None:
        for name in names:
            parameter = model.parameters[name]
            if not parameter.bounded or not parameter.lower < parameter.upper:  # type: ignore[operator]
                raise _err(f"{name!r} has no finite declared range to sample (declare [min,max] "
                           "in the units field of the model file)", path, "calibration.vary",
                           name)
    return tuple(names)


def _parameter(model: Model, name: str, path: Path | None, key: str) -> str:
    table = model.parameters
    if name in table and table[name].kind != "control":
        return table[name].name
    if name in table:
        raise _err(f"{name!r} is a simulation control; set it in [run]", path, key, name)
    hint = close_matches(name, [*table, *(p.vensim_name for p in table.values())])
    did = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else ""
    raise _err(f"unknown parameter {name!r} of {model.path.name}{did}", path, key, name)


def _output(model: Model, name: str, path: Path | None, key: str) -> str:
    try:
        columns = model.columns([name])
    except UnknownVariableError as error:
        raise _err(f"{error}", path, key, name) from None
    except SdnetError as error:
        raise _err(f"{error}", path, key, name) from None
    if len(columns) != 1:
        raise _err(f"{name!r} has {len(columns)} elements; name one of "
                   f"{', '.join(columns)}", path, key, name)
    return columns[0]


# ---------------------------------------------------------------------------- small checks


def _err(message: str, path: Path | None, key: str, value: Any = None) -> TargetsError:
    return TargetsError(message, path=path, key=key, value=value)


def _table(data: Mapping[str, Any], key: str, path: Path | None,
           allowed: Sequence[str]) -> dict[str, Any]:
    return tomlcheck.table(data, key, path, allowed, error=TargetsError)


_check_keys = partial(tomlcheck.check_keys, error=TargetsError)
_number = partial(tomlcheck.number, error=TargetsError)


def _string(value: Any, path: Path | None, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _err(f"must be a non-empty string, not {value!r}", path, key, value)
    return value
