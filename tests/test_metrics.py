"""Prometheus metrics of a live ring (``--metrics-port``): scraped over HTTP from 127.0.0.1,
parsed as the exposition format, and checked to move with the ring: token passes grow, a lost
token raises ``ringemu_alarms_total{verdict="LOST"}`` and is counted detected with the latency
the run's summary gives, a killed station shows as down."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ringemu.live.launcher import LiveRing, RingConfig
from ringemu.live.paths import same_process
from tests.live_helpers import wait_for

pytestmark = pytest.mark.live


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    """Every sample of the exposition: (name, sorted labels) -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        assert r.headers["Content-Type"].startswith("text/plain")
        text = r.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict, name: str, **labels) -> float:
    return samples[(name, tuple(sorted(labels.items())))]



def listening_on(port: int) -> list[str]:
    """Local addresses of the TCP sockets listening on ``port`` (from /proc/net/tcp*)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, p = local.split(":")
            if int(p, 16) == port and state == "0A":
                found.append(addr)
    return found


@pytest.fixture
def ring(short_runtime, tmp_path):
    port = free_port()
    r = LiveRing(RingConfig(stations=5, snapshot_interval=0.1, metrics_port=port,
                            runs_dir=str(tmp_path / "runs")))
    r.start()
    yield r, port
    r.stop()
    assert [p for p in r.records if same_process(p["pid"], p.get("start_time"))] == []


def test_scraped_metrics_move_with_the_ring(ring):
    r, port = ring
    assert listening_on(port) == ["0100007F"]  # 127.0.0.1 only
    first = wait_for(lambda: (lambda s: s if value(s, "ringemu_snapshots_total",
                                                    verdict="OK") >= 3 else None)(scrape(port)))
    assert value(first, "ringemu_alarms_total", verdict="LOST") == 0
    assert value(first, "ringemu_ring_members") == 5
    assert {value(first, "ringemu_station_alive", station=str(k)) for k in range(5)} == {1.0}
    time.sleep(0.6)
    second = scrape(port)
    assert value(second, "ringemu_token_passes_total") > value(first,
                                                                "ringemu_token_passes_total")
    assert value(second, "ringemu_hop_rate") > 0
    # a station's own counters come with its stats, asked at most every second or so
    assert wait_for(lambda: (lambda s: s if all(
        value(s, "ringemu_station_tokens_total", station=str(k)) > 0 for k in range(5))
        else None)(scrape(port)))
    ok = value(second, "ringemu_snapshots_total", verdict="OK")
    assert ok > value(first, "ringemu_snapshots_total", verdict="OK")
    assert value(second, "ringemu_snapshot_duration_seconds_count") >= ok

    assert r.request({"cmd": "inject", "kind": "lose", "station": 2})["ok"]
    after = wait_for(lambda: (lambda s: s if value(
        s, "ringemu_faults_detected_total", kind="lose") == 1 else None)(scrape(port)))
    assert value(after, "ringemu_alarms_total", verdict="LOST") == 1
    assert value(after, "ringemu_faults_injected_total", kind="lose") == 1
    assert value(after, "ringemu_purges_total") >= 1
    latency = value(after, "ringemu_detection_latency_seconds_sum", kind="lose")
    assert value(after, "ringemu_detection_latency_seconds_count", kind="lose") == 1
    summary = r.request({"cmd": "summary"}, timeout=5.0)
    (fault,) = summary["faults"]
    assert fault["outcome"] == "detected"
    assert latency * 1000 == pytest.approx(fault["detection_latency_ms"], abs=0.01)
    wait_for(lambda: value(scrape(port), "ringemu_alarms_cleared_total", verdict="LOST") == 1)
    assert value(scrape(port), "ringemu_alarms_active", verdict="LOST") == 0 or wait_for(
        lambda: value(scrape(port), "ringemu_alarms_active", verdict="LOST") == 0)
    print("lose detected in", round(latency * 1000, 2), "ms; metrics:",
          {k[0]: v for k, v in after.items() if not k[1]})

    assert r.request({"cmd": "inject", "kind": "kill", "station": 3})["ok"]
    down = wait_for(lambda: (lambda s: s if value(s, "ringemu_station_alive", station="3") == 0
                             and value(s, "ringemu_ring_members") == 4 else None)(scrape(port)))
    assert value(down, "ringemu_membership_changes_total", reason="bypass") >= 1
    assert value(down, "ringemu_epoch") >= 1


def test_a_taken_port_is_refused_before_anything_runs(tmp_path, short_runtime):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "ringemu", "run", "-d", "1",
                               "--metrics-port", str(port), "--runs-dir", str(tmp_path / "r")],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert f"--metrics-port {port}" in done.stderr
    assert not (tmp_path / "r").exists()
