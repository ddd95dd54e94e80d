"""Packages that spend one public budget differently (issue 13: comparisons at equal budget).

A budget can start a network with a short, strong push or a long, weak one, with a push that
tapers off, or with one that makes part of the grant conditional on local sponsor money. Each
package here schedules exactly the same public money, ``amount * (duration + taper / 2)``
(:attr:`sdnet.policy.Push.total_cost`); a matched package's ceiling is the budget and it pays
less where local sponsors bring less than the match needs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from sdnet.decision.packages import Package
from sdnet.errors import InvalidValueError
from sdnet.policy import Push

__all__ = ["equal_budget_packages"]


def _positive(name: str, value: float, *, zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value < 0 or (value == 0 and not zero):
        raise InvalidValueError(name, value,
                                expected="a non-negative number" if zero else
                                "a positive number")
    return float(value)


def _money(value: float) -> str:
    return f"${value:,.0f}"


def equal_budget_packages(
    total: float, *, start: float = 2.0, durations: Sequence[float] = (2.0, 5.0, 10.0),
    taper: float = 4.0, match: float = 0.5, params: Mapping[str, float] | None = None,
    prefix: str = "budget",
) -> tuple[Package, ...]:
    """Packages that schedule the same public money ``total``, each spent differently.

    Parameters
    ----------
    total : float
        The public budget (money units of the model, $ for flexnet), > 0.
    start : float, default 2
        When every push starts (time units of the model, Year).
    durations : sequence of three floats, default (2, 5, 10)
        Full-strength years of the short and strong, the medium and the long and weak push,
        increasing.
    taper : float, default 4
        Years over which the tapered package's grant falls linearly to zero after a
        full-strength period of half the medium duration.
    match : float, default 0.5
        Share of the matched package's grant (the medium schedule) paid only against local
        sponsor money, in (0, 1]; 0 leaves the matched package out.
    params : Mapping[str, float], optional
        Other lever values every package sets (e.g. staff shares).
    prefix : str, default "budget"
        Names are ``<prefix>_short_strong``, ``_medium``, ``_long_weak``, ``_tapered``,
        ``_matched``.

    Returns
    -------
    tuple of Package
        In that order, each labelled in plain words with its amount per year and years.

    Raises
    ------
    InvalidValueError
        A total or duration that is not positive, durations not increasing, a negative taper
        or start, or a match outside [0, 1].
    """
    total = _positive("budget total", total)
    start = _positive("budget start", start, zero=True)
    taper = _positive("budget taper", taper, zero=True)
    match = _positive("budget match", match, zero=True)
    if match > 1:
        raise InvalidValueError("budget match", match, expected="a share in [0, 1]")
    if isinstance(durations, str) or len(durations) != 3:
        raise InvalidValueError("budget durations", durations,
                                expected="three durations: short, medium, long")
    short, medium, long = (_positive("budget durations", d) for d in durations)
    if not short < medium < long:
        raise InvalidValueError("budget durations", list(durations),
                                expected="increasing durations: short < medium < long")
    extra = dict(params or {})
    years = "yr"

    def make(name: str, what: str, push: Push) -> Package:
        text = f"{what}: {_money(push.amount)}/{years} for {push.duration:g} {years}"
        if push.taper:
            text += f", then tapering to zero over {push.taper:g} {years}"
        if push.match:
            text += f", {push.match:.0%} of it matched locally"
        return Package(f"{prefix}_{name}", push, extra, label=text)

    packages = [
        make("short_strong", "short and strong", Push(total / short, start, short)),
        make("medium", "medium", Push(total / medium, start, medium)),
        make("long_weak", "long and weak", Push(total / long, start, long)),
    ]
    if taper > 0:
        full = medium / 2
        packages.append(make("tapered", "tapered",
                             Push(total / (full + taper / 2), start, full, taper)))
    if match > 0:
        packages.append(make("matched", "matched",
                             Push(total / medium, start, medium, 0.0, match)))
    return tuple(packages)
