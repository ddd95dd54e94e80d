"""The flight simulator (``sdnet serve``): one local page to explore a model and play a game.

* :mod:`sdnet.serve.setup`: what the page offers for a model (sliders from the parameter
  table, outcomes, presets, game rules; the model card is read in one function).
* :mod:`sdnet.serve.runs`: explore mode's runs (one run, a fan over plausible worlds).
* :mod:`sdnet.serve.worlds`: the plausible worlds (``nonimplausible.csv`` or an LHS).
* :mod:`sdnet.serve.game`: game mode (decisions period by period, restarts from the state,
  the score against reference policies in the same worlds).
* :mod:`sdnet.serve.app`: request validation and JSON answers, independent of any server.
* :mod:`sdnet.serve.server`: the standard library's HTTP server in front of the app.

The page (``static/``) is bundled in the package: HTML, CSS and a script that draws its own SVG
charts; it loads nothing from any other address.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sdnet.serve.app import Response, SimulatorApp
from sdnet.serve.server import is_loopback, make_server
from sdnet.serve.setup import GameRules, Outcome, SimulatorSetup, SliderSpec, setup_for
from sdnet.serve.worlds import Worlds, load_worlds

__all__ = [
    "GameRules",
    "Outcome",
    "Response",
    "SimulatorApp",
    "SimulatorSetup",
    "SliderSpec",
    "Worlds",
    "build_app",
    "is_loopback",
    "load_worlds",
    "make_server",
    "setup_for",
]


def build_app(model_path: str, *, card: str | None = None, n_worlds: int = 100,
              seed: int = 20261126, game_period: float = 2.0,
              data_files: Sequence[str | Path] | None = None) -> SimulatorApp:
    """The simulator of the model file at ``model_path`` (compiled with the vector engine).

    Parameters
    ----------
    model_path : str
        A Vensim ``.mdl`` file.
    card : str, optional
        A model card (default: the ``.toml`` named like the model, when present).
    n_worlds : int
        Plausible worlds of the fan and of the game's score.
    seed : int
        Seed of the Latin-hypercube worlds (when there is no ``nonimplausible.csv``).
    game_period : float
        Years between two decisions in the game.
    data_files : sequence of str or Path, optional
        The model's data files (``.tab``/``.csv``; relative to the model's folder), as
        :func:`sdnet.engine.compile_model` takes them.
    """
    from sdnet.engine import compile_model

    simulator = compile_model(model_path, data_files=data_files)
    setup = setup_for(simulator.parameters, model_path=model_path, outputs=simulator.outputs,
                      card=card, game_period=game_period)
    return SimulatorApp(simulator, setup, worlds=lambda: load_worlds(
        model_path, simulator.parameters, n=n_worlds, seed=seed))
