"""A model the vectorized engine cannot compile falls back to PySD (worker processes) with one
warning; ``engine="vector"`` fails clearly instead."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sdnet
from sdnet.errors import SdnetWarning, UnsupportedConstructError
from sdnet.runner import choose_engine, run_ensemble, run_single

MODEL = Path(__file__).resolve().parents[1] / "data" / "refused.mdl"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> sdnet.Model:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SDNET_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield sdnet.load_model(MODEL)


def test_auto_falls_back_to_pysd_with_one_warning(model: sdnet.Model) -> None:
    capacities = [1.0, 3.5]
    with pytest.warns(SdnetWarning,
                      match=r"does not support the function RANDOM_UNIFORM \(in 'Shipments'\)"):
        result = run_ensemble(model, {"capacity": capacities}, variables=["Total Shipped"],
                              progress=False)
    assert result.provenance.spec["engine"] == "pysd"
    assert result.ok.all()
    shipped = result.outputs("Total Shipped").to_numpy()
    for run, capacity in enumerate(capacities):  # each run equals PySD's own run
        expected = model.run({"capacity": capacity}, variables=["Total Shipped"])["Total Shipped"]
        np.testing.assert_array_equal(shipped[run], expected.to_numpy())
    # the capacity changes the result, so the runs were not all the same run
    assert shipped[0, -1] != shipped[1, -1]


def test_vector_engine_forced_fails_naming_the_construct(model: sdnet.Model) -> None:
    with pytest.raises(UnsupportedConstructError, match="RANDOM_UNIFORM"):
        run_ensemble(model, {"capacity": [1.0, 2.0]}, engine="vector", progress=False)
    with pytest.raises(UnsupportedConstructError, match="'Shipments'"):
        run_single(model, engine="vector")


def test_choose_engine(model: sdnet.Model) -> None:
    assert choose_engine(model, "pysd") == "pysd"
    with pytest.warns(SdnetWarning):
        assert choose_engine(model, "auto") == "pysd"


def test_a_study_falls_back_with_one_warning_and_vector_fails_first(
        model: sdnet.Model, tmp_path: Path) -> None:
    """A study of a model the engine cannot compile runs on PySD with one warning (every run
    equal to PySD's own), its integration check at half the step only; engine="vector"
    fails before any run and writes nothing."""
    import pandas as pd

    from sdnet.experiment import parse_experiment, run_experiment

    study = parse_experiment({
        "experiment": {"name": "alloc", "model": str(MODEL), "seed": 1},
        "design": {"method": "lhs", "n": 2}, "factors": [{"name": "capacity"}],
        "analysis": {"integration_check": {"n": 1}}})
    with pytest.warns(SdnetWarning, match="does not support the function RANDOM_UNIFORM") as caught:
        result = run_experiment(study, out=tmp_path / "study", progress=False)
    assert sum("does not support" in str(w.message) for w in caught) == 1
    assert result.summary["skipped"][-1].startswith("integration check with RK4: PySD runs")
    factors = pd.read_csv(tmp_path / "study" / "factors.csv")
    metrics = pd.read_csv(tmp_path / "study" / "metrics.csv")
    for capacity, shipped in zip(factors["capacity"], metrics["final_shippednorth"],
                                 strict=True):
        own = model.run({"capacity": capacity}, variables=["Shipped"])["Shipped[North]"]
        assert shipped == own.iloc[-1]
    check = pd.read_csv(tmp_path / "study" / "analyses" / "integration_check.csv")
    assert check["max_change_rk4"].isna().all() and check["max_change_half_dt"].notna().all()
    with pytest.raises(UnsupportedConstructError, match="RANDOM_UNIFORM"):
        run_experiment(study, out=tmp_path / "forced", progress=False, engine="vector")
    assert not (tmp_path / "forced").exists()
