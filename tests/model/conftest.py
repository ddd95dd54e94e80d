"""Fixtures for the behaviour tests of the flagship model ``models/flexnet/flexnet.mdl``.

The model is loaded once per session through the facade (:func:`sdnet.model.load_model`, which
translates a copy in the user cache, never beside the model). Scenario runs are memoised for the
session because several behaviour tests read the same run; the facade never mutates the model,
so sharing results is safe.

Scenarios used here (the values set are stated so the tests say what they test):

* region presets of flexnet's card (``models/flexnet/flexnet.toml``): ``typical`` (CE 0.2, X 0.2),
  ``embedded_prone`` (CE 0.8, X 0.2), ``externally_networked`` (CE 0.2, X 0.8);
* ``BASE_PUSH``: 300,000 $/Year from year 2 for 3.5 years, no taper, no local match (the
  model's default Push Amount is 0, i.e. no push).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sdnet.model import Model, load_model
from sdnet.policy import Push
from sdnet.results import RunResult

MODEL_PATH = Path(__file__).resolve().parents[2] / "models" / "flexnet" / "flexnet.mdl"

#: The base push of model.md: a few hundred thousand $/yr for about 3.5 years from year 2.
BASE_PUSH = Push(amount=300_000.0, start=2.0, duration=3.5)

#: Extra variables the behaviour tests read besides the facade's key variables.
BEHAVIOUR_VARIABLES: tuple[str, ...] = (
    "Total Members",
    "Members",
    "Potential Members",
    "Trust",
    "Collective Knowledge",
    "Embeddedness",
    "Network Funds",
    "Service Capacity",
    "Average Member Benefit",
    "Member Benefit",
    "Knowledge Access",
    "Member Knowledge Access",
    "Micro Member Share",
    "Micro Joining",
    "Established Joining",
    "Trust Building",
    "Trust Erosion",
    "Public Push Grant",
)

Runner = Callable[..., RunResult]


@pytest.fixture(scope="session")
def flexnet() -> Model:
    """The flexnet model, loaded once per test session."""
    return load_model(MODEL_PATH)


@pytest.fixture(scope="session")
def scenario(flexnet: Model) -> Runner:
    """Run (or reuse) a scenario: ``scenario(region, push=None, **params)``.

    ``push`` is a :class:`~sdnet.policy.Push` or None (no push); extra keyword arguments are
    parameter values. Results are memoised by their arguments for the session.
    """
    cache: dict[tuple[object, ...], RunResult] = {}

    def run(region: str, push: Push | None = None, **params: float) -> RunResult:
        key = (region, push, tuple(sorted(params.items())))
        if key not in cache:
            cache[key] = flexnet.run(
                params or None, region=region, push=push, variables=list(BEHAVIOUR_VARIABLES)
            )
        return cache[key]

    return run


@pytest.fixture(scope="session")
def number_of_firms(flexnet: Model) -> float:
    """The default Number of Firms of the model file (firm)."""
    return flexnet.parameters["Number of Firms"].default


@pytest.fixture(scope="session")
def micro_share(flexnet: Model) -> float:
    """The default Micro Share of the model file (dmnl)."""
    return flexnet.parameters["Micro Share"].default
