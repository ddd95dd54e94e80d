"""Mass balance, bounds and finiteness of the flagship model at every time step.

Run on the defaults (typical region, no push) and on each region preset with the base push,
saving every integration step (SAVEPER = TIME STEP) so "at every step" is literal.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sdnet.card import find_card
from sdnet.model import Model
from sdnet.results import RunResult

from .conftest import BASE_PUSH

FLEXNET = Path(__file__).resolve().parents[2] / "models" / "flexnet" / "flexnet.mdl"
REGIONS = find_card(FLEXNET).presets
CASES = [("defaults", None)] + [(name, BASE_PUSH) for name in REGIONS]


#: Runs by (kind, case), kept for the session: test runners that deal tests to several
#: processes (pytest-xdist) break the grouping of a parametrized module fixture, and each
#: run saving every step takes seconds on PySD, so one was made again and again.
_RUNS: dict[tuple[str, str], RunResult] = {}


@pytest.fixture(params=CASES, ids=[case[0] for case in CASES])
def every_step(request: pytest.FixtureRequest, flexnet: Model) -> RunResult:
    """A run saving every stock (and the subscripted views) at every integration step."""
    region, push = request.param
    if ("step", region) not in _RUNS:
        _RUNS["step", region] = flexnet.run(
            region=None if region == "defaults" else region,
            push=push,
            saveper=flexnet.default_control("time_step"),
            variables=[*flexnet.stocks, "Potential Members", "Members"],
        )
    return _RUNS["step", region]


@pytest.fixture(params=CASES, ids=[case[0] for case in CASES])
def every_variable(request: pytest.FixtureRequest, flexnet: Model) -> RunResult:
    """A run saving every variable at the model's SAVEPER."""
    region, push = request.param
    if ("all", region) not in _RUNS:
        _RUNS["all", region] = flexnet.run(
            region=None if region == "defaults" else region, push=push, variables="all")
    return _RUNS["all", region]


def test_firms_are_conserved_at_every_step(every_step: RunResult, flexnet: Model) -> None:
    """Potential members + members, summed over segments, equal Number of Firms."""
    frame = every_step.frame
    firms = flexnet.parameters["Number of Firms"].default
    total = sum(
        frame[f"{stock}[{segment}]"]
        for stock in ("Potential Members", "Members")
        for segment in ("Micro", "Established")
    )
    np.testing.assert_allclose(total.to_numpy(), firms, rtol=1e-12)


def test_stocks_stay_in_bounds(every_step: RunResult) -> None:
    """Trust, knowledge and embeddedness in [0, 1]; firms, funds and staff never negative."""
    frame = every_step.frame
    for name in ("Trust", "Collective Knowledge", "Embeddedness"):
        assert frame[name].between(0.0, 1.0).all(), name
    for name in ("Members[Micro]", "Members[Established]", "Potential Members[Micro]",
                 "Potential Members[Established]", "Network Funds", "Service Capacity",
                 "Cumulative Public Spending"):
        assert (frame[name] >= 0.0).all(), name


def test_stocks_are_finite_at_every_step(every_step: RunResult) -> None:
    """Every stock is finite at every step (a NaN anywhere would reach a stock next step)."""
    assert np.isfinite(every_step.frame.to_numpy(dtype=float)).all()


def test_no_variable_is_nan_or_infinite(every_variable: RunResult) -> None:
    """Every variable of the model is finite at every saved time."""
    assert np.isfinite(every_variable.frame.to_numpy(dtype=float)).all()
