"""``sdnet run MODEL``: simulate a model once and write its trajectories and a figure.

Writes ``DIR/run.csv`` (a ``time`` column, then one column per saved variable element headed by
its Vensim name) and ``DIR/run.png`` (the panels of the model card, else the stocks by units,
else the flows and auxiliaries), and prints a short summary. Presets and push options apply
where the model's card defines them.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sdnet.commands._options import output_folder, variable_list

if TYPE_CHECKING:
    from sdnet.model import Model
    from sdnet.policy import Push
    from sdnet.results import RunResult

HELP = "simulate a model once; write run.csv and run.png"
ORDER = 20
DESCRIPTION = """\
Simulate a Vensim model once (with PySD, or with sdnet's vectorized engine) and write
  DIR/run.csv  time, then one column per saved variable, headed by its Vensim name
  DIR/run.png  the panels of the model card ([model] panels), else the stocks over time
               (the flows and auxiliaries, for models without stocks)
A preset (--region) and the push options of the model card set the model's parameters
(for the flagship model: the region types and the public push); --set NAME=VALUE sets any
parameter and wins over both. Values must lie in the ranges declared in the model file
(--no-check-ranges runs extreme conditions on purpose).
DIR appears whole when both files are written. An earlier run of the same model file there
is replaced (only the files sdnet wrote are removed); a folder holding files sdnet did not
write is refused, and another output (a study, a run of another model) is replaced only with
--overwrite.
"""
EPILOG = """examples:
  sdnet run models/flexnet/flexnet.mdl --region typical \\
      --push-amount 300000 --push-start 2 --push-duration 3.5 --out out/typical
  sdnet run models/flexnet/flexnet.mdl --region embedded-prone --set membership_fee=500 \\
      --vars all --final-time 40
"""

__all__ = ["DESCRIPTION", "EPILOG", "HELP", "ORDER", "add_arguments", "run"]

#: at most this many panels in run.png
_MAX_PANELS = 6
_MAX_SUMMARY_ROWS = 12


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``sdnet run``."""
    parser.add_argument("model", help="path of a Vensim .mdl file")
    parser.add_argument(
        "--region",
        help="a preset of the model card ([[presets]])",
    )
    push = parser.add_argument_group(
        "public push (fields not given keep the model file's values)"
    )
    push.add_argument("--push-amount", type=float, metavar="A",
                      help="amount (in the units of the card's amount constant)")
    push.add_argument("--push-start", type=float, metavar="S", help="start (model time)")
    push.add_argument("--push-duration", type=float, metavar="D",
                      help="full-strength duration (model time)")
    push.add_argument("--push-taper", type=float, metavar="T",
                      help="phase-out duration (model time)")
    push.add_argument(
        "--push-match", type=float, metavar="M", help="local-match requirement (share, 0-1)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a parameter (Python or Vensim name); repeatable",
    )
    parser.add_argument(
        "--vars",
        type=variable_list,
        default=None,
        metavar="all|NAME,...",
        help="variables to save in run.csv: 'all', or names separated by commas "
        "(default: the key variables)",
    )
    parser.add_argument(
        "--final-time", type=float, metavar="T", help="end of the run (model time units)"
    )
    parser.add_argument("--time-step", type=float, metavar="DT", help="integration time step")
    parser.add_argument(
        "--saveper", type=float, metavar="DT", help="interval between saved times"
    )
    parser.add_argument(
        "--engine",
        choices=("pysd", "vector", "numba", "numpy", "auto"),
        default="pysd",
        help="simulator: PySD (default), sdnet's vectorized engine (fails clearly on a model "
        "it cannot compile; its numba kernel where numba is installed, else numpy), the "
        "engine on one backend (numba, numpy: the same numbers), or auto (the engine, else "
        "PySD with a warning)",
    )
    parser.add_argument(
        "--no-check-ranges",
        action="store_true",
        help="allow values outside the declared ranges (extreme-condition runs)",
    )
    parser.add_argument(
        "--out", type=output_folder, default=None, metavar="DIR",
        help="output folder (default: out/<model name>)",
    )
    parser.add_argument(
        "--overwrite", action="store_true",
        help="replace another output found in DIR (only the files sdnet wrote there are removed)",
    )


def _parse_set(items: list[str]) -> dict[str, Any]:
    from sdnet.errors import InvalidValueError

    values: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise InvalidValueError("--set", item, expected="NAME=VALUE, e.g. time_step=0.25")
        try:
            value: Any = float(text)
        except ValueError:
            value = text.strip()  # the model reports the non-numeric value against the name
        values[name.strip()] = value
    return values


def _push(args: argparse.Namespace, model: Model) -> Push | None:
    from sdnet.card import SCHEDULE_FIELDS
    from sdnet.policy import Push

    given = {
        name: getattr(args, f"push_{name}")
        for name in SCHEDULE_FIELDS
        if getattr(args, f"push_{name}") is not None
    }
    if not given:
        return None
    schedule = model.card.push
    names = {} if schedule is None else schedule.parameters
    fields = {}
    for name in SCHEDULE_FIELDS:
        if name in given:
            fields[name] = given[name]
        elif names.get(name) in model.parameters:
            fields[name] = model.parameters[names[name]].default
        else:  # the model lacks it; Model.run says what is missing
            fields[name] = 0.0
    return Push(**fields)


def _panels(model: Model) -> list[list[str]]:
    """Groups of variables (one panel each) for run.png."""
    panels = [[v for v in panel if v in model] for panel in model.card.panels]
    panels = [p for p in panels if p]
    if panels:
        return panels
    # no card panels: the stocks grouped by units; a model without stocks plots the variables
    # computed over time (flows and auxiliaries), so every model gets a figure
    shown = list(model.stocks) or [
        str(row.vensim_name) for row in model.variables.itertuples()
        if row.kind in ("flow", "auxiliary")]
    units: dict[str, list[str]] = {}
    for name in shown:
        units.setdefault(model.units(name), []).append(name)
    return list(units.values())[:_MAX_PANELS]


def _simulate(args: argparse.Namespace, model: Model, **options: Any) -> RunResult:
    # both engines through run_single, so a run that goes non-finite fails the same way
    from sdnet.runner import run_single

    params = options.pop("params")
    return run_single(model, params, engine=args.engine, **options)


def _summary_order(result: RunResult, columns: list[str], *, stocks: set[str]) -> list[str]:
    """Columns in the order the summary shows them: stocks, then other variables that change,
    then those that stay constant (parameters say little in a start/peak/end table), each
    group in the order asked for."""

    def group(column: str) -> int:
        if column in stocks:
            return 0
        values = result.frame[column].to_numpy(dtype=float)
        return 1 if values.size and not (values == values[0]).all() else 2

    return sorted(columns, key=group)


def _number(value: float) -> str:
    return "NA" if math.isnan(value) else f"{value:.4g}"


def _summary_rows(result: RunResult, columns: list[str]) -> list[tuple[str, ...]]:
    rows = []
    time = result.time
    for column in columns[:_MAX_SUMMARY_ROWS]:
        values = result.frame[column].to_numpy(dtype=float)
        if values.size == 0 or any(math.isinf(v) for v in values):
            rows.append((column, "non-finite", "", ""))
            continue
        if all(math.isnan(v) for v in values):  # :NA: throughout
            rows.append((column, "NA", "NA", "NA"))
            continue
        peak = int(np.nanargmax(values))  # NaN is :NA: here (the run would have failed)
        rows.append(
            (
                column,
                _number(values[0]),
                f"{values[peak]:.4g} (t={time[peak]:g})",
                _number(values[-1]),
            )
        )
    return rows


def run(args: argparse.Namespace) -> int:
    """Simulate, write run.csv and run.png, print a summary."""
    from matplotlib.figure import Figure

    from sdnet import outputs
    from sdnet.commands.describe import format_table
    from sdnet.model import load_model
    from sdnet.plotting.runs import plot_run
    model = load_model(args.model, card=getattr(args, "card", None),
                       data_files=getattr(args, "data", None))
    region = model.card.preset(args.region) if args.region else None
    push = _push(args, model)
    params = _parse_set(args.set)
    wanted = args.vars
    panels = _panels(model)
    plotted = [v for panel in panels for v in panel]
    if wanted is None:
        # a model without stocks has no key variables: save everything it computes
        saved: str | list[str] = list(model.key_variables) or "all"
    else:
        saved = wanted
    # The figure needs its variables even when run.csv saves fewer.
    simulate_vars: str | list[str] = (
        "all" if saved == "all" else list(dict.fromkeys([*saved, *plotted]))
    )
    result = _simulate(
        args,
        model,
        params=params,
        region=region,
        push=push,
        final_time=args.final_time,
        time_step=args.time_step,
        saveper=args.saveper,
        variables=simulate_vars,
        check_ranges=not args.no_check_ranges,
    )
    if saved == "all":
        columns = result.variables
    else:
        columns = []
        for name in saved:
            columns.extend(c for c in result.columns_of(name) if c not in columns)

    out = Path(args.out) if args.out else Path("out") / model.name
    csv_path = out / "run.csv"
    png_path: Path | None = None
    if not panels:  # nothing of the model's to draw: draw what was saved
        panels = [[c] for c in columns[:_MAX_PANELS]]
    with outputs.output_folder(out, kind="run", identity=str(model.path.resolve()),
                               label=f"the run of {model.path.name}",
                               overwrite=args.overwrite) as staging:
        result.frame[columns].to_csv(staging.path / csv_path.name, index_label="time")
        if panels:  # a model with nothing to plot gets run.csv and a sentence saying why
            figure = Figure(figsize=(6.3, 2.4 * len(panels) + 0.4), layout="constrained")
            axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
            for ax, panel in zip(axes, panels, strict=True):
                plot_run(result, panel, ax=ax)
                if ax is not axes[-1]:
                    ax.set_xlabel("")
            title = model.name + (
                f", {region.name} {model.card.word('preset')}" if region else "")
            if push is not None:
                title += f"; push {push.describe()}"
            figure.suptitle(title, fontsize="medium")
            png_path = out / "run.png"
            figure.savefig(staging.path / png_path.name, dpi=150)

    times = result.time
    setting = []
    word = model.card.word("preset")
    if region or model.card.presets:
        setting.append(f"{word} {region.name}" if region else f"model's own {word} values")
    if push or model.card.push is not None:
        setting.append(f"push {push.describe()}" if push else "model's own push values")
    if params:
        setting.append("set " + ", ".join(f"{k}={v:g}" for k, v in params.items()
                                          if isinstance(v, float)))
    setting.append(f"engine {args.engine}")
    print(f"sdnet run: {model.path} ({'; '.join(setting)})")
    step = result.provenance.spec.get("time_step") if result.provenance else None
    print(
        f"time {times[0]:g} to {times[-1]:g}"
        + (f", time step {step:g}" if step else "")
        + f", {len(times)} saved times, {len(columns)} columns"
    )
    summary_columns = [c for c in columns if c != "time"]
    if saved == "all":  # a list given with --vars keeps its order
        summary_columns = _summary_order(result, summary_columns,
                                         stocks=set(model.stock_columns()))
    print(format_table(_summary_rows(result, summary_columns), ["variable", "start", "peak",
                                                                  "end"]))
    if len(summary_columns) > _MAX_SUMMARY_ROWS:
        print(f"... and {len(summary_columns) - _MAX_SUMMARY_ROWS} more columns in run.csv")
    if png_path is None:
        print(f"wrote {csv_path} (no run.png: {model.path.name} has no stock and no variable "
              "that changes over time to plot)")
    else:
        print(f"wrote {csv_path} and {png_path}")
    return 0
