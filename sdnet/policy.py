"""Push schedules and presets, expressed as parameter values of a model through its card.

A :class:`Push` is a lever over time: ``amount`` per time unit from ``start`` for ``duration``,
then falling linearly to zero over ``taper``, with a matching requirement ``match``. Which
model constants those fields set is the model card's business (``[[schedules]]`` of kind
"push", :mod:`sdnet.card`); so are the named presets (``[[presets]]``, for flexnet the region
types). Both turn into plain ``{python_name: value}`` dicts that ``Model.run`` applies, so a
scripted experiment reads::

    model.run(region="typical", push=Push(amount=300_000, start=2, duration=3.5))

The names :data:`REGIONS`, :data:`BASE_PUSH` and :data:`PUSH_PARAMETERS`, and the functions
below when no card is given, read the flagship model's card (:data:`FLAGSHIP_CARD`, flexnet's):
they keep scripts written before model cards working.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from sdnet.card import ModelCard, Preset, Schedule, load_card
from sdnet.errors import MissingParameterError, PushScheduleError
from sdnet.files import packaged_data
from sdnet.params import python_name

__all__ = [
    "FLAGSHIP_CARD",
    "Push",
    "Region",
    "base_push",
    "flagship_card",
    "get_region",
    "region_values",
    "require_parameters",
]

#: The flagship model's card: what the compatibility names read when no card is given.
FLAGSHIP_CARD: Path = Path(__file__).resolve().parents[1] / "models" / "flexnet" / "flexnet.toml"

#: A named set of constants; the presets of a card (kept under its old name).
Region = Preset


@functools.cache
def flagship_card() -> ModelCard:
    """The flagship model's card (read once): the checkout's, else the one installed with the
    package."""
    installed = packaged_data("flexnet")
    if not FLAGSHIP_CARD.is_file() and installed is not None:
        return load_card(installed / FLAGSHIP_CARD.name)
    return load_card(FLAGSHIP_CARD)


def _schedule(card: ModelCard | None) -> Schedule:
    card = flagship_card() if card is None else card
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
                f"push match is a share of the grant and must lie in [0, 1] (got {self.match:g})",
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

    def as_params(self, card: ModelCard | None = None) -> dict[str, float]:
        """The model parameters this push sets (Python name -> value), as the card's push
        schedule names them (default: the flagship card's)."""
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


def base_push(card: ModelCard | None = None) -> Push:
    """The push a card's schedule starts from (``base``; default: the flagship card's)."""
    schedule = _schedule(card)
    base = dict(schedule.base)
    return Push(amount=base.get("amount", 0.0), start=base.get("start", 0.0),
                duration=base.get("duration", 0.0), taper=base.get("taper", 0.0),
                match=base.get("match", 0.0))


def get_region(name: str | Preset, *, card: ModelCard | None = None) -> Preset:
    """The preset called ``name`` (``"embedded-prone"`` and ``"Embedded Prone"`` work too) of
    ``card`` (default: the flagship card).

    Raises
    ------
    UnknownPresetError
        If the card has no preset of that name; the message lists the valid ones.
    """
    return (flagship_card() if card is None else card).preset(name)


def region_values(name: str | Preset, *, card: ModelCard | None = None) -> dict[str, float]:
    """The parameter values (Python name -> value) of a preset."""
    return dict(get_region(name, card=card).values)


def __getattr__(name: str) -> Any:
    # the flagship card's schedule and presets under their names from before model cards
    if name == "REGIONS":
        return flagship_card().presets
    if name == "BASE_PUSH":
        return base_push()
    if name == "PUSH_PARAMETERS":
        return MappingProxyType(dict(_schedule(None).parameters))
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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

