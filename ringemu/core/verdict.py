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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from ringemu.core.messages import TOKEN_UNIT_KINDS, summarize
from ringemu.core.snapshot import LocalSnapshot

OK = "OK"
LOST = "LOST"
DUPLICATE = "DUPLICATE"
INCOMPLETE = "INCOMPLETE"
RECOVERING = "RECOVERING"


@dataclass(slots=True)
class TokenCount:
    """Where a cut found token units: at stations (``held``) and on links (``in_transit``)."""

    total: int
    held: dict[int, int]
    in_transit: list[dict]


def count_tokens(parts: Iterable[LocalSnapshot]) -> TokenCount:
    """Count token units in a set of local snapshots of one snapshot id."""
    held: dict[int, int] = {}
    in_transit: list[dict] = []
    total = 0
    for part in parts:
        n = int(part.state.get("tokens", 0)) if isinstance(part.state, dict) else 0
        if n:
            held[part.node] = n
            total += n
        for sender, messages in part.channels.items():
            for msg in messages:
                s = summarize(msg)
                if s["kind"] in TOKEN_UNIT_KINDS:
                    total += 1
                    in_transit.append({"from": sender, "to": part.node, **s})
    return TokenCount(total, held, in_transit)


def verdict_for(total: int) -> str:
    if total == 1:
        return OK
    return LOST if total == 0 else DUPLICATE


@dataclass(slots=True)
class SnapshotResult:
    """The monitor's conclusion about one snapshot."""

    snapshot_id: int
    initiator: int
    started: float
    finished: float
    verdict: str
    count: int | None = None
    held: dict[int, int] = field(default_factory=dict)
    in_transit: list[dict] = field(default_factory=list)
    states: dict[int, Any] = field(default_factory=dict)
    silent: list[int] = field(default_factory=list)
    suspect: int | None = None
    stale: bool = False
    """The cut predates the last completed purge, so it says nothing about the ring now."""

    @property
    def duration(self) -> float:
        return self.finished - self.started

    @property
    def is_alarming(self) -> bool:
        """A verdict that may raise or clear alarms (not a recovery or stale view)."""
        return self.verdict != RECOVERING and not self.stale

    def as_dict(self) -> dict:
        d = {
            "event": "snapshot",
            "id": self.snapshot_id,
            "initiator": self.initiator,
            "t": self.finished,
            "started": self.started,
            "duration_ms": round(self.duration * 1000.0, 3),
            "verdict": self.verdict,
            "count": self.count,
            "held": {str(k): v for k, v in self.held.items()},
            "in_transit": self.in_transit,
            "states": {str(k): v for k, v in self.states.items()},
        }
        if self.silent:
            d["silent"] = self.silent
            d["suspect"] = self.suspect
        if self.stale:
            d["stale"] = True
        return d


@dataclass(slots=True)
class Alarm:
    """A standing alarm: raised by one snapshot, cleared by a later one."""

    alarm_id: int
    kind: str
    snapshot_id: int
    raised: float
    station: int | None
    detail: str
    cleared: float | None = None
    cleared_by: int | None = None

    def as_dict(self, action: str) -> dict:
        d = {
            "event": "alarm",
            "action": action,
            "alarm": self.alarm_id,
            "kind": self.kind,
            "snapshot": self.snapshot_id if action == "raised" else self.cleared_by,
            "raised_by": self.snapshot_id,
            "t": self.raised if action == "raised" else self.cleared,
            "station": self.station,
            "detail": self.detail,
        }
        return d


@dataclass(slots=True)
class AlarmEvent:
    action: str  # "raised" or "cleared"
    alarm: Alarm

    def as_dict(self) -> dict:
        return self.alarm.as_dict(self.action)


class AlarmTracker:
    """Raises and clears alarms from a stream of snapshot results."""

    def __init__(self) -> None:
        self.active: dict[str, Alarm] = {}
        self.history: list[Alarm] = []
        self._next_id = 1

    def update(self, result: SnapshotResult) -> list[AlarmEvent]:
        if not result.is_alarming:
            return []
        v = result.verdict
        events: list[AlarmEvent] = []
        if v == OK:
            for kind in list(self.active):
                events.append(self._clear(kind, result))
            return events
        if v in (LOST, DUPLICATE):
            # a complete count: the ring answers again, and the other count alarm is stale
            for kind in (INCOMPLETE, LOST if v == DUPLICATE else DUPLICATE):
                if kind in self.active:
                    events.append(self._clear(kind, result))
        if v not in self.active:
            events.append(self._raise(v, result))
        return events

    def _raise(self, kind: str, r: SnapshotResult) -> AlarmEvent:
        station, detail = _describe(kind, r)
        alarm = Alarm(self._next_id, kind, r.snapshot_id, r.finished, station, detail)
        self._next_id += 1
        self.active[kind] = alarm
        self.history.append(alarm)
        return AlarmEvent("raised", alarm)

    def _clear(self, kind: str, r: SnapshotResult) -> AlarmEvent:
        alarm = self.active.pop(kind)
        alarm.cleared = r.finished
        alarm.cleared_by = r.snapshot_id
        return AlarmEvent("cleared", alarm)


def _describe(kind: str, r: SnapshotResult) -> tuple[int | None, str]:
    """The station an alarm points at (if any) and a one-line human detail."""
    if kind == INCOMPLETE:
        others = [s for s in r.silent if s != r.suspect]
        more = f" ({len(others)} more waiting behind it)" if others else ""
        return r.suspect, f"no report from station {r.suspect}{more}"
    if kind == LOST:
        return None, f"snapshot {r.snapshot_id} counted 0 tokens"
    places = [f"held by {s}" for s in sorted(r.held)]
    for m in r.in_transit:
        what = "free token" if m["kind"] == "token" else f"frame {m['src']}->{m['dst']}"
        places.append(f"{what} on {m['from']}->{m['to']}")
    first = min(r.held) if r.held else (r.in_transit[0]["to"] if r.in_transit else None)
    return first, f"snapshot {r.snapshot_id} counted {r.count} tokens: " + "; ".join(places)
