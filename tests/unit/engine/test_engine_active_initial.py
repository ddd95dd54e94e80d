"""An ACTIVE INITIAL that breaks a loop of equations through a SMOOTH: the engine sets the run
up with its initial value, as PySD does, and then equals PySD step by step."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sdnet.engine import compile_model

MODEL = """{UTF-8}
Signal=
\tACTIVE INITIAL(Smoothed + Time * SIN(Time), Start)
\t~\twidget
\t~\tReads its own smoothed value: a loop only ACTIVE INITIAL breaks at the start.
\t|

Smoothed=
\tSMOOTH(Signal, Delay)
\t~\twidget
\t~\t
\t|

Start=
\t1
\t~\twidget [0,5]
\t~\t
\t|

Delay=
\t0.5
\t~\tYear [0.25,2]
\t~\t
\t|

FINAL TIME=\n\t6\n\t~\tYear\n\t~\t\n\t|\n
INITIAL TIME=\n\t0\n\t~\tYear\n\t~\t\n\t|\n
SAVEPER=\n\t1\n\t~\tYear\n\t~\t\n\t|\n
TIME STEP=\n\t0.5\n\t~\tYear\n\t~\t\n\t|\n
"""


def test_an_active_initial_breaking_a_loop_matches_pysd(tmp_path: Path, pysd_runner) -> None:
    path = tmp_path / "model" / "circular.mdl"
    path.parent.mkdir()
    path.write_text(MODEL)
    values = {"start": np.array([1.0, 2.5]), "delay": np.array([0.5, 1.5])}
    sim = compile_model(path).simulate(values, n_runs=2)
    run_pysd = pysd_runner(path)
    for run in range(2):
        frame = run_pysd({k: float(v[run]) for k, v in values.items()})
        for column in ("Signal", "Smoothed"):
            np.testing.assert_array_equal(sim.outputs[column][run], frame[column].to_numpy())
    # set up with Start: the SMOOTH starts there, and Signal is Smoothed + 0 at time 0
    assert sim.outputs["Smoothed"][1][0] == 2.5 and sim.outputs["Signal"][1][0] == 2.5
