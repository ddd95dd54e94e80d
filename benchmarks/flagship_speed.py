"""Where the flagship study's time goes: ``sdnet experiment`` end to end, stage by stage.

    python benchmarks/flagship_speed.py [--study experiments/sustaining_levers.toml]
                                        [--repeat 1] [--workers N]

Runs the README's first command (``sdnet experiment STUDY --out DIR``, report included) into
a fresh temporary folder per repeat and prints the wall time of each stage: imports, loading
and compiling the model, the package runs, the metrics, the robust optimisation, the other
analyses, writing the results folder, building the report's sections, rendering its figures
and writing the report; then the total against the target (issue 14: 20 s on two quiet
cores) and the load average before and after (a loaded machine inflates every stage alike;
compare stages within one run). Stages are timed by wrapping the functions that do them,
so nothing in sdnet changes; "other" is what no wrapped function covers.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 20.0

#: (module, attribute, stage): the functions whose time is a stage (nested ones excluded).
STAGES = (
    ("sdnet.model", "load_model", "load and compile the model"),
    ("sdnet.experiment.run", "_simulate", "runs of the packages"),
    ("sdnet.experiment.run", "_metric_table", "metrics and checks"),
    ("sdnet.experiment.run", "_sanity_flags", "metrics and checks"),
    ("sdnet.experiment.run", "mechanism_table", "metrics and checks"),
    ("sdnet.experiment.run", "compare_study_packages", "analyses"),
    ("sdnet.experiment.run", "study_mechanism", "analyses"),
    ("sdnet.experiment.run", "_integration", "integration check"),
    ("sdnet.experiment.run", "_optimize", "robust optimisation"),
    ("sdnet.experiment.run", "_write", "write the results folder"),
    ("sdnet.experiment.run", "_write_packages", "write the results folder"),
    ("sdnet.reports", "load_results", "report: read the results"),
    ("sdnet.reports", "build_sections", "report: build sections and figures"),
    ("sdnet.reports", "render_figures", "report: render figures"),
    ("sdnet.reports", "write_assets", "report: write files"),
    ("sdnet.reports", "render_html", "report: write files"),
    ("sdnet.reports", "render_markdown", "report: write files"),
)


@contextlib.contextmanager
def _timed(totals: dict[str, float]) -> Iterator[None]:
    """Wrap every function of :data:`STAGES`; time spent inside another wrapped function is
    counted once, by the outer one."""
    import importlib

    depth = [0]
    saved: list[tuple[Any, str, Any]] = []

    def wrap(function: Callable[..., Any], stage: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            depth[0] += 1
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    totals[stage] += time.perf_counter() - start
        return timed

    for module_name, attribute, stage in STAGES:
        module = importlib.import_module(module_name)
        original = getattr(module, attribute)
        saved.append((module, attribute, original))
        setattr(module, attribute, wrap(original, stage))
    try:
        yield
    finally:
        for module, attribute, original in saved:
            setattr(module, attribute, original)


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


def main() -> int:
    """Run the study ``--repeat`` times and print the stages of the fastest run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path,
                        default=ROOT / "experiments" / "sustaining_levers.toml")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workers", type=int, default=None,
                        help="processes rendering the figures (default: the report's own)")
    args = parser.parse_args()
    load_before = _load()
    start = time.perf_counter()
    import matplotlib

    matplotlib.use("Agg")
    import sdnet.experiment.run
    import sdnet.reports
    from sdnet.cli import main as cli

    imports = time.perf_counter() - start
    if args.workers is not None:
        from functools import partial

        sdnet.reports.render_figures = partial(  # type: ignore[assignment]
            sdnet.reports.render_figures, workers=args.workers)
    runs = []
    for _ in range(args.repeat):
        totals: dict[str, float] = defaultdict(float)
        with tempfile.TemporaryDirectory() as folder, _timed(totals):
            start = time.perf_counter()
            code = cli(["experiment", str(args.study), "--out", str(Path(folder) / "out"),
                        "--quiet"])
            total = time.perf_counter() - start
        if code:
            print(f"sdnet experiment failed with exit code {code}", file=sys.stderr)
            return code
        runs.append((total, dict(totals)))
    total, totals = min(runs, key=lambda run: run[0])
    print(f"flagship study {args.study.name}, {os.cpu_count()} CPUs, load before "
          f"{load_before}, after {_load()}; fastest of {args.repeat}")
    print(f"| stage | seconds | share |\n|---|---:|---:|\n| imports (sdnet, matplotlib) | "
          f"{imports:.1f} | |")
    for stage in dict.fromkeys(stage for _, _, stage in STAGES):
        if stage in totals:
            print(f"| {stage} | {totals[stage]:.1f} | {totals[stage] / total:.0%} |")
    other = total - sum(totals.values())
    print(f"| other (design, summary, provenance, ...) | {other:.1f} | {other / total:.0%} |")
    print(f"| **sdnet experiment, end to end** | **{total:.1f}** | |")
    verdict = "within" if total + imports <= TARGET_SECONDS else "above"
    print(f"\nwith imports {total + imports:.1f} s: {verdict} the {TARGET_SECONDS:.0f} s target "
          "(meant for a quiet two-core machine)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
