"""Replay the bad-input cases of issue 11 ("Hardening") and count what each one ends in.

Every case is run in-process (the command line through ``sdnet.cli.main``, the Python API by
calling it) inside a fresh temporary folder, and ends in one of:

* ``clear error``: the expected refusal, an ``SdnetError`` (API) or exit code 2 with one line
  ``sdnet CMD: error: ...`` (CLI), whose message names what it should (file, key, variable);
* ``warning``: the run succeeded and warned as it should (the numerical guard);
* ``ok``: valid input that must be accepted (a byte-order mark, ``word of mouth``);
* ``unclear``: refused, but the message does not name what it should;
* ``traceback``: any other exception, or a traceback printed;
* ``silent``: bad input accepted without an error or a warning (or valid input refused);
* ``data lost``: a file the user had was deleted or changed.

Usage::

    python benchmarks/hardening_cases.py            # the table of counts, then each case
    python benchmarks/hardening_cases.py --only 5   # the cases of one defect of the issue

It takes about a minute (small models; one 4-run study is built for the report cases). The
counts are quoted in docs/hardening.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
TINY = DATA / "tiny_network.mdl"
BATHTUB = DATA / "bathtub.mdl"
FLEXNET = ROOT / "models" / "flexnet" / "flexnet.mdl"
UNSTABLE_PUSH = ("--push-amount", "300000", "--push-start", "0", "--push-duration", "16")
TEACHING = ROOT / "experiments" / "teaching"

STUDY = f"""\
[experiment]
name = "tiny"
model = "{TINY.as_posix()}"
seed = 1

[[factors]]
name = "push_duration"

[design]
method = "lhs"
n = 4

[[metrics]]
name = "final_members"
variable = "Total Members"
reducer = "final"
"""

# a model with constants and no stock (shared with tests/unit/test_model.py)
CONSTANT_ONLY = (DATA / "constants_only.mdl").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Case:
    """One replayed input: what it is, what must happen, and how to run it."""

    defect: str
    name: str
    expect: str  # "error", "ok", "warn" or "any" (success or a clear error, never a traceback)
    run: Callable[[Path], Outcome]
    mentions: tuple[str, ...] = ()
    forbid: tuple[str, ...] = ()  # what a clear message must not show (PySD internals)


@dataclass
class Outcome:
    """What a case did: an exception (API), or an exit code and the printed text (CLI)."""

    error: BaseException | None = None
    code: int | None = None
    out: str = ""
    err: str = ""
    warned: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    ran_code: bool = False


# ----------------------------------------------------------------------------- running
def cli(*argv: str | Path, keep: tuple[str, ...] = ()) -> Callable[[Path], Outcome]:
    """A command line run from the case's folder; files named in ``keep`` must survive."""

    def run(folder: Path) -> Outcome:
        from sdnet.cli import main

        before = {name: _fingerprint(folder / name) for name in keep}
        out, err = io.StringIO(), io.StringIO()
        outcome = Outcome()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                warnings.catch_warnings():
            warnings.simplefilter("always")
            try:
                outcome.code = main([str(a).replace("{dir}", str(folder)) for a in argv])
            except SystemExit as stop:
                outcome.code = stop.code if isinstance(stop.code, int) else 2
            except BaseException as error:
                outcome.error = error
                traceback.print_exc(file=err)
        outcome.out, outcome.err = out.getvalue(), err.getvalue()
        outcome.warned = [line for line in outcome.err.splitlines() if ": warning: " in line]
        outcome.lost = [name for name, print_ in before.items()
                        if _fingerprint(folder / name) != print_]
        return outcome

    return run


def api(call: Callable[[Path], Any], *, keep: tuple[str, ...] = ()) -> Callable[[Path], Outcome]:
    """A Python API call; warnings are recorded."""

    def run(folder: Path) -> Outcome:
        before = {name: _fingerprint(folder / name) for name in keep}
        outcome = Outcome()
        with warnings.catch_warnings(record=True) as caught, \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("always")
            try:
                call(folder)
            except BaseException as error:
                outcome.error = error
        outcome.warned = [str(w.message) for w in caught
                          if "NumericalWarning" in type(w.message).__name__]
        outcome.lost = [name for name, print_ in before.items()
                        if _fingerprint(folder / name) != print_]
        return outcome

    return run


def _fingerprint(path: Path) -> tuple[str, ...] | None:
    if path.is_file():
        return ("file", path.read_bytes().hex())
    if path.is_dir():
        return ("dir", *sorted(str(p.relative_to(path)) for p in path.rglob("*")))
    return None


def classify(case: Case, outcome: Outcome) -> tuple[str, str]:
    """(verdict, the line that shows it)."""
    from sdnet.errors import SdnetError

    if outcome.ran_code:
        return "code ran", "text of the model file ran as code"
    if outcome.lost:
        return "data lost", f"changed or removed: {', '.join(outcome.lost)}"
    if outcome.error is not None and not isinstance(outcome.error, SdnetError):
        return "traceback", f"{type(outcome.error).__name__}: {outcome.error}"[:200]
    if "Traceback" in outcome.err:
        return "traceback", outcome.err.strip().splitlines()[-1][:200]
    if outcome.code not in (None, 0, 1, 2):
        return "traceback", f"exit code {outcome.code}"
    refused = outcome.error is not None or outcome.code == 2
    message = str(outcome.error) if outcome.error is not None else outcome.err.strip()
    if refused:
        errors = [line for line in message.splitlines() if ": error: " in line or
                  outcome.error is not None]
        if outcome.error is None and len(errors) != 1:
            return "unclear", f"{len(message.splitlines())} lines: {message[:200]}"
        if case.expect in ("ok", "warn"):
            return "silent", f"valid input refused: {message[:200]}"
        missing = [m for m in case.mentions if m.replace("{dir}", "") not in message]
        if missing:
            return "unclear", f"does not name {missing}: {message[:200]}"
        shown = [f for f in case.forbid if f in message]
        if shown:
            return "unclear", f"shows {shown}: {message[:200]}"
        return "clear error", message.splitlines()[-1][:200]
    if case.expect == "warn":
        return ("warning", outcome.warned[0][:200]) if outcome.warned else (
            "silent", "no warning")
    if case.expect == "error":
        return "silent", f"accepted (exit {outcome.code})"
    return "ok", f"exit {outcome.code}" if outcome.code is not None else "returned"


# ----------------------------------------------------------------------------- the cases
def _study(folder: Path, text: str = STUDY, name: str = "study.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _with(extra: str, replace: tuple[str, str] | None = None) -> Callable[[Path], Outcome]:
    """``sdnet experiment`` of the tiny study with ``extra`` appended (or a line replaced)."""

    def run(folder: Path) -> Outcome:
        text = STUDY if replace is None else STUDY.replace(*replace)
        study = _study(folder, text + extra)
        return cli("experiment", study, "--out", folder / "out", "--quiet", "--no-report")(folder)

    return run


def _model(folder: Path, text: str, name: str = "m.mdl", encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_bytes(text.encode(encoding))
    return path


def _finished_study(folder: Path) -> Path:
    """A finished 4-run study of the tiny model (copied from a cache of this replay)."""
    import sdnet

    cache = Path(tempfile.gettempdir()) / f"sdnet-hardening-study-{os.getpid()}"
    if not (cache / "metrics.csv").is_file():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sdnet.run_experiment(sdnet.load_experiment(_study(folder)), out=cache,
                                 progress=False)
    target = folder / "results"
    shutil.copytree(cache, target)
    return target


def _report_of_broken(change: Callable[[Path], None]) -> Callable[[Path], Outcome]:
    def run(folder: Path) -> Outcome:
        results = _finished_study(folder)
        change(results)
        return cli("report", results)(folder)

    return run


def _cut_metrics(results: Path) -> None:
    lines = (results / "metrics.csv").read_text(encoding="utf-8").splitlines()
    (results / "metrics.csv").write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")


def _design_method_5(results: Path) -> None:
    design = json.loads((results / "design.json").read_text(encoding="utf-8"))
    design["method"] = 5
    (results / "design.json").write_text(json.dumps(design), encoding="utf-8")


def _exercise_case(expression: str) -> Callable[[Path], Outcome]:
    def run(folder: Path) -> Outcome:
        source = (TEACHING / "02_reinforcing_loops.toml").read_text(encoding="utf-8")
        source = source.replace('model = "../../models/flexnet/flexnet.mdl"',
                                f'model = "{FLEXNET.as_posix()}"')
        source = source.replace('ratio_half = "peak_half / peak_base"',
                                f'ratio_half = "{expression}"')
        (folder / "02_reinforcing_loops.toml").write_text(source, encoding="utf-8")
        return cli("exercise", "--dir", folder, "key", "2")(folder)

    return run


def _answers(text: str | bytes, *argv: str) -> Callable[[Path], Outcome]:
    def run(folder: Path) -> Outcome:
        path = folder / "answers.toml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
        return cli("exercise", "--dir", TEACHING, "check", "2", path, *argv)(folder)

    return run


def _ensemble(factors: Any) -> Callable[[Path], Outcome]:
    def call(folder: Path) -> Any:
        import sdnet

        return sdnet.run_ensemble(sdnet.load_model(TINY), factors, progress=False)

    return api(call)


def cases() -> list[Case]:
    """Every case of issue 11 this script replays (defect numbers as in the issue)."""
    tiny, bathtub = str(TINY), str(BATHTUB)
    out: list[Case] = [
        # 5: tracebacks
        Case("5", "non-UTF-8 experiment file", "error",
             lambda d: cli("experiment", _model(d, STUDY + "# caf\xe9\n", "study.toml",
                                                "latin-1"), "--out", d / "o")(d),
             ("study.toml", "UTF-8")),
        Case("5", "params = 5 at top level", "error",
             _with("", ("[experiment]", "params = 5\n[experiment]")), ("[params]",)),
        Case("5", "[[policies]] params = 5", "error",
             _with('\n[[policies]]\nname = "a"\nparams = 5\n'), ("policies[0].params",)),
        Case("5", 'params = "abc"', "error", _with("", ("[experiment]",
             'params = "abc"\n[experiment]')), ("[params]",)),
        Case("5", "a model without stocks: describe", "any",
             lambda d: cli("describe", _model(d, CONSTANT_ONLY))(d)),
        Case("5", "a model without stocks: run", "any",
             lambda d: cli("run", _model(d, CONSTANT_ONLY), "--out", d / "o")(d)),
        Case("5", "a model without stocks: check", "any",
             lambda d: cli("check", _model(d, CONSTANT_ONLY))(d)),
        Case("5", "a variable defined twice", "error",
             lambda d: cli("describe", _model(d, CONSTANT_ONLY.replace(
                 "Output = Growth Rate * 2", "Output = Growth Rate * 2\n\t~\t1/Year\n\t~\t"
                 "first\n\t|\n\nOutput = Growth Rate * 3")))(d), ("Output",)),
        Case("5", "exercise expression 10.0 ** 400", "error", _exercise_case("10.0 ** 400"),
             ("derived.ratio_half", "overflows")),
        Case("5", "exercise expression max()", "error", _exercise_case("max()"),
             ("derived.ratio_half", "max()")),
        # 7: an unstable time step (with a push: flexnet v2 without one stays at rest, and a
        # run at rest has nothing for a large step to amplify). v2 at this step overshoots
        # until it is non-finite: the guard's warnings come first, then the run fails clearly.
        Case("7", "run --time-step 8 (PySD)", "error",
             cli("run", FLEXNET, "--time-step", "8", "--saveper", "8", "--final-time", "32",
                 *UNSTABLE_PUSH, "--out", "{dir}/o"),
             ("below its declared minimum", "may be too large", "non-finite")),
        Case("7", "run --time-step 8 (vector)", "error",
             cli("run", FLEXNET, "--time-step", "8", "--saveper", "8", "--final-time", "32",
                 *UNSTABLE_PUSH, "--engine", "vector", "--out", "{dir}/o"),
             ("below its declared minimum", "may be too large", "non-finite")),
        Case("7", "run_ensemble at time step 8", "warn",
             api(lambda d: __import__("sdnet").run_ensemble(
                 __import__("sdnet").load_model(BATHTUB), {"drain_time": [4.0, 10.0]},
                 time_step=8, saveper=8, final_time=56, progress=False))),
        Case("7", "check --time-step 8 fails", "any",
             cli("check", bathtub, "--only", "integration_error", "--time-step", "8")),
        # 8: accepted without validation
        Case("8", "PRIM alpha = 5", "error",
             _with('\n[analysis.prim]\nmetric = "final_members"\nalpha = 5\n'),
             ("analysis.prim.alpha",)),
        Case("8", "PRIM min_coverage = 7", "error",
             _with('\n[analysis.prim]\nmetric = "final_members"\nmin_coverage = 7\n'),
             ("analysis.prim.min_coverage",)),
        Case("8", "time_resolved with an lhs design", "error",
             _with('\n[analysis.time_resolved]\nvariables = ["Total Members"]\n'),
             ("analysis.time_resolved",)),
        Case("8", "thresholds.tol = 1e9", "error",
             _with("\n[analysis.thresholds]\ntol = 1e9\n"), ("analysis.thresholds.tol",)),
        Case("8", "a metric units table", "error",
             _with("units = { a = 1 }\n"), ("metrics[0].units",)),
        Case("8", "--vars ''", "error", cli("run", tiny, "--vars", "", "--out", "{dir}/o"),
             ("--vars",)),
        Case("8", "describe --width 0", "error", cli("describe", tiny, "--width", "0"),
             ("--width",)),
        Case("8", "a declared range [1,0]", "error",
             lambda d: cli("describe", _model(d, CONSTANT_ONLY.replace("[0,1]", "[1,0]")))(d),
             ("Growth Rate",)),
        Case("8", "non-UTF-8 bytes in a name", "any",
             lambda d: cli("describe", _model(d, CONSTANT_ONLY.replace(
                 "Growth Rate", "Growth R\xe4te"), encoding="latin-1"))(d)),
        Case("8", "metrics.csv cut to 1 row", "error", _report_of_broken(_cut_metrics),
             ("metrics.csv",)),
        Case("8", "design.json method: 5", "error", _report_of_broken(_design_method_5),
             ("design.json", "method")),
        Case("8", "run_ensemble with both spellings", "error",
             _ensemble({"push_amount": [1, 2], "Push Amount": [3, 4]}), ("push_amount",)),
        Case("8", "run_ensemble with nested lists", "error",
             _ensemble({"push_amount": [[1, 2], [3, 4]]}), ("push_amount",)),
        Case("8", "run_ensemble with booleans", "error",
             _ensemble({"push_amount": [True, False]}), ("push_amount",)),
        # 10: Python API exceptions that are not SdnetError
        Case("10", 'run_ensemble(model, "push_duration")', "error", _ensemble("push_duration"),
             ("factors",)),
        Case("10", "load_answers(<a folder>)", "error",
             api(lambda d: __import__("sdnet.teaching").teaching.load_answers(
                 d, __import__("sdnet.teaching").teaching.load_exercises(TEACHING)[2])),
             ("folder",)),
        # 11: unclear messages
        Case("11", 'direction = "sideways"', "error",
             _with("", ('reducer = "final"', 'reducer = "time_to_threshold"\nthreshold = 5\n'
                        'direction = "sideways"')), ("metrics[0].direction",)),
        Case("11", "metric start after end", "error",
             _with("", ('reducer = "final"', 'reducer = "mean"\nstart = 20\nend = 10')),
             ("metrics[0]", "start")),
        Case("11", "saveper not a multiple of time_step", "error",
             _with("\n[run]\ntime_step = 0.3\nsaveper = 1\n"), ("run.saveper",)),
        Case("11", "time_step = 2 with no saveper", "error",
             _with("\n[run]\ntime_step = 2\n"), ("run.time_step",)),
        Case("11", "--out naming a file", "error",
             lambda d: (d / "afile").write_text("mine") and cli(
                 "run", tiny, "--out", d / "afile", keep=("afile",))(d), ("is a file",)),
        Case("11", "a folder as the model", "error", cli("describe", DATA),
             ("is a folder",)),
        Case("11", "a byte-order mark in an answers file", "any",
             _answers(b"\xef\xbb\xbf[answers]\npeak_base = 18.8\n")),
        Case("11", "a key file that is not UTF-8", "error",
             lambda d: (d / "key.toml").write_bytes(b"\xff\xfe") and _answers(
                 "[answers]\n", "--key", str(d / "key.toml"))(d), ("key.toml",)),
        Case("11", "a key file that is not a key", "error",
             lambda d: (d / "key.toml").write_text("[key]\nexercise = 2\n") and _answers(
                 "[answers]\n", "--key", str(d / "key.toml"))(d), ("key.toml", "title")),
        # 12: teaching papercuts
        Case("12", "--dir after the action", "ok",
             cli("exercise", "list", "--dir", TEACHING)),
        Case("12", 'a choice answered "word of mouth"', "any",
             _answers('[answers]\nmain_inflow_during_push = "word of mouth"\n')),
    ]
    return out + other_helpers_cases()


def _injected(folder: Path, comment: str) -> Path:
    return _model(folder, CONSTANT_ONLY.replace("A constant.", comment))


def _code_case(*argv: str) -> Callable[[Path], Outcome]:
    """A model whose comment would run ``touch PWNED`` if PySD's docstring were code."""

    def run(folder: Path) -> Outcome:
        marker = folder / "PWNED"
        model = _injected(folder, f'x """ + str(__import__("os").system("touch {marker}")) '
                                  '+ """ y')
        outcome = cli(*[a.replace("{model}", str(model)) for a in argv])(folder)
        outcome.ran_code = marker.exists()
        return outcome

    return run


def _two_studies(folder: Path) -> Outcome:
    """A second, different study into the --out of a first one must not reuse its analyses."""
    first = _study(folder, STUDY.replace('name = "push_duration"',
                                         'name = "push_duration"\n\n[[factors]]\n'
                                         'name = "word_of_mouth"'), "first.toml")
    cli("experiment", first, "--out", folder / "out", "--quiet", "--no-report")(folder)
    return cli("experiment", _study(folder), "--out", folder / "out", "--quiet",
               "--no-report")(folder)


def _users_chunks(folder: Path) -> Outcome:
    (folder / "out" / "chunks").mkdir(parents=True)
    (folder / "out" / "chunks" / "mine.txt").write_text("mine", encoding="utf-8")
    return cli("experiment", _study(folder), "--out", folder / "out", "--quiet", "--no-report",
               keep=("out/chunks/mine.txt",))(folder)


def _users_figures(folder: Path) -> Outcome:
    results = _finished_study(folder)
    (folder / "rep" / "figures").mkdir(parents=True)
    (folder / "rep" / "figures" / "mine.png").write_text("mine", encoding="utf-8")
    return cli("report", results, "--out", folder / "rep", keep=("rep/figures/mine.png",))(
        folder)


def _not_netcdf(folder: Path) -> Any:
    import sdnet

    (folder / "e.nc").write_text("not netcdf", encoding="utf-8")
    return sdnet.EnsembleResult.load(folder / "e.nc")


def _out_is_a_file(folder: Path) -> Any:
    import sdnet

    return sdnet.run_experiment(sdnet.load_experiment(_study(folder)), out=folder / "afile",
                                progress=False)


def other_helpers_cases() -> list[Case]:
    """Cases of the defects other helpers of issue 11 fix (model text, names, output folders,
    API inputs): replayed here so that one table counts the whole issue."""
    loop = CONSTANT_ONLY.replace("Output = Growth Rate * 2", "Output = Growth Rate * Other\n"
                                 "\t~\t1/Year\n\t~\tloop\n\t|\n\nOther = Output * 2")
    return [
        Case("1", "a comment that runs code (describe)", "any", _code_case("describe", "{model}")),
        Case("1", "a comment that runs code (run, vector)", "any",
             _code_case("run", "{model}", "--engine", "vector", "--out", "{dir}/o")),
        Case("1", 'a harmless """ in a comment', "ok",
             lambda d: cli("describe", _injected(d, 'says """hello"""'))(d)),
        Case("2", "a reused --out of another study", "error", _two_studies, ("out",)),
        Case("3", "a chunks/ folder of the user's in --out", "any", _users_chunks),
        Case("3", "report --out over the user's figures/", "any", _users_figures),
        Case("4", "--set with a punctuated name", "ok",
             lambda d: cli("run", _model(d, CONSTANT_ONLY.replace(
                 "Growth Rate", "Firm's Growth Rate")), "--set", "Firm's Growth Rate=0.3",
                 "--out", d / "o")(d)),
        Case("10", "load_model(None)", "error", api(lambda d: __import__("sdnet").load_model(
             None))),
        Case("10", "load_model(123)", "error", api(lambda d: __import__("sdnet").load_model(
             123))),
        Case("10", "EnsembleResult.load of a non-NetCDF file", "error", api(_not_netcdf),
             ("e.nc",)),
        Case("10", "run_experiment(out=<a file>)", "error",
             lambda d: (d / "afile").write_text("mine") and api(
                 _out_is_a_file, keep=("afile",))(d), ("afile",)),
        Case("10", 'check_model("x.mdl")', "error",
             api(lambda d: __import__("sdnet").check_model("x.mdl"))),
        Case("11", "an algebraic loop", "error", lambda d: cli("run", _model(d, loop), "--out",
                                                               d / "o")(d),
             forbid=("RecursionError",)),
    ]


# ----------------------------------------------------------------------------- report
VERDICTS = ("clear error", "warning", "ok", "unclear", "traceback", "silent", "data lost",
            "code ran")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", metavar="N", help="only the cases of defect N of the issue")
    parser.add_argument("--quiet", action="store_true", help="the table only")
    args = parser.parse_args(argv)
    os.environ.setdefault("SDNET_CACHE_DIR", str(Path(tempfile.gettempdir()) /
                                                   "sdnet-hardening-cache"))
    selected = [c for c in cases() if args.only in (None, c.defect)]
    rows = []
    here = Path.cwd()
    for case in selected:
        with tempfile.TemporaryDirectory(prefix="sdnet-case-") as tmp:
            os.chdir(tmp)
            try:
                verdict, line = classify(case, case.run(Path(tmp)))
            finally:
                os.chdir(here)
        rows.append((case, verdict, line))
    counts = Counter(verdict for _, verdict, _ in rows)
    print(f"| cases | {' | '.join(VERDICTS)} |")
    print(f"|---:|{'---:|' * len(VERDICTS)}")
    print(f"| {len(rows)} | {' | '.join(str(counts.get(v, 0)) for v in VERDICTS)} |")
    if not args.quiet:
        print()
        for case, verdict, line in rows:
            print(f"[{case.defect:>2}] {verdict:<11} {case.name}: {line}")
    bad = sum(counts.get(v, 0) for v in ("unclear", "traceback", "silent", "data lost",
                                          "code ran"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
