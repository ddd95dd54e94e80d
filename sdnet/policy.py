"""Push schedules and presets, expressed as parameter values of a model through its card.

A :class:`Push` is a lever over time: ``amount`` per time unit from ``start`` for ``duration``,
then falling linearly to zero over ``taper``, with a matching requirement ``match``. Which
model constants those fields set is the model card's business (``[[schedules]]`` of kind
"push", :mod:`sdnet.card`); so are the named presets (``[[presets]]``, for flexnet the region
types). Both turn into plain ``{python_name: value}`` dicts that ``Model.run`` applies, so a
scripted experiment reads::

    model.run(region="typical", push=Push(amount=300_000, start=2, duration=3.5))

Every function here takes the card whose schedule and presets it reads (``model.card``);
the package core knows no model's constants (the compatibility names ``REGIONS``,
``BASE_PUSH`` and ``PUSH_PARAMETERS`` of the flagship model are gone: read
``model.card.presets``, ``base_push(model.card)`` and ``model.card.push.parameters``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from sdnet.card import ModelCard, Preset, Schedule
from sdnet.errors import MissingParameterError, PushScheduleError
from sdnet.params import python_name

__all__ = [
    "Push",
    "Region",
    "base_push",
    "get_region",
    "region_values",
    "require_parameters",
]

#: A named set of constants; the presets of a card (kept under its old name).
Region = Preset


def _schedule(card: ModelCard) -> Schedule:
    if not isinstance(card, ModelCard):
        raise PushScheduleError(
            f"a push is read through a model card (model.card), not {card!r}", field="card",
            value=card)
    schedule = card.push
    if schedule is None:
        where = card.path.name if card.path else "the model (it has no card)"
        raise PushScheduleError(
            f"{where} defines no push schedule ([[schedules]] of kind \"push\" in the model "
            "card names the constants a push sets)", field="push", value=None)
    return schedule


@dataclass(frozen=True)
class Push:
    """A public-push schedule: the grant a public programme pays the network.

    Parameters
    ----------
    amount : float
        Grant while the push runs at full strength ($/Year).
    start : float
        When the grant starts (Year, model time).
    duration : float
        Years at full strength (Year).
    taper : float, default 0
        Years over which the grant then falls linearly to zero (Year).
    match : float, default 0
        Local-match requirement: share of the grant local sponsors must match (dmnl, 0-1).

    Raises
    ------
    PushScheduleError
        If a field is not a finite number, is negative, or ``match`` exceeds 1. Whether the
        push starts within the simulated horizon is checked by ``Model.run``, which knows it.
    """

    amount: float
    start: float
    duration: float
    taper: float = 0.0
    match: float = 0.0

    def __post_init__(self) -> None:
        for name in ("amount", "start", "duration", "taper", "match"):
            value = getattr(self, name)
            if isinstance(value, bool | str) or not hasattr(value, "__float__"):
                raise PushScheduleError(
                    f"push {name} must be a number, not {value!r}", field=name, value=value
                )
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise PushScheduleError(
                    f"push {name} must be a number, not {value!r}", field=name, value=value
                ) from None
            if not math.isfinite(number):
                raise PushScheduleError(
                    f"push {name} must be a finite number, not {value!r}", field=name, value=value
                )
            if number < 0:
                raise PushScheduleError(
                    f"push {name} must not be negative (got {number:g})", field=name, value=value
                )
            object.__setattr__(self, name, number)
        if self.match > 1:
            raise PushScheduleError(
                f"push match is a share of the amount and must lie in [0, 1] (got {self.match:g})",
                field="match",
                value=self.match,
            )

    @property
    def end(self) -> float:
        """When the grant reaches zero: ``start + duration + taper`` (Year)."""
        return self.start + self.duration + self.taper

    @property
    def total_cost(self) -> float:
        """Total public money paid: ``amount * (duration + taper / 2)`` ($)."""
        return self.amount * (self.duration + self.taper / 2.0)

    def as_params(self, card: ModelCard) -> dict[str, float]:
        """The model parameters this push sets (Python name -> value), as the card's push
        schedule names them (``model.card``)."""
        schedule = _schedule(card)
        return {parameter: getattr(self, name) for name, parameter in schedule.parameters.items()}

    def describe(self) -> str:
        """One line for people, e.g. ``"$300,000/yr from year 2 for 3.5 yr"``."""
        text = f"${self.amount:,.0f}/yr from year {self.start:g} for {self.duration:g} yr"
        if self.taper:
            text += f", tapering over {self.taper:g} yr"
        if self.match:
            text += f", local match {self.match:.0%}"
        return text


def base_push(card: ModelCard) -> Push:
    """The push a card's schedule starts from (``base``)."""
    schedule = _schedule(card)
    base = dict(schedule.base)
    return Push(amount=base.get("amount", 0.0), start=base.get("start", 0.0),
                duration=base.get("duration", 0.0), taper=base.get("taper", 0.0),
                match=base.get("match", 0.0))


def get_region(name: str | Preset, *, card: ModelCard) -> Preset:
    """The preset called ``name`` (``"embedded-prone"`` and ``"Embedded Prone"`` work too) of
    ``card``.

    Raises
    ------
    UnknownPresetError
        If the card has no preset of that name; the message lists the valid ones.
    """
    return card.preset(name)


def region_values(name: str | Preset, *, card: ModelCard) -> dict[str, float]:
    """The parameter values (Python name -> value) of a preset."""
    return dict(get_region(name, card=card).values)


def require_parameters(
    names: Iterable[str], available: Iterable[str], *, needed_by: str, model: str
) -> None:
    """Raise MissingParameterError naming every one of ``names`` the model lacks.

    ``available`` holds the model's parameter names (any spelling; compared as Python names).
    """
    have = {python_name(n) for n in available}
    missing = [n for n in names if python_name(n) not in have]
    if missing:
        raise MissingParameterError(missing, needed_by=needed_by, model=model)

