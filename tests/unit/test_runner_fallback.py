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
