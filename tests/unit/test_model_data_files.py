"""Models that read data files beside them (GET DIRECT/XLS): both engines find the files in the
model's folder, although PySD's translation lives in the cache, and nothing is written there."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import sdnet
from sdnet.engine import compile_model
from sdnet.errors import ModelFileError

MODEL = """{UTF-8}
Price=
\tGET DIRECT CONSTANTS('prices.csv', ',', 'B2')
\t~\t$
\t~\tRead from a file beside the model.
\t|

Revenue= INTEG (
\tPrice,
\t\t0)
\t~\t$
\t~\t\t|

FINAL TIME  = 3
\t~\tMonth
\t~\t\t|

INITIAL TIME  = 0
\t~\tMonth
\t~\t\t|

SAVEPER  = 1
\t~\tMonth
\t~\t\t|

TIME STEP  = 1
\t~\tMonth
\t~\t\t|
"""


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SDNET_CACHE_DIR", str(tmp_path / "cache"))
    model = tmp_path / "shop"
    model.mkdir()
    (model / "revenue.mdl").write_text(MODEL, encoding="utf-8")
    (model / "prices.csv").write_text("name,value\nprice,2.5\n", encoding="utf-8")
    return model


def test_both_engines_read_the_data_beside_the_model(folder: Path) -> None:
    before = sorted(p.name for p in folder.iterdir())
    pysd_run = sdnet.load_model(folder / "revenue.mdl").run()
    np.testing.assert_array_equal(pysd_run["Revenue"].to_numpy(), [0.0, 2.5, 5.0, 7.5])
    sim = compile_model(folder / "revenue.mdl").simulate({}, n_runs=2)
    np.testing.assert_array_equal(sim.outputs["Revenue"], [[0.0, 2.5, 5.0, 7.5]] * 2)
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written beside it


def test_a_missing_data_file_is_named(folder: Path) -> None:
    (folder / "prices.csv").unlink()
    with pytest.raises(ModelFileError, match=r"'Price' from .*prices\.csv"):
        compile_model(folder / "revenue.mdl").simulate({}, n_runs=1)
