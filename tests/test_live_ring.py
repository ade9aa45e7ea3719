"""Integration tests with real station and monitor processes.

Each test runs its own ring with its own runtime and run folders, and checks afterwards that
every process the ring started is gone.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest
import zmq

from ringemu.frames.codec import FREE_TOKEN, encode
from ringemu.live.launcher import LiveRing, RingConfig
from ringemu.live.paths import RingInfo, same_process
from tests.live_helpers import assert_all_gone, wait_for

pytestmark = pytest.mark.live


@pytest.fixture(autouse=True)
def private_runtime(tmp_path, monkeypatch):
    # a short parent folder: ipc socket paths must stay under 108 characters
    parent = tempfile.mkdtemp(prefix="rt-", dir="/tmp")
    monkeypatch.setenv("RINGEMU_RUNTIME", parent)
    monkeypatch.setenv("RINGEMU_RUNS", str(tmp_path / "runs"))
    yield
    shutil.rmtree(parent, ignore_errors=True)


def summary(ring: LiveRing) -> dict:
    ring.poll_children()
    return ring.request({"cmd": "summary"}, timeout=5.0)


def test_fault_free_ring_raises_no_alarm_over_many_snapshots(ring_factory):
    ring = ring_factory(stations=6, snapshot_interval=0.05)
    wait_for(lambda: ring.request({"cmd": "status"})["snapshots"] >= 60, timeout=20)
    s = summary(ring)
    assert s["snapshots"] >= 60
    assert s["alarms"] == [] and s["false_alarms"] == 0
    assert s["verdicts"] == {"OK": s["snapshots"]}
    assert s["token_passes"] > 1000
    assert s["valid"] is True


@pytest.mark.parametrize("kind,verdict", [("lose", "LOST"), ("dup", "DUPLICATE"),
                                          ("corrupt", "LOST")])
def test_injected_fault_is_detected_with_latency(ring_factory, kind, verdict):
    ring = ring_factory(stations=5, snapshot_interval=0.1)
    wait_for(lambda: ring.request({"cmd": "status"})["snapshots"] >= 3)
    reply = ring.request({"cmd": "inject", "kind": kind, "station": 2})
    assert reply["ok"] and reply["station"] == 2
    wait_for(lambda: summary(ring)["faults"][0]["detected"])
    # recovery by purge: the alarm clears and a later fault is detected on its own
    wait_for(lambda: all(a["cleared"] is not None for a in summary(ring)["alarms"]))
    s = summary(ring)
    (fault,) = s["faults"]
    assert fault["kind"] == kind and fault["station"] == 2 and fault["outcome"] == "detected"
    assert 0 < fault["detection_latency_ms"] < 2000
    assert [a["kind"] for a in s["alarms"]] == [verdict]
    assert s["false_alarms"] == 0 and s["purges"] >= 1
    assert s["valid"] is True


def test_kill_gives_incomplete_naming_the_station(ring_factory):
    ring = ring_factory(stations=6, snapshot_interval=0.1)
    wait_for(lambda: ring.request({"cmd": "status"})["snapshots"] >= 2)
    victim = ring.request({"cmd": "status"})["pids"]["3"]
    assert ring.request({"cmd": "inject", "kind": "kill", "station": 3})["ok"]
    s = wait_for(lambda: (lambda s: s if s["alarms"] else None)(summary(ring)))
    alarm = s["alarms"][0]
    assert alarm["kind"] == "INCOMPLETE" and alarm["station"] == 3
    assert "station 3" in alarm["detail"]
    assert s["faults"][0]["outcome"] == "detected"
    wait_for(lambda: (ring.poll_children(), 3 in ring.exits)[1])  # reaped by the launcher
    assert ring.exits[3] == -9
    assert not os.path.exists(f"/proc/{victim}")


def test_malformed_frames_are_dropped_and_counted_while_ring_keeps_running(ring_factory):
    ring = ring_factory(stations=4, snapshot_interval=0.1)
    wait_for(lambda: ring.request({"cmd": "status"})["snapshots"] >= 2)
    endpoint = ring.info.endpoints  # the station's ring socket is in the runtime folder
    target = f"ipc://{ring.runtime_dir / 'ring-2'}"
    assert "report" in endpoint
    ctx = zmq.Context()
    push = ctx.socket(zmq.PUSH)
    push.linger = 0
    push.connect(target)
    garbage = [b"\x90\x00", b"\x90" + b"\xff" * 40, encode(FREE_TOKEN)[:2] + b"\x00",
               b"junk that is no frame", b"\x90\x10" + os.urandom(60),
               b'{"cmd":"stop"}', b'{"cmd":"link","next":"ipc:///nowhere"}']  # commands: no
    for g in garbage:
        push.send(g)
    push.send(b"!")  # a doorbell with no command: the station finds its queue empty, no more
    before = ring.request({"cmd": "status"})["token_passes"]
    time.sleep(0.6)
    push.close()
    ctx.term()

    def counted():
        s = summary(ring)
        return s if s["malformed"] >= len(garbage) else None

    s = wait_for(counted)
    assert s["malformed"] == len(garbage)
    status = ring.request({"cmd": "status"})
    assert status["token_passes"] > before and status["station_states"]["2"] == "alive"
    assert s["alarms"] == [] and s["valid"] is True


def test_strangers_random_bytes_never_reach_a_station(ring_factory):
    """Over tcp, raw bytes to a station's port are refused in the handshake (CURVE, and ZAP's
    ban on the old ZMTP fallback), and counted. More strangers: tests/test_strangers.py."""
    ring = ring_factory(stations=3, transport="tcp", snapshot_interval=0.1)
    wait_for(lambda: ring.request({"cmd": "status"})["snapshots"] >= 2)
    info = RingInfo.load(ring.runtime_dir / "ring.json")
    assert all(e.startswith("tcp://127.0.0.1:") for e in info.endpoints.values())
    station_up = [json.loads(line) for line in
                  (ring.run_dir / "events.jsonl").read_text().splitlines()
                  if '"station_up"' in line]
    host, port = station_up[0]["endpoint"][len("tcp://"):].rsplit(":", 1)
    assert host == "127.0.0.1"
    for _ in range(20):
        with socket.create_connection((host, int(port)), timeout=1) as s:
            s.sendall(os.urandom(200))
            time.sleep(0.01)
    time.sleep(0.5)
    s = summary(ring)
    assert s["malformed"] == 0, "random bytes from a stranger reached recv()"
    assert s["alarms"] == []
    wait_for(lambda: ring.request({"cmd": "status"})["refused_by_socket"]["ring"] >= 20)


def test_cli_run_json_summary_and_records(tmp_path):
    runs = tmp_path / "runs"
    p = subprocess.run(
        [sys.executable, "-m", "ringemu", "run", "--stations", "6", "--duration", "3",
         "--inject", "lose@1:2", "--inject", "dup@2", "--json", "--runs-dir", str(runs),
         "--pcap", str(tmp_path / "ring.pcap")],
        capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout.strip().splitlines()[-1])
    for key in ("valid", "snapshots", "false_alarms", "alarms", "faults", "duration_s",
                "token_passes"):
        assert key in data
    assert data["valid"] is True
    assert [f["detected"] for f in data["faults"]] == [True, True]
    assert all(f["detection_latency_ms"] > 0 for f in data["faults"])
    run_dir = runs / data["run_id"]
    assert (runs / "latest").resolve() == run_dir.resolve()
    for name in ("config.json", "events.jsonl", "monitor.log", "summary.json", "capture.pcap"):
        assert (run_dir / name).is_file(), name
    assert sorted(os.listdir(run_dir / "stations")) == sorted(
        [f"station-{i}.log" for i in range(6)] + [f"station-{i}.journal" for i in range(6)])
    kinds = {json.loads(line)["event"] for line in (run_dir / "events.jsonl").open()}
    assert {"ring_up", "snapshot", "alarm", "inject", "fault_fired", "ring_down"} <= kinds
    assert (tmp_path / "ring.pcap").stat().st_size > 1000
    assert data["captured"] > 100
    info = json.loads((run_dir / "ring.json").read_text())
    assert not any(same_process(r["pid"], r.get("start_time")) for r in info["processes"])


@pytest.mark.parametrize("transport", ["ipc", "tcp"])
def test_up_inject_down_from_other_shells(tmp_path, transport):
    env = dict(os.environ)
    cmd = [sys.executable, "-m", "ringemu"]
    up = subprocess.Popen(cmd + ["up", "-n", "4", "--no-dashboard", "--json",
                                 "--transport", transport], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        def ring_running():
            p = subprocess.run(cmd + ["status", "--json"], capture_output=True, text=True,
                               env=env)
            status = json.loads(p.stdout) if p.returncode == 0 else None
            return status if status and status["phase"] == "running" else None

        wait_for(ring_running, timeout=20)
        p = subprocess.run(cmd + ["inject", "dup", "--station", "1"], capture_output=True,
                           text=True, env=env)
        assert p.returncode == 0 and "injected dup at station 1" in p.stdout, p.stderr
        p = subprocess.run(cmd + ["inject", "lose", "5"], capture_output=True, text=True,
                           env=env)
        assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
        time.sleep(0.5)
        p = subprocess.run(cmd + ["down"], capture_output=True, text=True, env=env, timeout=30)
        assert p.returncode == 0 and "stopped" in p.stdout, p.stderr
        out, err = up.communicate(timeout=15)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    kinds = [e["event"] for e in events]
    assert "ring_up" in kinds and "ring_down" in kinds, (kinds, err)
    assert any(e["event"] == "alarm" and e["kind"] == "DUPLICATE" for e in events), kinds
    pids = next(e["pids"] for e in events if e["event"] == "ring_up")
    time.sleep(0.2)
    assert not any(os.path.exists(f"/proc/{pid}") and _is_our_zombie_free(pid) for pid in pids)
    p = subprocess.run(cmd + ["status"], capture_output=True, text=True, env=env)
    assert p.returncode == 2 and "no running ring" in p.stderr


def _is_our_zombie_free(pid: int) -> bool:
    """True if ``pid`` is a live (non-zombie) process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_ring_is_cleaned_up_when_the_launcher_raises(tmp_path):
    ring = LiveRing(RingConfig(stations=3, runs_dir=str(tmp_path / "runs")))
    with pytest.raises(RuntimeError):
        with ring:
            ring.start()
            raise RuntimeError("boom")
    assert_all_gone(ring)
    assert not ring.runtime_dir.exists()


def test_bad_cli_input_is_one_line(tmp_path):
    for args in (["run", "-n", "4", "-d", "2", "--inject", "lose@9"],
                 ["run", "-n", "4", "-d", "2", "--inject", "lose@1:7"],
                 ["up", "--stations", "1"],
                 ["inject", "explode"],
                 ["inject", "lose"]):
        p = subprocess.run([sys.executable, "-m", "ringemu", *args], capture_output=True,
                           text=True, timeout=30)
        assert p.returncode == 2, (args, p.stderr)
        assert len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)
        assert p.stderr.startswith("ringemu: error:")



def delivered_total(ring: LiveRing) -> int:
    """Payloads delivered so far, from the monitor's next ``stations`` event."""
    stream = ring.events()
    try:
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            event = stream.get(0.3)
            if event is not None and event.get("event") == "stations":
                return sum(row["stats"].get("delivered", 0) for row in event["stations"])
        raise AssertionError("no stations event")
    finally:
        stream.close()


def test_send_queues_payloads_that_are_delivered(ring_factory):
    ring = ring_factory(stations=4, load=0.0, snapshot_interval=0.1)
    wait_for(lambda: ring.request({"cmd": "status"})["snapshots"] >= 2)
    assert delivered_total(ring) == 0
    assert ring.request({"cmd": "send", "src": 1, "dst": 3, "payload": "hello"})["ok"]
    assert ring.request({"cmd": "send", "src": 2, "dst": 0})["ok"]  # the default size
    wait_for(lambda: delivered_total(ring) == 2)
    status = ring.request({"cmd": "status"})
    assert status["bad_reports"] == 0 and status["alarms"] == []


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_pin_split_puts_the_stations_on_one_cpu_and_the_monitor_on_the_others(ring_factory):
    ring = ring_factory(stations=3, pin="split")
    cpus = os.sched_getaffinity(0)
    stations = [r["pid"] for r in ring.records if r["role"] == "station"]
    (monitor,) = [r["pid"] for r in ring.records if r["role"] == "monitor"]
    assert all(os.sched_getaffinity(pid) == {min(cpus)} for pid in stations)
    assert os.sched_getaffinity(monitor) == cpus - {min(cpus)}
