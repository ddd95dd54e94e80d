"""The vectorized ensemble engine: compile a Vensim model once, run thousands of runs at once.

>>> from sdnet.engine import compile_model                      # doctest: +SKIP
>>> model = compile_model("models/flexnet/flexnet.mdl")          # doctest: +SKIP
>>> sim = model.simulate({"push_amount": amounts}, n_runs=len(amounts))  # doctest: +SKIP
>>> sim.outputs["Total Members"].shape                           # doctest: +SKIP
(10000, 31)

See ``docs/engine.md`` for the supported Vensim subset, the accuracy against PySD and Vensim,
and the speed.
"""

from sdnet.engine.model import METHODS, CompiledModel, Simulation, cache_dir, compile_model

__all__ = ["METHODS", "CompiledModel", "Simulation", "cache_dir", "compile_model"]
