"""The deterministic simulator: the core's stations and supervisor on a virtual clock.

One process, one event heap ordered by (virtual time, sequence number), seeded randomness, FIFO
links with a per-link delay and per-message jitter. The objects it drives are the very
``Station`` and ``Supervisor`` the live station and monitor processes run, and it records the
run in the same ``RunHistory``; only the shell differs (the heap instead of sockets and clocks).
Same seed, same run: the event order, the verdicts and the capture are identical byte for byte.

Time is in virtual seconds. A *rotation* is the nominal time for one trip round the ring: the sum
of the mean link delays (impairments' delays included). Fault times, restarts and snapshot
intervals are given in rotations; over bandwidth-limited links the snapshot interval and
deadlines count a rotation that carries the largest message (a marker, or a busy frame under
load), so snapshots never queue up behind one another on a slow link.

What the live ring does with processes, sockets and the kernel, the simulator does with its heap:

- every link message carries the epoch its sender was in (the live link header);
- commands and reports between the monitor and a station take ``control_delay``;
- a killed station receives nothing more, and its neighbours' sockets would see it go: the
  supervisor hears of it ``detect_delay`` later; with ``restart`` it comes back, from its
  journal, ``restart_delay`` rotations later;
- a paused station receives nothing until it resumes, when what arrived meanwhile is delivered
  in order (a stopped process finds its socket buffers full);
- station timers are kept lazily: one pending timer event per station, armed again when it
  fires, so a passing token costs no heap work;
- a link with an impairment (``--delay``, ``--loss``...; ``ringemu.core.impairments``) or a cut
  passes each message through its ``LinkState``, the model the live stations' link layer
  runs: it may drop the message, send it twice, or hold it back, and it stays FIFO unless it
  reorders. Its delay is part of the nominal rotation.

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
from ringemu.core.history import TRAFFIC_COUNTERS, RunHistory
from ringemu.core.impairments import LinkState
from ringemu.core.membership import Install, Resume
from ringemu.core.messages import Garbled
from ringemu.core.payloads import JournalEntry
from ringemu.core.snapshot import LocalSnapshot
from ringemu.core.station import PASS_FREE, Station
from ringemu.core.supervisor import (Order, SetTimers, StartPurge, StartSnapshot, Supervisor,
                                     TraceRequest)
from ringemu.core.trace import HopTrace
from ringemu.core.traffic import Traffic, visit_probability
from ringemu.core.verdict import SnapshotResult
from ringemu.errors import ConfigError
from ringemu.faults import (ACTIVE_MONITOR, FAULTS, Actor, FaultKind, ScheduledFault, Shell, chaos,
                            resolve_stations)
from ringemu.params import RingParams, check_finite

# event kinds (the third field of a heap entry); DELIVER is the hot one
(DELIVER, MALFORMED, REPORT, POLL, FAULT, CONTROL, ACK, TIMER, RESUME, DETECT, RESTART,
 HELLO, TRAFFIC) = range(13)
STATION_BOUND = (DELIVER, MALFORMED, CONTROL, TIMER)
"""Heap events that a paused station only sees once it resumes."""
SIM_CHAOS_PAUSE = (1.0, 8.0)
"""Rotations a chaos pause lasts in the simulator (drawn uniformly)."""
TRAFFIC_POINTS = 50
"""``traffic`` events per run (the ring's counters over time, for the run report)."""


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
        self.links: list[LinkState | None] = [
            LinkState.seeded(c.seed, i, c.impairment_for(i)) if c.impairment_for(i).active
            else None for i in range(n)]
        """Each station's outgoing link layer, where it is impaired or cut (else None)."""
        self.rotation = (sum(self.base) + n * c.jitter / 2
                         + sum(c.impairment_for(i).trip() for i in range(n)))
        slow = self.rotation  # a rotation that carries the largest message (bandwidth limits)
        if any(c.impairment_for(i).bandwidth for i in range(n)):
            size = self._largest()
            slow += sum(c.impairment_for(i).trip(size) - c.impairment_for(i).trip()
                        for i in range(n))
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
            interval=c.snapshot_every * slow,
            min_deadline=3 * slow + 4 * self.control_delay,
            control_latency=self.control_delay, suspicions=c.suspicions,
            trace=c.trace and on_event is not None)
        self.traces = [HopTrace() for _ in range(n)] if self.supervisor.trace else None
        """Each station's trace of its recent messages (``ringemu.core.trace``), kept only
        when the run's events go somewhere (nobody else could read them)."""
        self.traffic_every = max(c.rotations / TRAFFIC_POINTS, 1.0) * self.rotation
        self.traffic_last = (0.0, 0)
        self.dead = [False] * n
        self.incarnation = [0] * n
        self.carried: list[dict[str, int]] = [{} for _ in range(n)]
        """Counters of stations' earlier lives (a restarted station counts from zero, as a
        live one does; the monitor carries them the same way)."""
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
        """Put ``out`` on link i -> next, keeping FIFO order (slow path; the loop inlines it
        for links with no impairment)."""
        st = self.stations[i]
        nxt = st.downstream
        epoch = st.epoch
        link = self.links[i]
        for m in out:
            if link is None:
                copies: tuple = ((t, True),)
            else:
                copies = link.transmit(m, self._size(m) if link.impairment.bandwidth else 0,
                                       t, st)
            for leaves, in_order in copies:
                arr = leaves + self.base[i] + self.rng.random() * self.config.jitter
                if in_order:
                    if arr < self.last[i]:
                        arr = self.last[i]
                    self.last[i] = arr
                if self.capture is not None:
                    self.capture.write(m, t)
                self.seq += 1
                heapq.heappush(self.heap, (arr, self.seq, MALFORMED if type(m) is Garbled
                                           else DELIVER, nxt, m, epoch))

    def _largest(self) -> int:
        """Octets of the largest message a rotation carries: a marker, or under load a busy
        frame. Snapshot deadlines leave room for a rotation over bandwidth-limited links
        that carries one."""
        from ringemu.core.messages import Frame, Marker

        c = self.config
        marker = self._size(Marker(0, 0))
        return max(marker, self._size(Frame(0, 1, 1, bytes(c.payload_size)))) if c.load \
            else marker

    @staticmethod
    def _size(m: object) -> int:
        """Octets ``m`` takes on a live ring link (the link header and its 802.5 octets): what
        a bandwidth limit charges for it."""
        from ringemu.frames.codec import encode
        from ringemu.frames.link import header

        return len(header(0)) + len(encode(m))  # type: ignore[arg-type]

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
            if c.impairment.active:
                h.impairment(0.0, None, c.impairment)
            for k, imp in sorted(c.link_impairments.items()):
                h.impairment(0.0, k, imp)
            for i in range(c.stations):
                h.station_up(0.0, i, None, f"sim:{i}")
            for o in sup.measured_rotation(self.rotation):
                self._control(o.station, o.command, 0.0)
            self._station_call(c.active_monitor, 0.0, lambda st: st.issue_token(0.0), "@go")
            h.ring_up(0.0, [None] * c.stations, sup.ring.current.active_monitor)
            self._orders(sup.ring_up(0.0), 0.0)
            for spec in self.schedule:
                self._push(spec.at * self.rotation, FAULT, spec)
            if h.sink is not None:
                self._push(self.traffic_every, TRAFFIC)
            self._loop(end, progress)
            self.traffic_on = False
            for st in self.stations:
                st.stop_traffic()
            self._loop(stop, progress)
        finally:
            if self.capture is not None:
                self.capture.close()
        if h.sink is not None:
            self._traffic(stop)
        h.ring_down(stop, sup.snapshots.completed)
        wall = time.perf_counter() - wall0
        stats = [_add(c, s.stats.as_dict()) for c, s in zip(self.carried, self.stations)]
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
        links = self.links
        paused = self.paused
        rand, jitter = self.rng.random, self.config.jitter
        capture = self.capture
        holding = self.config.hold > 0
        traces = self.traces
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
            out = None  # (nothing handled yet: a dead station or an old epoch drops it)
            while True:  # a stretch of free-token passes is crossed here, without the heap
                deliveries += 1
                if dead[j]:
                    break
                st = stations[j]
                if ep != st.epoch:
                    st.admit(ep, t)  # sent before the ring was rebuilt: dropped, counted
                    break
                out = st.on_receive(msg, t)
                if traces is not None:
                    traces[j].record(t if out is pass_free else (t, msg, out))
                if out is not pass_free or fast is False or st.outbox or links[j] is not None:
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
            if out and links[j] is not None:
                self.seq = seq
                self._send(j, out, t)
                seq = self.seq
            elif out:
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
                if self.traces is not None:
                    self.traces[a].record((t, "malformed", ()))
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
            self._station_call(a, t, lambda st: st.on_timer(t), "@timer")
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
        elif kind == TRAFFIC:
            self._traffic(t)
            self._push(t + self.traffic_every, TRAFFIC)

    def _down(self) -> set[int]:
        return {i for i, d in enumerate(self.dead) if d} | set(self.paused)

    def _traffic(self, t: float) -> None:
        """A ``traffic`` event: the ring's counters now, the hop rate since the last one."""
        t0, p0 = self.traffic_last
        if t <= t0 and t > 0:
            return  # one already at this very time
        stats = {i: _add(c, s.stats.as_dict())  # with what earlier incarnations counted
                 for i, (c, s) in enumerate(zip(self.carried, self.stations))}
        passes = sum(d["tokens"] + d["frames"] for d in stats.values())
        rate = max(0.0, (passes - p0) / (t - t0)) if t > t0 else 0.0
        self.traffic_last = (t, passes)
        self.history.traffic(t, passes, rate, {
            i: {**{k: d[k] for k in TRAFFIC_COUNTERS if k in d}, "send_dropped": 0}
            for i, d in stats.items()})

    def _station_call(self, j: int, t: float, call: Callable[[Station], tuple],
                      tag: str) -> None:
        if self.dead[j]:
            return
        st = self.stations[j]
        out = call(st)
        if out and self.traces is not None:  # a command that sent nothing is no hop
            self.traces[j].record((t, tag, out))
        self._send(j, out, t)
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
            self._station_call(j, t, lambda s: s.start_snapshot(cmd.sid, t), "@snapshot")
        elif kind is StartPurge:
            if st.is_active_monitor:
                self._station_call(j, t, lambda s: s.start_purge(t), "@purge")
        elif kind is SetTimers:
            st.set_timers(cmd.timers)
            self._arm(j, t)
        elif kind is Install:
            if cmd.restore is None:
                self._station_call(j, t, lambda s: s.install(
                    cmd.epoch, cmd.upstream, cmd.downstream, cmd.members, cmd.active_monitor, t,
                    cmd.monitor_present), "@install")
            else:
                self._station_call(j, t, lambda s: s.rollback(
                    cmd.epoch, cmd.upstream, cmd.downstream, cmd.members, cmd.active_monitor,
                    cmd.restore, cmd.resend, t), "@rollback")
            self._push(t + self.control_delay, ACK, j, ("installed", cmd.epoch))
        elif kind is Resume:
            self._station_call(j, t, lambda s: s.resume(t), "@resume")
            self._push(t + self.control_delay, ACK, j, ("resumed", cmd.epoch))
        elif kind is TraceRequest:
            if self.traces is not None:
                trace = self.traces[j].report(j, cmd.sid, t, cmd.since)
                self._push(t + self.control_delay, REPORT, [trace], j)

    def _drain(self, j: int, t: float) -> None:
        """Station ``j``'s outbox: journal entries kept at once (before anything it sends is
        acted on), parts and events reported to the monitor."""
        st = self.stations[j]
        if len(st.outbox) == 1 and type(st.outbox[0]) is not JournalEntry:  # a part, mostly
            item = st.outbox.pop()
            if self.traces is not None and type(item) is LocalSnapshot:
                self.traces[j].cut(item.snapshot_id)
            self._push(t + self.control_delay, REPORT, [item], j)
            return
        box = st.outbox[:]
        st.outbox.clear()
        reports = []
        for item in box:
            if type(item) is JournalEntry:
                self.journal[j].append(item)
            else:
                if type(item) is LocalSnapshot and self.traces is not None:
                    self.traces[j].cut(item.snapshot_id)
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
        if j == ACTIVE_MONITOR:  # whichever station holds the role now
            j = self.supervisor.ring.current.active_monitor
            if j is None:  # as a live ring refuses it
                self.history.inject_refused(
                    t, str(spec), "the ring has no active monitor now (an election is on)")
                return
            spec = replace(spec, station=j)
        if j is None:  # a chaos fault: any station alive now
            alive = [i for i, d in enumerate(self.dead) if not d]
            if not alive:
                self.history.inject_refused(t, str(spec), "no live station to inject into")
                return
            j = spec.station = self.rng.choice(alive)
        info = FAULTS[spec.kind]
        if j in self.paused and info.actor in (Actor.STATION, Actor.LINK):
            self._push(self.paused[j], FAULT, spec)  # its command waits in the socket too
            return
        if self.dead[j]:  # nothing to inject into: refused, as a live ring does
            self.history.inject_refused(t, str(spec), f"station {j} is dead")
            return
        if info.actor is Actor.LINK:
            self._link_fault(spec, j, t)
            return
        record = self.history.inject(t, spec.kind, j, spec.arg, scheduled=spec.at)
        if info.actor is Actor.STATION:
            self._station_call(j, t, lambda st: st.inject(spec.kind, t), f"@{spec.kind}")
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

    def _link_fault(self, spec: ScheduledFault, j: int, t: float) -> None:
        """Cut station ``j``'s outgoing link, or heal it; a cut of a cut link, or a heal of
        one that is not cut, does nothing (a live ring refuses them). The monitor learns of it
        from the station's report that it took effect, as in a live ring."""
        link = self.links[j]
        if link is None:
            link = self.links[j] = LinkState.seeded(self.config.seed, j)
        st = self.stations[j]
        if spec.kind == FaultKind.CUT:
            if link.cut_to is not None or j not in self.supervisor.ring.members:
                return
            self.history.inject(t, spec.kind, j, spec.arg, scheduled=spec.at)
            link.cut(st, t)
        elif link.cut_to is not None:
            self.history.inject(t, spec.kind, j, spec.arg, scheduled=spec.at)
            link.heal(st, t)
        self._drain(j, t)  # its report tells the monitor (``Supervisor.station_event``)

    def _restart(self, j: int, t: float) -> None:
        """Station ``j`` starts again, from its journal, and says hello."""
        if not self.dead[j]:
            return
        self.incarnation[j] += 1
        self.carried[j] = _add(self.carried[j], self.stations[j].stats.as_dict())
        st = self._station(j, self.incarnation[j])
        st.payloads.restore(self.journal[j], t)
        if not self.traffic_on:
            st.stop_traffic()
        self.stations[j] = st
        if self.traces is not None:
            self.traces[j] = HopTrace()
        imp = self.config.impairment_for(j)  # its link layer starts again too (no cut)
        self.links[j] = LinkState.seeded(self.config.seed, j, imp) if imp.active else None
        self.dead[j] = False
        self.timer_at[j] = None
        self.history.restart(t, j)
        self.history.station_up(t, j, None, f"sim:{j}")
        self._push(t + self.control_delay, HELLO, j)


def _add(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    out = dict(b)  # b's order first: the summary must be the same bytes every run
    for k, v in a.items():
        out[k] = out.get(k, 0) + v
    return out


def simulate(config: SimConfig, progress: Callable[[float, int], None] | None = None
             ) -> SimOutcome:
    """Build and run one simulation."""
    return RingSim(config).run(progress)
