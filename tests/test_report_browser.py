"""The report as a person sees it: headless Chromium (Debian's ``chromium``) opens the page.

Playwright drives the system's Chromium (``executable_path``; Playwright's own browser download
is not used). The page must load with no request but for itself, show every chart and the
space-time diagram at a real size (DOM queries on the SVG elements and their boxes), and its
screenshot must not be blank. With ``RINGEMU_UPDATE_DOCS=1`` the screenshot is kept as
``docs/report.png`` (the README shows it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DOCS = Path(__file__).parent.parent / "docs" / "report.png"
SIM = ["sim", "-n", "6", "-r", "300", "--seed", "3", "--inject", "lose@60:2",
       "--inject", "dup@150:3", "--inject", "kill@220:4", "--restart", "-q"]

playwright = pytest.importorskip("playwright.sync_api",
                                 reason="the playwright package is not installed")
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip("Debian's chromium is not installed (scripts/test installs it when run as "
                "root)", allow_module_level=True)


def ringemu(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ringemu", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def page_and_requests(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    events, html = tmp / "sim.jsonl", tmp / "report.html"
    p = ringemu(*SIM, "--events", events.name, cwd=tmp)
    assert p.returncode in (0, 2), p.stderr
    p = ringemu("report", events.name, "-o", html.name, cwd=tmp)
    assert p.returncode == 0, p.stderr
    requests: list[str] = []
    with playwright.sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=CHROMIUM,
                                         args=["--no-sandbox", "--disable-gpu"])
        except Exception as e:  # noqa: BLE001 (a browser that cannot start here: say why)
            pytest.skip(f"chromium did not start: {str(e).splitlines()[0]}")
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.on("request", lambda r: requests.append(r.url))
            page.goto(html.as_uri(), wait_until="load")
            yield page, requests, tmp
        finally:
            browser.close()


def box(page, selector: str) -> dict:
    el = page.query_selector(selector)
    assert el is not None, f"{selector} is not on the page"
    b = el.bounding_box()
    assert b is not None, f"{selector} is not rendered"
    return b


def test_the_page_fetches_nothing_but_itself(page_and_requests):
    page, requests, tmp = page_and_requests
    assert requests and all(u.startswith("file://") for u in requests), requests
    assert len(requests) == 1, f"the page asked for more than itself: {requests}"


def test_every_chart_is_drawn(page_and_requests):
    page, _, _ = page_and_requests
    for fig in ("timeline", "latency", "hoprate", "stations"):
        b = box(page, f"#fig-{fig} svg")
        assert b["width"] > 500 and b["height"] > 100, (fig, b)
    # the token count points: one per snapshot, of each verdict the run had
    for verdict in ("ok", "lost", "duplicate", "incomplete"):
        n = page.eval_on_selector_all(f"#fig-timeline [id='counts-{verdict}'] path",
                                      "els => els.length")
        assert n >= 1, verdict
    faults = page.eval_on_selector_all("#fig-timeline [id^='fault-']", "els => els.length")
    assert faults == 3
    bars = page.eval_on_selector_all("#fig-latency [id='latency-bars'] path",
                                     "els => els.length")
    assert bars == 3


def test_the_space_time_diagram_is_drawn(page_and_requests):
    page, _, _ = page_and_requests
    b = box(page, "#spacetime")
    assert b["width"] > 800 and b["height"] > 300
    stations = page.eval_on_selector_all("#spacetime .station-line", "els => els.length")
    assert stations == 6
    assert page.eval_on_selector_all("#spacetime line.arrow", "els => els.length") >= 10
    assert page.eval_on_selector_all("#spacetime line.arrow-marker", "els => els.length") >= 6
    assert page.eval_on_selector_all("#spacetime .state", "els => els.length") == 6
    assert page.eval_on_selector_all("#spacetime .channel", "els => els.length") == 6
    cut = box(page, "#spacetime #cut")
    assert cut["height"] > 200, "the cut goes across every station"
    assert page.eval_on_selector_all("#spacetime .fault", "els => els.length") >= 1


def test_the_screenshot_is_not_blank(page_and_requests):
    from PIL import Image, ImageStat

    page, _, tmp = page_and_requests
    shot = tmp / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    part = tmp / "spacetime.png"
    page.query_selector("#fig-spacetime").screenshot(path=str(part))
    for path in (shot, part):
        img = Image.open(path).convert("RGB")
        assert img.width >= 800 and img.height >= 300
        colours = img.getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 50, f"{path.name} looks blank"
        assert max(ImageStat.Stat(img).stddev) > 20, f"{path.name} looks blank"
    if os.environ.get("RINGEMU_UPDATE_DOCS") == "1":
        shutil.copy(shot, DOCS)
