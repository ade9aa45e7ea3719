"""The deterministic simulator: the core's stations and monitor on a virtual clock.

One process, one event heap ordered by (virtual time, sequence number), seeded randomness, FIFO
links with a per-link delay and per-message jitter. The objects it drives are the very
``Station`` and ``SnapshotMonitor`` the live station and monitor processes run; only the shell
differs (the heap instead of sockets and clocks). Same seed, same run: the event order, the
verdicts and the capture are identical byte for byte.

Time is in virtual seconds. A *rotation* is the nominal time for one trip round the ring: the sum
of the mean link delays. Fault times and snapshot intervals are given in rotations.
"""

from __future__ import annotations

import heapq
import random
import time
from dataclasses import dataclass, field
from typing import Callable

from ringemu.checker import FaultRecord, Judgement, judge, mark_fired
from ringemu.core.messages import Garbled
from ringemu.core.monitor import PurgeRequest, SnapshotMonitor
from ringemu.core.snapshot import LocalSnapshot
from ringemu.core.station import Station, StationEvent
from ringemu.core.traffic import Traffic, visit_probability
from ringemu.core.verdict import AlarmEvent, SnapshotResult
from ringemu.errors import ConfigError
from ringemu.faults import SIM_KINDS, FaultSpec, resolve_stations

# event kinds (the third field of a heap entry); DELIVER is the hot one
DELIVER, MALFORMED, BEGIN, START, REPORT, POLL, FAULT, PURGE, PURGE_DONE, TIMER = range(10)


@dataclass
class SimConfig:
    stations: int = 8
    rotations: float = 100.0
    seed: int = 1
    link_delay: float = 50e-6
    """Mean base delay of a link, seconds. Each link's base is drawn around it (``link_spread``)."""
    link_spread: float = 0.5
    """Links differ: each base delay is ``link_delay * uniform(1 - spread, 1 + spread)``."""
    jitter: float = 20e-6
    """Per-message extra delay, uniform in [0, jitter). FIFO order is kept regardless."""
    snapshot_every: float = 2.0
    """Rotations between snapshot starts (0 turns snapshots off)."""
    load: float = 0.1
    """Fraction of rotations that carry a busy frame (0 = free tokens only)."""
    payload_size: int = 64
    recovery: bool = True
    active_monitor: int = 0
    hold: float = 0.0
    faults: list[FaultSpec] = field(default_factory=list)
    pcap: str | None = None

    def validate(self) -> None:
        if self.stations < 2:
            raise ConfigError("--stations must be at least 2")
        if self.rotations <= 0:
            raise ConfigError("--rotations must be positive")
        if self.link_delay <= 0 or self.jitter < 0 or not 0 <= self.link_spread < 1:
            raise ConfigError("link delay must be positive, jitter >= 0, spread in [0, 1)")
        if self.snapshot_every < 0:
            raise ConfigError("--snapshot-every must be >= 0")
        if not 0 <= self.load < 1:
            raise ConfigError("--load must be in [0, 1)")
        if not 0 <= self.active_monitor < self.stations:
            raise ConfigError(f"--active-monitor must be a station 0..{self.stations - 1}")
        for spec in self.faults:
            if spec.kind not in SIM_KINDS:
                raise ConfigError(f"--inject {spec}: the simulator knows {', '.join(SIM_KINDS)}")


@dataclass
class SimOutcome:
    config: SimConfig
    rotation: float
    virtual_time: float
    results: list[SnapshotResult]
    judgement: Judgement
    alarms: list
    token_passes: int
    deliveries: int
    events: int
    wall: float
    station_stats: list[dict]
    purges: list[tuple[float, float | None]]
    captured: int = 0

    @property
    def hops_per_s(self) -> float:
        return self.deliveries / self.wall if self.wall > 0 else 0.0


class RingSim:
    """Builds a ring from a ``SimConfig`` and runs it; see the module docstring."""

    def __init__(self, config: SimConfig) -> None:
        config.validate()
        self.config = c = config
        n = c.stations
        self.rng = random.Random(f"ringemu-sim/{c.seed}")
        self.base = [c.link_delay * self.rng.uniform(1 - c.link_spread, 1 + c.link_spread)
                     for _ in range(n)]
        self.rotation = sum(self.base) + n * c.jitter / 2
        p = visit_probability(c.load, n)
        self.stations = [
            Station(
                i, n, active_monitor=(i == c.active_monitor), hold=c.hold,
                traffic=Traffic(i, n, p, c.payload_size, random.Random(f"{c.seed}/traffic/{i}"))
                if p > 0 else None,
            )
            for i in range(n)
        ]
        self.control_delay = c.link_delay
        self.monitor = SnapshotMonitor(
            range(n), active_monitor=c.active_monitor, recovery=c.recovery,
            min_deadline=3 * self.rotation + 4 * self.control_delay,
        )
        resolve_stations(c.faults, n, self.rng)
        self.faults = [FaultRecord(spec, spec.when * self.rotation) for spec in c.faults]
        self.dead = [False] * n
        self.results: list[SnapshotResult] = []
        self.purges: list[list] = []
        self.heap: list[tuple] = []
        self.seq = 0
        self.last = [0.0] * n
        self.deliveries = 0
        self.events = 0
        self.capture = None
        self.on_event: Callable[[dict], None] | None = None
        """Optional sink for every monitor and station event (as JSON-ready dicts)."""

    # -- scheduling ------------------------------------------------------------------------
    def _push(self, t: float, kind: int, a: object = None, b: object = None) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, kind, a, b))

    def _send(self, i: int, out: tuple, t: float) -> None:
        """Put ``out`` on link i -> i+1, keeping FIFO order (slow path; the loop inlines it)."""
        n = self.config.stations
        for m in out:
            arr = t + self.base[i] + self.rng.random() * self.config.jitter
            if arr < self.last[i]:
                arr = self.last[i]
            self.last[i] = arr
            if self.capture is not None:
                self.capture.write(m, t)
            self._push(arr, MALFORMED if type(m) is Garbled else DELIVER, (i + 1) % n, m)

    # -- running ---------------------------------------------------------------------------
    def run(self, progress: Callable[[float, int], None] | None = None) -> SimOutcome:
        c = self.config
        end = c.rotations * self.rotation
        if c.pcap:
            from ringemu.frames.capture import CaptureWriter

            self.capture = CaptureWriter(c.pcap)
        wall0 = time.perf_counter()
        try:
            self._station_call(c.active_monitor, 0.0, lambda st: st.issue_token(0.0))
            if c.snapshot_every > 0:
                self._push(c.snapshot_every * self.rotation, BEGIN)
            for f in self.faults:
                self._push(f.injected_at, FAULT, f)
            self._loop(end, progress)
        finally:
            if self.capture is not None:
                self.capture.close()
        wall = time.perf_counter() - wall0
        judgement = judge(self.faults, self.results, self.monitor.alarms.history,
                          [tuple(p) for p in self.purges])
        stats = [s.stats.as_dict() for s in self.stations]
        return SimOutcome(
            config=c, rotation=self.rotation, virtual_time=end, results=self.results,
            judgement=judgement, alarms=self.monitor.alarms.history,
            token_passes=sum(s["tokens"] + s["frames"] for s in stats),
            deliveries=self.deliveries, events=self.events, wall=wall, station_stats=stats,
            purges=[tuple(p) for p in self.purges],
            captured=self.capture.written if self.capture is not None else 0,
        )

    def _loop(self, end: float, progress: Callable[[float, int], None] | None) -> None:
        heap = self.heap
        heappop, heappush = heapq.heappop, heapq.heappush
        stations, dead, base, last = self.stations, self.dead, self.base, self.last
        rand, jitter = self.rng.random, self.config.jitter
        n = self.config.stations
        capture = self.capture
        holding = self.config.hold > 0
        on_report = self.monitor.on_report
        deliveries = 0
        events = 0
        seq = self.seq
        next_progress = 1 << 16
        while heap:
            item = heappop(heap)
            t = item[0]
            if t > end:
                heappush(heap, item)
                break
            events += 1
            kind = item[2]
            if kind != DELIVER:
                self.seq = seq
                if kind == REPORT:
                    evs = on_report(item[3], t)
                    if evs:
                        self._monitor_events(evs, t)
                else:
                    self._dispatch(t, kind, item[3], item[4])
                seq = self.seq
                continue
            j = item[3]
            deliveries += 1
            if dead[j]:
                continue
            st = stations[j]
            out = st.on_receive(item[4], t)
            if out:
                nxt = j + 1 if j + 1 < n else 0
                for m in out:
                    arr = t + base[j] + rand() * jitter
                    if arr < last[j]:
                        arr = last[j]
                    last[j] = arr
                    if capture is not None:
                        capture.write(m, t)
                    seq += 1
                    heappush(heap, (arr, seq, MALFORMED if type(m) is Garbled else DELIVER,
                                    nxt, m))
            if st.outbox:
                self.seq = seq
                self._drain(st, t)
                seq = self.seq
            if holding and st.deadline is not None:
                seq += 1
                heappush(heap, (st.deadline, seq, TIMER, j, None))
            if events >= next_progress:
                next_progress += 1 << 16
                if progress is not None:
                    progress(t / self.rotation, deliveries)
        self.seq = seq
        self.deliveries += deliveries
        self.events += events

    def _dispatch(self, t: float, kind: int, a, b) -> None:
        if kind == MALFORMED:
            self.deliveries += 1
            if not self.dead[a]:
                self.stations[a].on_malformed(b.reason, t)
                self._drain(self.stations[a], t)
        elif kind == BEGIN:
            sid, initiator = self.monitor.begin(t)
            self._push(t + self.control_delay, START, initiator, sid)
            self._push(self.monitor.deadline_of(sid), POLL)
            self._push(t + self.config.snapshot_every * self.rotation, BEGIN)
        elif kind == START:
            self._station_call(a, t, lambda st: st.start_snapshot(b, t))
        elif kind == REPORT:
            self._monitor_events(self.monitor.on_report(a, t), t)
        elif kind == POLL:
            self._monitor_events(self.monitor.poll(t), t)
        elif kind == FAULT:
            self._fault(a, t)
        elif kind == PURGE:
            self._station_call(a, t, lambda st: st.start_purge(t))
        elif kind == PURGE_DONE:
            self._monitor_events(self.monitor.on_purge_done(a, t), t)
        elif kind == TIMER:
            self._station_call(a, t, lambda st: st.on_timer(t))

    def _station_call(self, j: int, t: float, call: Callable[[Station], tuple]) -> None:
        if self.dead[j]:
            return
        st = self.stations[j]
        self._send(j, call(st), t)
        self._drain(st, t)
        if st.deadline is not None and st.deadline > t:
            self._push(st.deadline, TIMER, j)

    def _fault(self, f: FaultRecord, t: float) -> None:
        j = f.station
        self._emit({"event": "inject", "t": t, "fault": f.kind, "station": j})
        if f.kind == "kill":
            self.dead[j] = True
            f.fired_at = t
            return
        self._station_call(j, t, lambda st: st.inject(f.kind, t))

    def _drain(self, st: Station, t: float) -> None:
        box = st.outbox[:]
        st.outbox.clear()
        if len(box) == 1 and type(box[0]) is LocalSnapshot:  # the common case: a marker passed
            self.seq += 1
            heapq.heappush(self.heap, (t + self.control_delay, self.seq, REPORT, box[0], None))
            return
        for item in box:
            if isinstance(item, LocalSnapshot):
                self._push(t + self.control_delay, REPORT, item)
                continue
            assert isinstance(item, StationEvent)
            if item.kind == "fault":
                mark_fired(self.faults, item.station, item.detail["fault"], t)
            elif item.kind == "purge_started":
                self.purges.append([t, None])
            elif item.kind == "purge_done":
                if self.purges and self.purges[-1][1] is None:
                    self.purges[-1][1] = t
                self._push(t + self.control_delay, PURGE_DONE, item.detail["epoch"])
            self._emit(item.as_dict())

    def _monitor_events(self, events: list, t: float) -> None:
        for ev in events:
            if isinstance(ev, SnapshotResult):
                self.results.append(ev)
            elif isinstance(ev, PurgeRequest):
                self._push(t + self.control_delay, PURGE, ev.station)
            if isinstance(ev, (SnapshotResult, AlarmEvent, PurgeRequest)):
                self._emit(ev.as_dict())

    def _emit(self, d: dict) -> None:
        if self.on_event is not None:
            self.on_event(d)


def simulate(config: SimConfig, progress: Callable[[float, int], None] | None = None
             ) -> SimOutcome:
    """Build and run one simulation."""
    return RingSim(config).run(progress)
