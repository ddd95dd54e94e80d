"""Fixtures of the simulator's tests: flexnet compiled once per module, in a private cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sdnet.engine import CompiledModel, compile_model

ROOT = Path(__file__).resolve().parents[3]
FLEXNET = ROOT / "models" / "flexnet" / "flexnet.mdl"


@pytest.fixture(scope="module")
def flexnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CompiledModel]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SDNET_CACHE_DIR", str(tmp_path_factory.mktemp("serve-cache")))
        yield compile_model(FLEXNET)
