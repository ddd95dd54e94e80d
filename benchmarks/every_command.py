"""Every command on every model of the public suite: no traceback, ever.

For each case of ``../shared/conformance/index.tsv`` and each of the suite's XMILE files
(``.xmile``/``.stmx`` beside the cases, as ``<case>/<file>``; ``--no-xmile`` leaves them out)
it runs, in this process through ``sdnet.cli.main`` (as the console script does),
``describe``, ``run`` (PySD, and ``--engine auto``), ``diagram``, ``check --only
units_declared,defaults_in_range`` (the simulation checks are the conformance sweep's job),
``ensemble`` (4 runs), ``experiment`` (a 4-run Latin-hypercube study of the model's first
constant, written to a study file in the temporary folder, ``--no-report``) and ``report`` (of
that study's folder), each in a fresh output folder, and sorts the ends. A case whose index
row lists data files gets them: ``--data`` on every command that runs the model, ``[experiment]
data`` in its study file.

* ``ok`` (exit 0), ``answer`` (exit 1: ``check`` found a failing check), ``clear`` (exit 2: a
  one-line error, an ``SdnetError``);
* ``TRACEBACK``: any other exception escaped the command (a defect to fix).

It prints a per-case table of the ends and the counts; the exit code is 1 when any command
ended in a traceback.

Usage::

    python3 benchmarks/every_command.py                 # every case (minutes)
    python3 benchmarks/every_command.py --cases teacup delays --commands run describe
    python3 benchmarks/every_command.py --no-xmile          # the Vensim files only
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "conformance"))

import suite  # noqa: E402

COMMANDS = ("describe", "run", "run-auto", "diagram", "check", "ensemble", "experiment",
            "report")


def _data(case: suite.Case) -> list[Path]:
    """The case's data files (the index's data_files column), as absolute paths."""
    return [case.folder / f for f in case.data_files]


def _study(model: Path, folder: Path, data: list[Path]) -> Path:
    """A 4-run Latin-hypercube study of the model's first constant (bounds: its declared range,
    else half to one and a half its default); no factor when the model cannot be loaded or has
    no constant, so the command says why."""
    from sdnet.errors import SdnetError
    from sdnet.model import load_model

    lines = ["[experiment]", 'name = "every_command"', f"model = {str(model)!r}", "seed = 1",
             *([f"data = [{', '.join(repr(str(f)) for f in data)}]"] if data else []),
             "", "[design]", 'method = "lhs"', "n = 4", ""]
    try:
        parameters = [p for p in load_model(model, data_files=data).parameters.values()
                      if p.kind != "control"]
    except SdnetError:
        parameters = []
    for parameter in parameters[:1]:
        if parameter.bounded and parameter.lower < parameter.upper:
            bounds = (parameter.lower, parameter.upper)
        else:
            default = float(parameter.default) if parameter.default is not None else 0.0
            bounds = sorted((0.5 * default, 1.5 * default)) if default else (0.0, 1.0)
        lines += ["[[factors]]", f"name = {parameter.name!r}",
                  f"bounds = [{float(bounds[0])!r}, {float(bounds[1])!r}]", ""]
    path = folder / "study.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _argv(command: str, case: suite.Case, out: Path) -> list[str]:
    model = case.model
    data = _data(case)
    given = ["--data", ",".join(str(f) for f in data)] if data else []
    if command == "describe":
        return ["describe", str(model), *given]
    if command == "run":
        return ["run", str(model), "--out", str(out / "run"), *given]
    if command == "run-auto":
        return ["run", str(model), "--engine", "auto", "--out", str(out / "auto"), *given]
    if command == "diagram":
        return ["diagram", str(model), "--out", str(out / "d.svg")]
    if command == "ensemble":
        return ["ensemble", str(model), "--samples", "4", "--no-progress",
                "--out", str(out / "ens"), *given]
    if command == "experiment":  # the data files through the study file's key
        return ["experiment", str(_study(model, out, data)), "--quiet", "--no-report",
                "--out", str(out / "study")]
    if command == "report":  # the study's folder, made first (without its report)
        from sdnet.cli import main

        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            main(_argv("experiment", case, out))
        return ["report", str(out / "study")]
    return ["check", str(model), "--only", "units_declared,defaults_in_range", *given]


def _end(command: str, case: suite.Case) -> str:
    from sdnet.cli import main

    with tempfile.TemporaryDirectory(prefix="sdnet-every-") as folder:
        sink = io.StringIO()
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), \
                    warnings.catch_warnings():
                warnings.simplefilter("ignore")
                code = main(_argv(command, case, Path(folder)))
        except SystemExit as exit_:  # argparse
            code = exit_.code if isinstance(exit_.code, int) else 2
        except Exception as error:  # what this script is looking for
            last = traceback.extract_tb(error.__traceback__)[-1]
            return (f"TRACEBACK {type(error).__name__}: {str(error)[:80]} "
                    f"({Path(last.filename).name}:{last.lineno})")
    return {0: "ok", 1: "answer", 2: "clear"}.get(code, f"exit {code}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", help="case names (default: every case)")
    parser.add_argument("--commands", nargs="*", choices=COMMANDS, default=list(COMMANDS))
    parser.add_argument("--no-xmile", action="store_true",
                        help="leave out the suite's XMILE (.xmile/.stmx) files")
    args = parser.parse_args()
    os.environ.setdefault("SDNET_CACHE_DIR", tempfile.mkdtemp(prefix="sdnet-every-cache-"))
    cases = suite.load_cases()
    if not args.no_xmile:
        cases += suite.xmile_cases(cases)
    if args.cases:
        cases = [c for c in cases if c.name in set(args.cases)]
    if not cases:
        print(f"no cases (is the suite at {suite.CONFORMANCE}?)")
        return 1
    counts: dict[str, int] = {}
    tracebacks = 0
    started = time.perf_counter()
    print("| case | " + " | ".join(args.commands) + " |")
    print("|---|" + "---|" * len(args.commands))
    for case in cases:
        ends = [_end(command, case) for command in args.commands]
        for end in ends:
            key = end.split(" ")[0]
            counts[key] = counts.get(key, 0) + 1
            tracebacks += key == "TRACEBACK"
        print(f"| {case.name} | " + " | ".join(ends) + " |", flush=True)
    print(f"\n{len(cases)} cases x {len(args.commands)} commands in "
          f"{time.perf_counter() - started:.0f} s: "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 1 if tracebacks else 0


if __name__ == "__main__":
    sys.exit(main())
