"""Strangers against a live ring: nothing of theirs gets in, and nothing outside the ring is
ever signalled.

A stranger is another local user (``nobody``, through ``runuser``, speaking ZMTP itself with
``tests/stranger_zmtp.py`` under Debian's python3) or a process of ours holding CURVE keys of its
own. Each attack of the issue is tried: a forged hello carrying an unrelated process's pid,
``inject kill``, ``interval NaN`` and ``stop`` to the control socket, ``stop`` and ``link`` to a
station's ring link and command socket, random bytes to every port. Afterwards the ring still
passes tokens and completes snapshots, every station is alive and linked as before, the unrelated
process lives, and ``status`` counts the refused connections.

Also here: the runtime folder (``RINGEMU_RUNTIME``) is never made private by chmod-ing a folder
ringemu did not create, and one that is not ours and 0700 is refused.
"""

from __future__ import annotations

import json
import os
import pwd
import random
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import zmq

from ringemu.errors import ConfigError
from ringemu.live.keys import KeyPair, RunKeys
from ringemu.live.launcher import LiveRing, RingConfig
from ringemu.live.paths import same_process
from tests.live_helpers import assert_all_gone, wait_for

STRANGER = Path(__file__).with_name("stranger_zmtp.py")
SYSTEM_PYTHON = "/usr/bin/python3"


def _why_no_nobody() -> str | None:
    if os.geteuid() != 0:
        return "needs root (to run a process as nobody)"
    if shutil.which("runuser") is None:
        return "runuser is not installed"
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        return "there is no user nobody"
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        return f"{SYSTEM_PYTHON} (the system interpreter nobody can run) is missing"
    return None


NO_NOBODY = _why_no_nobody()


@pytest.fixture(autouse=True)
def private_runtime(tmp_path, monkeypatch):
    parent = tempfile.mkdtemp(prefix="rt-", dir="/tmp")  # short: ipc paths stay < 108 octets
    monkeypatch.setenv("RINGEMU_RUNTIME", parent)
    monkeypatch.setenv("RINGEMU_RUNS", str(tmp_path / "runs"))
    yield Path(parent)
    shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def ring_factory(ring_factory):
    """The shared factory, with snapshots every 100 ms and two of them taken before a test
    attacks the ring."""

    def make(**kw) -> LiveRing:
        ring = ring_factory(snapshot_interval=0.1, **kw)
        wait_for(lambda: ring.request({"cmd": "status"})["snapshots"] >= 2)
        return ring

    return make


@pytest.fixture
def canary():
    """An unrelated process of ours (root's, when the tests run as root): never to be signalled."""
    proc = subprocess.Popen(["sleep", "120"])
    yield proc
    proc.kill()
    proc.wait()


def run_as_nobody(job: dict) -> dict:
    """Run the ZMTP stranger as ``nobody`` on ``job``; its script sits in a 0755 folder."""
    folder = tempfile.mkdtemp(prefix="stranger-")
    try:
        os.chmod(folder, 0o755)
        script = Path(folder) / STRANGER.name
        shutil.copyfile(STRANGER, script)
        os.chmod(script, 0o644)
        p = subprocess.run(["runuser", "-u", "nobody", "--", SYSTEM_PYTHON, str(script)],
                           input=json.dumps(job), capture_output=True, text=True, timeout=60,
                           cwd="/")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def hexed(*bodies: bytes) -> list[str]:
    return [b.hex() for b in bodies]


def junk() -> str:
    data = bytearray(random.Random(7).randbytes(200))
    data[0] = 0x47  # not 0xFF: the old ZMTP 1.0 fallback, which ZAP must refuse too
    return bytes(data).hex()


def stranger_attacks(status: dict, endpoints: dict, station: int, pid: int) -> list[dict]:
    """The attacks of the issue, against the monitor and against ``station``'s sockets."""
    at = status["station_endpoints"][str(station)]
    hello = json.dumps({"type": "hello", "station": station, "pid": pid,
                        "endpoint": "tcp://127.0.0.1:{listener}",
                        "cmd": "tcp://127.0.0.1:{listener}"}).encode()
    stop = b'{"cmd":"stop"}'
    link = b'{"cmd":"link","next":"tcp://127.0.0.1:{listener}"}'
    attacks = [
        {"name": "forged hello", "endpoint": endpoints["report"], "type": "PUSH",
         "frames": hexed(hello)},
        {"name": "status", "endpoint": endpoints["control"], "type": "REQ",
         "frames": hexed(b"", b'{"cmd":"status"}')},
        {"name": "inject kill", "endpoint": endpoints["control"], "type": "REQ",
         "frames": hexed(b"", b'{"cmd":"inject","kind":"kill","station":%d}' % station)},
        {"name": "interval NaN", "endpoint": endpoints["control"], "type": "REQ",
         "frames": hexed(b"", b'{"cmd":"interval","seconds":NaN}')},
        {"name": "stop the ring", "endpoint": endpoints["control"], "type": "REQ",
         "frames": hexed(b"", stop)},
        {"name": "subscribe", "endpoint": endpoints["events"], "type": "SUB",
         "frames": hexed(b"\x01")},
        {"name": "stop on the ring link", "endpoint": at["ring"], "type": "PUSH",
         "frames": hexed(stop)},
        {"name": "link on the ring link", "endpoint": at["ring"], "type": "PUSH",
         "frames": hexed(link)},
        {"name": "doorbell", "endpoint": at["ring"], "type": "PUSH", "frames": hexed(b"!")},
        {"name": "stop on the command socket", "endpoint": at["cmd"], "type": "PUSH",
         "frames": hexed(stop)},
        {"name": "link on the command socket", "endpoint": at["cmd"], "type": "PUSH",
         "frames": hexed(link)},
    ]
    for role, endpoint in (("report", endpoints["report"]), ("control", endpoints["control"]),
                           ("events", endpoints["events"]), ("ring", at["ring"]),
                           ("cmd", at["cmd"])):
        attacks.append({"name": f"random bytes to {role}", "endpoint": endpoint, "raw": junk()})
    return attacks


def role_of(attack: dict, status: dict, endpoints: dict) -> str:
    for role in ("report", "control", "events"):
        if attack["endpoint"] == endpoints[role]:
            return role
    for eps in status["station_endpoints"].values():
        for role, endpoint in eps.items():
            if attack["endpoint"] == endpoint:
                return role
    raise AssertionError(attack)


def events_of(ring: LiveRing) -> list[dict]:
    return [json.loads(line) for line in (ring.run_dir / "events.jsonl").read_text().splitlines()]


def assert_ring_unharmed(ring: LiveRing, before: dict) -> dict:
    """Tokens still pass, at least one more snapshot counts, every station alive, no fault."""
    after = wait_for(lambda: (lambda s: s if s["snapshots"] > before["snapshots"]
                              and s["token_passes"] > before["token_passes"] else None)(
        ring.request({"cmd": "status"})))
    assert after["phase"] == "running"
    assert set(after["station_states"].values()) == {"alive"}, after["station_states"]
    assert after["alarms"] == [] and after["malformed"] == 0
    assert after["pids"] == before["pids"]
    assert all(same_process(r["pid"], r["start_time"]) for r in ring.records)
    assert ring.poll_children() == []
    kinds = {e["event"] for e in events_of(ring)}
    assert not kinds & {"inject", "interval", "ring_down", "station_exit"}, kinds
    return after


# -- a user without the run's keys ------------------------------------------------------------
@pytest.mark.live
@pytest.mark.privileged
@pytest.mark.skipif(NO_NOBODY is not None, reason=NO_NOBODY or "")
def test_the_zmtp_stranger_does_get_into_an_unprotected_socket():
    """The control case: the same stranger completes the handshake with a plain NULL PULL
    socket and its message arrives, so the refusals below are the ring's doing."""
    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    pull.linger = 0
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    try:
        out = run_as_nobody({"attacks": [{"name": "plain", "endpoint": f"tcp://127.0.0.1:{port}",
                                          "type": "PUSH", "frames": hexed(b"hello")}],
                             "listen": 0.1})
        (r,) = out["results"]
        assert r["connect"] == "ok" and r["handshake"] and r["server_mechanism"] == "NULL"
        assert pull.poll(2000) and pull.recv() == b"hello"
    finally:
        pull.close()
        ctx.term()


@pytest.mark.live
@pytest.mark.privileged
@pytest.mark.skipif(NO_NOBODY is not None, reason=NO_NOBODY or "")
def test_a_local_user_without_keys_gets_nothing_into_a_tcp_ring(ring_factory, canary):
    ring = ring_factory(stations=4, transport="tcp")
    endpoints = ring.info.endpoints
    before = ring.request({"cmd": "status"})
    attacks = stranger_attacks(before, endpoints, station=1, pid=canary.pid)
    out = run_as_nobody({"attacks": attacks, "listen": 1.0})

    for r in out["results"]:
        assert r["connect"] == "ok", r  # the port is open: the handshake is what refuses
        assert not r["handshake"], r
        if r["name"].startswith("random bytes"):
            # at most the server's own greeting came back (its first octets go out at once)
            assert len(r["reply"]) <= 128 and r["reply"][:2] in ("", "ff"), r
        else:  # the server's greeting names CURVE, unless its reset beat our read of it
            assert r.get("server_mechanism") in ("CURVE", "") and r["reply"] == "", r
    assert out["redirected"] == 0, "a station was linked to the stranger"

    after = assert_ring_unharmed(ring, before)
    assert canary.poll() is None, "an unrelated process was signalled"
    assert after["hello_mismatch"] == 0 and after["bad_reports"] == 0
    assert after["bad_requests"] == 0

    expected: dict[str, int] = {}
    for a in attacks:
        role = role_of(a, before, endpoints)
        expected[role] = expected.get(role, 0) + 1

    def counted():
        s = ring.request({"cmd": "status"})
        by = s["refused_by_socket"]
        return s if all(by.get(role, 0) >= n for role, n in expected.items()) else None

    s = wait_for(counted)  # stations count refusals in their stats, sent about once a second
    assert s["refused"] >= len(attacks)
    print("status after the stranger:", {k: s[k] for k in ("refused", "refused_by_socket",
                                                           "zap_denied")})


@pytest.mark.live
@pytest.mark.privileged
@pytest.mark.skipif(NO_NOBODY is not None, reason=NO_NOBODY or "")
def test_a_local_user_cannot_even_connect_to_an_ipc_ring(ring_factory):
    ring = ring_factory(stations=3)
    status = ring.request({"cmd": "status"})
    endpoints = ring.info.endpoints
    at = status["station_endpoints"]["1"]
    targets = [endpoints["report"], endpoints["control"], endpoints["events"], at["ring"],
               at["cmd"]]
    assert all(t.startswith("ipc://") for t in targets)
    out = run_as_nobody({"attacks": [
        {"name": t, "endpoint": t, "type": "PUSH", "frames": hexed(b'{"cmd":"stop"}')}
        for t in targets], "listen": 0.1})
    for r in out["results"]:
        assert r["connect"] == "Permission denied", r
    assert_ring_unharmed(ring, status)


# -- a process with CURVE keys of its own -----------------------------------------------------
def _push(ctx: zmq.Context, endpoint: str, pair: KeyPair | None, server: str,
          *bodies: bytes) -> None:
    sock = ctx.socket(zmq.PUSH)
    sock.linger = 0
    if pair is not None:
        pair.dial(sock, server)
    sock.connect(endpoint)
    for body in bodies:
        sock.send(body, zmq.NOBLOCK)  # queued at once: connect() made the pipe
    time.sleep(0.3)
    sock.close()


def _request(ctx: zmq.Context, endpoint: str, pair: KeyPair, server: str, body: bytes):
    sock = ctx.socket(zmq.REQ)
    sock.linger = 0
    pair.dial(sock, server)
    sock.connect(endpoint)
    try:
        sock.send(body, zmq.NOBLOCK)
        return json.loads(sock.recv()) if sock.poll(1000) else None
    finally:
        sock.close()


def _first_event(ctx: zmq.Context, endpoint: str, pair: KeyPair, server: str):
    sock = ctx.socket(zmq.SUB)
    sock.linger = 0
    sock.subscribe(b"")
    pair.dial(sock, server)
    sock.connect(endpoint)
    try:
        return sock.recv() if sock.poll(1000) else None
    finally:
        sock.close()


@pytest.mark.live
def test_a_process_with_its_own_curve_keys_is_refused_and_counted(ring_factory, canary):
    ring = ring_factory(stations=3, transport="tcp")
    keys = RunKeys.load(ring.runtime_dir)
    endpoints = ring.info.endpoints
    before = ring.request({"cmd": "status"})
    at = before["station_endpoints"]["1"]
    monitor, station = keys.monitor.public, keys.stations[1].public
    ctx = zmq.Context()
    try:
        # the control case: the operator's key does get a reply
        assert _request(ctx, endpoints["control"], keys.operator, monitor,
                        b'{"cmd":"ping"}')["ok"]
        stranger = KeyPair.generate()
        assert _request(ctx, endpoints["control"], stranger, monitor,
                        b'{"cmd":"inject","kind":"kill","station":1}') is None
        assert _request(ctx, endpoints["control"], stranger, monitor,
                        b'{"cmd":"interval","seconds":NaN}') is None
        assert _first_event(ctx, endpoints["events"], stranger, monitor) is None
        hello = json.dumps({"type": "hello", "station": 1, "pid": canary.pid,
                            "endpoint": at["ring"], "cmd": at["cmd"]}).encode()
        _push(ctx, endpoints["report"], stranger, monitor, hello)
        for endpoint in (at["ring"], at["cmd"]):
            _push(ctx, endpoint, stranger, station, b"!", b'{"cmd":"stop"}',
                  b'{"cmd":"link","next":"tcp://127.0.0.1:9"}')
        # a station's own key is no good on the control socket either
        assert _request(ctx, endpoints["control"], keys.stations[1], monitor,
                        b'{"cmd":"stop"}') is None
        # and a client that trusts the wrong server key fails the handshake
        assert _request(ctx, endpoints["control"], keys.operator, KeyPair.generate().public,
                        b'{"cmd":"stop"}') is None
    finally:
        ctx.term()

    after = assert_ring_unharmed(ring, before)
    assert canary.poll() is None
    assert after["hello_mismatch"] == 0 and after["bad_reports"] == 0

    def counted():
        s = ring.request({"cmd": "status"})
        by = s["refused_by_socket"]
        ok = (by["control"] >= 5 and by["events"] >= 1 and by["report"] >= 1
              and by["ring"] >= 1 and by["cmd"] >= 1 and s["zap_denied"] >= 7)
        return s if ok else None

    s = wait_for(counted)  # stations count refusals in their stats, sent about once a second
    print("status after the keyed stranger:", {k: s[k] for k in ("refused", "refused_by_socket",
                                                                  "zap_denied")})

    # a station's key gets onto the report socket, but only to speak for that station
    ctx = zmq.Context()
    try:
        _push(ctx, endpoints["report"], keys.stations[1], monitor, json.dumps(
            {"type": "bye", "station": 2, "t": 0.0, "mode": "idle", "stats": {}}).encode())
    finally:
        ctx.term()
    s = wait_for(lambda: (lambda s: s if s["bad_reports"] == 1 else None)(
        ring.request({"cmd": "status"})))
    assert s["station_states"]["2"] == "alive"


# -- no pid from a message ----------------------------------------------------------------------
@pytest.mark.live
def test_a_forged_hello_pid_is_never_signalled(ring_factory, canary):
    ring = ring_factory(stations=4)
    before = ring.request({"cmd": "status"})
    real = next(r for r in ring.records if r["role"] == "station" and r["index"] == 2)
    at = before["station_endpoints"]["2"]
    ctx = zmq.Context()
    try:  # over ipc our own uid may connect: the forger is as close as it gets
        _push(ctx, ring.info.endpoints["report"], None, "", json.dumps(
            {"type": "hello", "station": 2, "pid": canary.pid, "endpoint": at["ring"],
             "cmd": at["cmd"]}).encode())
    finally:
        ctx.term()
    wait_for(lambda: ring.request({"cmd": "status"})["hello_mismatch"] == 1)
    status = ring.request({"cmd": "status"})
    assert status["pids"]["2"] == real["pid"]
    assert status["bad_reports"] == 1  # a second hello is dropped
    assert ring.request({"cmd": "inject", "kind": "kill", "station": 2})["ok"]
    wait_for(lambda: (ring.poll_children(), 2 in ring.exits)[1])
    assert ring.exits[2] == -9
    time.sleep(0.2)
    assert canary.poll() is None, "the canary was signalled"


# -- the runtime folder -------------------------------------------------------------------------
def _mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.mark.live
def test_a_shared_runtime_parent_keeps_its_mode(private_runtime, tmp_path):
    parent = private_runtime
    os.chmod(parent, 0o1777)  # as /tmp is
    ring = LiveRing(RingConfig(stations=3, runs_dir=str(tmp_path / "runs")))
    with ring:
        ring.start()
        assert _mode(parent) == 0o1777
        root = parent / f"ringemu-{os.getuid()}"
        assert _mode(root) == 0o700 and os.lstat(root).st_uid == os.getuid()
        assert _mode(ring.runtime_dir) == 0o700
        p = subprocess.run([sys.executable, "-m", "ringemu", "status", "--json"],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0 and json.loads(p.stdout)["run_id"] == ring.run_id, p.stderr
    assert_all_gone(ring)
    assert _mode(parent) == 0o1777 and not ring.runtime_dir.exists()


def _refused_one_line(root: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "ringemu", "status"], capture_output=True,
                       text=True, timeout=30)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert str(root) in p.stderr
    with pytest.raises(ConfigError, match="runtime folder"):
        LiveRing(RingConfig(stations=3)).start()


def test_a_runtime_folder_that_is_not_private_is_refused_and_left_alone(private_runtime):
    root = private_runtime / f"ringemu-{os.getuid()}"
    root.mkdir(mode=0o755)
    os.chmod(root, 0o755)
    _refused_one_line(root)
    assert _mode(root) == 0o755
    root.rmdir()
    elsewhere = private_runtime / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    root.symlink_to(elsewhere)
    _refused_one_line(root)


@pytest.mark.privileged
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (to give a folder to nobody)")
def test_a_runtime_folder_owned_by_another_user_is_refused(private_runtime):
    root = private_runtime / f"ringemu-{os.getuid()}"
    root.mkdir(mode=0o700)
    nobody = pwd.getpwnam("nobody")
    os.chown(root, nobody.pw_uid, nobody.pw_gid)
    _refused_one_line(root)
    assert os.lstat(root).st_uid == nobody.pw_uid and _mode(root) == 0o700


def test_a_runtime_parent_too_long_for_ipc_paths_is_one_clear_error(tmp_path, monkeypatch):
    parent = tmp_path / ("x" * 90)
    monkeypatch.setenv("RINGEMU_RUNTIME", str(parent))
    with pytest.raises(ConfigError, match="too long"):
        LiveRing(RingConfig(stations=3, runs_dir=str(tmp_path / "runs"))).start()
    assert not parent.exists()
