"""The ground-truth checker: holds every verdict of a run against what truly happened.

Jepsen's habit: the scenario, the fault schedule and the checker are separate things, and the
checker answers ``valid`` true, false or ``"unknown"``. It reads only the run history
(``ringemu.core.history``), which both shells record alike, so a live run, a simulated one or a
recorded ``events.jsonl`` are judged by the same rules.

The truth
---------
The true number of token units at a snapshot's cut is rebuilt from the run's own fault log, not
from anything the snapshot says. It starts at one when the ring comes up; a completed purge, or
a completed rollback to a snapshot that counted one, sets it back to one; every fault that fired
adds its effect from the fault registry (lose and corrupt -1, dup +1, pause 0, kill -1 or 0:
the token may have died with the station). A fault belongs to
a cut when it fired at its station before the cut passed that station: both are read on that
station's own clock (``fired_at`` and the state's ``at``), and when both read the same instant,
on its logical clock (``Station.step``, the inputs it had handled, recorded with the fault and
with the state), so the comparison is exact; where a record has no step (a kill, a pause)
either side is allowed when the times are equal. Either side is also allowed for a fault that
fired while a purge was going round (it may or may not have been absorbed). The truth is
therefore an interval ``[lo, hi]``; it is a single number whenever no fault sits on such an
edge.

The rules
---------
- A snapshot whose count lies outside the truth is a **defect** (reported by id, with both).
- A station fault (lose, dup, corrupt) is **detected** by the first counting cut it belongs to,
  if that cut's verdict is of its own kind (LOST for a lost unit, DUPLICATE for an extra one). It
  is **masked** when that cut's truth could be one (or of the other kind): another fault, or a
  purge before any cut could include it, cancelled its effect; the run is then ``unknown``, never
  a silent pass. It is **missed** when the truth surely shows its kind and the verdict did not.
- A link's drops and duplicates (``ringemu.core.impairments``) are facts of the run, recorded
  with the sending station's clock and step, and count in the truth exactly like a fault:
  a token unit a link dropped before the cut passed its sender is gone from that cut, one it
  duplicated is there twice. They are not judged as faults (nobody asked for them; a drop that
  another cancels is no failure of the ring), but they explain the alarms they cause.
- A token unit a purge absorbed is gone once that purge completes (the completed purge sets the
  truth to one anyway). A purge that never completes (its frame lost on a link, its monitor
  giving up the role to an election) leaves those units gone too: each absorption outside a
  completed purge counts -1, like a fault at that station.
- A kill or pause is **detected** by an INCOMPLETE verdict naming that station (its suspect) from
  a snapshot that was waiting while the station was down; a pause that every snapshot outlived
  is **masked** (too short to see). Process faults never excuse a count.
- A fault that never fired is **not-fired**; one that no cut followed is **unobserved**: both
  leave the run ``unknown``.
- Each alarm is **explained** by the faults whose net effect its snapshot counted (LOST and
  DUPLICATE: the count matches the truth, which is not one), or, for INCOMPLETE, by the kill or
  pause of the station it names, by a marker of its snapshot a link dropped, or by a cut link
  while it waited. Any other alarm is **false**.
- A ``cut`` is **detected** by an INCOMPLETE verdict from a snapshot that waited while the link
  was down; a ``heal`` by the first snapshot begun after it that counts exactly one (the ring
  recovered). A cut healed before any snapshot could wait on it is **masked**.

Reordering (``--reorder``) breaks the FIFO links Chandy-Lamport assumes: a marker may overtake a
token, and the snapshot then counts wrong. The checker does not excuse it: such a count is a
defect like any other, noted with the reordering links (``Judgement.reordering``).

Payloads: every payload accepted must be delivered exactly once and in order (the ledger of
``payload_sent`` and ``payload_delivered`` events, read after the run drained); a payload to or
from a station that is dead at the end is counted apart, for that station.

``valid`` is False with any defect, missed fault, false alarm, or payload lost, duplicated or out
of order; else ``"unknown"`` with any masked, not-fired or unobserved fault; else True.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from ringemu.core.history import FaultRecord, LinkRecord, PurgeSpan, RollbackSpan, RunHistory
from ringemu.core.verdict import Alarm, SnapshotResult, Verdict
from ringemu.faults import FAULTS, Actor, FaultKind


class Outcome(StrEnum):
    DETECTED = "detected"
    MASKED = "masked"
    MISSED = "missed"
    NOT_FIRED = "not-fired"
    UNOBSERVED = "unobserved"


UNKNOWN_OUTCOMES = (Outcome.MASKED, Outcome.NOT_FIRED, Outcome.UNOBSERVED)


@dataclass(slots=True)
class FaultOutcome:
    """What became of one injected fault."""

    fault: FaultRecord
    outcome: Outcome
    detected_by: int | None = None
    detected_at: float | None = None
    note: str = ""

    @property
    def latency(self) -> float | None:
        """Seconds (or virtual seconds) from injection to the detecting verdict."""
        if self.detected_at is None:
            return None
        return self.detected_at - self.fault.injected_at


@dataclass(slots=True)
class AlarmAccount:
    """One alarm and the faults, or link facts, that explain it (none: a false alarm)."""

    alarm: Alarm
    explained_by: list[int] = field(default_factory=list)
    reason: str = ""
    links: list = field(default_factory=list)
    """The link drops and duplicates (and units an unfinished purge absorbed) among its
    causes."""

    @property
    def false(self) -> bool:
        return not self.explained_by and not self.links


@dataclass(frozen=True, slots=True)
class Defect:
    """A snapshot whose count differs from the truth."""

    snapshot_id: int
    count: int
    truth: tuple[int, int]

    note: str = ""

    def describe(self) -> str:
        lo, hi = self.truth
        truth = str(lo) if lo == hi else f"{lo}..{hi}"
        note = f" ({self.note})" if self.note else ""
        return f"snapshot {self.snapshot_id} counted {self.count}, the truth was {truth}{note}"


@dataclass(slots=True)
class Judgement:
    valid: bool | str
    faults: list[FaultOutcome] = field(default_factory=list)
    alarms: list[AlarmAccount] = field(default_factory=list)
    defects: list[Defect] = field(default_factory=list)
    payloads: dict = field(default_factory=dict)
    """The payload ledger's account (``Ledger.account``)."""
    links: dict = field(default_factory=dict)
    """What the links did (``link_account``)."""
    reordering: list = field(default_factory=list)
    """Links (None: all) that were set to reorder: their wrong counts are expected."""

    @property
    def false_alarms(self) -> list[Alarm]:
        return [a.alarm for a in self.alarms if a.false]

    def count(self, outcome: Outcome) -> int:
        return sum(1 for f in self.faults if f.outcome is outcome)


@dataclass(frozen=True, slots=True)
class Cut:
    """The truth at one snapshot's cut, and the faults it counted."""

    lo: int
    hi: int
    included: tuple[Fact, ...]
    """Faults (and link facts) surely inside the cut whose effect no purge has undone."""
    edge: tuple[Fact, ...]
    """Faults that may be on either side (equal times, or during a purge)."""
    tied: frozenset[int] = frozenset()
    """Ids of the edge faults that fired at the very time the cut passed their station (a
    later cut includes them for sure)."""

    def holds(self, count: int) -> bool:
        return self.lo <= count <= self.hi

    def kinds(self) -> set[Verdict]:
        """The count verdicts the truth allows."""
        out = set()
        if self.lo <= 0:
            out.add(Verdict.LOST)
        if self.lo <= 1 <= self.hi:
            out.add(Verdict.OK)
        if self.hi >= 2:
            out.add(Verdict.DUPLICATE)
        return out


def effect_range(kind: FaultKind) -> tuple[int, int]:
    """The change in token units a fault of ``kind`` may make when it fires."""
    effect = FAULTS[kind].effect
    return (-1, 0) if effect is None else (effect, effect)


@dataclass(frozen=True, slots=True)
class Absorption:
    """A token unit a purge absorbed at ``station`` (on its clock), a purge that never came
    back: -1 from then on, until a completed purge or rollback resets the truth."""

    number: int
    station: int
    fired_at: float
    fired_step: int | None = None
    effect: int = -1

    @property
    def fault_id(self) -> int:
        return -1_000_000 - self.number  # apart from faults and link facts

    def describe(self) -> str:
        return f"station {self.station} absorbed a token unit in a purge that never completed"


Fact = FaultRecord | LinkRecord | Absorption


def _effects(f: Fact) -> tuple[int, int]:
    if type(f) is LinkRecord or type(f) is Absorption:
        return f.effect, f.effect  # type: ignore[union-attr]
    return effect_range(f.kind)  # type: ignore[union-attr]


def stray_absorptions(h: RunHistory) -> list[Absorption]:
    """The absorptions no completed purge covers (see the module docstring)."""
    spans = [(p.started, p.done) for p in h.purges if p.done is not None]
    spans += [(b.started, b.done) for b in h.rollbacks if b.done is not None]
    return [Absorption(i, station, t) for i, (station, t) in enumerate(h.absorbed, 1)
            if not any(a <= t <= b for a, b in spans)]


class Truth:
    """Rebuilds the true token count at any cut of a run (see the module docstring)."""

    def __init__(self, history: RunHistory) -> None:
        self.h = history
        fired: list[FaultRecord | LinkRecord] = [f for f in history.faults
                                                 if f.fired_at is not None]
        fired += [f for f in history.link_faults if f.effect]
        fired += stray_absorptions(history)
        self.fired = sorted(fired, key=lambda f: f.fired_at)  # type: ignore[arg-type, return-value]
        self.purges = [p for p in history.purges if p.done is not None]
        self.rollbacks = [b for b in history.rollbacks if b.done is not None]

    def at(self, r: SnapshotResult) -> Cut | None:
        """The truth at ``r``'s cut; None when the cut caught a purge (no count to judge)."""
        base: PurgeSpan | RollbackSpan | None = None
        for p in self.purges:
            c = self.h.cut_at(r.snapshot_id, p.station)
            if c is None:  # a former active monitor, out of the ring now: the clocks agree
                c = r.started
            assert p.done is not None
            # at one instant the station's state decides: a cut that is not RECOVERING did
            # not find it purging, so a purge ending then was done, one starting then was not
            if p.done <= c:
                base = p
            elif p.started < c:
                return None  # the active monitor was purging at its cut
        for b in self.rollbacks:  # the ring is never snapshotted while it rolls back
            assert b.done is not None
            if b.done <= r.started and (base is None or b.done > (base.done or 0.0)):
                base = b
        lo = hi = 1
        included, edge, tied = [], [], set()
        for f in self.fired:
            cut = self.h.cut(r.snapshot_id, f.station)
            t = f.fired_at
            assert t is not None
            if cut is None:
                continue
            side = _side(f, cut)
            if side > 0:
                continue  # after the cut passed its station
            if base is not None and t < base.started:
                continue  # the purge absorbed it
            e_lo, e_hi = _effects(f)
            during_purge = base is not None and base.done is not None and t <= base.done
            if side == 0 or during_purge:
                lo, hi = lo + min(e_lo, 0), hi + max(e_hi, 0)
                edge.append(f)
                if side == 0:
                    tied.add(f.fault_id)
            else:
                lo, hi = lo + e_lo, hi + e_hi
                included.append(f)
        return Cut(max(lo, 0), max(hi, 0), tuple(included), tuple(edge), frozenset(tied))


def _side(f: Fact, cut: tuple[float, int]) -> int:
    """-1 when ``f`` fired before the cut passed its station, +1 after, 0 when the records
    cannot tell. The station's clock decides; when both read the same instant (the simulator's
    virtual time can), the station's logical step does (it counts one station process's inputs,
    so it never ties there)."""
    at, step = cut
    assert f.fired_at is not None
    if f.fired_at != at or f.fired_step is None or step < 0:
        return (f.fired_at > at) - (f.fired_at < at)
    return (f.fired_step > step) - (f.fired_step < step)


def judge(history: RunHistory, final: bool = True) -> Judgement:
    """Judge a run; see the module docstring. ``final`` false judges a run still going: a
    payload not delivered yet is in flight, not lost."""
    truth = Truth(history)
    reordering = history.reordering
    reorder_note = "" if not reordering else (
        "reordering was on (links: " + ", ".join("all" if k is None else str(k)
                                                 for k in reordering)
        + "): a marker may have overtaken a token")
    counted: list[tuple[SnapshotResult, Cut]] = []
    defects: list[Defect] = []
    for r in history.results:
        if r.count is None or r.verdict is Verdict.RECOVERING:
            continue
        cut = truth.at(r)
        if cut is None:
            continue
        counted.append((r, cut))
        if not cut.holds(r.count):
            defects.append(Defect(r.snapshot_id, r.count, (cut.lo, cut.hi), reorder_note))
    outcomes = [_judge_fault(f, history, counted) for f in history.faults]
    cuts = {r.snapshot_id: cut for r, cut in counted}
    results = {r.snapshot_id: r for r in history.results}
    accounts = [_account(a, results.get(a.snapshot_id), cuts.get(a.snapshot_id), history)
                for a in history.alarms]
    kinds = [o.outcome for o in outcomes]
    payloads = history.ledger.account(history.gone, final)
    broken = (payloads["duplicates"] or payloads["lost"] or payloads["out_of_order"]
              or payloads["never_sent"])
    if defects or broken or Outcome.MISSED in kinds or any(a.false for a in accounts):
        valid: bool | str = False
    elif any(k in UNKNOWN_OUTCOMES for k in kinds):
        valid = "unknown"
    else:
        valid = True
    return Judgement(valid, outcomes, accounts, defects, payloads, link_account(history),
                     reordering)


def link_account(h: RunHistory) -> dict:
    """What the links did to token units and markers: drops and duplicates, by cause."""
    by: dict[str, int] = {}
    for f in h.link_faults:
        key = f"{f.action} {f.what} ({f.cause})"
        by[key] = by.get(key, 0) + 1
    return {"link_drops": sum(1 for f in h.link_faults if f.action == "drop"),
            "link_dups": sum(1 for f in h.link_faults if f.action == "dup"),
            "link_facts": dict(sorted(by.items()))}


def _judge_fault(f: FaultRecord, h: RunHistory,
                 counted: list[tuple[SnapshotResult, Cut]]) -> FaultOutcome:
    if f.fired_at is None:
        return FaultOutcome(f, Outcome.NOT_FIRED, note=(
            "its station's process ended before it took effect" if f.ended_at is not None
            else "it never took effect"))
    if FAULTS[f.kind].actor is Actor.PROCESS:
        return _judge_process_fault(f, h)
    if FAULTS[f.kind].actor is Actor.LINK:
        return _judge_link_fault(f, h)
    expected = FAULTS[f.kind].verdict
    for r, cut in counted:
        edge = f in cut.edge
        if f in cut.included or (edge and f.fault_id not in cut.tied):
            if r.verdict is expected and cut.holds(r.count or 0):
                return FaultOutcome(f, Outcome.DETECTED, r.snapshot_id, r.finished)
            if cut.kinds() == {expected}:
                return FaultOutcome(f, Outcome.MISSED, r.snapshot_id,
                                    note=f"snapshot {r.snapshot_id} said {r.verdict}")
            why = "it fired while a purge went round" if edge else "another fault cancelled it"
            return FaultOutcome(f, Outcome.MASKED, note=f"{why}: the first cut to include it "
                                f"(snapshot {r.snapshot_id}) could count {_span(cut)}")
        if f.fired_at < r.started and not edge:
            return FaultOutcome(f, Outcome.MASKED,
                                note="a purge undid it before any cut included it")
    return FaultOutcome(f, Outcome.UNOBSERVED, note="no counting cut included it")


def _span(cut: Cut) -> str:
    return str(cut.lo) if cut.lo == cut.hi else f"{cut.lo}..{cut.hi}"


def _down(f: FaultRecord, h: RunHistory) -> tuple[float, float]:
    """When the station of a process fault was down: from its firing to its resumption (a
    pause) or for good (a kill)."""
    assert f.fired_at is not None
    if f.kind == FaultKind.PAUSE:
        ends = [t for s, t in h.resumes if s == f.station and t >= f.fired_at]
        return f.fired_at, min(ends, default=float("inf"))
    return f.fired_at, float("inf")


def _judge_process_fault(f: FaultRecord, h: RunHistory) -> FaultOutcome:
    start, end = _down(f, h)
    outlived = False
    for r in h.results:
        if r.finished < start or r.started >= end:
            continue  # (a snapshot the monitor concluded because the station went down ends
            # at the very moment the fault fired: it names it)
        if r.verdict is Verdict.INCOMPLETE and r.suspect == f.station:
            return FaultOutcome(f, Outcome.DETECTED, r.snapshot_id, r.finished)
        if r.started >= start and r.count is not None:
            outlived = True  # it began with the station down, and still counted
    if f.kind == FaultKind.PAUSE and outlived:
        return FaultOutcome(f, Outcome.MASKED, note="a snapshot outlived the pause")
    if f.kind == FaultKind.KILL and outlived:
        if not _member(f.station, f.fired_at, h):  # nothing of the ring's was lost with it
            return FaultOutcome(f, Outcome.UNOBSERVED, note="the station was not in the ring "
                                "then (bypassed, or not inserted again yet)")
        return FaultOutcome(f, Outcome.MISSED, note="a snapshot counted without naming it")
    return FaultOutcome(f, Outcome.UNOBSERVED, note="no snapshot waited on the station")


def _member(station: int, t: float | None, h: RunHistory) -> bool:
    """Was ``station`` a member of the ring at time ``t`` (by the last membership before
    it; every station is until the first)?"""
    members = None
    for at, m in h.memberships:
        if t is not None and at > t:
            break
        members = m.get("members")
    return members is None or station in members


def cut_window(f: FaultRecord, h: RunHistory) -> tuple[float, float]:
    """When cut ``f`` kept its link down: from its firing to the next heal of that link."""
    assert f.fired_at is not None
    heals = [g.fired_at for g in h.faults if g.kind == FaultKind.HEAL and g.station == f.station
             and g.fired_at is not None and g.fired_at >= f.fired_at]
    return f.fired_at, min(heals, default=float("inf"))


def _judge_link_fault(f: FaultRecord, h: RunHistory) -> FaultOutcome:
    assert f.fired_at is not None
    if f.kind == FaultKind.HEAL:
        for r in h.results:
            if r.started >= f.fired_at and r.verdict is Verdict.OK and not r.stale:
                return FaultOutcome(f, Outcome.DETECTED, r.snapshot_id, r.finished,
                                    note="the ring counted one again")
        return FaultOutcome(f, Outcome.UNOBSERVED, note="no snapshot counted one after it")
    window = cut_window(f, h)
    seen = False
    for r in h.results:
        if not _overlaps(window, r):
            continue
        seen = True
        if r.verdict is Verdict.INCOMPLETE:
            return FaultOutcome(f, Outcome.DETECTED, r.snapshot_id, r.finished)
    if not seen and window[1] < float("inf"):
        return FaultOutcome(f, Outcome.MASKED, note="healed before any snapshot waited on it")
    return FaultOutcome(f, Outcome.UNOBSERVED, note="no snapshot waited while it was cut")


def _account(alarm: Alarm, r: SnapshotResult | None, cut: Cut | None,
             h: RunHistory) -> AlarmAccount:
    if alarm.kind is Verdict.INCOMPLETE:
        if r is None:
            return AlarmAccount(alarm, reason="its snapshot is not in the history")
        ids = [f.fault_id for f in h.faults
               if FAULTS[f.kind].actor is Actor.PROCESS and f.station == r.suspect
               and f.fired_at is not None and _overlaps(_down(f, h), r)]
        ids += [f.fault_id for f in h.faults if f.kind == FaultKind.CUT
                and f.fired_at is not None and _overlaps(cut_window(f, h), r)]
        links = [f for f in h.link_faults if f.what == "marker" and f.sid == r.snapshot_id]
        return AlarmAccount(alarm, ids, "" if ids or links else
                            f"station {r.suspect} was neither dead nor paused, no link was cut "
                            "and no marker was dropped", links)
    if r is None or cut is None or r.count is None:
        return AlarmAccount(alarm, reason="no truth for its snapshot")
    if not cut.holds(r.count) or alarm.kind not in cut.kinds():
        return AlarmAccount(alarm, reason=f"its count {r.count} is not the truth {_span(cut)}")
    faults = cut.included + cut.edge
    return AlarmAccount(alarm, [f.fault_id for f in faults if type(f) is FaultRecord],
                        "" if faults else "no fault in its cut",
                        [f for f in faults if type(f) is not FaultRecord])


def _overlaps(window: tuple[float, float], r: SnapshotResult) -> bool:
    """Was ``r`` under way while the window was open? A snapshot the monitor concludes at the
    very instant a station goes down (it learnt of it then) was."""
    start, end = window
    return start <= r.finished and end > r.started
