"""Experiments: TOML study files -> frozen, validated specs -> runs, metrics and analyses.

An experiment file is data (no code is evaluated)::

    [experiment]
    name = "sustaining_levers"
    model = "../models/flexnet/flexnet.mdl"   # relative to this file's folder, else the cwd
    seed = 20261126
    question = "Which levers keep an embedded network alive ten years after the push ends?"

    [run]                    # optional: final_time, time_step, saveper (Year), method,
    final_time = 30          # chunk_size, variables (extra outputs to save)

    [region]                 # optional: preset = "typical" or presets = [...], values = {...}
    preset = "typical"

    [push]                   # the base push; missing fields come from the card's push schedule
    amount = 300000
    duration = 3.5

    [params]                 # optional: constants set in every run
    number_of_firms = 150

    [[policies]]             # optional: push variants run on the same design (name + fields)

    [[factors]]              # what the design varies (Python or Vensim names of constants)
    name = "push_duration"
    bounds = [0, 8]          # default: the model's declared range
    distribution = "uniform" # or loguniform, triangular (mode), truncnormal (mean, sd)
    [[factors]]
    kind = "uncertain"       # every other constant of this kind, over its declared range

    [design]
    method = "morris"        # lhs, sobol, morris, efast, grid
    n = 20                   # plus method settings: calc_second_order, num_levels, M

    [[metrics]]
    name = "persistence_after_push"     # an outcome of the model's card, or a user metric:
    [[metrics]]
    name = "peak_trust"
    variable = "Trust"
    reducer = "peak"                    # sdnet.metrics.REDUCERS, with its options

    [analysis]               # optional; see AnalysisSpec
    screen = { top = 5, n = 256, metric = "persistence_after_push" }
    prim = { metric = "sustained" }

The study runs every *case* (each region preset x each policy) on the same design. Errors name
the file, the key, the bad value and what is valid (:class:`~sdnet.errors.ExperimentError`).
"""

from sdnet.experiment.parse import load_experiment, parse_experiment
from sdnet.experiment.run import StudyResult, run_experiment
from sdnet.experiment.spec import AnalysisSpec, Case, Experiment, RunSpec
from sdnet.experiment.toml import to_toml

__all__ = [
    "AnalysisSpec",
    "Case",
    "Experiment",
    "RunSpec",
    "StudyResult",
    "load_experiment",
    "parse_experiment",
    "run_experiment",
    "to_toml",
]
