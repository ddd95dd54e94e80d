"""Every conformance model the numba backend compiles, run on both backends: bit for bit?

Not a test (each kernel takes seconds to compile): for every Vensim case of
``../shared/conformance`` that the engine compiles, it says whether the numba backend compiles
it (or which construct it refuses), and for those it does, runs two runs with Euler and with
RK4 and one single run on both backends and compares every saved column with
``np.array_equal``. A case where numpy fails (a documented run-time refusal) must fail the same
way on numba.

Usage::

    python3 benchmarks/numba_equivalence.py                 # every case
    python3 benchmarks/numba_equivalence.py --cases exp lookups teacup
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "conformance"))


def compare(model, n_runs: int, method: str) -> str:  # type: ignore[no-untyped-def]
    """"same", "differs in N columns", or the shared error's class."""
    try:
        slow = model.simulate(n_runs=n_runs, method=method, backend="numpy")
    except Exception as error:  # a run-time refusal: numba must refuse alike
        try:
            model.simulate(n_runs=n_runs, method=method, backend="numba")
        except Exception as other:
            same = type(other) is type(error) and str(other) == str(error)
            return f"both refuse ({type(error).__name__})" if same else "REFUSED DIFFERENTLY"
        return "NUMBA RAN WHERE NUMPY REFUSED"
    fast = model.simulate(n_runs=n_runs, method=method, backend="numba")
    differ = [c for c in slow.outputs
              if not np.array_equal(slow.outputs[c], fast.outputs[c], equal_nan=True)]
    if differ or slow.failures != fast.failures or list(slow.outputs) != list(fast.outputs):
        return f"DIFFERS in {len(differ)} columns ({', '.join(differ[:3])})"
    return "same"


def main() -> None:
    import suite

    from sdnet.engine import compile_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="*", help="case names (default: every case)")
    args = parser.parse_args()
    cases = [c for c in suite.load_cases() if not args.cases or c.name in args.cases]
    if not cases:
        raise SystemExit("no cases: ../shared/conformance is absent or --cases matched none")
    refused: collections.Counter[str] = collections.Counter()
    rows = []
    for case in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                model = compile_model(case.model)
            except Exception:  # the engine refuses it: nothing for either backend
                continue
            problem = model.kernel_problem()
            if problem is not None:
                refused[problem.split(" compile ", 1)[-1].split(" (variable")[0]] += 1
                continue
            start = time.perf_counter()
            outcome = [compare(model, 2, "euler"), compare(model, 2, "rk4"),
                       compare(model, 1, "euler")]
            rows.append((case.name, *outcome, time.perf_counter() - start))
            print(f"| {case.name} | {' | '.join(outcome)} | {rows[-1][-1]:.1f} |", flush=True)
    print("\n| case | 2 runs, Euler | 2 runs, RK4 | single run | seconds (with compiling) |")
    print("|---|---|---|---|---:|")
    for name, euler, rk4, single, seconds in rows:
        print(f"| {name} | {euler} | {rk4} | {single} | {seconds:.1f} |")
    same = sum(all(o == "same" or o.startswith("both refuse") for o in r[1:4]) for r in rows)
    print(f"\n{len(rows)} cases compiled by numba, {same} identical to numpy everywhere; "
          "not compiled: " + ", ".join(f"{k} {v}" for k, v in refused.most_common()))


if __name__ == "__main__":
    main()
