"""Targets files: parsing, reducers, and errors that name the file, key, value and what is valid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sdnet.errors import TargetsError
from sdnet.model import Model, load_model
from sdnet.targets import Target, load_targets

DATA = Path(__file__).resolve().parent.parent / "data"

GOOD = """
[calibration]
description = "test"

[run]
final_time = 15

[[targets]]
name = "adopters_3"
output = "adopters"
time = 3
observed = 150
sd = 10
discrepancy = 5
source = "a citation"
"""


@pytest.fixture(scope="module")
def bass(cache: Path) -> Model:
    return load_model(DATA / "bass_diffusion.mdl")


@pytest.fixture(scope="module")
def network(cache: Path) -> Model:
    return load_model(DATA / "tiny_network.mdl")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "targets.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_file(bass: Model, tmp_path: Path) -> None:
    targets = load_targets(_write(tmp_path, GOOD), model=bass)
    (target,) = targets.targets
    assert target.output == "Adopters"  # the Vensim name, whatever spelling was given
    assert (target.reducer, target.time) == ("value_at", 3.0)
    assert target.variance == 10**2 + 5**2
    assert targets.run["final_time"] == 15
    assert targets.vary is None
    assert targets.sha256 is not None and len(targets.sha256) == 64
    assert targets.to_frame().loc[0, "reads"] == "Adopters at t = 3"


def test_reducers_read_the_right_numbers() -> None:
    times = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    values = np.array([[0.0, 2.0, 6.0, 4.0, 1.0]])

    def target(**kwargs: object) -> Target:
        return Target(name="t", output="X", observed=0.0, sd=1.0, source="s", **kwargs)  # type: ignore[arg-type]

    assert target(reducer="value_at", time=1.5).reduce(values, times)[0] == 4.0
    assert target(reducer="max", window=(0.0, 2.0)).reduce(values, times)[0] == 6.0
    assert target(reducer="min", window=(2.0, 4.0)).reduce(values, times)[0] == 1.0
    assert target(reducer="final").reduce(values, times)[0] == 1.0
    assert target(reducer="ratio", time=4.0, relative_to=2.0).reduce(values, times)[0] == \
        pytest.approx(1 / 6)
    # trapezoid mean over [0, 2]: (0 + 2) / 2 + (2 + 6) / 2 = 5, over 2 years
    assert target(reducer="mean", window=(0.0, 2.0)).reduce(values, times)[0] == 2.5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("sd = 10", "sd = 0"), r"\[targets.adopters_3.sd\] must be a positive number, not 0"),
        (("sd = 10", 'sd = "ten"'), r"\[targets.adopters_3.sd\] must be a number, not 'ten'"),
        (("discrepancy = 5", "discrepancy = -1"),
         r"\[targets.adopters_3.discrepancy\] must be at least 0, not -1"),
        (("time = 3", "tme = 3"),
         r"\[targets.adopters_3.tme\] unknown key 'tme'; did you mean 'time'\?"),
        (('output = "adopters"', 'output = "adoptrs"'),
         r"\[targets.adopters_3.output\] unknown variable 'adoptrs'.*did you mean 'adopters'"),
        (('source = "a citation"\n', ""), r"\[targets.adopters_3.source\] missing key 'source'"),
        (("time = 3", "time = 30"),
         r"\[targets.adopters_3.time\] 30 is outside the simulated time \[0, 15\]"),
        (("time = 3", 'reducer = "median"\ntime = 3'),
         r"\[targets.adopters_3.reducer\] unknown reducer 'median'.*valid: value_at, mean, max"),
        (("time = 3", 'reducer = "max"\ntime = 3'),
         r"\[targets.adopters_3.window\] missing key 'window': reducer 'max' needs window"),
        (("time = 3", "window = [5, 2]"),
         r"\[targets.adopters_3.window\] must be \[start, end\] with start < end, not \[5, 2\]"),
        (("time = 3", 'reducer = "final"\ntime = 3'),
         r"\[targets.adopters_3.time\] 'time' does not apply to reducer 'final'"),
        (("time = 3\n", ""), r"\[targets.adopters_3.reducer\] say when to read the output"),
        (('name = "adopters_3"', 'name = "adopters 3"'),
         r"\[targets.#1.name\] must be a Python identifier"),
        (('description = "test"', 'vary = ["innovation_coeficient"]'),
         r"\[calibration.vary\] unknown parameter 'innovation_coeficient' of "
         r"bass_diffusion.mdl; did you mean 'innovation_coefficient'"),
        (('description = "test"', 'vary = ["final_time"]'),
         r"\[calibration.vary\] 'final_time' is a simulation control; set it in \[run\]"),
        (("final_time = 15", "final_time = -1"), r"\[run.final_time\] must be a positive number"),
        (("[run]", "[runs]"), r"\[runs\] unknown key 'runs'; did you mean 'run'\?"),
        (('source = "a citation"', 'source = "a citation"\nset = { market_sise = 10 }'),
         r"\[targets.adopters_3.set.market_sise\] unknown parameter 'market_sise'.*did you "
         r"mean 'market_size'"),
        (('source = "a citation"', 'source = "a citation"\nregion = "tipical"'),
         r"\[targets.adopters_3.region\] unknown preset 'tipical'; valid presets"),
        (('source = "a citation"', 'source = "a citation"\nregion = "typical"'),
         # presets are the model card's: bass_diffusion.mdl has none
         r"\[targets.adopters_3.region\] unknown preset 'typical'; valid presets: none"),
        (('source = "a citation"', 'source = "a citation"\npush = { amount = 1 }'),
         r"\[targets.adopters_3.push\] missing start, duration"),
        (('source = "a citation"',
          'source = "a citation"\npush = { amount = -1, start = 1, duration = 2 }'),
         r"\[targets.adopters_3.push.amount\] push amount must not be negative"),
    ],
)
def test_bad_targets_name_file_key_value_and_what_is_valid(
    bass: Model, tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    old, new = change
    assert old in GOOD
    path = _write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(TargetsError, match=r"targets\.toml: " + message):
        load_targets(path, model=bass)


def test_duplicate_names_and_no_targets(bass: Model, tmp_path: Path) -> None:
    with pytest.raises(TargetsError, match=r"\[targets.name\] target names must be unique; "
                                           r"repeated: adopters_3"):
        load_targets(_write(tmp_path, GOOD + GOOD.split("[run]\nfinal_time = 15\n")[1]),
                     model=bass)
    with pytest.raises(TargetsError, match=r"\[targets\] no targets: add at least one"):
        load_targets(_write(tmp_path, "[run]\nfinal_time = 15\n"), model=bass)


def test_a_target_may_not_set_a_varied_parameter(bass: Model, tmp_path: Path) -> None:
    text = GOOD.replace('description = "test"', 'vary = ["market_size"]').replace(
        'source = "a citation"', 'source = "a citation"\nset = { market_size = 500 }')
    with pytest.raises(TargetsError, match=r"\[targets.adopters_3.set\] sets market_size, which "
                                           r"\[calibration\] vary samples"):
        load_targets(_write(tmp_path, text), model=bass)


def test_a_subscripted_output_must_name_one_element(network: Model, tmp_path: Path) -> None:
    text = GOOD.replace('output = "adopters"', 'output = "Members"').replace(
        "final_time = 15", "final_time = 10")
    with pytest.raises(TargetsError, match=r"\[targets.adopters_3.output\] 'Members' has 2 "
                                           r"elements; name one of Members\[Micro\], "
                                           r"Members\[Established\]"):
        load_targets(_write(tmp_path, text), model=network)
    element = load_targets(_write(tmp_path, text.replace('"Members"', '"Members[Micro]"')),
                           model=network)
    assert element.targets[0].output == "Members[Micro]"


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(TargetsError, match="targets file not found"):
        load_targets(tmp_path / "missing.toml")
    with pytest.raises(TargetsError, match="is a folder, not a targets file"):
        load_targets(tmp_path)
    with pytest.raises(TargetsError, match=r"targets\.toml: not valid TOML"):
        load_targets(_write(tmp_path, "[[targets]\n"))
