"""PySD translates and runs flexnet without warnings of its own; the engine compiles it."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pysd

from sdnet.engine import compile_model

FLEXNET = Path(__file__).resolve().parents[2] / "models" / "flexnet" / "flexnet.mdl"

#: Warnings PySD 3.14 raises whatever the model (pandas and chardet deprecations in its code).
_PYSD_OWN = (
    "The inplace keyword in DataFrame.set_index is deprecated",
    "chardet.universaldetector is deprecated",
)


def test_pysd_translates_and_runs_flexnet_without_warnings(tmp_path: Path) -> None:
    copy = tmp_path / FLEXNET.name  # read_vensim writes the .py beside the file it reads
    shutil.copyfile(FLEXNET, copy)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = pysd.read_vensim(str(copy))
        output = model.run(return_columns=["Total Members", "Trust"])
    about_the_model = [
        f"{w.category.__name__}: {w.message}"
        for w in caught
        if not any(text in str(w.message) for text in _PYSD_OWN)
    ]
    assert about_the_model == []
    assert output.index[-1] == 30.0
    assert not output.isna().to_numpy().any()


def test_the_engine_compiles_flexnet_with_every_stock() -> None:
    compiled = compile_model(FLEXNET)
    assert {"Trust", "Embeddedness", "Network Funds", "Micro Members"} <= set(compiled.stocks)
    assert "Total Members" in compiled.outputs


def test_every_loop_of_the_design_is_named_in_the_equations() -> None:
    import sdnet

    loops = sdnet.load_model(FLEXNET).loops
    assert list(loops["loop"]) == [
        "R1", "R2", "R3", "R4", "R5", "B1", "B2", "B3", "B4", "B5", "S1"
    ]
    assert loops.set_index("loop").loc["S1", "name"] == "shifting the burden"
