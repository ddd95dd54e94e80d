"""The ensemble runner: both engines agree, failures are kept as data, bad input is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sdnet
from sdnet.designs import lhs_design
from sdnet.errors import EngineInputError, InvalidValueError, OutOfRangeError, UnknownVariableError
from sdnet.runner import factor_table, ranged_factors, run_ensemble, run_single

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def tiny() -> sdnet.Model:
    return sdnet.load_model(DATA / "tiny_network.mdl")


@pytest.fixture(scope="module")
def design_table(tiny: sdnet.Model) -> pd.DataFrame:
    names = ["word_of_mouth", "attrition_rate", "trust_build_rate", "push_amount"]
    return lhs_design(ranged_factors(tiny, names), 6, seed=3).to_frame()


def test_vector_and_pysd_engines_agree_run_by_run(
    tiny: sdnet.Model, design_table: pd.DataFrame
) -> None:
    push = sdnet.Push(amount=200_000, start=1, duration=3)
    vector = run_ensemble(tiny, design_table, push=push, progress=False)
    pysd = run_ensemble(tiny, design_table, push=push, engine="pysd", progress=False)
    assert vector.variables == pysd.variables
    a = vector.dataset["outputs"].to_numpy()
    b = pysd.dataset["outputs"].to_numpy()
    assert a.shape == (6, 121, len(vector.variables))
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert vector.ok.all() and pysd.ok.all()
    # the factor values reached the model: runs differ from each other
    assert np.ptp(a[:, -1, vector.variables.index("Total Members")]) > 0


def test_each_run_equals_a_single_pysd_run(tiny: sdnet.Model, design_table: pd.DataFrame) -> None:
    vector = run_ensemble(tiny, design_table, progress=False)
    row = design_table.iloc[4].to_dict()
    single = tiny.run(row)
    np.testing.assert_allclose(
        vector.outputs("Total Members").isel(run=4).to_numpy(),
        single["Total Members"].to_numpy(),
        rtol=1e-9,
    )


def test_chunks_give_the_same_result_and_each_chunk_is_reported(
    tiny: sdnet.Model, design_table: pd.DataFrame
) -> None:
    seen: list[tuple[int, int]] = []
    whole = run_ensemble(tiny, design_table, progress=False)
    chunked = run_ensemble(
        tiny, design_table, chunk_size=4, progress=False,
        on_chunk=lambda start, part: seen.append((start, len(part.factors))),
    )
    assert seen == [(0, 4), (4, 2)]
    np.testing.assert_array_equal(
        whole.dataset["outputs"].to_numpy(), chunked.dataset["outputs"].to_numpy()
    )


def test_rk4_is_closer_to_a_fine_euler_run_than_euler(tiny: sdnet.Model) -> None:
    table = {"word_of_mouth": [0.6], "attrition_rate": [0.05]}
    options = {"saveper": 1.0, "variables": ["Total Members"], "progress": False}
    euler = run_ensemble(tiny, table, time_step=0.5, **options)
    rk4 = run_ensemble(tiny, table, time_step=0.5, method="rk4", **options)
    fine = run_ensemble(tiny, table, time_step=1 / 256, **options)
    reference = fine.outputs("Total Members").to_numpy()
    error_euler = np.abs(euler.outputs("Total Members").to_numpy() - reference).max()
    error_rk4 = np.abs(rk4.outputs("Total Members").to_numpy() - reference).max()
    assert error_rk4 < error_euler / 10


def test_provenance_records_the_model_engine_and_seed(tiny: sdnet.Model) -> None:
    result = run_ensemble(tiny, {"word_of_mouth": [0.2, 0.3]}, seed=11, progress=False)
    provenance = result.provenance
    assert provenance is not None
    assert provenance.model_sha256 == tiny.sha256
    assert provenance.seed == 11
    assert provenance.spec["engine"] == "vector"
    assert provenance.spec["factors"] == ["word_of_mouth"]
    assert "numpy" in provenance.versions


def test_a_run_that_goes_non_finite_is_marked_and_the_others_kept(tmp_path: Path) -> None:
    model_file = tmp_path / "blowup.mdl"
    # A stock whose growth rate explodes for large values of one constant.
    model_file.write_text(
        "{UTF-8}\n"
        "X= INTEG (Growth, 1)\n\t~\tthing\n\t~\tA quantity.\n\t|\n\n"
        "Growth= X * X * Rate\n\t~\tthing/Year\n\t~\tSelf-reinforcing growth.\n\t|\n\n"
        "Rate= 0.01\n\t~\t1/(thing*Year) [0,100]\n\t~\t[uncertain] Growth rate.\n\t|\n\n"
        "FINAL TIME = 10\n\t~\tYear\n\t~\t\n\t|\n\n"
        "INITIAL TIME = 0\n\t~\tYear\n\t~\t\n\t|\n\n"
        "SAVEPER = 1\n\t~\tYear [0,?]\n\t~\t\n\t|\n\n"
        "TIME STEP = 0.5\n\t~\tYear [0,?]\n\t~\t\n\t|\n\n"
    )
    model = sdnet.load_model(model_file)
    with np.errstate(all="ignore"):
        result = run_ensemble(model, {"Rate": [0.01, 100.0, 0.02]}, progress=False)
    assert result.ok.tolist() == [True, False, True]
    assert result.dataset["failure"].values[1].startswith("X non-finite at time")
    assert np.isfinite(result.outputs("X").isel(run=0).to_numpy()).all()


def test_run_single_gives_the_same_columns_on_both_engines(tiny: sdnet.Model) -> None:
    push = sdnet.Push(amount=300_000, start=2, duration=3.5)
    vector = run_single(tiny, region="typical", push=push)
    pysd = run_single(tiny, region="typical", push=push, engine="pysd")
    assert list(vector.frame.columns) == list(pysd.frame.columns)
    np.testing.assert_allclose(vector.frame.to_numpy(), pysd.frame.to_numpy(), rtol=1e-9)
    assert vector.state_at(10.0).values.keys() == pysd.state_at(10.0).values.keys()


def test_unknown_factor_names_give_close_matches(tiny: sdnet.Model) -> None:
    with pytest.raises(UnknownVariableError) as caught:
        factor_table(tiny, {"word_of_mouht": [0.2]})
    assert str(caught.value) == (
        "unknown parameter 'word_of_mouht' of tiny_network.mdl; did you mean 'word_of_mouth'?"
    )


def test_columns_of_different_lengths_are_refused(tiny: sdnet.Model) -> None:
    with pytest.raises(EngineInputError) as caught:
        factor_table(tiny, {"word_of_mouth": [0.2, 0.3], "attrition_rate": [0.1]})
    assert str(caught.value) == (
        "factor columns have different lengths (word_of_mouth: 2, attrition_rate: 1)"
    )


def test_nan_infinite_and_out_of_range_values_are_refused(tiny: sdnet.Model) -> None:
    with pytest.raises(InvalidValueError) as caught:
        factor_table(tiny, {"word_of_mouth": [0.2, float("nan")]})
    assert str(caught.value) == (
        "invalid value for 'word_of_mouth (run 1)': nan (expected a finite number)"
    )
    with pytest.raises(InvalidValueError):
        factor_table(tiny, {"word_of_mouth": [np.inf]})
    with pytest.raises(OutOfRangeError) as out:
        factor_table(tiny, {"word_of_mouth": [0.2, 0.9]})
    assert "outside its declared range [0.1, 0.6]" in str(out.value)
    table = factor_table(tiny, {"word_of_mouth": [0.9]}, check_ranges=False)
    assert table["word_of_mouth"].tolist() == [0.9]


def test_non_numeric_values_and_empty_tables_are_refused(tiny: sdnet.Model) -> None:
    with pytest.raises(EngineInputError) as caught:
        factor_table(tiny, {"word_of_mouth": ["high"]})
    assert str(caught.value) == (
        "factor 'word_of_mouth' has values that are not numbers (e.g. 'high')"
    )
    with pytest.raises(EngineInputError) as empty:
        factor_table(tiny, None)
    assert str(empty.value) == "give a factor table or the number of runs (n_runs)"


def test_bad_run_options_are_refused(tiny: sdnet.Model) -> None:
    with pytest.raises(InvalidValueError) as step:
        run_ensemble(tiny, n_runs=2, time_step=0, progress=False)
    assert str(step.value) == "invalid value for 'time_step': 0.0 (expected a positive number)"
    with pytest.raises(InvalidValueError) as engine:
        run_ensemble(tiny, n_runs=2, engine="fast", progress=False)  # type: ignore[arg-type]
    assert str(engine.value) == (
        "invalid value for 'engine': 'fast' (expected one of auto, vector, numba, numpy, pysd)"
    )
    with pytest.raises(EngineInputError) as control:
        run_ensemble(tiny, {"time_step": [0.1, 0.2]}, progress=False)
    assert str(control.value) == (
        "time_step cannot vary across runs; pass it as a run option instead"
    )


def test_time_settings_no_run_can_use_are_refused_before_running(tiny: sdnet.Model) -> None:
    with pytest.raises(InvalidValueError) as huge:
        run_ensemble(tiny, n_runs=1, final_time=1e9, progress=False)
    assert str(huge.value) == (
        "invalid value for 'final_time': 1000000000.0 (expected at most 10,000,000 time steps "
        "of 0.25 from 0, i.e. a final time <= 2.5e+06)"
    )
    with pytest.raises(InvalidValueError) as save:
        run_ensemble(tiny, n_runs=1, saveper=0.1, progress=False)
    assert str(save.value) == (
        "invalid value for 'saveper': 0.1 (expected a whole multiple of the time step (0.25))"
    )
    with pytest.raises(InvalidValueError) as pysd_huge:
        tiny.run(final_time=1e9)
    assert str(pysd_huge.value) == str(huge.value)


def test_ranged_factors_leave_out_what_a_preset_fixes_and_refuse_non_constants(
    tiny: sdnet.Model,
) -> None:
    every = {f.name for f in ranged_factors(tiny)}
    without_region = {f.name for f in ranged_factors(tiny, exclude_kinds=("region",))}
    region_kind = {n for n, p in tiny.parameters.items() if p.kind == "region"}
    assert region_kind and region_kind <= every
    assert without_region == every - region_kind
    with pytest.raises(sdnet.errors.NotAParameterError) as stock:
        ranged_factors(tiny, ["Trust"])
    assert str(stock.value) == (
        "'Trust' is a stock of the model, not a parameter; only constants can be factors"
    )
    with pytest.raises(EngineInputError, match="no factor names given"):
        ranged_factors(tiny, [])


def test_sdnet_ensemble_with_a_region_samples_no_region_descriptor(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sdnet.cli import main

    out = tmp_path / "ens"
    code = main([
        "ensemble", str(DATA / "tiny_network.mdl"), "--samples", "4", "--seed", "2",
        "--region", "embedded-prone", "--no-progress", "--out", str(out),
    ])
    assert code == 0
    factors = pd.read_csv(out / "factors.csv")
    assert "community_entrepreneur_density" not in factors.columns
    ensemble = sdnet.EnsembleResult.load(out / "ensemble.zarr")
    assert ensemble.factors.shape == (4, len(factors.columns) - 1)
    assert "4 runs of tiny_network.mdl (vector, euler)" in capsys.readouterr().out


def test_a_run_going_non_finite_fails_the_same_way_on_both_engines(tmp_path: Path) -> None:
    model_file = tmp_path / "blowup.mdl"
    model_file.write_text(
        "{UTF-8}\n"
        "X= INTEG (Growth, 1)\n\t~\tthing\n\t~\tA quantity.\n\t|\n\n"
        "Growth= X * X * Rate\n\t~\tthing/Year\n\t~\tSelf-reinforcing growth.\n\t|\n\n"
        "Rate= 100\n\t~\t1/(thing*Year) [0,100]\n\t~\t[uncertain] Growth rate.\n\t|\n\n"
        "FINAL TIME = 10\n\t~\tYear\n\t~\t\n\t|\n\n"
        "INITIAL TIME = 0\n\t~\tYear\n\t~\t\n\t|\n\n"
        "SAVEPER = 1\n\t~\tYear [0,?]\n\t~\t\n\t|\n\n"
        "TIME STEP = 0.5\n\t~\tYear [0,?]\n\t~\t\n\t|\n\n"
    )
    model = sdnet.load_model(model_file)
    messages = []
    for engine in ("vector", "pysd"):
        with np.errstate(all="ignore"), pytest.raises(sdnet.errors.SimulationError) as caught:
            run_single(model, engine=engine)  # type: ignore[arg-type]
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert messages[0].startswith("the run of blowup.mdl failed: X non-finite at time ")


def test_time_settings_that_save_nothing_are_refused(tiny: sdnet.Model) -> None:
    with pytest.raises(InvalidValueError) as save:
        tiny.run(saveper=50.0)
    assert str(save.value) == (
        "invalid value for 'saveper': 50.0 (expected at most the length of the run (30), so "
        "more than the start is saved)"
    )
    with pytest.raises(InvalidValueError) as short:
        run_ensemble(tiny, n_runs=1, final_time=0.1, progress=False)
    assert str(short.value) == (
        "invalid value for 'time_step': 0.25 (expected at most the length of the run (0.1))"
    )


def test_sdnet_ensemble_streams_blocks_into_one_store_equal_to_a_single_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny: sdnet.Model
) -> None:
    import sdnet.scheduler
    from sdnet.cli import main

    monkeypatch.setattr(sdnet.scheduler, "BLOCK_SIZE", 3)  # the store is written in 3 blocks
    out = tmp_path / "ens"
    argv = ["ensemble", str(DATA / "tiny_network.mdl"), "--samples", "7", "--seed", "5",
            "--factors", "word_of_mouth,attrition_rate", "--no-progress", "--out", str(out),
            "--export", "netcdf"]
    assert main(argv) == 0
    streamed = sdnet.EnsembleResult.load(out / "ensemble.zarr")
    assert len(list((out / "ensemble.zarr" / "outputs" / "c").iterdir())) == 3  # 3 chunks
    factors = pd.read_csv(out / "factors.csv", index_col="run")
    whole = run_ensemble(tiny, factors, seed=5, progress=False)
    np.testing.assert_array_equal(
        streamed.dataset["outputs"].to_numpy(), whole.dataset["outputs"].to_numpy()
    )
    assert streamed.dataset["run"].to_numpy().tolist() == list(range(7))
    assert streamed.provenance is not None and streamed.provenance.spec["n_runs"] == 7
    pd.testing.assert_frame_equal(streamed.factors, whole.factors, check_names=False)
    exported = sdnet.EnsembleResult.load(out / "ensemble.nc")  # the NetCDF export: the same
    np.testing.assert_array_equal(exported.dataset["outputs"].to_numpy(),
                                  whole.dataset["outputs"].to_numpy())
    assert list(exported.dataset["status"].to_numpy()) == list(whole.dataset["status"].to_numpy())


# --------------------------------------------------------------------------- issue 11 (#8, #10)
@pytest.mark.parametrize(
    ("factors", "message"),
    [
        ("push_duration", r"factors must be a DataFrame or a mapping of name -> values, not "
         r"str 'push_duration'"),
        ([1, 2, 3], r"factors must be a DataFrame or a mapping of name -> values, not list"),
        ({"push_amount": [[1, 2], [3, 4]]}, r"factor 'push_amount' has nested values"),
        ({"push_amount": [[1, 2], [3]]}, r"factor 'push_amount' has nested values"),
        ({"push_amount": [True, False]}, r"factor 'push_amount' has true/false values"),
        ({"push_amount": [1.0, True]}, r"factor 'push_amount' has true/false values"),
        ({"push_amount": "100"}, r"factor 'push_amount' has values that are not numbers"),
        ({"push_amount": [1, 2], "Push Amount": [3, 4]}, r"factor push_amount is given twice, "
         r"as 'push_amount' and 'Push Amount': give one column per parameter"),
    ],
)
def test_factor_tables_that_cannot_be_read_one_way_are_refused(
    tiny: sdnet.Model, factors: object, message: str
) -> None:
    with pytest.raises(EngineInputError, match=message):
        run_ensemble(tiny, factors, progress=False)  # type: ignore[arg-type]


def test_sdnet_ensemble_writes_whole_folders_and_asks_before_replacing_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 11, defect 6: an interrupted ensemble leaves its folder as it was; a folder
    holding another ensemble is replaced only with --overwrite."""
    import sdnet.runner
    from sdnet.cli import main

    out = tmp_path / "ens"
    argv = ["ensemble", str(DATA / "tiny_network.mdl"), "--samples", "3", "--seed", "1",
            "--factors", "word_of_mouth", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    import sdnet.scheduler

    original = sdnet.scheduler.run_block
    calls: list[int] = []

    def killed(*args: object, **kwargs: object) -> object:
        if calls:
            raise KeyboardInterrupt  # the second block of the rerun
        calls.append(1)
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sdnet.scheduler, "BLOCK_SIZE", 1)
    monkeypatch.setattr(sdnet.scheduler, "run_block", killed)
    assert main([*argv, "--overwrite"]) == 130
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before  # not a mix
    # what the killed run finished is kept beside the folder, for the rerun to resume from
    assert sorted(p.name for p in tmp_path.iterdir()) == [".ens.sdnet-work", "ens"]
    monkeypatch.setattr(sdnet.scheduler, "run_block", original)
    capsys.readouterr()
    assert main([*argv[:5], "2", *argv[6:]]) == 2  # another seed: another ensemble
    assert capsys.readouterr().err.startswith(
        f"sdnet ensemble: error: {out} holds another ensemble (the ensemble of "
        "tiny_network.mdl (3 runs, seed 1), written ")
    assert main([*argv[:5], "2", *argv[6:], "--overwrite"]) == 0
    assert sdnet.EnsembleResult.load(out / "ensemble.zarr").provenance.seed == 2  # type: ignore[union-attr]
