"""A study end to end on the vectorized engine: results folder, reproducibility, resume."""

from __future__ import annotations

import json
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import sdnet.runner
from sdnet.cli import main
from sdnet.errors import SdnetWarning, UnknownVariableError
from sdnet.experiment import (
    AnalysisSpec,
    Experiment,
    load_experiment,
    parse_experiment,
    run_experiment,
    to_toml,
)
from sdnet.model import load_model

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "data" / "tiny_network.mdl"
FLAGSHIP = ROOT / "experiments" / "sustaining_levers.toml"
SENSITIVITY = ROOT / "experiments" / "lever_sensitivity.toml"

pytestmark = pytest.mark.filterwarnings("ignore::sdnet.errors.SdnetWarning")


def _write_study(folder: Path, **extra: Any) -> Path:
    spec: dict[str, Any] = {
        "experiment": {"name": "tiny_study", "model": str(TINY), "seed": 11,
                       "question": "Does a longer push keep the tiny network?"},
        "run": {"final_time": 30, "time_step": 0.0625, "saveper": 0.5, "chunk_size": 40},
        "region": {"preset": "embedded_prone"},
        "push": {"amount": 400000, "start": 2, "duration": 3},
        "factors": [{"name": "push_duration", "bounds": [0, 10]},
                    {"name": "word_of_mouth"},
                    {"name": "attrition_rate"}],
        "design": {"method": "sobol", "n": 32},
        "metrics": [{"name": "persistence_after_push"}, {"name": "sustained"},
                    {"name": "members_share"},
                    {"name": "peak_members", "variable": "Total Members", "reducer": "peak"}],
        "analysis": {"convergence": True, "prim": {"metric": "sustained"},
                     "thresholds": {"amounts": [200000, 400000], "duration": [0, 10],
                                    "tol": 0.1},
                     "integration_check": {"n": 8},
                     "time_resolved": {"variables": ["Total Members"], "every": 5.0}},
    }
    spec.update(extra)
    file = folder / "study.toml"
    file.write_text(to_toml(spec), encoding="utf-8")
    return file


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Experiment, Path, Any]:
    folder = tmp_path_factory.mktemp("study")
    experiment = load_experiment(_write_study(folder))
    result = run_experiment(experiment, out=folder / "out", progress=False)
    return experiment, folder / "out", result


def test_results_folder_follows_the_documented_layout(study: tuple) -> None:
    experiment, out, _ = study
    for name in ("spec.toml", "provenance.json", "design.json", "factors.csv", "metrics.csv",
                 "ensemble.nc", "summary.json"):
        assert (out / name).is_file(), name
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics.columns[:4]) == ["run", "case", "stage", "status"]
    assert list(metrics.columns[4:]) == [m.name for m in experiment.metrics]
    assert len(metrics) == 32 * 5
    factors = pd.read_csv(out / "factors.csv")
    assert {"push_duration", "word_of_mouth", "attrition_rate"} <= set(factors.columns)
    sobol = pd.read_csv(out / "analyses" / "sobol_persistence_after_push.csv")
    assert list(sobol.columns) == ["factor", "S1", "S1_conf", "ST", "ST_conf", "reliable",
                                   "problem"]
    convergence = pd.read_csv(out / "analyses" / "convergence_persistence_after_push.csv")
    assert list(convergence.columns) == ["n", "factor", "S1", "S1_conf", "ST", "ST_conf",
                                         "reliable", "problem"]
    assert sorted(set(convergence["n"])) == [16, 32]
    thresholds = pd.read_csv(out / "analyses" / "thresholds.csv")
    assert list(thresholds.columns[:3]) == ["region", "push_amount", "min_duration"]
    check = pd.read_csv(out / "analyses" / "integration_check.csv")
    assert list(check.columns) == ["metric", "max_change_half_dt", "max_change_rk4", "ok"]
    assert (out / "analyses" / "time_resolved_total_members.csv").is_file()
    spec = tomllib.loads((out / "spec.toml").read_text())
    assert spec["experiment"]["seed"] == 11
    provenance = json.loads((out / "provenance.json").read_text())
    assert provenance["seed"] == 11 and len(provenance["model_sha256"]) == 64
    design = json.loads((out / "design.json").read_text())
    assert design["method"] == "sobol" and design["settings"] == {"calc_second_order": False}


def test_metrics_match_the_trajectories(study: tuple) -> None:
    _, _, result = study
    members = result.ensemble.outputs("Total Members").to_numpy()
    np.testing.assert_allclose(result.metrics["peak_members"], members.max(axis=1))
    firms = load_model(TINY).parameters["number_of_firms"].default
    np.testing.assert_allclose(result.metrics["members_share"], members[:, -1] / firms)


def test_the_outputs_of_the_fan_charts_are_always_saved(study: tuple) -> None:
    # the tiny study lists no [run] variables; its model has Total Members and Trust
    experiment, _, result = study
    assert not experiment.run.variables
    model = load_model(TINY)
    expected = []
    for name in ("Total Members", "Trust", "Collective Knowledge", "Embeddedness"):
        try:
            model.resolve(name)
        except UnknownVariableError:
            continue
        expected.append(name)
    assert expected == ["Total Members", "Trust"]
    assert set(expected) <= set(result.ensemble.variables)


def test_the_prim_box_records_its_own_coverage_and_density(study: tuple) -> None:
    _, out, _ = study
    box = pd.read_csv(out / "analyses" / "prim_embedded_prone.csv")
    trajectory = pd.read_csv(out / "analyses" / "prim_embedded_prone_trajectory.csv")
    summary = json.loads((out / "summary.json").read_text())["prim"]
    entry = summary["prim/sustained/embedded_prone"]
    # recompute the box's coverage, density and mass from the runs of the Sobol' stage
    factors = pd.read_csv(out / "factors.csv")
    metrics = pd.read_csv(out / "metrics.csv")
    inside = np.ones(len(factors), dtype=bool)
    for row in box.itertuples():
        inside &= (factors[row.factor] >= row.lower).to_numpy()
        inside &= (factors[row.factor] <= row.upper).to_numpy()
    hit = metrics["sustained"].to_numpy() > 0.5
    assert entry["coverage"] == pytest.approx((hit & inside).sum() / hit.sum())
    assert entry["density"] == pytest.approx((hit & inside).sum() / inside.sum())
    assert entry["mass"] == pytest.approx(inside.mean())
    # the trajectory marks the one step the box was chosen from
    assert trajectory["chosen"].sum() == 1
    assert int(trajectory.loc[trajectory["chosen"], "step"].iloc[0]) == entry["chosen_step"]


def test_spec_toml_names_the_model_relative_to_the_folder(study: tuple) -> None:
    experiment, out, _ = study
    spec = tomllib.loads((out / "spec.toml").read_text())
    model = Path(spec["experiment"]["model"])
    assert not model.is_absolute()
    assert (out / model).resolve() == TINY.resolve()
    again = load_experiment(out / "spec.toml")
    assert again.model_path == experiment.model_path
    assert again.to_dict() == experiment.to_dict()


def test_a_longer_push_matters_most_for_persistence(study: tuple) -> None:
    _, _, result = study
    ranking = result.sobol("persistence_after_push")
    assert ranking.top(1) == ["push_duration"]


def test_thresholds_are_where_sustained_switches(study: tuple) -> None:
    _, out, _ = study
    thresholds = pd.read_csv(out / "analyses" / "thresholds.csv")
    for row in thresholds.itertuples():
        if not row.found or row.min_duration == 0:
            continue
        # the bracket ends straddle the switch of the sustained flag on the engine
        assert row.bracket_high - row.bracket_low <= 0.1
        assert row.bracket_low < row.min_duration <= row.bracket_high


def test_same_spec_and_seed_reproduce_identical_numbers(study: tuple) -> None:
    experiment, _, result = study
    again = run_experiment(experiment, progress=False)
    pd.testing.assert_frame_equal(again.metrics, result.metrics)
    pd.testing.assert_frame_equal(again.sobol("persistence_after_push").to_frame(),
                                  result.sobol("persistence_after_push").to_frame())


def test_an_interrupted_study_resumes_from_its_chunks(
    study: tuple, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment, _, result = study
    plain = Experiment(**{**experiment.__dict__,
                          "analysis": AnalysisSpec(integration_n=0)})  # the study's runs only
    calls: list[int] = []
    original = sdnet.runner.run_ensemble

    def interrupted(model: Any, factors: Any = None, **options: Any) -> Any:
        if len(calls) == 2:  # stop while the third of four chunks runs
            raise KeyboardInterrupt
        calls.append(len(factors))
        return original(model, factors, **options)

    monkeypatch.setattr(sdnet.runner, "run_ensemble", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(plain, out=tmp_path / "out", progress=False)
    chunks = tmp_path / ".out.sdnet-work" / "chunks"  # kept beside the folder, not in it
    assert len(list(chunks.glob("sobol_*.npz"))) == 2
    assert not (tmp_path / "out").exists()  # an interrupted study publishes nothing
    # issue 11, defect 5: a damaged chunk is computed again, with a warning, not a traceback
    damaged = sorted(chunks.glob("sobol_*.npz"))[1]
    damaged.write_bytes(damaged.read_bytes()[:100])

    calls.clear()
    monkeypatch.setattr(sdnet.runner, "run_ensemble", lambda *a, **k: (
        calls.append(len(a[1])), original(*a, **k))[1])
    with pytest.warns(SdnetWarning, match=rf"study 'tiny_study': the finished chunk {damaged} "
                      r"cannot be read \(BadZipFile: .*\); its 40 runs are computed again"):
        resumed = run_experiment(plain, out=tmp_path / "out", progress=False)
    assert calls == [40, 40, 40]  # the damaged chunk and the two that had not finished
    pd.testing.assert_frame_equal(resumed.metrics, result.metrics)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the chunks are gone


def _small_study(folder: Path, *, seed: int = 11) -> Experiment:
    folder.mkdir(parents=True, exist_ok=True)
    return load_experiment(_write_study(folder, analysis={}, design={"method": "sobol", "n": 8})
                           ).with_options(seed=seed)


def test_a_reused_folder_never_keeps_another_studys_analyses(
    study: tuple, tmp_path: Path
) -> None:
    """Issue 11, defect 2: a smaller study into the folder of a bigger one kept its PRIM,
    convergence and threshold tables, and its report presented them as its own."""
    import shutil

    from sdnet.errors import OutputFolderError
    from sdnet.reports import write_report

    _, big, _ = study
    out = tmp_path / "out"
    shutil.copytree(big, out)
    (out / "notes.txt").write_text("mine")
    before = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    small = _small_study(tmp_path / "small", seed=12)
    with pytest.raises(OutputFolderError) as info:
        run_experiment(small, out=out, progress=False)
    assert str(info.value).startswith(f"{out} holds another study (study 'tiny_study', written ")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == before
    result = run_experiment(small, out=out, progress=False, overwrite=True)
    analyses = sorted(p.name for p in (out / "analyses").iterdir())
    assert analyses == sorted([f"sobol_{key.split('/')[1]}.csv" for key in result.analyses]
                              + ["integration_check.csv"])  # none of the first study's
    assert json.loads((out / "summary.json").read_text())["seed"] == 12
    assert (out / "notes.txt").read_text() == "mine"
    text = write_report(out).read_text(encoding="utf-8")
    assert "the study ran no scenario discovery" in text
    assert "the study searched no thresholds" in text


def test_a_users_chunks_folder_is_never_removed(tmp_path: Path) -> None:
    """Issue 11, defect 3: a chunks/ folder already in --out was removed when a study
    completed."""
    from sdnet.errors import OutputFolderError

    small = _small_study(tmp_path / "spec")
    mine = tmp_path / "mine"
    (mine / "chunks").mkdir(parents=True)
    (mine / "chunks" / "data.npz").write_text("mine")
    with pytest.raises(OutputFolderError, match=r"holds files sdnet did not write \(chunks\)"):
        run_experiment(small, out=mine, progress=False)
    out = tmp_path / "out"
    run_experiment(small, out=out, progress=False)
    (out / "chunks").mkdir()
    (out / "chunks" / "data.npz").write_text("mine")
    run_experiment(small, out=out, progress=False)  # the same study again
    for folder in (mine, out):
        assert (folder / "chunks" / "data.npz").read_text() == "mine"


def test_a_study_killed_while_writing_leaves_the_old_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11, defect 6: a rerun killed while writing left old and new files mixed."""
    import sdnet.experiment.run as running

    small = _small_study(tmp_path / "spec")
    out = tmp_path / "out"
    run_experiment(small, out=out, progress=False)
    before = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
              if p.is_file()}
    original = running._write

    def killed(result: Any, folder: Path, *args: Any) -> None:
        original(result, folder, *args)
        (folder / "summary.json").write_text("half")
        raise KeyboardInterrupt  # killed after most files are written

    monkeypatch.setattr(running, "_write", killed)
    other = _small_study(tmp_path / "other", seed=99)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(other, out=out, progress=False, overwrite=True)
    after = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*")
             if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.sdnet-work", "other", "out",
                                                          "spec"]


def test_a_second_study_into_the_same_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11, defect 6: two studies into one --out both printed success and only the
    second remained."""
    from sdnet.errors import OutputFolderLockedError

    first = _small_study(tmp_path / "first")
    second = _small_study(tmp_path / "second", seed=99)
    out = tmp_path / "out"
    refused: list[str] = []
    original = sdnet.runner.run_ensemble

    def meanwhile(*args: Any, **kwargs: Any) -> Any:
        if not refused:  # while the first study runs, a second one starts
            with pytest.raises(OutputFolderLockedError) as info:
                run_experiment(second, out=out, progress=False)
            refused.append(str(info.value))
        return original(*args, **kwargs)

    monkeypatch.setattr(sdnet.runner, "run_ensemble", meanwhile)
    run_experiment(first, out=out, progress=False)
    assert refused[0].startswith(f"{out} is being written by another sdnet command (process ")
    assert "(study 'tiny_study', since " in refused[0]
    assert json.loads((out / "summary.json").read_text())["seed"] == 11


def test_an_interrupted_command_says_how_to_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    file = _write_study(tmp_path, analysis={}, design={"method": "sobol", "n": 8})

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(sdnet.runner, "run_ensemble", interrupted)
    out = tmp_path / "cli"
    assert main(["experiment", str(file), "--out", str(out), "--quiet"]) == 130
    assert capsys.readouterr().err.splitlines() == [
        f"sdnet experiment: {out} is left as it was; the same command resumes from the "
        "finished chunks (--no-resume starts over)", "sdnet experiment: interrupted"]
    assert not out.exists()


def test_a_file_as_the_results_folder_is_a_clear_error(tmp_path: Path) -> None:
    """Issue 11, defect 10: run_experiment(out=<a file>) raised FileExistsError."""
    from sdnet.errors import OutputFolderError

    file = tmp_path / "results"
    file.write_text("mine")
    with pytest.raises(OutputFolderError, match="is a file; give the path of a folder"):
        run_experiment(_small_study(tmp_path / "spec"), out=file, progress=False)
    assert file.read_text() == "mine"


def test_the_command_line_runs_a_study(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    file = _write_study(tmp_path, analysis={})
    code = main(["experiment", str(file), "--out", str(tmp_path / "cli"), "--quiet",
                 "--n", "16", "--seed", "5"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "tiny_study: 80 runs (0 failed)" in printed
    assert "sobol of persistence_after_push (embedded_prone):" in printed
    summary = json.loads((tmp_path / "cli" / "summary.json").read_text())
    assert summary["seed"] == 5
    # unreliable indices (n = 16 is tiny) are marked, listed after the ranked ones, and
    # the warning says why
    rows = summary["rankings"]["sobol/persistence_after_push/embedded_prone"]
    flags = [row["reliable"] for row in rows]
    assert False in flags and flags == sorted(flags, reverse=True)
    lines = printed.splitlines()
    for row in rows:
        line = next(x for x in lines if x.strip().startswith(row["factor"] + " ")
                    and f"ST {row['ST']:6.3f}" in x)
        assert line.endswith("unreliable, not ranked") != row["reliable"]
    bad = next(row for row in rows if not row["reliable"])
    assert f"{bad['factor']} ({bad['problem']})" in printed


def test_the_command_line_reports_spec_errors(tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    file = _write_study(tmp_path, design={"method": "sobol", "n": 30})
    assert main(["experiment", str(file)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"sdnet experiment: error: {file}: [design.n] must be a power of 2 for a sobol "
        "design, not 30 (e.g. 16 or 32)")


@pytest.mark.slow
def test_flagship_study_runs_at_reduced_size(tmp_path: Path) -> None:
    """The flagship package study on 6 worlds (its optimiser is left to the full run)."""
    experiment = load_experiment(FLAGSHIP)
    assert experiment.design_method == "sets" and experiment.optimize is not None
    small = replace(experiment.with_options(n=6), optimize=None)
    result = run_experiment(small, out=tmp_path / "flagship", progress=False)
    policies = list(dict.fromkeys(c.policy for c in small.cases))
    assert len(policies) == 12 and len(small.cases) == 3 * 12
    assert len(result.metrics) == 6 * 36
    summary = pd.read_csv(tmp_path / "flagship" / "analyses" / "packages.csv")
    assert len(summary) == 36
    # no push, no network (F7) in every region, in these worlds too
    assert (summary[summary["package"] == "no_push"]["successes"] == 0).all()
    checks = pd.read_csv(tmp_path / "flagship" / "analyses" / "expectations.csv")
    assert set(checks["finding"].str.split(":").str[0]) == {"F7", "F5", "F4/F5", "F6"}
    # the worlds were history-matched on the base push (flexnet's targets.toml): the base
    # push in the embedded-prone region is the TeCMEN targets' scenario, named with F4/F5
    written = json.loads((tmp_path / "flagship" / "summary.json").read_text())
    selected = {(r["region"], r["package"]): r for r in
                written["packages"]["selected_by_targets"]}
    assert set(selected) == {("typical", "base"), ("embedded_prone", "base")}
    embedded = selected[("embedded_prone", "base")]
    assert embedded["targets"][:2] == ["tecmen_members_1997", "tecmen_members_2021"]
    assert any(c.startswith("F4/F5") for c in embedded["claims"])
    # sponsor money raised (the card's integral of Sponsor Contributions): every network that
    # survives had local sponsors; a run without a push raises none
    metrics = result.metrics
    survived = metrics["survived_10"] == 1
    assert survived.any() and (metrics.loc[survived, "sponsor_money"] > 0).all()
    no_push = metrics["case"].str.endswith("no_push")
    assert (metrics.loc[no_push, "sponsor_money"] == 0).all()


@pytest.mark.slow
def test_the_flagship_companion_screens_at_reduced_size(tmp_path: Path) -> None:
    experiment = load_experiment(SENSITIVITY).with_options(n=2, screen_n=16)
    result = run_experiment(experiment, out=tmp_path / "levers", progress=False)
    n_factors = len(experiment.factors)
    assert result.screen_design is not None
    # three seeds in each of three regions
    assert result.screen_design.n_runs == 2 * (n_factors + 1)
    assert len(result.morris("member_years", case="typical").names) == n_factors
    assert (tmp_path / "levers" / "analyses" / "screen_stability.csv").is_file()


def _screened(tmp_path: Path, screen: dict[str, Any], **analysis: Any) -> Experiment:
    """A screened study of both region presets with every uncertain parameter."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    return load_experiment(_write_study(
        tmp_path, region={"presets": ["typical", "embedded_prone"]},
        factors=[{"name": "push_duration", "bounds": [0, 10]},
                 {"name": "push_amount", "bounds": [0, 800000]}, {"kind": "uncertain"}],
        design={"method": "morris", "n": 4},
        metrics=[{"name": "members_share"},
                 {"name": "peak_members", "variable": "Total Members", "reducer": "peak"}],
        analysis={"screen": {"top": 3, "n": 16, "metric": "members_share", **screen},
                  "integration_check": False, **analysis}))


def test_a_screen_over_three_seeds_says_which_factors_move(tmp_path: Path) -> None:
    experiment = _screened(tmp_path, {"keep": ["push_amount", "push_duration"]})
    result = run_experiment(experiment, out=tmp_path / "out", progress=False)
    found = result.summary["screen_stability"]
    assert found["seeds"][0] == experiment.seed and len(found["seeds"]) == 3
    assert found["metric"] == "members_share"
    sets = [set(s) for s in found["sets"]]
    assert found["stable"] == all(s == sets[0] for s in sets)
    assert set(found["moved"]) == set.union(*sets) - set.intersection(*sets)
    # the first seed's set is the study's own Morris ranking, pooled over both presets
    own = {case: result.morris("members_share", case=case).to_frame() for case in
           ("typical", "embedded_prone")}
    pooled = sum(frame.set_index("factor")["mu_star"] / frame["mu_star"].max()
                 for frame in own.values())
    assert sets[0] == set(pooled.sort_values(ascending=False, kind="stable").index[:3])
    # the push is varied in the Sobol' stage whatever its rank
    assert found["chosen"][:2] == ["push_amount", "push_duration"]
    assert {"push_amount", "push_duration"} <= set(result.design.names)
    assert len(result.design.names) == 3
    stability = pd.read_csv(tmp_path / "out" / "analyses" / "screen_stability.csv")
    assert sorted(set(stability["seed"])) == sorted(found["seeds"])
    assert (stability.groupby("seed")["in_top"].sum() == 3).all()
    # the extra screens are a check: the tables hold the study's own stages only
    assert set(result.metrics["stage"]) == {"morris", "sobol"}


def test_a_grown_sample_equals_one_drawn_at_its_final_size(tmp_path: Path) -> None:
    grown = run_experiment(_screened(tmp_path / "a", {"seeds": 1},
                                     grow={"max_n": 64, "top": 2}), progress=False)
    record = grown.summary["growth"]
    # at N = 16 the top two cannot be told apart: the sample doubled (to the cap here)
    assert record["sizes"][:2] == [16, 32] and record["sizes"] == sorted(record["sizes"])
    assert grown.design.n == record["sizes"][-1]
    assert record["separated"] == all(record["by_case"].values())
    # it stops at the cap or as soon as the top two separate in both presets
    assert record["separated"] or grown.design.n == 64
    direct = run_experiment(_screened(tmp_path / "b", {"seeds": 1, "n": grown.design.n}),
                            progress=False)
    main = [r.metrics[r.metrics["stage"] == "sobol"].reset_index(drop=True)
            for r in (grown, direct)]
    pd.testing.assert_frame_equal(main[0], main[1])
    pd.testing.assert_frame_equal(grown.runs, direct.runs)
    np.testing.assert_array_equal(grown.ensemble.dataset["outputs"].to_numpy(),
                                  direct.ensemble.dataset["outputs"].to_numpy())


def _policy_study(tmp_path: Path, *, n: int, hysteresis: bool = False) -> Path:
    """A study comparing a short matched push ("short") with a long one ("long")."""
    analysis: dict[str, object] = {"compare": {"metric": "members_share"},
                                   "integration_check": False}
    if hysteresis:
        analysis["hysteresis"] = True
    return _write_study(
        tmp_path,
        region={"preset": "typical"},
        policies=[{"name": "short", "amount": 400000, "duration": 2, "taper": 2, "match": 0.5},
                  {"name": "long", "amount": 200000, "duration": 6}],
        factors=[{"name": "word_of_mouth"}, {"name": "attrition_rate"}],
        design={"method": "lhs", "n": n},
        analysis=analysis,
    )


def test_two_policies_are_compared_and_hysteresis_is_tested(tmp_path: Path) -> None:
    file = _policy_study(tmp_path, n=24, hysteresis=True)
    result = run_experiment(load_experiment(file), out=tmp_path / "out", progress=False)
    comparison = pd.read_csv(tmp_path / "out" / "analyses" / "comparison.csv")
    assert list(comparison.columns) == ["region", "metric", "short_wins", "long_wins", "ties",
                                        "short_mean", "long_mean"]
    row = comparison.iloc[0]
    assert row["short_wins"] + row["long_wins"] + row["ties"] == pytest.approx(1.0)
    short = result.metrics.loc[result.metrics["case"] == "short", "members_share"].to_numpy()
    long = result.metrics.loc[result.metrics["case"] == "long", "members_share"].to_numpy()
    assert row["short_wins"] == pytest.approx(np.mean(short > long + 1e-12))
    assert row["short_mean"] == pytest.approx(short.mean())
    hysteresis = pd.read_csv(tmp_path / "out" / "analyses" / "hysteresis.csv")
    assert list(hysteresis["start"]) == ["working", "early"]
    working, early = hysteresis.iloc[0], hysteresis.iloc[1]
    assert working["members_start"] > early["members_start"]
    assert working["ratio"] == pytest.approx(
        working["members_after_10y"] / working["members_start"])


@pytest.mark.slow
def test_threshold_map_brackets_the_switch_on_the_engine(tmp_path: Path) -> None:
    from sdnet.metrics import Trajectories, card_metrics

    experiment = load_experiment(ROOT / "experiments" / "threshold_map.toml").with_options(n=2)
    run_experiment(experiment, out=tmp_path / "map", progress=False)
    model = load_model(experiment.model_path)
    analyses = tmp_path / "map" / "analyses"
    by_duration = pd.read_csv(analyses / "thresholds.csv")
    by_amount = pd.read_csv(analyses / "thresholds_amount.csv")
    assert by_duration["found"].any() and by_amount["found"].any()

    def alive(region: str, amount: float, duration: float) -> bool:
        case = next(c for c in experiment.cases if c.region == region)
        values = {**case.values, "push_amount": amount, "push_duration": duration}
        run = sdnet.runner.run_ensemble(
            model, pd.DataFrame([values]), final_time=experiment.run.final_time,
            time_step=experiment.run.time_step, saveper=experiment.run.saveper,
            variables=["Total Members"], progress=False)
        data = Trajectories(run.dataset["time"].to_numpy(),
                            {"Total Members": run.outputs("Total Members").to_numpy()},
                            np.array([values["push_start"] + duration + values["push_taper"]]),
                            {"number_of_firms":
                             np.array([model.parameters["number_of_firms"].default])})
        return bool(card_metrics(model.card)["alive_after_push"](data)[0])

    for row in by_duration[by_duration["bracket_low"].notna()].itertuples():
        assert row.bracket_high - row.bracket_low <= 0.05
        assert alive(row.region, row.push_amount, row.bracket_high)
        assert not alive(row.region, row.push_amount, row.bracket_low)
    for row in by_amount[by_amount["bracket_low"].notna()].itertuples():
        assert row.bracket_high - row.bracket_low <= 1000
        assert alive(row.region, row.bracket_high, row.push_duration)
        assert not alive(row.region, row.bracket_low, row.push_duration)


@pytest.mark.parametrize("file", sorted((ROOT / "experiments").glob("*.toml")),
                         ids=lambda p: p.name)
def test_every_study_file_is_valid(file: Path) -> None:
    experiment = load_experiment(file)
    assert experiment.name == file.stem
    assert experiment.question


def test_the_readme_example_is_a_valid_study() -> None:
    text = (ROOT / "experiments" / "README.md").read_text(encoding="utf-8")
    block = text[text.index("```toml") + len("```toml"):]
    block = block[: block.index("```")]
    experiment = parse_experiment(tomllib.loads(block),
                                  path=ROOT / "experiments" / "example.toml")
    assert [c.name for c in experiment.cases] == ["short_matched", "long"]


@pytest.mark.parametrize(("design", "files"), [
    ({"method": "efast", "n": 65, "M": 4},
     ["fast_peak_members.csv", "time_resolved_total_members.csv"]),
    ({"method": "grid", "n": 3}, ["prim_embedded_prone.csv"]),
])
def test_efast_and_grid_designs_run(tmp_path: Path, design: dict, files: list[str]) -> None:
    file = _write_study(
        tmp_path, design=design,
        factors=[{"name": "word_of_mouth"}, {"name": "attrition_rate"}],
        metrics=[{"name": "peak_members", "variable": "Total Members", "reducer": "peak"},
                 {"name": "alive_after_push"}],
        analysis={"prim": {"metric": "alive_after_push"}, "integration_check": False,
                  # a grid gives no time-resolved indices (refused at load, issue 11 #8)
                  **({"time_resolved": {"variables": ["Total Members"], "every": 10.0}}
                     if design["method"] == "efast" else {})})
    result = run_experiment(load_experiment(file), out=tmp_path / "out", progress=False)
    assert result.design.method == design["method"]
    for name in files:
        assert (tmp_path / "out" / "analyses" / name).is_file(), name
    if design["method"] == "efast":
        frame = pd.read_csv(tmp_path / "out" / "analyses" / "fast_peak_members.csv")
        assert list(frame.columns) == ["factor", "S1", "S1_conf", "ST", "ST_conf", "reliable",
                                       "problem"]
        assert result.efast("peak_members").names == ("word_of_mouth", "attrition_rate")


def test_report_of_a_policy_comparison_says_where_the_first_policy_wins(tmp_path: Path) -> None:
    from sdnet.reports import write_report

    file = _policy_study(tmp_path, n=64)
    run_experiment(load_experiment(file), out=tmp_path / "out", progress=False)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    if not summary.get("prim"):
        pytest.fail("the comparison study ran no scenario discovery")
    report = write_report(tmp_path / "out").with_suffix(".md").read_text()
    assert "## Where the short policy wins (scenario discovery)" in report
    assert "saw the short policy win (density)" in report
    assert "sustained the network (density)" not in report


def test_spec_toml_holds_the_model_files_time_settings_where_run_leaves_them_out(
    tmp_path: Path,
) -> None:
    spec = {
        "experiment": {"name": "bare", "model": str(TINY), "seed": 1},
        "factors": [{"name": "push_duration", "bounds": [0, 8]}],
        "design": {"method": "lhs", "n": 4},
        "metrics": [{"name": "persistence_after_push"}],
    }
    file = tmp_path / "bare.toml"
    file.write_text(to_toml(spec), encoding="utf-8")
    run_experiment(load_experiment(file), out=tmp_path / "out", progress=False)
    written = tomllib.loads((tmp_path / "out" / "spec.toml").read_text())["run"]
    names = ("final_time", "time_step", "saveper")
    model = load_model(TINY)
    assert {name: written[name] for name in names} == {
        name: model.default_control(name) for name in names
    }


def test_a_push_ending_too_late_for_ten_years_after_it_is_warned_about(tmp_path: Path) -> None:
    spec = {
        "experiment": {"name": "late", "model": str(TINY), "seed": 1},
        "run": {"final_time": 30},
        "push": {"amount": 400000, "start": 2},
        "factors": [{"name": "push_duration", "bounds": [0, 25]}],
        "design": {"method": "lhs", "n": 8},
        "metrics": [{"name": "persistence_after_push"}, {"name": "members_share"}],
    }
    file = tmp_path / "late.toml"
    file.write_text(to_toml(spec), encoding="utf-8")
    with pytest.warns(SdnetWarning) as caught:
        result = run_experiment(load_experiment(file), progress=False)
    durations = result.runs["push_duration"].to_numpy()
    taper = load_model(TINY).parameters["push_taper"].default
    late = int((2 + durations + taper + 10 > 30).sum())
    assert late > 0
    messages = [str(w.message) for w in caught if "horizon" in str(w.message)]
    assert len(messages) == 1
    assert messages[0].startswith(f"late: in {late} of {len(durations)} runs the push ends less "
                                  f"than 10 years before the horizon (year 30;")
    assert messages[0].endswith("so persistence_after_push read the horizon for them; set [run] "
                                f"final_time to at least {2 + durations.max() + taper + 10:g}"
                                " to see ten years")
    assert result.summary["notes"] == messages  # the report shows them


def test_every_study_counts_the_runs_its_cards_sanity_checks_flag(tmp_path: Path) -> None:
    """A planted check on the tiny model: the counts in summary.json are those computed
    directly from the saved trajectories, per case, and the report says them."""
    import shutil

    for suffix in (".mdl", ".toml"):
        shutil.copy(TINY.with_suffix(suffix), tmp_path / f"tiny_network{suffix}")
    card = tmp_path / "tiny_network.toml"
    card.write_text(card.read_text() + (
        '\n[[sanity]]\nname = "low_trust_survivor"\nplain = "alive with trust below 0.5"\n'
        'after_push = 5\nwhen = ["Total Members >= formed(Number of Firms)", '
        '"Trust < 0.5"]\n'
        '[[outcomes]]\nname = "grant_paid"\nvariable = "Public Push Grant"\n'
        'reducer = "integral"\nunits = "$"\n'
        '[[outcomes]]\nname = "survivors"\nvariable = "Total Members"\n'
        'reducer = "survivors_after"\npopulation = "Number of Firms"\nunits = "firm"\n'
        '[[ratios]]\nname = "per_survivor"\nnumerator = "grant_paid"\n'
        'denominator = "survivors"\nunits = "$/firm"\n'), encoding="utf-8")
    file = _write_study(
        tmp_path, region={"preset": "typical"},
        policies=[{"name": "short", "amount": 400000, "duration": 2},
                  {"name": "long", "amount": 400000, "duration": 8}],
        factors=[{"name": "word_of_mouth"}, {"name": "trust_build_rate"}],
        metrics=[{"name": "sustained"}, {"name": "grant_paid"}, {"name": "survivors"}],
        design={"method": "lhs", "n": 12}, analysis={"integration_check": False})
    spec = file.read_text().replace(str(TINY), str(tmp_path / "tiny_network.mdl"))
    file.write_text(spec, encoding="utf-8")
    out = tmp_path / "out"
    result = run_experiment(load_experiment(file), out=out, progress=False)
    summary = json.loads((out / "summary.json").read_text())
    entry = summary["sanity"]["low_trust_survivor"]

    from sdnet.results import EnsembleResult

    ensemble = EnsembleResult.load(out / "ensemble.nc")
    factors = pd.read_csv(out / "factors.csv")
    times = ensemble.dataset["time"].to_numpy()
    members = ensemble.outputs("Total Members").to_numpy()
    trust = ensemble.outputs("Trust").to_numpy()
    model = load_model(tmp_path / "tiny_network.mdl")
    firms = model.parameters["number_of_firms"].default
    end = (factors["push_start"] + factors["push_duration"] + factors["push_taper"]).to_numpy()
    at = np.minimum(end + 5, times[-1])
    alive = np.array([np.interp(t, times, row) for t, row in zip(at, members, strict=True)])
    low = np.array([np.interp(t, times, row) for t, row in zip(at, trust, strict=True)])
    expected = (alive >= max(3.0, 0.05 * firms)) & (low < 0.5)
    cases = factors["case"].to_numpy()
    assert 0 < expected.sum() < len(expected)  # the planted check separates the runs
    assert entry["flagged"] == int(expected.sum())
    assert entry["runs"] == len(result.metrics)
    assert entry["by_case"] == {case: {"flagged": int(expected[cases == case].sum()),
                                       "runs": int((cases == case).sum())}
                                for case in ("short", "long")}
    # costs per survivor: totals over each case's runs, None where nothing survived
    for case in ("short", "long"):
        rows = result.metrics[result.metrics["case"] == case]
        ratio = summary["ratios"][case]["per_survivor"]
        assert ratio["numerator"] == pytest.approx(rows["grant_paid"].sum())
        assert ratio["denominator"] == pytest.approx(rows["survivors"].sum())
        if ratio["denominator"] > 0:
            assert ratio["value"] == pytest.approx(ratio["numerator"] / ratio["denominator"])
        else:
            assert ratio["value"] is None
    assert summary["ratios"]["long"]["per_survivor"]["numerator"] == pytest.approx(
        12 * 400000 * 8, rel=0.02)  # 12 worlds, 400 k$/yr for 8 years

    from sdnet.reports._build import build_sections
    from sdnet.reports._results import load_results

    _, _, sections = build_sections(load_results(out))
    titles = [section.title for section in sections]
    assert titles.index("Sanity checks") == titles.index("Findings") + 1
    text = str(sections[titles.index("Findings")])
    assert f"low trust survivor: {int(expected.sum())} of {len(expected)} runs" in text
    assert "ratios" in text and "(survivors)" in text
