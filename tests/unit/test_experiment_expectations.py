"""``[[analysis.expect]]``: a package study checks claims of the literature on its answer."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from sdnet.decision.expectations import check_expectations, parse_claim
from sdnet.errors import ExperimentError
from sdnet.experiment import parse_experiment, run_experiment
from sdnet.experiment.toml import to_toml

TINY = Path(__file__).resolve().parents[1] / "data" / "tiny_network.mdl"
CLAIMS = [{"finding": "F7: a push is needed", "claim": "none <= 0.05"},
          {"finding": "more push, more networks", "claim": "long >= none"},
          {"finding": "region matters", "claim": "long@embedded_prone > long@typical"}]


def _spec(folder: Path, expect: Any = None) -> dict[str, Any]:
    path = folder / "worlds.csv"
    rng = np.random.default_rng(0)
    pd.DataFrame({"attrition_rate": rng.uniform(0.05, 0.6, 12),
                  "Grant Effect": rng.uniform(0, 2, 12)}).to_csv(path, index=False)
    analysis: dict[str, Any] = {"packages": {"success": "alive_after_push"},
                                "integration_check": False}
    if expect is not None:
        analysis["expect"] = expect
    return {
        "experiment": {"name": "t", "model": str(TINY), "seed": 3},
        "region": {"presets": ["typical", "embedded_prone"]},
        "policies": [{"name": "none", "amount": 0}, {"name": "long", "amount": 200_000,
                                                     "duration": 8}],
        "design": {"method": "sets", "file": path.name, "n": 12},
        "metrics": [{"name": "alive_after_push"}],
        "analysis": analysis,
    }


def test_a_study_checks_its_claims_and_writes_them(tmp_path: Path) -> None:
    spec = _spec(tmp_path, CLAIMS)
    # the worlds' (pretended) calibration target is the long push in the embedded-prone region
    (tmp_path / "targets.toml").write_text(
        '[[targets]]\nname = "persists"\noutput = "Total Members"\ntime = 20\n'
        'observed = 30\nsd = 5\nregion = "embedded_prone"\nsource = "test"\n'
        'push = { amount = 200000, start = 2, duration = 8 }\n', encoding="utf-8")
    spec["design"]["targets"] = "targets.toml"
    experiment = parse_experiment(spec, path=tmp_path / "study.toml")
    assert experiment.analysis.packages_expect == tuple(
        (c["finding"], c["claim"]) for c in CLAIMS)
    # the resolved spec keeps the claims and loads again
    import tomllib

    again = parse_experiment(tomllib.loads(to_toml(experiment.to_dict())),
                             path=tmp_path / "again.toml")
    assert again.analysis.packages_expect == experiment.analysis.packages_expect
    out = tmp_path / "out"
    run_experiment(experiment, out=out, progress=False)
    summary = pd.read_csv(out / "analyses" / "packages.csv")
    written = pd.read_csv(out / "analyses" / "expectations.csv", keep_default_na=False)
    claims = [parse_claim(c["finding"], c["claim"], packages=["none", "long"],
                          regions=["typical", "embedded_prone"]) for c in CLAIMS]
    expected = check_expectations(summary, claims)
    assert list(written["region"]) == ["typical", "embedded_prone"] * 2 + [""]
    np.testing.assert_array_equal(written["left_rate"], expected["left_rate"])
    assert list(written["holds"]) == list(expected["holds"])
    # the rates come from the comparison: the pinned claim reads both regions' rows
    long = summary.set_index(["region", "package"])["success_rate"]
    assert written["left_rate"].iloc[4] == long[("embedded_prone", "long")]
    assert written["right_rate"].iloc[4] == long[("typical", "long")]
    verdicts = json.loads((out / "summary.json").read_text())["packages"]["expectations"]
    assert [v["finding"] for v in verdicts] == [c["finding"] for c in CLAIMS]
    assert {v["verdict"] for v in verdicts} <= {"agrees", "agrees within noise", "disagrees"}
    # the report shows the claims with their numbers, under the policy comparison
    from sdnet.reports import write_report

    html = write_report(out, out=tmp_path / "report").read_text()
    assert "Does the answer agree with the literature?" in html
    assert "F7: a push is needed" in html and "long@embedded_prone" in html
    # ... and cautions, in the section and the brief, that the case the worlds were
    # selected on is partly an input, naming the claims that use it
    caution = ("In the embedded prone region, the package 'long' is the scenario of the "
               "history-matching target persists")
    assert html.replace("&#x27;", "'").count(caution) == 2
    assert "so are the claims that use it (more push, more networks, region matters)" in html


@pytest.mark.parametrize(("expect", "message"), [
    ([], r"\[analysis.expect\] must be a non-empty array of tables"),
    (["none < 0.1"], r"\[analysis.expect\[0\]\] must be a table with finding and claim"),
    ([{"finding": "F7", "claim": "none < 0.1", "soruce": "x"}],
     r"\[analysis.expect\[0\]\] unknown key 'soruce' \(valid: finding, claim\)"),
    ([{"finding": "F7"}], r"\[analysis.expect\[0\].claim\]"),
    ([{"finding": "F7", "claim": "nothing < 0.1"}],
     r"\[analysis.expect\[0\].claim\] 'nothing < 0.1': expected a package of the study in "
     r"place of 'nothing' \(packages: none, long\)"),
    ([{"finding": "F7", "claim": "long@rural > 0.1"}],
     r"'long@rural > 0.1': expected a region of the study after '@' in place of 'rural' "
     r"\(regions: typical, embedded_prone\)"),
    ([{"finding": "F7", "claim": "none = 0"}], r"expected TERM OP TERM"),
])
def test_bad_claims_name_the_key_and_what_is_valid(tmp_path: Path, expect: Any,
                                                   message: str) -> None:
    with pytest.raises(ExperimentError) as info:
        parse_experiment(_spec(tmp_path, expect), path=tmp_path / "study.toml")
    assert re.search(message, str(info.value)), str(info.value)


def test_claims_need_a_package_comparison(tmp_path: Path) -> None:
    spec = _spec(tmp_path, CLAIMS)
    del spec["analysis"]["packages"]
    with pytest.raises(ExperimentError, match=r"\[analysis.expect\] claims are checked on a "
                       r"package comparison: add \[analysis\] packages"):
        parse_experiment(spec, path=tmp_path / "study.toml")
