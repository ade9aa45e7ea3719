"""``ringemu report``: the page, its charts and the space-time diagram, from either shell.

The browser's view of the page is tested in ``test_report_browser.py``; here the HTML itself:
nothing it refers to is outside it, every section is there, the diagram's arrows pair what was
sent with what was received, and the bold ones are exactly the messages the channel recorded.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ringemu.report import spacetime
from ringemu.report.run import load_run
from ringemu.report.spacetime import Point, pair

SIM = ["sim", "-n", "6", "-r", "300", "--seed", "3", "--inject", "lose@60:2",
       "--inject", "dup@150:3", "--inject", "kill@220:4", "--restart", "-q"]


def ringemu(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ringemu", *args], capture_output=True,
                          text=True, timeout=300, **kw)


@pytest.fixture(scope="module")
def sim_events(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("report") / "sim.jsonl"
    p = ringemu(*SIM, "--events", str(path))
    assert p.returncode in (0, 2), p.stderr
    return path


class Refs(HTMLParser):
    """Every attribute that could make a browser fetch something."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "srcset", "data", "action", "poster",
                        "background") and value is not None:
                self.refs.append((tag, name, value))


def test_the_report_is_one_file_that_fetches_nothing(sim_events, tmp_path):
    out = tmp_path / "report.html"
    p = ringemu("report", str(sim_events), "-o", str(out))
    assert p.returncode == 0, p.stderr
    html = out.read_text()
    refs = Refs()
    refs.feed(html)
    assert refs.refs, "the page has its own anchors at least"
    for tag, name, value in refs.refs:
        assert value.startswith("#"), f"<{tag} {name}={value!r}> points outside the page"
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", html, re.I)
    assert not re.search(r"url\(\s*[\"']?(https?:)?//", html, re.I)
    assert "@import" not in html
    assert "script" not in refs.tags and "link" not in refs.tags and "img" not in refs.tags


def test_every_section_is_there(sim_events, tmp_path):
    out = tmp_path / "report.html"
    assert ringemu("report", str(sim_events), "-o", str(out)).returncode == 0
    html = out.read_text()
    for anchor in ("summary", "timeline", "latency", "hoprate", "stations",
                   "spacetime-section", "faults", "alarms"):
        assert f'id="{anchor}"' in html, anchor
    assert html.count("<svg") >= 5
    for gid in ("counts-ok", "counts-lost", "counts-duplicate", "counts-incomplete",
                "fault-1", "fault-2", "fault-3", "alarm-1", "purge-1", "epoch-1",
                "latency-bars", "hop-rate-line", "station-tokens", "station-drops-dropped"):
        assert f'id="{gid}' in html, gid
    # the checker's account of every fault: lose, dup and kill, each detected
    run = load_run(str(sim_events))
    assert [f["outcome"] for f in run.summary["faults"]] == ["detected"] * 3
    assert html.count('class="outcome-detected"') == 3


def test_the_same_events_give_the_same_page(sim_events, tmp_path):
    a, b = tmp_path / "a.html", tmp_path / "b.html"
    assert ringemu("report", str(sim_events), "-o", str(a)).returncode == 0
    assert ringemu("report", str(sim_events), "-o", str(b)).returncode == 0
    assert a.read_bytes() == b.read_bytes()


def test_the_default_snapshot_is_the_first_alarms(sim_events):
    from ringemu.report.page import default_snapshot

    run = load_run(str(sim_events))
    assert default_snapshot(run) == run.history.alarms[0].snapshot_id
    assert run.history.alarms[0].kind == "LOST"


def test_the_lost_snapshot_shows_no_token_after_the_drop(sim_events):
    run = load_run(str(sim_events))
    sid = run.history.alarms[0].snapshot_id
    d = spacetime.build(run, sid)
    assert d.traced == set(d.order), "every station answered with its trace"
    assert not [a for a in d.arrows if a.crosses], "a LOST cut finds nothing in transit"
    lose = run.history.faults[0]
    tokens_after = [a for a in d.arrows if a.kind in ("token", "frame") and a.sent is not None
                    and a.sent > lose.fired_at]
    assert tokens_after == [], "no token unit moves once the only one was dropped"
    markers = [a for a in d.arrows if a.label == f"marker:{sid}"]
    assert len(markers) == len(d.order), "the marker goes once round the ring"
    assert all(a.sent is not None and a.received is not None for a in markers)
    for a in markers:  # each marker leaves at its sender's cut and arrives at the next one's
        assert a.sent == pytest.approx(d.cuts[a.src])
        if a.dst != d.snap["initiator"]:
            assert a.received == pytest.approx(d.cuts[a.dst])


def test_the_bold_arrows_are_the_channels_records(sim_events):
    run = load_run(str(sim_events))
    dup = next(a for a in run.history.alarms if a.kind == "DUPLICATE")
    d = spacetime.build(run, dup.snapshot_id)
    recorded = d.snap["in_transit"]
    crossing = [a for a in d.arrows if a.crosses]
    assert len(recorded) == d.snap["count"] - sum(d.snap["held"].values()) >= 1
    assert sorted((a.src, a.dst, a.kind) for a in crossing) == sorted(
        (m["from"], m["to"], m["kind"]) for m in recorded)
    for a in d.arrows:  # FIFO: every arrow goes forward in time, to the next station
        if a.sent is not None and a.received is not None:
            assert a.received >= a.sent
        nxt = d.order[(d.order.index(a.src) + 1) % len(d.order)]
        assert a.dst == nxt


def test_pairing_follows_the_marker_and_stops_at_a_mismatch():
    sends = [Point(1, "token"), Point(2, "frame:1:3:4"), Point(3, "marker:7"),
             Point(4, "token"), Point(5, "garbled:token"), Point(6, "token")]
    recvs = [Point(1.5, "token"), Point(2.5, "frame:1:3:4"), Point(3.5, "marker:7"),
             Point(4.5, "token"), Point(5.5, "malformed"), Point(6.5, "claim:2")]
    assert sorted(pair(sends, recvs, "marker:7")) == [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4)]
    # a receive earlier than its send cannot be it
    assert pair([Point(2, "token")], [Point(1, "token")], "marker:1") == []
    # no marker on either side: in order, each receive after its send
    assert pair([Point(1, "token"), Point(3, "token")],
                [Point(0.5, "token"), Point(1.2, "token"), Point(3.1, "token")],
                "marker:9") == [(0, 1), (1, 2)]


def test_a_snapshot_without_a_trace_is_drawn_from_its_own_record(sim_events, tmp_path):
    run = load_run(str(sim_events))
    untraced = next(r.snapshot_id for r in run.history.results
                    if r.count is not None and r.snapshot_id not in run.history.traces)
    svg, notes = spacetime.svg(run, untraced)
    assert any("was not traced" in n for n in notes)
    assert 'id="cut"' in svg and svg.count('class="state"') == len(run.snapshot_event(
        untraced)["states"])
    out = tmp_path / "r.html"
    p = ringemu("report", str(sim_events), "--snapshot", str(untraced), "-o", str(out))
    assert p.returncode == 0, p.stderr
    assert f"Snapshot {untraced}," in out.read_text()


def test_a_run_still_going_is_reported_as_far_as_it_got(sim_events, tmp_path):
    lines = sim_events.read_text().splitlines()
    cut = tmp_path / "partial.jsonl"
    cut.write_text("\n".join(lines[: len(lines) // 2]) + "\n" + lines[len(lines) // 2][:17])
    out = tmp_path / "partial.html"
    p = ringemu("report", str(cut), "-o", str(out))
    assert p.returncode == 0, p.stderr
    assert "still running" in out.read_text()


def test_report_to_stdout_and_by_run_folder(sim_events, tmp_path):
    folder = tmp_path / "runs" / "r1"
    folder.mkdir(parents=True)
    (folder / "events.jsonl").write_bytes(sim_events.read_bytes())
    p = ringemu("report", "r1", "-o", "-", env={**os.environ, "RINGEMU_RUNS":
                                                str(tmp_path / "runs")})
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("<!DOCTYPE html>") and p.stdout.rstrip().endswith("</html>")


@pytest.mark.live
def test_report_of_a_live_run_draws_traced_snapshots(tmp_path, short_runtime):
    runs = tmp_path / "runs"
    p = ringemu("run", "-n", "5", "-d", "2.5", "--inject", "lose@0.8:2", "--inject",
                "dup@1.6:3", "--snapshot-interval", "100", "--runs-dir", str(runs), "--json",
                env={**os.environ, "RINGEMU_RUNTIME": str(short_runtime)})
    assert p.returncode in (0, 2), p.stderr
    run_dir = Path(json.loads(p.stdout.strip().splitlines()[-1])["run_dir"])
    run = load_run(str(run_dir))
    assert run.shell == "live" and run.finished
    assert run.history.traffic_log, "the monitor recorded the ring's counters"
    first = min(run.history.traces)
    assert set(run.history.traces[first]) == set(range(5)), "every station answered"
    d = spacetime.build(run, first)
    markers = [a for a in d.arrows if a.label == f"marker:{first}"]
    assert len(markers) == 5 and all(a.received is not None for a in markers)
    for a in d.arrows:
        if a.sent is not None and a.received is not None:
            assert a.received >= a.sent, "the stations share one clock"
    out = tmp_path / "live.html"
    assert ringemu("report", str(run_dir), "-o", str(out)).returncode == 0
    assert "live ring of 5 stations, finished" in out.read_text()
