"""Data files given by the user: ``--data FILE[,FILE...]`` on every command that runs a model and
``[experiment] data`` in a study file. Both engines read the same files (PySD's
``data_files=``) where they are: nothing is written beside the model or the data.

The model (tests/data/with_data.mdl) reads Demand[region] (interpolated) and Price (held
backward) from tests/data/with_data.tab; Revenue integrates Demand * Price * Price Scale, so the
expected numbers are an Euler sum over the file's values, computed here by hand.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sdnet.cli import build_parser, main
from sdnet.errors import ExperimentError
from sdnet.experiment import load_experiment, run_experiment

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> Path:
    """model/with_data.mdl and inputs/history.tab: the data away from the model."""
    folder = tmp_path_factory.mktemp("datafiles")
    (folder / "model").mkdir()
    (folder / "inputs").mkdir()
    shutil.copy(DATA / "with_data.mdl", folder / "model" / "with_data.mdl")
    shutil.copy(DATA / "with_data.tab", folder / "inputs" / "history.tab")
    return folder


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _expected_revenue(scale: float = 1.0) -> dict[str, np.ndarray]:
    """Euler (step 0.5, 0 to 4) of Demand * Price * scale from the data file: Demand
    interpolated between the file's times, Price held from the last time at or before t."""
    table = pd.read_csv(DATA / "with_data.tab", sep="\t")
    file_times = table["Time"].to_numpy(dtype=float)
    times = np.arange(0.0, 4.0 + 1e-9, 0.5)
    price = table["Price"].to_numpy(dtype=float)[
        np.searchsorted(file_times, times, side="right") - 1]
    out = {}
    for region in ("North", "South"):
        demand = np.interp(times, file_times, table[f"Demand[{region}]"].to_numpy(dtype=float))
        flow = demand * price * scale
        out[f"Revenue[{region}]"] = np.concatenate([[0.0], np.cumsum(flow[:-1] * 0.5)])
    return out


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_run_with_data_gives_the_same_numbers_on_both_engines(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(root)  # --data is relative to the current directory
    before = _listing(root / "model"), _listing(root / "inputs")
    frames = {}
    for engine in ("pysd", "vector"):
        assert main(["run", "model/with_data.mdl", "--data", "inputs/history.tab",
                     "--engine", engine, "--vars", "Revenue", "--out", f"out-{engine}"]) == 0
        frames[engine] = pd.read_csv(root / f"out-{engine}" / "run.csv", index_col="time")
    pd.testing.assert_frame_equal(frames["pysd"], frames["vector"], check_exact=True)
    for column, values in _expected_revenue().items():
        np.testing.assert_allclose(frames["pysd"][column].to_numpy(), values, rtol=1e-12)
    assert frames["pysd"]["Revenue[North]"].iloc[-1] == pytest.approx(102.375)
    assert (_listing(root / "model"), _listing(root / "inputs")) == before


@pytest.mark.parametrize(("given", "problem"), [
    ("nope.tab", "data file not found: nope.tab"),
    ("model/with_data.mdl", "data file model/with_data.mdl is not a .tab or .csv file"),
    ("inputs", "data file is a folder: inputs"),
])
def test_a_bad_data_file_is_one_line_and_exit_2(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    given: str, problem: str,
) -> None:
    monkeypatch.chdir(root)
    with pytest.raises(SystemExit) as info:
        main(["run", "model/with_data.mdl", "--data", given, "--out", "unused"])
    assert info.value.code == 2
    err = _one_line_error(capsys)
    assert err.startswith(f"sdnet run: error: argument --data: {problem} (")
    assert not (root / "unused").exists()


@pytest.mark.parametrize("engine", ["pysd", "vector"])
def test_without_its_data_files_the_run_says_how_to_give_them(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    engine: str,
) -> None:
    monkeypatch.chdir(root)
    assert main(["run", "model/with_data.mdl", "--engine", engine, "--out", "none"]) == 2
    err = _one_line_error(capsys)
    assert "data variable 'Demand'" in err and "--data FILE" in err


@pytest.mark.parametrize(("command", "positional"), [
    ("describe", ["m.mdl"]), ("check", ["m.mdl"]), ("run", ["m.mdl"]),
    ("ensemble", ["m.mdl", "--samples", "4"]), ("experiment", ["s.toml"]),
    ("calibrate", ["m.mdl", "t.toml"]), ("serve", ["m.mdl"]),
])
def test_every_command_that_runs_a_model_takes_data(
    root: Path, monkeypatch: pytest.MonkeyPatch, command: str, positional: list[str]
) -> None:
    monkeypatch.chdir(root)
    (root / "inputs" / "more.csv").write_text("Time,Other\n0,1\n", encoding="utf-8")
    args = build_parser().parse_args([command, *positional, "--data", "inputs/history.tab",
                                      "--data", "inputs/more.csv,inputs/history.tab"])
    tab, csv = root / "inputs" / "history.tab", root / "inputs" / "more.csv"
    assert list(args.data) == [tab, csv, tab]  # --data FILE[,FILE...], repeatable


def _study(root: Path, data: str) -> Path:
    path = root / "study" / "study.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        '[experiment]\nname = "data_study"\nmodel = "../model/with_data.mdl"\nseed = 3\n'
        f"{data}\n\n[[factors]]\nname = \"Price Scale\"\n\n"
        '[design]\nmethod = "lhs"\nn = 4\n\n'
        '[[metrics]]\nname = "north_revenue"\nvariable = "Revenue[North]"\nreducer = "final"\n',
        encoding="utf-8")
    return path


def test_the_study_key_gives_the_data_files_relative_to_the_study(root: Path) -> None:
    study = load_experiment(_study(root, 'data = ["../inputs/history.tab"]'))
    assert study.data_files == ((root / "inputs" / "history.tab").resolve(),)
    result = run_experiment(study, progress=False)
    scale = result.runs["price_scale"].to_numpy()
    final = _expected_revenue()["Revenue[North]"][-1]
    np.testing.assert_allclose(result.metrics["north_revenue"].to_numpy(), final * scale,
                               rtol=1e-12)
    assert study.to_dict()["experiment"]["data"] == [str(study.data_files[0])]


@pytest.mark.parametrize(("data", "value", "problem"), [
    ('data = ["../inputs/missing.tab"]', "../inputs/missing.tab",
     "data file not found: ../inputs/missing.tab"),
    ('data = ["../model/with_data.mdl"]', "../model/with_data.mdl", "is not a .tab or .csv"),
    ("data = 3", 3, "must be the path of a data file or a list of them"),
])
def test_a_bad_study_key_names_the_file_key_and_value(
    root: Path, data: str, value: object, problem: str
) -> None:
    path = _study(root, data)
    with pytest.raises(ExperimentError) as info:
        load_experiment(path)
    assert info.value.key == "experiment.data" and info.value.value == value
    assert str(info.value).startswith(f"{path}: [experiment.data] ")
    assert problem in str(info.value)


def test_data_on_the_command_line_replaces_the_study_key(root: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(root)
    path = _study(root, 'data = ["../inputs/missing.tab"]')
    study = load_experiment(path, data_files=["inputs/history.tab"])
    assert study.data_files == ((root / "inputs" / "history.tab").resolve(),)


def test_raw_data_is_missing_between_the_files_times_on_both_engines(
    root: Path, tmp_path: Path
) -> None:
    """``:RAW:`` data is NaN between the file's times by definition (PySD, as Vensim's :NA:):
    a run keeps it and what is computed from it, on both engines, instead of failing."""
    from sdnet.model import load_model
    from sdnet.runner import run_single

    text = (DATA / "with_data.mdl").read_text(encoding="utf-8")
    (tmp_path / "raw.mdl").write_text(text.replace("Price :HOLD BACKWARD:", "Price :RAW:"),
                                      encoding="utf-8")
    model = load_model(tmp_path / "raw.mdl", data_files=[root / "inputs" / "history.tab"])
    runs = {engine: run_single(model, engine=engine, variables="all").frame
            for engine in ("pysd", "vector")}
    pd.testing.assert_frame_equal(runs["pysd"], runs["vector"], check_exact=True)
    price = runs["pysd"]["Price"]
    assert price[0.0] == 2.0 and price[1.0] == 2.5 and np.isnan(price[0.5])
    assert np.isnan(runs["pysd"]["Sales[North]"][0.5])


def test_describe_names_the_data_variables_and_their_files(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(root)
    assert main(["describe", "model/with_data.mdl"]) == 0
    out = capsys.readouterr().out
    assert "data variables read from data files (2): Demand, Price\n" in out
    assert "data files: none given: give them with --data FILE" in out
    assert main(["describe", "model/with_data.mdl", "--data", "inputs/history.tab"]) == 0
    assert "  data files: history.tab\n" in capsys.readouterr().out
