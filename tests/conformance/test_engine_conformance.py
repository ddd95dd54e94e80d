"""Every model of the public SD test-model suite runs on the vectorized engine and matches both
Vensim's canonical output and PySD's own run of the same file.

Tolerances:

* against Vensim's canonical output: ``|engine - vensim| <= 1e-5 + 1e-5 * |vensim|``, the
  default of PySD's own integration tests (``pysd.tools.benchmarking.assert_allclose``).
  Vensim writes its outputs with six significant digits, so no tighter check is meaningful.
* against PySD: relative difference ``<= 1e-10`` (absolute ``1e-12`` near zero). Both sides
  compute the same float64 operations in the same order; only the last bits of library
  functions (``exp``, ``sum`` order) may differ.

The models are read from ``../shared/conformance`` (next to the repository) and never copied into
it; PySD translates a copy in a temporary folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from sdnet.engine import compile_model
from sdnet.errors import UnsupportedConstructError

CONFORMANCE = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"

# model folder -> why the engine cannot run it (the test checks that it says so at compile time)
UNSUPPORTED: dict[str, str] = {}

# model folder -> (rtol, atol) where Vensim's output differs from PySD's by more than the default
CANONICAL_TOLERANCE: dict[str, tuple[float, float]] = {}


def _models() -> list[Path]:
    if not CONFORMANCE.is_dir():
        return []
    return sorted(p for p in CONFORMANCE.iterdir() if p.is_dir() and list(p.glob("*.mdl")))


MODELS = _models()
needs_suite = pytest.mark.skipif(
    not MODELS, reason=f"conformance models not found at {CONFORMANCE} (../shared/conformance)"
)


def _ids(path: Path) -> str:
    return path.name


def _model_file(folder: Path) -> Path:
    return next(iter(sorted(folder.glob("*.mdl"))))


def load_canonical(folder: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Read ``output.csv``/``output.tab``: times and one array per column (NaN where blank)."""
    files = sorted(folder.glob("output.*"))
    text = files[0].read_text(encoding="utf-8", errors="replace")
    sep = "\t" if files[0].suffix == ".tab" else ","
    rows = [line.split(sep) for line in text.splitlines() if line.strip()]
    header = [h.strip().strip('"') for h in rows[0]]
    data = np.full((len(rows) - 1, len(header)), np.nan)
    for i, row in enumerate(rows[1:]):
        for j, cell in enumerate(row[: len(header)]):
            cell = cell.strip()
            if cell:
                data[i, j] = float(cell)
    columns = {h: data[:, j] for j, h in enumerate(header)}
    time_key = next(h for h in header if h.lower() == "time")
    return columns.pop(time_key), columns


def _normal(name: str) -> str:
    return "".join(name.lower().split()).replace("_", "")


def run_pysd(model_file: Path, tmp_path: Path):
    import pysd

    copy = tmp_path / model_file.name
    shutil.copy(model_file, copy)
    model = pysd.read_vensim(str(copy))
    return model.run(progress=False)


@needs_suite
def test_unsupported_models_fail_at_compile_time(tmp_path, monkeypatch) -> None:
    """Each model listed in UNSUPPORTED exists and fails to compile with the documented error
    (the list is empty while the engine supports the whole folder)."""
    monkeypatch.setenv("SDNET_CACHE_DIR", str(tmp_path / "cache"))
    folders = {m.name: m for m in MODELS}
    for name, reason in UNSUPPORTED.items():
        assert name in folders, f"{name} is listed as unsupported but is not in {CONFORMANCE}"
        with pytest.raises(UnsupportedConstructError) as info:
            compile_model(_model_file(folders[name]))
        assert "PySD can still run this model" in str(info.value), reason


SUPPORTED = [m for m in MODELS if m.name not in UNSUPPORTED]


@needs_suite
@pytest.mark.parametrize("folder", SUPPORTED, ids=_ids)
def test_engine_matches_vensim_canonical_output(folder: Path, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SDNET_CACHE_DIR", str(tmp_path / "cache"))
    model = compile_model(_model_file(folder))
    sim = model.simulate({}, n_runs=3)
    times, canonical = load_canonical(folder)
    engine_cols = {_normal(c): c for c in sim.outputs}
    rtol, atol = CANONICAL_TOLERANCE.get(folder.name, (1e-5, 1e-5))
    compared = 0
    for column, expected in canonical.items():
        ours = engine_cols.get(_normal(column))
        if ours is None:
            continue
        index = np.searchsorted(sim.times, times)
        assert np.allclose(sim.times[index], times), f"{folder.name}: times differ"
        values = sim.outputs[ours][:, index]
        mask = ~np.isnan(expected)
        np.testing.assert_allclose(
            values[0, mask], expected[mask], rtol=rtol, atol=atol, err_msg=f"{column}"
        )
        # every run of the ensemble is the same run here
        np.testing.assert_array_equal(values[1], values[0])
        compared += 1
    assert compared > 0, f"{folder.name}: no common columns with the canonical output"
    assert sim.ok.all()


@needs_suite
@pytest.mark.parametrize("folder", SUPPORTED, ids=_ids)
def test_engine_matches_pysd(folder: Path, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SDNET_CACHE_DIR", str(tmp_path / "cache"))
    model = compile_model(_model_file(folder))
    sim = model.simulate({}, n_runs=2)
    frame = run_pysd(_model_file(folder), tmp_path)
    np.testing.assert_allclose(sim.times, frame.index.to_numpy(dtype=float), rtol=0, atol=1e-12)
    assert set(frame.columns) == set(sim.outputs)
    for column in frame.columns:
        expected = frame[column].to_numpy(dtype=float)
        np.testing.assert_allclose(
            sim.outputs[column][0], expected, rtol=1e-10, atol=1e-12, err_msg=column
        )


@needs_suite
@pytest.mark.parametrize("folder", SUPPORTED, ids=_ids)
def test_one_run_equals_a_run_of_an_ensemble(folder: Path, tmp_path, monkeypatch) -> None:
    # a single run computes with numpy scalars, an ensemble with arrays
    monkeypatch.setenv("SDNET_CACHE_DIR", str(tmp_path / "cache"))
    model = compile_model(_model_file(folder))
    ensemble = model.simulate({}, n_runs=2)
    single = model.simulate({}, n_runs=1)
    np.testing.assert_array_equal(single.times, ensemble.times)
    assert single.outputs.keys() == ensemble.outputs.keys()
    for column, array in ensemble.outputs.items():
        assert single.outputs[column].shape == (1, len(ensemble.times)), column
        np.testing.assert_array_equal(single.outputs[column][0], array[0], err_msg=column)
    assert single.ok.all()
