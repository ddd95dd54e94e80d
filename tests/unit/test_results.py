"""Results are frozen data: lookup by either spelling, states, ensembles saved and loaded."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sdnet.errors import InvalidValueError, ResultFileError, SdnetError, UnknownVariableError
from sdnet.results import (
    EnsembleResult,
    Provenance,
    RunResult,
    State,
    _git_commit,
    split_column,
)

TIMES = np.linspace(0.0, 2.0, 5)


def _run_result(*, with_stocks: bool = True) -> RunResult:
    frame = pd.DataFrame(
        {
            "Members[Micro]": TIMES * 2.0,
            "Members[Established]": TIMES * 3.0,
            "Total Members": TIMES * 5.0,
            "Trust": np.exp(-TIMES),
        },
        index=pd.Index(TIMES, name="time"),
    )
    stocks = frame[["Members[Micro]", "Members[Established]", "Trust"]]
    return RunResult(
        frame=frame,
        units={"Members": "firm", "Total Members": "firm", "Trust": "dmnl"},
        params={"push_amount": 300_000.0},
        provenance=Provenance.collect("m.mdl", "ab" * 32, spec={"region": "typical"}),
        stock_frame=stocks if with_stocks else None,
    )


def test_split_column() -> None:
    assert split_column("Members[Micro]") == ("Members", "Micro")
    assert split_column("Stock[A1,B2]") == ("Stock", "A1,B2")
    assert split_column("Trust") == ("Trust", None)


def test_provenance_round_trip_and_versions() -> None:
    provenance = Provenance.collect("model.mdl", "0" * 64, seed=7, spec={"n": np.int64(3)})
    data = json.loads(json.dumps(provenance.to_dict()))
    assert data["spec"] == {"n": 3}
    assert Provenance.from_dict(data) == dataclasses.replace(provenance, spec={"n": 3})
    for name in ("sdnet", "pysd", "numpy", "scipy", "SALib", "pandas", "xarray", "python"):
        assert provenance.versions[name]
    assert provenance.versions["numpy"] == np.__version__
    assert provenance.created.endswith("+00:00")


def test_provenance_git_commit() -> None:
    import sdnet

    # The commit is that of the checkout sdnet is imported from: an editable install of a
    # clone records it, a wheel installed into site-packages has none to record.
    root = Path(sdnet.__file__).resolve().parents[1]
    if not (root / ".git").exists():
        _git_commit.cache_clear()
        assert Provenance.collect("m.mdl", "0" * 64).git_commit is None
        return

    def head() -> str:
        return subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()

    before = head()
    _git_commit.cache_clear()  # other commits may have landed since it was first asked
    commit = Provenance.collect("m.mdl", "0" * 64).git_commit
    assert commit is not None
    assert commit.removesuffix("+dirty") in {before, head()}


def test_provenance_is_frozen() -> None:
    provenance = Provenance("m.mdl", "0" * 64)
    with pytest.raises(dataclasses.FrozenInstanceError):
        provenance.seed = 3  # type: ignore[misc]


def test_lookup_by_either_spelling() -> None:
    result = _run_result()
    pd.testing.assert_series_equal(result["Total Members"], result["total_members"])
    np.testing.assert_allclose(result["Total Members"].to_numpy(), TIMES * 5.0)
    assert isinstance(result["Members[Micro]"], pd.Series)
    assert isinstance(result["members"], pd.DataFrame)
    assert list(result["Members"].columns) == ["Members[Micro]", "Members[Established]"]
    assert "trust" in result
    assert "nope" not in result
    assert result.units_of("Members[Micro]") == "firm"
    assert result.units_of("trust") == "dmnl"


def test_unknown_variable_names_close_matches() -> None:
    result = _run_result()
    with pytest.raises(UnknownVariableError) as caught:
        result["Totl Members"]
    assert str(caught.value) == (
        "unknown variable 'Totl Members' of this result; did you mean 'Total Members', "
        "'Members'?"
    )
    with pytest.raises(UnknownVariableError) as caught_python:
        result["totl_members"]
    assert str(caught_python.value) == (
        "unknown variable 'totl_members' of this result; did you mean 'total_members', "
        "'members'?"
    )


def test_run_result_is_frozen_and_copies_its_frame() -> None:
    result = _run_result()
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.frame = pd.DataFrame()  # type: ignore[misc]
    copy = result.to_frame()
    copy.iloc[0, 0] = 99.0
    assert result.frame.iloc[0, 0] == 0.0
    with pytest.raises(TypeError):
        result.params["push_amount"] = 1.0  # type: ignore[index]


def test_to_xarray() -> None:
    result = _run_result()
    dataset = result.to_xarray()
    assert dataset["outputs"].dims == ("time", "variable")
    assert list(dataset["units"].to_numpy()) == ["firm", "firm", "firm", "dmnl"]
    np.testing.assert_allclose(
        dataset["outputs"].sel(variable="Trust").to_numpy(), np.exp(-TIMES)
    )
    assert json.loads(dataset.attrs["params"]) == {"push_amount": 300_000.0}


def test_state_at_collects_every_stock() -> None:
    result = _run_result()
    state = result.state_at(1.0)
    assert state.time == 1.0
    assert state["Members"] == {"Micro": 2.0, "Established": 3.0}
    assert state["trust"] == pytest.approx(np.exp(-1.0))
    assert json.loads(json.dumps(state.to_dict())) == State.from_dict(state.to_dict()).to_dict()


def test_state_at_unsaved_time() -> None:
    result = _run_result()
    with pytest.raises(InvalidValueError) as caught:
        result.state_at(0.3)
    assert str(caught.value) == (
        "invalid value for 'time': 0.3 (expected one of the saved times, from 0 to 2 every 0.5)"
    )


def test_state_at_needs_stocks() -> None:
    with pytest.raises(SdnetError) as caught:
        _run_result(with_stocks=False).state_at(1.0)
    assert str(caught.value) == (
        "this result does not record the stocks' values, so it cannot give a state; "
        "use a result of Model.run"
    )


def test_state_is_frozen_and_rejects_nonfinite_time() -> None:
    state = State(time=2, values={"Trust": 0.5, "Members": {"Micro": 1.0}})
    with pytest.raises(TypeError):
        state.values["Trust"] = 1.0  # type: ignore[index]
    with pytest.raises(TypeError):
        state.values["Members"]["Micro"] = 2.0  # type: ignore[index]
    with pytest.raises(InvalidValueError) as caught:
        State(time=float("nan"), values={})
    assert str(caught.value) == "invalid value for 'time': nan (expected a finite number)"
    with pytest.raises(UnknownVariableError) as caught_name:
        state["Trusts"]
    assert str(caught_name.value) == (
        "unknown stock 'Trusts' of this state; did you mean 'Trust'?"
    )


def _ensemble() -> EnsembleResult:
    rng = np.random.default_rng(1)
    n_runs = 4
    members = rng.uniform(0, 10, size=(n_runs, TIMES.size))
    trust = rng.uniform(0, 1, size=(n_runs, TIMES.size))
    trust[2, 3:] = np.nan
    factors = pd.DataFrame({"push_amount": [1.0, 2.0, 3.0, 4.0], "region": list("abcd")})
    return EnsembleResult.from_outputs(
        TIMES,
        {"Members[Micro]": members, "Trust": trust},
        units={"Members": "firm", "Trust": "dmnl"},
        factors=factors,
        status=np.array([True, True, False, True]),
        failures=[(2, "Trust", TIMES[3])],
        provenance=Provenance.collect("m.mdl", "1" * 64, seed=11),
    )


def test_ensemble_outputs_ok_and_failures() -> None:
    ensemble = _ensemble()
    assert ensemble.dataset["outputs"].dims == ("run", "time", "variable")
    assert ensemble.outputs("trust").dims == ("run", "time")
    assert ensemble.outputs("Members").dims == ("run", "time", "variable")
    assert list(ensemble.ok) == [True, True, False, True]
    assert list(ensemble.dataset["units"].to_numpy()) == ["firm", "dmnl"]
    assert ensemble.dataset["failure"].to_numpy()[2] == "Trust non-finite at time 1.5"
    assert ensemble.dataset["failure"].to_numpy()[0] == ""
    with pytest.raises(UnknownVariableError) as caught:
        ensemble.outputs("Trsut")
    assert str(caught.value) == "unknown variable 'Trsut' of this result; did you mean 'Trust'?"


def test_ensemble_to_frame_is_tidy() -> None:
    ensemble = _ensemble()
    frame = ensemble.to_frame()
    assert list(frame.columns) == ["run", "time", "variable", "value", "status"]
    assert len(frame) == 4 * TIMES.size * 2
    row = frame[(frame.run == 1) & (frame.time == TIMES[2]) & (frame.variable == "Trust")]
    assert row["value"].item() == ensemble.outputs("Trust").to_numpy()[1, 2]
    assert set(frame[frame.run == 2]["status"]) == {"failed"}


def test_ensemble_save_load_round_trip(tmp_path) -> None:
    ensemble = _ensemble()
    path = ensemble.save(tmp_path / "sub" / "ensemble.nc")
    loaded = EnsembleResult.load(path)
    np.testing.assert_array_equal(
        loaded.dataset["outputs"].to_numpy(), ensemble.dataset["outputs"].to_numpy()
    )
    assert list(loaded.dataset["status"].to_numpy()) == list(ensemble.dataset["status"].to_numpy())
    assert list(loaded.dataset["failure"].to_numpy()) == list(
        ensemble.dataset["failure"].to_numpy()
    )
    assert list(loaded.variables) == ["Members[Micro]", "Trust"]
    assert list(loaded.dataset["units"].to_numpy()) == ["firm", "dmnl"]
    pd.testing.assert_frame_equal(loaded.factors, ensemble.factors, check_dtype=False)
    assert loaded.provenance == ensemble.provenance


def test_ensemble_rejects_malformed_dataset() -> None:
    ensemble = _ensemble()
    with pytest.raises(SdnetError) as caught:
        EnsembleResult(dataset=ensemble.dataset.drop_vars("status"), factors=ensemble.factors)
    assert str(caught.value) == "an ensemble dataset needs the variables status"
    with pytest.raises(SdnetError) as caught_rows:
        EnsembleResult(dataset=ensemble.dataset, factors=ensemble.factors.iloc[:2])
    assert str(caught_rows.value) == "the factor table has 2 rows for 4 runs"


def test_load_missing_file(tmp_path) -> None:
    with pytest.raises(SdnetError) as caught:
        EnsembleResult.load(tmp_path / "none.nc")
    assert str(caught.value) == f"ensemble file not found: {tmp_path / 'none.nc'}"


def test_load_a_file_that_is_not_an_ensemble_says_so(tmp_path: Path) -> None:
    """Issue 11, defect 10: a non-NetCDF or half-written file raised OSError or KeyError."""
    import xarray as xr

    whole = _ensemble().save(tmp_path / "ensemble.nc").read_bytes()
    half = tmp_path / "half.nc"
    half.write_bytes(whole[: len(whole) // 2])
    text = tmp_path / "text.nc"
    text.write_text("run,value\n0,1\n")
    for path in (half, text):
        with pytest.raises(ResultFileError) as caught:
            EnsembleResult.load(path)
        assert str(caught.value).startswith(
            f"cannot read ensemble file {path}: it is not a NetCDF file or was cut short (")
        assert str(caught.value).endswith("); write it again (`sdnet ensemble`, "
                                          "EnsembleResult.save)")
    other = tmp_path / "other.nc"
    xr.Dataset({"a": ("x", [1.0])}).to_netcdf(other, engine="netcdf4")
    with pytest.raises(ResultFileError) as caught:
        EnsembleResult.load(other)
    assert str(caught.value) == (
        f"{other} is a NetCDF file but not an sdnet ensemble (KeyError: \"no 'outputs' "
        "variable\"); give the file `sdnet ensemble` or EnsembleResult.save wrote")
    with pytest.raises(ResultFileError, match=r"is a folder, not an ensemble file"):
        EnsembleResult.load(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ensemble.nc", "half.nc", "other.nc", "text.nc"]  # save left no partial file
