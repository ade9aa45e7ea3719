"""Checking a run: were the injected faults detected, and was any alarm false?

The jepsen habit: the scenario, the fault schedule and the checker are separate things, and the
checker answers ``valid`` true, false or ``"unknown"``. The simulator and the live ``ringemu run``
both feed it the same inputs: the injected faults (with when each fired, as the station reported),
the snapshot results in completion order and the purges.

Per fault, the outcome is one of:

- ``detected``: a snapshot finished after the fault fired gave the verdict the fault should cause
  (lose/corrupt: LOST; dup: DUPLICATE; kill/pause: INCOMPLETE naming the station), no later than
  the first snapshot *begun* after it fired (whose cut surely follows the fault).
- ``missed``: that first following snapshot counted something else although nothing else could
  have hidden the fault. Makes the run invalid.
- ``no-effect``: the following snapshot counted one token, but another fault or a purge could have
  cancelled this one (a dup absorbed by a purge, a lose and a dup together). Makes the run unknown.
- ``not-fired``: the fault was armed but never fired (a lose at a station no token reached).
- ``unobserved``: no snapshot followed it before the run ended.

An alarm is false when no fault fired between the last time the ring was seen healthy and the
snapshot that raised it. Any false alarm makes the run invalid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ringemu.core.verdict import DUPLICATE, INCOMPLETE, LOST, OK, Alarm, SnapshotResult
from ringemu.faults import FaultSpec

EXPECTED = {"lose": LOST, "corrupt": LOST, "dup": DUPLICATE, "kill": INCOMPLETE,
            "pause": INCOMPLETE}
BREAKS_RING = ("kill", "pause")
UNKNOWN_OUTCOMES = ("no-effect", "not-fired", "unobserved")


@dataclass(slots=True)
class FaultRecord:
    """One injected fault and what became of it."""

    spec: FaultSpec
    injected_at: float
    fired_at: float | None = None
    outcome: str | None = None
    detected_by: int | None = None
    detected_at: float | None = None

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def station(self) -> int:
        assert self.spec.station is not None
        return self.spec.station

    @property
    def latency(self) -> float | None:
        """Seconds (or virtual seconds) from injection to the detecting verdict."""
        if self.detected_at is None:
            return None
        return self.detected_at - self.injected_at


@dataclass(slots=True)
class Judgement:
    valid: bool | str
    false_alarms: list[Alarm] = field(default_factory=list)
    faults: list[FaultRecord] = field(default_factory=list)


def mark_fired(faults: list[FaultRecord], station: int, kind: str, t: float) -> FaultRecord | None:
    """Attach a station's "fault fired" report to the oldest unfired injection that matches."""
    for f in faults:
        if f.fired_at is None and f.station == station and f.kind == kind and f.injected_at <= t:
            f.fired_at = t
            return f
    return None


def judge(
    faults: list[FaultRecord],
    results: list[SnapshotResult],
    alarms: list[Alarm],
    purges: list[tuple[float, float | None]] = (),  # type: ignore[assignment]
) -> Judgement:
    """Decide every fault's outcome and find false alarms; see the module docstring."""
    judged = [r for r in results if r.is_alarming]
    for f in faults:
        _judge_fault(f, faults, judged, list(purges))
    false_alarms = [a for a in alarms if not _explained(a, faults, judged)]
    outcomes = [f.outcome for f in faults]
    if false_alarms or "missed" in outcomes:
        valid: bool | str = False
    elif any(o in UNKNOWN_OUTCOMES for o in outcomes):
        valid = "unknown"
    else:
        valid = True
    return Judgement(valid, false_alarms, faults)


def _matches(f: FaultRecord, r: SnapshotResult) -> bool:
    expected = EXPECTED[f.kind]
    if r.verdict != expected:
        return False
    return expected != INCOMPLETE or f.station in r.silent


def _judge_fault(
    f: FaultRecord,
    faults: list[FaultRecord],
    judged: list[SnapshotResult],
    purges: list[tuple[float, float | None]],
) -> None:
    t = f.fired_at
    if t is None:
        f.outcome = "not-fired"
        return
    for r in judged:
        if r.finished <= t:
            continue
        if _matches(f, r):
            f.outcome = "detected"
            f.detected_by = r.snapshot_id
            f.detected_at = r.finished
            return
        if r.started >= t:
            disturbed = _disturbed(f, faults, judged, purges, r.finished)
            f.outcome = "no-effect" if disturbed or f.kind == "pause" else "missed"
            return
    f.outcome = "unobserved"


def _last_healthy(judged: list[SnapshotResult], before: float) -> float:
    """When the ring was last surely healthy, as seen by ``before``: the start of the latest OK
    snapshot finished by then (its cut lies somewhere after its start), or -inf."""
    best = float("-inf")
    for r in judged:
        if r.verdict == OK and r.finished <= before:
            best = max(best, r.started)
    return best


def _disturbed(
    f: FaultRecord,
    faults: list[FaultRecord],
    judged: list[SnapshotResult],
    purges: list[tuple[float, float | None]],
    until: float,
) -> bool:
    """Could another fault or a purge have cancelled ``f`` before ``until``?"""
    assert f.fired_at is not None
    since = min(_last_healthy(judged, f.fired_at), f.fired_at)
    for g in faults:
        if g is f or g.fired_at is None:
            continue
        if g.kind in BREAKS_RING and g.fired_at <= until:
            return True
        if since <= g.fired_at <= until:
            return True
    for start, end in purges:
        if start <= until and (end is None or end >= f.fired_at):
            return True
    return False


def _explained(alarm: Alarm, faults: list[FaultRecord], judged: list[SnapshotResult]) -> bool:
    by = next((r for r in judged if r.snapshot_id == alarm.snapshot_id), None)
    started = by.started if by is not None else alarm.raised
    since = _last_healthy(judged, started)
    for f in faults:
        t = f.fired_at if f.fired_at is not None else f.injected_at
        if t > alarm.raised:
            continue
        if f.kind == "kill":
            return True  # the ring stays broken: every later alarm follows from it
        if t >= since and (f.kind == "pause" or alarm.kind != INCOMPLETE):
            return True
    return False
