"""The public SD test-model suite on the vectorized engine: every case of
``../shared/conformance/index.tsv`` is compiled, run as an ensemble and as a single run, and
compared with its canonical (Vensim) output at the case's own tolerance (``|engine - vensim|
<= 1e-5 + rtol |vensim|``, rtol 1e-5 or the case's ``pysd_rtol``: PySD's own integration
tests). Cases without a canonical output are compared with PySD's run (relative 1e-10).

Each case is either a ``match`` or refused at compile time with the documented error naming
the construct (``UNSUPPORTED`` lists them; a case that starts to compile, or is refused for
another reason, fails here, so the list cannot go stale). The engine never runs a case and
differs: no silent mismatch. A per-case table is printed at the end of the session
(``conftest.py``); the cases run in parallel on pytest-xdist's workers.

The engine-against-PySD comparison of every case (slower: PySD translates and runs each
model) is ``benchmarks/conformance_sweep.py``. The cases are read in place, never copied.
"""

from __future__ import annotations

import warnings

import pytest
import suite

CASES = suite.load_cases()
needs_suite = pytest.mark.skipif(
    not CASES, reason=f"conformance suite not found at {suite.CONFORMANCE} (../shared/conformance)"
)

# case -> the construct the engine refuses it for (the start of the error's construct text)
UNSUPPORTED: dict[str, str] = {
    "get_time_value_full": "GET TIME VALUE other than the model's time",
    "Query_file": "the function RANDOM_UNIFORM",
}

# cases without a canonical output whose PySD run is too slow for the test suite (PySD takes
# 45 s for Workforce, 8 s for Population): the engine must run them; the sweep
# (benchmarks/conformance_sweep.py) compares them with PySD. Other cases without a canonical
# output are compared with PySD here.
NO_REFERENCE: dict[str, str] = {
    "Population": "PySD's run takes 8 s",
    "Workforce": "PySD's run takes 45 s",
}

# cases the engine refuses at run time with a clear error (SimulationError, EngineInputError)
RUN_TIME_REFUSALS: dict[str, str] = {
    # the spreadsheet these name is not in the suite (PySD fails on them too: pysd_xfail)
    "get_constants": "cannot read the external data of 'xls constants'",
    "get_data": "cannot read the external data of 'xls data down'",
}


def _check(case: suite.Case) -> suite.EngineOutcome:
    with warnings.catch_warnings():
        # PySD's parser warns about model text it ignores (:TEST INPUT:, encodings); the
        # numbers are what is compared here
        warnings.simplefilter("ignore")
        return suite.check_engine(case, with_pysd_reference=case.name not in NO_REFERENCE)


def test_lists_name_cases_of_the_suite() -> None:
    names = {c.name for c in CASES} | {c.name for c in suite.xmile_cases(CASES)}
    for listed in (UNSUPPORTED, NO_REFERENCE, RUN_TIME_REFUSALS, XMILE_PYSD_CANNOT_READ):
        assert not CASES or set(listed) <= names, sorted(set(listed) - names)


@needs_suite
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(
    case: suite.Case, record_property: pytest.RecordProperty, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("SDNET_CACHE_DIR", str(tmp_path / "cache"))
    outcome = _check(case)
    record_property("conformance", (outcome.verdict, outcome.detail))  # for the table
    if case.name in UNSUPPORTED:
        assert outcome.verdict == "unsupported", outcome
        assert outcome.detail.startswith(UNSUPPORTED[case.name]), outcome
    elif case.name in RUN_TIME_REFUSALS:
        assert outcome.verdict == "error", outcome
        assert RUN_TIME_REFUSALS[case.name] in outcome.detail, outcome
    elif case.name in NO_REFERENCE and outcome.verdict != "unsupported":
        assert outcome.verdict == "no reference", outcome
    else:
        assert outcome.verdict == "match", outcome


XMILE_CASES = suite.xmile_cases(CASES)

# XMILE files PySD's own XMILE translator cannot read: the engine must say so clearly
# (ModelParseError naming the file), never run them wrongly
XMILE_PYSD_CANNOT_READ: dict[str, str] = {
    "logicals/test_logicals.stmx": "PySD cannot parse it",
    "lookups/test_lookups.stmx": "PySD cannot parse it",
    "lookups/test_lookups_no-indirect.stmx": "PySD finds no model variables",
    "teacup/teacup_legacy.stmx": "PySD finds no model variables",
    "teacup_mdl/teacup_legacy.stmx": "PySD finds no model variables",
    **{
        f"{case}/{file}.{suffix}": "PySD cannot parse it"
        for case, file in [
            ("macro_expression", "test_macro_expression"),
            ("macro_multi_expression", "test_macro_multi_expression"),
            ("macro_multi_macros", "test_macro_multi_macros"),
            ("macro_stock", "test_macro_stock"),
            ("subscript_1d_arrays", "test_subscript_1d_arrays"),
            ("subscript_constant_call", "test_subscript_constant_call"),
            ("subscript_mixed_assembly", "test_subscript_mixed_assembly"),
            ("subscript_multiples", "test_multiple_subscripts"),
            ("subscript_subranges", "test_subscript_subrange"),
            ("subscript_subranges_equal", "test_subscript_subrange_equal"),
            ("subscript_updimensioning", "test_subscript_updimensioning"),
            ("subscripted_flows", "test_subscripted_flows"),
        ]
        for suffix in ("xmile", "stmx")
    },
}


@needs_suite
@pytest.mark.parametrize("case", XMILE_CASES, ids=[c.name for c in XMILE_CASES])
def test_xmile_case(
    case: suite.Case, record_property: pytest.RecordProperty, tmp_path, monkeypatch
) -> None:
    """The suite's XMILE (.xmile/.stmx) files against Stella's output where there is one."""
    monkeypatch.setenv("SDNET_CACHE_DIR", str(tmp_path / "cache"))
    outcome = _check(case)
    record_property("conformance", (outcome.verdict, outcome.detail))
    if case.name in XMILE_PYSD_CANNOT_READ:
        assert outcome.verdict == "error", outcome
        assert "ModelParseError" in outcome.detail, outcome
        assert XMILE_PYSD_CANNOT_READ[case.name] in outcome.detail, outcome
    else:
        assert outcome.verdict == "match", outcome
