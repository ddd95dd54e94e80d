"""Write docs/simulator.png and docs/simulator-game.png: the flight simulator in headless Chromium.

Run from the sdnet folder:  python3 docs/simulator_screenshot.py
Needs Debian's chromium and Playwright (``pip install -e ".[test]"``).
"""

from __future__ import annotations

import shutil
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    """Serve flexnet, drive the page, save two screenshots."""
    from playwright.sync_api import sync_playwright

    from sdnet.serve import build_app, make_server

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not found (Debian: apt-get install chromium)")
    server = make_server(build_app(str(ROOT / "models" / "flexnet" / "flexnet.mdl")), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(url)
            page.wait_for_selector("body[data-ready=true]")
            page.select_option("#preset", "embedded_prone")
            page.wait_for_timeout(800)
            page.click("#save")  # scenario 1: the base push
            page.locator("#s-local_match_requirement").fill("0.5")
            page.locator("#s-sponsor_cultivation_share").fill("0.3")
            page.wait_for_timeout(800)
            page.click("#save")  # scenario 2: matched, with cultivation
            page.locator("#s-local_match_requirement").fill("0")
            page.locator("#s-push_duration").fill("6")
            page.check("#fan")
            page.wait_for_selector("path.band")
            page.wait_for_timeout(800)
            page.set_viewport_size({"width": 1440, "height": 1180})
            page.wait_for_timeout(300)
            page.screenshot(path=str(ROOT / "docs" / "simulator.png"))
            page.click("#tab-game")
            page.click("#game-start")
            page.wait_for_selector("#game-play:not([hidden])")
            plan = [400_000, 400_000, 300_000, 200_000, 100_000, 0, 0, 0, 0, 0]
            for k, amount in enumerate(plan):
                page.locator("#g-push_amount").fill(str(amount))
                page.click("#game-step")
                if k < len(plan) - 1:
                    page.wait_for_selector("#game-step:enabled")
            page.wait_for_selector("#game-score:not([hidden])")
            page.set_viewport_size({"width": 1440, "height": 1400})
            page.screenshot(path=str(ROOT / "docs" / "simulator-game.png"), full_page=True)
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    print("wrote docs/simulator.png and docs/simulator-game.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
