"""The full conformance sweep: every case of ``../shared/conformance`` on the engine and PySD.

For each case of the public SD test-model suite (``index.tsv``) it runs the vectorized engine
(two identical runs) and PySD (on a copy of the case's folder, with its data files), and
compares

* each with the canonical (Vensim) output at the case's tolerance (``|x - canon| <= 1e-5 +
  rtol |canon|``, rtol from ``pysd_rtol`` or 1e-5), where the case has one;
* the engine with PySD on every column both have (relative ``1e-10``): both compute the same
  float64 operations in the same order (where PySD solves numerically, ALLOCATE AVAILABLE,
  within its solver's tolerance: ``suite.PYSD_SOLVER_ATOL``).

It prints a per-case Markdown table and the counts. The engine's verdict is ``match`` (equal to
the canonical output at the case's tolerance, or to PySD where there is none, and to PySD
wherever PySD runs), ``unsupported: <construct>`` (refused at compile time, naming it),
``error: ...`` or ``differs: <column>``. The test suite runs the fast half of this (engine
against the canonical outputs, ``tests/conformance/``); this script adds PySD.

Usage::

    python3 benchmarks/conformance_sweep.py                 # every case, 2 processes
    python3 benchmarks/conformance_sweep.py --cases delays teacup --no-pysd
    pytest tests/conformance -k xmile                      # the XMILE files against Stella
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "conformance"))

import suite  # noqa: E402


def _check_case(case: suite.Case, with_pysd: bool) -> dict[str, str]:
    os.environ["SDNET_CACHE_DIR"] = tempfile.mkdtemp(prefix="sdnet-sweep-cache-")
    from sdnet.errors import UnsupportedConstructError

    row = {"case": case.name, "engine": "", "pysd": "", "engine_vs_pysd": "", "seconds": ""}
    canonical = suite.load_canonical(case.canonical) if case.canonical else None
    started = time.perf_counter()
    engine = None
    try:
        engine = suite.engine_run(case)
    except UnsupportedConstructError as err:
        row["engine"] = f"unsupported: {err.construct} ({err.variable})"
    except Exception as err:
        row["engine"] = "error: " + suite.describe_error(err)
    row["seconds"] = f"{time.perf_counter() - started:.2f}"
    if engine is not None and canonical is not None:
        cmp = suite.compare(*engine, *canonical, rtol=case.rtol, atol=suite.DEFAULT_TOLERANCE)
        row["engine"] = "match" if cmp.ok else f"differs: {cmp.worst or 'no common column'}"
    elif engine is not None:
        row["engine"] = "ran (no canonical output)"
    pysd = None
    if with_pysd:
        try:
            pysd = suite.pysd_run(case)
        except Exception as err:
            row["pysd"] = "error: " + suite.describe_error(err)
        if pysd is not None and canonical is not None:
            cmp = suite.compare(*pysd, *canonical, rtol=case.rtol, atol=suite.DEFAULT_TOLERANCE)
            row["pysd"] = "match" if cmp.ok else f"differs: {cmp.worst or 'no common column'}"
        elif pysd is not None:
            row["pysd"] = "ran (no canonical output)"
    if engine is not None and pysd is not None:
        solver = suite.PYSD_SOLVER_ATOL.get(case.name)
        cmp = suite.compare(
            *engine, *pysd, rtol=suite.PYSD_RTOL, atol=solver or 1e-12, blanks=False
        )
        missing = sorted(set(map(suite.normal, pysd[1])) - set(map(suite.normal, engine[1])))
        equal = cmp.ok and not missing
        row["engine_vs_pysd"] = (
            f"differs: {cmp.worst or missing[:3]}" if not equal
            else f"equal within PySD's solver (atol {solver:g})" if solver else "equal"
        )
        if canonical is None:
            row["engine"] = "match" if equal else "differs from PySD"
        elif row["engine"] == "match" and not equal:
            row["engine"] = "differs from PySD"
    return row


def _verdict(text: str) -> str:
    return text.split(":")[0].split(" (")[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", help="case names (default: every case)")
    parser.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--no-pysd", action="store_true", help="engine against canonical only")
    args = parser.parse_args(argv)
    cases = suite.load_cases()
    if not cases:
        print(f"no conformance suite at {suite.CONFORMANCE}")
        return 1
    if args.cases:
        cases = [c for c in cases if c.name in set(args.cases)]
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs, max_tasks_per_child=1) as pool:
        rows = list(pool.map(_check_case, cases, [not args.no_pysd] * len(cases)))
    print("| case | engine | PySD vs canonical | engine vs PySD | engine s |")
    print("|---|---|---|---|---:|")
    for row in rows:
        print(
            f"| {row['case']} | {row['engine']} | {row['pysd']} | {row['engine_vs_pysd']} "
            f"| {row['seconds']} |"
        )
    counts: dict[str, int] = {}
    for row in rows:
        key = _verdict(row["engine"])
        counts[key] = counts.get(key, 0) + 1
    print()
    print(f"{len(rows)} cases in {time.perf_counter() - started:.0f} s")
    print("engine: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if not args.no_pysd:
        pysd_ok = [r for r in rows if r["pysd"] in ("match", "ran (no canonical output)")]
        both = [r for r in pysd_ok if r["engine"] == "match"]
        print(f"PySD runs and matches (or runs, without canonical output): {len(pysd_ok)}; "
              f"engine matches on {len(both)} of them")
        gaps = [r["case"] for r in pysd_ok if r["engine"] != "match"]
        print("PySD matches, engine does not: " + (", ".join(gaps) or "none"))
    silent = [r["case"] for r in rows if _verdict(r["engine"]).startswith("differs")]
    print("engine runs but differs (silent mismatches): " + (", ".join(silent) or "none"))
    return 0 if not silent else 1


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
