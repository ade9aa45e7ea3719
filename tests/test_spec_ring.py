"""A ring from a spec, its hosts played by three loopback addresses (127.0.0.1, .2, .3) of this
machine, each host's parts started by a command of their own, as on real hosts.

Shown: the ring comes up host by host and passes tokens; the monitor knows only the stations its
own launcher started by pid; a lost token is detected; kill is refused for another host's
station; control needs the operator key (without it, or with another one, nothing is
answered); ``ringemu station`` and ``ringemu monitor`` start one part each, a station that
leaves is bypassed and one that comes back is inserted; the dashboard attaches with the spec
and the operator key; ``ringemu down --spec`` ends every host's parts.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ringemu.live.paths import RingInfo, same_process
from ringemu.live.spec import port_free
from tests.eventlog import EventLog, ok_snapshot

pytestmark = [pytest.mark.live, pytest.mark.slow, pytest.mark.timeout(300)]

HOSTS = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]


def ringemu(*args: str, env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ringemu", *args], capture_output=True,
                          text=True, env=env, timeout=timeout, start_new_session=True)


def free_base(stations: int) -> int:
    """A first port whose block is free on every loopback host (other rings may run here)."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 50000, 100)
        ports = [base, base + 1, base + 2] + [base + 10 + k for k in range(2 * stations)]
        if all(port_free(h, p) for h in HOSTS for p in ports):
            return base
    raise AssertionError("no free port block on loopback")


@pytest.fixture
def lab(tmp_path):
    """Keys and a spec of 6 stations on three loopback hosts; every process started through
    ``start`` is recorded and ended at the end, pass or fail."""
    env = {**os.environ, "RINGEMU_RUNTIME": tempfile_short(), "RINGEMU_RUNS":
           str(tmp_path / "runs")}
    assert ringemu("keys", str(tmp_path / "keys"), "-n", "6", env=env).returncode == 0
    p = ringemu("spec", "-n", "6", "--hosts", ",".join(HOSTS), "--port", str(free_base(6)),
                "-o", str(tmp_path / "ring.toml"), env=env)
    assert p.returncode == 0, p.stderr
    spec = tmp_path / "ring.toml"
    spec.write_text(spec.read_text().replace("snapshot-interval = 200", "snapshot-interval = 100")
                    .replace("startup-timeout = 60", "startup-timeout = 10"))
    procs: list[subprocess.Popen] = []

    def start(*args: str, stdout=subprocess.DEVNULL) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-m", "ringemu", *args], env=env,
                                stdout=stdout, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        procs.append(proc)
        return proc

    yield env, spec, start
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    left = [r for f in Path(env["RINGEMU_RUNS"]).glob("*/ring.json")
            for r in RingInfo.load(f).processes if same_process(r["pid"], r.get("start_time"))]
    shutil.rmtree(env["RINGEMU_RUNTIME"], ignore_errors=True)
    assert left == [], f"processes left behind: {left}"


def tempfile_short() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="rt-", dir="/tmp")


def status(env: dict, spec: Path) -> dict:
    p = ringemu("status", "--spec", str(spec), "--json", env=env)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_a_spec_ring_comes_up_host_by_host_and_down_from_anywhere(lab):
    env, spec, start = lab
    stations_b = start("up", "--spec", str(spec), "--host", HOSTS[1])  # before the monitor
    stations_c = start("up", "--spec", str(spec), "--host", HOSTS[2])
    time.sleep(1.0)
    monitor = start("up", "--spec", str(spec), "--host", HOSTS[0], "--no-dashboard", "--json",
                    stdout=subprocess.PIPE)
    events = EventLog(monitor.stdout)
    events.wait(ok_snapshot, timeout=90)
    st = status(env, spec)
    assert set(st["station_states"].values()) == {"alive"}
    assert [st["pids"][str(k)] is not None for k in range(6)] == [True] * 2 + [False] * 4
    # a lost token is detected, the ring purged, the alarm cleared
    t = time.monotonic()
    p = ringemu("inject", "lose", "--station", "3", "--spec", str(spec), env=env)
    assert p.returncode == 0, p.stderr
    events.wait(lambda e: e.get("event") == "alarm" and e.get("kind") == "LOST"
                and e.get("action") == "raised", after=t, timeout=60)
    events.wait(lambda e: e.get("event") == "alarm" and e.get("kind") == "LOST"
                and e.get("action") == "cleared", after=t, timeout=60)
    # another host's station is never signalled from here
    p = ringemu("inject", "pause", "1", "--station", "4", "--spec", str(spec), env=env)
    assert p.returncode == 2 and "another host" in p.stderr, p.stderr
    # down from "anywhere": the monitor stops every station; every host's launcher ends (also
    # after the startup timeout has passed: a stopped ring is not one that never came up)
    while status(env, spec)["up_s"] < 11:
        time.sleep(0.5)
    p = ringemu("down", "--spec", str(spec), env=env)
    assert p.returncode == 0, p.stderr
    for proc in (monitor, stations_b, stations_c):
        assert proc.wait(timeout=60) == 0, proc.stderr.read()
    assert any(e.get("event") == "ring_down" for _, e in events.since(t))


def test_control_needs_the_operator_key(lab, tmp_path):
    env, spec, start = lab
    start("up", "--spec", str(spec), "--host", HOSTS[1])
    start("up", "--spec", str(spec), "--host", HOSTS[2])
    start("up", "--spec", str(spec), "--host", HOSTS[0], "--no-dashboard")
    deadline = time.monotonic() + 90
    while ringemu("status", "--spec", str(spec), env=env).returncode != 0:
        assert time.monotonic() < deadline
        time.sleep(0.5)
    before = status(env, spec)
    # a copy of the spec whose key folder lacks the operator's secret
    bare = tmp_path / "bare"
    shutil.copytree(tmp_path / "keys", bare / "keys")
    (bare / "keys" / "operator.key_secret").unlink()
    (bare / "ring.toml").write_text(spec.read_text())
    p = ringemu("status", "--spec", str(bare / "ring.toml"), env=env)
    assert p.returncode == 2 and "operator.key_secret: no such key file" in p.stderr, p.stderr
    # another operator key: refused in the handshake, nothing answered
    other = tmp_path / "other"
    assert ringemu("keys", str(other / "keys"), "-n", "6", env=env).returncode == 0
    for name in ("operator.key", "operator.key_secret"):
        shutil.copyfile(other / "keys" / name, bare / "keys" / name)
    os.chmod(bare / "keys" / "operator.key_secret", 0o600)
    for cmd in (["status"], ["inject", "lose"], ["down"]):
        p = ringemu(*cmd, "--spec", str(bare / "ring.toml"), env=env)
        assert p.returncode == 2 and "did not answer" in p.stderr, (cmd, p.stderr)
    after = status(env, spec)
    assert after["zap_denied"] > before["zap_denied"]
    assert after["phase"] == "running" and after["bad_requests"] == before["bad_requests"]


def test_station_and_monitor_commands_and_the_dashboard_from_another_host(lab):
    env, spec, start = lab
    mon = start("monitor", "--spec", str(spec), "--json", stdout=subprocess.PIPE)
    stations = {k: start("station", "--spec", str(spec), "--id", str(k)) for k in range(6)}
    events = EventLog(mon.stdout)
    events.wait(ok_snapshot, timeout=90)
    st = status(env, spec)
    assert all(st["pids"][str(k)] is None for k in range(6))  # none is the monitor's launcher's
    # station 2 leaves (its launcher ends it): it says goodbye and is bypassed
    t = time.monotonic()
    os.killpg(stations[2].pid, signal.SIGTERM)
    assert stations[2].wait(timeout=30) == 0
    _, e = events.wait(lambda e: e.get("event") == "membership" and e.get("reason") == "bypass",
                       after=t, timeout=60)
    assert 2 not in e["members"] and e["bypassed"] == [2]
    events.wait(ok_snapshot, after=t, timeout=60)
    # it comes back: a second hello, inserted again
    t = time.monotonic()
    stations[2] = start("station", "--spec", str(spec), "--id", "2")
    _, e = events.wait(lambda e: e.get("event") == "membership" and e.get("reason") == "insert",
                       after=t, timeout=60)
    assert 2 in e["members"]
    events.wait(ok_snapshot, after=time.monotonic(), timeout=60)
    _dashboard_attaches(env, spec)
    assert mon.poll() is None  # leaving the dashboard only detached it
    p = ringemu("down", "--spec", str(spec), env=env)
    assert p.returncode == 0, p.stderr
    assert mon.wait(timeout=60) == 0
    for proc in stations.values():
        assert proc.wait(timeout=60) in (0, None)


def _dashboard_attaches(env: dict, spec: Path) -> None:
    """The dashboard of another host: only the spec and the operator key; 'l' loses the token
    at the selected station, the LOST alarm row appears, 'q' detaches."""
    from ringemu.cli.spec_run import load
    from ringemu.dashboard.app import DashboardApp
    from ringemu.dashboard.source import LiveSource
    from ringemu.live.client import info_for_spec

    source = LiveSource(info_for_spec(load(str(spec))))
    assert not source.owns_ring
    app = DashboardApp(source)

    async def go() -> None:
        async with app.run_test(size=(160, 48)) as pilot:
            deadline = time.monotonic() + 20
            while not (app.state.n == 6 and app.state.snapshot):
                assert time.monotonic() < deadline, "no snapshot reached the dashboard"
                await pilot.pause(0.05)
            await pilot.press("l")
            deadline = time.monotonic() + 20
            while "LOST" not in [row[2] for row in app.alarm_log.rows_text()]:
                assert time.monotonic() < deadline, f"no LOST alarm; {app.notices}"
                await pilot.pause(0.05)
            await pilot.press("q")
            deadline = time.monotonic() + 10
            while app.return_code is None:
                assert time.monotonic() < deadline
                await pilot.pause(0.05)

    asyncio.run(go())
