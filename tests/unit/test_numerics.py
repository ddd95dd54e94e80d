"""The numerical guard (issue 11, #7): out-of-bounds stocks and Euler see-saws are flagged.

Known answers from the bathtub model (``tests/data/bathtub.mdl``): one stock with a linear
drain, whose Euler solution is ``W(n dt) = F D + (W0 - F D) (1 - dt/D)^n`` with ``F = 5``,
``D = 4``, ``W0 = 50``. A step ``dt > 2 D`` (factor below -1) see-saws with a growing
amplitude and drains the tub below its declared minimum 0; ``dt = 6`` (factor -0.5) overshoots
but settles, and stays inside the bounds.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import sdnet
from sdnet.cli import main
from sdnet.numerics import Finding, NumericalWarning, check_trajectories, describe_runs, summarize
from sdnet.runner import run_ensemble, run_single

DATA = Path(__file__).resolve().parents[1] / "data"
F, D, W0 = 5.0, 4.0, 50.0


def euler_tub(dt: float, steps: int) -> np.ndarray:
    n = np.arange(steps + 1)
    return F * D + (W0 - F * D) * (1 - dt / D) ** n


def test_an_unstable_step_is_flagged_out_of_bounds_and_see_sawing() -> None:
    times = 10.0 * np.arange(7)
    values = euler_tub(10.0, 6)[None, :, None]
    findings = check_trajectories(times, values, ["Water in Tub"],
                                  bounds={"Water in Tub": (0.0, math.nan)},
                                  stocks=["Water in Tub"])
    assert [(f.kind, f.time) for f in findings] == [("oscillation", 0.0), ("bounds", 10.0)]
    bounds = findings[1]
    assert bounds.value == pytest.approx(20 + 30 * (-1.5) ** 5)  # the lowest, at n = 5
    assert str(bounds) == "Water in Tub reaches -207.8, below its declared minimum 0, from time 10"
    swing = findings[0]
    assert swing.value == pytest.approx(30 * 2.5 * 1.5 ** 4)  # the largest step of the first 5


def test_a_settling_overshoot_and_a_smooth_run_are_not_flagged() -> None:
    for dt, steps in ((6.0, 10), (0.25, 80)):
        times = dt * np.arange(steps + 1)
        values = euler_tub(dt, steps)[None, :, None]
        assert check_trajectories(times, values, ["W"], bounds={"W": (0.0, math.nan)},
                                  stocks=["W"]) == []


def test_a_sustained_see_saw_is_flagged_and_findings_are_per_run() -> None:
    times = 8.0 * np.arange(8)
    good = euler_tub(0.5, 7)
    bad = euler_tub(8.0, 7)  # factor -1: 50, -10, 50, -10, ...
    values = np.stack([good, bad, good])[:, :, None]
    findings = check_trajectories(times, values, ["W"], bounds={"W": (0.0, 100.0)},
                                  stocks=["W"], runs=[10, 11, 12])
    assert {f.run for f in findings} == {11}
    assert describe_runs([f.__class__(**{**_fields(f), "run": f.run - 10}) for f in findings],
                         3)[1].startswith("W see-saws from one saved step to the next from "
                                          "time 0 (swings of 60) (+1 more)")
    lines = summarize(findings, 3, time_step=8.0)
    assert lines == (
        "W see-saws from one saved step to the next from time 0 (swings of 60) in 1 of 3 runs "
        "(worst: run 11): the time step 8 may be too large; halve it (or check the model)",
        "W reaches -10, below its declared minimum 0, from time 8 in 1 of 3 runs (worst: run "
        "11): the time step 8 may be too large; halve it (or check the model)",
    )


def _fields(finding: Finding) -> dict[str, object]:
    return {k: getattr(finding, k) for k in Finding.__slots__}


def test_columns_without_bounds_nan_and_short_runs_are_left_alone() -> None:
    times = np.arange(4.0)
    values = np.array([[[-5.0], [np.nan], [-1.0], [3.0]]])
    assert check_trajectories(times, values, ["X"], bounds={}, stocks=["X"]) == []


def test_a_run_with_non_finite_values_is_still_checked_where_it_is_finite() -> None:
    """The guard tests the rows that can have a finding on NaN-skipping extremes: a NaN or an
    infinity must not hide the rest of the run (and is never a finding itself)."""
    times = np.arange(8.0)
    swing = [10.0, 12.0, 8.0, 13.0, 7.0, 14.0, 6.0, 15.0]
    values = np.array([[[np.nan], [1.0], [-2.0], [1.0], [1.0], [1.0], [1.0], [1.0]],
                       [[1.0], [np.inf], [-np.inf], [1.0], [1.5], [2.0], [2.5], [3.0]],
                       [[v] for v in swing]])
    # steps of run 7: nan, -4, 5, -6, 7, -8, 9: four flips that do not shrink from the
    # second step (time 1), swings up to 8
    values[2, 0, 0] = np.nan
    found = check_trajectories(times, values, ["X"], bounds={"X": (0.0, 14.5)},
                               stocks=["X"], runs=[5, 6, 7])
    assert found == [Finding(5, "bounds", "X", 2.0, -2.0, 0.0),
                     Finding(7, "oscillation", "X", 1.0, 8.0),
                     Finding(7, "bounds", "X", 7.0, 15.0, 14.5)]


def test_the_compiled_pass_finds_the_runs_the_numpy_passes_find(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Big blocks are screened in one compiled pass when numba is loaded; the findings are
    those of the numpy passes: bounds crossed, see-saws, NaN and infinities in the way."""
    pytest.importorskip("numba", reason="numba (sdnet[fast]) not installed")
    import sdnet.numerics as numerics

    rng = np.random.default_rng(3)
    values = np.cumsum(rng.normal(size=(300, 40, 4)), axis=1)
    values[::7, :, 1] += 3.0 * (-1.0) ** np.arange(40)  # see-saws
    values[5, 3, 2], values[6, 9, 0], values[8, 2, 3] = np.nan, np.inf, -np.inf
    columns = ["A", "B", "C", "D"]
    bounds = {"A": (-8.0, 8.0), "B": (-10.0, math.nan), "C": (math.nan, 5.0),
              "D": (-math.inf, 9.0)}
    times = np.arange(40.0)
    monkeypatch.setattr(numerics, "_COMPILED_FROM", 10**12)
    by_numpy = check_trajectories(times, values, columns, bounds=bounds, stocks=["B", "C"])
    monkeypatch.setattr(numerics, "_COMPILED_FROM", 0)
    assert numerics._compiled_candidates() is not None
    by_numba = check_trajectories(times, values, columns, bounds=bounds, stocks=["B", "C"])
    assert by_numba == by_numpy
    assert {f.kind for f in by_numpy} == {"bounds", "oscillation"} and len(by_numpy) > 40


@pytest.fixture(scope="module")
def tub() -> sdnet.Model:
    return sdnet.load_model(DATA / "bathtub.mdl")


@pytest.mark.parametrize("engine", ["pysd", "vector"])
def test_both_engines_flag_a_run_with_too_large_a_step(tub: sdnet.Model, engine: str) -> None:
    with pytest.warns(NumericalWarning) as record:
        result = run_single(tub, engine=engine, time_step=10, saveper=10, final_time=60)  # type: ignore[arg-type]
    assert ("bathtub.mdl: Water in Tub reaches -207.8, below its declared minimum 0, from time "
            "10: the time step 10 may be too large; halve it (or check the model)"
            ) in [str(w.message) for w in record]
    assert result["Water in Tub"].iloc[-1] == pytest.approx(20 + 30 * (-1.5) ** 6)
    assert any(f.startswith("Water in Tub reaches -207.8") for f in result.flags)
    assert any("Water in Tub see-saws" in f for f in result.flags)


def test_a_sound_run_has_no_flags(tub: sdnet.Model) -> None:
    assert tub.run().flags == ()


@pytest.mark.parametrize("engine", ["pysd", "vector"])
def test_an_ensemble_flags_the_runs_and_says_how_many(tub: sdnet.Model, engine: str,
                                                      tmp_path: Path) -> None:
    factors = {"drain_time": [4.0, 10.0, 4.0]}  # dt 8: factor -1, 0.2, -1
    with pytest.warns(NumericalWarning) as record:
        ensemble = run_ensemble(tub, factors, engine=engine, time_step=8, saveper=8,  # type: ignore[arg-type]
                                final_time=56, progress=False, variables=["Inflow"])
    assert all("in 2 of 3 runs (worst: run " in str(w.message) for w in record)
    assert ensemble.flagged.tolist() == [True, False, True]
    assert ensemble.variables == ["Inflow"]  # the stocks were read for the guard, not kept
    assert ensemble.flags[0].startswith("Water in Tub")
    again = sdnet.EnsembleResult.load(ensemble.save(tmp_path / "e.nc"))
    assert again.flags == ensemble.flags
    assert again.flagged.tolist() == [True, False, True]


def test_the_command_line_warns_and_check_tests_the_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = str(DATA / "bathtub.mdl")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert main(["run", model, "--time-step", "10", "--saveper", "10", "--final-time", "60",
                     "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert ("sdnet run: warning: bathtub.mdl: Water in Tub reaches -207.8, below its declared "
            "minimum 0, from time 10") in err
    assert main(["check", model, "--only", "integration_error", "--time-step", "10"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  integration_error  time step 10 vs 5" in out
    assert "numerical guard at time step 10: Water in Tub" in out
    assert main(["check", model, "--only", "integration_error"]) == 0
