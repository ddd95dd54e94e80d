"""The simulator's server logic: validate every request, run the model, answer in JSON.

:class:`SimulatorApp` is independent of any web server: :meth:`SimulatorApp.handle` takes a
method, a path, the body bytes and two headers, and returns a :class:`Response`. The HTTP
adapter (:mod:`sdnet.serve.server`) only moves bytes, so every check is testable in-process.

Security: every input is parsed as JSON (never evaluated; ``NaN``/``Infinity`` refused) and
checked against the model's declared ranges and types; unknown keys are refused, not ignored;
bodies are limited to :data:`MAX_BODY` bytes; POST needs ``Content-Type: application/json``
(a cross-site form cannot send it); the ``Host`` header must name the address served (which
defeats DNS rebinding); every response forbids loading anything from elsewhere
(Content-Security-Policy).

Endpoints (all answers JSON except the page and its two files)::

    GET  /                 the page;  GET /app.js, /app.css  its script and style
    GET  /api/setup        sliders, outcomes, presets, game rules
    POST /api/run          {"values": {name: number}} -> one run of the outcomes
    POST /api/fan          {"values": {...}} -> quantiles over the plausible worlds
    POST /api/game/new     {"values": {...}} -> a new game (its id and first decision year)
    POST /api/game/step    {"game": id, "decision": {lever: number}} -> the next period;
                           after the last one, the score against the reference policies

Errors: ``{"error": {"message": "...", "field": "push_amount" | null}}`` with status 400 (bad
input), 404 (unknown path or game), 405 (method), 413 (body too large), 415 (not JSON) or 421
(wrong Host).
"""

from __future__ import annotations

import json
import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np

from sdnet.errors import OutOfRangeError, RequestError, SdnetError, UnknownVariableError
from sdnet.serve.game import Game
from sdnet.serve.runs import QUANTILES, run_fan, run_once

if TYPE_CHECKING:
    from sdnet.serve.setup import SimulatorSetup
    from sdnet.serve.worlds import Worlds
    from sdnet.teaching.challenge import EnsembleSimulator

__all__ = ["MAX_BODY", "MAX_GAMES", "Response", "SimulatorApp"]

#: largest request body accepted, bytes (a full set of slider values is under 2 kB)
MAX_BODY = 64 * 1024
#: games held at once; the oldest is dropped beyond this
MAX_GAMES = 64
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "
     "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
     "frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("Cache-Control", "no-store"),
)
_STATIC: dict[str, tuple[str, str]] = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/app.css": ("app.css", "text/css; charset=utf-8"),
}


@dataclass(frozen=True, slots=True)
class Response:
    """An HTTP response: status, body bytes, content type."""

    status: int
    body: bytes
    content_type: str = "application/json"

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """Every header to send (content type, length and the security headers)."""
        return (("Content-Type", self.content_type),
                ("Content-Length", str(len(self.body))), *SECURITY_HEADERS)

    def json(self) -> Any:
        """The body parsed as JSON (for tests and clients)."""
        return json.loads(self.body)


def _json_response(data: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(data, allow_nan=False, separators=(",", ":")).encode())


def _error(error: RequestError) -> Response:
    return _json_response({"error": {"message": str(error), "field": error.field}},
                          error.status)


def _numbers(values: np.ndarray, digits: int = 6) -> list[float | None]:
    """A JSON-safe list: floats to ``digits`` significant digits, None where not finite."""
    return [float(f"{v:.{digits}g}") if math.isfinite(v) else None for v in values.tolist()]


def _refuse_constant(name: str) -> Any:
    raise RequestError(f"{name} is not a number JSON allows; send a finite number")


class SimulatorApp:
    """Validates requests and answers them by running the model.

    Parameters
    ----------
    simulator : EnsembleSimulator
        The compiled model (``sdnet.engine.compile_model(path)``).
    setup : SimulatorSetup
        Sliders, outcomes and game rules (``sdnet.serve.setup_for``).
    worlds : callable returning Worlds
        Gives the fan's plausible worlds (called once, on the first fan or game score).
    allowed_hosts : set of str, optional
        ``Host`` header values served (e.g. ``{"127.0.0.1:8050", "localhost:8050"}``); None
        accepts any (only for an address bound on purpose with ``--public``).
    """

    def __init__(self, simulator: EnsembleSimulator, setup: SimulatorSetup, *,
                 worlds: Callable[[], Worlds],
                 allowed_hosts: set[str] | frozenset[str] | None = None) -> None:
        self.simulator = simulator
        self.setup = setup
        self.allowed_hosts = None if allowed_hosts is None else frozenset(allowed_hosts)
        self._worlds_factory = worlds
        self._worlds: Worlds | None = None
        self._games: OrderedDict[str, Game] = OrderedDict()
        self._lock = threading.Lock()  # one model run at a time: the engine is not reentrant
        self._routes: dict[tuple[str, str], Callable[[dict[str, Any]], Any]] = {
            ("POST", "/api/run"): self._run,
            ("POST", "/api/fan"): self._fan,
            ("POST", "/api/game/new"): self._game_new,
            ("POST", "/api/game/step"): self._game_step,
        }

    # ------------------------------------------------------------------ dispatch
    def handle(self, method: str, path: str, body: bytes = b"", *,
               content_type: str | None = None, host: str | None = None) -> Response:
        """Answer one request; never raises for bad input (it becomes a JSON error)."""
        try:
            return self._dispatch(method, path, body, content_type=content_type, host=host)
        except RequestError as error:
            return _error(error)
        except SdnetError as error:  # a value the model refuses (range, name, ...)
            return _error(RequestError(
                error.summary if isinstance(error, OutOfRangeError) else str(error),
                field=getattr(error, "name", None) if isinstance(getattr(error, "name", None),
                                                                 str) else None))

    def _dispatch(self, method: str, path: str, body: bytes, *, content_type: str | None,
                  host: str | None) -> Response:
        if self.allowed_hosts is not None and host not in self.allowed_hosts:
            raise RequestError(
                f"this server does not answer for host {host!r}; open "
                f"http://{sorted(self.allowed_hosts)[0]}/", status=421, field="Host")
        route = path.split("?", 1)[0]
        if route in _STATIC or route == "/api/setup":
            if method not in ("GET", "HEAD"):
                raise RequestError(f"{route} takes GET, not {method}", status=405)
            if route == "/api/setup":
                return _json_response(self.setup.to_dict())
            name, kind = _STATIC[route]
            text = resources.files("sdnet.serve").joinpath("static", name).read_bytes()
            return Response(200, text, kind)
        handler = self._routes.get(("POST", route))
        if handler is None:
            raise RequestError(f"no such address {route!r}; the page is at /", status=404)
        if method != "POST":
            raise RequestError(f"{route} takes POST with a JSON body, not {method}", status=405)
        if len(body) > MAX_BODY:
            raise RequestError(f"request body of {len(body)} bytes is larger than the "
                               f"{MAX_BODY} allowed", status=413)
        if (content_type or "").split(";")[0].strip().lower() != "application/json":
            raise RequestError(f"send the body as application/json, not {content_type!r}",
                               status=415)
        try:
            data = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise RequestError(f"the body is not valid JSON: {error}") from None
        if not isinstance(data, dict):
            raise RequestError(f"the body must be a JSON object, not {type(data).__name__}")
        with self._lock:
            return _json_response(handler(data))

    # ------------------------------------------------------------------ validation
    @staticmethod
    def _keys(data: Mapping[str, Any], allowed: tuple[str, ...], *,
              required: tuple[str, ...] = ()) -> None:
        for key in data:
            if key not in allowed:
                raise UnknownVariableError(key, candidates=allowed, what="key",
                                           where="the request")
        for key in required:
            if key not in data:
                raise RequestError(f"the request needs {key!r}", field=key)

    def _values(self, data: Mapping[str, Any]) -> dict[str, float]:
        """The sliders' values: the starting ones, overridden by ``data["values"]``."""
        given = data.get("values", {})
        if not isinstance(given, dict):
            raise RequestError(f"'values' must be an object of slider name -> number, not "
                               f"{type(given).__name__}", field="values")
        values = self.setup.start_values()
        parameters = self.simulator.parameters
        for name, value in given.items():
            slider = self.setup.slider(name)
            values[slider.name] = parameters[slider.name].check(value)
        return values

    def _decision(self, given: Any) -> dict[str, float]:
        rules = self.setup.game
        if rules is None:  # pragma: no cover - checked by the callers
            raise RequestError("this model has no game", status=404)
        if not isinstance(given, dict):
            raise RequestError("'decision' must be an object of lever name -> number",
                               field="decision")
        decision = {}
        for name, value in given.items():
            slider = self.setup.slider(name)
            if slider.name not in rules.levers:
                raise UnknownVariableError(name, candidates=rules.levers, what="game lever",
                                           where="the game")
            decision[slider.name] = self.simulator.parameters[slider.name].check(value)
        return decision

    def worlds(self) -> Worlds:
        """The plausible worlds (loaded on first use)."""
        if self._worlds is None:
            self._worlds = self._worlds_factory()
        return self._worlds

    # ------------------------------------------------------------------ endpoints
    def _run(self, data: dict[str, Any]) -> dict[str, Any]:
        self._keys(data, ("values",))
        values = self._values(data)
        began = time.perf_counter()
        run = run_once(self.simulator, self.setup, values)
        return {
            "times": _numbers(run.times), "ok": run.ok,
            "series": {k: _numbers(v) for k, v in run.series.items()},
            "values": values, "push": self.setup.push_period(values),
            "ms": round(1000 * (time.perf_counter() - began), 1),
        }

    def _fan(self, data: dict[str, Any]) -> dict[str, Any]:
        self._keys(data, ("values",))
        values = self._values(data)
        fan = run_fan(self.simulator, self.setup, values, self.worlds())
        return {
            "times": _numbers(fan.times), "quantiles": list(QUANTILES),
            "bands": {k: [_numbers(row) for row in v] for k, v in fan.bands.items()},
            "n_worlds": fan.n_worlds, "n_failed": fan.n_failed, "source": fan.source,
        }

    def _require_game(self) -> None:
        if self.setup.game is None:
            raise RequestError(
                "this model has no game: it needs a model card with a push schedule and a "
                "[game] table naming the outcome, population and cost", status=404)

    def _game_state(self, key: str, game: Game) -> dict[str, Any]:
        times = game.rules.decision_times
        done = len(game.decisions)
        return {
            "game": key, "year": game.year, "finished": game.finished,
            "next_decision": None if game.finished else times[done],
            "period_end": None if game.finished else (
                times[done + 1] if done + 1 < len(times) else game.rules.decide_until),
            "decisions": game.decisions, "start": game.start,
            "times": _numbers(game.times),
            "series": {k: _numbers(v) for k, v in game.series.items()},
        }

    def _game_new(self, data: dict[str, Any]) -> dict[str, Any]:
        self._require_game()
        self._keys(data, ("values",))
        game = Game(self.simulator, self.setup, self._values(data))
        key = secrets.token_urlsafe(12)
        self._games[key] = game
        while len(self._games) > MAX_GAMES:
            self._games.popitem(last=False)
        return self._game_state(key, game)

    def _game_step(self, data: dict[str, Any]) -> dict[str, Any]:
        self._require_game()
        self._keys(data, ("game", "decision"), required=("game", "decision"))
        key = data["game"]
        if not isinstance(key, str) or key not in self._games:
            raise RequestError("no such game (it may have ended when the server restarted): "
                               "start a new one", status=404, field="game")
        game = self._games[key]
        if game.finished:
            raise RequestError("this game is over: start a new one", field="game")
        game.step(self._decision(data["decision"]))
        state = self._game_state(key, game)
        if game.finished:
            state["score"] = self._score(game)
        return state

    def _score(self, game: Game) -> dict[str, Any]:
        worlds = self.worlds()
        results = game.score(worlds)
        yours, references = results[0], results[1:]
        ranked = sorted(references, key=lambda r: r.score, reverse=True)
        best, typical = ranked[0], ranked[len(ranked) // 2]
        by_name = {r.name: r for r in references}
        names = dict.fromkeys([r.name for r in ranked[:5]] + [typical.name, "none"])
        shown = [by_name[name] for name in names]
        times = np.asarray(game.times)
        return {
            "yours": yours.to_dict(), "best": best.to_dict(), "typical": typical.to_dict(),
            "others": [r.to_dict() for r in shown],
            "rank": 1 + sum(r.score > yours.score for r in references),
            "n_policies": len(references), "n_worlds": worlds.n, "source": worlds.source,
            "rules": game.rules.to_dict(),
            "times": _numbers(times),
            "trajectories": {"your choices": _numbers(yours.trajectory),
                             f"best: {best.name}": _numbers(best.trajectory),
                             f"typical: {typical.name}": _numbers(typical.trajectory)},
        }
