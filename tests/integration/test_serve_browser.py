"""The flight simulator in a real browser: headless Chromium (Debian's package) via Playwright.

A person's session, in a few seconds: the page loads, a slider moved with the keyboard redraws
the chart, a scenario is saved and downloaded as CSV, the uncertainty fan appears, and a short
game (decisions every 5 years) is played to its score, which must equal the score the server's
own code computes for the same decisions. Every request the page makes is logged: all of them
go to the simulator's own address, and Chromium resolves no other host
(``--host-resolver-rules``), so nothing could leave the machine anyway. A control checks that
the request log does see a request to another host.
"""

from __future__ import annotations

import csv
import io
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

playwright = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed (pip install playwright; it is "
    "in the test extras)")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed (Debian: apt-get install chromium; .ci/run "
    "installs it)",
)
FLEXNET = Path(__file__).resolve().parents[2] / "models" / "flexnet" / "flexnet.mdl"
ARGS = ["--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
TIMEOUT = 20_000  # ms: generous for a loaded 2-core machine; a pass takes a few seconds


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    from sdnet.serve import build_app, make_server

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SDNET_CACHE_DIR", str(tmp_path_factory.mktemp("serve-browser-cache")))
        app = build_app(str(FLEXNET), n_worlds=16, game_period=5.0)
    served = make_server(app, port=0)
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{served.server_address[1]}", app
    served.shutdown()
    served.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


def _wait_for_change(read: Any, before: Any, *, seconds: float = 20.0) -> Any:
    """Poll ``read()`` until it differs from ``before`` (the page's CSP forbids Playwright's
    string predicates, which it evaluates with eval)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        now = read()
        if now != before:
            return now
        time.sleep(0.02)
    raise AssertionError(f"nothing changed in {seconds} s: still {before!r}")


def test_explore_and_play_a_game_without_leaving_the_server(server: tuple[str, Any],
                                                            browser: Any,
                                                            tmp_path: Path) -> None:
    url, app = server
    page = browser.new_page(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda message: problems.append(message.text)
            if message.type in ("error", "warning") else None)
    page.on("pageerror", lambda exception: problems.append(str(exception)))
    page.set_default_timeout(TIMEOUT)
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready=true]")
    assert page.title() == app.setup.title
    line = page.locator('.chart[data-variable="Total Members"] path.current')
    before = line.get_attribute("d")
    assert before and before.count("L") > 100  # 121 saved times

    # explore: move a slider with the keyboard; the chart must change
    slider = page.locator("#s-push_amount")
    slider.focus()
    for _ in range(5):
        page.keyboard.press("ArrowRight")  # 5 steps of $20,000
    after = _wait_for_change(lambda: line.get_attribute("d"), before)
    assert page.locator("#s-out-push_amount").inner_text() == "$400,000 $/Year"
    assert len(page.evaluate("window.sdnetTimings")) >= 1

    # saved scenarios side by side, and the CSV of the current runs
    page.click("#save")
    page.wait_for_selector('.chart[data-variable="Total Members"] path.saved')
    assert page.locator("#saved tr").count() == 3  # header, current run, scenario 1
    with page.expect_download() as download:
        page.click("#csv")
    saved = tmp_path / "runs.csv"
    download.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"))))
    assert len(rows) == 2 * 121
    assert {r["scenario"] for r in rows} == {"current run", "scenario 1"}
    last = [r for r in rows if r["scenario"] == "current run"][-1]
    assert float(last["push_amount"]) == 400_000 and float(last["time"]) == 30
    status, run = _post(app, {"values": {"push_amount": 400_000}})
    assert status == 200
    assert float(last["Total Members"]) == pytest.approx(run["series"]["Total Members"][-1])
    assert after != before

    # uncertainty on request: a fan over the plausible worlds
    page.check("#fan")
    page.wait_for_selector('.chart[data-variable="Total Members"] path.band')
    assert "16 runs" in page.inner_text("#fan-note")

    # game: decisions at years 0, 5, 10 and 15; the money stops in year 20
    page.click("#tab-game")
    page.click("#game-start")
    page.wait_for_selector("#game-play:not([hidden])")
    grant = page.locator("#g-push_amount")
    for amount in (300_000, 300_000, 0, 0):
        grant.fill(str(amount))  # a range input takes fill() as a move to that value
        page.click("#game-step")
        _wait_for_change(lambda: page.inner_text("#game-year"), None)
        if amount:
            page.wait_for_selector("#game-step:enabled")
    page.wait_for_selector("#game-score:not([hidden])")
    assert page.inner_text("#game-year") == "30: game over"
    shown = float(page.inner_text("#score-value"))
    assert page.locator("#score-table tr.yours").count() == 1
    assert "(best)" in page.inner_text("#score-table")

    # the same decisions scored by the server's own code, in the same worlds
    from sdnet.serve.game import Game

    base = app.setup.start_values() | {"push_amount": 400_000}
    game = Game(app.simulator, app.setup, base)
    for amount in (300_000, 300_000, 0, 0):
        game.step({"push_amount": amount})
    assert shown == pytest.approx(round(game.score(app.worlds())[0].score, 1))

    origin = url + "/"
    assert requests and all(r.startswith(origin) for r in requests), requests
    assert problems == []
    page.close()


def _post(app: Any, body: Any) -> tuple[int, Any]:
    import json

    response = app.handle("POST", "/api/run", json.dumps(body).encode(),
                          content_type="application/json", host=next(iter(app.allowed_hosts)))
    return response.status, response.json()


def test_the_request_log_sees_a_request_elsewhere(browser: Any) -> None:
    """Control: a page asking another host is logged (and resolved nowhere)."""
    page = browser.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.set_content('<img src="https://example.invalid/x.png">')
    page.wait_for_load_state("load")
    assert "https://example.invalid/x.png" in requests
    page.close()
