"""What watching a ring costs it: live capture, Prometheus metrics, the dashboard in a browser.

Each figure is a hop-rate ratio, *with* over *without*, measured side by side in alternating
windows a few seconds apart (which of the two goes first alternates too, so a drift of the
shared machine's load does not favour either), the way ``measure.hop_rate_pairs`` compares
ringemu with a raw ring:

- **capture**: one ring; in its *with* windows a capture reader (the very ``CaptureReader`` of
  ``ringemu capture``, in a thread of this process, writing to /dev/null) holds a lease, so
  every station publishes a copy of every hop; in its *without* windows none does.
- **metrics**: two rings of the same size, one with ``--metrics-port`` and one without, only
  one running at a time (the other stopped with SIGSTOP, as ``hop_rate_pairs`` does), the one
  with metrics scraped every second during its windows (Prometheus's default is every 15 s).
- **web**: one ``ringemu up --web`` process; in its *with* windows headless Chromium shows the
  dashboard (its own dashboard process, the websocket, the browser drawing it); in its
  *without* windows the tab is blank, so the dashboard process is gone and the server idles.
  Needs Debian's chromium and Playwright; skipped (with the reason) otherwise.

This machine's 2 cores are shared, so hop rates swing with everyone else's load. Each window
therefore also measures CPU time from ``/proc``: the ring's own processes' CPU per hop (which
other load hardly moves: what a hop costs the ring, with and without the watcher) and the
watcher's CPU (the capture reader's thread, the metrics scraper's HTTP answers inside the
monitor, the web server with its dashboard processes and the browser), as a share of one core.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Callable

from ringemu.bench.measure import Series, _ring, _signal_all
from ringemu.live.launcher import LiveRing
from ringemu.live.client import ControlClient
from ringemu.live.paths import find_ring

CHROMIUM = "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int], task_of: int | None = None) -> float:
    """User + system CPU seconds of ``pids`` (whole processes; with ``task_of`` the pids are
    threads of that process). Gone processes count nothing."""
    total = 0
    for pid in pids:
        path = f"/proc/{pid}/stat" if task_of is None else f"/proc/{task_of}/task/{pid}/stat"
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rindex(b")") + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / CLK_TCK


def descendants(root: int) -> list[int]:
    """Every process below ``root`` (read from /proc; nothing is signalled)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        ppid = int(data[data.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


Window = Callable[[float], tuple[float, float, float]]
"""Measure one window of ``seconds``: (hops/s, ring CPU seconds per hop, watcher CPU share)."""


def window(passes: Callable[[], tuple[int, float]], ring_pids: Callable[[], list[int]],
           watcher_cpu: Callable[[], float]) -> Window:
    def measure(seconds: float) -> tuple[float, float, float]:
        p1, t1 = passes()
        r1, w1, c1 = cpu_seconds(ring_pids()), watcher_cpu(), time.monotonic()
        time.sleep(seconds)
        p2, t2 = passes()
        r2, w2, c2 = cpu_seconds(ring_pids()), watcher_cpu(), time.monotonic()
        hops = p2 - p1
        return (hops / (t2 - t1), (r2 - r1) / hops if hops else float("nan"),
                (w2 - w1) / (c2 - c1))

    return measure


def _pairs(rounds: int, seconds: float, settle: float, measure: Window,
           with_on: Callable[[], None], with_off: Callable[[], None],
           tick: Callable[[float], None] | None = None) -> dict:
    """``rounds`` pairs of windows; ``with_on``/``with_off`` switch the thing measured."""
    on, off, ratio = Series(), Series(), Series()
    cpu_on, cpu_off, cpu_ratio, watcher = Series(), Series(), Series(), Series()
    for i in range(rounds):
        order = (True, False) if i % 2 == 0 else (False, True)
        got = {}
        for state in order:
            (with_on if state else with_off)()
            time.sleep(settle)
            got[state] = measure(seconds)
        (r_on, c_on, w_on), (r_off, c_off, _) = got[True], got[False]
        on.add(r_on)
        off.add(r_off)
        ratio.add(r_on / r_off if r_off else float("nan"))
        cpu_on.add(c_on * 1e6)
        cpu_off.add(c_off * 1e6)
        cpu_ratio.add(c_on / c_off if c_off else float("nan"))
        watcher.add(100.0 * w_on)
        if tick is not None:
            tick((i + 1) / rounds)
    with_off()
    return {"with": on, "without": off, "ratio": ratio, "cpu_us_per_hop_with": cpu_on,
            "cpu_us_per_hop_without": cpu_off, "cpu_per_hop_ratio": cpu_ratio,
            "watcher_cpu_pct": watcher}


def _passes(request: Callable[[dict], dict]) -> Callable[[], tuple[int, float]]:
    def passes() -> tuple[int, float]:
        s = request({"cmd": "summary"})
        return s["token_passes"], s["duration_s"]

    return passes


def capture_cost(n: int, rounds: int, seconds: float, runs_dir: str,
                 tick: Callable[[float], None] | None = None) -> dict:
    from ringemu.frames.pcapstream import PcapStream
    from ringemu.live.capture_reader import CaptureReader

    state: dict = {"thread": None, "stop": False, "records": 0, "dropped": 0, "tid": None,
                   "cpu": 0.0}
    devnull = open(os.devnull, "wb")

    with _ring(runs_dir, stations=n) as ring:
        assert ring.info is not None
        info = ring.info

        def on() -> None:
            if state["thread"] is not None:
                return
            state["stop"] = False
            reader = CaptureReader(info, PcapStream(devnull))

            def work() -> None:
                state["tid"] = threading.get_native_id()
                try:
                    counts = reader.run(lambda: state["stop"])
                    state["records"] += counts.records
                    state["dropped"] += counts.dropped
                finally:
                    reader.close()
                    state["cpu"] += time.thread_time()
                    state["tid"] = None

            state["thread"] = threading.Thread(target=work, daemon=True)
            state["thread"].start()

        def off() -> None:
            if state["thread"] is None:
                return
            state["stop"] = True
            state["thread"].join(timeout=10)
            state["thread"] = None

        def reader_cpu() -> float:
            tid = state["tid"]
            live = cpu_seconds([tid], task_of=os.getpid()) if tid is not None else 0.0
            return state["cpu"] + live

        pids = [r["pid"] for r in ring.records]
        measure = window(_passes(lambda c: ring.request(c, timeout=5.0)), lambda: pids,
                         reader_cpu)
        time.sleep(0.5)
        try:
            r = _pairs(rounds, seconds, 0.4, measure, on, off, tick)
        finally:
            off()
            devnull.close()
        r["copies_dropped"] = ring.request({"cmd": "status"})["capture"]["dropped"]
    r["records"], r["reader_dropped"] = state["records"], state["dropped"]
    return r


def metrics_cost(n: int, rounds: int, seconds: float, runs_dir: str,
                 tick: Callable[[float], None] | None = None) -> dict:
    port = _free_port()
    scraping = threading.Event()
    done = threading.Event()
    scrapes = [0]

    def scraper() -> None:
        while not done.is_set():
            if scraping.wait(0.2):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                                timeout=5) as resp:
                        resp.read()
                    scrapes[0] += 1
                except OSError:
                    pass
                done.wait(1.0)

    with _ring(runs_dir, stations=n, metrics_port=port) as with_m, \
            _ring(runs_dir, stations=n) as without:
        time.sleep(0.5)
        _signal_all(without.records, signal.SIGSTOP)
        current = {"on": True}

        def on() -> None:
            if not current["on"]:
                _signal_all(without.records, signal.SIGSTOP)
                _signal_all(with_m.records, signal.SIGCONT)
                current["on"] = True
            scraping.set()

        def off() -> None:
            scraping.clear()
            if current["on"]:
                _signal_all(with_m.records, signal.SIGSTOP)
                _signal_all(without.records, signal.SIGCONT)
                current["on"] = False

        def live() -> LiveRing:
            return with_m if current["on"] else without

        measure = window(_passes(lambda c: live().request(c, timeout=5.0)),
                         lambda: [r["pid"] for r in live().records], lambda: 0.0)
        thread = threading.Thread(target=scraper, daemon=True)
        thread.start()
        try:
            r = _pairs(rounds, seconds, 0.3, measure, on, off, tick)
        finally:
            done.set()
            scraping.set()
            _signal_all(with_m.records, signal.SIGCONT)
            _signal_all(without.records, signal.SIGCONT)
            thread.join(timeout=10)
    r["scrapes"] = scrapes[0]
    return r


def web_cost(n: int, rounds: int, seconds: float, runs_dir: str,
             tick: Callable[[float], None] | None = None) -> dict:
    """See the module docstring; ``{"skipped": reason}`` without a browser to drive."""
    if not os.path.exists(CHROMIUM):
        return {"skipped": "Debian's chromium is not installed"}
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return {"skipped": "playwright is not installed"}
    port = _free_port()
    env = {**os.environ, "RINGEMU_RUNS": runs_dir}
    proc = subprocess.Popen([sys.executable, "-m", "ringemu", "up", "--web", "--port", str(port),
                             "-n", str(n)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=env, start_new_session=True)
    try:
        url = None
        lines = []
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r"dashboard at (http://\S+)", line)
            url = m.group(1) if m else None
        if url is None:
            return {"skipped": "ringemu up --web did not start: " + "".join(lines)[-300:]}
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        run_dir = re.search(r"records in (\S+)", lines[0]).group(1)
        info = find_ring(Path(run_dir).name)
        client = ControlClient.for_ring(info)

        ring_pids = [p["pid"] for p in info.processes]

        def watcher_cpu() -> float:
            """The web server, its dashboard processes, and the browser (below this one)."""
            up = [proc.pid] + [p for p in descendants(proc.pid) if p not in ring_pids]
            return cpu_seconds(up) + cpu_seconds(descendants(os.getpid()))

        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--no-sandbox", "--disable-gpu"])
            try:
                page = browser.new_page(viewport={"width": 1600, "height": 1000})
                page.route("**/*", lambda route: route.continue_()
                           if route.request.url.startswith(f"http://127.0.0.1:{port}/")
                           else route.abort())
                shown = {"on": False}

                def on() -> None:
                    if not shown["on"]:
                        page.goto(url)
                        page.wait_for_timeout(1500)  # the dashboard process starts, draws
                        shown["on"] = True

                def off() -> None:
                    if shown["on"]:
                        page.goto("about:blank")
                        page.wait_for_timeout(500)
                        shown["on"] = False

                time.sleep(0.5)
                measure = window(_passes(lambda c: client.request(c, timeout=5.0)),
                                 lambda: ring_pids, watcher_cpu)
                r = _pairs(rounds, seconds, 0.3, measure, on, off, tick)
            finally:
                browser.close()
        return r
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
