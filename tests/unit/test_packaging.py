"""Packaging: the exercises and the flagship model they run ship inside the wheel and are
found there (importlib.resources) when there is no checkout to find them in."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

import sdnet.card
import sdnet.teaching.exercises as exercises
from sdnet.cli import main
from sdnet.files import packaged_data

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_ships_every_subpackage_the_model_and_the_exercises() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "sdnet").rglob("__init__.py")}
    assert found <= set(setuptools["packages"])
    mapped = setuptools["package-dir"]
    assert mapped == {"sdnet.data.flexnet": "models/flexnet",
                      "sdnet.data.teaching": "experiments/teaching"}
    assert (ROOT / mapped["sdnet.data.flexnet"] / "flexnet.mdl").is_file()
    assert (ROOT / mapped["sdnet.data.flexnet"] / "flexnet.toml").is_file()
    assert len(list((ROOT / mapped["sdnet.data.teaching"]).glob("[0-9][0-9]_*.toml"))) >= 6


def test_a_checkout_has_no_installed_data() -> None:
    # in a checkout the files live in models/ and experiments/; only a wheel has sdnet.data
    if (ROOT / "sdnet" / "data").exists():
        pytest.skip("an installed layout")
    assert packaged_data("teaching") is None


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The wheel's layout (sdnet/data/teaching, sdnet/data/flexnet) and no checkout in reach:
    the working folder is an empty one outside the repository."""
    data = tmp_path / "site-packages" / "sdnet" / "data"
    (data / "teaching").mkdir(parents=True)
    for file in (ROOT / "experiments" / "teaching").glob("[0-9][0-9]_*.toml"):
        shutil.copy(file, data / "teaching")
    shutil.copytree(ROOT / "models" / "flexnet", data / "flexnet")
    monkeypatch.setattr(exercises, "packaged_data", lambda name: data / name)
    work = tmp_path / "elsewhere"
    work.mkdir()
    monkeypatch.chdir(work)
    return data


def test_exercises_are_found_in_the_installed_package(installed: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    found = exercises.load_exercises()
    shipped = len(list((installed / "teaching").glob("[0-9][0-9]_*.toml")))
    assert sorted(found) == list(range(1, shipped + 1))
    for exercise in found.values():
        assert exercise.path.parent == installed / "teaching"
        assert exercise.model == installed / "flexnet" / "flexnet.mdl"
    assert main(["exercise", "list"]) == 0
    listed = capsys.readouterr().out
    assert all(e.title in listed for e in found.values())


def test_the_flagship_card_is_installed_beside_its_model(tmp_path: Path) -> None:
    # an installed exercise's model is the packaged copy, and its card sits beside it
    data = tmp_path / "flexnet"
    shutil.copytree(ROOT / "models" / "flexnet", data)
    card = sdnet.card.find_card(data / "flexnet.mdl")
    assert card.path == data / "flexnet.toml"
    assert set(card.presets) == {"typical", "embedded_prone", "externally_networked"}
