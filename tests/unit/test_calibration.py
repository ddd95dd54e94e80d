"""History matching and point fits: known answers on a Bass diffusion model, pure functions.

The Bass model (tests/data/bass_diffusion.mdl, marketing science) is run at known
coefficients p = 0.03, q = 0.38 (Bass's averages); targets are read from that run, so history
matching must keep the true coefficients and rule out far ones, and the point fit must recover
them.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sdnet.calibration import (
    history_match,
    implausibility,
    implausibility_measure,
    load_series,
    margins,
    next_box,
    point_fit,
    resample_survivors,
    simulate_targets,
)
from sdnet.cli import main
from sdnet.designs import Factor
from sdnet.errors import InvalidValueError, TargetsError
from sdnet.model import Model, load_model
from sdnet.targets import load_targets

DATA = Path(__file__).resolve().parent.parent / "data"
TRUTH = {"innovation_coefficient": 0.03, "imitation_coefficient": 0.38}


@pytest.fixture(scope="module")
def bass(cache: Path) -> Model:
    return load_model(DATA / "bass_diffusion.mdl")


@pytest.fixture(scope="module")
def truth_run(bass: Model) -> pd.DataFrame:
    return bass.run(TRUTH, variables=["Adopters", "Adoption"], final_time=15).frame


def _targets_text(run: pd.DataFrame, *, share: float = 0.05) -> str:
    """Targets read from the true run: adopters at 3 and 6 years, peak adoption, each with an
    observation sd of ``share`` of its value."""
    a3 = float(run.loc[3.0, "Adopters"])
    a6 = float(run.loc[6.0, "Adopters"])
    peak = float(run["Adoption"].max())
    return f"""
[calibration]
description = "Bass diffusion at p = 0.03, q = 0.38"
vary = ["innovation_coefficient", "imitation_coefficient"]

[run]
final_time = 15

[[targets]]
name = "adopters_3"
output = "Adopters"
time = 3
observed = {a3!r}
sd = {share * a3!r}
source = "the model at p = 0.03, q = 0.38"

[[targets]]
name = "adopters_6"
output = "adopters"
time = 6
observed = {a6!r}
sd = {share * a6!r}
discrepancy = 1.0
source = "the model at p = 0.03, q = 0.38"

[[targets]]
name = "peak_adoption"
output = "Adoption"
reducer = "max"
window = [0, 15]
observed = {peak!r}
sd = {share * peak!r}
source = "the model at p = 0.03, q = 0.38"
"""


@pytest.fixture(scope="module")
def targets_file(truth_run: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("targets") / "bass_targets.toml"
    path.write_text(_targets_text(truth_run), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def matched(bass: Model, targets_file: Path):  # type: ignore[no-untyped-def]
    return history_match(bass, targets_file, waves=3, samples_per_wave=200, seed=3,
                         progress=False)


# ------------------------------------------------------------------ pure functions


def test_implausibility_is_distance_over_total_sd_and_failed_runs_are_infinite() -> None:
    simulated = np.array([[10.0, 5.0], [13.0, np.nan]])
    values = implausibility(simulated, np.array([10.0, 4.0]), np.array([4.0, 0.25]))
    assert values[0].tolist() == [0.0, 2.0]
    assert values[1, 0] == pytest.approx(1.5)
    assert values[1, 1] == np.inf


def test_measures_max_and_second_max() -> None:
    values = np.array([[0.5, 4.0, 2.0], [1.0, 1.0, 1.0]])
    assert implausibility_measure(values).tolist() == [4.0, 1.0]
    assert implausibility_measure(values, measure="second_max").tolist() == [2.0, 1.0]
    assert implausibility_measure(values[:, :1], measure="second_max").tolist() == [0.5, 1.0]
    with pytest.raises(InvalidValueError, match="one of max, second_max"):
        implausibility_measure(values, measure="third")


def test_next_box_is_the_survivors_box_widened_and_clipped() -> None:
    kept = np.array([[0.2, 5.0], [0.4, 9.5]])
    lo, hi = next_box(kept, np.array([0.0, 0.0]), np.array([1.0, 10.0]),
                      bounds=(np.array([0.0, 0.0]), np.array([1.0, 10.0])), padding=0.05)
    assert lo == pytest.approx([0.15, 4.5])
    assert hi == pytest.approx([0.45, 10.0])  # 9.5 + 0.5 clipped to the declared 10


def test_next_box_of_one_survivor_has_a_width() -> None:
    lo, hi = next_box(np.array([[0.5]]), np.array([0.0]), np.array([1.0]),
                      bounds=(np.array([0.0]), np.array([1.0])), padding=0.1)
    assert lo[0] < 0.5 < hi[0]


def test_resampled_survivors_stay_near_them_and_inside_the_bounds() -> None:
    kept = np.array([[0.1, 5.0], [0.2, 6.0], [0.15, 5.5]])
    bounds = (np.array([0.0, 0.0]), np.array([1.0, 10.0]))
    sets = resample_survivors(kept, 2000, bounds=bounds, lower=bounds[0], upper=bounds[1],
                              spread=0.5, seed=4)
    assert sets.shape == (2000, 2)
    assert (sets >= bounds[0]).all() and (sets <= bounds[1]).all()
    # centred on the survivors, with about sqrt(var(survivors) + (0.5 sd)^2) of spread
    assert sets.mean(axis=0) == pytest.approx(kept.mean(axis=0), rel=0.05)
    expected = np.sqrt(kept[:, 1].var() + (0.5 * kept[:, 1].std(ddof=1)) ** 2)
    assert sets[:, 1].std() == pytest.approx(expected, rel=0.1)
    # steps that leave the range are folded back in, not piled up on the bound
    edge = resample_survivors(np.array([[0.0], [0.02]]), 1000, bounds=(np.zeros(1), np.ones(1)),
                              lower=np.zeros(1), upper=np.ones(1), spread=1.0, seed=1)
    assert (edge > 0).all() and (edge < 0.1).all()
    again = resample_survivors(kept, 2000, bounds=bounds, lower=bounds[0], upper=bounds[1],
                               spread=0.5, seed=4)
    assert np.array_equal(sets, again)


def test_margins_report_the_kept_range() -> None:
    frame = margins(np.array([[1.0, 0.2], [3.0, 0.6]]),
                    [Factor("a", 0.0, 4.0), Factor("b", 0.0, 1.0)])
    row = frame.set_index("parameter").loc["a"]
    assert (row["kept_lower"], row["kept_upper"], row["kept_share"]) == (1.0, 3.0, 0.5)
    assert frame.set_index("parameter").loc["b", "median"] == pytest.approx(0.4)
    assert row["q05"] == pytest.approx(1.1) and row["q95"] == pytest.approx(2.9)
    assert row["central_share"] == pytest.approx(0.45)


# ------------------------------------------------------------------ known answers


def test_true_parameters_reproduce_the_targets_exactly(bass: Model, targets_file: Path) -> None:
    targets = load_targets(targets_file, model=bass)
    sets = pd.DataFrame([TRUTH, {"innovation_coefficient": 0.09, "imitation_coefficient": 0.9},
                         {"innovation_coefficient": 0.002, "imitation_coefficient": 0.06}])
    simulated, ok = simulate_targets(bass, targets, sets)
    assert ok.all()
    observed = np.array([t.observed for t in targets.targets])
    variance = np.array([t.variance for t in targets.targets])
    values = implausibility(simulated, observed, variance)
    assert values[0] == pytest.approx(np.zeros(3), abs=1e-9)
    # far from the truth, both corners are ruled out by a wide margin
    assert implausibility_measure(values)[1:].min() > 10


def test_history_matching_keeps_the_truth_and_rules_out_far_sets(matched) -> None:  # type: ignore[no-untyped-def]
    kept = matched.nonimplausible()
    assert list(kept.columns) == ["innovation_coefficient", "imitation_coefficient"]
    assert 0 < len(kept) < sum(w.n_sets for w in matched.waves)
    bounds = matched.margins().set_index("parameter")
    for name, value in TRUTH.items():
        assert bounds.loc[name, "kept_lower"] <= value <= bounds.loc[name, "kept_upper"]
        # and the kept range is much narrower than the declared one
        assert bounds.loc[name, "kept_share"] < 0.5
    # wave 1 rules out most of the declared box; later waves sample a smaller box
    first, last = matched.waves[0], matched.waves[-1]
    assert first.n_kept < 0.25 * first.n_sets
    assert np.all(last.upper - last.lower < first.upper - first.lower)
    assert last.n_kept / last.n_sets > first.n_kept / first.n_sets


def test_the_survivors_sampler_keeps_more_sets_and_the_truth(bass: Model,
                                                             targets_file: Path) -> None:
    result = history_match(bass, targets_file, waves=2, samples_per_wave=200, seed=3,
                           sampler="survivors", progress=False)
    first, second = result.waves
    assert second.n_kept > 2 * first.n_kept
    bounds = result.margins().set_index("parameter")
    for name, value in TRUTH.items():
        assert bounds.loc[name, "kept_lower"] <= value <= bounds.loc[name, "kept_upper"]
    assert result.provenance.spec["sampler"] == "survivors"


def test_each_wave_can_have_its_own_number_of_sets(bass: Model, targets_file: Path,
                                                  matched) -> None:  # type: ignore[no-untyped-def]
    result = history_match(bass, targets_file, waves=2, samples_per_wave=[200, 60], seed=3,
                           sampler="survivors", progress=False)
    assert [wave.n_sets for wave in result.waves] == [200, 60]
    # the first wave is the same Latin hypercube as with one count for every wave
    assert np.array_equal(result.waves[0].sets, matched.waves[0].sets)
    assert result.provenance.spec["samples_per_wave"] == [200, 60]


def test_kept_sets_are_non_implausible_when_run_again(bass: Model, matched) -> None:  # type: ignore[no-untyped-def]
    kept = matched.nonimplausible()
    simulated, ok = simulate_targets(bass, matched.targets, kept)
    observed = np.array([t.observed for t in matched.targets.targets])
    variance = np.array([t.variance for t in matched.targets.targets])
    assert ok.all()
    assert implausibility_measure(implausibility(simulated, observed, variance)).max() <= 3.0


def test_wave_summary_counts_what_each_target_ruled_out(matched) -> None:  # type: ignore[no-untyped-def]
    summary = matched.summary()
    runs = matched.runs()
    for wave in matched.waves:
        row = summary.set_index("wave").loc[wave.number]
        part = runs[runs["wave"] == wave.number]
        assert row["kept"] == int(part["kept"].sum()) == wave.n_kept
        for name in matched.targets.names:
            assert row[f"ruled_out_{name}"] == int((part[f"I_{name}"] > 3.0).sum())
        ruled_out = part[~part["kept"]]
        assert (ruled_out["measure"] > 3.0).all()


def test_history_matching_is_reproducible(bass: Model, targets_file: Path, matched) -> None:  # type: ignore[no-untyped-def]
    again = history_match(bass, targets_file, waves=1, samples_per_wave=200, seed=3,
                          progress=False)
    assert np.array_equal(again.waves[0].sets, matched.waves[0].sets)
    assert np.array_equal(again.waves[0].kept, matched.waves[0].kept)
    assert again.provenance.spec["targets_sha256"] == matched.targets.sha256


def test_impossible_targets_stop_after_a_wave_that_keeps_nothing(
    bass: Model, truth_run: pd.DataFrame, tmp_path: Path
) -> None:
    # 5,000 adopters after 3 years: more than the market of 1,000 can ever hold
    text = re.sub(r"(time = 3\nobserved = )[0-9.e+-]+", r"\g<1>5000.0", _targets_text(truth_run))
    path = tmp_path / "impossible.toml"
    path.write_text(text, encoding="utf-8")
    result = history_match(bass, path, waves=3, samples_per_wave=50, seed=0, progress=False)
    assert len(result.waves) == 1 and not result.complete
    assert result.waves[0].n_kept == 0
    assert len(result.nonimplausible()) == 0


def test_bad_history_match_options(bass: Model, targets_file: Path) -> None:
    with pytest.raises(InvalidValueError, match=r"'waves'.*an integer >= 1"):
        history_match(bass, targets_file, waves=0, progress=False)
    with pytest.raises(InvalidValueError, match=r"'samples_per_wave'.*2 of them \(one per wave"):
        history_match(bass, targets_file, waves=2, samples_per_wave=[100], progress=False)
    with pytest.raises(InvalidValueError, match=r"'samples_per_wave'.*an integer >= 2"):
        history_match(bass, targets_file, waves=2, samples_per_wave=[100, 1], progress=False)
    with pytest.raises(InvalidValueError, match=r"'cutoff'.*positive"):
        history_match(bass, targets_file, cutoff=-1, progress=False)
    with pytest.raises(InvalidValueError, match="'measure'"):
        history_match(bass, targets_file, measure="mean", progress=False)


# ------------------------------------------------------------------ point fit


@pytest.fixture(scope="module")
def series_file(truth_run: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("series") / "bass_series.csv"
    frame = truth_run.loc[[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 12.0]]
    frame.to_csv(path, index_label="time")
    return path


def test_point_fit_recovers_the_true_coefficients(bass: Model, series_file: Path) -> None:
    fit = point_fit(bass, series_file, vary=list(TRUTH))
    assert fit.success
    assert fit.params["innovation_coefficient"] == pytest.approx(0.03, rel=1e-4)
    assert fit.params["imitation_coefficient"] == pytest.approx(0.38, rel=1e-4)
    assert max(fit.rmse.values()) < 1e-3
    assert fit.to_frame()["start"].tolist() == [0.01, 0.2]  # the model file's values


def test_point_fit_by_differential_evolution(bass: Model, series_file: Path) -> None:
    fit = point_fit(bass, series_file, vary=list(TRUTH), method="differential_evolution",
                    seed=2, max_evaluations=600)
    assert fit.params["innovation_coefficient"] == pytest.approx(0.03, rel=1e-3)
    assert fit.params["imitation_coefficient"] == pytest.approx(0.38, rel=1e-3)


def test_series_errors_name_the_file_and_column(bass: Model, tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text("t,Adopters\n0,1\n", encoding="utf-8")
    with pytest.raises(TargetsError, match=r"s\.csv: \[time\] no 'time' column \(columns: t, "
                                           r"Adopters\)"):
        load_series(path, bass)
    path.write_text("time,Adoptres\n0,1\n", encoding="utf-8")
    with pytest.raises(TargetsError, match=r"\[Adoptres\] unknown variable 'Adoptres'.*did you "
                                           r"mean 'Adopters'"):
        load_series(path, bass)
    path.write_text("time,Adopters\n0,1\n1,lots\n", encoding="utf-8")
    with pytest.raises(TargetsError, match=r"\[Adopters\] row 2 is not a number: 'lots'"):
        load_series(path, bass)
    path.write_text("time,Adopters\n1,1\n0,2\n", encoding="utf-8")
    with pytest.raises(TargetsError, match=r"\[time\] times must increase strictly"):
        load_series(path, bass)
    with pytest.raises(TargetsError, match="time series file not found"):
        load_series(tmp_path / "none.csv", bass)


# ------------------------------------------------------------------ command line


def test_cli_calibrate_writes_the_results_folder(targets_file: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "calib"
    code = main(["calibrate", str(DATA / "bass_diffusion.mdl"), str(targets_file), "--out",
                 str(out), "--waves", "2", "--samples", "100", "--seed", "1", "--no-progress"])
    assert code == 0
    for name in ("nonimplausible.csv", "runs.csv", "waves.csv", "margins.csv", "boxes.csv",
                 "targets.csv", "fits.png", "report.md", "report.html", "provenance.json"):
        assert (out / name).is_file(), name
    kept = pd.read_csv(out / "nonimplausible.csv")
    waves = pd.read_csv(out / "waves.csv")
    assert list(kept.columns) == ["innovation_coefficient", "imitation_coefficient"]
    assert len(kept) == waves["kept"].sum()
    printed = capsys.readouterr()
    assert "200 sets run in 2 waves" in printed.out
    assert "wave 1: 100 sets run" in printed.err


def test_an_interrupted_calibration_keeps_the_finished_waves(
    targets_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import sdnet.calibration.history as history

    real = history.simulate_targets
    calls = []

    def interrupted_in_wave_2(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(history, "simulate_targets", interrupted_in_wave_2)
    out = tmp_path / "calib"
    code = main(["calibrate", str(DATA / "bass_diffusion.mdl"), str(targets_file), "--out",
                 str(out), "--waves", "3", "--samples", "50", "--no-progress"])
    assert code == 130
    assert "kept the 1 finished wave(s)" in capsys.readouterr().err
    assert pd.read_csv(out / "waves.csv")["wave"].tolist() == [1]
    assert "only 1 of 3 waves finished" in (out / "report.md").read_text(encoding="utf-8")


def test_cli_calibrate_takes_one_count_per_wave(targets_file: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "calib"
    code = main(["calibrate", str(DATA / "bass_diffusion.mdl"), str(targets_file), "--out",
                 str(out), "--waves", "2", "--samples", "80,40", "--no-progress"])
    assert code == 0
    assert pd.read_csv(out / "waves.csv")["sets"].tolist() == [80, 40]
    with pytest.raises(SystemExit) as stopped:  # argparse's own exit for a bad option
        main(["calibrate", str(DATA / "bass_diffusion.mdl"), str(targets_file), "--out",
              str(tmp_path / "bad"), "--waves", "2", "--samples", "80,many"])
    assert stopped.value.code == 2
    assert "'80,many' is not a count of sets" in capsys.readouterr().err


def test_cli_calibrate_refuses_a_folder_it_did_not_write(targets_file: Path,
                                                         tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me", encoding="utf-8")
    code = main(["calibrate", str(DATA / "bass_diffusion.mdl"), str(targets_file), "--out",
                 str(mine), "--waves", "1", "--samples", "10", "--no-progress"])
    assert code == 2
    assert (mine / "notes.txt").read_text(encoding="utf-8") == "keep me"
    assert not (mine / "runs.csv").exists()


def test_cli_point_fit(series_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "fit"
    code = main(["calibrate", str(DATA / "bass_diffusion.mdl"), str(series_file),
                 "--point-fit", "--vary", "innovation_coefficient,imitation_coefficient",
                 "--out", str(out)])
    assert code == 0
    table = pd.read_csv(out / "point_fit.csv").set_index("parameter")
    assert table.loc["imitation_coefficient", "value"] == pytest.approx(0.38, rel=1e-4)
    assert (out / "point_fit.png").is_file() and (out / "report.html").is_file()


def test_cli_bad_targets_end_with_one_line(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[[targets]]\nname = "x"\noutput = "Adopters"\ntime = 3\nobserved = 1\n'
                    'sd = 0\nsource = "s"\n', encoding="utf-8")
    code = main(["calibrate", str(DATA / "bass_diffusion.mdl"), str(path), "--out",
                 str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert "bad.toml: [targets.x.sd] must be a positive number, not 0" in err
