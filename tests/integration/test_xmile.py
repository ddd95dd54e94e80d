"""An XMILE (Stella) model through the engine and the commands, as a Vensim model goes.

``tests/data/logistic.xmile`` is a small hand-written XMILE model (a stock with an inflow and
an outflow, a non-negative stock, units, documentation): the vectorized engine runs it equal
to PySD run by run, and ``sdnet describe``, ``run`` (both engines) and ``experiment`` accept
it. The public suite's XMILE files against Stella's outputs are in
``tests/conformance/test_engine_conformance.py``; every command on all of them is
``benchmarks/every_command.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sdnet.cli import main

MODEL = Path(__file__).resolve().parents[1] / "data" / "logistic.xmile"
RATES = (0.12, 0.45)


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDNET_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


def test_the_engine_runs_an_xmile_model_equal_to_pysd() -> None:
    from sdnet.engine import compile_model
    from sdnet.model import load_model

    compiled = compile_model(MODEL)
    sim = compiled.simulate({"growth_rate": np.array(RATES)}, n_runs=len(RATES))
    model = load_model(MODEL)
    assert set(compiled.parameters) == set(model.parameters)
    for run, rate in enumerate(RATES):
        frame = model.run({"growth_rate": rate}, variables="all").frame
        np.testing.assert_array_equal(sim.times, frame.index.to_numpy(dtype=float))
        for column in ("Population", "Growth", "Deaths", "Crowding"):
            ours, theirs = sim.outputs[column][run], frame[column].to_numpy(dtype=float)
            np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0, err_msg=column)
    population = sim.outputs["Population"]
    # the growth rate decides the level it settles at: K (1 - d / r), about 583 and 889 cells
    assert population[0, -1] < population[1, -1] < 1000.0
    assert compiled.outputs["Population"] == "cell"


def test_describe_run_and_experiment_accept_an_xmile_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["describe", str(MODEL)]) == 0
    assert "growth_rate" in capsys.readouterr().out
    assert main(["run", str(MODEL), "--out", str(tmp_path / "pysd")]) == 0
    assert main(["run", str(MODEL), "--engine", "vector", "--out", str(tmp_path / "vec")]) == 0
    by_pysd = pd.read_csv(tmp_path / "pysd" / "run.csv", index_col="time")
    by_engine = pd.read_csv(tmp_path / "vec" / "run.csv", index_col="time")
    pd.testing.assert_frame_equal(by_pysd, by_engine, rtol=1e-12)
    assert (tmp_path / "vec" / "run.png").stat().st_size > 0
    study = tmp_path / "study.toml"
    study.write_text(f"""
[experiment]
name = "yeast"
model = {str(MODEL)!r}
seed = 3

[[factors]]
name = "Growth Rate"
bounds = [0.1, 0.5]

[design]
method = "lhs"
n = 4
""", encoding="utf-8")
    capsys.readouterr()
    assert main(["experiment", str(study), "--quiet", "--no-report",
                 "--out", str(tmp_path / "out")]) == 0
    factors = pd.read_csv(tmp_path / "out" / "factors.csv")
    metrics = pd.read_csv(tmp_path / "out" / "metrics.csv")
    assert list(metrics.columns[-1:]) == ["final_population"]  # no card: every stock's end
    from sdnet.engine import compile_model

    rates = factors["growth_rate"].to_numpy()
    sim = compile_model(MODEL).simulate({"growth_rate": rates}, n_runs=len(rates))
    np.testing.assert_array_equal(metrics["final_population"].to_numpy(),
                                  sim.outputs["Population"][:, -1])
