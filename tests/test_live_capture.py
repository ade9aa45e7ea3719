"""Live capture (``ringemu capture``) of a running ring: into tshark through a pipe, to a file,
one link, and a reader too slow for the ring (its losses counted, the ring unharmed)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
from scapy.utils import rdpcap

import ringemu.frames.layers as layers
from ringemu.live.launcher import LiveRing, RingConfig
from ringemu.live.paths import same_process
from tests.live_helpers import wait_for

pytestmark = pytest.mark.live

SUMMARY = re.compile(r"ringemu capture: ([\d,]+) records from (.*?) \(([\d,]+) tokens, "
                     r"([\d,]+) frames, ([\d,]+) markers, ([\d,]+) purges, ([\d,]+) other MAC "
                     r"frames, ([\d,]+) damaged\); ([\d,]+) copies dropped")


def counts_of(stderr: str) -> dict:
    m = SUMMARY.search(stderr)
    assert m, stderr
    n = [g if " " in g else int(g.replace(",", "")) for g in m.groups()]
    return dict(zip(("records", "links", "tokens", "frames", "markers", "purges", "mac",
                     "damaged", "dropped"), n))


@pytest.fixture
def ring(short_runtime, tmp_path, request):
    kw = getattr(request, "param", {})
    r = LiveRing(RingConfig(stations=6, snapshot_interval=0.1, runs_dir=str(tmp_path / "runs"),
                            **kw))
    r.start()
    yield r
    r.stop()
    assert [p for p in r.records if same_process(p["pid"], p.get("start_time"))] == []


def capture_cmd(ring: LiveRing, *args: str) -> list[str]:
    return [sys.executable, "-m", "ringemu", "capture", "--run", ring.info.runtime_dir, *args]



def status(ring: LiveRing) -> dict:
    return ring.request({"cmd": "status"})


needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None,
                                  reason="tshark is not installed (apt-get install tshark)")


@needs_tshark
@pytest.mark.parametrize("ring", [{}, {"transport": "tcp"}], indirect=True,
                         ids=["ipc", "tcp"])
def test_tshark_reads_the_live_ring_from_a_pipe(ring):
    """``ringemu capture -w - | tshark -i -`` while faults are injected: tshark decodes tokens,
    data frames, markers and purges, marks nothing malformed, and sees every record the capture
    says it wrote; an injected corruption is on its link."""
    cap = subprocess.Popen(capture_cmd(ring, "-w", "-", "--duration", "5"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           start_new_session=True)
    shark = subprocess.Popen(
        ["tshark", "-i", "-", "-l", "-T", "fields", "-E", "separator=|", "-e", "tr.frame",
         "-e", "tr.fc", "-e", "llc.type", "-e", "_ws.malformed", "-e", "_ws.expert"],
        stdin=cap.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    cap.stdout.close()  # tshark holds the read end
    wait_for(lambda: status(ring)["capture"]["readers"] == 1)
    time.sleep(0.5)
    for kind, station in (("lose", 2), ("corrupt", 4), ("dup", 1)):
        assert ring.request({"cmd": "inject", "kind": kind, "station": station})["ok"]
        time.sleep(0.8)
    cap_err = cap.communicate(timeout=60)[1].decode()
    rows, shark_err = shark.communicate(timeout=60)
    assert cap.returncode == 0, cap_err
    assert shark.returncode == 0, shark_err
    got = counts_of(cap_err)
    print("live capture through tshark:", got)
    lines = rows.splitlines()
    fields = [line.split("|") for line in lines]
    assert len(fields) == got["records"] > 1000
    assert [f for f in fields if f[3] or f[4]] == [], "tshark marked records malformed"
    seen = Counter("token" if f[0] == "0" else
                   {"0x88b5": "frame", "0x88b6": "marker"}.get(f[2], f"fc {f[1]}")
                   for f in fields)
    print("tshark decoded:", dict(seen))
    # a damaged token or frame is counted apart by the capture, as what it was by tshark
    assert got["tokens"] <= seen["token"] <= got["tokens"] + got["damaged"]
    assert got["tokens"] > 100
    assert seen["frame"] > 0 and seen["marker"] == got["markers"] > 0
    assert seen["fc 0x04"] == got["purges"] > 0  # the purges after lose and dup
    assert got["damaged"] >= 1  # the corrupted token or frame, on the link it crossed
    assert got["links"] == "6 links"
    after = status(ring)
    assert after["capture"]["readers"] == 0  # the lease was given up
    assert after["capture"]["tapping"] == [] or wait_for(
        lambda: status(ring)["capture"]["tapping"] == [])
    # the stations' own counters come with their stats, asked about once a second
    after = wait_for(lambda: (lambda s: s if s["capture"]["copies"] >= got["records"]
                              else None)(status(ring)))
    print("capture status after:", after["capture"])


def test_one_link_to_a_file(ring, tmp_path):
    """``--link K -w FILE``: only what station K receives; scapy reads every record."""
    out = tmp_path / "link3.pcap"
    done = subprocess.run(capture_cmd(ring, "--link", "3", "-w", str(out), "--count", "300"),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    got = counts_of(done.stderr)
    assert got["records"] == 300 and got["links"] == "link 3"
    packets = rdpcap(str(out))
    assert len(packets) == 300
    assert all(isinstance(p, (layers.TRTokenRecord, layers.TRRecord)) for p in packets)
    stamps = [float(p.time) for p in packets]
    assert stamps == sorted(stamps)  # one link: in its own order
    tapped = status(ring)["capture"]
    assert tapped["readers"] == 0


def test_a_slow_reader_loses_copies_not_ring_time(ring):
    """A reader whose output nobody reads: its queue fills, the stations drop copies and count
    them (status ``capture.dropped``), the ring runs on with no alarm, and the capture says on
    stderr how many copies it missed."""
    cap = subprocess.Popen(capture_cmd(ring, "-w", "-", "--buffer", "10"),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           start_new_session=True)
    try:
        wait_for(lambda: status(ring)["capture"]["readers"] == 1)
        before = status(ring)
        dropped = wait_for(lambda: status(ring)["capture"]["dropped"], timeout=60)
        time.sleep(1.0)
        after = status(ring)
        assert after["capture"]["readers"] == 1  # slow, not dead: it keeps its lease
        assert after["token_passes"] > before["token_passes"]
        assert after["alarms"] == [] and set(after["station_states"].values()) == {"alive"}
        print("stations dropped", dropped, "copies; later", after["capture"]["dropped"])
        sink = threading.Thread(target=cap.stdout.read, daemon=True)  # read it all at last
        sink.start()
        time.sleep(2.0)  # it catches up: copies after the gaps arrive
        os.kill(cap.pid, signal.SIGINT)
        err = cap.stderr.read().decode()
        cap.wait(timeout=30)
        sink.join(timeout=30)
    finally:
        if cap.poll() is None:
            cap.kill()
            cap.wait()
    assert cap.returncode == 0, err
    got = counts_of(err)
    print("slow reader:", got)
    assert 0 < got["dropped"] <= status(ring)["capture"]["dropped"]
