"""What the flight simulator offers for one model: sliders, charts, presets and game rules.

:func:`setup_for` reads everything from the model's parameter table (kinds ``lever``,
``region`` and ``uncertain``, units, declared ranges), so any model with tagged constants gets
a simulator. What the parameter table cannot say (which outcomes to chart, a title, named
presets, what the game scores) comes from :func:`card_entries`, the one place that knows about
model cards: until the card module lands it reads a small, tolerant subset of the card file
(``[model] title``, ``[[outcomes]]``, ``[[presets]]``) and, without a card, falls back to the
flexnet names of ``docs/architecture.md`` when the model has them.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sdnet.errors import ExperimentError, UnknownVariableError
from sdnet.params import Parameter, ParameterTable, python_name

__all__ = [
    "GameRules",
    "Outcome",
    "SimulatorSetup",
    "SliderSpec",
    "card_entries",
    "nice_step",
    "setup_for",
]

#: kinds of constants that get a slider in explore mode, in this order
SLIDER_KINDS: tuple[str, ...] = ("lever", "region")
#: flexnet's outcomes (docs/architecture.md), charted when the model has them and no card says
FLEXNET_OUTCOMES: tuple[str, ...] = (
    "Total Members", "Embeddedness", "Trust", "Collective Knowledge", "Public Push Grant",
    "Cumulative Public Spending",
)
#: the push schedule's constants: in the game they are set by the decision periods
PUSH_SCHEDULE: tuple[str, ...] = ("push_start", "push_duration", "push_taper")
_MAX_OUTCOMES = 6


@dataclass(frozen=True, slots=True)
class SliderSpec:
    """One slider: a model constant with its declared range and a grid step.

    Attributes
    ----------
    name, label : str
        Python name (what requests use) and Vensim name (what the page shows).
    units, kind, description : str
        From the model file.
    lower, upper, step : float
        Declared range and the slider's step, in the constant's units.
    start : float
        Value the page opens with.
    """

    name: str
    label: str
    units: str
    kind: str
    lower: float
    upper: float
    step: float
    start: float
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the page."""
        return {
            "name": self.name, "label": self.label, "units": self.units, "kind": self.kind,
            "lower": self.lower, "upper": self.upper, "step": self.step, "start": self.start,
            "description": self.description,
        }


@dataclass(frozen=True, slots=True)
class Outcome:
    """One charted output column: Vensim name, what the chart calls it, units."""

    variable: str
    label: str
    units: str

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form for the page."""
        return {"variable": self.variable, "label": self.label, "units": self.units}


@dataclass(frozen=True, slots=True)
class GameRules:
    """How the game runs and how it is scored.

    The player decides the game levers at ``0, period, 2*period, ...`` up to
    ``decide_until``; in each period the push pays ``amount`` (the player's grant for that
    period) at full strength. From ``decide_until`` to ``final_time`` no public money flows,
    so the final values say what lasts "long after the push".

    Score (as in exercise 6's challenge): ``100 * share of worlds sustained - cost_weight *
    mean public money ($ million)``, where a world is sustained when ``members`` at
    ``final_time`` is at least ``sustain_fraction`` of ``firms``.
    """

    levers: tuple[str, ...]
    amount: str
    period: float
    decide_until: float
    final_time: float
    members: str
    embeddedness: str
    cost: str
    firms: str
    sustain_fraction: float = 0.05
    cost_weight: float = 5.0

    @property
    def decision_times(self) -> tuple[float, ...]:
        """Years at which the player decides."""
        n = math.ceil(self.decide_until / self.period - 1e-9)
        return tuple(round(i * self.period, 9) for i in range(n))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the page."""
        return {
            "levers": list(self.levers), "amount": self.amount, "period": self.period,
            "decide_until": self.decide_until, "final_time": self.final_time,
            "members": self.members, "embeddedness": self.embeddedness, "cost": self.cost,
            "firms": self.firms, "sustain_fraction": self.sustain_fraction,
            "cost_weight": self.cost_weight, "decision_times": list(self.decision_times),
        }


@dataclass(frozen=True, slots=True)
class SimulatorSetup:
    """Everything the page and the server need to know about the model."""

    title: str
    model_name: str
    sliders: tuple[SliderSpec, ...]
    outcomes: tuple[Outcome, ...]
    presets: Mapping[str, Mapping[str, float]]
    final_time: float
    time_step: float
    saveper: float
    game: GameRules | None
    card: str | None = None

    @property
    def slider_names(self) -> tuple[str, ...]:
        """Python names of the sliders, in page order."""
        return tuple(s.name for s in self.sliders)

    def slider(self, name: str) -> SliderSpec:
        """The slider of ``name`` (Python or Vensim spelling)."""
        key = python_name(str(name))
        for slider in self.sliders:
            if slider.name == key:
                return slider
        raise UnknownVariableError(name, candidates=self.slider_names, what="slider",
                                   where="the simulator")

    def start_values(self) -> dict[str, float]:
        """The sliders' starting values by Python name."""
        return {s.name: s.start for s in self.sliders}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form for the page (``GET /api/setup``)."""
        return {
            "title": self.title, "model": self.model_name, "card": self.card,
            "sliders": [s.to_dict() for s in self.sliders],
            "outcomes": [o.to_dict() for o in self.outcomes],
            "presets": {k: dict(v) for k, v in self.presets.items()},
            "final_time": self.final_time, "time_step": self.time_step,
            "game": None if self.game is None else self.game.to_dict(),
        }


def nice_step(span: float, *, steps: int = 100) -> float:
    """A round slider step (1, 2 or 5 times a power of ten) near ``span / steps``.

    >>> nice_step(2_000_000)
    20000.0
    >>> nice_step(0.5)
    0.005
    """
    if not span > 0 or not math.isfinite(span):
        return 1.0
    raw = span / steps
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 5.0, 10.0):
        if raw <= factor * power * 1.0000001:
            return float(f"{factor * power:.12g}")
    return float(f"{10 * power:.12g}")  # pragma: no cover - the loop always returns


def card_entries(card: str | Path | None, *, model_path: Path) -> dict[str, Any]:
    """What a model card adds to the parameter table: title, outcomes, presets.

    This is the one function that reads a card; it reads only ``[model] title``,
    ``[[outcomes]]`` that name a ``variable`` without a ``reducer`` (a trajectory to chart;
    optional ``label``/``name`` and ``units``) and ``[[presets]]`` (``name`` and ``values``),
    and ignores every other table and entry, so a fuller card works unchanged. Without
    ``card``, a card named like the model (``flexnet.toml`` beside ``flexnet.mdl``) is used
    when present.

    Raises
    ------
    ExperimentError
        If the card is not valid TOML or an entry has the wrong type (naming file and key).
    """
    path = Path(card) if card is not None else model_path.with_suffix(".toml")
    if card is None and not path.is_file():
        return {}
    if not path.is_file():
        raise ExperimentError(f"{path}: no such model card (give the path of a .toml file)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ExperimentError(f"{path}: not a valid TOML file: {error}") from error
    entries: dict[str, Any] = {"card": str(path)}
    model = data.get("model", {})
    if isinstance(model, Mapping) and isinstance(model.get("title"), str):
        entries["title"] = model["title"]
    outcomes = data.get("outcomes", [])
    if not isinstance(outcomes, list):
        raise ExperimentError(f"{path}: [[outcomes]] must be an array of tables")
    found = []
    for i, entry in enumerate(outcomes):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("variable"), str) \
                or entry.get("reducer", entry.get("reduce")) is not None:
            continue  # a number reduced from a run (a metric), not a trajectory to chart
        label = entry.get("label", entry.get("name", entry["variable"]))
        found.append((entry["variable"], str(label), str(entry.get("units", ""))))
        if not isinstance(label, str):
            raise ExperimentError(f"{path}: outcomes[{i}].label must be a string, not "
                                  f"{label!r}")
    if found:
        entries["outcomes"] = found
    presets = data.get("presets", [])
    named = {}
    for entry in presets if isinstance(presets, list) else ():
        values = entry.get("values") if isinstance(entry, Mapping) else None
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str) \
                and isinstance(values, Mapping):  # other preset shapes are the card's own
            named[python_name(entry["name"])] = dict(values)
    if named:
        entries["presets"] = named
    return entries


def setup_for(
    parameters: ParameterTable,
    *,
    model_path: str | Path,
    outputs: Mapping[str, str],
    card: str | Path | None = None,
    final_time: float = 30.0,
    time_step: float = 0.125,
    saveper: float = 0.25,
    game_period: float = 2.0,
    years_after: float = 10.0,
) -> SimulatorSetup:
    """The simulator's setup for a model.

    Parameters
    ----------
    parameters : ParameterTable
        The model's parameters (``compile_model(path).parameters``).
    model_path : path
        The model file (its name is shown; a card named like it is read).
    outputs : mapping of str to str
        Output columns the model can save (Vensim name -> units).
    card : path, optional
        A model card (see :func:`card_entries`).
    final_time, time_step, saveper : float
        Horizon, integration step and save step of every run, Year. A step of 1/8 year keeps
        one flexnet run near 13 ms, so a slider move redraws well within 100 ms.
    game_period : float
        Years between two decisions in the game.
    years_after : float
        Years the game runs on after the last decision period, with no public money.
    """
    from sdnet.policy import BASE_PUSH, REGIONS

    path = Path(model_path)
    entries = card_entries(card, model_path=path)
    names = set(parameters)
    presets: dict[str, dict[str, float]] = {}
    for name, preset in (entries.get("presets") or {
        key: dict(region.values) for key, region in REGIONS.items()
    }).items():
        if all(python_name(k) in names and isinstance(v, int | float) and not isinstance(v, bool)
               for k, v in preset.items()):
            presets[name] = {parameters[k].name: float(v) for k, v in preset.items()}
    start = parameters.defaults()
    if all(python_name(k) in names for k in BASE_PUSH.as_params()):
        # flexnet's default grant is 0 (the no-push baseline): open on the base push instead
        start |= {parameters[k].name: float(v) for k, v in BASE_PUSH.as_params().items()}
    if presets:
        start |= next(iter(presets.values()))
    sliders = tuple(
        _slider(parameter, start[parameter.name])
        for kind in SLIDER_KINDS
        for parameter in parameters.of_kind(kind).values()
        if parameter.bounded and parameter.upper > parameter.lower  # type: ignore[operator]
    )
    outcomes = _outcomes(entries.get("outcomes"), outputs, where=entries.get("card"))
    game = _game_rules(parameters, outputs, sliders, period=game_period,
                       final_time=final_time, years_after=years_after)
    return SimulatorSetup(
        title=f"{entries.get('title', path.stem)}: flight simulator",
        model_name=path.name, sliders=sliders, outcomes=outcomes,
        presets=MappingProxyType(presets), final_time=float(final_time),
        time_step=float(time_step), saveper=float(saveper), game=game,
        card=entries.get("card"),
    )


def _slider(parameter: Parameter, start: float) -> SliderSpec:
    lower, upper = float(parameter.lower), float(parameter.upper)  # type: ignore[arg-type]
    return SliderSpec(
        name=parameter.name, label=parameter.vensim_name, units=parameter.units,
        kind=parameter.kind, lower=lower, upper=upper, step=nice_step(upper - lower),
        start=min(max(float(start), lower), upper), description=parameter.description,
    )


def _outcomes(from_card: Sequence[tuple[str, str, str]] | None, outputs: Mapping[str, str],
              *, where: str | None) -> tuple[Outcome, ...]:
    if from_card:
        chosen = []
        for variable, label, units in from_card:
            if variable not in outputs:
                raise UnknownVariableError(variable, candidates=outputs, what="outcome variable",
                                           where=where or "the model card")
            chosen.append(Outcome(variable, label, units or outputs[variable]))
        return tuple(chosen[:_MAX_OUTCOMES])
    names = [n for n in FLEXNET_OUTCOMES if n in outputs] or list(outputs)
    return tuple(Outcome(n, n, outputs[n]) for n in names[:_MAX_OUTCOMES])


def _game_rules(parameters: ParameterTable, outputs: Mapping[str, str],
                sliders: Sequence[SliderSpec], *, period: float, final_time: float,
                years_after: float) -> GameRules | None:
    """flexnet's game (a push decided period by period), when the model has its names."""
    needed = ("push_amount", *PUSH_SCHEDULE, "number_of_firms")
    columns = ("Total Members", "Embeddedness", "Cumulative Public Spending")
    if not all(n in parameters for n in needed) or not all(c in outputs for c in columns):
        return None
    levers = tuple(s.name for s in sliders
                   if s.kind == "lever" and s.name not in PUSH_SCHEDULE)
    return GameRules(
        levers=levers, amount="push_amount", period=float(period),
        decide_until=float(final_time) - float(years_after), final_time=float(final_time),
        members="Total Members", embeddedness="Embeddedness",
        cost="Cumulative Public Spending", firms="number_of_firms",
    )
