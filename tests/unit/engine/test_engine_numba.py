"""The numba backend (``sdnet.engine.kernel``): bit for bit the numpy backend, and its choice.

Compiling a kernel takes seconds (flexnet's about 15 s of CPU), so the kernels of the few
models compiled here are kept in a cache folder shared by every test session
(``$TMPDIR/sdnet-test-numba``: kernel files are named by their source's SHA-256, and numba
checks its own version and the file's stamp), and each model is compiled at most once per
process. Equality is ``np.array_equal`` on every saved column, never a tolerance.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import qmc

from sdnet.engine import compile_model
from sdnet.engine import kernel as kn
from sdnet.engine.model import CompiledModel
from sdnet.errors import EngineInputError

ROOT = Path(__file__).resolve().parents[3]
FLEXNET = ROOT / "models" / "flexnet" / "flexnet.mdl"
DATA = Path(__file__).resolve().parent / "data"
TEST_DATA = ROOT / "tests" / "data"
CONFORMANCE = ROOT.parent / "shared" / "conformance"
PUSH = {"push_amount": 300_000.0, "push_start": 2.0, "push_duration": 3.5}
SHARED_CACHE = Path(tempfile.gettempdir()) / "sdnet-test-numba"

# one worker compiles the kernels (pytest-xdist --dist loadgroup), not each of them
pytestmark = pytest.mark.xdist_group("numba")
needs_numba = pytest.mark.skipif(not kn.available(), reason="numba is not installed")


@pytest.fixture
def shared(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Compile into the cache shared by test sessions (kernels are slow to compile)."""
    monkeypatch.setenv("SDNET_CACHE_DIR", str(SHARED_CACHE))
    monkeypatch.delenv("SDNET_BACKEND", raising=False)
    return SHARED_CACHE


def _lhs(model: CompiledModel, n: int, seed: int) -> dict[str, np.ndarray]:
    """A Latin hypercube over every constant with a declared range."""
    bounded = [p for p in model.parameters.values()
               if p.kind != "control" and p.lower is not None and p.upper is not None]
    unit = qmc.LatinHypercube(d=len(bounded), seed=seed).random(n)
    return {p.name: p.lower + unit[:, i] * (p.upper - p.lower) for i, p in enumerate(bounded)}


def _assert_same(a, b) -> None:  # type: ignore[no-untyped-def]
    assert list(a.outputs) == list(b.outputs)
    differ = [c for c in a.outputs
              if not np.array_equal(a.outputs[c], b.outputs[c], equal_nan=True)]
    assert differ == []
    assert np.array_equal(a.times, b.times)
    assert np.array_equal(a.ok, b.ok)
    assert a.failures == b.failures


@needs_numba
def test_flexnet_single_run_bit_for_bit(shared: Path) -> None:
    model = compile_model(FLEXNET)
    for values in ({}, PUSH):  # the defaults (no push), and the README's push
        fast = model.simulate(values, n_runs=1, backend="numba")
        assert fast.backend == "numba"
        slow = model.simulate(values, n_runs=1, backend="numpy")
        assert slow.backend == "numpy"
        assert len(fast.outputs) == len(model.outputs)  # every saved variable
        _assert_same(fast, slow)
    assert fast.outputs["Total Members"][0].max() > 1  # the push draws members in


@needs_numba
@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_flexnet_lhs_ensemble_bit_for_bit(shared: Path, method: str) -> None:
    model = compile_model(FLEXNET)
    values = _lhs(model, 36, seed=20261203)
    fast = model.simulate(values, n_runs=36, method=method, backend="numba")
    slow = model.simulate(values, n_runs=36, method=method, backend="numpy")
    _assert_same(fast, slow)
    assert np.unique(fast.outputs["Micro Potential Members"][:, -1]).size == 36  # 36 sets
    assert (fast.outputs["Total Members"].max(axis=1) > 1).sum() >= 5  # networks that form


@needs_numba
def test_lane_width_never_changes_results(shared: Path) -> None:
    """flexnet runs on the lanes kernel (blocks of runs side by side, numpy's exp once per
    block); any width and a last block cut short give numpy's numbers."""
    model = compile_model(FLEXNET)
    assert model._kernel_plan().lanes
    values = _lhs(model, 37, seed=11)
    wanted = ["Total Members", "Members[Established]", "Trust", "Push End Time"]
    slow = model.simulate(values, n_runs=37, variables=wanted, backend="numpy")
    default = model.lane_width
    try:
        for width in (1, 5, 64):
            model.lane_width = width
            fast = model.simulate(values, n_runs=37, variables=wanted, backend="numba")
            _assert_same(fast, slow)
    finally:
        model.lane_width = default


@needs_numba
def test_flexnet_restart_and_output_selection(shared: Path) -> None:
    model = compile_model(FLEXNET)
    values = _lhs(model, 8, seed=7)
    first = model.simulate(values, n_runs=8, backend="numpy")
    state = {s: first.outputs[s][:, 4] for s in model.stocks}  # year 4
    wanted = ["Total Members", "Members[Micro]", "Number of Firms", "TIME STEP"]
    runs = [
        model.simulate(values, n_runs=8, initial_state=state, initial_time=4.0,
                       variables=wanted, backend=backend)
        for backend in ("numba", "numpy")
    ]
    _assert_same(*runs)
    assert list(runs[0].outputs) == wanted


@needs_numba
def test_non_finite_runs_reported_alike(shared: Path) -> None:
    model = compile_model(TEST_DATA / "bathtub.mdl")
    # a drain time far below the time step makes Euler's run overflow; the others stay finite
    values = {"drain_time": np.array([4.0, 1e-12])}
    runs = [model.simulate(values, n_runs=2, backend=b) for b in ("numba", "numpy")]
    _assert_same(*runs)
    assert runs[0].ok.tolist() == [True, False]
    # 300 runs: blocks on two threads (model.workers), every tenth run diverging
    drain = np.linspace(1.0, 10.0, 300)
    drain[::10] = 1e-12
    model.workers = 2
    runs = [model.simulate({"drain_time": drain}, n_runs=300, backend=b)
            for b in ("numba", "numpy")]
    _assert_same(*runs)
    assert (~runs[0].ok).sum() == 30


@needs_numba
def test_smooth_delay_trend_bit_for_bit(shared: Path) -> None:
    model = compile_model(DATA / "restart.mdl")
    assert not model._kernel_plan().lanes  # stages per run: the per-run kernel
    values = _lhs(model, 12, seed=3) if any(
        p.lower is not None for p in model.parameters.values() if p.kind != "control") else {}
    n = 12
    for method in ("euler", "rk4"):
        runs = [model.simulate(values, n_runs=n, method=method, backend=b)
                for b in ("numba", "numpy")]
        _assert_same(*runs)
    state = {s: runs[1].outputs[s][:, 3] for s in model.stocks}
    time = float(runs[1].times[3])
    runs = [model.simulate(values, n_runs=n, initial_state=state, initial_time=time,
                           backend=b) for b in ("numba", "numpy")]
    _assert_same(*runs)


CASES = ["exp", "exponentiation", "lookups", "input_functions"]


@needs_numba
@pytest.mark.skipif(not CONFORMANCE.is_dir(),
                    reason="../shared/conformance (the SDXorg test models) is absent")
@pytest.mark.parametrize("case", CASES)
def test_conformance_models_bit_for_bit(shared: Path, case: str) -> None:
    model_file = next((CONFORMANCE / case).glob("*.mdl"))
    model = compile_model(model_file)
    for method in ("euler", "rk4"):
        runs = [model.simulate(n_runs=2, method=method, backend=b) for b in ("numba", "numpy")]
        _assert_same(*runs)
    single = [model.simulate(n_runs=1, backend=b) for b in ("numba", "numpy")]
    _assert_same(*single)


# ------------------------------------------------------------------ choice and fallback


def test_subscripted_model_falls_back_with_one_message(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SDNET_BACKEND", raising=False)
    compiled = compile_model(TEST_DATA / "tiny_network.mdl")
    # a model of its own: the message is told once per model, maybe already by another test
    model = CompiledModel(compiled.ir, path=compiled.path, sha256=compiled.sha256)
    with caplog.at_level(logging.INFO, logger="sdnet.engine"):
        first = model.simulate(n_runs=3, backend="auto")
        model.simulate(n_runs=3, backend="auto")
    assert first.backend == "numpy"
    assert model.kernel_problem() is not None
    told = [r.getMessage() for r in caplog.records if "numba" in r.getMessage()]
    if kn.available():
        assert told == [
            "tiny_network.mdl: the numba backend does not compile subscripted equations "
            "(variable 'Potential Members'); the numpy backend runs it"
        ]
        with pytest.raises(EngineInputError, match=r"subscripted equations \(variable "
                           r"'Potential Members'\) in tiny_network.mdl.*numpy backend runs it"):
            model.simulate(n_runs=3, backend="numba")


def test_without_numba_everything_runs_on_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kn, "available", lambda: False)
    monkeypatch.delenv("SDNET_BACKEND", raising=False)
    model = compile_model(DATA / "decay.mdl")
    assert model.simulate(n_runs=5000, backend="auto").backend == "numpy"
    assert model.kernel_problem() == "numba is not installed (pip install 'sdnet[fast]')"
    with pytest.raises(EngineInputError, match=r"numba is not installed.*sdnet\[fast\]"):
        model.simulate(n_runs=1, backend="numba")


def test_backend_names_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    model = compile_model(DATA / "decay.mdl")
    with pytest.raises(EngineInputError, match="unknown backend 'gpu'; valid backends: "
                       "auto, numba, numpy"):
        model.simulate(n_runs=1, backend="gpu")
    monkeypatch.setenv("SDNET_BACKEND", "fortran")
    with pytest.raises(EngineInputError, match="unknown SDNET_BACKEND 'fortran'"):
        model.simulate(n_runs=1)


@needs_numba
def test_auto_uses_a_compiled_kernel_and_env_forces_numpy(
    shared: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = compile_model(FLEXNET)
    model.simulate(n_runs=1, backend="numba")  # compiled (or loaded from the shared cache)
    assert model.simulate(n_runs=1).backend == "numba"  # auto
    monkeypatch.setenv("SDNET_BACKEND", "numpy")
    assert model.simulate(n_runs=1).backend == "numpy"
    assert model.simulate(n_runs=1, backend="numba").backend == "numba"  # the argument wins


@needs_numba
def test_runner_and_cli_engine_numba(shared: Path, tmp_path: Path) -> None:
    import pandas as pd

    from sdnet.cli import main
    from sdnet.model import load_model
    from sdnet.runner import run_ensemble

    model = load_model(FLEXNET)
    table = {"push_duration": [1.0, 3.0, 6.0]}
    fast = run_ensemble(model, table, engine="numba", progress=False)
    slow = run_ensemble(model, table, engine="numpy", progress=False)
    assert np.array_equal(fast.dataset["outputs"].values, slow.dataset["outputs"].values,
                          equal_nan=True)
    assert main(["run", str(FLEXNET), "--engine", "numba", "--out", str(tmp_path / "a")]) == 0
    assert main(["run", str(FLEXNET), "--engine", "numpy", "--out", str(tmp_path / "b")]) == 0
    a = pd.read_csv(tmp_path / "a" / "run.csv")
    b = pd.read_csv(tmp_path / "b" / "run.csv")
    pd.testing.assert_frame_equal(a, b, check_exact=True)


@needs_numba
def test_a_kernel_numba_fails_to_compile_falls_back(
    shared: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from numba.core.errors import TypingError

    def broken(*args: object, **kwargs: object) -> None:
        raise TypingError("Failed in nopython mode pipeline\nmore lines")

    compiled = compile_model(DATA / "decay.mdl")
    model = CompiledModel(compiled.ir, path=compiled.path, sha256=compiled.sha256)
    monkeypatch.setattr(kn, "run", broken)
    with caplog.at_level(logging.WARNING, logger="sdnet.engine"):
        sim = model.simulate(n_runs=3000, backend="auto")  # large enough to compile
    assert sim.backend == "numpy"
    assert [r.getMessage() for r in caplog.records] == [
        "decay.mdl: numba failed to compile its kernel (Failed in nopython mode pipeline); "
        "the numpy backend runs it"
    ]
    with pytest.raises(EngineInputError, match=r"does not compile this model \(numba failed: "
                       r"Failed in nopython mode pipeline\) in decay.mdl"):
        model.simulate(n_runs=1, backend="numba")


@needs_numba
def test_kernel_source_names_its_runtime() -> None:
    """numba's cache checks only the kernel file: the runtime's hash is in the source, so a
    changed runtime gives a new kernel file instead of stale machine code."""
    model = compile_model(DATA / "decay.mdl")
    source = model._kernel_plan().source
    runtime = (ROOT / "sdnet" / "engine" / "_numba_rt.py").read_bytes()
    import hashlib

    assert f"runtime {hashlib.sha256(runtime).hexdigest()[:16]}" in source.splitlines()[1]


@needs_numba
def test_the_kernel_source_is_the_same_in_every_process() -> None:
    """The kernel is cached under the hash of its source: flexnet's lanes kernel stored its
    rows in set order, which follows PYTHONHASHSEED, so about every other `sdnet ensemble`
    compiled it again (12 s of CPU). Two hash seeds that gave two sources before."""
    import os
    import subprocess
    import sys

    code = ("from sdnet.engine import compile_model\n"
            f"print(compile_model({str(FLEXNET)!r})._kernel_plan().digest)")
    digests = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=True, env={**os.environ, "PYTHONHASHSEED": seed},
                       cwd=ROOT).stdout.strip()
        for seed in ("1", "2")
    }
    assert len(digests) == 1 and len(next(iter(digests))) == 64
