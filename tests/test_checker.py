"""The ground-truth checker, rule by rule, on hand-built histories.

Each history is built with the same ``RunHistory`` calls the shells make (a fault injected, a
station reporting it fired, snapshots with where their cut passed each station, purges, alarms),
so the checker is tested on exactly what it reads in a run. Among the rules: each leniency of
the checker this one replaced has a test showing it is gone.
"""

from __future__ import annotations

from ringemu.checker import Outcome, judge
from ringemu.core.history import RunHistory
from ringemu.core.state import Mode, StationState
from ringemu.core.station_events import FaultFired, PurgeDone, PurgeStarted
from ringemu.core.verdict import (Alarm, AlarmAction, AlarmEvent, SnapshotResult, Verdict,
                                  verdict_for)
from ringemu.faults import FaultKind

N = 6


def step(t: float) -> int:
    """A logical step for a hand-built time: these histories order a station's inputs by
    time, to the microsecond."""
    return round(t * 1e6)


class Run:
    """A hand-built history: times are seconds, every station's cut is given or defaults to
    the middle of the snapshot."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self.h = RunHistory(self.events.append)
        self.h.ring_starting(0.0, N, {})
        self.h.ring_up(0.0, [None] * N, 0)
        self.sid = 0
        self.alarm_id = 0

    def fault(self, kind: str, station: int, injected: float, fired: float | None = None,
              arg: float | None = None) -> int:
        rec = self.h.inject(injected, FaultKind(kind), station, arg)
        if fired is not None:
            if kind in ("kill", "pause"):
                self.h.process_fault_fired(rec, fired)
            else:
                effect = {"lose": -1, "dup": 1, "corrupt": -1}[kind]
                self.h.station_event(FaultFired(station, fired, kind, effect, step(fired)))
        return rec.fault_id

    def snap(self, started: float, finished: float, count: int | None,
             cuts: dict[int, float] | None = None, verdict: Verdict | None = None,
             suspect: int | None = None, alarm: bool = True) -> int:
        sid = self.sid
        self.sid += 1
        mid = (started + finished) / 2
        cuts = cuts or {}
        states = {} if count is None else {
            s: StationState(Mode.IDLE, 0, 0, None, cuts.get(s, mid), step(cuts.get(s, mid)))
            for s in range(N)}
        if verdict is None:
            verdict = Verdict.INCOMPLETE if count is None else verdict_for(count)
        r = SnapshotResult(sid, 0, started, finished, verdict, count, states=states,
                           silent=(suspect,) if suspect is not None else (), suspect=suspect)
        self.h.monitor_event(r)
        if alarm and verdict is not Verdict.OK:
            self.alarm_id += 1
            a = Alarm(self.alarm_id, verdict, sid, finished, suspect, "test")
            self.h.monitor_event(AlarmEvent(AlarmAction.RAISED, a))
        return sid

    def purge(self, started: float, done: float, number: int = 1) -> None:
        self.h.station_event(PurgeStarted(0, started, number))
        self.h.station_event(PurgeDone(0, done, number))

    def judge(self):
        j = judge(self.h)
        again = judge(RunHistory.from_events(self.events))  # the same from the events alone
        assert _key(again) == _key(j)
        return j


def _key(j):
    return (j.valid, [(o.fault.fault_id, o.outcome, o.detected_by) for o in j.faults],
            [(a.alarm.alarm_id, a.explained_by) for a in j.alarms], j.defects)


def outcome(j, fault_id: int) -> Outcome:
    return next(o.outcome for o in j.faults if o.fault.fault_id == fault_id)


def test_clean_run_with_each_fault_detected_is_valid():
    run = Run()
    run.snap(0.5, 0.6, 1)
    lose = run.fault("lose", 2, 1.0, 1.1)
    run.snap(1.5, 1.6, 0)
    run.purge(1.7, 1.8)
    run.snap(2.0, 2.1, 1)
    dup = run.fault("dup", 4, 2.5, 2.5)
    run.snap(3.0, 3.1, 2)
    j = run.judge()
    assert (outcome(j, lose), outcome(j, dup)) == (Outcome.DETECTED, Outcome.DETECTED)
    assert j.faults[0].detected_by == 1 and abs(j.faults[0].latency - 0.6) < 1e-9
    assert [a.explained_by for a in j.alarms] == [[lose], [dup]]
    assert j.defects == [] and j.valid is True


def test_a_verdict_from_a_cut_before_the_fault_fired_is_not_its_detection():
    run = Run()
    run.fault("lose", 2, 1.0, 1.05)
    # snapshot 0 passed station 2 before the lose fired, yet counted 0: a wrong count
    run.snap(1.0, 1.2, 0, cuts={2: 1.01})
    run.snap(1.5, 1.6, 0)
    j = run.judge()
    (o,) = j.faults
    assert o.outcome is Outcome.DETECTED and o.detected_by == 1
    assert [d.snapshot_id for d in j.defects] == [0]
    assert j.alarms[0].false and j.valid is False


def test_a_duplicate_alarm_is_not_excused_by_a_lose():
    run = Run()
    run.fault("lose", 1, 1.0, 1.0)
    run.snap(1.5, 1.6, 2)
    j = run.judge()
    assert j.alarms[0].false and "not the truth 0" in j.alarms[0].reason
    assert j.defects[0].describe() == "snapshot 0 counted 2, the truth was 0"
    assert j.faults[0].outcome is Outcome.MISSED and j.valid is False


def test_a_kill_does_not_excuse_every_later_alarm():
    run = Run()
    kill = run.fault("kill", 3, 1.0, 1.0)
    run.snap(1.2, 1.6, None, suspect=3)  # INCOMPLETE naming the dead station: explained
    run.purge(2.0, 2.1)
    run.snap(2.5, 2.6, 0)  # LOST after the purge reset the ring to one: nothing explains it
    run.snap(3.0, 3.4, None, suspect=5, verdict=Verdict.INCOMPLETE)  # names a live station
    j = run.judge()
    assert j.faults[0].outcome is Outcome.DETECTED
    assert [a.explained_by for a in j.alarms] == [[kill], [], []]
    assert j.valid is False


def test_a_lost_count_right_after_a_kill_is_explained_by_it():
    run = Run()
    kill = run.fault("kill", 3, 1.0, 1.0)
    run.snap(1.2, 1.6, None, suspect=3)
    run.snap(2.0, 2.1, 0)  # the token may have died with station 3
    j = run.judge()
    assert j.alarms[1].explained_by == [kill] and j.defects == []


def test_a_pause_excuses_only_an_incomplete_verdict_naming_it_while_it_lasts():
    run = Run()
    pause = run.fault("pause", 2, 1.0, 1.0, arg=1.0)
    run.snap(1.1, 1.5, None, suspect=2)  # explained
    run.snap(1.6, 1.7, 2)  # a duplicate count during the pause: nothing explains it
    run.h.resumed(2.0, 2)
    run.snap(2.5, 2.9, None, suspect=2, verdict=Verdict.INCOMPLETE)  # after it resumed
    j = run.judge()
    assert outcome(j, pause) is Outcome.DETECTED
    assert [bool(a.explained_by) for a in j.alarms] == [True, False, False]


def test_a_snapshot_concluded_the_moment_its_station_stops_is_explained_by_the_stop():
    """A snapshot still waiting on a station (a slow machine) when that station is paused is
    concluded at that very moment, naming it: the pause explains it and is detected by it."""
    run = Run()
    pause = run.fault("pause", 0, 9.082, 9.082, arg=0.3)
    run.snap(8.92, 9.082, None, suspect=0)
    j = run.judge()
    assert outcome(j, pause) is Outcome.DETECTED
    assert [a.explained_by for a in j.alarms] == [[pause]]
    before = Run()
    kill = before.fault("kill", 0, 9.2, 9.2)
    before.snap(8.92, 9.082, None, suspect=0)  # concluded before the kill: not its doing
    j = before.judge()
    assert j.alarms[0].false and outcome(j, kill) is not Outcome.DETECTED


def test_a_fault_that_never_fired_explains_nothing_and_leaves_the_run_unknown():
    run = Run()
    run.fault("lose", 2, 1.0)  # armed, never fired
    run.snap(1.5, 1.6, 0)
    j = run.judge()
    assert j.faults[0].outcome is Outcome.NOT_FIRED
    assert j.alarms[0].false and j.defects  # the count 0 is wrong: no lose ever happened
    run2 = Run()
    run2.fault("lose", 2, 1.0)
    run2.snap(1.5, 1.6, 1)
    assert run2.judge().valid == "unknown"


def test_a_fault_armed_in_a_process_that_ended_is_not_taken_for_a_later_one():
    """A lose armed in station 2, whose process is then killed before it fires, can never
    fire; a lose armed in its new process fires later: that firing is the new fault's, and
    the old one stays not-fired (found in a live run, where the old fault stole the new one's
    firing and was reported 4.9 s late)."""
    run = Run()
    run.snap(0.5, 0.6, 1)
    old = run.fault("lose", 2, 1.0)  # armed, and the process holding it ends
    kill = run.fault("kill", 2, 1.1, 1.1)
    run.h.station_exit(1.1, 2, -9, None)
    run.h.restart(1.5, 2)
    new = run.fault("lose", 2, 2.0, 2.05)
    run.snap(2.5, 2.6, 0)
    j = run.judge()
    assert outcome(j, new) is Outcome.DETECTED
    assert abs(next(o for o in j.faults if o.fault.fault_id == new).latency - 0.6) < 1e-9
    assert outcome(j, old) is Outcome.NOT_FIRED
    assert "ended before it took effect" in next(o.note for o in j.faults
                                                  if o.fault.fault_id == old)
    assert outcome(j, kill) is not Outcome.NOT_FIRED


def test_a_firing_reported_after_its_process_ended_is_still_its_own():
    """A station fires a lose, is killed, and the monitor hears of the exit before the
    report of the firing (they travel apart): the lose fired all the same (found by the
    healing property: the truth missed a lose, and a count of 0 looked wrong)."""
    run = Run()
    run.snap(0.5, 0.6, 1)
    lose = run.fault("lose", 2, 1.0)
    run.fault("kill", 2, 1.1, 1.1)
    run.h.station_exit(1.1, 2, -9, None)
    run.h.station_event(FaultFired(2, 1.05, "lose", -1, step(1.05)))  # fired before the kill
    run.snap(1.5, 1.6, 0)
    j = run.judge()
    assert outcome(j, lose) is Outcome.DETECTED and j.defects == []


def test_faults_that_cancel_before_any_cut_are_masked_and_the_run_unknown():
    run = Run()
    a = run.fault("lose", 1, 1.0, 1.0)
    b = run.fault("dup", 4, 1.01, 1.01)
    run.snap(1.5, 1.6, 1)
    j = run.judge()
    assert {outcome(j, a), outcome(j, b)} == {Outcome.MASKED}
    assert j.defects == [] and j.valid == "unknown"


def test_a_fault_undone_by_a_purge_before_any_cut_is_masked():
    run = Run()
    run.snap(0.2, 0.3, 1)
    dup = run.fault("dup", 3, 1.0, 1.0)
    run.purge(1.2, 1.3)
    run.snap(1.5, 1.6, 1)
    j = run.judge()
    assert outcome(j, dup) is Outcome.MASKED and "purge" in j.faults[0].note


def test_a_fault_a_cut_shows_but_the_verdict_does_not_is_missed():
    run = Run()
    run.fault("corrupt", 2, 1.0, 1.0)
    run.snap(1.5, 1.6, 1)
    j = run.judge()
    assert j.faults[0].outcome is Outcome.MISSED
    assert [d.snapshot_id for d in j.defects] == [0] and j.valid is False


def test_a_fault_at_the_very_time_of_the_cut_allows_either_count():
    for count in (0, 1):
        run = Run()
        lose = run.fault("lose", 2, 1.0, 1.3)
        run.snap(1.0, 1.5, count, cuts={2: 1.3})
        run.snap(2.0, 2.1, 0)
        j = run.judge()
        assert j.defects == []
        assert outcome(j, lose) is Outcome.DETECTED
        assert j.faults[0].detected_by == 1  # only a cut it surely belongs to detects it
        assert not any(a.false for a in j.alarms)


def test_a_fault_during_a_purge_may_or_may_not_survive_it():
    for count, expected in ((2, Outcome.DETECTED), (1, Outcome.MASKED)):
        run = Run()
        run.purge(1.0, 1.2)
        dup = run.fault("dup", 3, 1.1, 1.1)
        run.snap(1.5, 1.6, count)
        j = run.judge()
        assert j.defects == [] and outcome(j, dup) is expected


def test_a_kill_that_a_counting_snapshot_never_names_is_missed():
    run = Run()
    run.fault("kill", 3, 1.0, 1.0)
    run.snap(1.2, 1.3, 1)
    assert run.judge().faults[0].outcome is Outcome.MISSED


def test_a_short_pause_every_snapshot_outlived_is_masked():
    run = Run()
    run.fault("pause", 2, 1.0, 1.0, arg=0.1)
    run.snap(1.05, 1.2, 1)
    run.h.resumed(1.1, 2)
    j = run.judge()
    assert j.faults[0].outcome is Outcome.MASKED and j.valid == "unknown"


def test_a_fault_no_cut_followed_is_unobserved():
    run = Run()
    run.snap(0.5, 0.6, 1)
    run.fault("dup", 1, 5.0, 5.0)
    j = run.judge()
    assert j.faults[0].outcome is Outcome.UNOBSERVED and j.valid == "unknown"


def test_recovering_cuts_are_not_held_against_the_truth():
    run = Run()
    run.fault("dup", 1, 1.0, 1.0)
    run.h.station_event(PurgeStarted(0, 1.5, 1))
    run.snap(1.4, 1.7, 0, cuts={0: 1.6}, verdict=Verdict.RECOVERING, alarm=False)
    run.h.station_event(PurgeDone(0, 1.8, 1))
    run.snap(2.0, 2.1, 1)
    j = run.judge()
    assert j.defects == [] and j.faults[0].outcome is Outcome.MASKED


def test_a_payload_delivered_that_nobody_sent_makes_the_run_invalid():
    from ringemu.core.payloads import PayloadDelivered, PayloadSent

    run = Run()
    run.snap(0.5, 0.6, 1)
    run.h.station_event(PayloadSent(1, 0.7, 4, 1))
    run.h.station_event(PayloadDelivered(4, 0.8, 1, 1))
    assert run.judge().valid is True
    run.h.station_event(PayloadDelivered(4, 0.9, 1, 2))  # number 2 was never accepted
    j = run.judge()
    assert j.payloads["never_sent"] == 1 and j.valid is False


class _Members:
    def __init__(self, members):
        self.members = members

    def to_json(self):
        return {"epoch": 1, "members": self.members, "active_monitor": 1, "reason": "bypass"}


def test_a_kill_of_a_station_outside_the_ring_is_unobserved_not_missed():
    """Station 0 was bypassed (dead, started again, not inserted yet) when it was killed
    again: the ring lost nothing, so a snapshot that counts one has nothing to name (found
    by the healing property with kills 2.25 rotations apart)."""
    run = Run()
    first = run.fault("kill", 0, 1.0, 1.0)
    run.snap(1.0, 1.2, None, suspect=0)
    run.h.membership(1.2, _Members([1, 2, 3, 4, 5]), [0])
    run.h.station_exit(1.2, 0, -9, None)
    again = run.fault("kill", 0, 2.0, 2.0)
    run.snap(2.1, 2.2, 1)
    j = run.judge()
    assert outcome(j, first) is Outcome.DETECTED
    assert outcome(j, again) is Outcome.UNOBSERVED
    assert j.valid == "unknown"
