"""Everything the snapshot monitor decides, in one sans-I/O object both shells drive.

The simulator and the live monitor process differ only in how they move messages and read
clocks. What to do when a snapshot is due, when a part or a station event arrives, when a
station dies, stops, comes back or acknowledges a new epoch, is decided here, once:

- periodic snapshots every ``interval`` seconds, and one at once on a station's suspicion (a
  suspicion never raises an alarm: only the snapshot's count does), but only while the ring is
  steady (never while it is being rebuilt or recovered, when a count would mean nothing);
- a dead station is named by an INCOMPLETE verdict at once (no snapshot of a ring it is in can
  complete) and bypassed (``RingManager.remove``); a restarted one is inserted again;
- a stopped station is named within a few rotations: a snapshot that waits on it is concluded
  early, and if none is under way one is begun for it;
  when every member has the new epoch, the active monitor purges, or the standbys elect one;
- a cut link (``link_cut``, when the station says its link layer cut it) is named by an
  INCOMPLETE verdict within a few rotations (cause
  ``cut``, the link in the snapshot event) and the ring stays broken, as a real ring with a
  broken trunk does, until the link is healed (``link_healed``): the ring manager then makes a
  new epoch of the same members, the active monitor purges and releases one token;
- a snapshot whose marker a link reported it dropped is concluded INCOMPLETE at once (cause
  ``dropped``, the link named), not at its deadline;
- recovery after a LOST or DUPLICATE verdict is a purge or a rollback, as the core monitor asks;
- station timers follow the measured rotation;
- the snapshots worth drawing (the first that counted, and each that raised an alarm, up to
  ``TRACE_LIMIT``) have every station asked for its trace (``ringemu.core.trace``).

Inputs are the methods below; each returns the ``Order``\\ s for the shell to carry out (a
command for one station), and every event goes to the run history.
"""

from __future__ import annotations

from dataclasses import dataclass

from ringemu.core.history import RunHistory
from ringemu.core.membership import Install, Membership, Purge, Resume, RingManager
from ringemu.core.monitor import PurgeRequest, RollbackRequest, SnapshotMonitor
from ringemu.core.snapshot import LocalSnapshot
from ringemu.core.station_events import (Elected, FaultFired, LinkFault, PurgeDone,
                                         StationEvent, Suspicion)
from ringemu.core.timers import StationTimers
from ringemu.core.verdict import SnapshotResult, Verdict
from ringemu.params import Recovery

DOWN_AFTER_ROTATIONS = 3.0
"""A snapshot waiting on a station known down concludes this many rotations after it began (the
time its marker needs to reach every station that can still answer)."""
TVX_BACKOFF = 1.25
"""A suspicion whose snapshot counted exactly one stretches the valid-transmission timer by
this factor (up to ``TVX_BACKOFF_MAX``); the stretch halves again every
``TVX_BACKOFF_HALF_LIFE`` seconds. A loaded machine, whose scheduling stalls outlast 4
rotations dozens of times a second, settles where groundless suspicions come about
ln 2 / (half-life x ln 1.25), 12 a second, instead of a storm of 60 that slows the ring; a
quiet one (1 or 2 a second) keeps the timer within about 15 % of its 4 rotations on average
(the mean log-stretch is their rate over that 12), so a lost token is still suspected within
a few milliseconds."""
TVX_BACKOFF_HALF_LIFE = 0.25
TVX_BACKOFF_MAX = 8.0
TRACE_LIMIT = 32
"""Snapshots traced per run at most (a storm of faults must not fill the run's events)."""
TRACE_BUDGET = 1024
"""Station traces per run at most (a snapshot of a ring of N stations costs N): a big ring
traces fewer snapshots."""
TRACE_FIRST_UP_TO = 64
"""The first snapshot that counted is traced only in rings this small (a bigger ring keeps its
budget for the alarms)."""
TRACED = (Verdict.LOST, Verdict.DUPLICATE, Verdict.INCOMPLETE)
"""Verdicts whose snapshots are traced (besides the first that counted)."""


@dataclass(frozen=True, slots=True)
class StartSnapshot:
    sid: int


@dataclass(frozen=True, slots=True)
class StartPurge:
    pass


@dataclass(frozen=True, slots=True)
class SetTimers:
    timers: StationTimers


@dataclass(frozen=True, slots=True)
class TraceRequest:
    """Report the trace of snapshot ``sid`` (rows since ``since`` if the station had no part
    in it), on the station's clock as the shell converts it."""

    sid: int
    since: float


Command = StartSnapshot | StartPurge | Install | Resume | SetTimers | TraceRequest


@dataclass(frozen=True, slots=True)
class Order:
    """Send ``command`` to ``station``."""

    station: int
    command: Command


class Supervisor:
    """See the module docstring. Times are seconds on the shell's clock."""

    def __init__(self, history: RunHistory, *, stations: int, active_monitor: int,
                 recovery: Recovery, interval: float, min_deadline: float,
                 control_latency: float = 0.0, timer_floor: float = 0.0,
                 suspicions: bool = True, trace: bool = True,
                 one_at_a_time: bool = False) -> None:
        self.history = history
        self.trace = trace
        """Ask stations for the trace of the snapshots worth drawing."""
        self.traced = 0
        self.trace_budget = TRACE_BUDGET
        self.counted_one = False
        self.one_at_a_time = one_at_a_time
        """Periodic snapshots wait for the one under way (the live monitor): when the ring
        turns slower than the interval, markers of snapshots begun one after another would
        otherwise queue in front of the token, and each costs every station a wake-up and a
        report, so the slower the ring the more of them, until they were most of its traffic.
        The simulator lets them overlap (a property it is tested with)."""
        self.snapshots = SnapshotMonitor(range(stations), active_monitor=active_monitor,
                                         recovery=recovery, min_deadline=min_deadline)
        self.ring = RingManager(stations, active_monitor)
        self.interval = interval
        self.suspicions = suspicions
        self.control_latency = control_latency
        self.timer_floor = timer_floor
        """The least any station timer may be (a live process's scheduling noise)."""
        self.next_snapshot = float("inf")
        self.tvx_scale = 1.0
        """The valid-transmission timer's back-off (``TVX_BACKOFF``), as of ``_scaled_at``."""
        self._scaled_at = 0.0
        self._suspected: set[int] = set()
        """Snapshots begun on a suspicion, not yet concluded."""
        self.rotation: float | None = None
        self.timers: StationTimers | None = None
        self.down: set[int] = set()
        """Stations known dead or stopped."""
        self.to_name: set[int] = set()
        """Stopped stations still to get a snapshot begun just after them (``_seek_stopped``)."""
        self.rolling_back: int | None = None

    # -- life ------------------------------------------------------------------------------------
    def ring_up(self, now: float) -> list[Order]:
        """The first token is out: snapshots start, the first at once and at the active
        monitor (its command follows the one that issued the token, so its cut is after)."""
        self.next_snapshot = now + self.interval if self.interval > 0 else float("inf")
        return self.begin(now, self.ring.current.active_monitor)

    def set_interval(self, seconds: float, now: float) -> None:
        self.interval = seconds
        self.next_snapshot = now + seconds if seconds > 0 else float("inf")
        self.history.interval(now, seconds)

    def guess_rotation(self, rotation: float) -> None:
        """Before the ring's rotation is measured: scale the deadlines on a guess (stations
        keep no timers until it is measured: a wrong guess would make them suspect all)."""
        if self.rotation is None:
            self.snapshots.down_after = (DOWN_AFTER_ROTATIONS * rotation
                                         + 2 * self.control_latency)

    def measured_rotation(self, rotation: float) -> list[Order]:
        """The ring turns in ``rotation`` seconds now: scale the deadlines and, when it moved
        by a quarter or more, every station's timers."""
        if rotation <= 0:
            return []
        self.snapshots.down_after = DOWN_AFTER_ROTATIONS * rotation + 2 * self.control_latency
        old = self.rotation
        if old is not None and 0.8 < rotation / old < 1.25 and self.timers is not None:
            return []
        self.rotation = rotation
        self.timers = StationTimers.for_rotation(rotation, self.timer_floor, self.tvx_scale)
        return self._timer_orders(self.ring.members)

    def _timer_orders(self, members) -> list[Order]:
        """Every station in ``members`` gets the current timers."""
        return [Order(k, SetTimers(self.timers)) for k in members]  # type: ignore[arg-type]

    def _backoff(self, now: float, groundless: bool) -> list[Order]:
        """The back-off decays with time and grows with a groundless suspicion; the stations
        get new timers when their valid-transmission timer moves by a quarter or more."""
        scale = max(1.0, self.tvx_scale
                    * 0.5 ** (max(0.0, now - self._scaled_at) / TVX_BACKOFF_HALF_LIFE))
        if groundless:
            scale = min(TVX_BACKOFF_MAX, scale * TVX_BACKOFF)
        self.tvx_scale, self._scaled_at = scale, now
        if self.rotation is None or self.timers is None:
            return []
        timers = StationTimers.for_rotation(self.rotation, self.timer_floor, scale)
        if 0.8 < timers.valid_transmission / self.timers.valid_transmission < 1.25:
            return []
        self.timers = timers
        return self._timer_orders(self.ring.members)

    def next_wake(self) -> float:
        """When ``tick`` next has something to do (periodic snapshots wait for a steady
        ring: becoming steady starts one at once)."""
        wake = (self.next_snapshot if self.ring.steady and not (
            self.one_at_a_time and self.snapshots.busy) else float("inf"))  # _may_begin()
        deadline = self.snapshots.next_deadline
        return wake if deadline is None or wake <= deadline else deadline

    # -- time ------------------------------------------------------------------------------------
    def tick(self, now: float, down: set[int] | None = None, load: float = 1.0) -> list[Order]:
        """Whatever is due now: overdue snapshots judged, the periodic snapshot begun.
        ``down`` adds stations the shell found down just now."""
        orders: list[Order] = []
        extra = (down or set()) - self.down
        if self.snapshots.next_deadline is not None and now >= self.snapshots.next_deadline:
            orders += self._handle(self.snapshots.poll(now, self.down | extra, load), now)
            orders += self._seek_stopped(now)
        return orders + self._periodic(now)

    def _may_begin(self) -> bool:
        return self.ring.steady and not (self.one_at_a_time and self.snapshots.busy)

    def _periodic(self, now: float) -> list[Order]:
        """The periodic snapshot, if it is due and may begin."""
        if self._may_begin() and now >= self.next_snapshot:
            self.next_snapshot = max(self.next_snapshot + self.interval, now)
            orders = self.begin(now)
            if self.tvx_scale > 1.0:
                orders += self._backoff(now, groundless=False)
            return orders
        return []

    def begin(self, now: float, initiator: int | None = None) -> list[Order]:
        if not self.ring.steady:
            return []
        if self.next_snapshot < now and self.interval > 0:
            self.next_snapshot = now + self.interval  # the schedule goes on from here
        sid, initiator = self.snapshots.begin(now, initiator)
        return [Order(initiator, StartSnapshot(sid))]

    # -- inputs ----------------------------------------------------------------------------------
    def part(self, part: LocalSnapshot, now: float) -> list[Order]:
        orders = self._handle(self.snapshots.on_report(part, now), now)
        if not self.snapshots.busy:
            orders += self._seek_stopped(now)
        if self.one_at_a_time and not self.snapshots.busy:
            orders += self._periodic(now)  # one was waiting for this one to complete
        return orders

    def station_event(self, ev: StationEvent, now: float) -> list[Order]:
        self.history.station_event(ev)
        t = type(ev)
        orders: list[Order] = []
        if t is PurgeDone:
            orders += self._handle(
                self.snapshots.on_purge_done(ev.number, now, ev.station, ev.t), now)
            if self.ring.purge_done(ev.station):
                self.history.steady(now, self.ring.current.epoch)
            if not self.snapshots.busy:
                orders += self.begin(now)  # the purged or rebuilt ring: count it at once
        elif t is Elected:
            self.ring.elected(ev.station)
            self.snapshots.set_active_monitor(ev.station)
        elif t is Suspicion and self.suspicions and not self.snapshots.busy:
            orders += self.begin(now)
            if orders:
                self._suspected.add(orders[0].command.sid)  # type: ignore[union-attr]
        elif t is LinkFault and ev.what == "marker":  # type: ignore[attr-defined]
            orders += self._handle(self.snapshots.marker_dropped(
                ev.sid, (ev.station, ev.to), now), now)  # type: ignore[attr-defined]
        elif t is FaultFired and ev.fault == "cut":  # type: ignore[attr-defined]
            orders += self.link_cut(ev.station, now)
        elif t is FaultFired and ev.fault == "heal":  # type: ignore[attr-defined]
            orders += self.link_healed(ev.station, now)
        return orders

    def station_down(self, k: int, now: float, dead: bool) -> list[Order]:
        """Station ``k`` is down: dead (named and bypassed now) or stopped (it will go on)."""
        if k not in self.ring.members or (k in self.down and not dead):
            return []
        self.down.add(k)
        self.snapshots.down = set(self.down)
        self.snapshots.named.discard(k)
        self.to_name.add(k)
        orders: list[Order] = []
        if dead:
            orders += self._handle(self.snapshots.fail_pending(k, now), now)
            orders += self._change(self.ring.remove(k), now)
            return orders + self.tick(now)
        return orders + self._seek_stopped(now) + self.tick(now)

    def _seek_stopped(self, now: float) -> list[Order]:
        """A stopped member no verdict has named yet gets a snapshot of its own as soon as
        none is under way, begun just after it (so its marker meets no other stopped station
        first): a snapshot that waits on it names it. Asked when a station stops and when a
        snapshot concludes (one under way when the station stopped may have passed it)."""
        if not self.to_name or self.snapshots.busy or not self.ring.steady:
            return []
        members = self.ring.members
        for k in sorted(self.to_name):
            self.to_name.discard(k)  # one snapshot each: one that counts means it goes on
            if k in self.down and k in members and k not in self.snapshots.named:
                return self.begin(now, self.ring.current.neighbours(k)[1])
        return []

    def link_cut(self, k: int, now: float) -> list[Order]:
        """Station ``k``'s outgoing link (to its downstream neighbour now) was cut: a snapshot
        that waits on the station behind it concludes early, naming the link; with none under
        way one is begun (at ``k``: its marker meets the cut at once)."""
        if k not in self.ring.members:
            return []
        _, to = self.ring.current.neighbours(k)
        self.snapshots.cuts[k] = to
        orders: list[Order] = []
        if not self.snapshots.busy and self.ring.steady:
            orders += self.begin(now, k)
        return orders + self.tick(now)

    def link_healed(self, k: int, now: float) -> list[Order]:
        """Station ``k``'s cut link is up again: the ring is rebuilt (same members, a new
        epoch), purged, and counted once it is steady. (A snapshot whose marker the cut
        dropped was concluded when the station reported the drop; the rebuild abandons the
        others.)"""
        if self.snapshots.cuts.pop(k, None) is None:
            return []
        if self.snapshots.cut_links():
            return []  # still broken elsewhere: rebuild when the last cut heals
        return self._change(self.ring.heal(), now)

    def station_up(self, k: int, now: float) -> list[Order]:
        """Station ``k`` goes on (a pause ended) or came back (restarted: inserted again)."""
        orders: list[Order] = []
        self.down.discard(k)
        self.snapshots.down = set(self.down)
        self.snapshots.named.discard(k)
        if k in self.ring.bypassed:
            self.snapshots.cuts.pop(k, None)  # a restarted station's link layer is new
            orders += self._change(self.ring.insert(k), now)
        return orders

    def installed(self, k: int, epoch: int, now: float) -> list[Order]:
        return self._change(self.ring.installed(k, epoch), now)

    def resumed(self, k: int, epoch: int, now: float) -> list[Order]:
        """Station ``k`` sent again what the rollback found in transit; when all have, the
        restored ring is counted at once."""
        if not self.ring.resumed(k, epoch):
            return []
        self.snapshots.recovered()
        self.history.rollback_done(now, self.rolling_back, epoch)
        self.history.steady(now, epoch)
        self.rolling_back = None
        return self.begin(now)

    # -- reactions -------------------------------------------------------------------------------
    def _handle(self, events: list, now: float) -> list[Order]:
        orders: list[Order] = []
        for ev in events:
            self.history.monitor_event(ev)
            t = type(ev)
            if t is SnapshotResult:
                orders += self._trace(ev)
                if self._suspected and ev.snapshot_id in self._suspected:
                    self._suspected.discard(ev.snapshot_id)
                    if ev.verdict is Verdict.OK:
                        orders += self._backoff(now, groundless=True)
            elif t is PurgeRequest:
                orders.append(Order(ev.station, StartPurge()))
            elif t is RollbackRequest:
                actions = self.ring.rollback(self.snapshots.last_good)
                if actions:
                    self.rolling_back = ev.snapshot_id
                    self.history.rollback(now, ev.snapshot_id, self.ring.current.epoch)
                    orders += self._change(actions, now)
                elif self.snapshots.active_monitor is not None:
                    orders.append(Order(self.snapshots.active_monitor, StartPurge()))
        return orders

    def _trace(self, r: SnapshotResult) -> list[Order]:
        """Ask every member for its trace of ``r`` if it is worth drawing."""
        if not self.trace or self.traced >= TRACE_LIMIT:
            return []
        members = self.ring.members
        first = r.count is not None and not self.counted_one
        self.counted_one = self.counted_one or r.count is not None
        if first and len(members) > TRACE_FIRST_UP_TO:
            first = False
        if (not first and r.verdict not in TRACED) or len(members) > self.trace_budget:
            return []
        self.traced += 1
        self.trace_budget -= len(members)
        return [Order(k, TraceRequest(r.snapshot_id, r.started)) for k in members]

    def _change(self, actions: list, now: float) -> list[Order]:
        """Carry out the ring manager's actions; a new epoch goes to the monitor and history."""
        orders: list[Order] = []
        m: Membership = self.ring.current
        if any(type(a) is Install for a in actions):
            self.snapshots.set_members(m.members, m.epoch, m.active_monitor)
            self._suspected.clear()  # abandoned with the old ring's snapshots
            self.history.membership(now, m, sorted(self.ring.bypassed))
            if self.timers is not None:
                orders += self._timer_orders(m.members)
        for a in actions:
            if type(a) is Purge:
                orders.append(Order(a.station, StartPurge()))
            else:
                orders.append(Order(a.station, a))
        return orders
