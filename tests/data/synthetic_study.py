"""Write a small, synthetic study results folder in the layout of docs/architecture.md.

Used by the report tests. The trajectories come from a toy closed-form "network" (members grow
during a push and then persist or decay depending on the factors), and every analysis table is
computed from them with SALib or by counting, so the report's numbers are real results of a
real (toy) computation and the tests can recompute what the report must say.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from SALib.analyze import morris as morris_analyze
from SALib.analyze import sobol as sobol_analyze
from SALib.sample import morris as morris_sample
from SALib.sample import sobol as sobol_sample

from sdnet.results import EnsembleResult, Provenance

FACTORS = {
    "push_duration": (0.0, 8.0),
    "sponsor_cultivation_share": (0.0, 0.5),
    "broker_share": (0.0, 0.6),
    "community_entrepreneur_density": (0.0, 1.0),
}
UNITS = {"Total Members": "firm", "Trust": "dmnl", "Collective Knowledge": "dmnl",
         "Embeddedness": "dmnl"}
PUSH_START = 2.0
PUSH_TAPER = 1.0
TIMES = np.arange(0.0, 30.0 + 1e-9, 0.5)
MODEL = Path(__file__).resolve().parent / "two_views.mdl"
#: a flexnet-like study: its words, push schedule and outcomes come from this card
CARD = Path(__file__).resolve().parent / "tiny_network.toml"


def _problem() -> dict:
    return {"num_vars": len(FACTORS), "names": list(FACTORS), "bounds": list(FACTORS.values())}


def score(x: np.ndarray) -> np.ndarray:
    """How strongly a network embeds (0-1) from the four factors (rows of x)."""
    d, s, b, c = x.T
    return np.clip(0.8 * s / 0.5 * c + 0.25 * d / 8 + 0.1 * b / 0.6, 0, 1.2)


def trajectories(x: np.ndarray) -> dict[str, np.ndarray]:
    """Toy outputs (n_runs, n_time) for factor rows x."""
    d, _s, b, _c = x.T
    t = TIMES[None, :]
    end = (PUSH_START + d + PUSH_TAPER)[:, None]
    k = score(x)[:, None]
    cap = 40 + 100 * b[:, None] / 0.6
    grow = cap * (1 - np.exp(-np.clip(t - PUSH_START, 0, None) / 1.5))
    at_end = cap * (1 - np.exp(-np.clip(end - PUSH_START, 0, None) / 1.5))
    decay_rate = np.where(k > 0.6, 0.01, 0.35 * (1 - k))
    members = np.where(t <= end, grow, at_end * np.exp(-decay_rate * (t - end)))
    trust = np.clip(members / 150 * (0.6 + 0.4 * k), 0, 1)
    knowledge = np.clip(np.cumsum(trust, axis=1) * 0.5 / TIMES.size * 2, 0, 1)
    embeddedness = np.clip(k * members / (members + 20), 0, 1)
    return {"Total Members": members, "Trust": trust, "Collective Knowledge": knowledge,
            "Embeddedness": embeddedness}


def metrics(x: np.ndarray, out: dict[str, np.ndarray]) -> pd.DataFrame:
    members = out["Total Members"]
    end = PUSH_START + x[:, 0] + PUSH_TAPER
    at_end = np.array([np.interp(e, TIMES, m) for e, m in zip(end, members, strict=True)])
    later = np.array([np.interp(e + 10, TIMES, m) for e, m in zip(end, members, strict=True)])
    persistence = np.where(at_end > 1e-9, later / np.where(at_end > 1e-9, at_end, 1), 0.0)
    sustained = ((persistence >= 0.6) & (later >= 3)).astype(float)
    return pd.DataFrame({
        "persistence_after_push": persistence,
        "sustained": sustained,
        "embeddedness": out["Embeddedness"][:, -1],
    })


def write_study(path: Path, *, n: int = 128, seed: int = 20261126) -> Path:
    """Write the folder; return its path."""
    path.mkdir(parents=True, exist_ok=True)
    problem = _problem()
    d = problem["num_vars"]
    x = sobol_sample.sample(problem, n, calc_second_order=False, seed=seed)
    out = trajectories(x)
    frame = metrics(x, out)
    runs = np.arange(len(x))
    # one run failed (a value became non-finite) to exercise the failure handling
    status = np.ones(len(x), dtype=bool)
    status[7] = False
    outputs = {k: v.copy() for k, v in out.items()}
    outputs["Total Members"][7, 20:] = np.nan
    factors = pd.DataFrame(x, columns=list(FACTORS))
    spec_text = f"""[experiment]
name = "synthetic_levers"
model = "{MODEL}"
card = "{CARD}"
seed = {seed}
question = "Which levers keep a (synthetic) network alive ten years after the push ends?"

[run]
final_time = 30
saveper = 0.5

[push]
start = {PUSH_START}
taper = {PUSH_TAPER}

{"".join(f'''[[factors]]
name = "{k}"
bounds = [{lo}, {hi}]

''' for k, (lo, hi) in FACTORS.items())}[design]
method = "sobol"
n = {n}

[[metrics]]
name = "persistence_after_push"

[[metrics]]
name = "sustained"
"""
    (path / "spec.toml").write_text(spec_text)
    provenance = Provenance(
        model_path=str(MODEL), model_sha256="0" * 64, seed=seed,
        spec={"experiment": {"name": "synthetic_levers"}},
        versions={"sdnet": "0.1.0", "numpy": np.__version__, "pandas": pd.__version__},
        git_commit="synthetic", created="2026-11-26T05:00:00+00:00",
    )
    (path / "provenance.json").write_text(json.dumps(provenance.to_dict()))
    (path / "design.json").write_text(json.dumps({
        "method": "sobol", "n": n, "seed": seed, "settings": {"calc_second_order": False},
        "factors": [{"name": k, "bounds": list(v), "distribution": "uniform"}
                    for k, v in FACTORS.items()],
    }))
    factors.assign(run=runs)[["run", *FACTORS]].to_csv(path / "factors.csv", index=False)
    metrics_frame = frame.copy()
    metrics_frame.loc[7, :] = np.nan
    metrics_frame.insert(0, "status", np.where(status, "ok", "failed"))
    metrics_frame.insert(0, "run", runs)
    metrics_frame.to_csv(path / "metrics.csv", index=False)
    EnsembleResult.from_outputs(
        TIMES, outputs, units=UNITS, factors=factors, status=status,
        failures=[(7, "Total Members", float(TIMES[20]))], provenance=provenance,
    ).save(path / "ensemble.nc")

    analyses = path / "analyses"
    analyses.mkdir(exist_ok=True)
    y = frame.to_numpy()
    for j, metric in enumerate(["persistence_after_push", "sustained"]):
        result = sobol_analyze.analyze(problem, y[:, j], calc_second_order=False, seed=seed)
        pd.DataFrame({"factor": problem["names"], "S1": result["S1"],
                      "S1_conf": result["S1_conf"], "ST": result["ST"],
                      "ST_conf": result["ST_conf"]}).to_csv(
            analyses / f"sobol_{metric}.csv", index=False)
        rows = []
        for n_sub in (16, 32, 64, n):
            sub = y[: n_sub * (d + 2), j]
            r = sobol_analyze.analyze(problem, sub, calc_second_order=False, seed=seed)
            for i, name in enumerate(problem["names"]):
                rows.append({"n": n_sub, "factor": name, "S1": r["S1"][i],
                             "S1_conf": r["S1_conf"][i], "ST": r["ST"][i],
                             "ST_conf": r["ST_conf"][i]})
        pd.DataFrame(rows).to_csv(analyses / f"convergence_{metric}.csv", index=False)
    rows = []
    members = out["Total Members"]
    for ti in range(6, TIMES.size, 6):
        r = sobol_analyze.analyze(problem, members[:, ti], calc_second_order=False, seed=seed)
        for i, name in enumerate(problem["names"]):
            rows.append({"time": TIMES[ti], "factor": name, "S1": r["S1"][i], "ST": r["ST"][i],
                         "S1_conf": r["S1_conf"][i], "ST_conf": r["ST_conf"][i]})
    pd.DataFrame(rows).to_csv(analyses / "time_resolved_total_members.csv", index=False)

    xm = morris_sample.sample(problem, 20, num_levels=4, seed=seed)
    ym = metrics(xm, trajectories(xm))["persistence_after_push"].to_numpy()
    rm = morris_analyze.analyze(problem, xm, ym, num_levels=4, seed=seed)
    pd.DataFrame({"factor": problem["names"], "mu": rm["mu"], "mu_star": rm["mu_star"],
                  "sigma": rm["sigma"], "mu_star_conf": rm["mu_star_conf"]}).to_csv(
        analyses / "morris_persistence_after_push.csv", index=False)

    # A box from the sustaining runs' lower deciles of the two embedding levers.
    ok = frame["sustained"].to_numpy() == 1
    box = pd.DataFrame({
        "factor": ["sponsor_cultivation_share", "community_entrepreneur_density"],
        "lower": [float(np.quantile(x[ok, 1], 0.1)), float(np.quantile(x[ok, 3], 0.1))],
        "upper": [FACTORS["sponsor_cultivation_share"][1],
                  FACTORS["community_entrepreneur_density"][1]],
    })
    inside = (x[:, 1] >= box["lower"][0]) & (x[:, 3] >= box["lower"][1])
    traj = pd.DataFrame({
        "step": [0, 1], "coverage": [1.0, float((inside & ok).sum() / ok.sum())],
        "density": [float(ok.mean()), float((inside & ok).sum() / inside.sum())],
        "mass": [1.0, float(inside.mean())], "n_restricted": [0, 2], "chosen": [False, True],
    })
    box.to_csv(analyses / "prim_typical.csv", index=False)
    traj.to_csv(analyses / "prim_typical_trajectory.csv", index=False)

    amounts = np.array([100_000.0, 200_000.0, 300_000.0, 400_000.0])
    thresholds = []
    for region, base in (("typical", 6.0), ("embedded-prone", 2.5),
                         ("externally networked", 9.0)):
        for a in amounts:
            need = base * 200_000.0 / a
            found = need <= 8.0
            thresholds.append({
                "region": region, "push_amount": a,
                "min_duration": need if found else np.nan,
                "bracket_low": need - 0.05 if found else 8.0,
                "bracket_high": need if found else np.nan,
            })
    pd.DataFrame(thresholds).to_csv(analyses / "thresholds.csv", index=False)
    by_amount = []
    for region, base in (("typical", 6.0), ("embedded-prone", 2.5)):
        for duration in (2.0, 4.0, 8.0):
            need = base * 200_000.0 / duration
            by_amount.append({"region": region, "push_duration": duration,
                              "min_amount": need if need <= 1e6 else np.nan,
                              "bracket_low": need - 1000, "bracket_high": need,
                              "found": need <= 1e6})
    pd.DataFrame(by_amount).to_csv(analyses / "thresholds_amount.csv", index=False)
    pd.DataFrame({
        "region": ["typical", "typical"], "start": ["working", "early"],
        "start_time": [0.0, 0.0], "members_start": [80.0, 5.0],
        "members_after_10y": [72.0, 0.5], "ratio": [0.9, 0.1], "persists": [True, False],
    }).to_csv(analyses / "hysteresis.csv", index=False)
    pd.DataFrame({
        "region": ["typical"], "metric": ["sustained"], "short_matched_wins": [41],
        "long_unconditional_wins": [12], "ties": [75], "short_matched_mean": [0.4],
        "long_unconditional_mean": [0.2],
    }).to_csv(analyses / "comparison.csv", index=False)
    pd.DataFrame({
        "metric": ["persistence_after_push", "sustained"],
        "max_change_half_dt": [0.004, 0.0], "max_change_rk4": [0.006, 0.0], "ok": [True, True],
    }).to_csv(analyses / "integration_check.csv", index=False)
    (path / "summary.json").write_text(json.dumps({
        "n_runs": len(x), "share_sustained": float(np.nanmean(frame["sustained"])),
        "prim": {"prim/sustained/typical": {
            "coverage": traj["coverage"].iloc[1], "density": traj["density"].iloc[1],
            "mass": traj["mass"].iloc[1], "chosen_step": 1,
            "box": box.to_dict("records")}},
    }))
    return path
