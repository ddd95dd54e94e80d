"""Cases a sets study's worlds were selected on ([design] targets): a package in a region that
is a history-matching target's scenario is named, with the claims that use it, and the report
cautions on it. The tiny network model; no runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sdnet.errors import ExperimentError
from sdnet.experiment import parse_experiment
from sdnet.experiment.packages import study_selected_by_targets
from sdnet.experiment.selection import read_target_scenarios, same_values
from sdnet.model import Model, load_model
from sdnet.reports._packages import _selected_cautions

TINY = Path(__file__).resolve().parents[1] / "data" / "tiny_network.mdl"

# a: the "long" package in the embedded-prone region (7.9999999999 = 8 within tolerance, a
# constant set to the model file's value changes nothing); b: the same push in the typical
# region but another match requirement; c: another push
TARGETS = """
[[targets]]
name = "a"
output = "Total Members"
time = 10
observed = 30.0
sd = 4.0
region = "embedded_prone"
push = { amount = 200000.0, start = 2, duration = 7.9999999999 }
set = { trust_erosion_rate = 0.2 }
source = "test"

[[targets]]
name = "b"
output = "Total Members"
time = 10
observed = 30.0
sd = 4.0
region = "typical"
push = { amount = 200000, start = 2, duration = 8, match = 0.5 }
source = "test"

[[targets]]
name = "c"
output = "Trust"
time = 10
observed = 0.5
sd = 0.1
region = "embedded_prone"
push = { amount = 300000, start = 2, duration = 3.5 }
source = "test"
"""


@pytest.fixture(scope="module")
def tiny() -> Model:
    return load_model(TINY)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    pd.DataFrame({"attrition_rate": rng.uniform(0.05, 0.6, 6)}).to_csv(
        tmp_path / "worlds.csv", index=False)
    (tmp_path / "targets.toml").write_text(TARGETS, encoding="utf-8")
    return tmp_path


def _spec(**design: Any) -> dict[str, Any]:
    return {
        "experiment": {"name": "t", "model": str(TINY), "seed": 3},
        "region": {"presets": ["typical", "embedded_prone"]},
        "policies": [{"name": "none", "amount": 0, "label": "no push"},
                     {"name": "long", "amount": 200_000, "duration": 8,
                      "label": "long push"}],
        "design": {"method": "sets", "file": "worlds.csv", "n": 4, **design},
        "metrics": [{"name": "alive_after_push"}],
        "analysis": {"packages": {"success": "alive_after_push"},
                     "integration_check": False,
                     "expect": [{"finding": "F1: pushing helps", "claim": "long > none"},
                                {"finding": "F2: embedded", "claim": "long@typical < 50%"},
                                {"finding": "F3: nothing", "claim": "none <= 5%"}]},
    }


def test_the_case_that_is_a_targets_scenario_is_named_with_its_claims(
        tiny: Model, folder: Path) -> None:
    experiment = parse_experiment(_spec(targets="targets.toml"), path=folder / "study.toml",
                                  model=tiny)
    assert experiment.design_settings["targets"] == str(folder / "targets.toml")
    assert experiment.to_dict()["design"]["targets"] == str(folder / "targets.toml")
    selected = study_selected_by_targets(experiment, tiny)
    assert selected == [{"region": "embedded_prone", "package": "long", "label": "long push",
                         "targets": ["a"], "outputs": ["Total Members"],
                         "claims": ["F1: pushing helps"]}]
    # without the key nothing is compared
    plain = parse_experiment(_spec(), path=folder / "study.toml", model=tiny)
    assert study_selected_by_targets(plain, tiny) is None
    # the report's caution says why the rate is an input, and which claims use it
    (text,) = _selected_cautions(selected, "region")
    assert text.startswith("In the embedded prone region, the package 'long push' is the "
                           "scenario of the history-matching target a (on Total Members)")
    assert "partly an input of the calibration" in text and text.endswith("(F1).")


def test_same_values_reads_a_left_out_constant_as_the_model_files(tiny: Model,
                                                                 folder: Path) -> None:
    a, b, c = read_target_scenarios(folder / "targets.toml", tiny)
    assert (a.region, b.region, c.output) == ("embedded_prone", "typical", "Trust")
    assert b.values["local_match_requirement"] == 0.5
    defaults = {"x": 1.0, "y": 2.0}
    assert same_values({"x": 1.0}, {"y": 2.0}, defaults)
    assert same_values({"x": 3.0}, {"x": 3.0 * (1 + 1e-12)}, defaults)
    assert not same_values({"x": 3.0}, {}, defaults)
    assert not same_values({"x": 1.0, "y": 2.5}, {"x": 1.0}, defaults)


@pytest.mark.parametrize(("design", "targets", "pattern"), [
    ({"targets": "missing.toml"}, None, r"\[design.targets\] targets file .*missing.toml: "
     r"not found \(give the calibration targets"),
    ({"targets": "targets.toml"}, "[[targets]]\nname = 'a'\nregion = 'rural'\n",
     r"\[design.targets\] targets file .*target 'a': its scenario cannot be set in "
     r"tiny_network.mdl .*rural"),
    ({"targets": "targets.toml"}, "[calibration]\n", r"has no \[\[targets\]\]"),
    ({"targets": "targets.toml"}, "[[targets]\n", r"cannot be read as TOML"),
    ({"method": "lhs", "n": 4, "targets": "targets.toml"}, None,
     r"\[design.targets\] is a setting of a sets design .* not of a lhs design"),
])
def test_bad_targets_keys_are_named(tiny: Model, folder: Path, design: dict[str, Any],
                                    targets: str | None, pattern: str) -> None:
    if targets is not None:
        (folder / "targets.toml").write_text(targets, encoding="utf-8")
    spec = _spec(**design)
    if design.get("method") == "lhs":
        del spec["design"]["file"]
        spec["factors"] = [{"name": "attrition_rate", "lower": 0.1, "upper": 0.5}]
    with pytest.raises(ExperimentError, match=pattern):
        parse_experiment(spec, path=folder / "study.toml", model=tiny)
