"""A ring across network namespaces standing in for hosts, from a spec with CURVE keys (root).

Three host namespaces (``a``: the monitor and stations 0, 1; ``b``: 2, 3; ``c``: 4, 5) and a
stranger's (``x``), joined by a bridge in a namespace of its own (``tests/netns_lab.py``). Every
process runs under ``ip netns exec`` and checks it is inside its namespace before it runs;
traffic goes only to the lab's addresses; everything is torn down at the end, pass or fail,
and the teardown fails the run if anything was left inside a namespace.

Shown here: tokens pass and snapshots count one; a partition made with nft in the bridge's
namespace between ``b`` and ``c`` (it cuts the ring link 3 -> 4) is detected and the station cut
off is named, and after healing the ring recovers; a stranger with its own CURVE key, or with
none, gets nothing in (delivered messages: 0); and the same ring started from one control host
with ``up --spec --ssh`` (Debian's sshd in each namespace, on a key made for the test), with a
host that cannot be reached named before anything starts, and ``ringemu down`` ending every
process on every host. The figures printed (``-s``) are measured properly by
``tests/netns_measure.py`` (docs/hosts.md).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ringemu.live.paths import same_process
from tests.eventlog import EventLog, ok_snapshot
from tests.netns_lab import IP, NFT, SSHD, Lab, why_no_netns

pytestmark = [pytest.mark.privileged, pytest.mark.live, pytest.mark.slow,
              pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parent.parent
RINGEMU = str(Path(sys.executable).with_name("ringemu"))
HOSTS = ["a", "b", "c"]


# -- helpers -------------------------------------------------------------------------------------
def write_spec(lab: Lab, folder: Path, host_keys=None, ssh_options=None) -> Path:
    """Keys (``ringemu keys``) and a spec (``ringemu spec``) for the lab's hosts a, b, c, with
    per-host extra keys added under each ``[hosts...]`` table."""
    subprocess.run([RINGEMU, "keys", str(folder / "keys"), "--stations", "6"], check=True,
                   capture_output=True)
    addresses = [lab.address(h) for h in HOSTS]
    text = subprocess.run([RINGEMU, "spec", "--stations", "6", "--hosts", ",".join(addresses),
                           "--keys", "keys"], check=True, capture_output=True, text=True).stdout
    out = []
    for line in text.splitlines():
        out.append(line)
        m = re.match(r'\[hosts\."(.*)"\]$', line)
        if m and host_keys:
            host = HOSTS[addresses.index(m.group(1))]
            out += [f"{k} = {json.dumps(v)}" for k, v in host_keys(host).items()]
    if ssh_options:
        out += ["", "[ssh]", f"options = {json.dumps(ssh_options)}"]
    spec = folder / "ring.toml"
    spec.write_text("\n".join(out) + "\n")
    return spec


def host_env(folder: Path, host: str) -> dict:
    return {**os.environ, "RINGEMU_RUNTIME": str(folder / f"rt-{host}"),
            "RINGEMU_RUNS": str(folder / f"runs-{host}")}


def status(lab: Lab, spec: Path, host: str = "a") -> dict:
    p = lab.run(host, RINGEMU, "status", "--spec", str(spec), "--json", timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def hop_rate(lab: Lab, spec: Path, seconds: float = 3.0) -> float:
    s1, t1 = status(lab, spec), time.monotonic()
    time.sleep(seconds)
    s2, t2 = status(lab, spec), time.monotonic()
    return (s2["token_passes"] - s1["token_passes"]) / (t2 - t1)


def namespace_of(pid: int) -> str:
    p = subprocess.run([IP, "netns", "identify", str(pid)], capture_output=True, text=True)
    return p.stdout.strip()


def recorded(folder: Path, host: str) -> list[dict]:
    """The processes host ``host``'s launcher recorded (its ``ring.json``)."""
    rings = list((folder / f"rt-{host}").glob("ringemu-*/*/ring.json"))
    assert len(rings) == 1, rings
    return json.loads(rings[0].read_text())["processes"]


@dataclass
class NetnsRing:
    lab: Lab
    folder: Path
    spec: Path
    events: EventLog
    procs: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)


@pytest.fixture(scope="module")
def netns_ring(tmp_path_factory):
    why = why_no_netns()
    if why:
        pytest.skip(why)
    folder = tmp_path_factory.mktemp("netns")
    lab = Lab(HOSTS + ["x"], prefix=f"rehs{os.getpid() % 100000}r")
    ring = None
    try:
        lab.build()
        spec = write_spec(lab, folder)
        procs = {}
        for h in HOSTS:
            args = [RINGEMU, "up", "--spec", str(spec), "--host", lab.address(h),
                    "--no-dashboard", "--json"]
            procs[h] = lab.spawn(h, *args, env=host_env(folder, h), stdout=subprocess.PIPE,
                                 stderr=open(folder / f"up-{h}.err", "w"))
        ring = NetnsRing(lab, folder, spec, EventLog(procs["a"].stdout), procs)
        ring.events.wait(ok_snapshot, timeout=120)
        yield ring
    finally:
        try:
            if ring is not None:
                lab.run("a", RINGEMU, "down", "--spec", str(ring.folder / "ring.toml"),
                        timeout=60)
                for p in ring.procs.values():
                    try:
                        p.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        pass
                print(f"\nnetns figures: {json.dumps(ring.figures)}")
        finally:
            stray = lab.close()
        assert not stray, f"processes were left inside the lab's namespaces: {stray}"
        if ring is not None:
            exits = {h: p.returncode for h, p in ring.procs.items()}
            assert exits == {h: 0 for h in HOSTS}, exits


# -- the ring ------------------------------------------------------------------------------------
def test_netns_tokens_pass_and_snapshots_count_one(netns_ring):
    ring = netns_ring
    st = status(ring.lab, ring.spec)
    assert st["phase"] == "running" and st["stations"] == 6
    assert set(st["station_states"].values()) == {"alive"}, st["station_states"]
    # the monitor's launcher started stations 0 and 1: only their pids are known (and may be
    # signalled); the other hosts' stations are known by the spec alone
    assert [st["pids"][str(k)] is not None for k in range(6)] == [True] * 2 + [False] * 4
    assert st["station_endpoints"]["4"]["ring"] == f"tcp://{ring.lab.address('c')}:7018"
    start = time.monotonic()
    ring.events.wait(ok_snapshot, after=start, timeout=60)
    ok = [e for _, e in ring.events.since(0) if ok_snapshot(e)]
    assert len(ok) >= 2
    rate = hop_rate(ring.lab, ring.spec)
    assert rate > 0
    ring.figures["hop_rate_netns"] = round(rate, 1)
    # every process of the ring is inside its own host's namespace
    for h in HOSTS:
        procs = recorded(ring.folder, h)
        assert {p["role"] for p in procs} == ({"monitor", "station"} if h == "a"
                                              else {"station"})
        for p in procs:
            assert namespace_of(p["pid"]) == ring.lab.ns(h), (h, p)
    # a process fault on a station another host started is refused with the reason
    p = ring.lab.run("a", RINGEMU, "inject", "kill", "--station", "4", "--spec",
                     str(ring.spec))
    assert p.returncode == 2 and "another host" in p.stderr, p.stderr


@pytest.mark.skipif(not os.access(NFT, os.X_OK),
                    reason=f"{NFT} is missing (nftables; scripts/test installs it as root)")
def test_netns_partition_is_detected_named_and_healed(netns_ring):
    ring, lab = netns_ring, netns_ring.lab
    ring.events.wait(ok_snapshot, after=time.monotonic(), timeout=60)
    cut_at = time.monotonic()
    lab.partition("b", "c")  # the ring link 3 -> 4 crosses it
    try:
        # named: a verdict that waits on station 4 (behind the cut) names a station of host c
        named_at, verdict = ring.events.wait(
            lambda e: e.get("event") == "snapshot" and e.get("verdict") == "INCOMPLETE"
            and e.get("suspect") in (4, 5) and 4 in e.get("silent", ()), after=cut_at,
            timeout=90)
        _, alarm = ring.events.wait(
            lambda e: e.get("event") == "alarm" and e.get("action") == "raised"
            and e.get("kind") == "INCOMPLETE", after=cut_at - 60, timeout=5)
        st = status(lab, ring.spec)
        assert any(a["kind"] == "INCOMPLETE" for a in st["alarms"]), st["alarms"]
    finally:
        healed_at = time.monotonic()
        lab.heal()
    cleared_at, _ = ring.events.wait(
        lambda e: e.get("event") == "alarm" and e.get("action") == "cleared"
        and e.get("kind") == "INCOMPLETE", after=healed_at, timeout=120)
    ok_at, _ = ring.events.wait(ok_snapshot, after=healed_at, timeout=120)
    st = status(lab, ring.spec)
    assert set(st["station_states"].values()) == {"alive"}
    assert st["members"] == list(range(6)) and st["bypassed"] == []
    assert hop_rate(lab, ring.spec, 1.0) > 0
    ring.figures.update(partition_detected_s=round(named_at - cut_at, 3),
                        partition_recovered_s=round(max(ok_at, cleared_at) - healed_at, 3))


def test_netns_stranger_with_its_own_key_or_none_gets_nothing_in(netns_ring):
    ring, lab = netns_ring, netns_ring.lab
    before = status(lab, ring.spec)
    keys = ring.folder / "keys"

    def public(name: str) -> str:
        text = (keys / f"{name}.key").read_text()
        return re.search(r'public-key = "(.{40})"', text).group(1)

    a, b = lab.address("a"), lab.address("b")
    monitor = {"report": f"tcp://{a}:7000", "control": f"tcp://{a}:7001",
               "events": f"tcp://{a}:7002"}
    station = {"ring": f"tcp://{b}:7014", "cmd": f"tcp://{b}:7015"}  # station 2
    publics = {**{e: public("monitor") for e in monitor.values()},
               **{e: public("station-2") for e in station.values()}}
    results = []
    for mode in ("key", "none"):
        job = ring.folder / f"stranger-{mode}.json"
        job.write_text(json.dumps({"mode": mode, "monitor": monitor, "station": station,
                                   "index": 2, "publics": publics, "listen": 3.0}))
        p = lab.run("x", sys.executable, "-m", "tests.netns_stranger", str(job), cwd=str(ROOT),
                    timeout=60)
        assert p.returncode == 0, p.stderr
        results.append(json.loads(p.stdout))
    ring.events.wait(ok_snapshot, after=time.monotonic(), timeout=60)
    after = status(lab, ring.spec)
    took_in = {k: after[k] - before[k] for k in ("bad_reports", "bad_requests", "malformed",
                                                 "hello_mismatch")}
    delivered = sum(r["received"] for r in results) + sum(took_in.values())
    ring.figures["stranger_delivered"] = delivered
    assert [r["received"] for r in results] == [0, 0], results
    assert took_in == dict.fromkeys(took_in, 0), took_in
    assert delivered == 0
    assert after["zap_denied"] > before["zap_denied"]  # the keyed stranger reached ZAP: no
    assert after["refused"] > before["refused"]
    assert after["phase"] == "running" and after["pids"] == before["pids"]
    assert set(after["station_states"].values()) == {"alive"}
    assert after["token_passes"] > before["token_passes"]
    kinds = {e.get("event") for _, e in ring.events.since(0)}
    assert not kinds & {"inject", "ring_down", "station_exit", "interval"}, kinds


# -- over ssh ------------------------------------------------------------------------------------
def _why_no_ssh() -> str | None:
    why = why_no_netns()
    if why:
        return why
    for tool in (SSHD, "/usr/bin/ssh", "/usr/bin/ssh-keygen"):
        if not os.access(tool, os.X_OK):
            return f"{tool} is missing (Debian's openssh-server; scripts/test installs it as root)"
    return None


@pytest.fixture
def ssh_lab(tmp_path):
    why = _why_no_ssh()
    if why:
        pytest.skip(why)
    folder = tmp_path
    made_run_dir = not os.path.isdir("/run/sshd")  # sshd's privilege separation folder
    if made_run_dir:
        os.makedirs("/run/sshd", mode=0o755)
    lab = Lab(HOSTS, prefix=f"rehs{os.getpid() % 100000}s")
    try:
        lab.build()
        for name in ("id_ed25519", "host_key"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ringemu test",
                            "-f", str(folder / name)], check=True)
        (folder / "ssh_config").write_text("\n".join([
            "Host *", f"  IdentityFile {folder / 'id_ed25519'}", "  IdentitiesOnly yes",
            "  StrictHostKeyChecking no", "  UserKnownHostsFile /dev/null", "  LogLevel ERROR",
            "  User root", ""]))
        wrapper = folder / "ringemu-in-ns"  # checks the namespace, then is ringemu
        wrapper.write_text("#!/bin/sh\nns=$1; shift\n"
                           '[ "$(ip netns identify $$)" = "$ns" ] || '
                           '{ echo "refusing to run outside network namespace $ns" >&2; '
                           "exit 97; }\n"
                           f'exec {RINGEMU} "$@"\n')
        wrapper.chmod(0o755)
        yield lab, folder
    finally:
        stray = lab.close()
        if made_run_dir:
            os.rmdir("/run/sshd")
        assert not stray, f"processes were left inside the lab's namespaces: {stray}"


def test_netns_ring_started_over_ssh_and_ended_on_every_host(ssh_lab):
    lab, folder = ssh_lab
    spec = write_spec(
        lab, folder,
        host_keys=lambda h: {"ringemu": f"{folder / 'ringemu-in-ns'} {lab.ns(h)}",
                             "runtime": str(folder / f"rt-{h}"),
                             "runs-dir": str(folder / f"runs-{h}")},
        ssh_options=["-F", str(folder / "ssh_config")])
    env = host_env(folder, "ctl")
    for h in ("a", "b"):
        lab.sshd(h, folder)
    time.sleep(0.5)
    # host c answers no ssh yet: named before anything starts
    p = lab.run("a", RINGEMU, "up", "--spec", str(spec), "--ssh", "--no-dashboard", "--json",
                env=env, timeout=120)
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2 and len(lines) == 1, p.stderr
    assert f"host {lab.address('c')}" in lines[0] and "cannot be reached" in lines[0], lines[0]
    assert "nothing was started" in lines[0]
    assert not (folder / "runs-ctl").exists() and not (folder / "runs-b").exists()
    lab.sshd("c", folder)
    time.sleep(0.5)
    up = lab.spawn("a", RINGEMU, "up", "--spec", str(spec), "--ssh", "--no-dashboard", "--json",
                   env=env, stdout=subprocess.PIPE, stderr=open(folder / "up.err", "w"))
    events = EventLog(up.stdout)
    try:
        events.wait(ok_snapshot, timeout=180)
        ring_json = next((folder / "rt-ctl").glob("ringemu-*/*/ring.json"))
        info = json.loads(ring_json.read_text())
        remote = [r for r in info["processes"] if r["role"] != "ssh"]
        by_host = {}
        for r in remote:
            by_host.setdefault(r["host"], set()).add(r["role"])
        assert by_host == {lab.address("a"): {"launcher", "monitor", "station"},
                           lab.address("b"): {"launcher", "station"},
                           lab.address("c"): {"launcher", "station"}}, by_host
        stations = sorted(r["index"] for r in remote if r["role"] == "station")
        assert stations == list(range(6))
        for r in remote:
            host = HOSTS[[lab.address(h) for h in HOSTS].index(r["host"])]
            assert namespace_of(r["pid"]) == lab.ns(host), r
        run_dir = Path(info["run_dir"])
        deadline = time.monotonic() + 60  # the monitor host's launcher streams them here
        while not all(k in (run_dir / "events.jsonl").read_text()
                      for k in ('"ring_up"', '"verdict":"OK"')):
            assert time.monotonic() < deadline, "the events did not reach the run folder"
            time.sleep(0.2)
        st = status(lab, spec)
        assert set(st["station_states"].values()) == {"alive"}
        down = lab.run("a", RINGEMU, "down", "--run", info["run_id"], env=env, timeout=120)
        assert down.returncode == 0, down.stderr
        assert up.wait(timeout=60) == 0
    finally:
        lab.end(up)
    assert not any(same_process(r["pid"], r["start_time"]) for r in remote), remote
    final = json.loads((run_dir / "ring.json").read_text())
    assert all(r.get("exit") is not None for r in final["processes"]), final["processes"]
    assert sorted(p.name for p in (run_dir / "hosts").iterdir()) == sorted(
        f"{lab.address(h)}.log" for h in HOSTS)
    # only the sshds are left in the namespaces (the lab ends them)
    inside = lab.pids_inside()
    sshds = {p.pid for p in lab.procs}
    assert all(set(pids) <= sshds for pids in inside.values()), inside
