"""Policy packages in the same worlds (issue 13, section 2): the study
``experiments/policy_packages.toml`` end to end, timed, then a look inside the runs of the best
package of each region: is the network it sustains embedded, or a treadmill or a fee pump?

Prints the command's numbers (runs, wall and CPU time of the study without its report), the
comparison table (success rate with its Wilson interval, public cost per success, regret,
satisficing), and, for the package with the highest success rate in each region (the cheapest
per success among ties), in the worlds where it succeeds: Trust, Embeddedness, the members'
mean perceived net value, sponsor money, fee revenue and the public grant ten years after the
push ends (5th, 50th and 95th percentiles), how many survivors are near-zero in trust and
embeddedness or have a negative perceived value, and how many are still alive 20 years on.

Usage::

    python3 benchmarks/package_comparison.py              # 500 worlds, as the study file says
    python3 benchmarks/package_comparison.py --worlds 100  # a quick look
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sdnet  # noqa: E402
from sdnet.decision import Package, read_worlds, sample_worlds  # noqa: E402
from sdnet.decision.evaluate import package_table  # noqa: E402
from sdnet.runner import run_ensemble  # noqa: E402

STUDY = ROOT / "experiments" / "policy_packages.toml"
LOOK = ["Total Members", "Trust", "Embeddedness", "Micro Perceived Value",
        "Established Perceived Value", "Sponsor Contributions", "Fee Revenue",
        "Public Push Grant"]


def _best(summary: pd.DataFrame) -> pd.DataFrame:
    """Per region: the highest success rate, the cheapest per success among ties."""
    rows = []
    for _, part in summary.groupby("region", sort=False):
        top = part[part["success_rate"] == part["success_rate"].max()]
        rows.append(top.sort_values("cost_per_success").iloc[0])
    return pd.DataFrame(rows)


def _inside(model: sdnet.Model, experiment: sdnet.Experiment, worlds: pd.DataFrame,
            region: str, name: str) -> None:
    case = next(c for c in experiment.cases if c.region == region and c.policy == name)
    pushed = set(case.push.as_params(model.card)) if case.push is not None else set()
    params = {k: v for k, v in case.values.items()  # the levers the package itself sets
              if model.parameters[k].kind != "region" and k not in pushed
              and v != model.parameters[k].default}
    package = Package(name, case.push, params)
    table = package_table(model, [package], worlds, region=region)
    run = experiment.run
    result = run_ensemble(model, table.drop(columns=["package", "world"]),
                          final_time=run.final_time, time_step=run.time_step,
                          saveper=run.saveper, variables=LOOK, progress=False)
    times = result.dataset["time"].to_numpy()
    members = result.outputs("Total Members").to_numpy()
    firms = table["number_of_firms"].to_numpy() if "number_of_firms" in table else np.full(
        len(table), model.parameters["number_of_firms"].default)
    formed = np.maximum(3.0, 0.05 * firms)
    end = case.push.end if case.push is not None else 0.0
    at10 = int(np.argmin(abs(times - (end + 10))))
    at20 = int(np.argmin(abs(times - (end + 20))))
    alive = members[:, at10] >= formed
    frame = pd.DataFrame({v: result.outputs(v).to_numpy()[:, at10] for v in LOOK})
    frame["mean perceived value"] = (frame["Micro Perceived Value"]
                                     + frame["Established Perceived Value"]) / 2
    frame["sponsor share of income"] = frame["Sponsor Contributions"] / (
        frame["Sponsor Contributions"] + frame["Fee Revenue"] + frame["Public Push Grant"])
    survivors = frame[alive]
    print(f"\n{region}: {name} ({package.describe()}); {int(alive.sum())} of {len(alive)} "
          f"worlds have a network at year {times[at10]:g} (push end + 10)")
    if survivors.empty:
        return
    columns = ["Total Members", "Trust", "Embeddedness", "mean perceived value",
               "Sponsor Contributions", "Fee Revenue", "sponsor share of income"]
    print(survivors[columns].quantile([0.05, 0.5, 0.95]).T.round(3).to_string())
    print(f"  near-zero trust (< 0.05) and embeddedness (< 0.01): "
          f"{int(((survivors.Trust < 0.05) & (survivors.Embeddedness < 0.01)).sum())}; "
          f"negative mean perceived value: {int((survivors['mean perceived value'] < 0).sum())}"
          f"; still alive at push end + 20: {int((members[alive, at20] >= formed[alive]).sum())}"
          f"; members rising from +10 to +20 in "
          f"{int((members[alive, at20] > members[alive, at10]).sum())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--worlds", type=int, default=None, help="worlds (default: the study's)")
    args = parser.parse_args()
    experiment = sdnet.load_experiment(STUDY).with_options(n=args.worlds)
    model = sdnet.load_model(experiment.model_path)
    wall, cpu = time.perf_counter(), time.process_time()
    result = sdnet.run_experiment(experiment, progress=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    summary = pd.DataFrame(result.summary["packages"]["rows"])
    print(f"{STUDY.name}: {len(result.metrics)} runs ({experiment.design_n} worlds x "
          f"{len(experiment.cases)} cases), study without report: {wall:.1f} s wall, "
          f"{cpu:.1f} s CPU")
    pd.set_option("display.width", 200)
    shown = summary[["region", "package", "successes", "worlds", "success_rate",
                     "success_low", "success_high", "cost_per_success", "regret_success_mean",
                     "regret_cost_mean", "satisficing"]].copy()
    print(shown.round(3).to_string(index=False))
    worlds = sample_worlds(read_worlds(experiment.design_settings["file"], model),
                           experiment.design_n, seed=experiment.seed)
    for row in _best(summary).itertuples():
        _inside(model, experiment, worlds, str(row.region), str(row.package))


if __name__ == "__main__":
    main()
