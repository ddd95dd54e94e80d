"""``sdnet ensemble MODEL``: draw N parameter sets and run them all at once."""

from __future__ import annotations

import argparse
import json
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

from sdnet.commands._options import output_folder, variable_list

HELP = "run N Latin-hypercube parameter sets (vectorized engine); write factors.csv, ensemble.nc"
ORDER = 40
DESCRIPTION = (
    "Draw N parameter sets by Latin hypercube within the declared ranges of the named "
    "constants (or of every constant with a declared range), run them all on the vectorized "
    "engine (or PySD, one run at a time) and write DIR/factors.csv (run, then one column per "
    "factor) and DIR/ensemble.nc (the xarray dataset: run x time x variable, with units, "
    "per-run status and provenance). DIR appears whole when every run is written (an "
    "interrupted ensemble leaves DIR as it was). Rerunning the same command replaces DIR's "
    "ensemble; a folder holding files sdnet did not write is refused, and another output (an "
    "ensemble with other settings, a study) is replaced only with --overwrite (only the files "
    "sdnet wrote there are removed)."
)
EPILOG = """examples:
  sdnet ensemble models/flexnet/flexnet.mdl --samples 10000 --seed 1 --out out/ens
  sdnet ensemble models/flexnet/flexnet.mdl --samples 200 --seed 7 \\
      --factors push_duration,sponsor_recruitment_rate --region typical --engine pysd
"""

__all__ = ["DESCRIPTION", "EPILOG", "HELP", "ORDER", "add_arguments", "run"]

#: Runs of the first block, then blocks of about this many bytes of outputs each: the memory
#: of an ensemble of any size stays near one block (10^6 runs of flexnet's key variables
#: would otherwise need about 9 GB).
_FIRST_BLOCK = 10_000
_BLOCK_BYTES = 256 * 2**20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``sdnet ensemble``."""
    parser.add_argument("model", help="path of a Vensim .mdl file")
    parser.add_argument("--samples", type=int, required=True, metavar="N", help="runs to draw")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    parser.add_argument(
        "--factors",
        metavar="NAME,...",
        help="constants to vary (default: every constant with a declared range, except the "
        "region descriptors when --region is given)",
    )
    parser.add_argument("--region", help="region preset applied to every run")
    parser.add_argument(
        "--engine", choices=("auto", "vector", "numba", "numpy", "pysd"), default="auto",
        help="auto (default): the vectorized engine, or PySD in worker processes for a model "
        "it cannot compile (with a warning); vector: the engine only (its numba kernel where "
        "numba is installed and compiles the model, else numpy); numba, numpy: the engine on "
        "that backend only (the same numbers); pysd: PySD only",
    )
    parser.add_argument("--method", choices=("euler", "rk4"), default="euler")
    parser.add_argument("--vars", type=variable_list, metavar="all|NAME,...",
                        help="variables to keep: 'all' or names separated by commas")
    parser.add_argument("--final-time", type=float, metavar="T")
    parser.add_argument("--saveper", type=float, metavar="DT", help="save step (model time)")
    parser.add_argument("--out", type=output_folder, default="out/ensemble", metavar="DIR",
                        help="output folder")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace another output found in DIR (only the files sdnet wrote "
                        "there are removed)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    """Draw, run, write; print a one-line summary per output."""
    from sdnet import outputs
    from sdnet.designs import lhs_design
    from sdnet.errors import InvalidValueError
    from sdnet.model import load_model
    from sdnet.numerics import warn as warn_numerics
    from sdnet.runner import ranged_factors

    if args.samples < 1:
        raise InvalidValueError("--samples", args.samples, expected="a positive integer")
    model = load_model(args.model, card=getattr(args, "card", None))
    names = None
    if args.factors is not None:
        names = [n.strip() for n in args.factors.split(",") if n.strip()]
    # a region preset fixes the region descriptors: do not sample them by default
    exclude = ("region",) if args.region else ()
    design = lhs_design(
        ranged_factors(model, names, exclude_kinds=exclude), args.samples, seed=args.seed
    )
    factors = design.to_frame()
    variables = args.vars
    out = Path(args.out)
    settings = {key: getattr(args, key) for key in (
        "samples", "seed", "factors", "region", "engine", "method", "vars", "final_time",
        "saveper")}
    identity = json.dumps({"model": str(model.path.resolve()), **settings}, sort_keys=True)
    label = f"the ensemble of {model.path.name} ({args.samples} runs, seed {args.seed})"
    with outputs.output_folder(out, kind="ensemble", identity=identity, label=label,
                               overwrite=args.overwrite) as staging:
        factors.to_csv(staging.path / "factors.csv", index_label="run")
        failed, flagged, flags = _run_blocks(model, factors, staging.path / "ensemble.nc",
                                             variables, args)
    n_runs = len(factors)
    if flagged:
        warn_numerics([f"the numerical guard flagged {flagged} of {n_runs} runs (the numerics "
                       "variable of ensemble.nc says what in each): " + flags[0],
                       *flags[1:]], source=model.path.name)
    print(
        f"{n_runs} runs of {model.path.name} ({args.engine}, {args.method}), "
        f"{len(factors.columns)} factors, {failed} failed, {flagged} flagged by the numerical "
        "guard"
    )
    print(f"wrote {out / 'factors.csv'} and {out / 'ensemble.nc'}")
    return 0


def _run_blocks(model: Any, factors: Any, file: Path, variables: Any,
                args: argparse.Namespace) -> tuple[int, int, list[str]]:
    """Run the table block by block into one NetCDF file; return the numbers of failed runs
    and of runs the numerical guard flagged, and the guard's findings."""
    from sdnet.numerics import NumericalWarning
    from sdnet.results import EnsembleWriter
    from sdnet.runner import choose_engine, run_ensemble

    chosen = choose_engine(model, args.engine)  # one fallback warning, not one per block
    if args.engine not in ("numba", "numpy"):  # a backend of the vector engine stays asked for
        args.engine = chosen
    options = {
        "engine": args.engine, "method": args.method, "region": args.region,
        "final_time": args.final_time, "saveper": args.saveper, "variables": variables,
        "seed": args.seed, "progress": False,
    }
    n_runs = len(factors)
    bar = _progress(n_runs, enabled=not args.no_progress, engine=args.engine)
    failed = flagged = 0
    # Runs go to the file block by block, so memory holds one block whatever N is.
    with bar, EnsembleWriter(file) as writer:
        start, block = 0, min(n_runs, _FIRST_BLOCK)
        while start < n_runs:
            with warnings.catch_warnings():
                # the numerical guard's findings are told once for all blocks, below
                warnings.simplefilter("ignore", NumericalWarning)
                part = run_ensemble(model, factors.iloc[start : start + block], **options)
            flagged += int(part.flagged.sum())
            if writer.provenance is None and part.provenance is not None:
                spec = {**part.provenance.spec, "n_runs": n_runs}
                writer.provenance = replace(part.provenance, spec=spec)
            writer.append(part)
            failed += int((~part.ok).sum())
            bar.update(len(part.factors))
            start += len(part.factors)
            bytes_per_run = part.dataset["outputs"].nbytes / max(1, len(part.factors))
            block = max(1, int(_BLOCK_BYTES // max(1.0, bytes_per_run)))
    return failed, flagged, list(writer.flags)


def _progress(total: int, *, enabled: bool, engine: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"sdnet runs ({engine})", unit="run", leave=False,
                disable=not enabled)
