"""Figures of a ring across hosts, measured on network namespaces (root): what docs/hosts.md
reports. Run ``.venv/bin/python -m tests.netns_measure [--pairs N] [--json FILE]``.

- *Hop rate across namespaces against loopback*: the same spec shape (6 stations on 3 hosts,
  the monitor with stations 0 and 1, CURVE on every socket), once with the hosts as three
  network namespaces joined by a bridge, once as three loopback addresses (127.0.0.1-3) of this
  machine. Each host's parts are started by ``ringemu up --spec --host`` as on real hosts. Both
  rings run; in each window one is stopped (SIGSTOP on every process group it recorded) while
  the other is measured (token passes from ``ringemu status``, read twice), alternating which
  goes first, ``--pairs`` pairs; the figure is the median of the per-pair ratios.
- *Detection of a partition*: nft drops every frame between hosts b and c at the bridge (the
  ring link 3 -> 4 crosses it); from the rule going in to the first INCOMPLETE verdict that
  waits on station 4 (the station behind the cut) arriving here as an event line (the monitor
  host's ``up --json`` output); the station it names is recorded.
- *Recovery after healing*: from the rule going out to the first snapshot that counts one
  and the INCOMPLETE alarm cleared, whichever comes last.
- *Detection of a cut*: the same break made by ringemu, ``ringemu inject cut --station 3``
  (link 3 -> 4), to the first INCOMPLETE verdict with cause ``cut``; *recovery* from ``inject
  heal`` as for the partition.
- *A stranger's delivered messages*: replies and events a stranger namespace on the bridge got
  back with its own CURVE key and with none, plus the ring's own counts of what got in (bad
  reports and requests, malformed frames, mismatched hellos): must be 0.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from tests.eventlog import EventLog, ok_snapshot
from tests.netns_lab import Lab, why_no_netns
from tests.test_netns import HOSTS, RINGEMU, ROOT, host_env, status, write_spec

LOOPBACK = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def rate(read, window: float) -> float:
    s1, t1 = read(), time.monotonic()
    time.sleep(window)
    s2, t2 = read(), time.monotonic()
    return (s2["token_passes"] - s1["token_passes"]) / (t2 - t1)


def groups(launchers: list[subprocess.Popen], runtimes: list[Path]) -> list[int]:
    """The process groups of one ring: each host's launcher and what it recorded."""
    pgids = [p.pid for p in launchers]
    for rt in runtimes:
        for f in rt.glob("ringemu-*/*/ring.json"):
            pgids += [r["pgid"] for r in json.loads(f.read_text())["processes"]]
    return pgids


def signal_all(pgids: list[int], sig: int) -> None:
    for g in pgids:
        try:
            os.killpg(g, sig)
        except ProcessLookupError:
            pass


@contextmanager
def netns_ring(folder: Path):
    """The lab and a spec ring started host by host: yields (lab, spec, events, pgids)."""
    lab = Lab(HOSTS + ["x"], prefix=f"rehm{os.getpid() % 100000}")
    procs = []
    try:
        lab.build()
        spec = write_spec(lab, folder)
        for h in HOSTS:
            procs.append(lab.spawn(h, RINGEMU, "up", "--spec", str(spec), "--host",
                                   lab.address(h), "--no-dashboard", "--json",
                                   env=host_env(folder, h), stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL))
        events = EventLog(procs[0].stdout)
        events.wait(ok_snapshot, timeout=180)
        yield lab, spec, events, groups(procs, [folder / f"rt-{h}" for h in HOSTS])
    finally:
        try:
            lab.run("a", RINGEMU, "down", "--spec", str(folder / "ring.toml"), timeout=60)
        except Exception:  # noqa: BLE001 - the teardown below ends everything anyway
            pass
        stray = lab.close()
        if stray:
            _log(f"WARNING: left inside namespaces (ended now): {stray}")


@contextmanager
def loopback_ring(folder: Path):
    """The same spec shape on three loopback addresses: yields (read status, pgids)."""
    from tests.test_spec_ring import free_base

    runtime = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    env = {**os.environ, "RINGEMU_RUNTIME": str(runtime), "RINGEMU_RUNS": str(folder / "runs")}
    subprocess.run([RINGEMU, "keys", str(folder / "keys"), "-n", "6"], check=True, env=env,
                   capture_output=True)
    spec = folder / "ring.toml"
    subprocess.run([RINGEMU, "spec", "-n", "6", "--hosts", ",".join(LOOPBACK), "--port",
                    str(free_base(6)), "-o", str(spec)], check=True, env=env,
                   capture_output=True)
    procs = []
    try:
        for h in LOOPBACK:
            procs.append(subprocess.Popen(
                [RINGEMU, "up", "--spec", str(spec), "--host", h, "--no-dashboard", "--json"],
                env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                start_new_session=True))
        EventLog(procs[0].stdout).wait(ok_snapshot, timeout=180)

        def read() -> dict:
            p = subprocess.run([RINGEMU, "status", "--spec", str(spec), "--json"], env=env,
                               capture_output=True, text=True, timeout=60)
            return json.loads(p.stdout)

        yield read, groups(procs, [runtime])
    finally:
        subprocess.run([RINGEMU, "down", "--spec", str(spec)], env=env, capture_output=True,
                       timeout=60)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)
                p.wait()
        shutil.rmtree(runtime, ignore_errors=True)


def hop_rates(pairs: int, window: float) -> dict:
    """Both rings run; each window one of them is stopped (SIGSTOP on every process group it
    recorded) while the other is measured, so a pair of windows seconds apart sees the same
    machine (which, shared, changes its speed 2-4x from minute to minute)."""
    out: dict[str, list[float]] = {"netns": [], "loopback": [], "ratio": []}
    with netns_ring(Path(tempfile.mkdtemp(prefix="rehm-netns-"))) as (lab, spec, _, ns_groups), \
            loopback_ring(Path(tempfile.mkdtemp(prefix="rehm-lo-"))) as (read_lo, lo_groups):
        read_ns = lambda: status(lab, spec)  # noqa: E731
        try:
            for i in range(pairs):
                got = {}
                order = [("netns", read_ns, lo_groups), ("loopback", read_lo, ns_groups)]
                for kind, read, other in (order if i % 2 == 0 else order[::-1]):
                    signal_all(other, signal.SIGSTOP)
                    try:
                        time.sleep(0.5)  # the stopped ring's last frames settle
                        got[kind] = rate(read, window)
                    finally:
                        signal_all(other, signal.SIGCONT)
                    time.sleep(1.0)  # the resumed ring finds its feet
                for kind in ("netns", "loopback"):
                    out[kind].append(got[kind])
                out["ratio"].append(got["netns"] / got["loopback"])
                _log(f"pair {i + 1}/{pairs}: netns {got['netns']:.0f}, loopback "
                     f"{got['loopback']:.0f} hops/s, ratio {out['ratio'][-1]:.2f}")
        finally:
            signal_all(ns_groups + lo_groups, signal.SIGCONT)
    return out


def partitions(rounds: int, hold: float) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="rehm-part-"))
    with netns_ring(folder) as (lab, spec, events, _):
        nft = breaks(events, rounds, hold, "partition",
                     lambda: lab.partition("b", "c"), lab.heal,
                     lambda e: 4 in e.get("silent", ()), lambda v: v["suspect"])
        own = breaks(events, rounds, hold, "cut",  # the same break made by ringemu itself
                     lambda: inject(lab, spec, "cut"), lambda: inject(lab, spec, "heal"),
                     lambda e: e.get("cause") == "cut", lambda v: v.get("link"))
        stranger = strangers(lab, spec, folder)
        return {"detected_s": nft["detected"], "recovered_s": nft["recovered"],
                "named": nft["named"], "cut_detected_s": own["detected"],
                "cut_recovered_s": own["recovered"], "cut_named": own["named"],
                "stranger": stranger}


def breaks(events: EventLog, rounds: int, hold: float, what: str, make, mend, waits,
           named_by) -> dict:
    """``rounds`` times: once a snapshot counted one, ``make`` a break and time the first
    INCOMPLETE verdict that ``waits`` on it (what it names: ``named_by``), hold it ``hold``
    seconds, ``mend`` it and time the recovery (one token counted and the alarm cleared,
    whichever comes last)."""
    out: dict[str, list] = {"detected": [], "recovered": [], "named": []}
    for i in range(rounds):
        events.wait(ok_snapshot, after=time.monotonic(), timeout=60)
        start = time.monotonic()
        make()
        try:
            at, verdict = events.wait(
                lambda e: e.get("event") == "snapshot" and e.get("verdict") == "INCOMPLETE"
                and waits(e), after=start, timeout=120)
            out["detected"].append(at - start)
            out["named"].append(named_by(verdict))
            time.sleep(max(0.0, start + hold - time.monotonic()))
        finally:
            healed = time.monotonic()
            mend()
        cleared, _ = events.wait(
            lambda e: e.get("event") == "alarm" and e.get("action") == "cleared"
            and e.get("kind") == "INCOMPLETE", after=healed, timeout=120)
        ok, _ = events.wait(ok_snapshot, after=healed, timeout=120)
        out["recovered"].append(max(cleared, ok) - healed)
        _log(f"{what} {i + 1}/{rounds}: detected in {out['detected'][-1]:.3f} s naming "
             f"{out['named'][-1]}, recovered {out['recovered'][-1]:.3f} s after healing")
    return out


def inject(lab: Lab, spec: Path, kind: str) -> None:
    """``ringemu inject KIND --station 3`` from the monitor's host (link 3 -> 4 crosses from
    host b to host c, as the nft partition does)."""
    p = lab.run("a", RINGEMU, "inject", kind, "--station", "3", "--spec", str(spec),
                timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"inject {kind} refused: {p.stderr.strip()}")


def strangers(lab: Lab, spec: Path, folder: Path) -> dict:
    before = status(lab, spec)
    keys = folder / "keys"

    def public(name: str) -> str:
        return re.search(r'public-key = "(.{40})"', (keys / f"{name}.key").read_text()).group(1)

    a, b = lab.address("a"), lab.address("b")
    monitor = {r: f"tcp://{a}:{7000 + i}" for i, r in enumerate(("report", "control", "events"))}
    station = {"ring": f"tcp://{b}:7014", "cmd": f"tcp://{b}:7015"}
    publics = {**{e: public("monitor") for e in monitor.values()},
               **{e: public("station-2") for e in station.values()}}
    received = {}
    for mode in ("key", "none"):
        job = folder / f"stranger-{mode}.json"
        job.write_text(json.dumps({"mode": mode, "monitor": monitor, "station": station,
                                   "index": 2, "publics": publics, "listen": 3.0}))
        p = lab.run("x", sys.executable, "-m", "tests.netns_stranger", str(job), cwd=str(ROOT))
        received[mode] = json.loads(p.stdout)["received"]
    time.sleep(1.0)
    after = status(lab, spec)
    took_in = {k: after[k] - before[k] for k in ("bad_reports", "bad_requests", "malformed",
                                                 "hello_mismatch")}
    return {"received": received, "ring_took_in": took_in,
            "delivered": sum(received.values()) + sum(took_in.values()),
            "zap_denied": after["zap_denied"] - before["zap_denied"],
            "refused": after["refused"] - before["refused"]}


def summary(values: list[float]) -> dict:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3),
            "max": round(max(values), 3), "n": len(values)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=12)
    ap.add_argument("--window", type=float, default=2.0)
    ap.add_argument("--partitions", type=int, default=5)
    ap.add_argument("--hold", type=float, default=3.0)
    ap.add_argument("--json", dest="json_file")
    args = ap.parse_args()
    why = why_no_netns()
    if why:
        print(f"netns_measure: {why}", file=sys.stderr)
        return 2
    started = time.time()
    load0 = os.getloadavg()[0]
    rates = hop_rates(args.pairs, args.window)
    part = partitions(args.partitions, args.hold)
    out = {
        "machine": {"cpus": os.cpu_count(), "load_1min_start": round(load0, 2),
                    "load_1min_end": round(os.getloadavg()[0], 2)},
        "hop_rate_netns": summary(rates["netns"]),
        "hop_rate_loopback": summary(rates["loopback"]),
        "hop_rate_ratio_netns_to_loopback": summary(rates["ratio"]),
        "partition_detected_s": summary(part["detected_s"]),
        "partition_recovered_s": summary(part["recovered_s"]),
        "partition_named_stations": part["named"],
        "cut_detected_s": summary(part["cut_detected_s"]),
        "cut_recovered_s": summary(part["cut_recovered_s"]),
        "cut_named_links": part["cut_named"],
        "stranger": part["stranger"],
        "took_s": round(time.time() - started, 1),
    }
    print(json.dumps(out, indent=1))
    if args.json_file:
        Path(args.json_file).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
