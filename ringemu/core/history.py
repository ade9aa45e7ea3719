"""The run history: one record of a run, fed alike by the simulator and the live monitor.

Jepsen's habit: everything that happens in a run is appended to one history, and every reader
(the checker, the summary, the replaying dashboard, the reports) reads that history and nothing
else. Both shells call the same methods here with what they observed (a fault injected, a
station's ``StationEvent``, the core monitor's results and alarms, processes starting and
ending), and the history turns each into exactly one event, with the same kind and keys in both
shells (``docs/events.md``). ``RunHistory.from_events`` rebuilds a history from those events (a
live run's ``events.jsonl`` or the simulator's ``--events`` file), so a finished run can be
judged again by the very same code.

Sans-I/O: the shell passes every time (``t``, seconds on its own clock) and receives the events
through ``sink``.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable

from ringemu.core.monitor import PurgeRequest, RollbackRequest
from ringemu.core.payloads import PayloadDelivered, PayloadSent
from ringemu.core.impairments import Impairment
from ringemu.core.station_events import (Absorbed, FaultFired, LinkFault, PurgeDone,
                                         PurgeStarted, StationEvent, station_event_from_json)
from ringemu.core.state import wire_float, wire_int
from ringemu.core.trace import Trace
from ringemu.core.verdict import (Alarm, AlarmAction, AlarmEvent, SnapshotResult, Verdict)
from ringemu.errors import RemoteProtocolError
from ringemu.faults import FAULTS, Actor, FaultKind

Sink = Callable[[dict], None]
TRAFFIC_COUNTERS = ("tokens", "frames", "markers", "sent", "delivered", "dropped", "malformed",
                    "absorbed", "stale")
"""The station counters a ``traffic`` event carries (with the shell's ``send_dropped``)."""


@dataclass(slots=True)
class FaultRecord:
    """One injected fault: what, where, when it was injected and when it took effect."""

    fault_id: int
    kind: FaultKind
    station: int
    injected_at: float
    arg: float | None = None
    scheduled: float | None = None
    """The time the schedule gave (seconds or rotations), None when injected by hand."""
    fired_at: float | None = None
    fired_step: int | None = None
    """The station's logical clock when the fault took effect (station faults only)."""
    ended_at: float | None = None
    """When the station process it was armed in ended, not having reported it taken effect.
    A report of its firing may still come (it travels apart from the news of the exit), but
    one of a firing after that time is a fault armed in a new process, never this one."""

    @property
    def effect(self) -> int | None:
        return FAULTS[self.kind].effect

    @property
    def spec(self) -> str:
        """The fault as a schedule entry would write it."""
        at = self.scheduled if self.scheduled is not None else self.injected_at
        s = f"{self.kind}@{at:g}:{self.station}"
        return s + (f":{self.arg:g}" if self.arg is not None else "")


@dataclass(slots=True)
class LinkRecord:
    """One message a link dropped or duplicated (``ringemu.core.impairments``): a fact of the
    run, placed against every cut like a fault (on the sending station's clock and logical
    step). Only token units and markers are recorded; ``effect`` is the change in token units.
    """

    number: int
    station: int
    """The sending station (the link is its outgoing one)."""
    to: int
    action: str
    what: str
    cause: str
    fired_at: float
    fired_step: int
    effect: int
    sid: int | None = None

    @property
    def fault_id(self) -> int:
        """Negative, so it never meets an injected fault's id in the checker's sets."""
        return -self.number

    def describe(self) -> str:
        what = self.what if self.sid is None else f"marker of snapshot {self.sid}"
        verb = "dropped" if self.action == "drop" else "duplicated"
        return f"link {self.station}\u2192{self.to} {verb} a {what} ({self.cause})"


@dataclass(slots=True)
class PurgeSpan:
    """A purge by the active monitor: from its start to its completion (None: never done)."""

    station: int
    number: int
    started: float
    done: float | None = None


@dataclass(slots=True)
class RollbackSpan:
    """A rollback to snapshot ``snapshot``: from its request to the ring resuming (monitor
    clock; no snapshot is taken in between)."""

    snapshot: int
    epoch: int
    started: float
    done: float | None = None


class Ledger:
    """Every payload accepted and delivered, per (source, destination) pair."""

    def __init__(self) -> None:
        self.sent: dict[tuple[int, int], set[int]] = {}
        self.delivered: dict[tuple[int, int], list[int]] = {}

    def on_sent(self, src: int, dst: int, seq: int) -> None:
        self.sent.setdefault((src, dst), set()).add(seq)

    def on_delivered(self, src: int, dst: int, seq: int, restored: bool = False) -> None:
        got = self.delivered.setdefault((src, dst), [])
        if restored and seq in got:
            return  # said again by a restarted station: already known
        got.append(seq)

    def account(self, gone: set[int] = frozenset(),  # type: ignore[assignment]
                final: bool = True) -> dict:
        """``payloads_sent``, ``payloads_delivered``, ``duplicates``, ``lost`` (accepted,
        never delivered), ``out_of_order``, ``never_sent`` (delivered, and no station ever said
        it accepted them: a defect of the ring or of its accounting); payloads to or from a
        station in ``gone`` (dead for good) that were never delivered are counted apart, per
        station, in ``lost_with_station``. Until the run is over (``final`` false) nothing is
        lost yet: what is not delivered is ``in_flight``."""
        sent = sum(len(v) for v in self.sent.values())
        delivered = duplicates = out_of_order = lost = 0
        with_station: dict[int, int] = {}
        for seqs in self.delivered.values():
            seen: set[int] = set()
            last = 0
            for seq in seqs:
                if seq in seen:
                    duplicates += 1
                    continue
                seen.add(seq)
                delivered += 1
                if seq != last + 1:
                    out_of_order += 1
                last = max(last, seq)
        never_sent = sum(len(set(seqs) - self.sent.get(pair, set()))
                         for pair, seqs in self.delivered.items())
        in_flight = 0
        for pair, seqs in self.sent.items():
            missing = len(seqs - set(self.delivered.get(pair, ())))
            if not missing:
                continue
            src, dst = pair
            blame = dst if dst in gone else src if src in gone else None
            if not final:
                in_flight += missing
            elif blame is None:
                lost += missing
            else:
                with_station[blame] = with_station.get(blame, 0) + missing
        return {"payloads_sent": sent, "payloads_delivered": delivered,
                "duplicates": duplicates, "lost": lost, "out_of_order": out_of_order,
                "in_flight": in_flight, "never_sent": never_sent,
                "lost_with_station": {str(k): v for k, v in sorted(with_station.items())}}


class RunHistory:
    """See the module docstring."""

    def __init__(self, sink: Sink | None = None) -> None:
        self.sink = sink
        self.stations = 0
        self.faults: list[FaultRecord] = []
        self.results: list[SnapshotResult] = []
        """Every concluded snapshot, in completion order, without its per-station states
        (``cuts`` keeps where each cut passed each station)."""
        self.cuts: dict[int, tuple[array, array]] = {}
        self.alarms: list[Alarm] = []
        self.purges: list[PurgeSpan] = []
        self.rollbacks: list[RollbackSpan] = []
        self.memberships: list[tuple[float, dict]] = []
        self.ledger = Ledger()
        self.link_faults: list[LinkRecord] = []
        """Every token unit or marker a link dropped or duplicated."""
        self.absorbed: list[tuple[int, float]] = []
        """(station, time) of every token unit a purge or a rebuild removed."""
        self.impairments: list[tuple[float, int | None, Impairment | None]] = []
        """(time, link or None for all, impairment or None for none) of every setting."""
        self.steadies: list[tuple[float, int]] = []
        """(time, epoch) of every rebuilt or recovered ring that had its one token again."""
        self.gone: set[int] = set()
        """Stations dead now (exited and not started again)."""
        self.refused: list[dict] = []
        """Scheduled faults the ring could not carry out: ``spec`` and ``error``."""
        self.exits: dict[int, float] = {}
        self.resumes: list[tuple[int, float]] = []
        """(station, time) of every paused station that went on."""
        self.up_at: float | None = None
        self.first_snapshot_at: float | None = None
        self.ended_at: float | None = None
        self.errors: list[str] = []
        self.traces: dict[int, dict[int, Trace]] = {}
        """Snapshot id -> station -> its rows around that snapshot (``ringemu.core.trace``)."""
        self.traffic_log: list[dict] = []
        """Every ``traffic`` event: cumulative token passes, the hop rate, per-station
        counters."""

    # -- output -------------------------------------------------------------------------------
    def emit(self, event: dict) -> dict:
        if self.sink is not None:
            self.sink(event)
        return event

    def inject_refused(self, t: float, spec: str, error: str | None) -> None:
        """A scheduled fault the ring could not carry out (it never happened)."""
        self.refused.append({"spec": spec, "error": error})
        self.emit({"event": "inject_refused", "t": t, "spec": spec, "error": error})

    # -- the ring's life ----------------------------------------------------------------------
    def ring_starting(self, t: float, stations: int, endpoints: dict) -> None:
        self.stations = stations
        self.emit({"event": "ring_starting", "t": t, "stations": stations,
                   "endpoints": endpoints})

    def station_up(self, t: float, station: int, pid: int | None, endpoint: str) -> None:
        self.emit({"event": "station_up", "t": t, "station": station, "pid": pid,
                   "endpoint": endpoint})

    def ring_up(self, t: float, pids: list[int | None], active_monitor: int) -> None:
        self.up_at = t
        self.emit({"event": "ring_up", "t": t, "stations": self.stations, "startup_s": t,
                   "pids": pids, "active_monitor": active_monitor})

    def station_exit(self, t: float, station: int, status: int | None, pid: int | None) -> None:
        self.exits.setdefault(station, t)
        self.gone.add(station)
        self.unfired_ended(station, t)
        self.emit({"event": "station_exit", "t": t, "station": station, "status": status,
                   "pid": pid})

    def unfired_ended(self, station: int, t: float) -> None:
        """Station ``station``'s process ended at ``t``: what it had armed and not reported
        carried out can have fired only before then."""
        for f in self.faults:
            if (f.fired_at is None and f.ended_at is None and f.station == station
                    and FAULTS[f.kind].actor is not Actor.PROCESS):
                f.ended_at = t

    def resumed(self, t: float, station: int) -> None:
        self.resumes.append((station, t))
        self.emit({"event": "resumed", "t": t, "station": station})

    def membership(self, t: float, m: Any, bypassed: list[int]) -> None:
        """The ring was rebuilt: a new epoch of members (``ringemu.core.membership``)."""
        d = {**m.to_json(), "bypassed": bypassed}
        self.memberships.append((t, d))
        self.emit({"event": "membership", "t": t, **d})

    def steady(self, t: float, epoch: int) -> None:
        """The rebuilt or recovered ring of ``epoch`` has its one token again."""
        self.steadies.append((t, epoch))
        self.emit({"event": "steady", "t": t, "epoch": epoch})

    def rollback(self, t: float, snapshot: int, epoch: int) -> None:
        self.rollbacks.append(RollbackSpan(snapshot, epoch, t))
        self.emit({"event": "rollback", "t": t, "snapshot": snapshot, "epoch": epoch})

    def rollback_done(self, t: float, snapshot: int | None, epoch: int) -> None:
        for span in reversed(self.rollbacks):
            if span.epoch == epoch:
                span.done = t
                break
        self.emit({"event": "rollback_done", "t": t, "snapshot": snapshot, "epoch": epoch})

    def restart(self, t: float, station: int) -> None:
        """A dead station's process was started again (it will be inserted once it is up)."""
        self.gone.discard(station)
        self.emit({"event": "restart", "t": t, "station": station})

    def impairment(self, t: float, station: int | None, imp: Impairment | None) -> None:
        """Link ``station``'s impairment (None: every link's) is ``imp`` from now on (None:
        none). A warning goes with one that reorders (see ``Impairment.warning``)."""
        self.impairments.append((t, station, imp))
        self.emit({"event": "impairment", "t": t, "station": station,
                   "impairment": None if imp is None else imp.to_json(),
                   "text": "none" if imp is None else imp.describe(),
                   "warning": None if imp is None else imp.warning()})

    @property
    def reordering(self) -> list[int | None]:
        """The links (None: all) that were ever set to reorder messages."""
        return [k for _, k, imp in self.impairments if imp is not None and imp.reorder > 0]

    def interval(self, t: float, seconds: float) -> None:
        self.emit({"event": "interval", "t": t, "seconds": seconds})

    def traffic(self, t: float, token_passes: int, hop_rate: float,
                stations: dict[int, dict[str, int]]) -> None:
        """The ring's counters now (every second or so): token passes since the start, the
        hop rate since the last such event, and each station's counters."""
        event = {"event": "traffic", "t": t, "token_passes": token_passes,
                 "hop_rate": round(hop_rate, 1),
                 "stations": {str(k): v for k, v in sorted(stations.items())}}
        self.traffic_log.append(event)
        self.emit(event)

    def ring_down(self, t: float, snapshots: int) -> None:
        self.ended_at = t
        self.emit({"event": "ring_down", "t": t, "snapshots": snapshots})

    def error(self, t: float, detail: str) -> None:
        self.errors.append(detail)
        self.emit({"event": "error", "t": t, "detail": detail})

    # -- faults ---------------------------------------------------------------------------------
    def inject(self, t: float, kind: FaultKind, station: int, arg: float | None = None,
               scheduled: float | None = None) -> FaultRecord:
        """A fault was injected (a station fault is armed; a process fault happens now)."""
        record = FaultRecord(len(self.faults) + 1, FaultKind(kind), station, t, arg, scheduled)
        self.faults.append(record)
        self.emit({"event": "inject", "t": t, "fault": record.kind.value, "station": station,
                   "fault_id": record.fault_id, "arg": arg, "scheduled": scheduled})
        return record

    def process_fault_fired(self, record: FaultRecord, t: float) -> None:
        """A fault the shell carried out on the station's process (kill, pause) took effect."""
        self._fired(record, t)

    def _fired(self, record: FaultRecord | None, t: float, station: int | None = None,
               kind: str | None = None, effect: int | None = None,
               step: int | None = None) -> None:
        if record is not None:
            record.fired_at, record.fired_step = t, step
            station, kind, effect = record.station, record.kind.value, record.effect
        self.emit({"event": "fault_fired", "t": t, "station": station, "fault": kind,
                   "effect": effect, "step": step,
                   "fault_id": None if record is None else record.fault_id})

    def _match(self, station: int, kind: str, t: float) -> FaultRecord | None:
        """The oldest injected, unfired fault of ``kind`` at ``station`` (a station reports
        only the kind; faults it carries out fire in the order they were armed)."""
        for f in self.faults:
            if (f.fired_at is None and f.station == station and f.kind == kind
                    and (f.ended_at is None or t <= f.ended_at)):
                return f
        return None

    # -- what stations and the monitor report ---------------------------------------------------
    def station_event(self, ev: StationEvent) -> None:
        if isinstance(ev, FaultFired):
            record = self._match(ev.station, ev.fault, ev.t)
            self._fired(record, ev.t, ev.station, ev.fault, ev.effect, ev.step)
            return
        t = type(ev)
        if t is Trace:
            self.traces.setdefault(ev.snapshot, {})[ev.station] = ev
        elif t is LinkFault:
            self._link_fault(ev)  # type: ignore[arg-type]
        elif t is Absorbed:
            self.absorbed.append((ev.station, ev.t))
        elif t is PayloadSent:
            self.ledger.on_sent(ev.station, ev.dst, ev.seq)
        elif t is PayloadDelivered:
            self.ledger.on_delivered(ev.src, ev.station, ev.seq, ev.restored)
        elif isinstance(ev, PurgeStarted):
            self.purges.append(PurgeSpan(ev.station, ev.number, ev.t))
        elif isinstance(ev, PurgeDone):
            for span in reversed(self.purges):
                if span.number == ev.number and span.station == ev.station:
                    span.done = ev.t
                    break
            else:
                self.purges.append(PurgeSpan(ev.station, ev.number, ev.t, ev.t))
        self.emit(ev.to_json())

    def _link_fault(self, ev: LinkFault) -> None:
        self.link_faults.append(LinkRecord(
            len(self.link_faults) + 1, ev.station, ev.to, ev.action, ev.what, ev.cause, ev.t,
            ev.step, ev.effect, ev.sid))

    def monitor_event(self, ev: SnapshotResult | AlarmEvent | PurgeRequest | RollbackRequest
                      ) -> None:
        if isinstance(ev, SnapshotResult):
            self.snapshot(ev)
        elif isinstance(ev, AlarmEvent):
            if ev.action is AlarmAction.RAISED:
                self.alarms.append(ev.alarm)
            self.emit(ev.to_json())
        else:
            self.emit(ev.to_json())

    def snapshot(self, r: SnapshotResult) -> None:
        if self.first_snapshot_at is None and r.count is not None:
            self.first_snapshot_at = r.finished
            up = self.up_at or 0.0
            self.emit({"event": "first_snapshot", "t": r.finished, "snapshot": r.snapshot_id,
                       "after_up_s": round(r.finished - up, 6),
                       "after_start_s": round(r.finished, 6)})
        self.emit(r.to_json())
        self._keep(r)

    def _keep(self, r: SnapshotResult) -> None:
        if r.states:
            n = max(self.stations, max(r.states) + 1)
            at, step = array("d", [math.nan]) * n, array("q", [-1]) * n
            for s, state in r.states.items():
                at[s], step[s] = state.at, state.step
            self.cuts[r.snapshot_id] = (at, step)
            r = replace(r, states={})
        self.results.append(r)

    # -- reading ----------------------------------------------------------------------------------
    def cut_at(self, snapshot_id: int, station: int) -> float | None:
        """When snapshot ``snapshot_id``'s cut passed ``station`` (None: it did not report)."""
        cut = self.cut(snapshot_id, station)
        return None if cut is None else cut[0]

    def cut(self, snapshot_id: int, station: int) -> tuple[float, int] | None:
        """(time, logical step) at which snapshot ``snapshot_id``'s cut passed ``station``."""
        cut = self.cuts.get(snapshot_id)
        if cut is None or station >= len(cut[0]) or math.isnan(cut[0][station]):
            return None
        return cut[0][station], cut[1][station]

    def counted(self) -> list[SnapshotResult]:
        return [r for r in self.results if r.count is not None]

    @classmethod
    def from_events(cls, events: Iterable[dict]) -> RunHistory:
        """Rebuild a history from recorded events (unknown kinds are skipped); raises
        RemoteProtocolError naming the first event that does not parse."""
        h = cls()
        alarms: dict[int, Alarm] = {}
        for n, e in enumerate(events, 1):
            try:
                _replay(h, e, alarms)
            except (RemoteProtocolError, ValueError, TypeError, KeyError) as err:
                raise RemoteProtocolError(f"event {n} ({e.get('event')!r}): {err}") from None
        return h


def _replay(h: RunHistory, e: dict, alarms: dict[int, Alarm]) -> None:
    kind = e.get("event")
    t = wire_float(e.get("t"), "t") if "t" in e else 0.0
    if kind == "ring_starting":
        h.stations = wire_int(e.get("stations"), "stations", 0)
    elif kind == "ring_up":
        h.up_at = t
        h.stations = max(h.stations, wire_int(e.get("stations", 0), "stations", 0))
    elif kind == "first_snapshot":
        h.first_snapshot_at = t
    elif kind == "ring_down":
        h.ended_at = t
    elif kind == "error":
        h.errors.append(str(e.get("detail")))
    elif kind == "station_exit":
        k = wire_int(e.get("station"), "station")
        h.exits.setdefault(k, t)
        h.gone.add(k)
        h.unfired_ended(k, t)
    elif kind == "restart":
        h.gone.discard(wire_int(e.get("station"), "station"))
    elif kind == "steady":
        h.steadies.append((t, wire_int(e.get("epoch"), "epoch")))
    elif kind == "inject":
        arg, sched = e.get("arg"), e.get("scheduled")
        h.faults.append(FaultRecord(
            wire_int(e.get("fault_id"), "fault_id"), FaultKind(e.get("fault")),
            wire_int(e.get("station"), "station"), t,
            None if arg is None else wire_float(arg, "arg"),
            None if sched is None else wire_float(sched, "scheduled")))
    elif kind == "fault_fired":
        fid, step = e.get("fault_id"), e.get("step")
        for f in h.faults:
            if f.fault_id == fid:
                f.fired_at = t
                f.fired_step = None if step is None else wire_int(step, "step")
    elif kind in ("purge_started", "purge_done", "payload_sent", "payload_delivered",
                  "link_fault", "absorbed"):
        ev = station_event_from_json(e)
        h.sink, sink = None, h.sink
        h.station_event(ev)
        h.sink = sink
    elif kind == "inject_refused":
        h.refused.append({"spec": str(e.get("spec")), "error": str(e.get("error"))})
    elif kind == "impairment":
        imp, station = e.get("impairment"), e.get("station")
        h.impairments.append((t, None if station is None else wire_int(station, "station"),
                              None if imp is None else Impairment.from_json(imp)))
    elif kind == "resumed":
        h.resumes.append((wire_int(e.get("station"), "station"), t))
    elif kind == "rollback":
        h.rollbacks.append(RollbackSpan(wire_int(e.get("snapshot"), "snapshot"),
                                        wire_int(e.get("epoch"), "epoch"), t))
    elif kind == "rollback_done":
        for span in reversed(h.rollbacks):
            if span.epoch == e.get("epoch"):
                span.done = t
    elif kind == "membership":
        h.memberships.append((t, {k: v for k, v in e.items() if k not in ("event", "t")}))
    elif kind == "snapshot":
        h._keep(SnapshotResult.from_json(e))
    elif kind == "alarm":
        _replay_alarm(h, e, alarms, t)
    elif kind == "trace":
        tr = Trace.parse(e)
        h.traces.setdefault(tr.snapshot, {})[tr.station] = tr
    elif kind == "traffic":
        wire_int(e.get("token_passes"), "token_passes", 0)
        wire_float(e.get("hop_rate"), "hop_rate", 0.0)
        if not isinstance(e.get("stations"), dict):
            raise RemoteProtocolError("traffic: stations must be an object")
        h.traffic_log.append(e)


def _replay_alarm(h: RunHistory, e: dict, alarms: dict[int, Alarm], t: float) -> None:
    aid = wire_int(e.get("alarm"), "alarm")
    station = e.get("station")
    if e.get("action") == AlarmAction.RAISED:
        alarm = Alarm(aid, Verdict(e.get("kind")), wire_int(e.get("raised_by"), "raised_by"), t,
                      None if station is None else wire_int(station, "station"),
                      str(e.get("detail", "")))
        alarms[aid] = alarm
        h.alarms.append(alarm)
    elif aid in alarms:
        alarms[aid].cleared = t
        alarms[aid].cleared_by = wire_int(e.get("snapshot"), "snapshot")


def event_fields(events: Iterable[dict]) -> dict[str, set[str]]:
    """For each event kind, the keys its events carry (what both shells must agree on)."""
    out: dict[str, set[str]] = {}
    for e in events:
        out.setdefault(str(e.get("event")), set()).update(e)
    return out


def json_ready(value: Any) -> Any:
    """``value`` with every float finite (NaN and infinity become None), for strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    return value
