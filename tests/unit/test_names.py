"""Names with punctuation are the same everywhere (issue 11, defect 4).

PySD and ``describe`` called "Firm's Growth Rate" ``firms_growth_rate`` while the engine called
it ``firm_s_growth_rate``: an ensemble then failed every run, ``--set`` failed with either
spelling and a study of such a constant failed every run. The facade and the engine now share
:func:`sdnet.params.python_names`, which is PySD's rule (checked against PySD on every name of
the conformance suite in tests/conformance/test_names.py).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sdnet.cli import main
from sdnet.engine import compile_model
from sdnet.errors import SdnetWarning
from sdnet.experiment import run_experiment
from sdnet.model import Model, load_model
from sdnet.params import python_name, python_names
from sdnet.runner import run_ensemble

TINY = Path(__file__).resolve().parents[1] / "data" / "tiny_network.mdl"
VENSIM = "Firm's Growth Rate"
PYTHON = "firms_growth_rate"
GROWTH = """{UTF-8}
Firms = INTEG(Firms * Firm's Growth Rate, 10) ~ firm ~ Member firms. |
Firm's Growth Rate = 0.1 ~ 1/Year [0,1] ~ [lever] Yearly growth. |
FINAL TIME = 4 ~ Year ~ The final time. |
INITIAL TIME = 0 ~ Year ~ The initial time. |
SAVEPER = 1 ~ Year [0,?] ~ Save. |
TIME STEP = 1 ~ Year [0,?] ~ Step. |
"""


@pytest.fixture(scope="module")
def punctuated(tmp_path_factory: pytest.TempPathFactory, cache: Path) -> Path:
    """A model whose constant "Firm's Growth Rate" has an apostrophe."""
    path = tmp_path_factory.mktemp("names") / "punctuated.mdl"
    path.write_text(GROWTH, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def model(punctuated: Path) -> Model:
    return load_model(punctuated)


def test_python_name_is_pysds_rule() -> None:
    assert python_name("Firm's Growth Rate") == "firms_growth_rate"
    assert python_name("Growth Räte") == "growth_rate"
    assert python_name("  Push   Amount ") == "push_amount"
    assert python_name("2nd Stage") == "nvs_2nd_stage"
    assert python_name("_hidden") == "nvs_hidden"
    assert python_names(["Step", "Min", "A b", "a_B", "Rate"]) == {
        "Step": "step_1", "Min": "min_1", "A b": "a_b", "a_B": "a_b_1", "Rate": "rate",
    }


def test_the_facade_and_the_engine_give_the_same_names(model: Model, punctuated: Path) -> None:
    compiled = compile_model(punctuated)
    assert PYTHON in model.parameters
    assert set(compiled.parameters) == set(model.parameters)
    assert model.resolve(VENSIM) == PYTHON
    assert compiled.parameters[PYTHON].vensim_name == VENSIM


@pytest.mark.parametrize("engine", ["pysd", "vector"])
@pytest.mark.parametrize("spelling", [VENSIM, PYTHON])
def test_set_takes_either_spelling(engine: str, spelling: str, punctuated: Path,
                                   tmp_path: Path) -> None:
    out = tmp_path / "run"
    code = main(["run", str(punctuated), "--engine", engine, "--set", f"{spelling}=0.5",
                 "--vars", "Firms", "--out", str(out)])
    assert code == 0
    written = pd.read_csv(out / "run.csv", index_col=0)["Firms"].to_numpy()
    assert written == pytest.approx(10 * 1.5 ** np.arange(5), rel=1e-12)  # Euler, dt 1


@pytest.mark.parametrize("spelling", [VENSIM, PYTHON])
def test_an_ensemble_varies_it_on_both_engines(spelling: str, model: Model) -> None:
    factors = {spelling: [0.2, 0.5]}
    for engine in ("vector", "pysd"):
        ensemble = run_ensemble(model, factors, engine=engine, progress=False,
                                variables=["Firms"])
        assert ensemble.ok.all()
        finals = ensemble.outputs("Firms").to_numpy()[:, -1]
        assert finals == pytest.approx([10 * 1.2**4, 10 * 1.5**4], rel=1e-12)


def test_a_study_of_it_runs_every_run(tmp_path: Path, cache: Path) -> None:
    renamed = "Firm's Word of Mouth"
    path = tmp_path / "tiny.mdl"
    path.write_text(TINY.read_text("utf-8").replace("Word of Mouth", renamed), "utf-8")
    study = tmp_path / "study.toml"
    study.write_text(
        '[experiment]\nname = "names"\nmodel = "tiny.mdl"\nseed = 2\n'
        f'[[factors]]\nname = "{renamed}"\nbounds = [0.1, 0.6]\n'
        '[design]\nmethod = "lhs"\nn = 4\n'
        '[[metrics]]\nname = "m"\nvariable = "Total Members"\nreducer = "peak"\n',
        encoding="utf-8",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SdnetWarning)  # the integration check's advice
        run_experiment(study, progress=False, out=tmp_path / "out")
    metrics = pd.read_csv(tmp_path / "out" / "metrics.csv")
    assert list(metrics["status"]) == ["ok"] * 4
    factors = pd.read_csv(tmp_path / "out" / "factors.csv")
    assert "firms_word_of_mouth" in factors.columns
    assert metrics["m"].nunique() == 4
