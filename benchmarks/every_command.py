"""Every command on every model of the public suite: no traceback, ever.

For each case of ``../shared/conformance/index.tsv`` it runs, in this process through
``sdnet.cli.main`` (as the console script does), ``describe``, ``run`` (PySD, and ``--engine
auto``), ``diagram`` and ``check --only units_declared,defaults_in_range`` (the simulation
checks are the conformance sweep's job), each in a fresh output folder, and sorts the ends:

* ``ok`` (exit 0), ``answer`` (exit 1: ``check`` found a failing check), ``clear`` (exit 2: a
  one-line error, an ``SdnetError``);
* ``TRACEBACK``: any other exception escaped the command (a defect to fix).

It prints a per-case table of the ends and the counts; the exit code is 1 when any command
ended in a traceback.

Usage::

    python3 benchmarks/every_command.py                 # every case (minutes)
    python3 benchmarks/every_command.py --cases teacup delays --commands run describe
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

COMMANDS = ("describe", "run", "run-auto", "diagram", "check")


def _argv(command: str, model: Path, out: Path) -> list[str]:
    if command == "describe":
        return ["describe", str(model)]
    if command == "run":
        return ["run", str(model), "--out", str(out / "run")]
    if command == "run-auto":
        return ["run", str(model), "--engine", "auto", "--out", str(out / "auto")]
    if command == "diagram":
        return ["diagram", str(model), "--out", str(out / "d.svg")]
    return ["check", str(model), "--only", "units_declared,defaults_in_range"]


def _end(command: str, model: Path) -> str:
    from sdnet.cli import main

    with tempfile.TemporaryDirectory(prefix="sdnet-every-") as folder:
        sink = io.StringIO()
        try:
            with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), \
                    warnings.catch_warnings():
                warnings.simplefilter("ignore")
                code = main(_argv(command, model, Path(folder)))
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
    args = parser.parse_args()
    os.environ.setdefault("SDNET_CACHE_DIR", tempfile.mkdtemp(prefix="sdnet-every-cache-"))
    cases = suite.load_cases()
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
        ends = [_end(command, case.model) for command in args.commands]
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
