"""What the dashboard knows about the ring, folded from the monitor's events.

Pure and Textual-free, like the protocol cores: events in (the dicts of ``docs/events.md``),
a ``RingState`` out, so a test can fold canned events and check the result without a screen.
Folding is cheap (a few dict writes per event; a snapshot event is parsed once into the core's
typed ``SnapshotResult``), and the widgets skip work when the revision counters they care about
(``rev_stations``, ``rev_snapshot``, ``rev_alarms``, ``rev_banner``) did not move.

The events come from a socket or a file, so a malformed one is counted (``malformed``) and
ignored: it never stops the dashboard.

A replayed ``events.jsonl`` has no ``stations`` events (they are not written to the file), so
station states and modes are also derived from ``ring_up``, ``station_exit``, ``inject``
(pause), ``resumed`` and the snapshots' recorded states.

The ring's make-up (epoch, members, bypassed and restarting stations, the active monitor) is
folded by ``membership.RingMembership``; what the banner says is decided in ``health``.
Payload events come by the hundred every second and are only counted, on a path that does no
more than an increment.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field

from ringemu.core.state import Mode
from ringemu.core.verdict import SnapshotResult, TokenSpot
from ringemu.dashboard.health import health
from ringemu.dashboard.membership import RingMembership, station_list
from ringemu.errors import RemoteProtocolError

log = logging.getLogger(__name__)

HISTORY = 120
"""How many points the count and rotation-rate plots keep."""

TIMELINE_S = 60.0
"""How many seconds back the timeline goes. Snapshots come several times a second (more when
stations suspect something), so it keeps only where the count changed, not every snapshot."""

TIMELINE_POINTS = 1000
"""A bound on the timeline's points, for a count that changes at every snapshot."""

SUSPICION_NOTE_S = 5.0
"""A live ring's stations suspect something now and then without anything being wrong: every
suspicion is counted, one in this many seconds gets a note."""

NOTES = 50
"""How many notable events (one line each) are kept for the banner and the event log."""

MARKS = 32
"""How many faults, alarms and ring changes the timeline keeps."""

ALIVE, PAUSED, DEAD, EXITED, STARTING = "alive", "paused", "dead", "exited", "starting"


@dataclass
class StationView:
    """One station as last reported: process state, protocol mode and counters."""

    index: int
    state: str = STARTING
    mode: Mode = Mode.IDLE
    pid: int | None = None
    stats: dict = field(default_factory=dict)
    send_dropped: int = 0
    queue: int = 0

    @property
    def awaiting(self) -> bool:
        """Its busy frame is out on the ring (the frame is the captured token)."""
        return self.mode is Mode.AWAITING


@dataclass
class AlarmView:
    """One alarm, from its raise to its clear (one row in the alarm log)."""

    alarm: int
    kind: str
    snapshot: int | None
    t: float | None
    station: int | None
    detail: str
    cleared_t: float | None = None
    cleared_snapshot: int | None = None

    @property
    def active(self) -> bool:
        return self.cleared_snapshot is None and self.cleared_t is None


@dataclass(frozen=True, slots=True)
class Mark:
    """Something to mark on the timeline at ``t``: a ``fault`` injected, an ``alarm`` raised,
    or a ``ring`` change (a new epoch)."""

    t: float
    kind: str
    label: str


def _mode(value: object, default: Mode) -> Mode:
    """A mode from a ``stations`` row; an unknown one keeps what was known."""
    try:
        return Mode(value)
    except ValueError:
        return default


class RingState:
    """Everything on screen, folded from events in the order they were published."""

    def __init__(self, stations: int = 0) -> None:
        self.stations: list[StationView] = []
        self.alarms: dict[int, AlarmView] = {}
        self.snapshot: SnapshotResult | None = None
        """The latest snapshot, typed."""
        self.count_history: deque[float] = deque(maxlen=HISTORY)
        self.rate_history: deque[float] = deque(maxlen=HISTORY)
        self.timeline: deque[tuple[float, int | None]] = deque(maxlen=TIMELINE_POINTS)
        """(time, token count) of the snapshots where the count changed, and of the latest
        (the count is None when incomplete), over the last ``TIMELINE_S`` seconds."""
        self.marks: deque[Mark] = deque(maxlen=MARKS)
        self.ring = RingMembership()
        self.payloads_sent = self.payloads_delivered = 0
        self.suspicions = self.claims = self.restarts = self.rollbacks = 0
        self._claims_noted = -1  # the epoch whose election has a note already
        self._suspicion_noted = -SUSPICION_NOTE_S
        self.reported_alarms: set[str] = set()  # active kinds per the last ``stations`` event
        self.notes: deque[str] = deque(maxlen=NOTES)
        self.phase = "waiting"  # waiting, starting, up, down, error, ended (replay finished)
        self.error: str | None = None
        self.hop_rate = 0.0
        self.token_passes = 0
        self.snapshots = 0
        self.t = 0.0
        self.events = 0
        self.malformed = 0
        """Events that could not be folded (a snapshot that does not parse, a bad field)."""
        self.live_stats = False  # a ``stations`` event was seen: modes come from it
        self.rev_stations = self.rev_snapshot = self.rev_alarms = self.rev_banner = 0
        self.rev_timeline = self.rev_traffic = self.rev_notes = 0
        self._resize(stations)

    # -- folding --------------------------------------------------------------------------------
    def apply_all(self, events: list[dict]) -> None:
        for e in events:
            self.apply(e)

    def apply(self, e: dict) -> None:
        self.events += 1
        t = e.get("t")
        if isinstance(t, (int, float)) and t > self.t:
            self.t = float(t)
        kind = e.get("event")
        if kind == "payload_sent":  # the many: counted, nothing else (a restarted station's
            self.payloads_sent += not e.get("restored")  # repeats are not new payloads)
            self.rev_traffic += 1
            return
        if kind == "payload_delivered":
            self.payloads_delivered += not e.get("restored")
            self.rev_traffic += 1
            return
        handler = getattr(self, "_on_" + str(kind), None)
        if handler is None:
            return
        try:
            handler(e)
        except (RemoteProtocolError, TypeError, ValueError, AttributeError, KeyError) as err:
            self.malformed += 1
            self.rev_snapshot += 1  # the snapshot panel shows the count
            log.warning("ignored a malformed %s event: %s", e.get("event"), err)
        self.rev_banner += 1

    def _resize(self, n: int) -> None:
        if n > len(self.stations):
            self.stations += [StationView(i) for i in range(len(self.stations), n)]
            self.rev_stations += 1

    def _station(self, index) -> StationView | None:
        try:
            i = int(index)
        except (TypeError, ValueError):
            return None
        if i < 0 or i > 10_000:
            return None
        self._resize(i + 1)
        return self.stations[i]

    def _note(self, e: dict, text: str) -> None:
        self.notes.append(f"{e.get('t', self.t):7.2f}s {text}")
        self.rev_notes += 1

    def _mark(self, e: dict, kind: str, label: str) -> None:
        """Something for the timeline to mark where it happened (see ``Mark``)."""
        t = e.get("t")
        self.marks.append(Mark(float(t) if isinstance(t, (int, float)) else self.t, kind, label))
        self.rev_timeline += 1

    def _on_status(self, e: dict) -> None:
        """A synthetic event: the monitor's ``status`` reply, asked for when attaching."""
        self._resize(int(e.get("stations") or 0))
        for k, state in (e.get("station_states") or {}).items():
            if (st := self._station(k)) is not None:
                st.state = state
        for k, pid in (e.get("pids") or {}).items():
            if (st := self._station(k)) is not None:
                st.pid = pid
        if e.get("phase") == "running":
            self.phase = "up"
        elif e.get("phase") in ("starting", "linking"):
            self.phase = "starting"
        self.hop_rate = float(e.get("hop_rate") or 0.0)
        self.token_passes = int(e.get("token_passes") or 0)
        self.snapshots = int(e.get("snapshots") or 0)
        self.ring.on_status(e)
        for a in e.get("alarms") or []:  # raised before this dashboard came: not marked
            self._on_alarm({**a, "action": "raised"}, mark=False)
        self._note(e, f"connected: {self.snapshots} snapshots so far, "
                      f"last verdict {e.get('last_verdict')}, epoch {self.ring.epoch}")
        self.rev_stations += 1

    def _on_ring_starting(self, e: dict) -> None:
        self._resize(int(e.get("stations") or 0))
        self.phase = "starting"

    def _on_station_up(self, e: dict) -> None:
        if (st := self._station(e.get("station"))) is not None:
            st.pid = e.get("pid", st.pid)
            st.state = ALIVE
            self.rev_stations += 1

    def _on_ring_up(self, e: dict) -> None:
        self._resize(int(e.get("stations") or 0))
        for i, pid in enumerate(e.get("pids") or []):
            self.stations[i].pid = pid
        for st in self.stations:
            if st.state == STARTING:
                st.state = ALIVE
        self.phase = "up"
        if "active_monitor" in e:
            self.ring.on_ring_up(e.get("active_monitor"))
        self._note(e, f"ring up ({len(self.stations)} stations in {e.get('startup_s', 0):.2f} s)")
        self.rev_stations += 1

    def _on_stations(self, e: dict) -> None:
        self.live_stats = True
        for s in e.get("stations") or []:
            if (st := self._station(s.get("station"))) is None:
                continue
            st.state = s.get("state", st.state)
            st.mode = _mode(s.get("mode"), st.mode)
            st.pid = s.get("pid", st.pid)
            st.stats = s.get("stats") or st.stats
            st.send_dropped = s.get("send_dropped", st.send_dropped)
            st.queue = s.get("queue", st.queue)
        self.hop_rate = float(e.get("hop_rate") or 0.0)
        self.token_passes = int(e.get("token_passes") or self.token_passes)
        self.snapshots = int(e.get("snapshots") or self.snapshots)
        if self.stations:
            self.rate_history.append(self.hop_rate / len(self.stations))
        self.reported_alarms = set(e.get("alarms") or [])
        if self.phase in ("waiting", "starting"):
            self.phase = "up"
        self.rev_stations += 1
        self.rev_snapshot += 1  # the rate plot lives in the snapshot panel

    def _on_snapshot(self, e: dict) -> None:
        snap = SnapshotResult.from_json(e)  # RemoteProtocolError: counted by ``apply``
        self.snapshot = snap
        self.snapshots = max(self.snapshots, snap.snapshot_id + 1)
        if snap.count is not None:
            self.count_history.append(float(snap.count))
        self._plot(snap.finished, snap.count)
        if snap.snapshot_id == 0:
            self.ring.on_first_snapshot(snap.initiator)
        if not self.live_stats:
            for k, recorded in snap.states.items():
                if (st := self._station(k)) is not None:
                    st.mode = recorded.mode
            self.rev_stations += 1
        if self.phase in ("waiting", "starting"):
            self.phase = "up"
        self.rev_snapshot += 1

    def _plot(self, t: float, count: int | None) -> None:
        """Add a snapshot to the timeline: a count equal to the two before only moves the
        last point on (the step line is the same), and points older than the window go."""
        line = self.timeline
        if len(line) >= 2 and line[-1][1] == count and line[-2][1] == count:
            line[-1] = (t, count)
        else:
            line.append((t, count))
        while len(line) > 2 and line[1][0] < t - TIMELINE_S:
            line.popleft()
        self.rev_timeline += 1

    def _on_alarm(self, e: dict, mark: bool = True) -> None:
        aid = e.get("alarm")
        if aid is None:
            return
        a = self.alarms.get(aid)
        if a is None:
            a = self.alarms[aid] = AlarmView(
                alarm=aid, kind=str(e.get("kind")), snapshot=e.get("raised_by", e.get("snapshot")),
                t=e.get("t") if e.get("action") == "raised" else None,
                station=e.get("station"), detail=str(e.get("detail") or ""))
        if e.get("action") == "cleared":
            a.cleared_t = e.get("t")
            a.cleared_snapshot = e.get("snapshot")
            self.reported_alarms.discard(a.kind)
            self._note(e, f"{a.kind} alarm #{aid} cleared by snapshot {a.cleared_snapshot}")
        else:
            self._note(e, f"{a.kind} alarm #{aid} raised by snapshot {a.snapshot}")
            if mark:
                self._mark(e, "alarm", a.kind)
        self.rev_alarms += 1

    def _on_inject(self, e: dict) -> None:
        fault, station = e.get("fault"), e.get("station")
        arg = f" {e['arg']:g} s" if isinstance(e.get("arg"), (int, float)) else ""
        self._note(e, f"injected {fault}{arg} at station {station} (fault #{e.get('fault_id')})")
        self._mark(e, "fault", f"{fault} {station}")
        if fault == "pause" and (st := self._station(station)) is not None:
            st.state = PAUSED
            self.rev_stations += 1

    def _on_fault_fired(self, e: dict) -> None:
        self._note(e, f"station {e.get('station')} acted on {e.get('fault')} "
                      f"(fault #{e.get('fault_id')})")

    def _on_resumed(self, e: dict) -> None:
        if (st := self._station(e.get("station"))) is not None:
            st.state = ALIVE
            self.rev_stations += 1
        self._note(e, f"station {e.get('station')} resumed")

    def _on_station_exit(self, e: dict) -> None:
        if (st := self._station(e.get("station"))) is not None:
            st.state = DEAD
            st.pid = e.get("pid", st.pid)
            self.rev_stations += 1
        self._note(e, f"station {e.get('station')} exited (status {e.get('status')})")

    def _on_purge_request(self, e: dict) -> None:
        self._note(e, f"purge asked of station {e.get('station')} (snapshot {e.get('snapshot')})")

    def _on_purge_started(self, e: dict) -> None:
        self._note(e, f"purge {e.get('number')} started by station {e.get('station')}")

    def _on_purge_done(self, e: dict) -> None:
        self._note(e, f"purge {e.get('number')} done by station {e.get('station')}")

    # -- the ring heals ---------------------------------------------------------------------------
    def _on_membership(self, e: dict) -> None:
        self._note(e, self.ring.on_membership(e, self.n))
        ring = self.ring
        if ring.reason == "insert" and ring.joined:
            label = "insert " + ",".join(map(str, ring.joined))
        elif ring.reason == "bypass" and ring.bypassed:
            label = "bypass " + ",".join(map(str, sorted(ring.bypassed)))
        else:
            label = ring.reason
        self._mark(e, "ring", label)
        self._resize(max([*ring.members, *ring.bypassed], default=-1) + 1)
        self.rev_stations += 1

    def _on_steady(self, e: dict) -> None:
        if self.ring.on_steady(e):
            self._note(e, f"ring steady again (epoch {self.ring.epoch})")
            self.rev_stations += 1

    def _on_claim_started(self, e: dict) -> None:
        """Every standby claims at once: one note per epoch says the election began."""
        self.claims += 1
        if self._claims_noted != self.ring.epoch:
            self._claims_noted = self.ring.epoch
            self._note(e, f"no active monitor: station {e.get('station')} and the other "
                          "standbys claim the role")

    def _on_elected(self, e: dict) -> None:
        self.ring.on_elected(int(e["station"]))
        self._note(e, f"station {e['station']} elected active monitor")
        self.rev_stations += 1

    def _on_suspicion(self, e: dict) -> None:
        self.suspicions += 1
        self.rev_traffic += 1  # the snapshot panel counts them
        t = e.get("t")
        t = float(t) if isinstance(t, (int, float)) else self.t
        if t - self._suspicion_noted >= SUSPICION_NOTE_S:
            self._suspicion_noted = t
            self._note(e, f"station {e.get('station')} suspects {e.get('reason')}: a snapshot "
                          f"looks ({self.suspicions} suspicions so far)")

    def _on_restart(self, e: dict) -> None:
        station = int(e["station"])
        self.restarts += 1
        self.ring.on_restart(station)
        self._station(station)  # a station the dashboard has not seen yet gets its row
        self._note(e, f"{station_list([station])} restarting")
        self.rev_stations += 1

    def _on_rollback_request(self, e: dict) -> None:
        self._note(e, f"rollback to snapshot {e.get('snapshot')} asked "
                      f"(snapshot {e.get('because')})")

    def _on_rollback(self, e: dict) -> None:
        self.rollbacks += 1
        self.ring.on_rollback(e)
        self._note(e, f"rolling back to snapshot {e['snapshot']} (epoch {e.get('epoch')})")
        self.rev_stations += 1

    def _on_rollback_done(self, e: dict) -> None:
        self._note(e, f"rollback to snapshot {e.get('snapshot')} done (epoch {e.get('epoch')})")

    def _on_ring_down(self, e: dict) -> None:
        self.phase = "down"
        for st in self.stations:
            if st.state in (ALIVE, PAUSED, STARTING):
                st.state = EXITED
        self._note(e, "ring down")
        self.rev_stations += 1

    def _on_error(self, e: dict) -> None:
        self.phase = "error"
        self.error = str(e.get("detail") or "unknown error")
        self._note(e, f"error: {self.error}")

    def _on_replay_end(self, e: dict) -> None:
        """A synthetic event: the replay reached the end of ``events.jsonl``."""
        if self.phase != "down":
            self.phase = "ended"
        self._note(e, "end of the recorded events")

    # -- reading --------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return len(self.stations)

    @property
    def revision(self) -> int:
        """Moves whenever anything on screen would change (the sum of the rev counters)."""
        return self.rev_stations + self.rev_snapshot + self.rev_alarms + self.rev_banner

    def active_alarms(self) -> list[AlarmView]:
        return [a for a in self.alarms.values() if a.active]

    def token_spots(self) -> list[TokenSpot]:
        """Every token unit the latest cut found, held ones first (none before a snapshot)."""
        return self.snapshot.spots() if self.snapshot is not None else []

    def health(self) -> tuple[str, str]:
        """(level, one line): see ``health.health``."""
        return health(self)
