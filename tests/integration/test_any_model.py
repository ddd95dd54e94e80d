"""Every command on models of other fields: a Bass diffusion and an SIR epidemic of our own
(tests/data, no model card), and the public suite's teacup, Workforce and Population samples
(../shared/conformance, skipped when absent). None of them may meet a traceback or a word of
the flagship model (network, members, push, firms, region...)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from sdnet.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"
SUITE = Path(__file__).resolve().parents[3] / "shared" / "conformance"
OURS = {"bass": DATA / "bass_diffusion.mdl", "sir": DATA / "sir.mdl"}
SAMPLES = {"teacup": SUITE / "teacup" / "teacup.mdl",
           "workforce": SUITE / "Workforce" / "workforce.mdl",
           "population": SUITE / "Population" / "Subscripted Population Model.mdl"}
#: words of the flagship model that another model's output must never show
FLAGSHIP_WORDS = re.compile(r"\b(network|networks|members?|push|firms?|regions?|embedded\w*|"
                            r"sponsor\w*|flexnet)\b", re.IGNORECASE)


def _model(name: str) -> Path:
    path = OURS.get(name) or SAMPLES[name]
    if not path.is_file():
        pytest.skip(f"{path} is absent (the public SDXorg suite is read from ../shared/)")
    return path


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDNET_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def _flagship_words(text: str) -> list[str]:
    return sorted({m.group(0).lower() for m in FLAGSHIP_WORDS.finditer(text)})


@pytest.mark.parametrize("name", [*OURS, *SAMPLES])
def test_describe_check_and_run_on_any_model(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _model(name)
    assert main(["describe", str(model)]) == 0
    described = capsys.readouterr().out
    assert "parameter" in described
    if name != "population":  # 351 towns: the battery is a benchmark's job, not a test's
        # check's exit code says whether every applicable check passed; either is an answer
        # Workforce runs 4,800 steps on PySD, and the integration check ran it again at half
        # the step (four fifths of the suite's slowest test): it tests a coarser step here
        step = ["--time-step", "0.125"] if name == "workforce" else []
        assert main(["check", str(model), *step]) in (0, 1)
        checked = capsys.readouterr().out
        assert "not applicable" in checked or "pass" in checked
    assert main(["run", str(model), "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    frame = pd.read_csv(tmp_path / "run.csv", index_col="time")
    assert frame.shape[0] > 1 and frame.notna().all().all()
    assert (tmp_path / "run.png").stat().st_size > 0
    assert _flagship_words(printed) == []


def test_units_range_with_an_increment_is_a_range() -> None:
    # Workforce declares ranges like [0,?,1]: the third entry is Vensim's slider increment
    from sdnet.model import load_model

    model = load_model(_model("workforce"))
    stepped = [p for p in model.parameters.values() if p.lower is not None]
    assert stepped, "the sample declares ranges"
    for parameter in stepped:
        assert parameter.upper is None or parameter.lower <= parameter.upper


def test_run_without_stocks_plots_the_variables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "no_stock.mdl"
    model.write_text(
        "{UTF-8}\nRamp Out = Slope * Time\n~ widget/Week\n~ |\nSlope = 2\n~ widget/Week/Week "
        "[0,10]\n~ [lever] |\nFINAL TIME = 4\n~ Week\n~ |\nINITIAL TIME = 0\n~ Week\n~ |\n"
        "SAVEPER = 1\n~ Week\n~ |\nTIME STEP = 0.5\n~ Week\n~ |\n", encoding="utf-8")
    assert main(["run", str(model), "--vars", "Ramp Out", "--out", str(tmp_path / "o")]) == 0
    frame = pd.read_csv(tmp_path / "o" / "run.csv", index_col="time")
    assert frame["Ramp Out"].tolist() == [0.0, 2.0, 4.0, 6.0, 8.0]
    assert (tmp_path / "o" / "run.png").is_file()
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["sir", "teacup"])
def test_ensemble_and_diagram_on_any_model(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _model(name)
    code = main(["ensemble", str(model), "--samples", "4", "--no-progress",
                 "--out", str(tmp_path / "ens")])
    printed = capsys.readouterr()
    if name == "teacup":  # teacup declares no range: a clear one-line error, no traceback
        assert code == 2 and "has no constant with a declared range" in printed.err
    else:
        assert code == 0 and (tmp_path / "ens" / "ensemble.zarr" / "zarr.json").is_file()
    code = main(["diagram", str(model), "--out", str(tmp_path / "d.svg")])
    printed = capsys.readouterr()
    if name == "sir":  # written by hand, no sketch: said in one line
        assert code == 2 and "has no diagram" in printed.err
    else:
        assert code == 0 and (tmp_path / "d.svg").stat().st_size > 0


def test_a_bass_study_of_ones_own_runs_end_to_end_with_a_neutral_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "bass"
    folder.mkdir()
    shutil.copy(DATA / "bass_diffusion.mdl", folder)
    shutil.copy(DATA / "bass_study.toml", folder)
    out = tmp_path / "out"
    assert main(["experiment", str(folder / "bass_study.toml"), "--n", "8", "--quiet",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics.columns[-2:]) == ["time_to_half", "peak_adoption"]
    assert (metrics["status"] == "ok").all()
    # the metrics are the model's numbers: the peak adoption of every run is positive and
    # 500 people (half the default market) adopt within the 20 years in most runs
    assert (metrics["peak_adoption"] > 0).all()
    assert metrics["time_to_half"].notna().mean() > 0.5
    report = (out / "report" / "report.md").read_text(encoding="utf-8")
    assert "time (Year)" in (out / "report" / "figures" / "fan-1.svg").read_text()
    assert _flagship_words(report) == [], "another model's report speaks flexnet"
    assert _flagship_words(printed) == []
    assert "Which parameters decide how fast a product spreads?" in report


def test_a_study_of_a_model_without_a_card_names_the_key_of_a_push(tmp_path: Path) -> None:
    from sdnet.errors import ExperimentError
    from sdnet.experiment import parse_experiment

    study = {"experiment": {"name": "s", "model": str(DATA / "bass_diffusion.mdl")},
             "push": {"amount": 5}, "factors": [{"name": "imitation_coefficient"}],
             "design": {"method": "lhs", "n": 4}}
    with pytest.raises(ExperimentError) as caught:
        parse_experiment(study)
    assert str(caught.value) == (
        "[push] a push needs a push schedule, and bass_diffusion.mdl has no model card "
        "(bass_diffusion.toml beside "
        'it with a [[schedules]] entry of kind "push"); remove the push or write the card')
    del study["push"]
    study["metrics"] = [{"name": "sustained"}]
    with pytest.raises(ExperimentError) as caught:
        parse_experiment(study)
    assert str(caught.value) == (
        "[metrics[0].name] unknown metric 'sustained' (bass_diffusion.mdl has no model card "
        "(bass_diffusion.toml beside it), so no named outcomes; or give variable and reducer)")
    del study["metrics"]
    experiment = parse_experiment(study)  # no metrics: the final value of every stock
    assert [m.name for m in experiment.metrics] == ["final_adopters",
                                                    "final_potential_adopters"]


def test_a_package_study_of_a_model_without_a_card(tmp_path: Path) -> None:
    """Packages in the same worlds on a Bass model: lever values only (no push, no presets,
    no public money), success an outcome of one's own, a neutral "Policy comparison"."""
    folder = tmp_path / "bass"
    folder.mkdir()
    shutil.copy(DATA / "bass_diffusion.mdl", folder)
    pd.DataFrame({"imitation_coefficient": [0.05, 0.1, 0.2, 0.4, 0.6, 0.9]}).to_csv(
        folder / "worlds.csv", index=False)
    (folder / "study.toml").write_text("""
[experiment]
name = "innovators"
model = "bass_diffusion.mdl"
seed = 5
question = "Do more innovators make the product spread in every world?"

[run]
final_time = 10

[[policies]]
name = "quiet"
label = "few innovators"
params = { innovation_coefficient = 0.001 }

[[policies]]
name = "loud"
params = { "Innovation Coefficient" = 0.05 }

[design]
method = "sets"
file = "worlds.csv"

[[metrics]]
name = "adopted"
variable = "Adopters"
reducer = "final"

[analysis]
packages = { success = "adopted", at_least = 500 }
""", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["experiment", str(folder / "study.toml"), "--quiet", "--out", str(out)]) == 0
    summary = pd.read_csv(out / "analyses" / "packages.csv").set_index("package")
    metrics = pd.read_csv(out / "metrics.csv")
    for package in ("quiet", "loud"):
        adopted = metrics[metrics["case"] == package]["adopted"]
        assert summary.loc[package, "successes"] == int((adopted >= 500).sum())
    # half the market by year 10: with few innovators only in the most imitative world, with
    # many in all but the least imitative one
    assert (summary.loc["quiet", "successes"], summary.loc["loud", "successes"]) == (1, 5)
    assert "cost_per_success" not in summary.columns
    report = (out / "report" / "report.md").read_text(encoding="utf-8")
    assert "## Policy comparison" in report
    assert "succeeds most often" in report
    # no [mechanism] on a card (no card at all): no part on what the successes live on
    assert not (out / "analyses" / "mechanisms.csv").exists()
    assert "successful worlds" not in report
    assert _flagship_words(report) == [], "another model's report speaks flexnet"


def test_a_study_of_a_model_without_stocks_measures_its_variables(tmp_path: Path) -> None:
    """No stock and no [[metrics]]: the final value of what the model computes (as `sdnet
    run` plots it); nothing computed at all: the error names [metrics] and says why."""
    from sdnet.errors import ExperimentError
    from sdnet.experiment import parse_experiment

    study = {"experiment": {"name": "s", "model": str(DATA / "constants_only.mdl")},
             "factors": [{"name": "growth_rate"}], "design": {"method": "lhs", "n": 4}}
    assert [(m.name, m.variables) for m in parse_experiment(study).metrics] == [
        ("final_output", ("Output",))]
    constants = tmp_path / "constants.mdl"
    constants.write_text("{UTF-8}\nRate = 0.5\n~ 1/Year [0,1]\n~ |\nFINAL TIME = 4\n~ Year\n~ |\n"
                         "INITIAL TIME = 0\n~ Year\n~ |\nSAVEPER = 1\n~ Year\n~ |\n"
                         "TIME STEP = 1\n~ Year\n~ |\n", encoding="utf-8")
    study["experiment"]["model"] = str(constants)
    study["factors"] = [{"name": "rate"}]
    with pytest.raises(ExperimentError, match=r"^\[metrics\] the study lists no \[\[metrics\]\] "
                       r"and constants\.mdl has no stock and no variable computed over time"):
        parse_experiment(study)
