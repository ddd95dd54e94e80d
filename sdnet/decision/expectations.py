"""Checking a study's answer against what the literature says: claims on success rates.

A study states what the literature expects as claims over the package comparison
(:func:`sdnet.decision.compare_packages`), for example the paper's finding F7, "in most
regions some public push is needed", as ``no_push <= 0.05``: the package ``no_push`` succeeds
in at most 5% of the worlds, in every region of the study. A claim is

    TERM OP TERM

with ``OP`` one of ``<``, ``<=``, ``>``, ``>=`` and each ``TERM`` either a number (a success
rate: ``0.05`` or ``5%``) or a package name, optionally pinned to a region with ``@``
(``base@embedded_prone``). A claim naming no region is checked in every region of the study;
one naming a region on either side is checked once. The check compares success rates and
says, beside the verdict, whether the rates' intervals lie apart: a claim that holds only
within the noise of the worlds is reported as such, not as agreement.

Nothing here runs a model: the functions read the summary table of the comparison.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sdnet.errors import InvalidValueError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Expectation", "Term", "check_expectations", "parse_claim", "verdicts"]

_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}
_CLAIM = re.compile(r"^\s*(\S+)\s*(<=|>=|<|>)\s*(\S+)\s*$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Term:
    """One side of a claim: a fixed success rate, or a package's rate (in one region or all)."""

    package: str | None = None
    region: str | None = None
    rate: float | None = None

    def __str__(self) -> str:
        if self.package is None:
            return f"{self.rate:.0%}"
        return self.package if self.region is None else f"{self.package}@{self.region}"


@dataclass(frozen=True)
class Expectation:
    """A finding of the literature and the claim on success rates that states it."""

    finding: str
    claim: str
    left: Term
    op: str
    right: Term


def _term(text: str, claim: str, *, packages: Sequence[str], regions: Sequence[str]) -> Term:
    number = text[:-1] if text.endswith("%") else text
    try:
        value = float(number) / (100.0 if text.endswith("%") else 1.0)
    except ValueError:
        pass
    else:
        if not 0.0 <= value <= 1.0:
            raise InvalidValueError("claim", claim,
                                    expected=f"a success rate in [0, 1] (or 0%-100%), not {text}")
        return Term(rate=value)
    package, _, region = text.partition("@")
    if not _NAME.match(package) or package not in packages:
        raise InvalidValueError(
            "claim", claim, expected=f"a package of the study in place of {package!r} "
            f"(packages: {', '.join(packages)}), or a success rate such as 0.05 or 5%")
    if region and region not in regions:
        raise InvalidValueError(
            "claim", claim, expected=f"a region of the study after '@' in place of {region!r} "
            f"(regions: {', '.join(regions)})")
    return Term(package=package, region=region or None)


def parse_claim(finding: str, claim: str, *, packages: Sequence[str],
                regions: Sequence[str]) -> Expectation:
    """Read ``claim`` (``"no_push <= 0.05"``) against the study's packages and regions.

    Raises
    ------
    InvalidValueError
        Not ``TERM OP TERM``, an unknown package or region, a rate outside [0, 1], or two
        numbers (a claim must name a package).
    """
    match = _CLAIM.match(claim)
    if match is None:
        raise InvalidValueError("claim", claim, expected="TERM OP TERM, e.g. 'no_push <= 0.05' "
                                "or 'base_cultivate > base' (OP one of <, <=, >, >=)")
    left, op, right = match.groups()
    sides = [_term(t, claim, packages=packages, regions=regions) for t in (left, right)]
    if sides[0].package is None and sides[1].package is None:
        raise InvalidValueError("claim", claim, expected="at least one package on a side")
    return Expectation(finding, claim, sides[0], op, sides[1])


def _rate(summary: pd.DataFrame, term: Term, region: str) -> tuple[float, float, float]:
    """(rate, low, high) of a term in a region; a fixed rate has no interval."""
    if term.package is None:
        value = float(term.rate)  # type: ignore[arg-type]
        return value, value, value
    where = term.region or region
    row = summary[(summary["region"] == where) & (summary["package"] == term.package)]
    if row.empty:
        return math.nan, math.nan, math.nan
    first = row.iloc[0]
    return (float(first["success_rate"]), float(first["success_low"]),
            float(first["success_high"]))


def _apart(op: str, left: tuple[float, float, float], right: tuple[float, float, float]) -> bool:
    """Whether the intervals lie apart in the claimed direction."""
    if op in ("<", "<="):
        return left[2] < right[1] if op == "<" else left[2] <= right[1]
    return left[1] > right[2] if op == ">" else left[1] >= right[2]


def check_expectations(summary: pd.DataFrame, expectations: Sequence[Expectation]
                       ) -> pd.DataFrame:
    """Check each claim in each region it applies to.

    Parameters
    ----------
    summary : pandas.DataFrame
        The comparison's summary (``region``, ``package``, ``success_rate``, ``success_low``,
        ``success_high``), as :func:`~sdnet.decision.compare_packages` returns it.
    expectations : sequence of Expectation
        From :func:`parse_claim`.

    Returns
    -------
    pandas.DataFrame
        One row per claim and region: ``finding``, ``claim``, ``region`` (empty for a claim
        pinned to regions), ``left``/``right`` (the terms), their rates and interval ends,
        ``holds`` (the point rates satisfy the claim) and ``apart`` (their intervals do too).
    """
    import pandas as pd

    regions = list(dict.fromkeys(summary["region"].astype(str)))
    rows: list[dict[str, Any]] = []
    for expectation in expectations:
        pinned = expectation.left.region or expectation.right.region
        for region in ([pinned] if pinned else regions):
            left = _rate(summary, expectation.left, region)
            right = _rate(summary, expectation.right, region)
            known = not (math.isnan(left[0]) or math.isnan(right[0]))
            rows.append({
                "finding": expectation.finding, "claim": expectation.claim,
                "region": "" if pinned else region,
                "left": str(expectation.left), "left_rate": left[0], "left_low": left[1],
                "left_high": left[2], "op": expectation.op,
                "right": str(expectation.right), "right_rate": right[0],
                "right_low": right[1], "right_high": right[2],
                "holds": bool(known and _OPERATORS[expectation.op](left[0], right[0])),
                "apart": bool(known and _apart(expectation.op, left, right)),
            })
    return pd.DataFrame(rows, columns=[
        "finding", "claim", "region", "left", "left_rate", "left_low", "left_high", "op",
        "right", "right_rate", "right_low", "right_high", "holds", "apart"])


def verdicts(checks: pd.DataFrame) -> pd.DataFrame:
    """One line per finding: ``agrees`` (every region holds, intervals apart), ``agrees
    within noise`` (holds, but some intervals overlap) or ``disagrees`` (some region fails),
    with the regions where it fails."""
    import pandas as pd

    rows = []
    for (finding, claim), part in checks.groupby(["finding", "claim"], sort=False):
        failed = [r or "(pinned)" for r, ok in zip(part["region"], part["holds"], strict=True)
                  if not ok]
        if failed:
            verdict = "disagrees"
        elif bool(part["apart"].all()):
            verdict = "agrees"
        else:
            verdict = "agrees within noise"
        rows.append({"finding": finding, "claim": claim, "verdict": verdict,
                     "fails_in": ", ".join(failed)})
    return pd.DataFrame(rows, columns=["finding", "claim", "verdict", "fails_in"])
