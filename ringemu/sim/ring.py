"""The deterministic simulator: the core's stations and supervisor on a virtual clock.

One process, one event heap ordered by (virtual time, sequence number), seeded randomness, FIFO
links with a per-link delay and per-message jitter. The objects it drives are the very
``Station`` and ``Supervisor`` the live station and monitor processes run, and it records the
run in the same ``RunHistory``; only the shell differs (the heap instead of sockets and clocks).
Same seed, same run: the event order, the verdicts and the capture are identical byte for byte.

Time is in virtual seconds. A *rotation* is the nominal time for one trip round the ring: the sum
of the mean link delays. Fault times, restarts and snapshot intervals are given in rotations.

What the live ring does with processes, sockets and the kernel, the simulator does with its heap:

- every link message carries the epoch its sender was in (the live link header);
- commands and reports between the monitor and a station take ``control_delay``;
- a killed station receives nothing more, and its neighbours' sockets would see it go: the
  supervisor hears of it ``detect_delay`` later; with ``restart`` it comes back, from its
  journal, ``restart_delay`` rotations later;
- a paused station receives nothing until it resumes, when what arrived meanwhile is delivered
  in order (a stopped process finds its socket buffers full);
- station timers are kept lazily: one pending timer event per station, armed again when it
  fires, so a passing token costs no heap work.

After ``rotations`` of traffic and faults the run drains for ``drain`` rotations (no new traffic,
no new faults), so the payloads still on their way are delivered and judged.
"""

from __future__ import annotations

import heapq
import random
import time
from dataclasses import dataclass, field, replace
from typing import Callable

from ringemu.checker import Judgement, judge
from ringemu.core.history import RunHistory
from ringemu.core.membership import Install, Resume
from ringemu.core.messages import Garbled
from ringemu.core.payloads import JournalEntry
from ringemu.core.snapshot import LocalSnapshot
from ringemu.core.station import PASS_FREE, Station
from ringemu.core.supervisor import Order, SetTimers, StartPurge, StartSnapshot, Supervisor
from ringemu.core.traffic import Traffic, visit_probability
from ringemu.core.verdict import SnapshotResult
from ringemu.errors import ConfigError
from ringemu.faults import (FAULTS, Actor, FaultKind, ScheduledFault, Shell, chaos,
                            resolve_stations)
from ringemu.params import RingParams, check_finite

# event kinds (the third field of a heap entry); DELIVER is the hot one
(DELIVER, MALFORMED, REPORT, POLL, FAULT, CONTROL, ACK, TIMER, RESUME, DETECT, RESTART,
 HELLO) = range(12)
STATION_BOUND = (DELIVER, MALFORMED, CONTROL, TIMER)
"""Heap events that a paused station only sees once it resumes."""
SIM_CHAOS_PAUSE = (1.0, 8.0)
"""Rotations a chaos pause lasts in the simulator (drawn uniformly)."""


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
    """Rotations between snapshot starts (0 turns periodic snapshots off)."""
    faults: list[ScheduledFault] = field(default_factory=list)
    chaos: float = 0.0
    """Random faults per rotation on top of ``faults`` (``ringemu.faults.chaos``)."""
    chaos_kinds: tuple[FaultKind, ...] | None = None
    """The kinds chaos draws from (None: every kind the simulator supports)."""
    restart: bool = False
    """A killed station comes back ``restart_delay`` rotations later."""
    restart_delay: float = 10.0
    drain: float | None = None
    """Rotations to run on after ``rotations`` with no new traffic or faults (None: a tenth of
    the run, at least 20)."""
    pcap: str | None = None

    def validate(self) -> None:
        super().validate()
        check_finite("--rotations", self.rotations, 1e-9, 1e9)
        check_finite("--link-delay-us", self.link_delay * 1e6, 1e-6, 1e9)
        check_finite("--jitter-us", self.jitter * 1e6, 0.0, 1e9)
        check_finite("link spread", self.link_spread, 0.0, 0.999)
        check_finite("--snapshot-every", self.snapshot_every, 0.0, 1e9)
        check_finite("--chaos", self.chaos, 0.0, 1e6)
        check_finite("--restart-delay", self.restart_delay, 0.0, 1e6)
        if self.drain is not None:
            check_finite("--drain", self.drain, 0.0, 1e9)
        for spec in self.faults:
            if Shell.SIM not in FAULTS[spec.kind].shells:
                raise ConfigError(f"--inject {spec}: the simulator cannot inject {spec.kind}")

    @property
    def drain_rotations(self) -> float:
        return self.drain if self.drain is not None else max(20.0, self.rotations / 10)


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
        """Every link delivery (markers too) per wall second."""
        return self.deliveries / self.wall if self.wall > 0 else 0.0

    @property
    def passes_per_s(self) -> float:
        """Token passes (free tokens and busy frames received) per wall second."""
        return self.token_passes / self.wall if self.wall > 0 else 0.0


class RingSim:
    """Builds a ring from a ``SimConfig`` and runs it; see the module docstring."""

    def __init__(self, config: SimConfig, on_event: Callable[[dict], None] | None = None,
                 stretches: bool = True) -> None:
        """``stretches`` False delivers every hop through the heap (the reference the fast
        path is tested against: same seed, same events, byte for byte)."""
        self.stretches = stretches
        config.validate()
        self.config = c = config
        n = c.stations
        self.rng = random.Random(f"ringemu-sim/{c.seed}")
        self.base = [c.link_delay * self.rng.uniform(1 - c.link_spread, 1 + c.link_spread)
                     for _ in range(n)]
        self.rotation = sum(self.base) + n * c.jitter / 2
        self.visit_p = visit_probability(c.load, n)
        self.stations = [self._station(i, 0) for i in range(n)]
        self.control_delay = c.link_delay
        self.detect_delay = 2 * c.link_delay
        faults = [replace(f) for f in c.faults]  # resolved here, never in the caller's config
        resolve_stations(faults, n, self.rng)
        self.schedule = faults + chaos(c.chaos, c.rotations, Shell.SIM, self.rng,
                                         pause=SIM_CHAOS_PAUSE, kinds=c.chaos_kinds)
        self.history = RunHistory(on_event)
        self.supervisor = Supervisor(
            self.history, stations=n, active_monitor=c.active_monitor, recovery=c.recovery,
            interval=c.snapshot_every * self.rotation,
            min_deadline=3 * self.rotation + 4 * self.control_delay,
            control_latency=self.control_delay, suspicions=c.suspicions)
        self.dead = [False] * n
        self.incarnation = [0] * n
        self.journal: list[list[JournalEntry]] = [[] for _ in range(n)]
        """Each station's journal: it survives the station's death, as a file would."""
        self.paused: dict[int, float] = {}
        """Paused stations and when they resume."""
        self.held: dict[int, list[tuple]] = {}
        """What reached each paused station, in order: delivered when it resumes."""
        self.timer_at: list[float | None] = [None] * n
        self.poll_at = float("inf")
        self.heap: list[tuple] = []
        self.seq = 0
        self.last = [0.0] * n
        self.deliveries = 0
        self.events = 0
        self.crossed = 0
        """Deliveries taken at once in a stretch of free-token passes, not through the heap."""
        self.capture = None
        self.traffic_on = True

    def _station(self, i: int, incarnation: int) -> Station:
        c = self.config
        traffic = None
        if self.visit_p > 0:
            traffic = Traffic(i, c.stations, self.visit_p, c.payload_size,
                              random.Random(f"{c.seed}/traffic/{i}/{incarnation}"
                                            if incarnation else f"{c.seed}/traffic/{i}"))
        return Station(i, c.stations, active_monitor=(i == c.active_monitor and not incarnation),
                       hold=c.hold, holding_time=c.holding_time, traffic=traffic)

    # -- scheduling ------------------------------------------------------------------------
    def _push(self, t: float, kind: int, a: object = None, b: object = None) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, self.seq, kind, a, b))

    def _send(self, i: int, out: tuple, t: float) -> None:
        """Put ``out`` on link i -> next, keeping FIFO order (slow path; the loop inlines it)."""
        nxt = self.stations[i].downstream
        epoch = self.stations[i].epoch
        for m in out:
            arr = t + self.base[i] + self.rng.random() * self.config.jitter
            if arr < self.last[i]:
                arr = self.last[i]
            self.last[i] = arr
            if self.capture is not None:
                self.capture.write(m, t)
            self.seq += 1
            heapq.heappush(self.heap, (arr, self.seq, MALFORMED if type(m) is Garbled
                                       else DELIVER, nxt, m, epoch))

    def _arm(self, j: int, t: float) -> None:
        """Keep one pending timer event for station ``j`` at its next due time."""
        nt = self.stations[j].next_timer()
        if nt is None:
            return
        at = self.timer_at[j]
        if at is None or at <= t or nt < at:
            if nt <= t:  # due now yet nothing to do: look again a little later, never loop
                nt = t + self.rotation / 4
            self.timer_at[j] = nt
            self._push(nt, TIMER, j, nt)

    def _wake_supervisor(self) -> None:
        w = self.supervisor.next_wake()
        if w < self.poll_at:
            self.poll_at = w
            self._push(w, POLL)

    # -- running ---------------------------------------------------------------------------
    def run(self, progress: Callable[[float, int], None] | None = None) -> SimOutcome:
        c = self.config
        end = c.rotations * self.rotation
        stop = end + c.drain_rotations * self.rotation
        if c.pcap:
            from ringemu.frames.capture import CaptureWriter

            self.capture = CaptureWriter(c.pcap)
        wall0 = time.perf_counter()
        h, sup = self.history, self.supervisor
        try:
            h.ring_starting(0.0, c.stations, {})
            for i in range(c.stations):
                h.station_up(0.0, i, None, f"sim:{i}")
            for o in sup.measured_rotation(self.rotation):
                self._control(o.station, o.command, 0.0)
            self._station_call(c.active_monitor, 0.0, lambda st: st.issue_token(0.0))
            h.ring_up(0.0, [None] * c.stations)
            self._orders(sup.ring_up(0.0), 0.0)
            for spec in self.schedule:
                self._push(spec.at * self.rotation, FAULT, spec)
            self._loop(end, progress)
            self.traffic_on = False
            for st in self.stations:
                st.stop_traffic()
            self._loop(stop, progress)
        finally:
            if self.capture is not None:
                self.capture.close()
        h.ring_down(stop, sup.snapshots.completed)
        wall = time.perf_counter() - wall0
        stats = [s.stats.as_dict() for s in self.stations]
        return SimOutcome(
            config=c, rotation=self.rotation, virtual_time=stop, history=h, judgement=judge(h),
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
        capture = self.capture
        holding = self.config.hold > 0
        pass_free = PASS_FREE
        fast = self.stretches and capture is None and not holding
        deliveries = 0
        events = 0
        crossed = 0
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
                self.held[j].append(item)  # a stopped process: it sees this when it resumes
                continue
            if kind != DELIVER:
                self.seq = seq
                self._dispatch(t, kind, j, item[4], item[5] if len(item) > 5 else None)
                seq = self.seq
                continue
            msg, ep = item[4], item[5]
            while True:  # a stretch of free-token passes is crossed here, without the heap
                deliveries += 1
                if dead[j]:
                    break
                st = stations[j]
                if ep != st.epoch:
                    st.admit(ep, t)  # sent before the ring was rebuilt: dropped, counted
                    break
                out = st.on_receive(msg, t)
                if out is not pass_free or fast is False or st.outbox:
                    break
                # The core only passed the free token on: its next delivery is the very next
                # event when it comes before everything on the heap (a tie goes to the heap:
                # its entries were pushed first), so it is taken at once, with the same
                # jitter drawn in the same order as the heap would have had it.
                nxt = st.downstream
                arr = t + base[j] + rand() * jitter
                if arr < last[j]:
                    arr = last[j]
                last[j] = arr
                seq += 1
                if arr > end or (heap and arr >= heap[0][0]) or (paused and nxt in paused):
                    heappush(heap, (arr, seq, DELIVER, nxt, msg, st.epoch))
                    out = None
                    break
                events += 1
                crossed += 1
                j, t, ep = nxt, arr, st.epoch
                if events >= next_progress:
                    next_progress += 1 << 16
                    if progress is not None:
                        progress(t / self.rotation, deliveries)
            if out is None or dead[j] or ep != st.epoch:
                continue
            if out:
                nxt = st.downstream
                epoch = st.epoch
                for m in out:
                    arr = t + base[j] + rand() * jitter
                    if arr < last[j]:
                        arr = last[j]
                    last[j] = arr
                    if capture is not None:
                        capture.write(m, t)
                    seq += 1
                    heappush(heap, (arr, seq, MALFORMED if type(m) is Garbled else DELIVER,
                                    nxt, m, epoch))
            if st.outbox:
                self.seq = seq
                self._drain(j, t)
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
        self.crossed += crossed

    def _dispatch(self, t: float, kind: int, a, b, c) -> None:
        sup = self.supervisor
        if kind == MALFORMED:
            self.deliveries += 1
            st = self.stations[a]
            if not self.dead[a] and st.admit(c, t):
                st.on_malformed(b.reason, t)
                self._drain(a, t)
        elif kind == REPORT:
            self._report(a, b, t)
        elif kind == POLL:
            if t >= self.poll_at:
                self.poll_at = float("inf")
                self._orders(sup.tick(t, self._down()), t)
            self._wake_supervisor()
        elif kind == FAULT:
            self._fault(a, t)
        elif kind == CONTROL:
            self._control(a, b, t)
        elif kind == ACK:
            station, (what, epoch) = a, b
            call = sup.installed if what == "installed" else sup.resumed
            self._orders(call(station, epoch, t), t)
        elif kind == TIMER:
            if b is not None and b == self.timer_at[a]:
                self.timer_at[a] = None
            self._station_call(a, t, lambda st: st.on_timer(t))
        elif kind == RESUME:
            if self.paused.get(a) == t:
                del self.paused[a]
                for item in self.held.pop(a, []):  # in the order they came
                    self.seq += 1
                    heapq.heappush(self.heap, (t, self.seq) + item[2:])
                self.history.resumed(t, a)
                self._orders(sup.station_up(a, t), t)
        elif kind == DETECT:
            self._orders(sup.station_down(a, t, dead=True), t)
        elif kind == RESTART:
            self._restart(a, t)
        elif kind == HELLO:
            if not self.dead[a]:
                self._orders(sup.station_up(a, t), t)

    def _down(self) -> set[int]:
        return {i for i, d in enumerate(self.dead) if d} | set(self.paused)

    def _station_call(self, j: int, t: float, call: Callable[[Station], tuple]) -> None:
        if self.dead[j]:
            return
        st = self.stations[j]
        self._send(j, call(st), t)
        self._drain(j, t)
        if st.deadline is not None and st.deadline > t:
            self._push(st.deadline, TIMER, j)
        self._arm(j, t)

    # -- the monitor's side -----------------------------------------------------------------
    def _orders(self, orders: list[Order], t: float) -> None:
        for o in orders:
            self._push(t + self.control_delay, CONTROL, o.station, o.command)
        self._wake_supervisor()

    def _control(self, j: int, cmd, t: float) -> None:
        """A command from the monitor reaches station ``j``."""
        if self.dead[j]:
            return
        st = self.stations[j]
        kind = type(cmd)
        if kind is StartSnapshot:
            self._station_call(j, t, lambda s: s.start_snapshot(cmd.sid, t))
        elif kind is StartPurge:
            if st.is_active_monitor:
                self._station_call(j, t, lambda s: s.start_purge(t))
        elif kind is SetTimers:
            st.set_timers(cmd.timers)
            self._arm(j, t)
        elif kind is Install:
            if cmd.restore is None:
                self._station_call(j, t, lambda s: s.install(
                    cmd.epoch, cmd.upstream, cmd.downstream, cmd.members, cmd.active_monitor, t,
                    cmd.monitor_present))
            else:
                self._station_call(j, t, lambda s: s.rollback(
                    cmd.epoch, cmd.upstream, cmd.downstream, cmd.members, cmd.active_monitor,
                    cmd.restore, cmd.resend, t))
            self._push(t + self.control_delay, ACK, j, ("installed", cmd.epoch))
        elif kind is Resume:
            self._station_call(j, t, lambda s: s.resume(t))
            self._push(t + self.control_delay, ACK, j, ("resumed", cmd.epoch))

    def _drain(self, j: int, t: float) -> None:
        """Station ``j``'s outbox: journal entries kept at once (before anything it sends is
        acted on), parts and events reported to the monitor."""
        st = self.stations[j]
        if len(st.outbox) == 1 and type(st.outbox[0]) is not JournalEntry:  # a part, mostly
            self._push(t + self.control_delay, REPORT, [st.outbox.pop()], j)
            return
        box = st.outbox[:]
        st.outbox.clear()
        reports = []
        for item in box:
            if type(item) is JournalEntry:
                self.journal[j].append(item)
            else:
                reports.append(item)
        if reports:
            self._push(t + self.control_delay, REPORT, reports, j)

    def _report(self, items: list, j: int, t: float) -> None:
        sup = self.supervisor
        orders: list[Order] = []
        for item in items:
            if type(item) is LocalSnapshot:
                orders += sup.part(item, t)
            else:
                orders += sup.station_event(item, t)
        self._orders(orders, t)

    # -- faults and restarts ----------------------------------------------------------------
    def _fault(self, spec: ScheduledFault, t: float) -> None:
        if not self.traffic_on:
            return
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
        if self.dead[j]:
            return  # nothing to inject into (a live ring refuses too)
        record = self.history.inject(t, spec.kind, j, spec.arg, scheduled=spec.at)
        if info.actor is Actor.STATION:
            self._station_call(j, t, lambda st: st.inject(spec.kind, t))
        elif spec.kind == FaultKind.KILL:
            self.dead[j] = True
            self.paused.pop(j, None)
            self.held.pop(j, None)
            self.history.process_fault_fired(record, t)
            self.history.station_exit(t, j, -9, None)
            self._push(t + self.detect_delay, DETECT, j)
            if self.config.restart:
                self._push(t + self.config.restart_delay * self.rotation, RESTART, j)
        elif spec.kind == FaultKind.PAUSE:
            until = max(self.paused.get(j, t), t + (spec.arg or 1.0) * self.rotation)
            self.paused[j] = until
            self.held.setdefault(j, [])
            self.history.process_fault_fired(record, t)
            self._orders(self.supervisor.station_down(j, t, dead=False), t)
            self._push(until, RESUME, j)

    def _restart(self, j: int, t: float) -> None:
        """Station ``j`` starts again, from its journal, and says hello."""
        if not self.dead[j]:
            return
        self.incarnation[j] += 1
        st = self._station(j, self.incarnation[j])
        st.payloads.restore(self.journal[j])
        if not self.traffic_on:
            st.stop_traffic()
        self.stations[j] = st
        self.dead[j] = False
        self.timer_at[j] = None
        self.history.restart(t, j)
        self.history.station_up(t, j, None, f"sim:{j}")
        self._push(t + self.control_delay, HELLO, j)


def simulate(config: SimConfig, progress: Callable[[float, int], None] | None = None
             ) -> SimOutcome:
    """Build and run one simulation."""
    return RingSim(config).run(progress)
