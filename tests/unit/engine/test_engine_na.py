"""Vensim's ``:NA:`` and elements left undefined: NaN as in PySD, and not a failed run; an
infinite value, or a NaN the model did not ask for, still fails the run."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import DATA

from sdnet.engine import compile_model
from sdnet.errors import UnsupportedConstructError

NA = DATA / "na.mdl"
NA_COLUMNS = ["Input", "Level", "Part[A]", "Part[B]", "Part[C]"]


def test_na_and_undefined_elements_are_nan_as_in_pysd(pysd_runner) -> None:
    model = compile_model(NA)
    assert model.na_columns == {*NA_COLUMNS, "Rate"}
    sim = model.simulate({}, n_runs=2, variables=NA_COLUMNS, backend="auto")
    with warnings.catch_warnings():  # PySD warns about Part's incomplete definition
        warnings.simplefilter("ignore")
        frame = pysd_runner(NA)({})
    for column in NA_COLUMNS:
        np.testing.assert_array_equal(sim.outputs[column][1], frame[column].to_numpy(), column)
    # :NA: after year 2, integrated by Level from the step after it
    assert np.isnan(sim.outputs["Input"][0][3:]).all() and sim.outputs["Input"][0][2] == 2.0
    assert sim.outputs["Level"][0][2] == 1.5 and np.isnan(sim.outputs["Level"][0][3])
    assert np.isnan(sim.outputs["Part[B]"][0]).all()
    assert sim.ok.all() and sim.failures == []
    # the numba kernel counts a NaN state as a failure: the numpy backend runs this model
    assert "may be :NA: (Level)" in str(model.kernel_problem())


def test_inf_from_na_and_nan_without_na_still_fail_the_run() -> None:
    model = compile_model(NA)
    rate = model.simulate({}, n_runs=1, variables=["Input", "Rate"])
    assert rate.failures == [(0, "Rate", 1.0)]  # EXP overflows at year 1
    root = model.simulate({}, n_runs=1, variables=["Root"])
    assert root.failures == [(0, "Root", 0.0)]  # SQRT of a negative number: no :NA: there


def test_runs_of_both_engines_keep_na(tmp_path: Path) -> None:
    """``sdnet run``'s path: neither engine refuses a run whose NaN is the model's :NA:."""
    from sdnet.model import load_model
    from sdnet.runner import run_single

    with warnings.catch_warnings():  # PySD warns about Part's incomplete definition
        warnings.simplefilter("ignore")
        model = load_model(NA)
        runs = {engine: run_single(model, engine=engine, variables=["Input", "Part[B]"])
                for engine in ("vector", "pysd")}
    for result in runs.values():
        assert np.isnan(result.frame["Input"].to_numpy()[3:]).all()
        assert np.isnan(result.frame["Part[B]"].to_numpy()).all()


def test_a_partly_defined_constant_names_its_undefined_elements(tmp_path: Path) -> None:
    path = tmp_path / "partial.mdl"
    path.write_text(
        "{UTF-8}\nElems:\n\tA, B, C, D\n\t~\t\n\t~\t\n\t|\n\n"
        "Weight[A]=\n\t1\n\t~\t\n\t~\t\n\t|\n\nWeight[C]=\n\t2\n\t~\t\n\t~\t\n\t|\n\n"
        "Total=\n\tSUM(Weight[Elems!])\n\t~\t\n\t~\t\n\t|\n\n"
        + "".join(f"{name}=\n\t{value}\n\t~\t\n\t~\t\n\t|\n\n" for name, value in (
            ("FINAL TIME", 1), ("INITIAL TIME", 0), ("SAVEPER", 1), ("TIME STEP", 1)))
    )
    with pytest.raises(UnsupportedConstructError) as raised:
        compile_model(path)
    assert raised.value.variable == "Weight"
    assert "defined for only some elements (Weight[B], Weight[D] undefined" in str(raised.value)
