"""Is a study's Morris screen stable? Its top factors with several seeds, per metric.

Runs the screening (Morris) stage of a study file once per seed (``--seeds 1 2 3``; each as
``sdnet experiment FILE --seed S`` would draw it) and prints each seed's top ``--top``
factors of every metric, pooled over the study's cases, and whether the seeds agree::

    python benchmarks/screen_stability.py experiments/lever_sensitivity.toml --seeds 1 2 3 \
        --metrics persistence_after_push survived_10 member_years formed

Only the Morris stage runs (no Sobol' stage, no report); ``--n`` changes the number of
trajectories.
"""

from __future__ import annotations

import argparse
import time
import tomllib
from dataclasses import replace
from pathlib import Path

from sdnet.designs import make_design
from sdnet.experiment import parse_experiment
from sdnet.experiment.screen import _case_results
from sdnet.experiment.simulate import _metric_table, _simulate, _stage_table, _with_model_times
from sdnet.model import load_model
from sdnet.sensitivity import screen_stability


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--top", type=int, default=6)
    parser.add_argument("--n", type=int, default=None, help="Morris trajectories")
    parser.add_argument("--metrics", nargs="+", default=None,
                        help="outcomes of the model's card (default: the study's metrics)")
    args = parser.parse_args()
    data = tomllib.loads(args.file.read_text(encoding="utf-8"))
    if args.metrics:
        data["metrics"] = [{"name": m} for m in args.metrics]
    data.pop("analysis", None)
    if args.n:
        data["design"]["n"] = args.n
    experiment = parse_experiment(data, path=args.file)
    model = load_model(experiment.model_path, card=experiment.card_path)
    experiment = _with_model_times(experiment, model)
    screens: dict[str, dict[int, list]] = {m.name: {} for m in experiment.metrics}
    start = time.perf_counter()
    for seed in args.seeds:
        design = make_design("morris", experiment.factors, n=experiment.design_n, seed=seed,
                             **dict(experiment.design_settings))
        table = _stage_table(experiment, design, "morris")
        ensemble = _simulate(model, experiment, table, stage=f"morris_seed{seed}",
                             chunk_file=None, resume=False, progress=False)
        metrics = _metric_table(experiment, ensemble, table, model)
        for metric in experiment.metrics:
            results, missing = _case_results(replace(experiment, seed=seed), design,
                                             metrics, metric.name)
            if results:
                screens[metric.name][seed] = results
            for line in missing:
                print(f"seed {seed}, {metric.name}: no screen ({line})")
    runs = len(args.seeds) * len(experiment.cases) * experiment.design_n * (
        len(experiment.factors) + 1)
    print(f"{args.file}: {len(experiment.factors)} factors, {experiment.design_n} "
          f"trajectories, cases {', '.join(c.name for c in experiment.cases)}; {runs} runs in "
          f"{time.perf_counter() - start:.1f} s")
    for metric, by_seed in screens.items():
        if not by_seed:
            continue
        found = screen_stability(by_seed, top=args.top)
        print(f"\n{metric}: {'STABLE' if found.stable else 'UNSTABLE'} over seeds "
              f"{', '.join(map(str, found.seeds))}")
        for seed, names in zip(found.seeds, found.sets, strict=True):
            print(f"  seed {seed}: {', '.join(names)}")
        print(f"  in every top {args.top}: {', '.join(found.always) or 'none'}")
        print(f"  moving: {', '.join(found.moved) or 'none'}")


if __name__ == "__main__":
    main()
