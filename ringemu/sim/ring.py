"""The deterministic simulator: the core's stations and monitor on a virtual clock.

One process, one event heap ordered by (virtual time, sequence number), seeded randomness, FIFO
links with a per-link delay and per-message jitter. The objects it drives are the very
``Station`` and ``SnapshotMonitor`` the live station and monitor processes run, and it records
the run in the same ``RunHistory`` as the live monitor; only the shell differs (the heap instead
of sockets and clocks). Same seed, same run: the event order, the verdicts and the capture are
identical byte for byte.

Time is in virtual seconds. A *rotation* is the nominal time for one trip round the ring: the sum
of the mean link delays. Fault times and snapshot intervals are given in rotations.

Process faults have their simulated equivalents: a killed station receives nothing more, and a
paused one receives nothing until it resumes, when what arrived meanwhile is delivered in order
(as a stopped process finds its socket buffers full).
"""

from __future__ import annotations

import heapq
import random
import time
from dataclasses import dataclass, field
from typing import Callable

from ringemu.checker import Judgement, judge
from ringemu.core.history import RunHistory
from ringemu.core.messages import Garbled
from ringemu.core.monitor import PurgeRequest, SnapshotMonitor
from ringemu.core.snapshot import LocalSnapshot
from ringemu.core.station import Station
from ringemu.core.station_events import PurgeDone
from ringemu.core.traffic import Traffic, visit_probability
from ringemu.core.verdict import SnapshotResult
from ringemu.errors import ConfigError
from ringemu.faults import (FAULTS, Actor, FaultKind, ScheduledFault, Shell, chaos,
                            resolve_stations)
from ringemu.params import RingParams, check_finite

# event kinds (the third field of a heap entry); DELIVER is the hot one
DELIVER, MALFORMED, BEGIN, START, REPORT, POLL, FAULT, PURGE, PURGE_DONE, TIMER, RESUME = range(11)
STATION_BOUND = (DELIVER, MALFORMED, START, PURGE, TIMER)
SIM_CHAOS_PAUSE = (1.0, 8.0)
"""Rotations a chaos pause lasts in the simulator (drawn uniformly)."""
"""Heap events that a paused station only sees once it resumes."""


@dataclass
class SimConfig(RingParams):
    rotations: float = 100.0
    link_delay: float = 50e-6
    """Mean base delay of a link, seconds. Each link's base is drawn around it (``link_spread``)."""
    link_spread: float = 0.5
    """Links differ: each base delay is ``link_delay * uniform(1 - spread, 1 + spread)``."""
    jitter: float = 20e-6
    """Per-message extra delay, uniform in [0, jitter). FIFO order is kept regardless."""
    snapshot_every: float = 2.0
    """Rotations between snapshot starts (0 turns snapshots off)."""
    faults: list[ScheduledFault] = field(default_factory=list)
    chaos: float = 0.0
    """Random faults per rotation on top of ``faults`` (``ringemu.faults.chaos``)."""
    chaos_kinds: tuple[FaultKind, ...] | None = None
    """The kinds chaos draws from (None: every kind the simulator supports)."""
    pcap: str | None = None

    def validate(self) -> None:
        super().validate()
        check_finite("--rotations", self.rotations, 1e-9, 1e9)
        check_finite("--link-delay-us", self.link_delay * 1e6, 1e-6, 1e9)
        check_finite("--jitter-us", self.jitter * 1e6, 0.0, 1e9)
        check_finite("link spread", self.link_spread, 0.0, 0.999)
        check_finite("--snapshot-every", self.snapshot_every, 0.0, 1e9)
        check_finite("--chaos", self.chaos, 0.0, 1e6)
        for spec in self.faults:
            if Shell.SIM not in FAULTS[spec.kind].shells:
                raise ConfigError(f"--inject {spec}: the simulator cannot inject {spec.kind}")


@dataclass
class SimOutcome:
    config: SimConfig
    rotation: float
    virtual_time: float
    history: RunHistory
    judgement: Judgement
    token_passes: int
    deliveries: int
    events: int
    wall: float
    station_stats: list[dict]
    captured: int = 0

    @property
    def results(self) -> list[SnapshotResult]:
        return self.history.results

    @property
    def alarms(self) -> list:
        return self.history.alarms

    @property
    def hops_per_s(self) -> float:
        return self.deliveries / self.wall if self.wall > 0 else 0.0


class RingSim:
    """Builds a ring from a ``SimConfig`` and runs it; see the module docstring."""

    def __init__(self, config: SimConfig, on_event: Callable[[dict], None] | None = None) -> None:
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
                holding_time=c.holding_time,
                traffic=Traffic(i, n, p, c.payload_size, random.Random(f"{c.seed}/traffic/{i}"))
                if p > 0 else None,
            )
            for i in range(n)
        ]
        self.control_delay = c.link_delay
        self.monitor = SnapshotMonitor(
            range(n), active_monitor=c.active_monitor, recovery=c.recovery == "purge",
            min_deadline=3 * self.rotation + 4 * self.control_delay,
        )
        resolve_stations(c.faults, n, self.rng)
        self.schedule = c.faults + chaos(c.chaos, c.rotations, Shell.SIM, self.rng,
                                         pause=SIM_CHAOS_PAUSE, kinds=c.chaos_kinds)
        self.history = RunHistory(on_event)
        self.dead = [False] * n
        self.paused: dict[int, float] = {}
        """Paused stations and when they resume."""
        self.heap: list[tuple] = []
        self.seq = 0
        self.last = [0.0] * n
        self.deliveries = 0
        self.events = 0
        self.capture = None

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
        h = self.history
        try:
            h.ring_starting(0.0, c.stations, {})
            for i in range(c.stations):
                h.station_up(0.0, i, None, f"sim:{i}")
            h.ring_up(0.0, [None] * c.stations)
            self._station_call(c.active_monitor, 0.0, lambda st: st.issue_token(0.0))
            if c.snapshot_every > 0:
                self._push(c.snapshot_every * self.rotation, BEGIN)
            for spec in self.schedule:
                self._push(spec.at * self.rotation, FAULT, spec)
            self._loop(end, progress)
        finally:
            if self.capture is not None:
                self.capture.close()
        h.ring_down(end, self.monitor.completed)
        wall = time.perf_counter() - wall0
        stats = [s.stats.as_dict() for s in self.stations]
        return SimOutcome(
            config=c, rotation=self.rotation, virtual_time=end, history=h, judgement=judge(h),
            token_passes=sum(s["tokens"] + s["frames"] for s in stats),
            deliveries=self.deliveries, events=self.events, wall=wall, station_stats=stats,
            captured=self.capture.written if self.capture is not None else 0,
        )

    def _loop(self, end: float, progress: Callable[[float, int], None] | None) -> None:
        heap = self.heap
        heappop, heappush = heapq.heappop, heapq.heappush
        stations, dead, base, last = self.stations, self.dead, self.base, self.last
        paused = self.paused
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
            j = item[3]
            if paused and kind in STATION_BOUND and j in paused:
                seq += 1  # a stopped process: it sees this when it resumes, in order
                heappush(heap, (paused[j], seq, kind, j, item[4]))
                continue
            if kind != DELIVER:
                self.seq = seq
                if kind == REPORT:
                    self._monitor_events(on_report(j, t), t)
                else:
                    self._dispatch(t, kind, j, item[4])
                seq = self.seq
                continue
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
        elif kind == POLL:
            self._monitor_events(self.monitor.poll(t, self._down()), t)
            later = self.monitor.next_deadline
            if later is not None and later > t:
                self._push(later, POLL)  # a late snapshot given a grace
        elif kind == FAULT:
            self._fault(a, t)
        elif kind == PURGE:
            self._station_call(a, t, lambda st: st.start_purge(t))
        elif kind == PURGE_DONE:
            self._monitor_events(self.monitor.on_purge_done(a, t), t)
        elif kind == TIMER:
            self._station_call(a, t, lambda st: st.on_timer(t))
        elif kind == RESUME:
            if self.paused.get(a) == t:
                del self.paused[a]
                self.history.resumed(t, a)

    def _down(self) -> set[int]:
        return {i for i, d in enumerate(self.dead) if d} | set(self.paused)

    def _station_call(self, j: int, t: float, call: Callable[[Station], tuple]) -> None:
        if self.dead[j]:
            return
        st = self.stations[j]
        self._send(j, call(st), t)
        self._drain(st, t)
        if st.deadline is not None and st.deadline > t:
            self._push(st.deadline, TIMER, j)

    def _fault(self, spec: ScheduledFault, t: float) -> None:
        j = spec.station
        if j is None:  # a chaos fault: any station alive now
            alive = [i for i, d in enumerate(self.dead) if not d]
            if not alive:
                return
            j = spec.station = self.rng.choice(alive)
        info = FAULTS[spec.kind]
        if j in self.paused and info.actor is Actor.STATION:
            self._push(self.paused[j], FAULT, spec)  # its command waits in the socket too
            return
        record = self.history.inject(t, spec.kind, j, spec.arg, scheduled=spec.at)
        if info.actor is Actor.STATION:
            self._station_call(j, t, lambda st: st.inject(spec.kind, t))
        elif self.dead[j]:
            return  # a dead station can neither die again nor stop
        elif spec.kind == FaultKind.KILL:
            self.dead[j] = True
            self.paused.pop(j, None)
            self.history.process_fault_fired(record, t)
            self.history.station_exit(t, j, -9, None)
        elif spec.kind == FaultKind.PAUSE:
            until = max(self.paused.get(j, t), t + (spec.arg or 1.0) * self.rotation)
            self.paused[j] = until
            self.history.process_fault_fired(record, t)
            self._push(until, RESUME, j)

    def _drain(self, st: Station, t: float) -> None:
        box = st.outbox[:]
        st.outbox.clear()
        for item in box:
            if type(item) is LocalSnapshot:
                self._push(t + self.control_delay, REPORT, item)
                continue
            self.history.station_event(item)
            if type(item) is PurgeDone:
                self._push(t + self.control_delay, PURGE_DONE, item.number)

    def _monitor_events(self, events: list, t: float) -> None:
        for ev in events:
            self.history.monitor_event(ev)
            if type(ev) is PurgeRequest:
                self._push(t + self.control_delay, PURGE, ev.station)


def simulate(config: SimConfig, progress: Callable[[float, int], None] | None = None
             ) -> SimOutcome:
    """Build and run one simulation."""
    return RingSim(config).run(progress)
