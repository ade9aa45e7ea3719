"""The snapshot monitor process: the core ``SnapshotMonitor`` over ZeroMQ.

It brings the ring up (hello, link, go), starts a snapshot every interval, collects the parts,
turns verdicts into alarms and purges (all decided by the core), injects faults on request,
and publishes everything as a stream of JSON events that any number of dashboards can follow
without slowing the ring (PUB drops for a slow subscriber instead of blocking). Every event also
goes to the run folder's ``events.jsonl``.

Sockets: ``report`` PULL (stations report here), ``control`` ROUTER (``ringemu inject``, the
dashboard and the launcher ask here, REQ/REP style JSON), ``events`` PUB, and one PUSH per
station into that station's ring socket for commands.

All times given to the core and written in events are seconds since the monitor started
(``t``); every process reads the same ``CLOCK_MONOTONIC``, so the times stations report can be
compared with the monitor's.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import zmq

from ringemu.checker import FaultRecord, judge, mark_fired
from ringemu.core.monitor import PurgeRequest, SnapshotMonitor
from ringemu.core.verdict import AlarmEvent, SnapshotResult
from ringemu.errors import RemoteProtocolError
from ringemu.faults import LIVE_KINDS, FaultSpec
from ringemu.live import protocol
from ringemu.live.paths import proc_start_time, same_process
from ringemu.live.procutil import setup_logging
from ringemu.live.sockets import bind, connect, endpoint_for, send_nowait, start_authenticator
from ringemu.report import summary as run_summary

log = logging.getLogger("ringemu.monitor")

STATION_FAULTS = ("lose", "dup", "corrupt")


@dataclass
class MonitorConfig:
    stations: int
    runtime_dir: str
    run_dir: str
    transport: str = "ipc"
    snapshot_interval: float = 0.2
    min_deadline: float = 0.25
    recovery: bool = True
    active_monitor: int = 0
    publish_interval: float = 0.25
    startup_timeout: float = 0.0
    seed: int = 1
    events: dict = field(default_factory=dict)

    def startup_limit(self) -> float:
        return self.startup_timeout or (10.0 + 0.05 * self.stations)


class _Station:
    """What the monitor knows of one station process."""

    __slots__ = ("index", "pid", "start_time", "endpoint", "cmd", "state", "stats", "stats_at")

    def __init__(self, index: int) -> None:
        self.index = index
        self.pid: int | None = None
        self.start_time: int | None = None
        self.endpoint: str | None = None
        self.cmd: zmq.Socket | None = None
        self.state = "starting"  # starting, alive, paused, dead
        self.stats: dict = {}
        self.stats_at = 0.0


class MonitorProcess:
    def __init__(self, cfg: MonitorConfig) -> None:
        self.cfg = cfg
        self.t0 = time.monotonic()
        self.rng = random.Random(f"ringemu-monitor/{cfg.seed}")
        self.ctx = zmq.Context(1)
        self.auth = start_authenticator(self.ctx, cfg.transport)
        folder = Path(cfg.runtime_dir)
        self.report = self.ctx.socket(zmq.PULL)
        self.control = self.ctx.socket(zmq.ROUTER)
        self.pub = self.ctx.socket(zmq.PUB)
        self.pub.sndhwm = 10_000
        self.endpoints = {
            "report": bind(self.report, endpoint_for(cfg.transport, folder, "report")),
            "control": bind(self.control, endpoint_for(cfg.transport, folder, "control")),
            "events": bind(self.pub, endpoint_for(cfg.transport, folder, "events")),
        }
        self.core = SnapshotMonitor(
            range(cfg.stations), active_monitor=cfg.active_monitor, recovery=cfg.recovery,
            min_deadline=self._floor_deadline(None),
        )
        self.stations = [_Station(i) for i in range(cfg.stations)]
        self.phase = "starting"
        self.running = True
        self.up_at: float | None = None
        self.first_snapshot_at: float | None = None
        self.next_snapshot = float("inf")
        self.next_publish = 0.0
        self.results: list[SnapshotResult] = []
        self.faults: list[FaultRecord] = []
        self.purges: list[list] = []
        self.linked: set[int] = set()
        self.resumes: dict[int, float] = {}
        """Paused stations and when to continue them (kept apart: the loop checks it often)."""
        self.bad_reports = 0
        self.pending_summary: list[tuple[list[bytes], float, float]] = []
        self.last_passes: tuple[float, int] | None = None
        self.hop_rate = 0.0
        self.events_file = open(Path(cfg.run_dir) / "events.jsonl", "a", buffering=1)

    def now(self) -> float:
        return time.monotonic() - self.t0

    # -- events -----------------------------------------------------------------------------------
    def emit(self, event: dict, record: bool = True) -> None:
        event.setdefault("t", round(self.now(), 6))
        line = json.dumps(event, separators=(",", ":"))
        send_nowait(self.pub, line.encode())
        if record:
            self.events_file.write(line + "\n")

    # -- main loop --------------------------------------------------------------------------------
    def serve(self) -> None:
        poller = zmq.Poller()
        poller.register(self.report, zmq.POLLIN)
        poller.register(self.control, zmq.POLLIN)
        self.emit({"event": "ring_starting", "stations": self.cfg.stations,
                   "endpoints": self.endpoints})
        startup_deadline = self.cfg.startup_limit()
        while self.running:
            now = self.now()
            wake = min(self._next_wake(), startup_deadline if self.phase != "running"
                       else float("inf"))
            timeout = max(0, min(int((wake - now) * 1000) + 1, 1000))
            ready = dict(poller.poll(timeout))
            if self.report in ready:
                self._drain_reports()
            if self.control in ready:
                self._drain_control()
            now = self.now()
            if self.phase != "running" and now >= startup_deadline:
                missing = [s.index for s in self.stations if s.state == "starting"]
                self.emit({"event": "error", "detail": f"ring did not come up in "
                           f"{startup_deadline:.1f} s; silent stations: {missing[:20]}"})
                raise SystemExit(3)
            self._timers(now)

    def _next_wake(self) -> float:
        wakes = [self.next_snapshot, self.next_publish]
        if self.core.next_deadline is not None:
            wakes.append(self.core.next_deadline)
        wakes.extend(self.resumes.values())
        wakes.extend(deadline for _, _, deadline in self.pending_summary)
        return min(wakes)

    def _timers(self, now: float) -> None:
        if self.phase == "running" and now >= self.next_snapshot and self.cfg.snapshot_interval:
            self.next_snapshot = max(self.next_snapshot + self.cfg.snapshot_interval, now)
            self._begin_snapshot(now)
        if self.core.next_deadline is not None and now >= self.core.next_deadline:
            self._core_events(self.core.poll(now, self._down()), now)
        for index in [i for i, at in self.resumes.items() if now >= at]:
            self._resume(self.stations[index])
        if now >= self.next_publish:
            self.next_publish = now + self.cfg.publish_interval
            if self.phase == "running":
                self._publish_stations(now)
                for s in self.stations:  # stations report when asked: no timers of their own
                    if s.state in ("alive", "paused"):
                        self._command(s, {"cmd": "stats"})
        if self.pending_summary:
            self._answer_summaries(now)

    # -- reports from stations --------------------------------------------------------------------
    def _drain_reports(self) -> None:
        for _ in range(10_000):
            try:
                data = self.report.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                self._on_report(protocol.loads(data))
            except (RemoteProtocolError, KeyError, TypeError, ValueError, IndexError) as e:
                self.bad_reports += 1
                log.warning("bad report dropped: %s", e)

    def _on_report(self, r: dict) -> None:
        kind = r["type"]
        st = self.stations[int(r["node"] if "node" in r else r["station"])]
        now = self.now()
        if kind == "part":
            self._core_events(self.core.on_report(protocol.part_from_json(r), now), now)
        elif kind == "stats" or kind == "bye":
            st.stats = r
            st.stats_at = now
            if kind == "bye" and st.state != "dead":
                st.state = "exited"
        elif kind == "event":
            self._station_event(st, r)
        elif kind == "hello":
            self._hello(st, r)
        elif kind == "linked":
            self.linked.add(st.index)
            if self.phase == "linking" and len(self.linked) == self.cfg.stations:
                self._go()
        else:
            raise RemoteProtocolError(f"unknown report type {kind!r}")

    def _hello(self, st: _Station, r: dict) -> None:
        st.pid = int(r["pid"])
        st.start_time = proc_start_time(st.pid)
        st.endpoint = str(r["endpoint"])
        st.state = "alive"
        st.cmd = self.ctx.socket(zmq.PUSH)
        st.cmd.sndhwm = 1000
        connect(st.cmd, st.endpoint)
        self.emit({"event": "station_up", "station": st.index, "pid": st.pid,
                   "endpoint": st.endpoint})
        if self.phase == "starting" and all(s.endpoint for s in self.stations):
            self.phase = "linking"
            n = self.cfg.stations
            for s in self.stations:
                self._command(s, {"cmd": "link", "next": self.stations[(s.index + 1) % n].endpoint})

    def _go(self) -> None:
        self.phase = "running"
        now = self.now()
        self.up_at = now
        self._command(self.stations[self.cfg.active_monitor], {"cmd": "go"})
        self.emit({"event": "ring_up", "stations": self.cfg.stations,
                   "startup_s": round(now, 4),
                   "pids": [s.pid for s in self.stations]})
        self.next_snapshot = now  # first snapshot at once: time to first verdict is a figure
        self.next_publish = now

    def _station_event(self, st: _Station, r: dict) -> None:
        kind = r.get("event")
        t = float(r.get("t", 0.0)) - self.t0
        out = {k: v for k, v in r.items() if k != "type"}
        out["t"] = round(t, 6)
        if kind == "fault":
            f = mark_fired(self.faults, st.index, str(r["fault"]), t)
            if f is not None:
                out["fault_id"] = self.faults.index(f) + 1
            out["event"] = "fault_fired"
        elif kind == "purge_started":
            self.purges.append([t, None])
        elif kind == "purge_done":
            if self.purges and self.purges[-1][1] is None:
                self.purges[-1][1] = t
            self._core_events(self.core.on_purge_done(int(r["epoch"]), self.now()), self.now())
        self.emit(out)

    # -- snapshots --------------------------------------------------------------------------------
    def _begin_snapshot(self, now: float, initiator: int | None = None) -> int:
        sid, initiator = self.core.begin(now, initiator)
        self._command(self.stations[initiator], {"cmd": "snapshot", "sid": sid})
        return sid

    def _core_events(self, events: list, now: float) -> None:
        for ev in events:
            if isinstance(ev, SnapshotResult):
                if self.first_snapshot_at is None and ev.count is not None:
                    self.first_snapshot_at = now
                    self.emit({"event": "first_snapshot", "snapshot": ev.snapshot_id,
                               "after_up_s": round(now - (self.up_at or 0.0), 4),
                               "after_start_s": round(now, 4)})
                self.emit(ev.as_dict())
                ev.states = {}
                ev.in_transit = []
                self.results.append(ev)
            elif isinstance(ev, AlarmEvent):
                self.emit(ev.as_dict())
            elif isinstance(ev, PurgeRequest):
                self.emit(ev.as_dict())
                self._command(self.stations[ev.station], {"cmd": "purge"})

    def _down(self) -> set[int]:
        """Stations known dead or stopped, or silent for longer than three stats intervals."""
        now = self.now()
        stale = 3 * max(self.cfg.publish_interval, 0.25)
        return {s.index for s in self.stations
                if s.state in ("dead", "paused", "exited") or now - s.stats_at > stale}

    # -- commands to stations ---------------------------------------------------------------------
    def _command(self, st: _Station, cmd: dict) -> bool:
        if st.cmd is None or st.state == "dead":
            return False
        ok = send_nowait(st.cmd, protocol.dumps(cmd))
        if not ok:
            log.warning("command %s to station %d dropped (queue full)", cmd.get("cmd"), st.index)
        return ok

    def _signal(self, st: _Station, sig: int) -> bool:
        """Signal a station process, only if it is still the very process that said hello."""
        if st.pid is None or not same_process(st.pid, st.start_time):
            return False
        os.kill(st.pid, sig)
        return True

    def _resume(self, st: _Station) -> None:
        del self.resumes[st.index]
        if st.state == "paused" and self._signal(st, signal.SIGCONT):
            st.state = "alive"
            self.emit({"event": "resumed", "station": st.index})

    # -- control requests -------------------------------------------------------------------------
    def _drain_control(self) -> None:
        for _ in range(1000):
            try:
                frames = self.control.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(frames) < 3:
                continue
            envelope, body = frames[:-1], frames[-1]
            try:
                req = protocol.loads(body)
                reply = self._request(req, envelope)
            except (RemoteProtocolError, KeyError, TypeError, ValueError) as e:
                reply = {"ok": False, "error": str(e)}
            if reply is not None:
                self._reply(envelope, reply)

    def _reply(self, envelope: list[bytes], reply: dict) -> None:
        try:
            self.control.send_multipart(envelope + [protocol.dumps(reply)], zmq.NOBLOCK)
        except zmq.ZMQError as e:
            log.warning("control reply lost: %s", e)

    def _request(self, req: dict, envelope: list[bytes]) -> dict | None:
        cmd = req.get("cmd")
        if cmd == "inject":
            return self.inject(str(req["kind"]), req.get("station"), req.get("arg"), req.get("at"))
        if cmd == "snapshot":
            if self.phase != "running":
                return {"ok": False, "error": "ring is not up yet"}
            return {"ok": True, "sid": self._begin_snapshot(self.now(), req.get("station"))}
        if cmd == "status":
            return {"ok": True, **self.status()}
        if cmd == "summary":
            for s in self.stations:
                self._command(s, {"cmd": "stats"})
            self.pending_summary.append((envelope, self.now(), self.now() + 0.3))
            return None
        if cmd == "station_exit":
            st = self.stations[int(req["station"])]
            if st.state != "dead":
                st.state = "dead"
            self.emit({"event": "station_exit", "station": st.index,
                       "status": req.get("status"), "pid": st.pid})
            return {"ok": True}
        if cmd == "send":
            st = self.stations[int(req["src"])]
            sent = self._command(st, {"cmd": "send", "dst": int(req["dst"]),
                                      "payload": req.get("payload"), "size": req.get("size")})
            return {"ok": sent}
        if cmd == "stop":
            self.stop()
            return {"ok": True}
        if cmd == "ping":
            return {"ok": True, "phase": self.phase}
        if cmd == "interval":
            seconds = float(req["seconds"])
            if seconds < 0:
                return {"ok": False, "error": "interval must be >= 0 (0: snapshots off)"}
            self.cfg.snapshot_interval = seconds
            self.next_snapshot = (self.now() + seconds) if seconds > 0 else float("inf")
            self.emit({"event": "interval", "seconds": seconds})
            return {"ok": True, "seconds": seconds}
        return {"ok": False, "error": f"unknown command {cmd!r}"}

    def inject(self, kind: str, station: int | None, arg: float | None = None,
               at: float | None = None) -> dict:
        """Inject a fault now; ``at`` is the scripted time to show for it (default: now)."""
        if kind not in LIVE_KINDS:
            known = ", ".join(LIVE_KINDS)
            return {"ok": False, "error": f"unknown fault {kind!r} (known: {known})"}
        if self.phase != "running":
            return {"ok": False, "error": "ring is not up yet"}
        n = self.cfg.stations
        if station is None:
            alive = [s.index for s in self.stations if s.state == "alive"]
            if not alive:
                return {"ok": False, "error": "no live station to inject into"}
            station = self.rng.choice(alive)
        station = int(station)
        if not 0 <= station < n:
            return {"ok": False, "error": f"no station {station} (stations are 0..{n - 1})"}
        st = self.stations[station]
        if st.state != "alive":
            return {"ok": False, "error": f"station {station} is {st.state}"}
        now = self.now()
        when = float(at) if at is not None else round(now, 3)
        record = FaultRecord(FaultSpec(kind, when, station, arg), injected_at=now)
        if kind in STATION_FAULTS:
            if not self._command(st, {"cmd": "inject", "kind": kind}):
                return {"ok": False, "error": f"station {station} is not accepting commands"}
        elif kind == "kill":
            if not self._signal(st, signal.SIGKILL):
                return {"ok": False, "error": f"station {station} is not running"}
            st.state = "dead"
            record.fired_at = now
        elif kind == "pause":
            seconds = float(arg) if arg else 1.0
            if not self._signal(st, signal.SIGSTOP):
                return {"ok": False, "error": f"station {station} is not running"}
            st.state = "paused"
            self.resumes[st.index] = now + seconds
            record.fired_at = now
        self.faults.append(record)
        fid = len(self.faults)
        self.emit({"event": "inject", "fault": kind, "station": station, "fault_id": fid,
                   "arg": arg})
        return {"ok": True, "fault_id": fid, "kind": kind, "station": station}

    # -- status and summary -----------------------------------------------------------------------
    def _token_passes(self) -> int:
        total = 0
        for s in self.stations:
            stats = s.stats.get("stats") or {}
            total += int(stats.get("tokens", 0)) + int(stats.get("frames", 0))
        return total

    def _floor_deadline(self, rotation: float | None) -> float:
        """The least time a snapshot may take: the configured floor, at least four rotations
        (measured, or guessed at 2 ms a station before the ring has turned), so a big ring's
        snapshots are not called INCOMPLETE just for being slow."""
        guess = rotation if rotation is not None else 0.002 * self.cfg.stations
        return max(self.cfg.min_deadline, 4.0 * guess)

    def _publish_stations(self, now: float) -> None:
        passes = self._token_passes()
        if self.last_passes is not None and now > self.last_passes[0]:
            self.hop_rate = (passes - self.last_passes[1]) / (now - self.last_passes[0])
            if self.hop_rate > 0:
                self.core.min_deadline = self._floor_deadline(self.cfg.stations / self.hop_rate)
        self.last_passes = (now, passes)
        rows = [{"station": s.index, "pid": s.pid, "state": s.state,
                 "mode": s.stats.get("mode"), "stats": s.stats.get("stats", {}),
                 "send_dropped": s.stats.get("send_dropped", 0), "queue": s.stats.get("queue", 0)}
                for s in self.stations]
        self.emit({"event": "stations", "stations": rows, "token_passes": passes,
                   "hop_rate": round(self.hop_rate, 1), "snapshots": self.core.completed,
                   "alarms": sorted(self.core.alarms.active)},
                  record=False)

    def status(self) -> dict:
        last = self.results[-1] if self.results else None
        return {
            "phase": self.phase,
            "stations": self.cfg.stations,
            "up_s": None if self.up_at is None else round(self.now() - self.up_at, 3),
            "snapshots": self.core.completed,
            "alarms": [a.as_dict("raised") for a in self.core.alarms.active.values()],
            "last_verdict": None if last is None else last.verdict,
            "token_passes": self._token_passes(),
            "hop_rate": round(self.hop_rate, 1),
            "station_states": {str(s.index): s.state for s in self.stations},
            "bad_reports": self.bad_reports,
            "pids": {str(s.index): s.pid for s in self.stations},
        }

    def _answer_summaries(self, now: float) -> None:
        keep = []
        for envelope, asked, deadline in self.pending_summary:
            alive = [s for s in self.stations if s.state == "alive"]
            fresh = all(s.stats_at >= asked for s in alive)
            if fresh or now >= deadline:
                self._reply(envelope, {"ok": True, **self.summary(now)})
            else:
                keep.append((envelope, asked, deadline))
        self.pending_summary = keep

    def summary(self, now: float) -> dict:
        j = judge(self.faults, self.results, self.core.alarms.history,
                  [tuple(p) for p in self.purges])
        data = run_summary(j, self.results, self.core.alarms.history, lambda s: s * 1000.0,
                           "detection_latency_ms")
        duration = now - (self.up_at if self.up_at is not None else now)
        passes = self._token_passes()
        data.update(
            stations=self.cfg.stations,
            duration_s=round(duration, 3),
            token_passes=passes,
            hop_rate=round(passes / duration, 1) if duration > 0 else 0.0,
            snapshots_per_s=round(data["snapshots"] / duration, 2) if duration > 0 else 0.0,
            monitor_t0=self.t0,
            startup_s=None if self.up_at is None else round(self.up_at, 4),
            first_snapshot_s=None if self.first_snapshot_at is None
            else round(self.first_snapshot_at, 4),
            purges=len(self.purges),
            malformed=sum(int((s.stats.get("stats") or {}).get("malformed", 0))
                          for s in self.stations),
        )
        durations = sorted(r.duration for r in self.results if r.count is not None)
        if durations:
            data["snapshot_ms_p50"] = round(durations[len(durations) // 2] * 1000, 3)
            data["snapshot_ms_max"] = round(durations[-1] * 1000, 3)
        return data

    # -- stopping ---------------------------------------------------------------------------------
    def stop(self) -> None:
        for s in self.stations:
            self._command(s, {"cmd": "stop"})
        self.emit({"event": "ring_down", "snapshots": self.core.completed})
        self.running = False

    def close(self) -> None:
        time.sleep(0.02)  # let queued stop commands and replies leave before linger=0 closes
        for s in self.stations:
            if s.cmd is not None:
                s.cmd.close(linger=0)
        for sock in (self.report, self.control, self.pub):
            sock.close(linger=0)
        self.auth.stop()
        self.ctx.term()
        self.events_file.close()


def run(cfg: MonitorConfig, ready_fd: int | None = None, log_file: str | None = None) -> int:
    """Run the monitor process; writes its endpoints as one JSON line to ``ready_fd``."""
    setup_logging(log_file)
    proc = None

    def stop(signum, frame):  # noqa: ARG001
        if proc is not None:
            proc.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        proc = MonitorProcess(cfg)
        if ready_fd is not None:
            os.write(ready_fd, (json.dumps(proc.endpoints) + "\n").encode())
            os.close(ready_fd)
        proc.serve()
        return 0
    except SystemExit as e:
        return int(e.code or 0)
    except Exception:
        log.exception("monitor crashed")
        return 1
    finally:
        if proc is not None:
            if proc.phase != "stopped":
                for s in proc.stations:
                    proc._command(s, {"cmd": "stop"})
            proc.close()
