"""Behaviour tests as probabilities (issue #10, part 3) on a small Latin hypercube.

``sdnet check MODEL --robust`` restates BR1-BR8 and the issue's goals over many parameter sets
(:mod:`sdnet.robustness`). The full figures (2,000 sets per region) come from
``benchmarks/robust_behaviour.py`` and are tabled in ``models/flexnet/README.md``; here a few
hundred sets check the goals the model meets with a margin that such a sample resolves.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from sdnet.cli import main
from sdnet.errors import OutOfRangeError, SdnetError, UnknownVariableError
from sdnet.model import Model
from sdnet.robustness import RobustReport, default_sets, read_sets, robust_check

from .conftest import MODEL_PATH

#: the presets flexnet's card gives the checks ([robust] presets: low, high, external)
TYPICAL, EMBEDDED, EXTERNAL = "typical", "embedded_prone", "externally_networked"

N_SETS = 200
NONIMPLAUSIBLE = MODEL_PATH.with_name("nonimplausible.csv")


@pytest.fixture(scope="module")
def report(flexnet: Model) -> RobustReport:
    """The robust check over an LHS of 200 sets of the uncertain parameters (seed 1)."""
    return robust_check(flexnet, default_sets(flexnet, N_SETS, seed=1), source="test")


def test_every_set_is_counted_in_every_row(report: RobustReport) -> None:
    assert report.n_sets == N_SETS
    for row in report.rows:
        if row.check != "br6_external_lower_peak":  # counted over sets whose network formed
            assert row.n == N_SETS, row
        assert 0 <= row.passed <= row.n


@pytest.mark.parametrize("region", [TYPICAL, EMBEDDED, EXTERNAL])
def test_no_push_no_network_in_95_percent(report: RobustReport, region: str) -> None:
    assert report.rate("no_network_without_push", region) >= 0.95


def test_no_network_lives_ten_years_on_negative_value(report: RobustReport) -> None:
    """No set, in any scenario (the fee pump included), keeps a network of max(3, 5% of firms)
    for ten years while its members perceive a negative net value."""
    assert report.rate("no_negative_value_network", "all") == 1.0


def test_fee_pump_dies_in_every_set(report: RobustReport) -> None:
    assert report.rate("fee_pump_dies", TYPICAL) == 1.0


@pytest.mark.parametrize("region", [TYPICAL, EMBEDDED])
def test_f1_micro_gain_more_by_structure(report: RobustReport, region: str) -> None:
    """F1 holds by structure (the established firms' capability gap is below 1)."""
    assert report.rate("f1_micro_gain_more", region) >= 0.9


def test_embedded_network_ends_at_least_as_large_as_typical(report: RobustReport) -> None:
    assert report.rate("embedded_at_least_typical", "paired") >= 0.8


def test_embedded_prone_networks_outlive_typical_ones_over_the_prior(
    report: RobustReport,
) -> None:
    """Over the prior ranges embedded-prone networks are alive ten years after the push at
    least as often as typical ones (flexnet v2.1: 13.1% vs 5.6% over 2,000 sets; the gap is
    small there because sponsors pay per member served, not a lump per firm of the region)."""
    assert report.alive_gap >= 0.0
    assert report.rate("alive_after_push", EMBEDDED) > report.rate("alive_after_push", TYPICAL)


def test_alive_gap_goal_over_the_non_implausible_sets(flexnet: Model) -> None:
    """The goal (embedded-prone minus typical >= 30 points, issue #10) is judged over the sets
    the history match keeps (models/flexnet/nonimplausible.csv): here 200 of them, every 33rd
    (80.9 points over all 6,626 in the model README)."""
    sets, _ = read_sets(NONIMPLAUSIBLE, flexnet)
    sample = sets.iloc[::33].head(N_SETS).reset_index(drop=True)
    kept = robust_check(flexnet, sample, source="test")
    assert kept.alive_gap >= 0.30


def test_report_table_and_goals(report: RobustReport) -> None:
    frame = report.to_frame()
    assert list(frame.columns) == ["check", "region", "passed", "n", "rate"]
    goals = report.goals()
    assert len(goals) == 6
    assert all(0.0 <= value <= 1.0 or text.startswith("alive") for text, value, _ in goals)


# -- sets from a file (what sdnet calibrate writes) ---------------------------------------------


def _sets_file(flexnet: Model, tmp_path: Path, n: int = 12) -> Path:
    sets = default_sets(flexnet, n, seed=3)
    sets.insert(0, "wave", 2)
    sets["max_implausibility"] = 1.5
    sets["community_entrepreneur_density"] = 0.5  # region descriptors come from the presets
    path = tmp_path / "non_implausible.csv"
    sets.to_csv(path, index=False)
    return path


def test_read_sets_keeps_parameters_and_drops_the_rest(flexnet: Model, tmp_path: Path) -> None:
    sets, dropped = read_sets(_sets_file(flexnet, tmp_path), flexnet)
    assert len(sets) == 12
    assert "trust_build_rate" in sets.columns
    assert set(dropped) == {"wave", "max_implausibility", "community_entrepreneur_density"}


def test_read_sets_errors(flexnet: Model, tmp_path: Path) -> None:
    with pytest.raises(SdnetError, match="not found"):
        read_sets(tmp_path / "missing.csv", flexnet)
    bad = tmp_path / "sets.txt"
    bad.write_text("trust_build_rate\n0.3\n")
    with pytest.raises(SdnetError, match=r"\.csv or \.parquet"):
        read_sets(bad, flexnet)
    typo = tmp_path / "typo.csv"
    pd.DataFrame({"trust_bild_rate": [0.3]}).to_csv(typo, index=False)
    with pytest.raises(UnknownVariableError, match="trust_build_rate"):
        read_sets(typo, flexnet)
    outside = tmp_path / "outside.csv"
    pd.DataFrame({"trust_build_rate": [0.3, 5.0]}).to_csv(outside, index=False)
    with pytest.raises(OutOfRangeError, match="trust_build_rate"):
        read_sets(outside, flexnet)


def test_cli_robust_with_sets_file(
    flexnet: Model, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _sets_file(flexnet, tmp_path)
    table = tmp_path / "rates.csv"
    code = main(["check", str(MODEL_PATH), "--robust", "--sets", str(path), "--csv", str(table)])
    out = capsys.readouterr().out
    assert code in (0, 1)
    assert "12 sets from" in out and "columns ignored: wave" in out
    assert "no_network_without_push" in out and "goals (issue #10):" in out
    rates = pd.read_csv(table)
    assert set(rates["n"]) <= {12} | set(range(13))
    assert (rates.loc[rates["check"] == "fee_pump_dies", "passed"] == 12).all()


def test_cli_sets_need_robust(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code = main(["check", str(MODEL_PATH), "--sets", str(tmp_path / "x.csv")])
    assert code == 2
    assert "--sets and --csv need --robust" in capsys.readouterr().err
