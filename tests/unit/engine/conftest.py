"""Fixtures for the engine's unit tests: a private compile cache and PySD reference runs."""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd
import pytest

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True)
def private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Compile into a temporary cache, never the user's."""
    folder = tmp_path_factory.mktemp("engine-cache")
    monkeypatch.setenv("SDNET_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def pysd_runner(tmp_path: Path) -> Callable[..., Callable[[Mapping[str, float]], pd.DataFrame]]:
    """Translate a copy of a model with PySD (beside the copy, in tmp) and return run(params)."""

    def load(model_file: Path) -> Callable[[Mapping[str, float]], pd.DataFrame]:
        import pysd

        copy = tmp_path / model_file.name
        shutil.copy(model_file, copy)
        model = pysd.read_vensim(str(copy))

        def run(params: Mapping[str, float]) -> pd.DataFrame:
            # run(params=...) changes the model for later runs: always pass every parameter.
            # PySD warns when a lookup is read beyond its table (it holds the end value, as
            # Vensim does and as the engine does silently): that is the behaviour under test.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "(?s).*extrapolating data", UserWarning)
                return model.run(params=dict(params), progress=False)

        return run

    return load
