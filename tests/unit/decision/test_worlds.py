"""Tables of worlds: read and checked against the model, sampled with a seed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sdnet.decision import read_worlds, sample_worlds
from sdnet.errors import ExperimentError
from sdnet.model import Model, load_model

DATA = Path(__file__).resolve().parents[2] / "data"


@pytest.fixture(scope="module")
def bass() -> Model:
    return load_model(DATA / "bass_diffusion.mdl")


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "worlds.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_read_worlds_renames_to_python_names_and_numbers_the_rows(tmp_path: Path,
                                                                   bass: Model) -> None:
    path = _csv(tmp_path, "Imitation Coefficient,market_size\n0.1,500\n0.2,600\n0.3,700\n")
    worlds = read_worlds(path, bass)
    assert list(worlds.columns) == ["imitation_coefficient", "market_size"]
    assert worlds.index.name == "world" and list(worlds.index) == [0, 1, 2]
    assert worlds["market_size"].tolist() == [500.0, 600.0, 700.0]


@pytest.mark.parametrize(("text", "message"), [
    ("imitation_coeficient,market_size\n0.1,500\n",
     r"column 'imitation_coeficient' is not a constant of bass_diffusion.mdl; did you mean "
     r"'imitation_coefficient'"),
    ("Adopters\n5\n", r"column 'Adopters' is not a constant of bass_diffusion.mdl "
     r"\('Adopters' is a stock"),
    ("final_time\n5\n", "column 'final_time' is a simulation control"),
    ("market_size,Market Size\n5,5\n", "both name 'market_size'"),
    ("market_size\nmany\n", r"column 'market_size', row 1: 'many' is not a finite number"),
    ("market_size\n500\n\n700\n", None),
    ("market_size\n", "has no rows"),
])
def test_bad_worlds_files_name_the_file_and_the_column(tmp_path: Path, bass: Model,
                                                        text: str, message: str | None
                                                        ) -> None:
    path = _csv(tmp_path, text)
    if message is None:  # a blank line is no row (pandas skips it)
        assert len(read_worlds(path, bass)) == 2
        return
    with pytest.raises(ExperimentError, match=message) as caught:
        read_worlds(path, bass)
    assert str(path) in str(caught.value)


def test_a_missing_worlds_file_names_the_study_key(tmp_path: Path, bass: Model) -> None:
    study = tmp_path / "study.toml"
    with pytest.raises(ExperimentError, match=r"\[design.file\] worlds file .*nope.csv: not "
                       "found") as caught:
        read_worlds(tmp_path / "nope.csv", bass, key="design.file", spec=study)
    assert caught.value.path == study


def test_sample_worlds_is_seeded_keeps_file_order_and_refuses_too_many() -> None:
    worlds = pd.DataFrame({"x": range(100)}, index=pd.RangeIndex(100, name="world"))
    first = sample_worlds(worlds, 10, seed=3)
    assert first.equals(sample_worlds(worlds, 10, seed=3))
    assert not first.equals(sample_worlds(worlds, 10, seed=4))
    assert list(first.index) == sorted(first.index) and first.index.is_unique
    assert (first["x"].to_numpy() == first.index.to_numpy()).all()
    assert sample_worlds(worlds, None, seed=3).equals(worlds)
    assert len(sample_worlds(worlds, 100, seed=3)) == 100
    with pytest.raises(ExperimentError, match="asks for 101 worlds but the worlds table has "
                       "only 100 rows"):
        sample_worlds(worlds, 101, seed=3, key="design.n")
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ExperimentError, match="must be a positive integer"):
            sample_worlds(worlds, bad, seed=3)  # type: ignore[arg-type]
