"""``ringemu up --web``: the dashboard in headless Chromium (Debian's ``chromium``), driven by
Playwright pointed at that browser.

The page's terminal draws on a canvas, so what it shows is read the way the browser's terminal
reads it: every frame the page's websocket receives is fed to a VT100 screen (pyte) of the size
the page asked for. The test opens the page, sees the ring and the alarm log, presses ``l``
(lose at the selected station) and sees the alarm log show the LOST alarm, which the ring's own
records confirm. Nothing may be fetched from anywhere but the ring's own server (every other
request is aborted and listed), and the page refuses a visitor without the ring's token. Its
screenshot goes to the test's folder, and to ``docs/web-dashboard.png`` with
``RINGEMU_SAVE_SCREENSHOTS=1`` (how the one in ``docs/`` was made).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.test_bad_input import session_processes

CHROMIUM = "/usr/bin/chromium"
DOCS = Path(__file__).resolve().parent.parent / "docs"

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.path.exists(CHROMIUM),
                       reason="Debian's chromium is not installed (scripts/test installs it "
                              "when run as root: apt-get install chromium)"),
]
playwright_api = pytest.importorskip("playwright.sync_api",
                                     reason="playwright is not installed (test extras)")
pyte = pytest.importorskip("pyte", reason="pyte is not installed (test extras)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def web_ring(tmp_path, short_runtime):
    """``ringemu up --web`` in a session of its own; yields (url, port, run folder, process)."""
    port = free_port()
    env = {**os.environ, "RINGEMU_RUNS": str(tmp_path / "runs")}
    proc = subprocess.Popen([sys.executable, "-m", "ringemu", "up", "--web", "--port", str(port),
                             "-n", "6", "--snapshot-interval", "100"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    lines: list[str] = []
    url = None
    deadline = time.monotonic() + 60
    while url is None and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"dashboard at (http://\S+)", line)
        url = m.group(1) if m else None
    assert url, ("".join(lines), proc.stderr.read() if proc.poll() is not None else "")
    run_dir = Path(re.search(r"records in (\S+)", lines[0]).group(1))
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    try:
        yield url, port, run_dir, proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)  # Ctrl-C: the ring and every dashboard end
        try:
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while session_processes(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert session_processes(proc.pid) == [], "processes left behind"
        assert [e for e in events(run_dir) if e["event"] == "error"] == []


class Screen:
    """What the page's terminal shows: its websocket's frames on a VT100 screen."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.screen: pyte.Screen | None = None
        self.stream: pyte.ByteStream | None = None

    def opened(self, ws) -> None:
        """The page opens its websocket with the terminal's size in the query."""
        q = dict(re.findall(r"(width|height)=(\d+)", ws.url))
        with self.lock:
            self.screen = pyte.Screen(int(q["width"]), int(q["height"]))
            self.stream = pyte.ByteStream(self.screen)
        ws.on("framesent", self.sent)
        ws.on("framereceived", self.received)

    def sent(self, payload) -> None:
        if isinstance(payload, str) and payload.startswith('["resize"'):
            size = json.loads(payload)[1]
            with self.lock:
                assert self.screen is not None
                self.screen.resize(size["height"], size["width"])

    def received(self, payload) -> None:
        if isinstance(payload, (bytes, bytearray)):
            with self.lock:
                assert self.stream is not None
                self.stream.feed(bytes(payload))

    def text(self) -> str:
        with self.lock:
            return "" if self.screen is None else "\n".join(self.screen.display)


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.2, sleep=time.sleep):
    """Poll ``predicate``; with Playwright's sync API, ``sleep`` must be the page's own wait
    (its events are delivered only while it runs)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = predicate()
        if v:
            return v
        sleep(interval)
    raise AssertionError("condition not met in time")


def events(run_dir: Path) -> list[dict]:
    path = run_dir / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_dashboard_in_a_browser_shows_the_ring_and_a_key_injects_a_fault(web_ring, tmp_path):
    url, port, run_dir, proc = web_ring
    origin = f"http://127.0.0.1:{port}"
    for path in ("/", "/ws?width=80&height=24", "/?token=wrong"):  # no token, no dashboard
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{origin}{path}", timeout=10)
        assert refused.value.code == 403
    elsewhere: list[str] = []
    screen = Screen()
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})

            def only_here(route):
                if route.request.url.startswith(origin + "/"):
                    route.continue_()
                else:
                    elsewhere.append(route.request.url)
                    route.abort()

            page.route("**/*", only_here)
            page.on("websocket", screen.opened)
            page.goto(url)

            def pause(seconds: float) -> None:
                page.wait_for_timeout(seconds * 1000)

            def ring_and_alarms(t: str) -> str | None:
                """The ring panel drew every station, and the alarm log is there."""
                drawn = all(re.search(rf"\[{k}A?\s*\]", t) for k in range(6))  # A: active monitor
                return t if drawn and "token" in t and "alarms" in t else None

            try:
                shown = wait_for(lambda: ring_and_alarms(screen.text()), sleep=pause)
            except AssertionError:
                raise AssertionError("the page's terminal never showed the ring:\n"
                                     + screen.text()) from None
            print("the page's terminal:\n" + shown)
            assert "LOST" not in shown
            page.locator(".xterm-screen").click()  # focus the terminal, as a person would
            page.keyboard.press("l")
            lost = wait_for(lambda: (lambda t: t if re.search(r"LOST", t) else None)(
                screen.text()), sleep=pause)
            print("after l:\n" + lost)
            pause(0.5)  # let the canvas catch up with the websocket for the picture
            png = page.screenshot(path=str(tmp_path / "web-dashboard.png"))
            if os.environ.get("RINGEMU_SAVE_SCREENSHOTS") == "1":
                (DOCS / "web-dashboard.png").write_bytes(png)
        finally:
            browser.close()
    assert elsewhere == [], f"the page tried to fetch from elsewhere: {elsewhere}"
    assert len(png) > 30_000  # a drawn dashboard, not an empty page
    injected = wait_for(lambda: [e for e in events(run_dir) if e["event"] == "inject"])
    assert [(e["fault"], e["scheduled"]) for e in injected] == [("lose", None)]
    assert wait_for(lambda: [e for e in events(run_dir) if e["event"] == "alarm"
                             and e["kind"] == "LOST" and e["action"] == "raised"])
    assert proc.poll() is None  # the tab went, the ring runs on


def test_web_refuses_a_host_that_is_not_an_address(tmp_path):
    done = subprocess.run([sys.executable, "-m", "ringemu", "up", "--web", "--bind",
                           "example.org"], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "RINGEMU_RUNS": str(tmp_path / "runs")})
    assert done.returncode == 2 and "--bind" in done.stderr
    assert shutil.which("true")  # nothing was started: no runs folder
    assert not (tmp_path / "runs").exists()
