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

from ringemu.core.history import FaultRecord, RunHistory
from ringemu.core.verdict import Alarm, SnapshotResult, Verdict
from ringemu.faults import FAULTS, FaultKind

OK, INCOMPLETE = Verdict.OK, Verdict.INCOMPLETE
BREAKS_RING = (FaultKind.KILL, FaultKind.PAUSE)
UNKNOWN_OUTCOMES = ("no-effect", "not-fired", "unobserved")


@dataclass(slots=True)
class FaultOutcome:
    """What became of one injected fault."""

    fault: FaultRecord
    outcome: str
    detected_by: int | None = None
    detected_at: float | None = None

    @property
    def latency(self) -> float | None:
        """Seconds (or virtual seconds) from injection to the detecting verdict."""
        if self.detected_at is None:
            return None
        return self.detected_at - self.fault.injected_at


@dataclass(slots=True)
class Judgement:
    valid: bool | str
    false_alarms: list[Alarm] = field(default_factory=list)
    faults: list[FaultOutcome] = field(default_factory=list)


def judge(history: RunHistory) -> Judgement:
    """Decide every fault's outcome and find false alarms; see the module docstring."""
    faults = history.faults
    judged = [r for r in history.results if r.is_alarming]
    purges = [(p.started, p.done) for p in history.purges]
    alarms = history.alarms
    outcomes = [_judge_fault(f, faults, judged, purges) for f in faults]
    false_alarms = [a for a in alarms if not _explained(a, faults, judged)]
    kinds = [o.outcome for o in outcomes]
    if false_alarms or "missed" in kinds:
        valid: bool | str = False
    elif any(o in UNKNOWN_OUTCOMES for o in kinds):
        valid = "unknown"
    else:
        valid = True
    return Judgement(valid, false_alarms, outcomes)


def _matches(f: FaultRecord, r: SnapshotResult) -> bool:
    expected = FAULTS[f.kind].verdict
    if r.verdict != expected:
        return False
    return expected != INCOMPLETE or f.station in r.silent


def _judge_fault(
    f: FaultRecord,
    faults: list[FaultRecord],
    judged: list[SnapshotResult],
    purges: list[tuple[float, float | None]],
) -> FaultOutcome:
    t = f.fired_at
    if t is None:
        return FaultOutcome(f, "not-fired")
    for r in judged:
        if r.finished <= t:
            continue
        if _matches(f, r):
            return FaultOutcome(f, "detected", r.snapshot_id, r.finished)
        if r.started >= t:
            disturbed = _disturbed(f, faults, judged, purges, r.finished)
            return FaultOutcome(f, "no-effect" if disturbed or f.kind == "pause" else "missed")
    return FaultOutcome(f, "unobserved")


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
