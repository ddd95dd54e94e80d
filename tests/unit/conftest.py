"""Fixtures shared by the unit tests: a private translation cache and the small test models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sdnet.model import Model, load_model

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A translation cache of the test module's own (SDNET_CACHE_DIR)."""
    path = tmp_path_factory.mktemp("sdnet-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SDNET_CACHE_DIR", str(path))
        yield path


@pytest.fixture(scope="module")
def bathtub(cache: Path) -> Model:
    return load_model(DATA / "bathtub.mdl")


@pytest.fixture(scope="module")
def network(cache: Path) -> Model:
    return load_model(DATA / "tiny_network.mdl")
