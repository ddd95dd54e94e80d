"""The study report: every section, valid self-contained HTML, Markdown with real figures,
findings written from the study's numbers, graceful notes for what a study lacks."""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from sdnet.cli import main
from sdnet.designs import Factor, sobol_design
from sdnet.errors import (
    ConvergenceWarning,
    OutputFolderError,
    ResultsFolderError,
    SketchError,
    UnknownViewError,
    UnreliableIndexWarning,
)
from sdnet.reports import BriefItem, load_results, write_diagram, write_report
from sdnet.sensitivity import convergence, prim, sobol
from sdnet.sensitivity.sobol import index_problems, output_problem
from sdnet.sketch import read_sketch

DATA = Path(__file__).resolve().parents[1] / "data"

SECTIONS = (
    "The answer in brief",
    "Findings",
    "Uncertainty over time",
    "Which levers matter",
    "Are the indices settled?",
    "Where the network survives (scenario discovery)",
    "How long a push must last (threshold maps)",
    "Other analyses",
    "Appendix: how the study was done",
    "The model's stock-and-flow structure",
    "Factors and design",
    "Numerical checks",
    "Model, version and how to reproduce",
    "Provenance",
)


def _synthetic() -> ModuleType:
    spec = importlib.util.spec_from_file_location("synthetic_study", DATA / "synthetic_study.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _synthetic().write_study(tmp_path_factory.mktemp("study") / "results", n=64)


@pytest.fixture(scope="module")
def report(study: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(study, out=tmp_path_factory.mktemp("report"))


class _Collector(HTMLParser):
    """Collects tags, attributes and text, and checks that elements nest properly."""

    VOID = frozenset({"meta", "img", "br", "hr", "link", "input", "source", "col", "wbr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> (open: {self.stack[-3:]})")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(path: Path) -> _Collector:
    parser = _Collector()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def _text(report: Path) -> str:
    return " ".join(" ".join(_parse(report).text).split())


def test_report_files(report: Path) -> None:
    assert report.name == "report.html"
    out = report.parent
    assert (out / "report.md").is_file()
    assert sorted(p.name for p in (out / "tables").glob("*.csv"))  # tables as CSV
    factors = pd.read_csv(out / "tables" / "factors.csv")
    assert list(factors["factor"]) == list(_synthetic().FACTORS)


def test_html_is_well_formed_with_every_section(report: Path) -> None:
    parsed = _parse(report)
    assert parsed.errors == []
    assert parsed.stack == []
    headings = [t for t in parsed.tags if t[0] == "h2"]
    assert len(headings) == len(SECTIONS) + 1  # and the table of contents
    text = _text(report)
    for title in SECTIONS:
        assert title in text


def test_html_is_self_contained(report: Path) -> None:
    parsed = _parse(report)
    tags = {tag for tag, _ in parsed.tags}
    assert not tags & {"script", "link", "iframe", "object", "embed"}
    for tag, attrs in parsed.tags:
        for name in ("src", "href", "srcset", "action", "data"):
            if name not in attrs:
                continue
            value = attrs[name] or ""
            assert not re.match(r"\s*(https?:)?//", value), (tag, name, value[:80])
            if name == "href":
                assert value.startswith("#"), value  # only links within the page
    images = [attrs["src"] or "" for tag, attrs in parsed.tags if tag == "img"]
    assert len(images) == 15  # 14 and the brief's decisive figure
    for src in images:
        prefix = "data:image/svg+xml;base64,"
        assert src.startswith(prefix)
        svg = base64.b64decode(src[len(prefix):])
        assert b"<svg" in svg[:500]
        # matplotlib draws text as paths: no font is fetched by the browser
        assert b"@font-face" not in svg and b"url(http" not in svg
    html_text = report.read_text(encoding="utf-8")
    assert "http://" not in html_text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html_text


def test_markdown_has_the_same_sections_and_existing_figures(report: Path) -> None:
    markdown = (report.parent / "report.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", markdown, flags=re.MULTILINE)
    assert [h.replace("\\", "") for h in headings] == list(SECTIONS)
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert len(figures) == 15  # 14 and the brief's decisive figure
    for figure in figures:
        path = report.parent / figure
        assert path.is_file() and path.suffix == ".svg"
        assert path.read_bytes().lstrip().startswith(b"<?xml")
    assert sorted(p.name for p in (report.parent / "figures").iterdir()) == sorted(
        Path(f).name for f in figures)


def test_findings_come_from_the_numbers(study: Path, report: Path) -> None:
    text = _text(report)
    metrics = pd.read_csv(study / "metrics.csv")
    ok = metrics["status"] == "ok"
    n = int(ok.sum())
    k = int((metrics.loc[ok, "sustained"] == 1).sum())
    assert (f"Of the {n} runs that finished, {k} ({100 * k / n:.0f}%) sustained the network"
            in text)
    assert f"{len(metrics) - n} of {len(metrics)} runs failed" in text
    # the regime and each top lever are said once, in brief, before the details
    assert text.count("sustained the network ten years after") == 1
    assert text.index("In brief") < text.index("sustained the network ten years after") < \
        text.index("In detail")
    assert re.search(r"\d+ findings below come with a caution", text)
    sobol = pd.read_csv(study / "analyses" / "sobol_persistence_after_push.csv")
    top = sobol.sort_values("ST", ascending=False).iloc[0]
    assert (
        f"{top['factor']} explains {100 * top['S1']:.0f}% (± {100 * top['S1_conf']:.0f} points) "
        "of the variance in members 10 years after the push ends / members when it ended"
        in text  # the card's plain name of persistence_after_push
    )
    s1_sum = float(np.clip(sobol["S1"], 0, None).sum())
    assert f"First-order effects add up to {100 * min(s1_sum, 1):.0f}% of the variance" in text
    thresholds = pd.read_csv(study / "analyses" / "thresholds.csv")
    row = thresholds[(thresholds["region"] == "embedded-prone")].iloc[1]
    assert f"{row['min_duration']:.3g} years at {row['push_amount']:,.0f} $/Year" in text


def test_thresholds_hysteresis_and_comparisons_are_told(study: Path, report: Path) -> None:
    text = _text(report)
    by_amount = pd.read_csv(study / "analyses" / "thresholds_amount.csv")
    row = by_amount.iloc[0]
    # the spec names no threshold metric: the search's default, alive_after_push
    # the goal says what "alive" means (QA F18: a reader compared it with "embeds")
    assert (f"In the {row['region']} region, to keep the network alive (at least max(3, 5% of "
            "firms) members ten years after the public push ends), the push must be at least "
            f"{row['min_amount']:,.0f} $/Year for {row['push_duration']:g} years") in text
    assert ("In the typical region, a network started from the full state of a working network "
            "persists without push (members after 10 years: 90% of the start); started from an "
            "early, small state does not persist without push") in text
    comparison = pd.read_csv(study / "analyses" / "comparison.csv").iloc[0]
    total = comparison["short_matched_wins"] + comparison["long_unconditional_wins"] + \
        comparison["ties"]
    assert ("on whether persistence >= 0.6 and members >= max(3, 5% of firms) 10 years after "
            "the push ends, short_matched does better most often: wins short_matched in "
            f"{comparison['short_matched_wins']} "
            f"({100 * comparison['short_matched_wins'] / total:.0f}%)") in text
    assert "Other analyses" in text  # hysteresis and comparison tables shown as they are


def test_wide_intervals_raise_visible_cautions(study: Path, report: Path) -> None:
    convergence = pd.read_csv(study / "analyses" / "convergence_sustained.csv")
    last = convergence[convergence["n"] == convergence["n"].max()]
    widest = last.loc[last["ST_conf"].idxmax()]
    assert widest["ST_conf"] > 0.1  # the small synthetic study has not converged
    parsed = _parse(report)
    cautions = [attrs for tag, attrs in parsed.tags if attrs.get("class") == "caution"]
    assert cautions
    text = _text(report)
    sustained = ("whether persistence >= 0.6 and members >= max(3, 5% of firms) 10 years after "
                 "the push ends")  # the card's plain name of sustained
    assert (f"the ST interval of {widest['factor']} for {sustained} is still "
            f"± {100 * widest['ST_conf']:.0f} points" in text)


def test_every_plot_reads_the_study_files(report: Path) -> None:
    names = sorted(p.stem for p in (report.parent / "figures").iterdir())
    assert names == sorted([
        "diagram-1", "diagram-2", "fan-1", "fan-2", "fan-3", "fan-4",
        "morris-persistence_after_push", "sobol-persistence_after_push", "sobol-sustained",
        "time-resolved-total_members", "convergence-persistence_after_push",
        "convergence-sustained", "prim-typical", "thresholds",
        "brief-sobol-persistence_after_push",  # the brief's decisive figure: the indices of
    ])                                          # the first metric (no outcome map here)


def test_study_without_analyses_gets_notes_not_errors(tmp_path: Path) -> None:
    results = tmp_path / "bare"
    results.mkdir()
    (results / "spec.toml").write_text('[experiment]\nname = "bare"\nmodel = "missing.mdl"\n')
    pd.DataFrame({"run": [0, 1], "status": ["ok", "ok"], "sustained": [1.0, 0.0]}).to_csv(
        results / "metrics.csv", index=False)
    path = write_report(results)
    assert path == results / "report" / "report.html"
    assert _parse(path).errors == []
    text = _text(path)
    for note in (
        "the study's spec states no question",
        "the model file missing.mdl was not found, so its diagram cannot be drawn.",
        "the study saved no trajectories (ensemble.nc), so no fan charts can be drawn.",
        "the study ran no sensitivity analysis",
        "the study did not check convergence",
        "the study ran no scenario discovery",
    ):
        assert note in text
    # without a model (so without a card) the report has neutral words and no push sections
    assert "Of the 2 runs that finished, 1 (50%) sustained the system" in text
    assert "thresholds" not in text and "network" not in text
    markdown = (results / "report" / "report.md").read_text(encoding="utf-8")
    assert "> *Not in this study:* the study ran no scenario discovery" in markdown


def _bare_study(folder: Path, name: str = "bare") -> Path:
    folder.mkdir(parents=True)
    (folder / "spec.toml").write_text(f'[experiment]\nname = "{name}"\nmodel = "missing.mdl"\n')
    pd.DataFrame({"run": [0, 1], "status": ["ok", "ok"], "sustained": [1.0, 0.0]}).to_csv(
        folder / "metrics.csv", index=False)
    return folder


def test_a_report_never_removes_the_users_files(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 11, defect 3: `sdnet report --out` deleted existing figures/ and tables/."""
    results = _bare_study(tmp_path / "bare")
    mine = tmp_path / "mine"
    for name in ("figures/plot.svg", "tables/data.csv"):
        (mine / name).parent.mkdir(parents=True, exist_ok=True)
        (mine / name).write_text("mine")
    assert main(["report", str(results), "--out", str(mine)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"sdnet report: error: {mine} holds files sdnet did not write (figures, tables); sdnet "
        "writes only into a new folder, an empty one or one it wrote itself, and never removes "
        "your files: choose another output folder")
    assert sorted(p.name for p in mine.rglob("*.*")) == ["data.csv", "plot.svg"]
    # a report sdnet wrote is rewritten whole, and what the user added to it stays
    path = write_report(results)
    (path.parent / "figures" / "my-figure.svg").write_text("mine")
    (path.parent / "notes.md").write_text("mine")
    assert write_report(results) == path
    assert (path.parent / "figures" / "my-figure.svg").read_text() == "mine"
    assert (path.parent / "notes.md").read_text() == "mine"
    # the report of another study replaces it only when asked
    other = _bare_study(tmp_path / "other", name="other")
    with pytest.raises(OutputFolderError, match=r"holds another report \(the report of "):
        write_report(other, out=path.parent)
    assert "bare" in path.read_text(encoding="utf-8")
    assert main(["report", str(other), "--out", str(path.parent), "--overwrite"]) == 0
    assert "other" in path.read_text(encoding="utf-8")
    assert (path.parent / "notes.md").read_text() == "mine"


def test_results_folder_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ResultsFolderError) as info:
        write_report(missing)
    assert str(info.value) == (
        f"results folder not found: {missing} (give the folder `sdnet experiment` wrote)"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ResultsFolderError, match=r"is not a study's results folder: it has none "
                       r"of spec.toml, provenance.json"):
        load_results(empty)
    (empty / "spec.toml").write_text("[experiment\n")
    with pytest.raises(ResultsFolderError, match=r"^cannot read .*spec.toml: "):
        load_results(empty)


def test_write_diagram_one_view_or_all(tmp_path: Path) -> None:
    one = write_diagram(DATA / "two_views.mdl", tmp_path / "one.svg", view="signals")
    both = write_diagram(DATA / "two_views.mdl", tmp_path / "both.svg")
    assert one.read_bytes().lstrip().startswith(b"<?xml")
    assert both.stat().st_size > one.stat().st_size
    png = write_diagram(DATA / "two_views.mdl", tmp_path / "d.png", view="Stocks and flows")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(UnknownViewError):
        write_diagram(DATA / "two_views.mdl", tmp_path / "x.svg", view="nope")
    empty = tmp_path / "empty.mdl"
    empty.write_text("x = 1\n~ dmnl\n~ |\n\\\\\\---/// Sketch information\nV300\n*View 1\n"
                     "$192-192-192,0\n///---\\\\\\\n")
    with pytest.raises(SketchError) as info:
        write_diagram(empty, tmp_path / "x.svg")
    assert str(info.value) == f"nothing to draw: every view of model {empty} is empty"


def test_cli_report_and_diagram(study: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diagram", str(DATA / "two_views.mdl"), "--view", "Signals",
                 "--out", str(tmp_path / "d.svg")]) == 0
    assert (tmp_path / "d.svg").is_file()
    assert main(["diagram", str(DATA / "two_views.mdl"), "--view", "Signal",
                 "--out", str(tmp_path / "e.svg")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        f"sdnet diagram: error: model {DATA / 'two_views.mdl'} has no view 'Signal'; did you "
        "mean 'Signals'? (valid views: 'Stocks and flows', 'Signals')"
    )
    assert main(["diagram", str(DATA / "two_views.mdl"), "--out", str(tmp_path / "d.gif")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"sdnet diagram: error: invalid value for '--out': '{tmp_path / 'd.gif'}' (expected a "
        "file name ending in .svg, .png, .pdf)"
    )
    out = tmp_path / "rep"
    assert main(["report", str(study), "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"wrote {out / 'report.html'}"
    assert main(["report", str(tmp_path / "none")]) == 2
    assert "sdnet report: error: results folder not found" in capsys.readouterr().err


def test_cases_and_the_prim_metric_are_read_from_the_study(study: Path, tmp_path: Path) -> None:
    """A study of several cases reports each case; PRIM's outcome is the spec's metric."""
    copy = tmp_path / "cases"
    shutil.copytree(study, copy)
    metrics = pd.read_csv(copy / "metrics.csv")
    half = len(metrics) // 2
    metrics.insert(1, "case", ["typical"] * half + ["embedded_prone"] * (len(metrics) - half))
    metrics.insert(2, "stage", "sobol")
    metrics["alive"] = (metrics["persistence_after_push"] > 0.3).astype(float)
    metrics.to_csv(copy / "metrics.csv", index=False)
    with (copy / "spec.toml").open("a") as spec:
        spec.write('\n[analysis]\nprim = { metric = "alive" }\n')
    text = _text(write_report(copy, out=tmp_path / "out"))
    for case, rows in metrics.groupby("case", sort=False):
        ok = rows["status"] == "ok"
        k = int((rows.loc[ok, "sustained"] == 1).sum())
        words = case.replace("_", " ")  # a case in words: "embedded prone"
        assert (f"{words}: Of the {int(ok.sum())} runs that finished, {k} "
                f"({100 * k / ok.sum():.0f}%) sustained the network") in text
    box = pd.read_csv(copy / "analyses" / "prim_typical.csv")
    assert "PRIM searches for ranges of the factors inside which most runs meet alive." in text
    assert f"{box['factor'][0]} at least" in text and "met alive (density)" in text


def test_the_prim_box_is_reported_with_its_own_coverage_and_density(
        study: Path, tmp_path: Path) -> None:
    """The report quotes the box's numbers (summary.json, as the command line does), not
    those of a step of the peeling trajectory: pruning changes them."""
    copy = tmp_path / "prim"
    shutil.copytree(study, copy)
    factors = pd.read_csv(copy / "factors.csv").drop(columns="run")
    metrics = pd.read_csv(copy / "metrics.csv")
    ok = (metrics["status"] == "ok").to_numpy()
    hit = metrics["sustained"].to_numpy() > 0.5
    result = prim(factors[ok], hit[ok])
    assert result.n_restricted[result.chosen] > len(result.to_frame())  # pruned
    result.to_frame().to_csv(copy / "analyses" / "prim_typical.csv", index=False)
    result.trajectory().to_csv(copy / "analyses" / "prim_typical_trajectory.csv", index=False)
    (copy / "summary.json").write_text(json.dumps({"prim": {"prim/sustained/typical": {
        "coverage": result.box_coverage, "density": result.box_density,
        "mass": result.box_mass, "chosen_step": result.chosen,
        "box": result.to_frame().to_dict("records")}}}))
    inside = ok.copy()
    for row in result.to_frame().itertuples():
        inside &= (factors[row.factor] >= row.lower).to_numpy()
        inside &= (factors[row.factor] <= row.upper).to_numpy()
    coverage = (inside & hit).sum() / (ok & hit).sum()
    density = (inside & hit).sum() / inside.sum()
    assert abs(density - result.density[result.chosen]) > 0.05
    path = write_report(copy, out=tmp_path / "out")
    text = _text(path)
    assert f"Scenario discovery (typical): {100 * density:.0f}% of the runs with" in text
    assert f"they hold {100 * coverage:.0f}% of all runs that did (coverage)" in text
    stats = pd.read_csv(path.parent / "tables" / "prim_typical_stats.csv")
    assert stats["coverage"].iloc[0] == pytest.approx(coverage)
    assert stats["density"].iloc[0] == pytest.approx(density)
    assert stats["mass"].iloc[0] == pytest.approx(inside.sum() / ok.sum())
    # without summary.json's numbers the pruned box's cannot be read off the trajectory
    (copy / "summary.json").write_text("{}")
    text = _text(write_report(copy, out=tmp_path / "out2"))
    assert "the study did not record the coverage and density of the box (typical)" in text
    assert f"{100 * result.density[result.chosen]:.0f}% of the runs with" not in text


def test_no_threshold_map_when_the_plotted_runs_hold_the_push_fixed(
        study: Path, tmp_path: Path) -> None:
    """A screened study varies push amount and duration in its Morris stage only; the map
    would draw the main stage, where both are fixed: one degenerate cell."""
    copy = tmp_path / "screened"
    shutil.copytree(study, copy)
    (copy / "analyses" / "thresholds.csv").unlink()
    (copy / "analyses" / "thresholds_amount.csv").unlink()
    factors = pd.read_csv(copy / "factors.csv")
    metrics = pd.read_csv(copy / "metrics.csv")
    half = len(factors) // 2
    stage = np.where(np.arange(len(factors)) < half, "morris", "sobol")
    rng = np.random.default_rng(3)
    factors["push_amount"] = rng.uniform(0, 1e6, len(factors))
    factors.loc[half:, ["push_amount", "push_duration"]] = [300000.0, 3.5]
    factors.insert(1, "stage", stage)
    metrics.insert(1, "stage", stage)
    factors.to_csv(copy / "factors.csv", index=False)
    metrics.to_csv(copy / "metrics.csv", index=False)
    screened = load_results(copy)
    main = screened.main_mask()
    assert main is not None and main.sum() == len(factors) - half
    plotted = screened.factor_rows(main)
    assert plotted is not None
    assert plotted["push_amount"].nunique() == plotted["push_duration"].nunique() == 1
    path = write_report(copy, out=tmp_path / "out")
    assert not (path.parent / "figures" / "outcome-map.svg").exists()
    assert "the study searched no thresholds" in _text(path)
    # the same study with the push varied in the plotted rows draws the map
    factors.loc[half:, "push_amount"] = rng.uniform(0, 1e6, len(factors) - half)
    factors.loc[half:, "push_duration"] = rng.uniform(0, 10, len(factors) - half)
    factors.to_csv(copy / "factors.csv", index=False)
    path = write_report(copy, out=tmp_path / "out2")
    assert (path.parent / "figures" / "outcome-map.svg").exists()


def test_unreliable_indices_are_flagged_not_ranked(study: Path, tmp_path: Path) -> None:
    """An output about 0 in every run but one (like the flagship's embeddedness) gives
    indices that must not become "explains 100% of the variance" nor a ranking."""
    design = sobol_design([Factor(f"x{i}", -np.pi, np.pi) for i in (1, 2, 3)], 1024, seed=5)
    y = 1e-5 * np.random.default_rng(4).uniform(size=design.n_runs)
    y[int(np.argmax(design.values[:, 0]))] = 0.2
    with pytest.warns(UnreliableIndexWarning):
        frame = sobol(design, y, metric="spiky").to_frame()
    assert not frame["reliable"].any()
    problem = str(frame["problem"].iloc[0])
    copy = tmp_path / "spiky"
    shutil.copytree(study, copy)
    frame.to_csv(copy / "analyses" / "sobol_spiky.csv", index=False)
    with pytest.warns(ConvergenceWarning):  # not rankable: unreliable
        steps = convergence(design, y, min_n=256, metric="spiky").to_frame()
    steps.to_csv(copy / "analyses" / "convergence_spiky.csv", index=False)
    text = _text(write_report(copy, out=tmp_path / "out"))
    assert (f"At N = {design.n} the indices of spiky are unreliable ({problem}), so whether "
            "they have settled is not judged.") in text
    assert "for spiky is still" not in text
    assert (f"Unreliable: the variance-based indices of {', '.join(frame['factor'])} for spiky "
            f"cannot be trusted ({problem}); they are not ranked") in text
    assert (f"unreliable: the Sobol indices of spiky for {', '.join(frame['factor'])} "
            f"({problem})") in text
    for factor, st in zip(frame["factor"], frame["ST"], strict=True):
        assert f"{factor} explains" not in text
        assert f"{100 * st:.0f}% (" not in text
    assert "of the variance of spiky" not in text.split("Which levers matter")[0]
    # a table written before the check existed: the interval check runs in the report
    old = frame.drop(columns=["reliable", "problem"]).copy()
    old.loc[0, ["ST", "ST_conf"]] = [93.59, 172.51]
    old.to_csv(copy / "analyses" / "sobol_spiky.csv", index=False)
    text = _text(write_report(copy, out=tmp_path / "out2"))
    assert f"ST = {93.59:.3g} ± {172.51:.3g} is far outside the possible range 0-1" in text
    assert f"{old['factor'][0]} explains" not in text
    # the others' S1 intervals are more than twice as wide as 0-1 (or S1 far below 0)
    reasons = index_problems(*(old[c].to_numpy(float) for c in ("S1", "S1_conf", "ST",
                                                                 "ST_conf")))
    for factor, conf, reason in zip(old["factor"][1:], old["S1_conf"][1:], reasons[1:],
                                    strict=True):
        assert conf > 1 and "S1" in reason
        assert f"{factor}: {reason}" in text
        assert f"{factor} explains" not in text


def test_paths_in_the_report_are_relative_to_the_repository(study: Path, tmp_path: Path) -> None:
    """A study in out/ of a checkout: the command runs from the repository root, the model is
    named relative to the results folder, and no absolute path of this machine is shown."""
    repo = tmp_path / "checkout"
    (repo / ".git").mkdir(parents=True)
    (repo / "models").mkdir()
    model = repo / "models" / "flexnet.mdl"
    shutil.copy(DATA.parent.parent / "models" / "flexnet" / "flexnet.mdl", model)
    folder = repo / "out" / "levers"
    shutil.copytree(study, folder)
    spec = (folder / "spec.toml").read_text()
    old_model = re.search(r'^model = "(.*)"$', spec, re.M)
    assert old_model is not None
    (folder / "spec.toml").write_text(spec.replace(old_model.group(1), str(model)))
    path = write_report(folder, out=tmp_path / "report")
    markdown = (path.parent / "report.md").read_text()
    text = _text(path)
    assert str(tmp_path) not in text and str(tmp_path) not in markdown
    assert "sdnet experiment out/levers/spec.toml --out out/levers" in markdown
    assert "sdnet report out/levers" in markdown
    assert "| model file | flexnet.mdl |" in markdown
    # spec.toml as sdnet experiment writes it now: the model relative to the folder
    (folder / "spec.toml").write_text(spec.replace(old_model.group(1),
                                                   "../../models/flexnet.mdl"))
    markdown = (write_report(folder, out=tmp_path / "report2").parent / "report.md").read_text()
    assert "| model file | flexnet.mdl (../../models/flexnet.mdl from the results folder) |" \
        in markdown
    assert "Drawn from the sketch stored in flexnet.mdl" in markdown
    assert str(tmp_path) not in markdown


def test_a_table_without_flags_is_checked_against_the_metric(study: Path, tmp_path: Path) -> None:
    """A results folder written before the check: the report runs the output-level check
    on metrics.csv, so a metric that is about 0 in every run but one is not ranked."""
    copy = tmp_path / "legacy"
    shutil.copytree(study, copy)
    metrics = pd.read_csv(copy / "metrics.csv")
    spiky = 1e-5 * np.random.default_rng(2).uniform(size=len(metrics))
    spiky[5] = 0.2
    metrics["spiky"] = spiky
    metrics.to_csv(copy / "metrics.csv", index=False)
    problem = output_problem(spiky)  # the indices were computed from every run
    assert problem.startswith(f"half of its variance comes from 1 of {len(metrics)} runs")
    # well-behaved estimates by their intervals: only the metric says otherwise
    table = pd.read_csv(copy / "analyses" / "sobol_persistence_after_push.csv")
    assert "reliable" not in table.columns
    assert not any(index_problems(*(table[c].to_numpy(float) for c in (
        "S1", "S1_conf", "ST", "ST_conf"))))
    table.to_csv(copy / "analyses" / "sobol_spiky.csv", index=False)
    text = _text(write_report(copy, out=tmp_path / "out"))
    assert (f"Unreliable: the variance-based indices of {', '.join(table['factor'])} for spiky "
            f"cannot be trusted ({problem})") in text
    assert "of the variance in spiky" not in text and "of the variance of spiky:" not in text


def test_the_diagram_legend_promises_polarities_only_when_the_sketch_has_them(
        study: Path, report: Path, tmp_path: Path) -> None:
    def signed(model: Path) -> bool:
        return any(a.polarity for v in read_sketch(model).views for a in v.arrows
                   if not a.is_pipe)

    assert signed(DATA / "two_views.mdl")  # the synthetic study's model
    assert "thin blue arrows are causal links (+: same direction, −: opposite)" in \
        _text(report)
    flexnet = DATA.parent.parent / "models" / "flexnet" / "flexnet.mdl"
    assert not signed(flexnet)
    copy = tmp_path / "unsigned"
    shutil.copytree(study, copy)
    spec = (copy / "spec.toml").read_text()
    found = re.search(r'^model = "(.*)"$', spec, re.M)
    assert found is not None
    (copy / "spec.toml").write_text(spec.replace(found.group(1), str(flexnet)))
    text = _text(write_report(copy, out=tmp_path / "out"))
    assert "thin blue arrows are causal links (the model's sketch marks no link polarity)" in text
    assert "+: same direction" not in text


def test_unusable_tables_become_notes_and_cautions(study: Path, tmp_path: Path) -> None:
    """Indices that could not be estimated (NaN) and a malformed table do not stop the report."""
    copy = tmp_path / "odd"
    shutil.copytree(study, copy)
    sobol = pd.read_csv(copy / "analyses" / "sobol_sustained.csv")
    sobol[["S1", "S1_conf", "ST", "ST_conf"]] = np.nan
    sobol.to_csv(copy / "analyses" / "sobol_sustained.csv", index=False)
    pd.DataFrame({"region": ["typical"], "amount": [1.0]}).to_csv(
        copy / "analyses" / "thresholds.csv", index=False)
    path = write_report(copy, out=tmp_path / "out")
    text = _text(path)
    assert ("the Sobol indices of whether persistence >= 0.6 and members >= max(3, 5% of "
            "firms) 10 years after the push ends could not be computed (every value is "
            "missing).") in text
    assert ("Caution: this section could not be written from the study's files: "
            "plot_threshold_map needs columns push_amount, min_duration; the table has "
            "region, amount") in text
    assert _parse(path).errors == []


@pytest.mark.slow
def test_report_of_a_real_flexnet_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """End to end: `sdnet experiment` on flexnet (a tiny screened study) writes a results
    folder whose report has every section, findings from its numbers and no notes about
    missing files that the study did write."""
    model = Path(__file__).resolve().parents[2] / "models" / "flexnet" / "flexnet.mdl"
    spec = tmp_path / "tiny.toml"
    spec.write_text(f"""[experiment]
name = "tiny_levers"
model = "{model}"
seed = 7
question = "Which levers matter in a tiny study?"

[run]
final_time = 20
saveper = 1
variables = ["Trust", "Collective Knowledge", "Embeddedness"]

[region]
preset = "typical"

[[factors]]
name = "push_duration"
bounds = [0, 8]
[[factors]]
name = "broker_share"
[[factors]]
name = "sponsor_cultivation_share"

[design]
method = "sobol"
n = 16

[[metrics]]
name = "persistence_after_push"
[[metrics]]
name = "sustained"

[analysis]
convergence = true
""")
    out = tmp_path / "out"
    assert main(["experiment", str(spec), "--out", str(out), "--no-report"]) == 0
    path = write_report(out)
    parsed = _parse(path)
    assert parsed.errors == []
    text = _text(path)
    for title in SECTIONS:
        if title not in ("Other analyses", "Numerical checks"):
            assert title in text
    assert "Which levers matter in a tiny study?" in text
    for absent in ("saved no trajectories", "ran no sensitivity analysis",
                   "did not check convergence", "the saved trajectories lack"):
        assert absent not in text
    sobol = pd.read_csv(out / "analyses" / "sobol_persistence_after_push.csv")
    reliable = sobol[sobol["reliable"]]
    top = reliable.sort_values("ST", ascending=False).iloc[0]
    # factors by the model's own names: push_duration is "Push Duration" in flexnet.mdl
    named = {"push_duration": "Push Duration", "broker_share": "Broker Share",
             "sponsor_cultivation_share": "Sponsor Cultivation Share"}
    assert f"{named[top['factor']]} explains" in text
    for factor in sobol.loc[~sobol["reliable"], "factor"]:  # n = 16 is tiny
        assert f"{named[factor]} explains" not in text
    assert not re.search(r"\b(push_duration|broker_share|sponsor_cultivation_share|"
                         r"persistence_after_push) explains", text)
    figures = {p.stem for p in (path.parent / "figures").iterdir()}
    assert {"fan-1", "fan-2", "fan-3", "fan-4", "sobol-persistence_after_push",
            "convergence-persistence_after_push"} <= figures
    assert any(name.startswith("diagram-") for name in figures)
    # no path of this machine in the report; its command reproduces the study's numbers
    markdown = (path.parent / "report.md").read_text()
    for local in (str(tmp_path), str(model)):
        absolute = re.compile(r"(?<![\w.])" + re.escape(local))  # not inside ../work/...
        assert not absolute.search(text) and not absolute.search(markdown)
    assert "| model file | flexnet.mdl |" in markdown
    command = re.search(r"# from inside the results folder.*?\n(sdnet experiment [^#]*?)\s+#",
                        markdown, re.S)
    assert command is not None
    assert command.group(1) == "sdnet experiment spec.toml --out ."
    before = pd.read_csv(out / "metrics.csv")
    monkeypatch.chdir(out)
    assert main([*command.group(1).split()[1:], "--no-report", "--quiet"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "metrics.csv"), before)


# --------------------------------------------------------------------------- issue 11 (#8)
def _copy(study: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "results"
    shutil.copytree(study, folder)
    return folder


def test_a_results_folder_with_a_cut_metrics_table_is_refused(study: Path,
                                                              tmp_path: Path) -> None:
    folder = _copy(study, tmp_path)
    lines = (folder / "metrics.csv").read_text(encoding="utf-8").splitlines()
    (folder / "metrics.csv").write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")
    with pytest.raises(ResultsFolderError, match=r"the files disagree on the number of runs "
                       r"\(factors.csv: \d+, metrics.csv: 1"):
        load_results(folder)


@pytest.mark.parametrize("method", [5, "latin", None])
def test_a_design_json_with_a_bad_method_is_refused(study: Path, tmp_path: Path,
                                                    method: object) -> None:
    folder = _copy(study, tmp_path)
    design = json.loads((folder / "design.json").read_text(encoding="utf-8"))
    design["method"] = method
    (folder / "design.json").write_text(json.dumps(design), encoding="utf-8")
    shown = re.escape(repr(method))
    with pytest.raises(ResultsFolderError, match=rf"design.json: \[method\] {shown} is not a "
                       r"design method \(valid: lhs, sobol"):
        load_results(folder)


# --------------------------------------------------------------------------- issue 13 (3)
def _with_summary(study: Path, tmp_path: Path, **entries: object) -> Path:
    folder = _copy(study, tmp_path)
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    summary.update(entries)
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return folder


def _built(folder: Path) -> tuple[str, list]:
    """The report's Markdown (unescaped) and sections, without rendering its figures (fast)."""
    from sdnet.reports._build import build_sections
    from sdnet.reports._document import render_markdown

    title, subtitle, sections = build_sections(load_results(folder))
    return render_markdown(title, subtitle, sections).replace("\\", ""), sections


def test_an_unstable_screen_is_said_plainly(study: Path, tmp_path: Path) -> None:
    stability = {"metric": "members_share", "seeds": [1, 2, 3], "top": 2, "stable": False,
                 "sets": [["a", "b"], ["a", "c"], ["c", "a"]], "always": ["a"],
                 "moved": ["b", "c"], "chosen": ["b", "a"], "kept": ["b"]}
    text, sections = _built(_with_summary(study, tmp_path, screen_stability=stability))
    said = ("The screen is unstable: drawn with 3 seeds, the Morris screen names different "
            "top 2 factors of members at the horizon as a share of firms. Only a is in the top "
            "of every seed; b, c move in and out.")
    assert said in text
    assert "The Sobol' stage varies b, a (b whatever their rank)." in text
    # in the brief at the top, before the evidence
    assert text.index(said) < text.index("## Findings") < text.index("## Which levers matter")
    (table,) = [b for s in sections for b in s.blocks
                if getattr(b, "name", "") == "screen_stability_sets"]
    assert table.frame.to_dict("list") == {"seed": [1, 2, 3],
                                           "top 2 factors": ["a, b", "a, c", "c, a"]}


def test_a_stable_screen_and_a_grown_sample_are_reported(study: Path, tmp_path: Path) -> None:
    stability = {"metric": "members_share", "seeds": [1, 2, 3], "top": 2, "stable": True,
                 "sets": [["a", "b"], ["b", "a"], ["a", "b"]], "always": ["a", "b"],
                 "moved": [], "chosen": ["a", "b"], "kept": []}
    growth = {"metric": "members_share", "top": 1, "max_n": 256, "sizes": [64, 128, 256],
              "separated": False, "by_case": {"embedded_prone": False}}
    text, _ = _built(_with_summary(study, tmp_path, screen_stability=stability, growth=growth))
    share = "members at the horizon as a share of firms"
    assert ("The Morris screen was drawn with 3 seeds; every one names the same top 2 "
            f"factors of {share}: a, b.") in text
    assert ("The Sobol' sample grew from N = 64 to N = 256 (the cap, [analysis] grow.max_n = "
            f"256), and still the total-index intervals of the top 1 factor of {share} "
            "overlap with other factors' intervals in embedded prone: the study cannot "
            "separate its top 1 levers") in text
    growth.update(separated=True, sizes=[64], by_case={"embedded_prone": True})
    text, _ = _built(_with_summary(study, tmp_path / "b", growth=growth))
    assert ("The Sobol' sample stayed at N = 64: there the total-index intervals of the top 1 "
            f"factor of {share} lie apart from the others' in every case.") in text


# ------------------------------------------------------------- issue 13 (2): [optimize]
def test_robust_optimisation_is_reported_with_its_front(study: Path, tmp_path: Path) -> None:
    optima = pd.DataFrame({"region": ["embedded_prone", "embedded_prone"],
                           "required_rate": [0.5, 0.8], "found": [True, False],
                           "push_amount": [152136.5, 990000.0], "push_duration": [3.5, 9.9],
                           "success_rate": [0.5, 0.7], "cost": [532477.9, 9801000.0],
                           "evaluations": [150, 150], "generations": [13, 13],
                           "flagged_treadmill": [2, 0]})
    front = pd.DataFrame({"region": ["embedded_prone"] * 3, "push_amount": [0.0, 152136.5,
                                                                            990000.0],
                          "push_duration": [1.0, 3.5, 9.9], "success_rate": [0.0, 0.5, 0.7],
                          "cost": [0.0, 532477.9, 9801000.0]})
    summary = {"spec": {"outcome": "sustained", "cost": "public_money"}, "n_worlds": 10,
               "seconds": 4.2}
    folder = _with_summary(study, tmp_path, optimize=summary)
    optima.to_csv(folder / "analyses" / "optimize_optima.csv", index=False)
    front.to_csv(folder / "analyses" / "optimize_front.csv", index=False)
    front.assign(required_rate=0.5, generation=0).to_csv(
        folder / "analyses" / "optimize_evaluated.csv", index=False)
    pd.DataFrame({"region": ["embedded_prone"] * 2, "required_rate": [0.5, 0.5],
                  "variable": ["push_amount", "push_duration"], "lower": [150000.0, 3.5],
                  "upper": [160000.0, 3.5], "optimum": [152136.5, 3.5],
                  "packages": [4, 4]}).to_csv(folder / "analyses" / "optimize_near.csv",
                                              index=False)
    path = write_report(folder, out=tmp_path / "out")
    text = _text(path)
    # regions in words; variables by the model's own names (none here: a synthetic study)
    assert ("embedded prone: the cheapest package found that sustains the network in at least "
            "50% of 10 worlds costs $532,478 of public money on average (push_amount 152,136"
            ) in text
    assert ("embedded prone: no package evaluated sustains the network in 80% of 10 worlds; "
            "the best reached 70% (at $9,801,000)") in text
    assert ("embedded prone, 50%: of the worlds where that package succeeds, the model card's "
            "sanity checks flag 2 by treadmill") in text
    assert ("embedded prone, 50%: 4 packages evaluated reach the rate within 5% of the "
            "optimum's cost, with push_amount 150,000-160,000: the cost is better determined "
            "than the package.") in text
    assert (path.parent / "figures" / "optimize_front.svg").is_file()
    shown = pd.read_csv(path.parent / "tables" / "optimize_front.csv")
    assert shown["cost"].tolist() == front["cost"].tolist()
    # shown in its own section, not again among the other analyses' tables
    markdown = (path.parent / "report.md").read_text(encoding="utf-8")
    assert "## Robust optimisation" in markdown
    assert "analyses/optimize_front.csv" not in markdown


# --------------------------------------------------------------------------- issue 13 (5)
def _blocks_under(section: object, heading: str) -> list[object]:
    """The blocks of a section between ``heading`` and the next heading."""
    from sdnet.reports._document import Heading

    blocks = list(section.blocks)  # type: ignore[attr-defined]
    start = next(i for i, b in enumerate(blocks) if isinstance(b, Heading) and b.text == heading)
    rest = blocks[start + 1:]
    end = next((i for i, b in enumerate(rest) if isinstance(b, Heading)), len(rest))
    return rest[:end]


def test_the_brief_answers_first_from_the_studys_numbers(study: Path) -> None:
    from sdnet.reports._build import build_sections
    from sdnet.reports._document import Bullets, FigureBlock

    results = load_results(study)
    _, _, sections = build_sections(results)
    titles = [s.title for s in sections]
    assert titles[0] == "The answer in brief"
    # method details after the results, in the appendix
    assert titles.index("Which levers matter") < titles.index(
        "Appendix: how the study was done") < titles.index("The model's stock-and-flow structure")
    brief = sections[0]
    (answers,) = [b for b in _blocks_under(brief, "The answer") if isinstance(b, Bullets)]
    metrics = results.metrics[results.main_mask()]
    sustained = metrics["sustained"].to_numpy(float)
    share = f"{100 * np.nanmean(sustained):.0f}% of {np.isfinite(sustained).sum():,} runs"
    assert any(a.startswith("Whether ") and a.endswith(f": {share}.") for a in answers.items)
    sobol = pd.read_csv(study / "analyses" / "sobol_persistence_after_push.csv")
    assert "reliable" not in sobol.columns  # a table written before sdnet checked them
    top = sobol.sort_values("ST", ascending=False).iloc[0]
    lever = next(a for a in answers.items if a.startswith("What matters most"))
    assert f"{top['factor']} ({100 * top['ST']:.0f}% ± {100 * top['ST_conf']:.0f} points" \
        in lever
    (figure,) = _blocks_under(brief, "The decisive figure")
    assert isinstance(figure, FigureBlock) and figure.name.startswith("brief-sobol-")
    depends = _blocks_under(brief, "What the answer depends on")
    assert "The model's structure and the ranges of its factors" in depends[0].items[-1]


def test_a_section_can_lead_the_brief(study: Path) -> None:
    from matplotlib.figure import Figure

    from sdnet.errors import InvalidValueError
    from sdnet.reports._brief import brief_section
    from sdnet.reports._context import ReportContext
    from sdnet.reports._document import Bullets, figure_block

    ctx = ReportContext(load_results(study))
    block = figure_block("comparison", Figure(), caption="Success rate per package.",
                         alt="Bars of success rates")
    offered = [BriefItem("answer", "Package A sustains the network in 41% of worlds.",
                         rank=0, section="Policy comparison"),
               BriefItem("figure", "Success rate per package.", rank=0, figure=block,
                         section="Policy comparison"),
               BriefItem("cost", "Package A: 1.2 million $ per surviving network.", rank=0)]
    brief = brief_section(ctx, [], offered)
    (answers,) = [b for b in _blocks_under(brief, "The answer") if isinstance(b, Bullets)]
    assert answers.items[0] == "Package A sustains the network in 41% of worlds."
    (figure,) = _blocks_under(brief, "The decisive figure")
    assert figure.name == "brief-comparison"
    assert figure.caption == "Success rate per package. (Section “Policy comparison”.)"
    (costs,) = _blocks_under(brief, "Public cost per success")
    assert costs.items == ("Package A: 1.2 million $ per surviving network.",)
    with pytest.raises(InvalidValueError, match="expected one of answer, figure, cost, caveat"):
        BriefItem("headline", "text")
    with pytest.raises(InvalidValueError, match="exactly when kind is 'figure'"):
        BriefItem("figure", "a figure item without its figure")


def _drawn_line() -> object:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2, 1.5))
    figure.add_subplot().plot([0, 1, 2], [1, 0, 1])
    return figure


@pytest.mark.parametrize("workers", [1, 2])
def test_a_figure_given_as_a_function_is_drawn_where_it_renders(workers: int) -> None:
    from matplotlib.figure import Figure

    from sdnet.reports._document import (
        FigureBlock,
        Section,
        figure_block,
        render_figures,
        svg_bytes,
    )

    drawn = figure_block("drawn", _drawn_line, caption="A line.", alt="A line")
    ready = Figure(figsize=(2, 1.5))
    ready.add_subplot().bar(["a", "b"], [1, 2])
    given = figure_block("given", ready, caption="Bars.", alt="Bars")
    again = FigureBlock("brief-drawn", b"", drawn.caption, drawn.alt, figure=drawn.figure)
    sections = [Section("one", "one", (drawn, given)), Section("two", "two", (again,))]
    told: list[str] = []
    (first, second), (third,) = (s.blocks for s in render_figures(
        sections, workers=workers, progress=told.append))
    assert first.svg == third.svg == svg_bytes(_drawn_line())  # drawn once, shown twice
    assert second.svg == svg_bytes(ready) and second.svg.startswith(b"<?xml")
    assert all(b.figure is None for b in (first, second, third))
    assert sorted(told) == ["figure 1 of 2 (drawn)", "figure 2 of 2 (given)"] or \
        sorted(told) == ["figure 1 of 2 (given)", "figure 2 of 2 (drawn)"]
