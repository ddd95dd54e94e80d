"""Property-based tests (issue 11): any input ends in success or a clear error, never a crash.

Hypothesis generates study files, answers files, command lines and API arguments: valid shapes
with random values, wrong types, junk text and bytes. Each must end in success or an
:class:`~sdnet.errors.SdnetError` (on the command line: exit code 0, 1 or 2, an error being one
line ``sdnet CMD: error: ...``), never another exception or a traceback. The examples are
derandomized (the same every run, so CI is reproducible) and bounded so the module runs in
well under a minute on the small test models.
"""

from __future__ import annotations

import contextlib
import io
import math
import string
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import sdnet  # noqa: E402
from sdnet.cli import main  # noqa: E402
from sdnet.errors import SdnetError  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data"
TINY = DATA / "tiny_network.mdl"
BATHTUB = DATA / "bathtub.mdl"
TEACHING = Path(__file__).resolve().parents[2] / "experiments" / "teaching"

#: Few, fixed examples: the suite must stay fast and give the same verdict on every run.
FAST = settings(max_examples=40, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.function_scoped_fixture])
SLOW = settings(FAST, max_examples=10)


@pytest.fixture(scope="module")
def tiny() -> sdnet.Model:
    return sdnet.load_model(TINY)


@pytest.fixture(scope="module")
def tub() -> sdnet.Model:
    return sdnet.load_model(BATHTUB)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Warnings are allowed (they are not crashes); output is not the point here."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def succeeds_or_refuses(call: Callable[[], Any]) -> None:
    """The property: the call returns, or raises an SdnetError with a one-line message."""
    with quiet():
        try:
            call()
        except SdnetError as error:
            message = str(error)
            assert message and "\n" not in message.strip(), message
            assert "Traceback" not in message


# --------------------------------------------------------------------------- values
numbers = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, 1, 0.5, -1, 1e308, 1e-308, 2**63]))
junk = st.one_of(numbers, st.booleans(), st.text(max_size=12), st.none().map(lambda _: "")
                 , st.lists(st.integers(-3, 3), max_size=3),
                 st.dictionaries(st.text(string.ascii_letters, max_size=5), st.integers(),
                                 max_size=2))
names = st.one_of(st.sampled_from(["push_duration", "Push Amount", "word_of_mouth",
                                   "attrition_rate", "Trust", "Total Members", "final_time",
                                   "nope", ""]), st.text(max_size=10))
values = st.one_of(numbers, junk)


# --------------------------------------------------------------------------- study files
@st.composite
def studies(draw: Any) -> dict[str, Any]:
    """A valid tiny study with one to three of its tables replaced by random ones (a spec
    broken everywhere at once would always fail on its first table)."""
    spec: dict[str, Any] = {
        "experiment": {"name": "t", "model": str(TINY), "seed": 1},
        "factors": [{"name": "push_duration"}],
        "design": {"method": "lhs", "n": 4},
        "metrics": [{"name": "m", "variable": "Total Members", "reducer": "final"}],
    }
    tables = {
        "experiment": st.fixed_dictionaries(
            {"name": st.sampled_from(["t", "bad name", ""]), "model": st.just(str(TINY))},
            optional={"seed": junk, "question": junk}),
        "factors": st.one_of(
            st.lists(st.fixed_dictionaries({"name": names}, optional={
                "bounds": st.one_of(st.lists(numbers, min_size=2, max_size=2), junk),
                "distribution": st.sampled_from(["uniform", "normal", "triangular", "x"]),
                "mean": numbers, "sd": numbers, "mode": numbers}), max_size=3),
            st.sampled_from([[{"kind": k}] for k in ("lever", "uncertain", "region", "x")]),
            junk),
        "design": st.fixed_dictionaries(
            {"method": st.sampled_from(["lhs", "sobol", "morris", "efast", "grid", "x", 5]),
             "n": st.one_of(st.integers(-2, 70), junk)},
            optional={"num_levels": st.one_of(st.integers(-1, 6), junk),
                      "calc_second_order": junk, "M": st.one_of(st.integers(0, 5), junk)}),
        "params": st.one_of(st.dictionaries(names, values, max_size=2), junk),
        "run": st.dictionaries(st.sampled_from(["final_time", "time_step", "saveper", "method",
                                                "chunk_size", "variables", "x"]), values,
                               max_size=3),
        "region": st.dictionaries(st.sampled_from(["preset", "presets", "values"]),
                                  st.one_of(st.sampled_from(["typical", "embedded-prone"]),
                                            junk), max_size=2),
        "push": st.dictionaries(st.sampled_from(["amount", "start", "duration", "taper",
                                                 "match", "x"]), values, max_size=3),
        "policies": st.one_of(st.lists(st.dictionaries(
            st.sampled_from(["name", "duration", "params", "amount"]),
            st.one_of(st.sampled_from(["a", "b"]), values), max_size=3), max_size=2), junk),
        "metrics": st.one_of(st.lists(st.fixed_dictionaries(
            {"name": st.sampled_from(["m", "sustained", "persistence_after_push", "x y"])},
            optional={"variable": names, "reducer": st.sampled_from(
                ["final", "mean", "peak", "time_to_threshold", "value_at", "x"]),
                "threshold": values, "time": values, "start": values, "end": values,
                "direction": st.sampled_from(["above", "below", "sideways"]), "units": junk}),
            max_size=2), junk),
        "analysis": st.dictionaries(
            st.sampled_from(["screen", "convergence", "time_resolved", "prim", "thresholds",
                             "integration_check", "hysteresis", "compare", "x"]),
            st.one_of(st.booleans(), junk, st.dictionaries(
                st.sampled_from(["metric", "alpha", "min_coverage", "tol", "amounts",
                                 "duration", "variables", "top", "n", "every"]),
                values, max_size=3)), max_size=3),
    }
    for key in draw(st.lists(st.sampled_from(sorted(tables)), min_size=1, max_size=3,
                             unique=True)):
        spec[key] = draw(tables[key])
    return spec


@FAST
@given(spec=studies())
def test_any_study_spec_loads_or_is_refused(tiny: sdnet.Model, spec: dict[str, Any]) -> None:
    from sdnet.experiment import parse_experiment

    succeeds_or_refuses(lambda: parse_experiment(spec, path="study.toml", model=tiny))


@FAST
@given(content=st.one_of(st.binary(max_size=200), st.text(max_size=200)))
def test_any_study_file_bytes_load_or_are_refused(tmp_path: Path, content: bytes | str) -> None:
    path = tmp_path / "study.toml"
    raw = content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass")
    path.write_bytes(b'[experiment]\nname = "t"\nmodel = "' + str(TINY).encode() + b'"\n' + raw)
    succeeds_or_refuses(lambda: sdnet.load_experiment(path))


# --------------------------------------------------------------------------- answers files
@pytest.fixture(scope="module")
def exercise_2() -> Any:
    from sdnet.teaching import load_exercises

    return load_exercises(TEACHING)[2]


@FAST
@given(data=st.dictionaries(
    st.sampled_from(["answers", "predictions", "exercise", "policy", "answer", "x"]),
    st.one_of(junk, st.dictionaries(
        st.sampled_from(["peak_base", "ratio_half", "forms_without_push", "number",
                         "main_inflow_during_push", "network_outlasts_push", "push_amount",
                         "x"]),
        st.one_of(values, st.sampled_from(["brokers", "Word of Mouth", "true"])),
        max_size=4)), max_size=3))
def test_any_answers_table_is_read_or_refused(exercise_2: Any, data: dict[str, Any]) -> None:
    from sdnet.teaching import parse_answers

    succeeds_or_refuses(lambda: parse_answers(data, exercise_2, path="answers.toml"))


@FAST
@given(content=st.binary(max_size=120))
def test_any_answers_file_bytes_are_read_or_refused(tmp_path: Path, exercise_2: Any,
                                                   content: bytes) -> None:
    from sdnet.teaching import load_answers

    path = tmp_path / "answers.toml"
    path.write_bytes(content)
    succeeds_or_refuses(lambda: load_answers(path, exercise_2))


# --------------------------------------------------------------------------- command line
option_values = st.one_of(st.sampled_from(["0", "-1", "1", "0.5", "8", "nan", "inf", "", "all",
                                           "x", "1e400", "Trust", "typical"]),
                          st.text(string.printable, max_size=6))


@st.composite
def command_lines(draw: Any) -> list[str]:
    command = draw(st.sampled_from(["describe", "run", "check", "exercise", "report",
                                    "experiment", "ensemble", "diagram"]))
    options = {
        "describe": ["--kind", "--width"],
        "run": ["--final-time", "--time-step", "--saveper", "--vars", "--set", "--region",
                "--push-amount", "--push-start", "--engine"],
        "check": ["--only", "--time-step"],
        "ensemble": ["--samples", "--seed", "--vars", "--final-time", "--saveper"],
        "experiment": ["--n", "--seed", "--screen-n"],
        "report": ["--out"],
        "diagram": ["--view", "--out"],
        "exercise": [],
    }[command]
    first = {"report": "{tmp}", "experiment": "{tmp}/study.toml"}.get(
        command, draw(st.sampled_from([str(BATHTUB), str(TINY), "{tmp}", "missing.mdl"])))
    argv = [command]
    if command == "exercise":
        action = draw(st.sampled_from(["list", "show", "check", "key", "nope"]))
        argv += [action]
        if action in ("show", "check"):
            argv.append(draw(st.sampled_from(["2", "0", "x", "99", "-1"])))
        if action == "check":
            argv.append("{tmp}/answers.toml")
        argv += ["--dir", draw(st.sampled_from([str(TEACHING), "{tmp}"]))]
        return argv
    argv.append(first)
    for option in draw(st.lists(st.sampled_from(options), max_size=3, unique=True)):
        argv += [option, draw(option_values)]
    if command == "run" and "--final-time" not in argv:
        argv += ["--final-time", "2"]  # keep PySD runs short
    if command == "ensemble" and "--samples" not in argv:
        argv += ["--samples", "2"]
    if command in ("run", "ensemble", "experiment", "diagram") and "--out" not in argv:
        argv += ["--out", "{tmp}/out" + (".svg" if command == "diagram" else "")]
    return argv


@SLOW
@given(argv=command_lines())
def test_any_command_line_exits_0_1_or_2_with_one_line(
    tmp_path: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "answers.toml").write_text("[answers]\npeak_base = 18\n", encoding="utf-8")
    (tmp_path / "study.toml").write_text(
        f'[experiment]\nname = "t"\nmodel = "{TINY.as_posix()}"\n[[factors]]\n'
        'name = "push_duration"\n[design]\nmethod = "lhs"\nn = 2\n', encoding="utf-8")
    args = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            code = main(args)
        except SystemExit as stop:  # argparse: usage errors and --help
            code = stop.code
    err = capsys.readouterr().err
    assert code in (0, 1, 2), (args, code, err)
    assert "Traceback" not in err, (args, err)
    errors = [line for line in err.splitlines() if ": error: " in line]
    if code == 2:
        assert len(errors) == 1, (args, err)
        assert errors[0].startswith("sdnet"), (args, err)


# --------------------------------------------------------------------------- public API
@FAST
@given(factors=st.one_of(
    st.dictionaries(names, st.one_of(st.lists(st.one_of(numbers, st.booleans(),
                                                         st.lists(numbers, max_size=2)),
                                              min_size=0, max_size=3), values), max_size=2),
    junk))
def test_run_ensemble_takes_any_factor_table_or_refuses_it(tub: sdnet.Model,
                                                           factors: Any) -> None:
    succeeds_or_refuses(lambda: sdnet.run_ensemble(tub, factors, progress=False,
                                                   final_time=2, n_runs=None))


@FAST
@given(params=st.one_of(st.dictionaries(
    st.sampled_from(["faucet_flow", "Drain Time", "Water in Tub", "final_time", "x", ""]),
    values, max_size=2), junk),
    final_time=st.one_of(st.none(), numbers), time_step=st.one_of(st.none(), numbers))
def test_model_run_takes_any_arguments_or_refuses_them(
    tub: sdnet.Model, params: Any, final_time: Any, time_step: Any
) -> None:
    if isinstance(final_time, float) and math.isfinite(final_time) and final_time > 100:
        final_time = 100.0  # a long run is not a different property, only a slower test
    succeeds_or_refuses(lambda: tub.run(params, final_time=final_time, time_step=time_step))


@FAST
@given(amount=values, start=values, duration=values, taper=values)
def test_push_takes_any_numbers_or_refuses_them(amount: Any, start: Any, duration: Any,
                                                taper: Any) -> None:
    succeeds_or_refuses(lambda: sdnet.Push(amount, start, duration, taper=taper))


@FAST
@given(path=st.one_of(st.none(), st.integers(), st.text(max_size=10), st.binary(max_size=5),
                      st.sampled_from([str(DATA), str(BATHTUB) + "x", "", "."])))
def test_load_model_takes_anything_or_refuses_it(path: Any) -> None:
    succeeds_or_refuses(lambda: sdnet.load_model(path))
