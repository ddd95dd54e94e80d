"""The server answers every bad request with a clear JSON error, in-process and over a socket."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sdnet.cli import main
from sdnet.engine import CompiledModel
from sdnet.errors import InvalidValueError
from sdnet.serve import SimulatorApp, load_worlds, make_server, setup_for
from sdnet.serve.app import MAX_BODY

FLEXNET = Path(__file__).resolve().parents[3] / "models" / "flexnet" / "flexnet.mdl"
HOST = "127.0.0.1:8050"


@pytest.fixture(scope="module")
def app(flexnet: CompiledModel) -> SimulatorApp:
    setup = setup_for(flexnet.parameters, model_path=FLEXNET, outputs=flexnet.outputs,
                      game_period=5.0)
    return SimulatorApp(flexnet, setup, allowed_hosts={HOST},
                        worlds=lambda: load_worlds(FLEXNET, flexnet.parameters, n=8, seed=1))


def post(app: SimulatorApp, path: str, body: Any, *, raw: bytes | None = None,
         content_type: str | None = "application/json", host: str = HOST) -> tuple[int, Any]:
    data = raw if raw is not None else json.dumps(body).encode()
    response = app.handle("POST", path, data, content_type=content_type, host=host)
    return response.status, response.json()


def error(app: SimulatorApp, path: str, body: Any, **options: Any) -> tuple[int, str, Any]:
    status, data = post(app, path, body, **options)
    assert set(data) == {"error"}, data
    return status, data["error"]["message"], data["error"]["field"]


def test_the_page_and_its_files_are_served_with_a_strict_policy(app: SimulatorApp) -> None:
    page = app.handle("GET", "/", host=HOST)
    assert page.status == 200 and page.content_type.startswith("text/html")
    assert b'<script src="app.js"' in page.body and b"http" not in page.body
    headers = dict(page.headers)
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert "connect-src 'self'" in headers["Content-Security-Policy"]
    script = app.handle("GET", "/app.js", host=HOST).body.decode()
    assert "http://" not in script and "https://" not in script  # nothing fetched elsewhere
    setup = app.handle("GET", "/api/setup", host=HOST).json()
    assert setup["sliders"][0]["name"] == "push_amount"
    assert setup["game"]["decision_times"] == [0.0, 5.0, 10.0, 15.0]


def test_a_run_answers_with_the_model_numbers(app: SimulatorApp,
                                              flexnet: CompiledModel) -> None:
    status, data = post(app, "/api/run", {"values": {"Push Amount": 450_000,
                                                     "micro_share": 0.5}})
    assert status == 200
    values = app.setup.start_values() | {"push_amount": 450_000, "micro_share": 0.5}
    direct = flexnet.simulate(values, n_runs=1, final_time=30, time_step=0.125,
                              variables=["Total Members"]).outputs["Total Members"][0]
    np.testing.assert_allclose(data["series"]["Total Members"], direct, rtol=1e-5)
    assert len(data["times"]) == len(direct) and data["ok"] is True
    assert data["push"] == [2.0, 5.5, 5.5]


@pytest.mark.parametrize(("body", "status", "message", "field"), [
    ({"values": {"push_amount": 5e9}}, 400,
     "value 5000000000.0 for 'push_amount' is outside its declared range [0, 2e+06]",
     "push_amount"),
    ({"values": {"push_amount": "300000"}}, 400,
     "invalid value for 'push_amount': '300000' (expected a finite number)", "push_amount"),
    ({"values": {"push_amount": "__import__('os').system('true')"}}, 400,
     "invalid value for 'push_amount': \"__import__('os').system('true')\" (expected a finite "
     "number)", "push_amount"),
    ({"values": {"push_amount": True}}, 400,
     "invalid value for 'push_amount': True (expected a finite number)", "push_amount"),
    ({"values": {"push_amount": None}}, 400,
     "invalid value for 'push_amount': None (expected a finite number)", "push_amount"),
    ({"values": {"push_amont": 1}}, 400,
     "unknown slider 'push_amont' of the simulator; did you mean 'push_amount', 'push_duration', "
     "'push_taper'?", "push_amont"),
    ({"values": {"word_of_mouth_rate": 0.3}}, 400,
     "unknown slider 'word_of_mouth_rate' of the simulator", "word_of_mouth_rate"),
    ({"values": [1, 2]}, 400, "'values' must be an object of slider name -> number, not list",
     "values"),
    ({"valuse": {}}, 400, "unknown key 'valuse' of the request; did you mean 'values'?",
     "valuse"),
])
def test_bad_values_get_clear_errors(app: SimulatorApp, body: Any, status: int, message: str,
                                     field: str) -> None:
    for path in ("/api/run", "/api/fan", "/api/game/new"):
        assert error(app, path, body) == (status, message, field)


@pytest.mark.parametrize(("raw", "message"), [
    (b'{"values": {"push_amount": NaN}}', "NaN is not a number JSON allows; send a finite number"),
    (b'{"values": {"push_amount": Infinity}}',
     "Infinity is not a number JSON allows; send a finite number"),
    (b'{"values": ', "the body is not valid JSON: Expecting value: line 1 column 12 (char 11)"),
    (b"\xff\xfe", "the body is not valid JSON: 'utf-8' codec can't decode byte 0xff in "
     "position 0: invalid start byte"),
    (b"[1, 2]", "the body must be a JSON object, not list"),
])
def test_malformed_bodies(app: SimulatorApp, raw: bytes, message: str) -> None:
    assert error(app, "/api/run", None, raw=raw) == (400, message, None)


def test_methods_paths_sizes_types_and_hosts(app: SimulatorApp) -> None:
    assert error(app, "/api/run", {}, raw=b" " * (MAX_BODY + 1)) == (
        413, f"request body of {MAX_BODY + 1} bytes is larger than the {MAX_BODY} allowed", None)
    assert error(app, "/api/run", {}, content_type="text/plain") == (
        415, "send the body as application/json, not 'text/plain'", None)
    assert error(app, "/api/run", {}, content_type=None) == (
        415, "send the body as application/json, not None", None)
    assert error(app, "/api/nothing", {}) == (
        404, "no such address '/api/nothing'; the page is at /", None)
    assert error(app, "/api/setup", {}) == (405, "/api/setup takes GET, not POST", None)
    response = app.handle("GET", "/api/run", host=HOST)
    assert (response.status, response.json()["error"]["message"]) == (
        405, "/api/run takes POST with a JSON body, not GET")
    response = app.handle("GET", "/../../etc/passwd", host=HOST)
    assert response.status == 404
    # DNS rebinding: a page of another site that resolves its name to 127.0.0.1
    assert error(app, "/api/run", {}, host="evil.example:8050") == (
        421, "this server does not answer for host 'evil.example:8050'; open "
        "http://127.0.0.1:8050/", "Host")
    assert app.handle("GET", "/", host=None).status == 421


def test_a_game_validates_its_decisions_and_ends_with_a_score(app: SimulatorApp) -> None:
    status, game = post(app, "/api/game/new", {"values": {"community_entrepreneur_density":
                                                          0.8}})
    assert status == 200 and game["next_decision"] == 0.0 and game["period_end"] == 5.0
    key = game["game"]
    assert error(app, "/api/game/step", {"game": "nope", "decision": {}}) == (
        404, "no such game (it may have ended when the server restarted): start a new one",
        "game")
    assert error(app, "/api/game/step", {"game": key}) == (
        400, "the request needs 'decision'", "decision")
    assert error(app, "/api/game/step", {"game": key, "decision": {"push_start": 3}}) == (
        400, "unknown game lever 'push_start' of the game; did you mean 'push_amount'?",
        "push_start")
    assert error(app, "/api/game/step", {"game": key, "decision": {"push_amount": -1}}) == (
        400, "value -1.0 for 'push_amount' is outside its declared range [0, 2e+06]",
        "push_amount")
    assert error(app, "/api/game/step", {"game": key, "decision": 5}) == (
        400, "'decision' must be an object of lever name -> number", "decision")
    for year in (5.0, 10.0, 15.0):
        status, game = post(app, "/api/game/step", {"game": key,
                                                    "decision": {"push_amount": 200_000}})
        assert status == 200 and game["year"] == year and "score" not in game
    status, game = post(app, "/api/game/step", {"game": key, "decision": {"push_amount": 0}})
    assert game["finished"] and game["year"] == 30.0
    score = game["score"]
    assert score["yours"]["cost"] == pytest.approx(3 * 5 * 200_000)
    assert score["best"]["score"] >= score["typical"]["score"]
    assert 1 <= score["rank"] <= score["n_policies"] + 1
    assert (score["rank"] == 1) == (score["yours"]["score"] >= score["best"]["score"])
    assert score["n_worlds"] == 8
    assert error(app, "/api/game/step", {"game": key, "decision": {}}) == (
        400, "this game is over: start a new one", "game")


@pytest.fixture
def served(app: SimulatorApp) -> Iterator[str]:
    server = make_server(app, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    app.allowed_hosts = frozenset({HOST})


def test_over_a_socket(served: str) -> None:
    with urllib.request.urlopen(served + "/") as response:
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    request = urllib.request.Request(served + "/api/run", data=b'{"values": {"x": 1}}',
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    with caught.value as answer:
        assert answer.code == 400
        assert json.load(answer)["error"]["message"] == "unknown slider 'x' of the simulator"
    request = urllib.request.Request(served + "/api/run", data=b"{}",
                                     headers={"Content-Type": "application/json",
                                              "Content-Length": "999999999"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    with caught.value as answer:
        assert answer.code == 413


def test_another_address_needs_an_explicit_flag(app: SimulatorApp,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(InvalidValueError, match="--public"):
        make_server(app, host="0.0.0.0", port=0)
    assert main(["serve", str(FLEXNET), "--host", "0.0.0.0"]) == 2
    assert capsys.readouterr().err == (
        "sdnet serve: error: invalid value for '--host': '0.0.0.0' (expected a loopback address "
        "such as 127.0.0.1, or add --public to let other machines connect)\n")
    assert main(["serve", str(FLEXNET), "--port", "70000"]) == 2
    assert "a port number from 0 to 65535" in capsys.readouterr().err


def test_the_command_serves_until_interrupted(flexnet: CompiledModel) -> None:
    """``sdnet serve`` end to end: it prints its address, answers, and stops on Ctrl+C."""
    import os
    import signal
    import subprocess
    import sys

    root = FLEXNET.parents[2]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root),
                                                       os.environ.get("PYTHONPATH", "")]))
    process = subprocess.Popen(
        [sys.executable, "-m", "sdnet.cli", "serve", str(FLEXNET), "--port", "0",
         "--worlds", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("sdnet serve: flexnet: flight simulator at http://127.0.0.1:")
        url = first.split(" at ", 1)[1].split(" ", 1)[0]
        assert process.stdout.readline().startswith(
            "  uncertainty: 4 worlds, 4 non-implausible parameter sets from nonimplausible.csv")
        with urllib.request.urlopen(url + "api/setup") as response:
            assert json.load(response)["model"] == "flexnet.mdl"
    finally:
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert err == "sdnet serve: interrupted\n"
