"""flexnet's calibration targets (models/flexnet/targets.toml): valid, and matched end to end.

A smoke test of history matching on the flagship model: a few hundred runs, not the full
calibration (that is `sdnet calibrate models/flexnet/flexnet.mdl models/flexnet/targets.toml`,
whose results the model README reports).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sdnet.calibration import history_match
from sdnet.model import Model
from sdnet.targets import load_targets

TARGETS = Path(__file__).resolve().parents[2] / "models" / "flexnet" / "targets.toml"

# A few of the prior's sets see-saw late in a run (sdnet.numerics flags them); history matching
# counts them like the others, as `sdnet check --robust` does, and the command line prints the
# guard's one-line warning.
pytestmark = pytest.mark.filterwarnings("ignore::sdnet.numerics.NumericalWarning")


@pytest.fixture(scope="module")
def matched(flexnet: Model):  # type: ignore[no-untyped-def]
    return history_match(flexnet, TARGETS, waves=2, samples_per_wave=100, seed=11,
                         progress=False)


def test_every_target_has_a_source_an_uncertainty_and_a_scenario(flexnet: Model) -> None:
    targets = load_targets(TARGETS, model=flexnet)
    assert len(targets.targets) >= 5
    for target in targets.targets:
        assert target.source.strip() and target.sd > 0
        assert target.scenario.region in {"typical", "embedded_prone"}
        assert target.scenario.push is not None
    # nothing set by a target is sampled: the default is the model's uncertain constants
    assert targets.vary is None


def test_history_matching_runs_on_flexnet(flexnet: Model, matched) -> None:  # type: ignore[no-untyped-def]
    assert [w.n_sets for w in matched.waves] == [100] * len(matched.waves)
    uncertain = [p.name for p in flexnet.parameters.values() if p.kind == "uncertain"]
    assert sorted(matched.names) == sorted(uncertain)
    runs = matched.runs()
    assert np.isfinite(runs[[f"sim_{n}" for n in matched.targets.names]].to_numpy()).all()
    kept = matched.nonimplausible()
    assert list(kept.columns) == matched.names


def test_a_target_reads_the_same_number_as_a_single_run(flexnet: Model, matched) -> None:  # type: ignore[no-untyped-def]
    """The ensemble's scenario (preset, push) and reducer agree with one run of the model."""
    runs = matched.runs()
    row = runs.iloc[7]
    params = {name: float(row[name]) for name in matched.names}
    for target in matched.targets.targets:
        if target.name not in {"tecmen_members_1997", "norway_survival_first_year"}:
            continue
        scenario = target.scenario
        result = flexnet.run({**params, **scenario.params}, region=scenario.region,
                           push=scenario.push, final_time=34,
                           variables=["Total Members"])
        members = result["Total Members"]
        if target.reducer == "ratio":
            expected = members.loc[target.time] / members.loc[target.relative_to]
        else:
            expected = members.loc[target.time]
        assert row[f"sim_{target.name}"] == pytest.approx(expected, rel=1e-6, abs=1e-9)
