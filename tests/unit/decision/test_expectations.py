"""Claims of the literature checked on a package comparison (sdnet.decision.expectations)."""

from __future__ import annotations

import pandas as pd
import pytest

from sdnet.decision.compare import success_interval
from sdnet.decision.expectations import check_expectations, parse_claim, verdicts
from sdnet.errors import InvalidValueError

PACKAGES = ["no_push", "base", "cultivate"]
REGIONS = ["typical", "embedded_prone"]


def _summary(successes: dict[tuple[str, str], int], worlds: int = 200) -> pd.DataFrame:
    rows = []
    for (region, package), wins in successes.items():
        low, high = success_interval(wins, worlds)
        rows.append({"region": region, "package": package, "worlds": worlds,
                     "successes": wins, "success_rate": wins / worlds,
                     "success_low": low, "success_high": high})
    return pd.DataFrame(rows)


SUMMARY = _summary({
    ("typical", "no_push"): 0, ("typical", "base"): 14, ("typical", "cultivate"): 18,
    ("embedded_prone", "no_push"): 2, ("embedded_prone", "base"): 170,
    ("embedded_prone", "cultivate"): 199,
})


def _claim(text: str):
    return parse_claim("F", text, packages=PACKAGES, regions=REGIONS)


def test_a_claim_without_region_is_checked_in_every_region() -> None:
    checks = check_expectations(SUMMARY, [_claim("no_push <= 5%")])
    assert list(checks["region"]) == REGIONS
    assert list(checks["left_rate"]) == [0.0, 0.01]
    assert list(checks["holds"]) == [True, True]
    # the Wilson upper end of 2/200 is about 0.036 < 0.05: the claim holds beyond the noise
    assert checks["apart"].all()
    assert verdicts(checks)["verdict"].tolist() == ["agrees"]


def test_overlapping_intervals_are_agreement_within_noise() -> None:
    # typical: 18/200 vs 14/200 (intervals overlap); embedded-prone: 199 vs 170 (apart)
    checks = check_expectations(SUMMARY, [_claim("cultivate > base")])
    assert list(checks["holds"]) == [True, True]
    assert list(checks["apart"]) == [False, True]
    assert verdicts(checks)["verdict"].tolist() == ["agrees within noise"]


def test_a_pinned_claim_is_checked_once_and_can_fail() -> None:
    checks = check_expectations(SUMMARY, [_claim("base@typical >= base@embedded_prone")])
    assert len(checks) == 1 and checks["region"].iloc[0] == ""
    assert checks["left_rate"].iloc[0] == pytest.approx(0.07)
    assert checks["right_rate"].iloc[0] == pytest.approx(0.85)
    verdict = verdicts(checks).iloc[0]
    assert verdict["verdict"] == "disagrees" and verdict["fails_in"] == "(pinned)"


def test_a_failing_region_is_named() -> None:
    checks = check_expectations(SUMMARY, [_claim("base > 0.5")])
    assert verdicts(checks)["fails_in"].tolist() == ["typical"]


@pytest.mark.parametrize(("claim", "words"), [
    ("no_push", "TERM OP TERM"),
    ("no_push == 0", "TERM OP TERM"),
    ("nopush <= 0.05", "'nopush'"),
    ("base@typcal > 0.1", "'typcal'"),
    ("base > 1.5", "[0, 1]"),
    ("0.1 < 0.2", "at least one package"),
])
def test_bad_claims_say_what_is_valid(claim: str, words: str) -> None:
    with pytest.raises(InvalidValueError, match="claim") as error:
        _claim(claim)
    assert words in str(error.value)
