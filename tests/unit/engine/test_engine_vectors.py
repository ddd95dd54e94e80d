"""VECTOR SELECT/SORT ORDER/RANK/REORDER and data variables read from data files, on the engine
against PySD's runs of the same tiny models (``data/vectors.mdl``, ``data/from_data.mdl``)."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from sdnet.engine import compile_model
from sdnet.errors import EngineInputError, ModelFileError, UnsupportedConstructError

DATA = Path(__file__).resolve().parent / "data"
VECTORS = DATA / "vectors.mdl"


def _pysd(model: Path, tmp_path: Path, data_files: list[str] | None = None):
    import pysd

    for file in [model.name, *(data_files or [])]:
        shutil.copy(model.parent / file, tmp_path / file)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pysd.read_vensim(
            str(tmp_path / model.name),
            data_files=[str(tmp_path / f) for f in data_files] if data_files else None,
        )


def _assert_equal_to_pysd(outputs: dict[str, np.ndarray], frame) -> None:
    assert set(frame.columns) <= set(outputs)
    for column in frame.columns:
        np.testing.assert_allclose(
            outputs[column], frame[column].to_numpy(dtype=float), rtol=1e-10, atol=1e-12,
            err_msg=column,
        )


def test_vector_functions_equal_pysd_run_by_run(tmp_path: Path) -> None:
    # every run its own numerical action and sort direction, each run equal to PySD's
    runs = [(0.0, 1.0, -1.0), (5.0, 0.0, 7.0), (9.0, -1.0, 0.5)]
    names = ("action", "direction", "missing")
    sim = compile_model(VECTORS).simulate(
        {name: np.array([run[j] for run in runs]) for j, name in enumerate(names)},
        n_runs=len(runs),
    )
    assert sim.ok.all()
    model = _pysd(VECTORS, tmp_path)
    for i, run in enumerate(runs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PySD explains what action 5 computes
            frame = model.run(params=dict(zip(names, run, strict=True)), progress=False)
        _assert_equal_to_pysd({c: v[i] for c, v in sim.outputs.items()}, frame)


def test_vector_functions_by_hand() -> None:
    # Time 0: sales = -1.5, 0.5, -1.5, -7.5 (a tie), weights = 0, 1, 0, 2
    sim = compile_model(VECTORS).simulate({}, n_runs=1)
    at0 = {c: v[0, 0] for c, v in sim.outputs.items()}
    assert [at0[f"order[p{i}]"] for i in range(1, 5)] == [3, 0, 2, 1]
    assert [at0[f"rank[f{i}]"] for i in range(1, 5)] == [2, 4, 3, 1]
    assert [at0[f"sorted[p{i}]"] for i in range(1, 5)] == [-7.5, -1.5, -1.5, 0.5]
    assert at0["pick"] == 1 * 0.5 + 2 * -7.5  # action 0: the weighted sum
    assert at0["none"] == -1  # nothing selected: the missing value
    assert at0["pick3[f2]"] == -1
    assert at0["pick3[f3]"] == 2 * at0["sales2[R1,f3]"]
    # rank2[firm, region] ranks sales2[region, firm] along firm, its last subscript as written
    sales2 = np.array([[at0[f"sales2[R{r},f{f}]"] for f in range(1, 5)] for r in (1, 2)])
    rank2 = np.array([[at0[f"rank2[f{f},R{r}]"] for f in range(1, 5)] for r in (1, 2)])
    np.testing.assert_array_equal(rank2, np.argsort(np.argsort(sales2, axis=1), axis=1) + 1)


def test_a_vector_select_error_fails_only_its_runs() -> None:
    # error action 2: more than one non-zero selection (weights has two): PySD raises; the
    # engine gives those runs NaN and reports them; error action 1 (all zero) does not fire
    sim = compile_model(VECTORS).simulate({"error action": np.array([0.0, 2.0, 1.0])}, n_runs=3)
    assert sim.ok.tolist() == [True, False, True]
    assert [(run, variable) for run, variable, _ in sim.failures] == [(1, "pick")]
    np.testing.assert_array_equal(sim.outputs["pick"][2], sim.outputs["pick"][0])


def test_a_vector_argument_of_unknown_order_is_refused(tmp_path: Path) -> None:
    text = VECTORS.read_text(encoding="utf-8").replace(
        "VECTOR RANK(sales2[region, firm], 1)", "VECTOR RANK(sales2[region, firm] * 2, 1)"
    )
    model = tmp_path / "expression.mdl"
    model.write_text(text, encoding="utf-8")
    with pytest.raises(UnsupportedConstructError, match="rank2") as info:
        compile_model(model)
    assert info.value.construct.startswith("VECTOR RANK of an expression with several")


def test_data_variables_from_a_data_file_equal_pysd(tmp_path: Path) -> None:
    model = DATA / "from_data.mdl"
    sim = compile_model(model, data_files=["from_data.tab"]).simulate({}, n_runs=2)
    frame = _pysd(model, tmp_path, ["from_data.tab"]).run(progress=False)
    _assert_equal_to_pysd({c: v[1] for c, v in sim.outputs.items()}, frame)
    times = list(sim.times)
    # interpolated between Time 1 (12) and 3 (9); price held from Time 1 (2.5)
    assert sim.outputs["demand[North]"][0, times.index(2.0)] == 10.5
    assert sim.outputs["price"][0, times.index(2.0)] == 2.5


def test_data_files_are_required_and_named(tmp_path: Path) -> None:
    model = DATA / "from_data.mdl"
    with pytest.raises(ModelFileError, match="'demand' takes its values from a data file"):
        compile_model(model).simulate({}, n_runs=1)
    with pytest.raises(ModelFileError, match=r"data file not found: .*missing\.tab"):
        compile_model(model, data_files=["missing.tab"])
    other = tmp_path / "other.tab"
    other.write_text("Time\tsomething else\n0\t1\n", encoding="utf-8")
    with pytest.raises(ModelFileError, match=r"cannot read the data variable '\w+' from"):
        compile_model(model, data_files=[other]).simulate({}, n_runs=1)


def test_workers_get_the_data_files() -> None:
    from sdnet.scheduler import shippable, worker_model

    compiled = compile_model(DATA / "from_data.mdl", data_files=["from_data.tab"])
    built = worker_model(shippable(compiled))
    assert built is not compiled and built.data_files == compiled.data_files
    np.testing.assert_array_equal(
        built.simulate({}, n_runs=1).outputs["Revenue[South]"],
        compiled.simulate({}, n_runs=1).outputs["Revenue[South]"],
    )


@pytest.mark.parametrize(
    ("model", "files", "construct"),
    [
        (VECTORS, None, "subscripted equations"),
        (DATA / "from_data.mdl", ["from_data.tab"], r"external data \(.*data files\)"),
    ],
)
def test_numba_refuses_them_cleanly(model: Path, files: list[str] | None, construct: str) -> None:
    pytest.importorskip("numba", reason="numba (sdnet[fast]) not installed: nothing to refuse")
    with pytest.raises(EngineInputError, match=f"numba backend does not compile {construct}"):
        compile_model(model, data_files=files).simulate({}, n_runs=2, backend="numba")
