"""Exercise definitions: TOML data files -> frozen, validated dataclasses.

An exercise file (``experiments/teaching/NN_name.toml``) says which model runs to make
(*scenarios*), which numbers to read from them (*measures*, e.g. members at the end of the
push), how to combine them (*derived* values, small expressions) and which *questions* to ask.
Answer keys are never written in these files: :func:`sdnet.teaching.generate_key` runs the
model and computes them, so they stay right when the model changes.

File layout::

    [exercise]
    number = 1
    title = "Stocks and flows"
    summary = "..."
    findings = ["F7"]                # Malecki (1996) findings the exercise teaches
    goals = ["...", "..."]
    model = "../../models/flexnet/flexnet.mdl"   # relative to this file
    final_time = 30                  # Year

    [scenarios.base]
    description = "Typical region, base push"
    region = "typical"               # a preset of the model's card, or omit
    push = { amount = 300000, start = 2, duration = 3.5, taper = 0, match = 0 }
    params = { membership_fee = 0 }  # any other constants (either spelling)

    [measures.members_at_end]        # a number read from one run
    scenario = "base"
    variable = "Total Members"       # output column (Vensim name)
    reduce = "at"                    # at, max, min, mean, time_of_max, time_of_min
    time = "push_end"                # expression of push_start, push_end, final_time, ...

    [derived]
    retained = "members_after / members_at_end"

    [[questions]]
    id = "members_at_end"
    prompt = "How many firms are members when the push ends?"
    kind = "number"                  # number, choice or boolean
    answer = "members_at_end"        # an expression of measures and derived values
    tolerance = { relative = 0.1, absolute = 2 }
    units = "firm"
    explain = "The stock rose from {members_start:.0f} to {members_at_end:.0f} firms ..."

Choice questions give ``options = { typical = "expr", embedded_prone = "expr" }`` and
``select = "max"`` (or ``"min"``): the right option is the one whose expression is largest.
Boolean questions give ``answer`` as a comparison. Choice and boolean questions may set
``too_close = 0.05`` (the default; see :class:`Question`): a model answer that leads by less
is too close to call, and every answer within the margin is accepted. They may also add
``explain_if = { option = "text" }`` (or ``true``/``false``): text appended to the explanation
for the outcome the model gives, so the explanation stays true when the model changes.

An exercise may have a ``[challenge]`` table (see :class:`Challenge`): a policy scored by an
ensemble of the model; its questions may use each reference policy's ``score_<name>``,
``sustained_<name>`` (share) and ``cost_<name>`` ($).
"""

from __future__ import annotations

import math
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sdnet.errors import ExperimentError, close_matches
from sdnet.files import packaged_data
from sdnet.teaching.expressions import names_in

__all__ = [
    "CHALLENGE_VALUES",
    "DEFAULT_TOO_CLOSE",
    "KINDS",
    "REDUCERS",
    "TIME_NAMES",
    "Challenge",
    "Exercise",
    "Measure",
    "PushSpec",
    "Question",
    "ReferencePolicy",
    "Scenario",
    "Tolerance",
    "find_exercise_dir",
    "load_exercise",
    "load_exercises",
]

KINDS: tuple[str, ...] = ("number", "choice", "boolean")
#: default ``too_close`` of choice and yes/no questions: a lead under 5% is too close to call
DEFAULT_TOO_CLOSE = 0.05
REDUCERS: tuple[str, ...] = ("at", "max", "min", "mean", "time_of_max", "time_of_min")
#: names a measure's time expressions may use
TIME_NAMES: tuple[str, ...] = (
    "initial_time", "final_time", "push_start", "push_duration", "push_taper", "push_end",
)
#: values of each reference policy that questions may use, as ``<prefix>_<reference name>``
CHALLENGE_VALUES: tuple[str, ...] = ("score", "sustained", "cost")
_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class PushSpec:
    """A public push as written in an exercise file (see :class:`sdnet.policy.Push`).

    Attributes
    ----------
    amount : float
        Grant while the push is on, $/Year.
    start, duration, taper : float
        Year the push starts, years at full amount, years of linear phase-out.
    match : float
        Local match requirement, dmnl (0-1).
    """

    amount: float
    start: float
    duration: float
    taper: float = 0.0
    match: float = 0.0

    @property
    def end(self) -> float:
        """Year the push ends: ``start + duration + taper``."""
        return self.start + self.duration + self.taper


@dataclass(frozen=True, slots=True)
class Scenario:
    """One model run of an exercise: a region preset, a push and other parameter values."""

    name: str
    description: str = ""
    region: str | None = None
    push: PushSpec | None = None
    params: Mapping[str, float] = field(default_factory=lambda: _EMPTY)
    final_time: float | None = None

    def time_names(self, *, initial_time: float, final_time: float) -> dict[str, float]:
        """The named times a measure of this scenario may use (Year)."""
        names = {"initial_time": initial_time, "final_time": final_time}
        if self.push is not None:
            names |= {
                "push_start": self.push.start,
                "push_duration": self.push.duration,
                "push_taper": self.push.taper,
                "push_end": self.push.end,
            }
        return names


@dataclass(frozen=True, slots=True)
class Measure:
    """A number read from one run: ``reduce`` of ``variable`` in ``scenario``.

    ``time`` (for ``"at"``) and ``start``/``end`` (a window for the other reducers) are
    expressions of :data:`TIME_NAMES` and of earlier measures (e.g. ``time = "peak_time"``);
    an empty window means the whole run.
    """

    name: str
    scenario: str
    variable: str
    reduce: str = "at"
    time: str | None = None
    start: str | None = None
    end: str | None = None


@dataclass(frozen=True, slots=True)
class Tolerance:
    """How far a numeric answer may be from the key: within ``max(absolute, relative*|key|)``."""

    relative: float = 0.0
    absolute: float = 0.0

    def width(self, value: float) -> float:
        """Half-width of the accepted interval around ``value``."""
        return max(self.absolute, self.relative * abs(value))

    def describe(self, units: str = "") -> str:
        """In words, e.g. ``"±10% or ±2 firm, whichever is larger"`` (units after the absolute).

        Parameters
        ----------
        units : str
            Units of the answer; ``"dmnl"`` and ``""`` are not shown.
        """
        unit = f" {units}" if units and units != "dmnl" else ""
        parts = []
        if self.relative:
            parts.append(f"±{self.relative:.0%}")
        if self.absolute:
            parts.append(f"±{self.absolute:g}{unit}")
        if not parts:
            return "exact"
        return parts[0] if len(parts) == 1 else f"{parts[0]} or {parts[1]}, whichever is larger"


@dataclass(frozen=True, slots=True)
class Question:
    """A question of an exercise; its key comes from running the model.

    ``too_close`` (choice and yes/no questions) is the smallest relative lead the model's
    answer must have to be graded: the lead of a choice is ``(best - runner-up) /
    max(|best|, |runner-up|)`` of the options' values, that of a yes/no question
    ``|left - right| / max(|left|, |right|)`` of its comparison. Below it the question is too
    close to call: the key accepts every answer within the margin, says so in the
    explanation, and lists a warning (:attr:`sdnet.teaching.Key.warnings`), so a small model
    change cannot flip what is graded right.
    """

    id: str
    prompt: str
    kind: str
    answer: str | None = None
    options: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    select: str = "max"
    tolerance: Tolerance = Tolerance()
    units: str = ""
    explain: str = ""
    task: str = ""
    explain_if: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    too_close: float = DEFAULT_TOO_CLOSE


@dataclass(frozen=True, slots=True)
class ReferencePolicy:
    """A policy the challenge compares students' policies with."""

    name: str
    description: str
    levers: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class Challenge:
    """The policy-design challenge: a policy scored by an ensemble of uncertain parameters.

    A run *sustains* the network when ``Total Members`` at ``final_time`` is at least
    ``sustain_fraction`` of the region's ``Number of Firms``; the push must end at least
    ``years_after_push`` years before ``final_time``. The score is
    ``100 * share of runs sustained - cost_weight * mean public cost in $ million``, so a
    policy is good when it works in most plausible worlds and costs little.

    Attributes
    ----------
    region : str
        Region preset the policy is tried in.
    levers : tuple of str
        Python names of the levers a student may set.
    defaults : mapping
        Lever values used when a policy leaves one out.
    n_runs : int
        Ensemble size (parameter sets drawn by Latin hypercube over the model's
        ``[uncertain]`` parameters within their declared ranges).
    seed : int
        Seed of the sample, so scores are reproducible and every policy faces the same worlds.
    final_time : float
        Year the outcome is read.
    years_after_push : float
        Years between the end of the push and ``final_time`` at least.
    sustain_fraction : float
        Members needed at ``final_time``, as a fraction of ``Number of Firms``.
    cost_weight : float
        Score points lost per $1 million of public money spent.
    references : tuple of ReferencePolicy
        Policies to compare with.
    pass_reference : str
        A student passes by scoring at least as well as this reference.
    """

    region: str
    levers: tuple[str, ...]
    defaults: Mapping[str, float]
    n_runs: int
    seed: int
    final_time: float
    years_after_push: float
    sustain_fraction: float
    cost_weight: float
    references: tuple[ReferencePolicy, ...]
    pass_reference: str

    def reference(self, name: str) -> ReferencePolicy:
        """The reference policy called ``name``."""
        for ref in self.references:
            if ref.name == name:
                return ref
        raise ExperimentError(f"no reference policy {name!r}")


@dataclass(frozen=True, slots=True)
class Exercise:
    """One exercise, read from its TOML file (see the module docstring for the layout)."""

    number: int
    slug: str
    title: str
    summary: str
    findings: tuple[str, ...]
    goals: tuple[str, ...]
    path: Path
    model: Path
    final_time: float
    scenarios: Mapping[str, Scenario]
    measures: Mapping[str, Measure]
    derived: Mapping[str, str]
    questions: tuple[Question, ...]
    challenge: Challenge | None = None

    @property
    def worksheet(self) -> Path:
        """The Markdown worksheet beside the exercise file."""
        return self.path.with_suffix(".md")

    @property
    def notebook(self) -> Path:
        """The Jupyter notebook beside the exercise file."""
        return self.path.with_suffix(".ipynb")

    def question(self, question_id: str) -> Question:
        """The question with this id; unknown ids raise with close matches."""
        for q in self.questions:
            if q.id == question_id:
                return q
        ids = [q.id for q in self.questions]
        hint = close_matches(question_id, ids)
        raise ExperimentError(
            f"exercise {self.number} has no question {question_id!r}"
            + (f"; did you mean {', '.join(map(repr, hint))}?" if hint else ""),
            path=self.path,
        )


# --------------------------------------------------------------------------- reading
class _Reader:
    """Typed access to a TOML table that names the file and key in every error."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, message: str, value: Any = None) -> ExperimentError:
        return ExperimentError(message, path=self.path, key=key, value=value)

    def table(self, data: Mapping[str, Any], key: str, where: str, *, required: bool = True
              ) -> Mapping[str, Any]:
        if key not in data:
            if required:
                raise self.fail(where, f"missing table {key!r}")
            return {}
        value = data[key]
        if not isinstance(value, dict):
            raise self.fail(f"{where}.{key}".strip("."), "expected a table", value)
        return value

    def string(self, data: Mapping[str, Any], key: str, where: str, *,
               default: str | None = None) -> str:
        if key not in data:
            if default is None:
                raise self.fail(where, f"missing key {key!r} (a string)")
            return default
        value = data[key]
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where}.{key}", f"expected a non-empty string, got {value!r}", value)
        return value.strip()

    def number(self, data: Mapping[str, Any], key: str, where: str, *,
               default: float | None = None, minimum: float | None = None) -> float:
        if key not in data:
            if default is None:
                raise self.fail(where, f"missing key {key!r} (a number)")
            return default
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
            value
        ):
            raise self.fail(f"{where}.{key}", f"expected a finite number, got {value!r}", value)
        if minimum is not None and value < minimum:
            raise self.fail(f"{where}.{key}", f"must be >= {minimum:g}, got {value!r}", value)
        return float(value)

    def strings(self, data: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(f"{where}.{key}", f"expected a list of strings, got {value!r}", value)
        return tuple(v.strip() for v in value)

    def numbers(self, data: Mapping[str, Any], key: str, where: str) -> dict[str, float]:
        table = self.table(data, key, where, required=False)
        return {name: self.number(table, name, f"{where}.{key}") for name in table}

    def unknown(self, data: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
        for key in data:
            if key not in allowed:
                hint = close_matches(key, allowed)
                raise self.fail(
                    where,
                    f"unknown key {key!r}"
                    + (f"; did you mean {', '.join(map(repr, hint))}?" if hint else "")
                    + f" (valid: {', '.join(allowed)})",
                    key,
                )


def _template_fields(template: str) -> set[str]:
    fields = set()
    for _, name, _, _ in string.Formatter().parse(template):
        if name is not None:
            fields.add(name)
    return fields


def load_exercise(path: str | Path) -> Exercise:
    """Read and validate one exercise file.

    Parameters
    ----------
    path : str or Path
        ``NN_name.toml``; ``NN`` must equal ``[exercise] number``.

    Raises
    ------
    ExperimentError
        Naming the file, the key, the bad value and what is valid.
    """
    path = Path(path)
    reader = _Reader(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ExperimentError("exercise file not found", path=path) from error
    except tomllib.TOMLDecodeError as error:
        raise ExperimentError(f"not valid TOML: {error}", path=path) from error
    reader.unknown(data, ("exercise", "scenarios", "measures", "derived", "questions",
                          "challenge"), "")
    head = reader.table(data, "exercise", "")
    reader.unknown(head, ("number", "title", "summary", "findings", "goals", "model",
                          "final_time"), "exercise")
    number = int(reader.number(head, "number", "exercise", minimum=1))
    stem_number = path.stem.split("_", 1)[0]
    if not stem_number.isdigit() or int(stem_number) != number:
        raise reader.fail("exercise.number", f"is {number}, but the file name says "
                          f"{stem_number!r} (name files NN_name.toml)", number)
    final_time = reader.number(head, "final_time", "exercise", minimum=0)
    model = _model_path(path, reader.string(head, "model", "exercise"))

    scenarios: dict[str, Scenario] = {}
    for name, raw in reader.table(data, "scenarios", "").items():
        where = f"scenarios.{name}"
        if not isinstance(raw, dict):
            raise reader.fail(where, "expected a table", raw)
        reader.unknown(raw, ("description", "region", "push", "params", "final_time"), where)
        push = None
        if "push" in raw:
            table = reader.table(raw, "push", where)
            reader.unknown(table, ("amount", "start", "duration", "taper", "match"),
                           f"{where}.push")
            push = PushSpec(
                amount=reader.number(table, "amount", f"{where}.push", minimum=0),
                start=reader.number(table, "start", f"{where}.push", minimum=0),
                duration=reader.number(table, "duration", f"{where}.push", minimum=0),
                taper=reader.number(table, "taper", f"{where}.push", default=0.0, minimum=0),
                match=reader.number(table, "match", f"{where}.push", default=0.0, minimum=0),
            )
        scenarios[name] = Scenario(
            name=name,
            description=reader.string(raw, "description", where, default=""),
            region=reader.string(raw, "region", where) if "region" in raw else None,
            push=push,
            params=MappingProxyType(reader.numbers(raw, "params", where)),
            final_time=(reader.number(raw, "final_time", where, minimum=0)
                        if "final_time" in raw else None),
        )

    measures: dict[str, Measure] = {}
    for name, raw in reader.table(data, "measures", "").items():
        where = f"measures.{name}"
        if not isinstance(raw, dict):
            raise reader.fail(where, "expected a table", raw)
        reader.unknown(raw, ("scenario", "variable", "reduce", "time", "start", "end"), where)
        scenario = reader.string(raw, "scenario", where)
        if scenario not in scenarios:
            raise reader.fail(f"{where}.scenario", f"unknown scenario {scenario!r} (valid: "
                              f"{', '.join(scenarios)})", scenario)
        reduce = reader.string(raw, "reduce", where, default="at")
        if reduce not in REDUCERS:
            raise reader.fail(f"{where}.reduce", f"unknown reducer {reduce!r} (valid: "
                              f"{', '.join(REDUCERS)})", reduce)
        times = {}
        for key in ("time", "start", "end"):
            if key in raw:
                value = raw[key]
                text = str(value) if isinstance(value, int | float) else value
                if not isinstance(text, str):
                    raise reader.fail(f"{where}.{key}", "expected a number or an expression",
                                      value)
                available = [*scenarios[scenario].time_names(initial_time=0.0,
                                                             final_time=final_time), *measures]
                unknown = _names(reader, f"{where}.{key}", text) - set(available)
                if unknown:
                    raise reader.fail(f"{where}.{key}", f"unknown time name(s) "
                                      f"{', '.join(sorted(unknown))} (valid: "
                                      f"{', '.join(available)})", value)
                times[key] = text
        if reduce == "at" and "time" not in times:
            raise reader.fail(where, "reduce = 'at' needs a time", None)
        measures[name] = Measure(name=name, scenario=scenario,
                                 variable=reader.string(raw, "variable", where),
                                 reduce=reduce, **times)

    derived: dict[str, str] = {}
    for name, expression in reader.table(data, "derived", "", required=False).items():
        if not isinstance(expression, str):
            raise reader.fail(f"derived.{name}", "expected an expression string", expression)
        if name in measures:
            raise reader.fail(f"derived.{name}", "has the name of a measure", name)
        unknown = _names(reader, f"derived.{name}", expression) - set(measures) - set(derived)
        if unknown:
            raise reader.fail(f"derived.{name}", f"uses unknown name(s) "
                              f"{', '.join(sorted(unknown))} (measures and earlier derived "
                              "values only)", expression)
        derived[name] = expression

    known = set(measures) | set(derived)
    if "challenge" in data:
        raw_refs = data["challenge"].get("references", []) if isinstance(
            data["challenge"], dict) else []
        for ref in raw_refs if isinstance(raw_refs, list) else []:
            if isinstance(ref, dict) and isinstance(ref.get("name"), str):
                known |= {f"{prefix}_{ref['name']}" for prefix in CHALLENGE_VALUES}
    questions = []
    raw_questions = data.get("questions", [])
    if not isinstance(raw_questions, list):
        raise reader.fail("questions", "expected an array of tables [[questions]]",
                          raw_questions)
    for index, raw in enumerate(raw_questions):
        where = f"questions[{index}]"
        if not isinstance(raw, dict):
            raise reader.fail(where, "expected a table", raw)
        reader.unknown(raw, ("id", "prompt", "kind", "answer", "options", "select",
                             "tolerance", "units", "explain", "explain_if", "task", "too_close"),
                      where)
        qid = reader.string(raw, "id", where)
        where = f"questions.{qid}"
        if not qid.isidentifier():
            raise reader.fail(where, "id must be an identifier (letters, digits, _)", qid)
        if any(q.id == qid for q in questions):
            raise reader.fail(where, "duplicate question id", qid)
        kind = reader.string(raw, "kind", where, default="number")
        if kind not in KINDS:
            raise reader.fail(f"{where}.kind", f"unknown kind {kind!r} (valid: "
                              f"{', '.join(KINDS)})", kind)
        expressions: list[str] = []
        answer = None
        options: dict[str, str] = {}
        if kind == "choice":
            table = reader.table(raw, "options", where)
            if len(table) < 2:
                raise reader.fail(f"{where}.options", "a choice needs at least two options",
                                  table)
            for option, expression in table.items():
                if not isinstance(expression, str):
                    raise reader.fail(f"{where}.options.{option}", "expected an expression",
                                      expression)
                options[option] = expression
            expressions = list(options.values())
        else:
            answer = reader.string(raw, "answer", where)
            expressions = [answer]
        for expression in expressions:
            unknown = _names(reader, where, expression) - known
            if unknown:
                raise reader.fail(where, f"uses unknown name(s) {', '.join(sorted(unknown))} "
                                  f"(valid: {', '.join(sorted(known))})", expression)
        select = reader.string(raw, "select", where, default="max")
        if select not in ("max", "min"):
            raise reader.fail(f"{where}.select", f"must be 'max' or 'min', got {select!r}",
                              select)
        tol_table = reader.table(raw, "tolerance", where, required=kind == "number")
        reader.unknown(tol_table, ("relative", "absolute"), f"{where}.tolerance")
        tolerance = Tolerance(
            relative=reader.number(tol_table, "relative", f"{where}.tolerance", default=0.0,
                                   minimum=0),
            absolute=reader.number(tol_table, "absolute", f"{where}.tolerance", default=0.0,
                                   minimum=0),
        )
        if kind == "number" and tolerance.relative == 0 and tolerance.absolute == 0:
            raise reader.fail(f"{where}.tolerance", "a numeric question needs a tolerance "
                              "(relative and/or absolute > 0): models and students round",
                              tol_table)
        too_close = reader.number(raw, "too_close", where, default=DEFAULT_TOO_CLOSE,
                                  minimum=0)
        if "too_close" in raw and (kind == "number" or too_close >= 1):
            raise reader.fail(f"{where}.too_close", "a relative lead in [0, 1) for choice and "
                              "yes/no questions (numbers have a tolerance)", raw["too_close"])
        explain = reader.string(raw, "explain", where, default="")
        explain_if = reader.table(raw, "explain_if", where, required=False)
        outcomes = list(options) if kind == "choice" else ["true", "false"]
        for outcome, text in explain_if.items():
            if kind == "number" or outcome not in outcomes:
                raise reader.fail(f"{where}.explain_if", f"unknown outcome {outcome!r} (valid: "
                                  f"{', '.join(outcomes) if kind != 'number' else 'none'})",
                                  outcome)
            if not isinstance(text, str):
                raise reader.fail(f"{where}.explain_if.{outcome}", "expected a string", text)
        allowed = known | {"value", "answer", "tolerance", "units"}
        for label, text in [("explain", explain), *((f"explain_if.{k}", v)
                                                    for k, v in explain_if.items())]:
            fields = _template_fields(text)
            bad = {f.split(".")[0].split("[")[0] for f in fields if not f.isidentifier()}
            unknown = {f for f in fields if f.isidentifier()} - allowed
            if bad or unknown:
                raise reader.fail(f"{where}.{label}", f"bad field(s) "
                                  f"{', '.join(sorted(bad | unknown))} (valid: "
                                  f"{', '.join(sorted(allowed))})", text)
        questions.append(Question(
            id=qid, prompt=reader.string(raw, "prompt", where), kind=kind, answer=answer,
            options=MappingProxyType(options), select=select, tolerance=tolerance,
            units=reader.string(raw, "units", where, default=""), explain=explain,
            task=reader.string(raw, "task", where, default=""),
            explain_if=MappingProxyType(dict(explain_if)), too_close=too_close,
        ))

    challenge = _read_challenge(reader, data) if "challenge" in data else None
    if not questions and challenge is None:
        raise reader.fail("questions", "an exercise needs questions or a challenge")
    return Exercise(
        number=number,
        slug=path.stem.split("_", 1)[1] if "_" in path.stem else path.stem,
        title=reader.string(head, "title", "exercise"),
        summary=reader.string(head, "summary", "exercise", default=""),
        findings=reader.strings(head, "findings", "exercise"),
        goals=reader.strings(head, "goals", "exercise"),
        path=path,
        model=model,
        final_time=final_time,
        scenarios=MappingProxyType(scenarios),
        measures=MappingProxyType(measures),
        derived=MappingProxyType(derived),
        questions=tuple(questions),
        challenge=challenge,
    )


def _read_challenge(reader: _Reader, data: Mapping[str, Any]) -> Challenge:
    raw = reader.table(data, "challenge", "")
    where = "challenge"
    reader.unknown(raw, ("region", "levers", "defaults", "n_runs", "seed", "final_time",
                         "years_after_push", "sustain_fraction", "cost_weight", "references",
                         "pass_reference"), where)
    levers = reader.strings(raw, "levers", where)
    if not levers:
        raise reader.fail(f"{where}.levers", "list the levers a student may set")
    references = []
    raw_refs = raw.get("references", [])
    if not isinstance(raw_refs, list) or not raw_refs:
        raise reader.fail(f"{where}.references", "give at least one [[challenge.references]]",
                          raw_refs)
    for index, ref in enumerate(raw_refs):
        rwhere = f"{where}.references[{index}]"
        if not isinstance(ref, dict):
            raise reader.fail(rwhere, "expected a table", ref)
        reader.unknown(ref, ("name", "description", "levers"), rwhere)
        values = reader.numbers(ref, "levers", rwhere)
        for lever in values:
            if lever not in levers:
                raise reader.fail(f"{rwhere}.levers", f"{lever!r} is not a challenge lever "
                                  f"(valid: {', '.join(levers)})", lever)
        references.append(ReferencePolicy(
            name=reader.string(ref, "name", rwhere),
            description=reader.string(ref, "description", rwhere, default=""),
            levers=MappingProxyType(values),
        ))
    names = [r.name for r in references]
    pass_reference = reader.string(raw, "pass_reference", where)
    if pass_reference not in names:
        raise reader.fail(f"{where}.pass_reference", f"unknown reference {pass_reference!r} "
                          f"(valid: {', '.join(names)})", pass_reference)
    defaults = reader.numbers(raw, "defaults", where)
    for lever in defaults:
        if lever not in levers:
            raise reader.fail(f"{where}.defaults", f"{lever!r} is not a challenge lever "
                              f"(valid: {', '.join(levers)})", lever)
    return Challenge(
        region=reader.string(raw, "region", where),
        levers=levers,
        defaults=MappingProxyType(defaults),
        n_runs=int(reader.number(raw, "n_runs", where, minimum=2)),
        seed=int(reader.number(raw, "seed", where, minimum=0)),
        final_time=reader.number(raw, "final_time", where, minimum=0),
        years_after_push=reader.number(raw, "years_after_push", where, minimum=0),
        sustain_fraction=reader.number(raw, "sustain_fraction", where, minimum=0),
        cost_weight=reader.number(raw, "cost_weight", where, minimum=0),
        references=tuple(references),
        pass_reference=pass_reference,
    )


def _names(reader: _Reader, key: str, expression: str) -> set[str]:
    """The names ``expression`` uses; a malformed expression fails naming the file and key."""
    try:
        return names_in(expression)
    except ExperimentError as error:
        raise reader.fail(key, error.message, expression) from error


def _model_path(exercise: Path, given: str) -> Path:
    """The model an exercise names, relative to its file; an installed exercise (no
    ``models/`` folder beside the package) finds the model installed with the package:
    ``../../models/flexnet/flexnet.mdl`` -> ``sdnet/data/flexnet/flexnet.mdl``."""
    model = (exercise.parent / given).resolve()
    if model.is_file():
        return model
    installed = packaged_data(Path(given).parent.name)
    if installed is not None and (installed / Path(given).name).is_file():
        return installed / Path(given).name
    return model


def find_exercise_dir(start: str | Path | None = None) -> Path:
    """Find ``experiments/teaching`` in ``start`` (default: the working folder) or a parent;
    without one, the exercises installed with the package (``sdnet.data.teaching``).

    Raises
    ------
    ExperimentError
        If there is none; the message says how to point at one (``--dir``).
    """
    here = Path.cwd() if start is None else Path(start)
    here = here.resolve()
    if here.is_dir() and any(here.glob("[0-9][0-9]_*.toml")):
        return here
    for folder in (here, *here.parents):
        candidate = folder / "experiments" / "teaching"
        if candidate.is_dir() and any(candidate.glob("[0-9][0-9]_*.toml")):
            return candidate
    installed = packaged_data("teaching")
    if start is None and installed is not None and any(installed.glob("[0-9][0-9]_*.toml")):
        return installed
    raise ExperimentError(
        f"no exercises found in {here} or its parents (expected experiments/teaching/"
        "NN_name.toml; run from the sdnet folder or pass --dir)"
    )


def load_exercises(folder: str | Path | None = None) -> dict[int, Exercise]:
    """All exercises of a folder (default: :func:`find_exercise_dir`), by number."""
    folder = find_exercise_dir(folder)
    exercises: dict[int, Exercise] = {}
    for path in sorted(folder.glob("[0-9][0-9]_*.toml")):
        exercise = load_exercise(path)
        if exercise.number in exercises:
            raise ExperimentError(f"exercise {exercise.number} is defined twice "
                                  f"(also in {exercises[exercise.number].path.name})", path=path)
        exercises[exercise.number] = exercise
    return exercises
