"""Push schedules and region presets are validated, frozen and turn into parameter values."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from sdnet.card import ModelCard, load_card
from sdnet.errors import MissingParameterError, PushScheduleError, UnknownPresetError
from sdnet.policy import (
    Push,
    Region,
    base_push,
    get_region,
    region_values,
    require_parameters,
)

CARD = load_card(Path(__file__).resolve().parents[2] / "models" / "flexnet" / "flexnet.toml")
BASE_PUSH = base_push(CARD)
REGIONS = CARD.presets
PUSH_PARAMETERS = CARD.push.parameters if CARD.push is not None else {}


def test_push_as_params_uses_the_model_names() -> None:
    push = Push(amount=300_000, start=2, duration=3.5, taper=2, match=0.25)
    assert push.as_params(CARD) == {
        "push_amount": 300_000.0,
        "push_start": 2.0,
        "push_duration": 3.5,
        "push_taper": 2.0,
        "local_match_requirement": 0.25,
    }
    assert set(push.as_params(CARD)) == set(PUSH_PARAMETERS.values())


def test_push_end_and_total_cost() -> None:
    push = Push(amount=200_000, start=2, duration=3, taper=2)
    assert push.end == push.start + push.duration + push.taper
    # the taper falls linearly, so it pays half the grant on average
    assert push.total_cost == push.amount * push.duration + 0.5 * push.amount * push.taper


def test_base_push_is_the_model_md_push() -> None:
    assert Push(amount=300_000, start=2, duration=3.5) == BASE_PUSH
    assert BASE_PUSH.taper == 0.0 and BASE_PUSH.match == 0.0


def test_push_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        BASE_PUSH.amount = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        (
            {"amount": 1.0, "start": 2.0, "duration": -1.0},
            "duration",
            "push duration must not be negative (got -1)",
        ),
        (
            {"amount": -5.0, "start": 2.0, "duration": 1.0},
            "amount",
            "push amount must not be negative (got -5)",
        ),
        (
            {"amount": float("nan"), "start": 2.0, "duration": 1.0},
            "amount",
            "push amount must be a finite number, not nan",
        ),
        (
            {"amount": 1.0, "start": float("inf"), "duration": 1.0},
            "start",
            "push start must be a finite number, not inf",
        ),
        (
            {"amount": "lots", "start": 2.0, "duration": 1.0},
            "amount",
            "push amount must be a number, not 'lots'",
        ),
        (
            {"amount": 1.0, "start": 2.0, "duration": 1.0, "match": 1.5},
            "match",
            "push match is a share of the amount and must lie in [0, 1] (got 1.5)",
        ),
    ],
)
def test_invalid_push(kwargs: dict, field: str, message: str) -> None:
    with pytest.raises(PushScheduleError) as caught:
        Push(**kwargs)
    assert str(caught.value) == message
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)


def test_push_describe() -> None:
    assert BASE_PUSH.describe() == "$300,000/yr from year 2 for 3.5 yr"
    assert Push(1000, 1, 2, taper=3, match=0.5).describe() == (
        "$1,000/yr from year 1 for 2 yr, tapering over 3 yr, local match 50%"
    )


def test_region_presets_follow_model_md() -> None:
    assert set(REGIONS) == {"typical", "embedded_prone", "externally_networked"}
    typical = region_values("typical", card=CARD)
    embedded = region_values("embedded_prone", card=CARD)
    external = region_values("externally_networked", card=CARD)
    # embedded-prone differs from typical only by more community entrepreneurs,
    # externally networked only by more outside networking
    assert embedded["external_networking"] == typical["external_networking"]
    assert embedded["community_entrepreneur_density"] > typical["community_entrepreneur_density"]
    assert external["community_entrepreneur_density"] == typical["community_entrepreneur_density"]
    assert external["external_networking"] > typical["external_networking"]
    assert typical == {"community_entrepreneur_density": 0.2, "external_networking": 0.2}


@pytest.mark.parametrize("spelling", ["embedded-prone", "Embedded Prone", "embedded_prone"])
def test_region_spellings(spelling: str) -> None:
    assert get_region(spelling, card=CARD) is REGIONS["embedded_prone"]


def test_region_is_frozen_and_passes_through() -> None:
    region = Region("mine", "a test region", {"external_networking": 1})
    assert get_region(region, card=CARD) is region
    assert region.values == {"external_networking": 1.0}
    with pytest.raises(TypeError):
        region.values["external_networking"] = 0.5  # type: ignore[index]


def test_unknown_preset() -> None:
    with pytest.raises(UnknownPresetError) as caught:
        get_region("tropical", card=CARD)
    assert str(caught.value) == (
        "unknown region preset 'tropical'; valid presets: embedded_prone, "
        "externally_networked, typical"
    )


def test_require_parameters_names_every_missing_one() -> None:
    require_parameters(["Push Amount"], ["push_amount"], needed_by="x", model="m.mdl")
    with pytest.raises(MissingParameterError) as caught:
        require_parameters(
            ["community_entrepreneur_density", "external_networking"],
            ["external_networking"],
            needed_by="region preset 'typical'",
            model="teacup.mdl",
        )
    assert str(caught.value) == (
        "region preset 'typical' needs parameters that model teacup.mdl does not have: "
        "community_entrepreneur_density"
    )
    assert caught.value.names == ["community_entrepreneur_density"]


def test_without_a_card_nothing_names_flexnet_constants() -> None:
    # the core has no fallback: a push needs a card's schedule, a preset a card's presets
    with pytest.raises(PushScheduleError, match="defines no push schedule"):
        Push(1, 2, 3).as_params(ModelCard())
    with pytest.raises(PushScheduleError, match="through a model card"):
        Push(1, 2, 3).as_params(None)  # type: ignore[arg-type]
    with pytest.raises(UnknownPresetError):
        get_region("typical", card=ModelCard())
    import sdnet.policy

    for old in ("REGIONS", "BASE_PUSH", "PUSH_PARAMETERS", "FLAGSHIP_CARD"):
        assert not hasattr(sdnet.policy, old)
