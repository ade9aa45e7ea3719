"""Turning a collected snapshot into a token count, a verdict and alarm transitions.

The rule is the project's reason to exist: in a healthy token ring exactly one token unit (the
free token, or the busy frame a station turned it into) exists. A consistent cut counts the units
held by stations plus the units recorded in transit on channels:

====================== =====================================================================
verdict                meaning
====================== =====================================================================
``OK``                 exactly one
``LOST``               zero
``DUPLICATE``          two or more
``INCOMPLETE``         some station never reported before the deadline (named in ``silent``)
``RECOVERING``         the cut caught the active monitor purging: no alarm either way
====================== =====================================================================

Alarms are transitions, not repetitions: a LOST verdict raises a LOST alarm once; later LOST
verdicts leave it standing; the next OK verdict clears it.

``SnapshotResult`` is the one shape of a judged snapshot: the monitor builds it, the run history
keeps it, ``to_json`` makes it the ``snapshot`` event and ``from_json`` reads that event back for
the checker, the replaying dashboard and the reports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Iterable

from ringemu.core.messages import Frame, Token
from ringemu.core.snapshot import LocalSnapshot
from ringemu.core.state import Mode, StationState, wire_float, wire_int
from ringemu.errors import RemoteProtocolError


class Verdict(StrEnum):
    OK = "OK"
    LOST = "LOST"
    DUPLICATE = "DUPLICATE"
    INCOMPLETE = "INCOMPLETE"
    RECOVERING = "RECOVERING"


class Cause(StrEnum):
    """Why an INCOMPLETE snapshot's suspect did not report."""

    DOWN = "down"
    """The shell knows it is dead or stopped."""
    LATE = "late"
    """It is alive and running, yet stayed silent through the deadline and a grace."""
    CUT = "cut"
    """The link into it is cut (``ringemu inject cut``): its marker cannot reach it."""
    DROPPED = "dropped"
    """A link dropped its marker (a lossy link reported it): it will never record."""


class SpotKind(StrEnum):
    HELD = "held"
    TOKEN = "token"
    FRAME = "frame"


@dataclass(frozen=True, slots=True)
class TokenSpot:
    """Where a cut found one token unit: held by a station, or in transit on a link."""

    kind: SpotKind
    station: int | None = None
    """The holder (``held``), or the receiving end of the link (in transit)."""
    link: tuple[int, int] | None = None
    """(from, to) for tokens and frames in transit."""
    src: int | None = None
    dst: int | None = None
    seq: int | None = None

    def describe(self) -> str:
        if self.kind is SpotKind.HELD:
            return f"held by station {self.station}"
        where = f" on link {self.link[0]}\u2192{self.link[1]}" if self.link else ""
        if self.kind is SpotKind.FRAME:
            return f"frame {self.src}\u2192{self.dst} seq {self.seq}{where}"
        return f"free token{where}"

    def to_json(self) -> dict:
        if self.kind is SpotKind.HELD:
            return {"kind": "held", "station": self.station}
        assert self.link is not None
        d: dict[str, Any] = {"from": self.link[0], "to": self.link[1], "kind": self.kind.value}
        if self.kind is SpotKind.FRAME:
            d.update(src=self.src, dst=self.dst, seq=self.seq)
        return d

    @classmethod
    def from_json(cls, d: object) -> TokenSpot:
        if not isinstance(d, dict):
            raise RemoteProtocolError("a token spot must be an object")
        try:
            kind = SpotKind(d.get("kind"))
        except ValueError:
            raise RemoteProtocolError(f"unknown token spot {d.get('kind')!r}") from None
        if kind is SpotKind.HELD:
            return cls(kind, station=wire_int(d.get("station"), "station"))
        link = (wire_int(d.get("from"), "from"), wire_int(d.get("to"), "to"))
        if kind is SpotKind.FRAME:
            return cls(kind, link[1], link, wire_int(d.get("src"), "src"),
                       wire_int(d.get("dst"), "dst"), wire_int(d.get("seq"), "seq"))
        return cls(kind, link[1], link)


@dataclass(frozen=True, slots=True)
class TokenCount:
    """Where a cut found token units: at stations (``held``) and on links (``in_transit``)."""

    total: int
    held: dict[int, int]
    in_transit: tuple[TokenSpot, ...]


def count_tokens(parts: Iterable[LocalSnapshot]) -> TokenCount:
    """Count token units in a set of local snapshots of one snapshot id."""
    held: dict[int, int] = {}
    in_transit: list[TokenSpot] = []
    total = 0
    for part in parts:
        n = part.state.tokens
        if n:
            held[part.node] = n
            total += n
        for sender, messages in part.channels.items():
            for msg in messages:
                t = type(msg)
                if t is Token:
                    in_transit.append(TokenSpot(SpotKind.TOKEN, part.node, (sender, part.node)))
                elif t is Frame:
                    in_transit.append(TokenSpot(SpotKind.FRAME, part.node, (sender, part.node),
                                                msg.src, msg.dst, msg.seq))
                else:
                    continue
                total += 1
    return TokenCount(total, held, tuple(in_transit))


def verdict_for(total: int) -> Verdict:
    if total == 1:
        return Verdict.OK
    return Verdict.LOST if total == 0 else Verdict.DUPLICATE


@dataclass(frozen=True, slots=True)
class SnapshotResult:
    """The monitor's conclusion about one snapshot."""

    snapshot_id: int
    initiator: int
    started: float
    finished: float
    verdict: Verdict
    count: int | None = None
    held: dict[int, int] = field(default_factory=dict)
    in_transit: tuple[TokenSpot, ...] = ()
    states: dict[int, StationState] = field(default_factory=dict)
    silent: tuple[int, ...] = ()
    suspect: int | None = None
    stale: bool = False
    """The cut predates the last completed purge, so it says nothing about the ring now."""
    cause: Cause | None = None
    """For INCOMPLETE: whether the suspect was known down, cut off or only late."""
    link: tuple[int, int] | None = None
    """For causes ``cut`` and ``dropped``: the link (from, to) that kept the marker from the
    suspect."""

    @property
    def duration(self) -> float:
        return self.finished - self.started

    @property
    def is_alarming(self) -> bool:
        """A verdict that may raise or clear alarms (not a recovery or stale view)."""
        return self.verdict is not Verdict.RECOVERING and not self.stale

    def spots(self) -> list[TokenSpot]:
        """Every token unit the cut found: held ones first, then those in transit."""
        held = [TokenSpot(SpotKind.HELD, station=s) for s, n in sorted(self.held.items())
                for _ in range(n)]
        return held + list(self.in_transit)

    def cut_at(self, station: int) -> float | None:
        """When the cut passed ``station`` (its clock), if it reported."""
        state = self.states.get(station)
        return None if state is None else state.at

    def to_json(self) -> dict:
        d: dict[str, Any] = {
            "event": "snapshot",
            "t": self.finished,
            "id": self.snapshot_id,
            "initiator": self.initiator,
            "started": self.started,
            "duration_ms": round(self.duration * 1000.0, 3),
            "verdict": self.verdict.value,
            "count": self.count,
            "held": {str(k): v for k, v in self.held.items()},
            "in_transit": [s.to_json() for s in self.in_transit],
            "states": {str(k): v.to_json() for k, v in self.states.items()},
            "silent": list(self.silent),
            "suspect": self.suspect,
            "stale": self.stale,
            "cause": None if self.cause is None else self.cause.value,
            "link": None if self.link is None else list(self.link),
        }
        return d

    @classmethod
    def from_json(cls, d: dict) -> SnapshotResult:
        """Read a ``snapshot`` event back; RemoteProtocolError when it is not one."""
        try:
            verdict = Verdict(d.get("verdict"))
        except ValueError:
            raise RemoteProtocolError(f"unknown verdict {d.get('verdict')!r}") from None
        count = d.get("count")
        held = d.get("held") or {}
        states = d.get("states") or {}
        if not isinstance(held, dict) or not isinstance(states, dict):
            raise RemoteProtocolError("held and states must be objects")
        suspect, cause, link = d.get("suspect"), d.get("cause"), d.get("link")
        if link is not None and (not isinstance(link, list) or len(link) != 2):
            raise RemoteProtocolError("link must be [from, to]")
        try:
            cause = None if cause is None else Cause(cause)
        except ValueError:
            raise RemoteProtocolError(f"unknown cause {cause!r}") from None
        return cls(
            snapshot_id=wire_int(d.get("id"), "id", 0),
            initiator=wire_int(d.get("initiator"), "initiator"),
            started=wire_float(d.get("started"), "started"),
            finished=wire_float(d.get("t"), "t"),
            verdict=verdict,
            count=None if count is None else wire_int(count, "count", 0),
            held={_key(k): wire_int(v, "held", 0) for k, v in held.items()},
            in_transit=tuple(TokenSpot.from_json(s) for s in _list(d.get("in_transit"))),
            states={_key(k): StationState.from_json(v) for k, v in states.items()},
            silent=tuple(wire_int(s, "silent") for s in _list(d.get("silent"))),
            suspect=None if suspect is None else wire_int(suspect, "suspect"),
            stale=bool(d.get("stale", False)),
            cause=cause,
            link=None if link is None else (wire_int(link[0], "link"), wire_int(link[1], "link")),
        )

    def is_purging(self) -> bool:
        return any(s.mode is Mode.PURGING for s in self.states.values())


def _key(k: object) -> int:
    try:
        return int(k)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise RemoteProtocolError(f"{k!r} is not a station number") from None


def _list(v: object) -> list:
    if v is None:
        return []
    if not isinstance(v, list):
        raise RemoteProtocolError("expected a list")
    return v


class AlarmAction(StrEnum):
    RAISED = "raised"
    CLEARED = "cleared"


@dataclass(slots=True)
class Alarm:
    """A standing alarm: raised by one snapshot, cleared by a later one. Mutable: it is one
    alarm over its life, and clearing it fills in ``cleared``."""

    alarm_id: int
    kind: Verdict
    snapshot_id: int
    raised: float
    station: int | None
    detail: str
    cleared: float | None = None
    cleared_by: int | None = None

    def to_json(self, action: AlarmAction) -> dict:
        raised = action is AlarmAction.RAISED
        return {
            "event": "alarm",
            "t": self.raised if raised else self.cleared,
            "action": action.value,
            "alarm": self.alarm_id,
            "kind": self.kind.value,
            "snapshot": self.snapshot_id if raised else self.cleared_by,
            "raised_by": self.snapshot_id,
            "station": self.station,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    action: AlarmAction
    alarm: Alarm

    def to_json(self) -> dict:
        return self.alarm.to_json(self.action)


class AlarmTracker:
    """Raises and clears alarms from a stream of snapshot results."""

    def __init__(self) -> None:
        self.active: dict[Verdict, Alarm] = {}
        self.history: list[Alarm] = []
        self._next_id = 1

    def update(self, result: SnapshotResult) -> list[AlarmEvent]:
        if not result.is_alarming:
            return []
        v = result.verdict
        events: list[AlarmEvent] = []
        if v is Verdict.OK:
            for kind in list(self.active):
                events.append(self._clear(kind, result))
            return events
        if v in (Verdict.LOST, Verdict.DUPLICATE):
            # a complete count: the ring answers again, and the other count alarm is stale
            other = Verdict.LOST if v is Verdict.DUPLICATE else Verdict.DUPLICATE
            for kind in (Verdict.INCOMPLETE, other):
                if kind in self.active:
                    events.append(self._clear(kind, result))
        if v not in self.active:
            events.append(self._raise(v, result))
        return events

    def _raise(self, kind: Verdict, r: SnapshotResult) -> AlarmEvent:
        station, detail = _describe(kind, r)
        alarm = Alarm(self._next_id, kind, r.snapshot_id, r.finished, station, detail)
        self._next_id += 1
        self.active[kind] = alarm
        self.history.append(alarm)
        return AlarmEvent(AlarmAction.RAISED, alarm)

    def _clear(self, kind: Verdict, r: SnapshotResult) -> AlarmEvent:
        alarm = self.active.pop(kind)
        alarm.cleared = r.finished
        alarm.cleared_by = r.snapshot_id
        return AlarmEvent(AlarmAction.CLEARED, alarm)


def _describe(kind: Verdict, r: SnapshotResult) -> tuple[int | None, str]:
    """The station an alarm points at (if any) and a one-line human detail."""
    if kind is Verdict.INCOMPLETE:
        others = [s for s in r.silent if s != r.suspect]
        more = f" ({len(others)} more waiting behind it)" if others else ""
        why = {Cause.DOWN: ": it is down (dead or stopped)",
               Cause.LATE: ": alive, but silent past the deadline and a grace"}.get(
                   r.cause, "")  # type: ignore[arg-type]
        if r.cause is Cause.CUT and r.link is not None:
            why = f": link {r.link[0]}\u2192{r.link[1]} is cut"
        elif r.cause is Cause.DROPPED and r.link is not None:
            why = f": link {r.link[0]}\u2192{r.link[1]} dropped its marker"
        return r.suspect, f"no report from station {r.suspect}{more}{why}"
    if kind is Verdict.LOST:
        return None, f"snapshot {r.snapshot_id} counted 0 tokens"
    spots = r.spots()
    first = spots[0].station if spots else None
    places = "; ".join(s.describe() for s in spots)
    return first, f"snapshot {r.snapshot_id} counted {r.count} tokens: {places}"
