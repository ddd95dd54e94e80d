"""``sdnet experiment FILE``: run a study end to end and write its results folder.

Reads the TOML experiment, draws the design, runs every case on the vectorized engine in
chunks (kept beside DIR in ``.NAME.sdnet-work/chunks`` so an interrupted study resumes),
computes the metrics and the analyses, writes the results folder (layout in
docs/architecture.md) and prints the top of each ranking.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Any

from sdnet.commands._options import cluster_option, output_folder

HELP = "run a study (TOML experiment file) and write its results folder"
ORDER = 50
DESCRIPTION = (
    "Run an experiment file end to end: design, runs on the vectorized engine (in chunks, "
    "resumable), metrics, analyses (Morris, Sobol', eFAST, convergence, PRIM, thresholds, "
    "integration check), a results folder with provenance, and its report (DIR/report/"
    "report.html, one self-contained file, and report.md). The same file and seed give "
    "identical numbers. --n and --seed override the file's [design] n and [experiment] seed. "
    "DIR appears whole when the study is done (an interrupted study leaves DIR as it was and "
    "resumes from its finished chunks when run again). A folder holding the same study is "
    "replaced; a folder holding files sdnet did not write is refused, and one holding another "
    "study (another spec or seed) is replaced only with --overwrite (only the files sdnet "
    "wrote there are removed)."
)
EPILOG = """examples:
  sdnet experiment experiments/sustaining_levers.toml --out out/sustaining_levers
  sdnet experiment experiments/lever_sensitivity.toml --n 4 --screen-n 16 --out out/smoke
  sdnet experiment experiments/sustaining_levers.toml --cluster local:2 --out out/levers
"""

__all__ = ["DESCRIPTION", "EPILOG", "HELP", "ORDER", "add_arguments", "run"]

_TOP = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``sdnet experiment``."""
    parser.add_argument("file", help="path of an experiment .toml file")
    parser.add_argument("--out", type=output_folder, metavar="DIR", default=None,
                        help="results folder (default: out/<experiment name>)")
    parser.add_argument("--n", type=int, default=None, metavar="N",
                        help="design size, overriding [design] n")
    parser.add_argument("--screen-n", type=int, default=None, metavar="N",
                        help="base size of the Sobol' stage of a screened study, overriding "
                        "[analysis] screen.n (a power of 2)")
    parser.add_argument("--seed", type=int, default=None, metavar="S",
                        help="seed, overriding [experiment] seed")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace another study (or other output) found in DIR")
    parser.add_argument("--no-resume", action="store_true",
                        help="ignore finished chunks of an earlier, interrupted run")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress bars, and no progress of the report on stderr")
    parser.add_argument("--cluster", type=cluster_option, default=None,
                        metavar="local:N|tcp://HOST:PORT",
                        help="run the chunks of the study's runs on a dask cluster: a "
                        "LocalCluster of N worker processes, or the scheduler at that address "
                        "(needs sdnet[scale]; docs/scaling.md)")
    parser.add_argument(
        "--engine", choices=("auto", "vector"), default="auto",
        help="auto (default): the vectorized engine, or PySD in worker processes for a model "
        "it cannot compile (one warning; the integration check then skips RK4); vector: the "
        "engine only, failing with the construct it cannot compile")
    parser.add_argument("--no-report", action="store_true",
                        help="do not write report.html/report.md (sdnet report DIR does later)")


def _print_ranking(key: str, rows: list[dict[str, Any]]) -> None:
    kind, metric, case = key.split("/")
    print(f"  {kind} of {metric} ({case}):")
    for row in rows[:_TOP]:
        if "ST" in row:
            st, conf = row["ST"], row["ST_conf"]
            text = "n/a" if st is None else f"ST {st:6.3f} ± {conf or 0:.3f}"
            if row.get("reliable") is False:
                text += "  unreliable, not ranked"
        else:
            mu, conf = row["mu_star"], row["mu_star_conf"]
            text = "n/a" if mu is None else f"mu* {mu:10.4g} ± {conf or 0:.3g}"
        print(f"    {row['factor']:<34} {text}")


def run(args: argparse.Namespace) -> int:
    """Run the study and print a short summary; return the exit code."""
    # no tqdm monitor thread: the report forks to render its figures only from a process
    # without other threads (a fork copies only the calling thread)
    from tqdm import tqdm

    from sdnet.errors import SdnetWarning
    from sdnet.experiment import load_experiment, run_experiment

    tqdm.monitor_interval = 0
    experiment = load_experiment(args.file, card=getattr(args, "card", None),
                                 data_files=getattr(args, "data", None)).with_options(
        n=args.n, seed=args.seed, screen_n=args.screen_n)
    out = Path(args.out) if args.out else Path("out") / experiment.name
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", SdnetWarning)
        try:
            result = run_experiment(experiment, out=out, progress=not args.quiet,
                                    resume=not args.no_resume, overwrite=args.overwrite,
                                    cluster=args.cluster, engine=args.engine)
        except KeyboardInterrupt:
            print(f"sdnet experiment: {out} is left as it was; the same command resumes from "
                  "the finished chunks (--no-resume starts over)", file=sys.stderr)
            raise
    summary = result.summary
    print(f"{experiment.name}: {summary['n_runs']} runs ({summary['n_failed']} failed), "
          f"results in {out}")
    if experiment.question:
        print(f"question: {experiment.question}")
    for key, rows in summary["rankings"].items():
        _print_ranking(key, rows)
    stability = summary.get("screen_stability")
    if stability and len(stability["seeds"]) > 1:
        if stability["stable"]:
            print(f"  screen: stable over {len(stability['seeds'])} seeds (top "
                  f"{stability['top']}: {', '.join(stability['always'])})")
        else:
            print(f"  screen: UNSTABLE over {len(stability['seeds'])} seeds: "
                  f"{', '.join(stability['moved'])} move in and out of the top "
                  f"{stability['top']}; {', '.join(stability['always']) or 'none'} stay")
        print(f"  sobol stage varies: {', '.join(stability['chosen'])}")
    growth = summary.get("growth")
    if growth:
        state = "separated" if growth["separated"] else "NOT separated at the cap"
        print(f"  sobol sample grew {' -> '.join(map(str, growth['sizes']))}: top "
              f"{growth['top']} of {growth['metric']} {state}")
    for key, info in summary.get("prim", {}).items():
        limits = ", ".join(f"{b['factor']} in [{b['lower']:.4g}, {b['upper']:.4g}]"
                           for b in info["box"]) or "no restriction"
        print(f"  prim box ({key.split('/')[2]}): {limits} "
              f"(coverage {info['coverage']:.0%}, density {info['density']:.0%})")
    for note in summary["skipped"]:
        print(f"  skipped: {note}")
    for message in dict.fromkeys(str(w.message) for w in caught
                                 if issubclass(w.category, SdnetWarning)):
        print(f"  warning: {message}")
    if not args.no_report:
        import matplotlib

        matplotlib.use("Agg")
        from sdnet.commands.report import stderr_progress
        from sdnet.reports import write_report

        report = write_report(out, progress=None if args.quiet else stderr_progress)
        print(f"report: {report}")
    return 0
