"""The individual measurements of ``scripts/bench``.

Every figure that compares two things measures them in the same run, interleaved (raw ring,
ringemu, raw, ringemu...), or inside one ring (snapshots on and off in alternating windows of
the same processes), because this 2-core machine is shared and absolute rates move by 2x with
load; ratios measured close together do not.
"""

from __future__ import annotations

import json
import math
import os
import signal
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ringemu.bench import rawring
from ringemu.live.launcher import LiveRing, RingConfig
from ringemu.live.paths import read_events, same_process
from ringemu.sim.ring import SimConfig, simulate


@dataclass
class Series:
    """Repeated measurements of one figure."""

    values: list[float] = field(default_factory=list)

    def add(self, v: float) -> None:
        self.values.append(v)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def low(self) -> float:
        return min(self.values) if self.values else float("nan")

    @property
    def high(self) -> float:
        return max(self.values) if self.values else float("nan")


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(p / 100.0 * len(ordered) - 1e-9) - 1))
    return ordered[k]


@contextmanager
def _ring(runs_dir: str, **kw) -> Iterator[LiveRing]:
    """A started ring that is always stopped, whatever happens."""
    with LiveRing(RingConfig(runs_dir=runs_dir, **kw)) as ring:
        ring.start()
        yield ring


def _hops(ring: LiveRing) -> int:
    """Token passes of a running ring so far, from the counters its stations share with the
    launcher (``ringemu.live.counters``): read without asking or waking anyone, as the raw
    ring's are."""
    assert ring.counters is not None
    return ring.counters.total()


def ring_rate(ring: LiveRing, seconds: float) -> float:
    """Token passes per second of a running ring over ``seconds``."""
    h1, t1 = _hops(ring), time.monotonic()
    time.sleep(seconds)
    h2, t2 = _hops(ring), time.monotonic()
    return (h2 - h1) / (t2 - t1)


def _signal_all(records: list[dict], sig: int) -> None:
    """Stop or continue every process of a ring (only the very processes we started)."""
    for r in records:
        if same_process(r["pid"], r.get("start_time")):
            os.killpg(r["pgid"], sig)


def hop_rate_pairs(n: int, rounds: int, seconds: float, runs_dir: str, pin: str = "none",
                   settle: float = 0.3, direct: bool = False) -> dict:
    """Raw ring and ringemu side by side, in alternating windows of the same processes.

    Both rings run for the whole measurement, but only one at a time: the other is stopped
    (SIGSTOP on every process, so it uses no CPU), which gives ``rounds`` back-to-back pairs
    of windows a few seconds apart. On this shared machine the available CPU changes by 2x
    from one minute to the next; pairs this close see the same machine. Both rings are
    counted the same way: from counters their stations keep in shared memory. The order
    alternates (raw first, then ringemu first) so a trend within a pair cancels out.
    """
    raw_rates, emu_rates, ratios = Series(), Series(), Series()
    raw = rawring.RawRing(n, "one" if pin == "one" else None, direct)
    up_s = None
    try:
        t0 = time.monotonic()
        with _ring(runs_dir, stations=n, pin=pin) as ring:
            up_s = time.monotonic() - t0
            time.sleep(0.5)
            _signal_all(ring.records, signal.SIGSTOP)
            running = "raw"
            for k in range(rounds):
                rates = {}
                for which in (("raw", "ringemu") if k % 2 == 0 else ("ringemu", "raw")):
                    if which != running:
                        stop, go = ((raw.records, ring.records) if which == "ringemu"
                                    else (ring.records, raw.records))
                        _signal_all(stop, signal.SIGSTOP)
                        _signal_all(go, signal.SIGCONT)
                        running = which
                    time.sleep(settle)
                    count = raw.hops if which == "raw" else (lambda: _hops(ring))
                    h1, t1 = count(), time.monotonic()
                    time.sleep(seconds)
                    h2, t2 = count(), time.monotonic()
                    rates[which] = (h2 - h1) / (t2 - t1)
                raw_rates.add(rates["raw"])
                emu_rates.add(rates["ringemu"])
                ratios.add(rates["ringemu"] / rates["raw"] if rates["raw"] else float("nan"))
            _signal_all(ring.records, signal.SIGCONT)
            _signal_all(raw.records, signal.SIGCONT)
    finally:
        _signal_all(raw.records, signal.SIGCONT)
        raw.stop()
    return {"raw": raw_rates, "ringemu": emu_rates, "ratio": ratios, "up_s": up_s}


def _cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return total / os.sysconf("SC_CLK_TCK")


def snapshot_overhead(n: int, quads: int, seconds: float, runs_dir: str,
                      interval: float = 0.1, settle: float = 0.1, pin: str = "split",
                      **options: object) -> dict:
    """Hop rate with snapshots every ``interval`` against snapshots off, in one ring.

    Windows come in ABBA quads (on, off, off, on; then off, on, on, off: the first window's
    side alternates), so a drift of the machine's speed within a quad cancels out; each quad
    gives one loss figure, ``1 - (on1 + on2) / (off1 + off2)``. The hops are read from the
    stations' shared counters, so measuring takes nothing from the ring. Also the CPU time
    per hop of the ring's processes (stations and monitor), on and off, which a busy machine
    disturbs less than the rate. The snapshot completion times are those of every snapshot
    taken in the on windows. The stations are pinned to one CPU and the monitor to the other
    (``pin`` ``split``): a token hop then never waits for a wake-up on another CPU, whose
    timing is most of the window-to-window noise, every marker and part a station handles is
    on the token's own CPU, so the stations' share of the snapshots' cost shows in full in
    the rate, and the monitor's work (judging, writing events) does not take that CPU from
    the ring. Suspicions are off unless ``options`` say otherwise, so the on windows have
    exactly the periodic snapshots and the off windows none (a suspicion on a pinned ring,
    whose process is held back a few ms now and then, starts snapshots in either).
    """
    on, off, loss, cpu_on, cpu_off, cpu_extra = (Series() for _ in range(6))
    options.setdefault("suspicions", False)  # exactly the periodic snapshots, on or off
    with _ring(runs_dir, stations=n, snapshot_interval=interval, pin=pin, **options) as ring:
        pids = [r["pid"] for r in ring.records]
        time.sleep(0.5)
        state = None
        for k in range(quads):
            order = (True, False, False, True) if k % 2 == 0 else (False, True, True, False)
            hops = {True: 0, False: 0}
            secs = {True: 0.0, False: 0.0}
            cpu = {True: 0.0, False: 0.0}
            for snapshots in order:
                if snapshots != state:
                    ring.request({"cmd": "interval", "seconds": interval if snapshots else 0})
                    state = snapshots
                time.sleep(settle)
                h1, c1, t1 = _hops(ring), _cpu_s(pids), time.monotonic()
                time.sleep(seconds)
                h2, c2, t2 = _hops(ring), _cpu_s(pids), time.monotonic()
                hops[snapshots] += h2 - h1
                secs[snapshots] += t2 - t1
                cpu[snapshots] += c2 - c1
            r_on, r_off = hops[True] / secs[True], hops[False] / secs[False]
            on.add(r_on)
            off.add(r_off)
            loss.add(100.0 * (r_off - r_on) / r_off)
            if hops[True] and hops[False]:
                per_on = 1e6 * cpu[True] / hops[True]
                per_off = 1e6 * cpu[False] / hops[False]
                cpu_on.add(per_on)
                cpu_off.add(per_off)
                cpu_extra.add(100.0 * (per_on - per_off) / per_off)
        events = ring.run_dir / "events.jsonl"
    durations = [e["duration_ms"] for e in read_events(events)
                 if e.get("event") == "snapshot" and e.get("count") is not None]
    return {"on": on, "off": off, "loss_pct": loss, "snapshot_ms": durations,
            "cpu_us_per_hop_on": cpu_on, "cpu_us_per_hop_off": cpu_off,
            "cpu_extra_pct": cpu_extra}


def detection(n: int, per_kind: int, runs_dir: str, spacing: float = 0.5,
              interval: float = 0.2, suspicions: bool = True) -> dict:
    """Inject ``per_kind`` lose and ``per_kind`` dup faults, alternating, ``spacing`` apart;
    ``suspicions`` off: only the periodic snapshots detect them. Also the completion times of
    the run's snapshots that counted, for the bound of a suspicion-triggered detection."""
    with _ring(runs_dir, stations=n, snapshot_interval=interval,
               suspicions=suspicions) as ring:
        time.sleep(0.5)
        for k in range(2 * per_kind):
            kind = "lose" if k % 2 == 0 else "dup"
            reply = ring.request({"cmd": "inject", "kind": kind})
            if not reply.get("ok"):
                raise RuntimeError(f"inject refused: {reply}")
            time.sleep(spacing)
        time.sleep(0.5)
        s = ring.request({"cmd": "summary"}, timeout=5.0)
        done = [e["duration_ms"] for e in read_events(ring.run_dir / "events.jsonl")
                if e.get("event") == "snapshot" and e.get("count") is not None
                and isinstance(e.get("duration_ms"), (int, float))]
    latencies = {"lose": [], "dup": []}
    outcomes = {}
    for f in s["faults"]:
        outcomes[f["outcome"]] = outcomes.get(f["outcome"], 0) + 1
        if f["detection_latency_ms"] is not None:
            latencies[f["kind"]].append(f["detection_latency_ms"])
    rotation_ms = 1000.0 * n / s["hop_rate"] if s["hop_rate"] else float("nan")
    return {"latencies": latencies, "outcomes": outcomes, "false_alarms": s["false_alarms"],
            "wrong_counts": s["wrong_counts"],
            "rotation_ms": rotation_ms, "interval_ms": interval * 1000.0,
            "bound_ms": interval * 1000.0 + 2 * rotation_ms + 10.0, "valid": s["valid"],
            "snapshot_p99_ms": percentile(done, 99) if done else float("nan")}


def launch_time(n: int, runs_dir: str) -> dict:
    """``ringemu run`` of ``n`` stations as a new process: seconds from the spawn to the first
    completed snapshot (every process reads the same ``CLOCK_MONOTONIC``), and its phases:
    the interpreter and imports up to the monitor's start, the stations' hellos (forking
    them included), linking up to the first token, and the first snapshot."""
    t_spawn = time.monotonic()
    p = subprocess.run(
        [sys.executable, "-m", "ringemu", "run", "--stations", str(n), "--duration", "0.3",
         "--drain", "0", "--json", "--runs-dir", runs_dir],
        capture_output=True, text=True, timeout=300)
    try:  # exit 1 (a run judged invalid) still has its summary: the launch is measured alike
        s = json.loads(p.stdout.strip().splitlines()[-1])
        t0 = s["monitor_t0"] - t_spawn
    except (IndexError, ValueError, KeyError, TypeError):
        raise RuntimeError(f"ringemu run failed (exit {p.returncode}): "
                           f"{p.stderr.strip()[-300:]}") from None
    ups = [e["t"] for e in read_events(Path(runs_dir) / "latest" / "events.jsonl")
           if e.get("event") == "station_up"]
    hellos = max(ups) if ups else float("nan")
    return {"total_s": t0 + s["first_snapshot_s"], "start_s": t0, "hellos_s": hellos,
            "ring_up_s": s["startup_s"] - hellos,
            "first_snapshot_s": s["first_snapshot_s"] - s["startup_s"],
            "exit": p.returncode}


def launch_in_process(n: int, runs_dir: str) -> float:
    """Seconds from ``LiveRing.start()`` in an already running process (what ``ringemu up``
    does once imported) to the first completed snapshot."""
    t0 = time.monotonic()
    with LiveRing(RingConfig(runs_dir=runs_dir, stations=n)) as ring:
        ring.start()
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:
            s = ring.request({"cmd": "status"})
            if s["snapshots"] >= 1:
                break
            time.sleep(0.002)
        summary = ring.request({"cmd": "summary"}, timeout=10.0)
    return summary["monitor_t0"] + summary["first_snapshot_s"] - t0


def memory_per_station(n: int, runs_dir: str) -> dict:
    """Resident (RSS) and proportional (PSS: shared pages split) memory per station, MB."""
    with _ring(runs_dir, stations=n) as ring:
        time.sleep(1.0)
        rss, pss = [], []
        for r in ring.records:
            if r["role"] != "station":
                continue
            rss.append(_status_kb(r["pid"], "VmRSS") / 1024.0)
            pss.append(_smaps_kb(r["pid"], "Pss") / 1024.0)
    return {"rss_mb": statistics.mean(rss), "pss_mb": statistics.mean(pss)}


def _status_kb(pid: int, key: str) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return float(line.split()[1])
    return float("nan")


def _smaps_kb(pid: int, key: str) -> float:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return float(line.split()[1])
    except OSError:
        pass
    return float("nan")


def ring_size_check(n: int, runs_dir: str, timeout: float = 120.0) -> dict:
    """Does a ring of ``n`` come up, count one token, and detect an injected lose?"""
    t0 = time.monotonic()
    result = {"stations": n, "ok": False}
    try:
        with _ring(runs_dir, stations=n, snapshot_interval=0.3) as ring:
            result["up_s"] = round(time.monotonic() - t0, 2)
            deadline = time.monotonic() + timeout
            while (st := ring.request({"cmd": "status"}))["snapshots"] < 3:
                if time.monotonic() > deadline:
                    raise TimeoutError("no snapshots")
                time.sleep(0.1)
            result["counted_one"] = st["last_verdict"] == "OK"
            ring.request({"cmd": "inject", "kind": "lose"})
            while True:
                s = ring.request({"cmd": "summary"}, timeout=10.0)
                f = s["faults"][0]
                if f["outcome"] not in (None, "unobserved", "not-fired"):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError("fault not judged")
                time.sleep(0.2)
            result.update(ok=(result["counted_one"] and f["detected"]
                              and s["false_alarms"] == 0), outcome=f["outcome"],
                          detection_ms=f["detection_latency_ms"], hop_rate=s["hop_rate"],
                          snapshot_ms_p50=s.get("snapshot_ms_p50"),
                          verdicts=s["verdicts"])
    except Exception as e:  # noqa: BLE001 - a ring too big for this machine is a result
        result["error"] = f"{type(e).__name__}: {e}"
    return result


def sim_speed(n: int, rotations: float, reps: int) -> tuple[Series, Series]:
    """Simulated token passes (free tokens and busy frames received) per wall second, and
    apart from them the markers delivered per wall second."""
    passes, markers = Series(), Series()
    for _ in range(reps):
        out = simulate(SimConfig(stations=n, rotations=rotations))
        passes.add(out.token_passes / out.wall)
        markers.add(sum(s["markers"] for s in out.station_stats) / out.wall)
    return passes, markers


def machine() -> dict:
    import platform

    import zmq

    return {
        "cores": os.cpu_count(),
        "cpus_allowed": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "pyzmq": zmq.__version__,
        "libzmq": zmq.zmq_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
