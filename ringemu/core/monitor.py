"""The snapshot monitor's logic: schedule snapshots, collect parts, judge, alarm, recover.

Sans-I/O like the rest of the core. The shell (the simulator, or the live monitor process):

1. calls ``begin(now)`` every snapshot interval and tells the returned initiator to start the
   returned snapshot id;
2. feeds every station's finished part to ``on_report(part, now)``;
3. calls ``poll(now)`` at ``next_deadline`` so silent stations turn into an INCOMPLETE verdict;
4. feeds the active monitor's purge completions to ``on_purge_done(number, now)``;
5. acts on the returned events: ``SnapshotResult`` and ``AlarmEvent`` are published, a
   ``PurgeRequest`` is sent to the active monitor station.

Recovery (``recovery``): after a LOST or DUPLICATE verdict the monitor asks for it once: a purge
by the active monitor (``PurgeRequest``), or a rollback to the last snapshot that counted
exactly one (``RollbackRequest``: the shell has the ring manager rebuild the ring from that
snapshot's parts, which this monitor keeps in ``last_good``). No further recovery is asked until
that one completes (or ``purge_timeout`` passes). A cut that finds the active monitor purging
is ``RECOVERING``; a cut from before the last completed purge is marked stale. Neither raises
nor clears alarms, so the alarm from the fault stands until the first snapshot after the purge
counts one token, and a later fault is detected on its own.

The deadline adapts to the ring: ``max(min_deadline, deadline_factor * median recent snapshot)``.

Membership: the ring may be rebuilt (``ringemu.core.membership``); ``set_members`` gives the
monitor the new epoch's stations, snapshots of the old ring are abandoned, and parts of another
epoch are ignored.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterable, Sequence

from ringemu.core.snapshot import LocalSnapshot
from ringemu.core.state import Mode
from ringemu.core.verdict import (AlarmEvent, AlarmTracker, Cause, SnapshotResult, Verdict,
                                  count_tokens, verdict_for)
from ringemu.errors import LocalProtocolError
from ringemu.params import Recovery


@dataclass(frozen=True, slots=True)
class RollbackRequest:
    """Roll the ring back to snapshot ``snapshot_id`` (the last that counted one), because of
    ``because``."""

    snapshot_id: int
    because: int
    t: float

    def to_json(self) -> dict:
        return {"event": "rollback_request", "t": self.t, "snapshot": self.snapshot_id,
                "because": self.because}


@dataclass(frozen=True, slots=True)
class PurgeRequest:
    """Ask ``station`` (the active monitor) to purge the ring, because of ``snapshot_id``."""

    station: int
    snapshot_id: int
    t: float

    def to_json(self) -> dict:
        return {"event": "purge_request", "t": self.t, "station": self.station,
                "snapshot": self.snapshot_id}


class _Pending:
    __slots__ = ("sid", "initiator", "started", "deadline", "parts", "graced", "typical")

    def __init__(self, sid: int, initiator: int, started: float, deadline: float,
                 typical: bool = True) -> None:
        self.sid = sid
        self.initiator = initiator
        self.started = started
        self.deadline = deadline
        self.parts: dict[int, LocalSnapshot] = {}
        self.graced = 0.0
        """Extra time given because every silent station was alive and running."""
        self.typical = typical
        """Begun while no alarm stood, and no INCOMPLETE verdict came while it was under way:
        its completion time says how long snapshots of this ring take. One under way while
        the ring was broken (a partition holding its markers up) completes only once the ring
        is whole again, seconds later, and must not stretch the deadlines of the next ones."""


MonitorEvent = SnapshotResult | AlarmEvent | PurgeRequest | RollbackRequest


class SnapshotMonitor:
    """Coordinates snapshots of one ring whose stations are listed in ring order."""

    def __init__(
        self,
        stations: Sequence[int],
        *,
        active_monitor: int | None = None,
        recovery: Recovery | str | bool = Recovery.PURGE,
        min_deadline: float = 0.2,
        deadline_factor: float = 8.0,
        purge_timeout: float | None = None,
    ) -> None:
        if len(stations) < 2:
            raise LocalProtocolError("a ring needs at least two stations")
        self.stations = list(stations)
        self._position = {s: i for i, s in enumerate(self.stations)}
        self.active_monitor = self.stations[0] if active_monitor is None else active_monitor
        if recovery is True or recovery is False:
            recovery = Recovery.PURGE if recovery else Recovery.NONE
        self.recovery = Recovery(recovery)
        self.epoch = 0
        self.down: set[int] = set()
        """Stations the shell knows are dead or stopped: a snapshot waiting on one of them is
        concluded ``down_after`` seconds after it began, not at its deadline."""
        self.down_after = float("inf")
        self.named: set[int] = set()
        """Down stations a verdict has named since they went down: a snapshot that waits on
        several names one not named yet, so a station stopped behind another stopped one is
        named by the next verdict, not when the rotating initiators happen to start between
        them (a marker stops at the first down station it meets)."""
        self.cuts: dict[int, int] = {}
        """Links the shell cut, from -> to: a snapshot waiting on a station behind one is
        concluded like one waiting on a down station, naming the link (cause ``cut``)."""
        self.last_good: dict[int, LocalSnapshot] = {}
        """The parts of the last snapshot of this epoch that counted exactly one."""
        self.last_good_id: int | None = None
        self.min_deadline = min_deadline
        self.deadline_factor = deadline_factor
        self.purge_timeout = purge_timeout if purge_timeout is not None else 4 * min_deadline
        self.alarms = AlarmTracker()
        self.completed = 0
        self.results: deque[SnapshotResult] = deque(maxlen=256)
        self._pending: dict[int, _Pending] = {}
        self._next_sid = 0
        self._next_initiator = 0
        self._recent: deque[float] = deque(maxlen=16)
        self._purge_done_at: dict[int, float] = {}
        """When each active monitor last completed a purge, on its own clock: a cut that
        passed it before then is stale."""
        self._purge_asked: float | None = None

    # -- scheduling ---------------------------------------------------------------------------
    def set_members(self, stations: Sequence[int], epoch: int,
                    active_monitor: int | None) -> None:
        """The ring was rebuilt: snapshot these stations from now on. Snapshots of the old ring
        can never complete (its markers are dropped as stale): they are abandoned."""
        self.stations = list(stations)
        self._position = {s: i for i, s in enumerate(self.stations)}
        self.epoch = epoch
        self.active_monitor = active_monitor
        self._pending.clear()
        self.last_good, self.last_good_id = {}, None
        self._purge_asked = None
        self._purge_done_at.clear()

    def set_active_monitor(self, station: int) -> None:
        self.active_monitor = station

    @property
    def busy(self) -> bool:
        """A snapshot is under way (a suspicion need not start another)."""
        return bool(self._pending)

    def begin(self, now: float, initiator: int | None = None) -> tuple[int, int]:
        """Open a new snapshot; returns (snapshot id, initiator). Initiators rotate by default."""
        if initiator is None:
            initiator = self.stations[self._next_initiator % len(self.stations)]
            self._next_initiator += 1
        elif initiator not in self._position:
            raise LocalProtocolError(f"unknown station {initiator}")
        sid = self._next_sid
        self._next_sid += 1
        self._pending[sid] = _Pending(sid, initiator, now, now + self.deadline(),
                                      typical=not self.alarms.active)
        return sid, initiator

    def deadline(self) -> float:
        """How long a snapshot may take before silent stations are reported.

        Scales with the median of recent completion times, so one snapshot slowed by a paused
        station does not stretch the deadline of the next ones; snapshots begun while an alarm
        stood are not counted (``_Pending.typical``).
        """
        if not self._recent:
            return self.min_deadline
        typical = sorted(self._recent)[len(self._recent) // 2]
        return max(self.min_deadline, self.deadline_factor * typical)

    def deadline_of(self, sid: int) -> float | None:
        """When snapshot ``sid`` expires (None once it is concluded)."""
        pending = self._pending.get(sid)
        return None if pending is None else pending.deadline

    @property
    def next_deadline(self) -> float | None:
        pending = self._pending
        if not pending:
            return None
        if not self.down:  # the common case, asked after every part: no generator, no test
            if len(pending) == 1:
                for p in pending.values():
                    return p.deadline
            return min(p.deadline for p in pending.values())
        return min(self._due(p) for p in pending.values())

    def _due(self, p: _Pending) -> float:
        down = self.down | self.cut_off() if self.cuts else self.down
        if down and any(s in down and s not in p.parts for s in self.stations):
            return min(p.deadline, p.started + self.down_after)
        return p.deadline

    def cut_off(self) -> set[int]:
        """Stations a cut link in use leads to (their markers cannot reach them). A cut link
        out of use (a station at either end bypassed) blocks nothing."""
        return {b for a, b in self.cut_links()}

    def cut_links(self) -> list[tuple[int, int]]:
        out = []
        n = len(self.stations)
        for a, b in self.cuts.items():
            i = self._position.get(a)
            if i is not None and self.stations[(i + 1) % n] == b:
                out.append((a, b))
        return out

    # -- inputs -------------------------------------------------------------------------------
    def on_report(self, part: LocalSnapshot, now: float) -> list[MonitorEvent]:
        """A station's finished part. Late parts (after the deadline) are ignored."""
        pending = self._pending.get(part.snapshot_id)
        if pending is None or part.node not in self._position or part.state.epoch != self.epoch:
            return []
        pending.parts[part.node] = part
        if len(pending.parts) < len(self.stations):
            return []
        del self._pending[part.snapshot_id]
        return self._judge(pending, now)

    def poll(self, now: float, down: Iterable[int] = (), load: float = 1.0
             ) -> list[MonitorEvent]:
        """Expire snapshots past their deadline as INCOMPLETE, or give them more time.

        ``down`` names the stations the shell knows are dead or stopped. A snapshot waiting on
        one of them is INCOMPLETE at once (that station is the suspect). A snapshot whose
        silent stations are all alive and running is late, not broken (a loaded machine can
        hold a process back for a while): it gets one grace of its deadline again, times
        ``load`` (the machine's run-queue length per CPU, at least 1), before the verdict;
        the verdict's ``cause`` says which it was.
        """
        events: list[MonitorEvent] = []
        down_set = set(down) | self.down
        if self.cuts:
            down_set |= self.cut_off()
        for sid in [s for s, p in self._pending.items()
                    if p.deadline <= now or (down_set and p.started + self.down_after <= now)]:
            pending = self._pending[sid]
            silent_down = any(s in down_set for s in self.stations if s not in pending.parts)
            if pending.deadline > now and not silent_down:
                continue  # only its early look for down stations was due, and none is down
            if not silent_down and not pending.graced:
                pending.graced = self.grace(load)
                pending.deadline = now + pending.graced
                continue
            del self._pending[sid]
            events.extend(self._incomplete(pending, now, down_set))
        return events

    def silent(self) -> set[int]:
        """Stations some overdue snapshot still waits for (what the shell should check)."""
        return {s for p in self._pending.values() for s in self.stations if s not in p.parts}

    def fail_pending(self, station: int, now: float) -> list[MonitorEvent]:
        """Station ``station`` died: no snapshot of a ring it is in can complete any more (its
        markers die with it). Every snapshot under way is concluded INCOMPLETE at once, naming
        it; with none under way, one is opened and concluded so (the snapshot the monitor would
        take next could not complete either), so the death is always named by a verdict."""
        if station not in self._position:
            return []
        if not self._pending:
            sid = self._next_sid
            self._next_sid += 1
            self._pending[sid] = _Pending(sid, station, now, now)
        events: list[MonitorEvent] = []
        for sid in list(self._pending):
            pending = self._pending.pop(sid)
            events.extend(self._incomplete(pending, now, {station}, suspect=station))
        return events

    def marker_dropped(self, sid: int, link: tuple[int, int], now: float
                       ) -> list[MonitorEvent]:
        """A link reported it dropped a marker of snapshot ``sid`` (a lossy or cut link): the
        snapshot can never complete, so it is concluded INCOMPLETE now, naming the station
        the marker was for and the link, instead of at its deadline (meanwhile a suspicion
        could not start another)."""
        pending = self._pending.get(sid)
        if pending is None or link[1] in pending.parts or link[1] not in self._position:
            return []
        del self._pending[sid]
        cut = link in self.cut_links()
        return self._incomplete(pending, now, set(), suspect=link[1],
                                cause=Cause.CUT if cut else Cause.DROPPED, link=link)

    def grace(self, load: float = 1.0) -> float:
        """The extra time a late snapshot of live stations gets: its deadline again, scaled up
        by the machine's load."""
        return self.deadline() * max(1.0, min(load, 8.0))

    def on_purge_done(self, number: int, now: float, station: int | None = None,
                      at: float | None = None) -> list[MonitorEvent]:
        """Active monitor ``station`` (default: the current one) finished purge ``number`` at
        ``at`` on its own clock (default: ``now``)."""
        am = self.active_monitor if station is None else station
        if am is not None:
            done = now if at is None else at
            self._purge_done_at[am] = max(self._purge_done_at.get(am, done), done)
        self._purge_asked = None
        return []

    # -- judgement ------------------------------------------------------------------------------
    def _judge(self, pending: _Pending, now: float) -> list[MonitorEvent]:
        parts = pending.parts.values()
        count = count_tokens(parts)
        states = {p.node: p.state for p in parts}
        am_state = states.get(self.active_monitor)
        purging = any(s.mode is Mode.PURGING for s in states.values())
        stale = (not purging and am_state is not None
                 and am_state.at < self._purge_done_at.get(self.active_monitor, float("-inf")))
        verdict = Verdict.RECOVERING if purging else verdict_for(count.total)
        result = SnapshotResult(
            pending.sid, pending.initiator, pending.started, now, verdict, count.total,
            count.held, count.in_transit, states, stale=stale,
        )
        self.completed += 1
        if pending.typical:
            self._recent.append(result.duration)
        if verdict is Verdict.OK and not stale:
            self.last_good, self.last_good_id = dict(pending.parts), pending.sid
        return self._conclude(result, now)

    def _incomplete(self, pending: _Pending, now: float, down: set[int],
                    suspect: int | None = None, cause: Cause | None = None,
                    link: tuple[int, int] | None = None) -> list[MonitorEvent]:
        order = self._ring_from(pending.initiator)
        if not pending.parts:  # nobody answered: the initiator never started
            order = [order[-1]] + order[:-1]
        silent = [s for s in order if s not in pending.parts]
        if suspect is None:
            downs = [s for s in silent if s in down]
            fresh = [s for s in downs if s not in self.named]
            suspect = (fresh or downs or silent or [None])[0]
        if cause is None:
            cause = Cause.DOWN if suspect in down else Cause.LATE
            if suspect not in self.down:
                link = next(((a, b) for a, b in self.cut_links() if b == suspect), None)
                if link is not None:
                    cause = Cause.CUT
        if cause is Cause.DOWN and suspect is not None:
            self.named.add(suspect)
        for other in self._pending.values():  # under way across a verdict that the ring is
            other.typical = False  # broken: what they take says nothing of a whole ring
        result = SnapshotResult(
            pending.sid, pending.initiator, pending.started, now, Verdict.INCOMPLETE,
            states={p.node: p.state for p in pending.parts.values()},
            silent=tuple(silent), suspect=suspect, cause=cause, link=link,
        )
        return self._conclude(result, now)

    def _conclude(self, result: SnapshotResult, now: float) -> list[MonitorEvent]:
        self.results.append(result)
        events: list[MonitorEvent] = [result]
        events.extend(self.alarms.update(result))
        if (
            self.recovery is not Recovery.NONE
            and result.is_alarming
            and result.verdict in (Verdict.LOST, Verdict.DUPLICATE)
            and self._may_purge(now)
        ):
            self._purge_asked = now
            if self.recovery is Recovery.ROLLBACK and self.last_good_id is not None:
                events.append(RollbackRequest(self.last_good_id, result.snapshot_id, now))
            elif self.active_monitor is not None:
                events.append(PurgeRequest(self.active_monitor, result.snapshot_id, now))
        return events

    def recovered(self) -> None:
        """A rollback finished: the next verdicts are about the restored ring."""
        self._purge_asked = None

    def _may_purge(self, now: float) -> bool:
        return self._purge_asked is None or now - self._purge_asked >= self.purge_timeout

    def _ring_from(self, initiator: int) -> list[int]:
        """Stations in the order a marker from ``initiator`` reaches them, initiator last."""
        i = self._position[initiator]
        n = len(self.stations)
        return [self.stations[(i + k) % n] for k in range(1, n + 1)]
