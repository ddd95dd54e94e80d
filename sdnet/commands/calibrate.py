"""``sdnet calibrate MODEL TARGETS``: history matching (or, with --point-fit, a point fit)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sdnet.commands._options import output_folder

if TYPE_CHECKING:
    from sdnet.calibration import HistoryMatch

HELP = "history-match a model to targets (TOML), or point-fit it to a time series (CSV)"
ORDER = 45
DESCRIPTION = """\
History matching: run waves of Latin hypercube parameter sets on the vectorized engine, rule
out every set whose implausibility |simulated - observed| / sqrt(sd^2 + discrepancy^2) for a
target exceeds the cutoff (the maximum over targets, or the second maximum), and sample each
later wave inside the box of the sets the previous wave kept (or, with --sampler survivors,
near those sets). TARGETS is a targets file (TOML;
see docs/calibration.md). Writes into DIR:
  nonimplausible.csv  the non-implausible sets, one column per parameter (Python names)
  runs.csv            every set run, its simulated targets and implausibilities
  waves.csv           sets run, kept, and what each target ruled out, per wave
  margins.csv         the range each parameter keeps; boxes.csv: the box of each wave
  fits.png, report.md, report.html, provenance.json
DIR appears whole when the calibration ends; an interrupted or failed calibration still
writes the waves that finished (its report says how many), then stops. A folder holding files
sdnet did not write is refused, and another output is replaced only with --overwrite.

Point fit (--point-fit): TARGETS is a time series (CSV: a time column, then one column per
observed model output); scipy's least squares finds the set whose run fits it best. Writes
point_fit.csv, point_fit_series.csv, point_fit.png, report.md, report.html, provenance.json.
"""
EPILOG = """examples:
  sdnet calibrate models/flexnet/flexnet.mdl models/flexnet/targets.toml --out out/calib \\
      --waves 3 --samples 2000 --seed 1
  sdnet calibrate tests/data/bass_diffusion.mdl series.csv --point-fit \\
      --vary innovation_coefficient,imitation_coefficient --out out/fit
"""

__all__ = ["DESCRIPTION", "EPILOG", "HELP", "ORDER", "add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``sdnet calibrate``."""
    parser.add_argument("model", help="path of a Vensim .mdl file")
    parser.add_argument("targets", help="targets file (.toml); with --point-fit a time series "
                        "(.csv)")
    parser.add_argument("--out", type=output_folder, default="out/calibration", metavar="DIR",
                        help="output folder (default out/calibration)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace another output found in DIR (only the files sdnet wrote "
                        "there are removed)")
    parser.add_argument("--waves", type=int, default=3, metavar="N", help="waves (default 3)")
    parser.add_argument("--samples", type=_wave_samples, default=1000, metavar="N[,N...]",
                        help="sets per wave (default 1000), or one count per wave, e.g. "
                        "1000000,20000,20000: a large first wave when few prior sets survive")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    parser.add_argument("--cutoff", type=float, default=3.0, metavar="C",
                        help="implausibility cutoff (default 3)")
    parser.add_argument("--measure", choices=("max", "second-max"), default="max",
                        help="rule a set out on its largest implausibility (default) or the "
                        "second largest")
    parser.add_argument("--sampler", choices=("box", "survivors"), default="box",
                        help="later waves: a Latin hypercube in the box of the previous wave's "
                        "kept sets (default), or those sets resampled with small steps")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    fit = parser.add_argument_group("point fit")
    fit.add_argument("--point-fit", action="store_true",
                     help="fit one parameter set to the time series TARGETS by least squares")
    fit.add_argument("--vary", metavar="NAME,...", help="parameters to fit (default: the "
                     "uncertain ones, else every constant with a declared range)")
    fit.add_argument("--method", choices=("least-squares", "differential-evolution"),
                     default="least-squares", help="local least squares (default) or a global "
                     "differential evolution polished by it")
    fit.add_argument("--region", help="region preset of the observed runs")
    fit.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                     help="set a constant in the fitted runs; repeatable")


def run(args: argparse.Namespace) -> int:
    """Run the calibration and write its folder; print what was kept."""
    from sdnet.errors import InvalidValueError

    out = Path(args.out)
    if args.point_fit:
        return _point_fit(args, out)
    for option in ("vary", "region"):
        if getattr(args, option):
            raise InvalidValueError(f"--{option}", getattr(args, option),
                                    expected="it only with --point-fit (history matching "
                                    "reads its parameters and scenarios from the targets file)")
    if args.set:
        raise InvalidValueError("--set", args.set, expected="it only with --point-fit")
    return _history_match(args, out)


def _wave_samples(text: str) -> int | tuple[int, ...]:
    """``--samples``: one count for every wave, or a comma-separated count per wave."""
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a count of sets: give an integer >= 2, or one per wave "
            "separated by commas (e.g. 1000000,20000,20000)") from None
    return counts[0] if len(counts) == 1 else counts


def _history_match(args: argparse.Namespace, out: Path) -> int:
    from sdnet import outputs
    from sdnet.calibration import history_match
    from sdnet.model import load_model
    from sdnet.reports import write_history_match
    from sdnet.targets import load_targets

    model = load_model(args.model, data_files=getattr(args, "data", None))
    targets = load_targets(args.targets, model=model)
    finished: list[HistoryMatch] = []

    def progress(result: HistoryMatch) -> None:
        wave = result.waves[-1]
        finished[:] = [result]
        print(f"wave {wave.number}: {wave.n_sets} sets run, {wave.n_failed} failed, "
              f"{wave.n_kept} kept", file=sys.stderr)

    identity = json.dumps({"model": str(model.path.resolve()), "sha256": model.sha256,
                           "targets": targets.sha256}, sort_keys=True)
    label = f"the calibration of {model.path.name} to {Path(args.targets).name}"
    stopped: BaseException | None = None
    with outputs.output_folder(out, kind="calibration", identity=identity, label=label,
                               overwrite=args.overwrite) as staging:
        try:
            result = history_match(
                model, targets, waves=args.waves, samples_per_wave=args.samples,
                seed=args.seed, cutoff=args.cutoff, measure=args.measure.replace("-", "_"),
                sampler=args.sampler, progress=not args.no_progress, on_wave=progress,
            )
        except (KeyboardInterrupt, Exception) as error:
            # interrupted or failed mid-way: publish the waves that finished, then stop
            if not finished:
                raise
            result, stopped = finished[0], error
        write_history_match(result, staging.path)
    if stopped is not None:
        print(f"kept the {len(result.waves)} finished wave(s) in {out}", file=sys.stderr)
        raise stopped
    kept = result.nonimplausible()
    print(f"{sum(w.n_sets for w in result.waves)} sets run in {len(result.waves)} waves, "
          f"{len(kept)} non-implausible")
    if not result.complete:
        print("stopped early: the last wave kept no set")
    margins = result.margins()
    for _, row in margins.iterrows():
        print(f"  {row['parameter']}: [{row['kept_lower']:.4g}, {row['kept_upper']:.4g}] of "
              f"[{row['declared_lower']:.4g}, {row['declared_upper']:.4g}]")
    print(f"wrote {out / 'nonimplausible.csv'} and {out / 'report.html'}")
    return 0


def _point_fit(args: argparse.Namespace, out: Path) -> int:
    from sdnet import outputs
    from sdnet.calibration import point_fit
    from sdnet.errors import InvalidValueError
    from sdnet.model import load_model
    from sdnet.reports import write_point_fit

    model = load_model(args.model, data_files=getattr(args, "data", None))
    vary = None
    if args.vary:
        vary = [n.strip() for n in args.vary.split(",") if n.strip()]
    params: dict[str, float] = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        try:
            params[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise InvalidValueError("--set", item, expected="NAME=VALUE with a number")
    fit = point_fit(model, args.targets, vary=vary, region=args.region, params=params or None,
                    method=args.method.replace("-", "_"), seed=args.seed)
    identity = json.dumps({"model": str(model.path.resolve()), "sha256": model.sha256,
                           "series": fit.series.sha256}, sort_keys=True)
    label = f"the point fit of {model.path.name} to {Path(args.targets).name}"
    with outputs.output_folder(out, kind="point_fit", identity=identity, label=label,
                               overwrite=args.overwrite) as staging:
        write_point_fit(fit, staging.path)
    print(f"point fit ({fit.method}, {fit.evaluations} runs): "
          f"{'converged' if fit.success else 'did not converge'}, cost {fit.cost:.4g}")
    for name, value in fit.params.items():
        print(f"  {name} = {value:.6g}")
    print(f"wrote {out / 'point_fit.csv'} and {out / 'report.html'}")
    return 0
