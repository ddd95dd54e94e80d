"""The report opened in a real browser (headless Chromium, Debian's ``chromium`` package).

Checks what a reader gets: the page renders with no console message (the report has no script,
so any message is an error: a blocked or failed load), every figure loads, a screenshot is
produced, and the page makes no network request. Chromium's own background requests are sent
to an unresolvable host (``--host-resolver-rules``) so nothing leaves the machine; the page's
requests are told apart in Chromium's network log by their ``file://`` isolation key.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from sdnet.reports import write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="headless Chromium is not installed (Debian: apt-get install chromium; .ci/run "
    "installs it)",
)
DATA = Path(__file__).resolve().parents[1] / "data"
N_FIGURES = 15  # 14 figures of the sections and the decisive one again in the brief
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
PROBE = """<script>
window.__errors = [];
window.addEventListener("error", e => window.__errors.push(String(e.message || e.type)), true);
document.addEventListener("securitypolicyviolation", e => window.__errors.push(e.blockedURI));
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify({
    images: images.length,
    loaded: images.filter(i => i.complete && i.naturalWidth > 0).length,
    resources: performance.getEntriesByType("resource").map(r => r.name),
    errors: window.__errors,
  });
  document.body.appendChild(probe);
});
</script>"""


def _chromium(*args: str, user_data: Path) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={user_data}", *args],
        capture_output=True, text=True, timeout=180, check=False,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = importlib.util.spec_from_file_location("synthetic_study", DATA / "synthetic_study.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    study = module.write_study(tmp_path_factory.mktemp("study") / "results", n=32)
    return write_report(study, out=tmp_path_factory.mktemp("report"))


def _page_requests(net_log: Path) -> list[str]:
    """URLs the page itself asked for (not Chromium's background services)."""
    log = json.loads(net_log.read_text(encoding="utf-8"))
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params", {})
        if event["type"] == start_job and "file://" in str(params.get("network_isolation_key")):
            urls.append(str(params.get("url")))
    return urls


def test_report_renders_without_console_messages_or_network(report: Path,
                                                            tmp_path: Path) -> None:
    net_log = tmp_path / "net.json"
    done = _chromium(
        "--enable-logging=stderr", "--v=0", f"--log-net-log={net_log}",
        "--virtual-time-budget=10000", "--dump-dom", report.as_uri(),
        user_data=tmp_path / "profile",
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Which levers matter" in done.stdout and "Provenance" in done.stdout
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    assert _page_requests(net_log) == []


def test_network_check_would_catch_a_request(tmp_path: Path) -> None:
    """Control: the network-log check sees a page's request (sent nowhere: unresolvable)."""
    page = tmp_path / "control.html"
    page.write_text('<!DOCTYPE html><html><body><img src="https://example.invalid/x.png">'
                    "</body></html>", encoding="utf-8")
    net_log = tmp_path / "net.json"
    done = _chromium(f"--log-net-log={net_log}", "--virtual-time-budget=5000", "--dump-dom",
                     page.as_uri(), user_data=tmp_path / "profile")
    assert done.returncode == 0, done.stderr[-2000:]
    assert _page_requests(net_log) == ["https://example.invalid/x.png"]


def test_every_figure_loads(report: Path, tmp_path: Path) -> None:
    html = report.read_text(encoding="utf-8")
    # the probe needs an inline script; the report's policy otherwise stays as it is
    probed = html.replace("default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';")
    probed = probed.replace("</body>", PROBE + "</body>")
    page = tmp_path / "probed.html"
    page.write_text(probed, encoding="utf-8")
    done = _chromium("--virtual-time-budget=10000", "--dump-dom", page.as_uri(),
                     user_data=tmp_path / "profile")
    assert done.returncode == 0, done.stderr[-2000:]
    match = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, flags=re.DOTALL)
    assert match is not None, done.stdout[-2000:]
    probe = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert probe == {"images": N_FIGURES, "loaded": N_FIGURES, "resources": [], "errors": []}


def test_screenshot_shows_the_report(report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    done = _chromium(f"--screenshot={shot}", "--window-size=1000,3000",
                     "--virtual-time-budget=10000", report.as_uri(),
                     user_data=tmp_path / "profile")
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.is_file()
    from PIL import Image

    with Image.open(shot) as image:
        assert image.size == (1000, 3000)
        pixels = np.asarray(image.convert("L"), dtype=float)
    # text and figures drawn: a good share of the page is not background white
    assert (pixels < 200).mean() > 0.01
    assert pixels.std() > 10


WIDTH_PROBE = """<script>
window.addEventListener("load", () => {
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify({
    page: document.documentElement.scrollWidth - document.documentElement.clientWidth,
    cut: Array.from(document.querySelectorAll("figure div, figure")).filter(
      e => e.scrollWidth > e.clientWidth).map(e => [e.id, e.scrollWidth, e.clientWidth]),
    diagrams: Array.from(document.querySelectorAll("figure.wide img")).map(
      i => [i.getBoundingClientRect().left, i.getBoundingClientRect().right]),
    width: document.documentElement.clientWidth,
  });
  document.body.appendChild(probe);
});
</script>"""


def test_diagrams_fit_the_window_without_sideways_scrolling(report: Path,
                                                            tmp_path: Path) -> None:
    html = report.read_text(encoding="utf-8")
    probed = html.replace("default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';")
    page = tmp_path / "probed.html"
    page.write_text(probed.replace("</body>", WIDTH_PROBE + "</body>"), encoding="utf-8")
    done = _chromium("--window-size=1200,3000", "--virtual-time-budget=10000", "--dump-dom",
                     page.as_uri(), user_data=tmp_path / "profile")
    assert done.returncode == 0, done.stderr[-2000:]
    match = re.search(r'<pre id="probe">(.*?)</pre>', done.stdout, flags=re.DOTALL)
    assert match is not None, done.stdout[-2000:]
    probe = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert probe["diagrams"]  # the synthetic study's model has diagrams
    assert probe["cut"] == [] and probe["page"] <= 0
    for left, right in probe["diagrams"]:
        assert left >= 0 and right <= probe["width"]
