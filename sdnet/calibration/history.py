"""History matching: rule out the parameter sets whose runs cannot reproduce the targets.

Method (after Craig et al. 1997 and Vernon, Goldstein and Bower 2010; without an emulator,
since the vectorized engine runs thousands of sets a second):

1. Wave 1 draws a Latin hypercube of ``samples_per_wave`` sets over the declared ranges of the
   varied parameters. Every set is run in every scenario the targets need (region preset, push,
   constants) and each target's quantity is read from its run.
2. For target *j* the implausibility of a set is

   ``I_j = |simulated_j - observed_j| / sqrt(sd_j**2 + discrepancy_j**2)``

   (a failed run has ``I_j = inf``). A set is ruled out when its *measure* exceeds ``cutoff``
   (3 by default, Pukelsheim's three-sigma rule: at least 95% of any unimodal distribution lies
   within three standard deviations). The measure is the maximum over targets, or with
   ``measure="second_max"`` the second-largest ``I_j``, which tolerates one badly missed target
   (Vernon et al. 2010 use it when targets are many and one may be poorly modelled).
3. Each later wave samples where the previous wave's non-implausible sets are, in one of two
   ways (``sampler``):

   * ``"box"`` (default): a new Latin hypercube inside the bounding box of the previous wave's
     non-implausible sets, widened on each side by ``padding`` (default 5%) of the box the
     previous wave sampled and clipped to the declared ranges. The widening keeps a box drawn
     from a finite sample from cutting off non-implausible sets just beyond its survivors.
     Parameters whose survivors span the whole range keep it. With many parameters and few
     survivors the box hardly shrinks (every parameter's survivors spread over most of its
     range), and later waves keep about as few sets as the first.
   * ``"survivors"``: each new set is a non-implausible set of the previous wave, drawn at
     random, moved by a normal step whose standard deviation is ``spread`` (default 0.5) times
     that parameter's standard deviation among the survivors (``padding`` times the box width
     when there is a single survivor), and reflected back into the declared ranges where it
     leaves them. New sets stay near
     the sets that survived, so with many parameters far more of them survive; the sample is
     then denser where the first wave found survivors.

Every set is run on the model itself, so every kept set of every wave is non-implausible (not
an emulator's guess); :meth:`HistoryMatch.nonimplausible` returns all of them. The waves
concentrate later samples where sets survive; they are a sample of the non-implausible region,
not a posterior distribution. History matching stops early when a wave keeps no set.

References
----------
Craig, P. S., Goldstein, M., Seheult, A. H. and Smith, J. A. (1997). Pressure matching for
hydrocarbon reservoirs: a case study in the use of Bayes linear strategies for large computer
experiments. In *Case Studies in Bayesian Statistics* III, 37-93. Springer.

Vernon, I., Goldstein, M. and Bower, R. G. (2010). Galaxy formation: a Bayesian uncertainty
analysis. *Bayesian Analysis* 5(4), 619-669.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sdnet.designs import Factor, lhs_design
from sdnet.errors import InvalidValueError, TargetsError
from sdnet.results import Provenance
from sdnet.runner import ranged_factors, run_ensemble
from sdnet.targets import Targets, load_targets

if TYPE_CHECKING:
    import pandas as pd

    from sdnet.model import Model

__all__ = [
    "MEASURES",
    "HistoryMatch",
    "Wave",
    "default_factors",
    "history_match",
    "implausibility",
    "implausibility_measure",
    "margins",
    "next_box",
    "resample_survivors",
    "simulate_targets",
]

MEASURES = ("max", "second_max")
SAMPLERS = ("box", "survivors")
WaveCallback = Callable[["HistoryMatch"], None]


# ---------------------------------------------------------------------------- pure analysis


def implausibility(simulated: np.ndarray, observed: np.ndarray, variance: np.ndarray
                   ) -> np.ndarray:
    """Implausibility of each set for each target.

    Parameters
    ----------
    simulated : numpy.ndarray
        ``(n_sets, n_targets)`` simulated quantities; NaN for a failed run.
    observed, variance : numpy.ndarray
        ``(n_targets,)`` observed values and total variances (observation + discrepancy).

    Returns
    -------
    numpy.ndarray
        ``(n_sets, n_targets)`` ``|simulated - observed| / sqrt(variance)``; ``inf`` where the
        simulated value is not finite.
    """
    simulated = np.asarray(simulated, dtype=float)
    scale = np.sqrt(np.asarray(variance, dtype=float))
    with np.errstate(invalid="ignore"):
        out = np.abs(simulated - np.asarray(observed, dtype=float)) / scale
    return np.where(np.isfinite(out), out, np.inf)


def implausibility_measure(values: np.ndarray, *, measure: str = "max") -> np.ndarray:
    """Reduce ``(n_sets, n_targets)`` implausibilities to one number per set.

    ``"max"`` is the largest; ``"second_max"`` the second largest (the largest when there is
    only one target).
    """
    if measure not in MEASURES:
        raise InvalidValueError("measure", measure, expected="one of " + ", ".join(MEASURES))
    values = np.asarray(values, dtype=float)
    if values.shape[1] == 0:
        return np.zeros(values.shape[0])
    if measure == "max" or values.shape[1] == 1:
        return values.max(axis=1)
    return np.sort(values, axis=1)[:, -2]


def next_box(kept: np.ndarray, lower: np.ndarray, upper: np.ndarray, *,
             bounds: tuple[np.ndarray, np.ndarray], padding: float = 0.05
             ) -> tuple[np.ndarray, np.ndarray]:
    """The box the next wave samples: the kept sets' bounding box, widened and clipped.

    Parameters
    ----------
    kept : numpy.ndarray
        ``(n_kept, n_parameters)`` non-implausible sets of this wave (at least one).
    lower, upper : numpy.ndarray
        The box this wave sampled.
    bounds : (numpy.ndarray, numpy.ndarray)
        The declared ranges (the box never leaves them).
    padding : float
        Widening on each side, as a share of this wave's box width.
    """
    kept = np.asarray(kept, dtype=float)
    width = np.asarray(upper, dtype=float) - np.asarray(lower, dtype=float)
    lo = np.maximum(kept.min(axis=0) - padding * width, bounds[0])
    hi = np.minimum(kept.max(axis=0) + padding * width, bounds[1])
    # a single survivor (or survivors equal in one coordinate) still needs a box of some width
    flat = hi - lo < 1e-12 * np.maximum(1.0, np.abs(hi))
    lo = np.where(flat, np.maximum(lo - 0.5 * padding * width, bounds[0]), lo)
    hi = np.where(flat, np.minimum(hi + 0.5 * padding * width, bounds[1]), hi)
    return lo, hi


def resample_survivors(kept: np.ndarray, n: int, *, bounds: tuple[np.ndarray, np.ndarray],
                       lower: np.ndarray, upper: np.ndarray, spread: float = 0.5,
                       padding: float = 0.05, seed: int = 0) -> np.ndarray:
    """``n`` new sets near the non-implausible ones: a survivor drawn at random plus a normal
    step of ``spread`` times each parameter's standard deviation among the survivors
    (``padding`` times the sampled box's width for a single survivor), reflected back into
    ``bounds`` where it leaves them.

    Returns an ``(n, n_parameters)`` array.
    """
    kept = np.asarray(kept, dtype=float)
    rng = np.random.default_rng(seed)
    if kept.shape[0] > 1:
        scale = spread * kept.std(axis=0, ddof=1)
    else:
        scale = padding * (np.asarray(upper, dtype=float) - np.asarray(lower, dtype=float))
    picks = kept[rng.integers(0, kept.shape[0], size=n)]
    moved = picks + rng.standard_normal(picks.shape) * scale
    return _reflect(moved, np.asarray(bounds[0], dtype=float), np.asarray(bounds[1], dtype=float))


def _reflect(values: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Fold values that left ``[low, high]`` back in, as a mirror would (clipping would pile
    sets up on the bounds)."""
    width = high - low
    folded = np.mod(values - low, 2.0 * width)
    # low + width can exceed high by a rounding error (0.03 + 0.3 > 0.33): clip after folding
    return np.clip(low + width - np.abs(folded - width), low, high)


def margins(sets: np.ndarray, factors: Sequence[Factor]) -> pd.DataFrame:
    """The range each parameter keeps among the non-implausible sets.

    Returns a DataFrame with one row per parameter: ``parameter``, ``declared_lower``,
    ``declared_upper``, ``kept_lower``, ``kept_upper``, ``kept_share`` (kept width over declared
    width), ``q05``, ``median``, ``q95`` (quantiles of the kept values) and ``central_share``
    (width of the 5-95% band over the declared width: about 0.9 for a parameter the targets
    do not constrain, since the first wave samples the declared range uniformly); NaN when no
    set is kept.
    """
    import pandas as pd

    sets = np.asarray(sets, dtype=float).reshape(-1, len(factors))
    rows = []
    for i, factor in enumerate(factors):
        column = sets[:, i]
        lo = float(column.min()) if column.size else float("nan")
        hi = float(column.max()) if column.size else float("nan")
        q05, q95 = (np.quantile(column, [0.05, 0.95]).tolist() if column.size
                    else [float("nan")] * 2)
        rows.append({
            "parameter": factor.name,
            "declared_lower": float(factor.lower),
            "declared_upper": float(factor.upper),
            "kept_lower": lo,
            "kept_upper": hi,
            "kept_share": (hi - lo) / (factor.upper - factor.lower),
            "q05": q05,
            "median": float(np.median(column)) if column.size else float("nan"),
            "q95": q95,
            "central_share": (q95 - q05) / (factor.upper - factor.lower),
        })
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------- results


@dataclass(frozen=True, eq=False)
class Wave:
    """One wave of history matching.

    Attributes
    ----------
    number : int
        1 for the first wave.
    lower, upper : numpy.ndarray
        ``(n_parameters,)`` the box the wave sampled.
    sets : numpy.ndarray
        ``(n_sets, n_parameters)`` the parameter sets run.
    simulated : numpy.ndarray
        ``(n_sets, n_targets)`` each target's quantity (NaN where a run failed).
    implausibility : numpy.ndarray
        ``(n_sets, n_targets)``.
    measure : numpy.ndarray
        ``(n_sets,)`` the maximum (or second-maximum) implausibility.
    ok : numpy.ndarray
        ``(n_sets,)`` True when every scenario's run of the set finished.
    kept : numpy.ndarray
        ``(n_sets,)`` True for non-implausible sets.
    """

    number: int
    lower: np.ndarray
    upper: np.ndarray
    sets: np.ndarray
    simulated: np.ndarray
    implausibility: np.ndarray
    measure: np.ndarray
    ok: np.ndarray
    kept: np.ndarray

    def __post_init__(self) -> None:
        for name in ("lower", "upper", "sets", "simulated", "implausibility", "measure", "ok",
                     "kept"):
            getattr(self, name).setflags(write=False)

    @property
    def n_sets(self) -> int:
        """Sets run."""
        return int(self.sets.shape[0])

    @property
    def n_kept(self) -> int:
        """Non-implausible sets."""
        return int(self.kept.sum())

    @property
    def n_failed(self) -> int:
        """Sets with a failed run (ruled out)."""
        return int((~self.ok).sum())

    def ruled_out_by(self, cutoff: float) -> np.ndarray:
        """``(n_targets,)`` sets whose implausibility for each target exceeds ``cutoff``."""
        return (self.implausibility > cutoff).sum(axis=0)

    def ruled_out_only_by(self, cutoff: float) -> np.ndarray:
        """``(n_targets,)`` sets ruled out by that target alone (every other one within)."""
        over = self.implausibility > cutoff
        alone = over & (over.sum(axis=1, keepdims=True) == 1)
        return alone.sum(axis=0)


@dataclass(frozen=True, eq=False)
class HistoryMatch:
    """The result of :func:`history_match`.

    Attributes
    ----------
    targets : Targets
        The targets matched.
    factors : tuple[Factor, ...]
        The varied parameters with their declared ranges.
    waves : tuple[Wave, ...]
        The waves run, in order (fewer than asked when one kept no set).
    cutoff : float
        Implausibility cutoff.
    measure : str
        ``"max"`` or ``"second_max"``.
    seed : int
        Seed of the first wave (each wave's seed is spawned from it).
    waves_asked : int
        Waves requested.
    provenance : Provenance
        Model file and hash, seed, targets file and hash, settings.
    """

    targets: Targets
    factors: tuple[Factor, ...]
    waves: tuple[Wave, ...]
    cutoff: float
    measure: str
    seed: int
    waves_asked: int
    provenance: Provenance
    scenario_names: tuple[str, ...] = field(default_factory=tuple)

    @property
    def names(self) -> list[str]:
        """Python names of the varied parameters."""
        return [f.name for f in self.factors]

    @property
    def complete(self) -> bool:
        """True when every wave asked for ran."""
        return len(self.waves) == self.waves_asked

    def nonimplausible(self) -> pd.DataFrame:
        """Every non-implausible set of every wave: one column per parameter (Python names)."""
        import pandas as pd

        kept = [w.sets[w.kept] for w in self.waves]
        values = np.vstack(kept) if kept else np.empty((0, len(self.factors)))
        return pd.DataFrame(values, columns=self.names)

    def margins(self) -> pd.DataFrame:
        """The range each parameter keeps (see :func:`margins`)."""
        return margins(self.nonimplausible().to_numpy(), self.factors)

    def summary(self) -> pd.DataFrame:
        """One row per wave: sets run, failed, kept, kept share, then per target the sets it
        ruled out (``ruled_out_<target>``) and the sets it alone ruled out
        (``only_<target>``)."""
        import pandas as pd

        rows = []
        for wave in self.waves:
            row: dict[str, Any] = {
                "wave": wave.number, "sets": wave.n_sets, "failed": wave.n_failed,
                "kept": wave.n_kept, "kept_share": wave.n_kept / max(1, wave.n_sets),
            }
            by = wave.ruled_out_by(self.cutoff)
            alone = wave.ruled_out_only_by(self.cutoff)
            for i, name in enumerate(self.targets.names):
                row[f"ruled_out_{name}"] = int(by[i])
            for i, name in enumerate(self.targets.names):
                row[f"only_{name}"] = int(alone[i])
            rows.append(row)
        return pd.DataFrame(rows)

    def runs(self) -> pd.DataFrame:
        """Every set run: wave, kept, measure, the parameters, then per target its simulated
        value (``sim_<target>``) and implausibility (``I_<target>``)."""
        import pandas as pd

        frames = []
        for wave in self.waves:
            frame = pd.DataFrame(wave.sets, columns=self.names)
            frame.insert(0, "measure", wave.measure)
            frame.insert(0, "kept", wave.kept)
            frame.insert(0, "wave", wave.number)
            for i, name in enumerate(self.targets.names):
                frame[f"sim_{name}"] = wave.simulated[:, i]
            for i, name in enumerate(self.targets.names):
                frame[f"I_{name}"] = wave.implausibility[:, i]
            frames.append(frame)
        if not frames:
            return pd.DataFrame(columns=["wave", "kept", "measure", *self.names])
        return pd.concat(frames, ignore_index=True)

    def boxes(self) -> pd.DataFrame:
        """The box each wave sampled: wave, parameter, lower, upper."""
        import pandas as pd

        return pd.DataFrame([
            {"wave": w.number, "parameter": name, "lower": float(w.lower[i]),
             "upper": float(w.upper[i])}
            for w in self.waves for i, name in enumerate(self.names)
        ])


# ---------------------------------------------------------------------------- running


def default_factors(model: Model, targets: Targets) -> list[Factor]:
    """The parameters history matching varies: ``targets.vary`` or the default.

    The default is every constant of kind ``uncertain`` with a declared range, or, in a model
    without kind tags, every constant with a declared range.
    """
    if targets.vary is not None:
        return ranged_factors(model, list(targets.vary))
    uncertain = [p.name for p in model.parameters.values()
                 if p.kind == "uncertain" and p.bounded and p.lower < p.upper]  # type: ignore[operator]
    if uncertain:
        return ranged_factors(model, uncertain)
    set_somewhere = {k for t in targets.targets for k in t.scenario.params}
    chosen = [f for f in ranged_factors(model) if f.name not in set_somewhere]
    if not chosen:
        raise TargetsError("no parameter left to vary: every ranged constant is set by a "
                           "target; name some in [calibration] vary", path=targets.path,
                           key="calibration.vary")
    return chosen


def simulate_targets(
    model: Model,
    targets: Targets,
    sets: pd.DataFrame,
    *,
    chunk_size: int = 20_000,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Run every set in every scenario and read each target's quantity.

    Returns
    -------
    simulated : numpy.ndarray
        ``(n_sets, n_targets)``, NaN where a run failed.
    ok : numpy.ndarray
        ``(n_sets,)`` True where every scenario's run finished.
    """
    n = len(sets)
    simulated = np.full((n, len(targets.targets)), np.nan)
    ok = np.ones(n, dtype=bool)
    column = {t.name: i for i, t in enumerate(targets.targets)}
    for scenario, members in targets.scenarios().items():
        outputs = sorted({t.output for t in members})
        ensemble = run_ensemble(
            model, sets, region=scenario.region, push=scenario.push,
            params=scenario.params or None, variables=outputs, progress=progress,
            chunk_size=chunk_size, **dict(targets.run),
        )
        times = ensemble.dataset["time"].to_numpy()
        run_ok = np.asarray(ensemble.ok, dtype=bool)
        ok &= run_ok
        for target in members:
            values = ensemble.outputs(target.output).to_numpy()
            with np.errstate(invalid="ignore", divide="ignore"):
                reduced = target.reduce(values, times)
            simulated[:, column[target.name]] = np.where(run_ok, reduced, np.nan)
    return simulated, ok


def history_match(
    model: Model | str | Path,
    targets: Targets | str | Path,
    *,
    waves: int = 3,
    samples_per_wave: int | Sequence[int] = 1000,
    seed: int = 0,
    cutoff: float = 3.0,
    measure: str = "max",
    sampler: str = "box",
    padding: float = 0.05,
    spread: float = 0.5,
    chunk_size: int = 20_000,
    progress: bool = True,
    on_wave: WaveCallback | None = None,
) -> HistoryMatch:
    """History-match a model to its targets in waves of Latin hypercube runs.

    Parameters
    ----------
    model : Model or path
        The model (loaded, or the path of its ``.mdl`` file).
    targets : Targets or path
        The targets (see :mod:`sdnet.targets`), or the path of a targets file.
    waves : int, default 3
        Waves of sampling (each within the non-implausible box of the previous one).
    samples_per_wave : int or sequence of int, default 1000
        Sets per wave; each is run once per scenario of the targets. A sequence gives each
        wave its own count (as many as ``waves``): a model whose non-implausible region is a
        tiny share of its prior needs a large first wave, a uniform sample of the prior, so
        that its survivors spread over that region before later waves sample near them.
    seed : int, default 0
        Seed of the first wave's design; later waves use seeds spawned from it
        (:class:`numpy.random.SeedSequence`), so the same seed reproduces every wave.
    cutoff : float, default 3.0
        A set is ruled out when its implausibility measure exceeds this.
    measure : {"max", "second_max"}, default "max"
        The largest implausibility over targets, or the second largest.
    sampler : {"box", "survivors"}, default "box"
        How later waves sample: a Latin hypercube in the widened box of the previous wave's
        non-implausible sets, or those sets resampled with normal steps (module docstring).
    padding : float, default 0.05
        Widening of each later wave's box (share of the previous box's width, each side).
    spread : float, default 0.5
        Step of the ``"survivors"`` sampler, in standard deviations of the survivors.
    chunk_size : int
        Runs per chunk of the vector engine.
    progress : bool, default True
        Show the runner's progress bars.
    on_wave : callable(HistoryMatch), optional
        Called after each wave with the result so far (e.g. to save it, so an interrupted
        calibration keeps the finished waves).

    Returns
    -------
    HistoryMatch
        Waves, kept sets, margins, provenance.

    Raises
    ------
    InvalidValueError
        A bad option (with what is valid).
    TargetsError
        The targets do not fit the model (names the file, key and value).
    """
    from sdnet.model import Model, load_model

    if not isinstance(model, Model):
        model = load_model(model)
    if not isinstance(targets, Targets):
        targets = load_targets(targets, model=model)
    elif targets.path is not None:
        # validated against this model (a Targets built without one may name anything)
        targets = load_targets(targets.path, model=model)
    _check_int("waves", waves, minimum=1)
    per_wave = _samples_per_wave(samples_per_wave, waves)
    _check_int("seed", seed, minimum=0)
    if isinstance(cutoff, bool) or not isinstance(cutoff, int | float) or not cutoff > 0:
        raise InvalidValueError("cutoff", cutoff, expected="a positive number (3 is usual)")
    if measure not in MEASURES:
        raise InvalidValueError("measure", measure, expected="one of " + ", ".join(MEASURES))
    if sampler not in SAMPLERS:
        raise InvalidValueError("sampler", sampler, expected="one of " + ", ".join(SAMPLERS))
    for name, value in (("padding", padding), ("spread", spread)):
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise InvalidValueError(name, value, expected="a number >= 0")

    factors = tuple(default_factors(model, targets))
    bounds = (np.array([f.lower for f in factors]), np.array([f.upper for f in factors]))
    observed = np.array([t.observed for t in targets.targets])
    variance = np.array([t.variance for t in targets.targets])
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(waves)]
    provenance = Provenance.collect(model.path, model.sha256, seed=seed, spec={
        "kind": "history_match",
        "targets_path": str(targets.path) if targets.path else None,
        "targets_sha256": targets.sha256,
        "waves": waves, "samples_per_wave": list(per_wave), "cutoff": float(cutoff),
        "measure": measure, "sampler": sampler, "padding": float(padding),
        "spread": float(spread), "wave_seeds": seeds,
        "vary": [f.name for f in factors], "run": dict(targets.run),
    })
    scenario_names = tuple(s.describe() for s in targets.scenarios())
    done: list[Wave] = []
    import pandas as pd

    lower, upper = bounds
    survivors: np.ndarray | None = None
    for number in range(1, waves + 1):
        if survivors is None or sampler == "box":
            box = [Factor(f.name, float(lo), float(hi))
                   for f, lo, hi in zip(factors, lower, upper, strict=True)]
            # clipped: lower + u * (upper - lower) can round past the declared upper bound
            values_run = np.clip(lhs_design(box, per_wave[number - 1],
                                            seed=seeds[number - 1]).values, *bounds)
        else:
            values_run = resample_survivors(survivors, per_wave[number - 1], bounds=bounds,
                                            lower=lower, upper=upper, spread=spread,
                                            padding=padding, seed=seeds[number - 1])
            lower, upper = values_run.min(axis=0), values_run.max(axis=0)
        sets = pd.DataFrame(values_run, columns=[f.name for f in factors])
        simulated, ok = simulate_targets(model, targets, sets, chunk_size=chunk_size,
                                         progress=progress)
        values = implausibility(simulated, observed, variance)
        reduced = implausibility_measure(values, measure=measure)
        kept = ok & (reduced <= cutoff)
        done.append(Wave(number, np.array(lower), np.array(upper), values_run,
                         simulated, values, reduced, ok, kept))
        result = HistoryMatch(targets, factors, tuple(done), float(cutoff), measure, seed,
                              waves, provenance, scenario_names)
        if on_wave is not None:
            on_wave(result)
        if not kept.any():
            break
        survivors = values_run[kept]
        if sampler == "box":
            lower, upper = next_box(survivors, lower, upper, bounds=bounds, padding=padding)
    return HistoryMatch(targets, factors, tuple(done), float(cutoff), measure, seed, waves,
                        provenance, scenario_names)


def _samples_per_wave(samples: int | Sequence[int], waves: int) -> tuple[int, ...]:
    """Each wave's number of sets, from one count for all or one count per wave."""
    if isinstance(samples, int | np.integer) and not isinstance(samples, bool):
        _check_int("samples_per_wave", samples, minimum=2)
        return (int(samples),) * waves
    if not isinstance(samples, Sequence) or isinstance(samples, str) or len(samples) != waves:
        raise InvalidValueError("samples_per_wave", samples,
                                expected=f"an integer >= 2, or {waves} of them (one per wave)")
    for count in samples:
        _check_int("samples_per_wave", count, minimum=2)
    return tuple(int(count) for count in samples)


def _check_int(name: str, value: Any, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise InvalidValueError(name, value, expected=f"an integer >= {minimum}")
