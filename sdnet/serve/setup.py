"""What the flight simulator offers for one model: sliders, charts, presets and game rules.

:func:`setup_for` reads everything from the model's parameter table (kinds ``lever``,
``region`` and ``uncertain``, units, declared ranges), so any model with tagged constants gets
a simulator. What the parameter table cannot say comes from the model's card
(:mod:`sdnet.card`): the title, what to chart (``[model] charts``, else ``report_variables``),
named presets, the base push the page opens on, and the game (a ``push`` schedule and
``[game]``: what a world must keep and what counts as public money). A model without a card
charts its first outputs and has no game.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sdnet.card import Game, ModelCard, find_card
from sdnet.errors import CardError, UnknownVariableError
from sdnet.params import Parameter, ParameterTable, python_name
from sdnet.policy import base_push

__all__ = [
    "GameRules",
    "Outcome",
    "SimulatorSetup",
    "SliderSpec",
    "nice_step",
    "setup_for",
    "step_through",
]

#: kinds of constants that get a slider in explore mode, in this order
SLIDER_KINDS: tuple[str, ...] = ("lever", "region")
_MAX_OUTCOMES = 6
#: the control variables: a model without a card charts its other outputs
_CONTROL_COLUMNS = frozenset({"INITIAL TIME", "FINAL TIME", "TIME STEP", "SAVEPER"})


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
    mean public money ($ million)``, where a world is sustained when ``outcome`` at
    ``final_time`` is at least ``sustain_fraction`` of ``population`` (the card's ``[game]``;
    ``quality`` is shown beside the outcome, ``charts`` are charted while playing).
    """

    levers: tuple[str, ...]
    amount: str
    start: str
    duration: str
    taper: str
    period: float
    decide_until: float
    final_time: float
    outcome: str
    quality: str
    cost: str
    population: str
    charts: tuple[Outcome, ...] = ()
    amount_upper: float = 0.0
    amount_units: str = ""
    time_unit: str = ""
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
            "levers": list(self.levers), "amount": self.amount, "start": self.start,
            "duration": self.duration, "taper": self.taper, "period": self.period,
            "decide_until": self.decide_until, "final_time": self.final_time,
            "outcome": self.outcome, "quality": self.quality, "cost": self.cost,
            "population": self.population, "charts": [c.to_dict() for c in self.charts],
            "amount_units": self.amount_units, "time_unit": self.time_unit,
            "sustain_fraction": self.sustain_fraction,
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
    push: Mapping[str, str] = field(default_factory=dict)
    words: Mapping[str, str] = field(default_factory=dict)
    time_unit: str = ""

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
            "words": dict(self.words), "time_unit": self.time_unit,
        }

    def push_period(self, values: Mapping[str, float]) -> tuple[float, float, float] | None:
        """Start, end of full strength and end of phase-out of the card's push (model time),
        or None when the model has no push schedule or the push pays nothing."""
        push = self.push
        if not all(f in push and push[f] in values for f in ("amount", "start", "duration")) \
                or values[push["amount"]] <= 0:
            return None
        start = float(values[push["start"]])
        full = start + float(values[push["duration"]])
        taper = float(values.get(push.get("taper", ""), 0.0))
        return (start, full, full + taper)


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


def setup_for(
    parameters: ParameterTable,
    *,
    model_path: str | Path,
    outputs: Mapping[str, str],
    card: str | Path | ModelCard | None = None,
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
    card : path or ModelCard, optional
        The model card (default: the ``.toml`` of the same stem beside the model, else none).
    final_time, time_step, saveper : float
        Horizon, integration step and save step of every run, Year. A step of 1/8 year keeps
        one flexnet run near 13 ms, so a slider move redraws well within 100 ms.
    game_period : float
        Years between two decisions in the game.
    years_after : float
        Years the game runs on after the last decision period, with no public money.
    """
    path = Path(model_path)
    card = card if isinstance(card, ModelCard) else find_card(path, card)
    names = set(parameters)
    presets: dict[str, dict[str, float]] = {}
    for name, preset in card.presets.items():
        if all(python_name(k) in names for k in preset.values):
            presets[name] = {parameters[k].name: float(v) for k, v in preset.values.items()}
    start = parameters.defaults()
    schedule = card.push
    push = ({f: parameters[n].name for f, n in schedule.parameters.items()}
            if schedule is not None and all(n in names for n in schedule.parameters.values())
            else {})
    if push and schedule is not None and schedule.base:
        # a pushed model's default is often no push: open on the card's base push instead
        start |= {parameters[k].name: float(v) for k, v in
                  base_push(card).as_params(card).items()}
    if presets:
        start |= next(iter(presets.values()))
    sliders = tuple(
        _slider(parameter, start[parameter.name])
        for kind in SLIDER_KINDS
        for parameter in parameters.of_kind(kind).values()
        if parameter.bounded and parameter.upper > parameter.lower  # type: ignore[operator]
    )
    where = str(card.path) if card.path is not None else None
    outcomes = _outcomes(card.charts or card.report_variables, outputs, where=where)
    game = _game_rules(card, parameters, outputs, sliders, push, period=game_period,
                       final_time=final_time, years_after=years_after)
    return SimulatorSetup(
        title=f"{card.title or path.stem}: flight simulator",
        model_name=path.name, sliders=sliders, outcomes=outcomes,
        presets=MappingProxyType(presets), final_time=float(final_time),
        time_step=float(time_step), saveper=float(saveper), game=game,
        card=where, push=MappingProxyType(push), words=card.words,
        time_unit=card.time_unit or _time_unit(parameters),
    )


def _time_unit(parameters: ParameterTable) -> str:
    """The model's time unit: the units of its FINAL TIME, else ``"time"``."""
    for parameter in parameters.values():
        if parameter.vensim_name.upper() == "FINAL TIME" and parameter.units:
            return parameter.units
    return "time"


def step_through(start: float, lower: float, upper: float) -> float:
    """The slider step: :func:`nice_step` of the range, or the largest smaller round step on
    whose grid (from ``lower``) ``start`` lies.

    A browser snaps a range input's value to its step grid, so a start value off the grid
    would be changed silently (flexnet's fee of 500 on a 0-20,000 range with steps of 200
    became 600). Where no round step down to 1/10,000 of the range reaches ``start`` the
    plain step is kept (and the page shows the snapped value).

    >>> step_through(500.0, 0.0, 20_000.0)
    100.0
    >>> step_through(0.15, 0.0, 0.5)
    0.005
    """
    step = nice_step(upper - lower)
    offset = start - lower
    candidate = step
    while candidate >= (upper - lower) / 10_000:
        units = offset / candidate
        if abs(units - round(units)) <= 1e-9 * max(1.0, abs(units)):
            return candidate
        # the next round step down: 5 -> 2 -> 1 -> 0.5 ... times a power of ten
        mantissa = float(f"{candidate / 10.0 ** math.floor(math.log10(candidate)):.6g}")
        candidate = float(f"{candidate * (0.4 if mantissa == 5.0 else 0.5):.12g}")
    return step


def _slider(parameter: Parameter, start: float) -> SliderSpec:
    lower, upper = float(parameter.lower), float(parameter.upper)  # type: ignore[arg-type]
    start = min(max(float(start), lower), upper)
    return SliderSpec(
        name=parameter.name, label=parameter.vensim_name, units=parameter.units,
        kind=parameter.kind, lower=lower, upper=upper, step=step_through(start, lower, upper),
        start=start, description=parameter.description,
    )


def _outcomes(from_card: Sequence[str], outputs: Mapping[str, str],
              *, where: str | None) -> tuple[Outcome, ...]:
    if from_card:
        chosen = []
        for variable in from_card:
            if variable not in outputs:
                raise UnknownVariableError(variable, candidates=outputs, what="chart variable",
                                           where=where or "the model card")
            chosen.append(Outcome(variable, variable, outputs[variable]))
        return tuple(chosen[:_MAX_OUTCOMES])
    names = [n for n in outputs if n.upper() not in _CONTROL_COLUMNS]
    return tuple(Outcome(n, n, outputs[n]) for n in names[:_MAX_OUTCOMES])


def _game_rules(card: ModelCard, parameters: ParameterTable, outputs: Mapping[str, str],
                sliders: Sequence[SliderSpec], push: Mapping[str, str], *, period: float,
                final_time: float, years_after: float) -> GameRules | None:
    """The card's game (its push decided period by period), when the card has a push
    schedule and a ``[game]`` whose names the model has."""
    game = card.game
    if game is None or not push:
        return None
    columns = (game.outcome, game.quality or game.outcome, game.cost)
    if python_name(game.population) not in parameters or not all(c in outputs for c in columns):
        return None
    schedule = tuple(push[f] for f in ("start", "duration", "taper") if f in push)
    levers = tuple(s.name for s in sliders if s.kind == "lever" and s.name not in schedule)
    return GameRules(
        levers=levers, amount=push["amount"], start=push["start"], duration=push["duration"],
        taper=push.get("taper", ""), period=float(period),
        decide_until=float(final_time) - float(years_after), final_time=float(final_time),
        outcome=game.outcome, quality=game.quality or game.outcome, cost=game.cost,
        population=parameters[game.population].name,
        charts=_game_charts(card, game, outputs),
        amount_upper=float(parameters[push["amount"]].upper or 0.0),
        amount_units=parameters[push["amount"]].units,
        time_unit=card.time_unit or _time_unit(parameters),
    )


def _game_charts(card: ModelCard, game: Game,
                 outputs: Mapping[str, str]) -> tuple[Outcome, ...]:
    """The card's ``[game] charts`` (default: outcome, quality, cost), each an output."""
    charts = game.charts or tuple(dict.fromkeys(
        c for c in (game.outcome, game.quality, game.cost) if c))
    for variable in charts:
        if variable not in outputs:
            raise CardError(f"the model has no output {variable!r} to chart in the game",
                            path=card.path, key="game.charts", value=list(game.charts))
    return tuple(Outcome(v, v, outputs[v]) for v in charts)
