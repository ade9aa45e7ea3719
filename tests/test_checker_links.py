"""The ground-truth checker and the links: drops, duplicates, cuts and reordering, by hand.

Each history is built with the calls the shells make (``tests/test_checker.py``'s ``Run``), with
the link facts a station's link layer reports (``LinkFault``) and the cut and heal it carries
out, and judged twice: from the history, and again from its events alone.
"""

from __future__ import annotations

from ringemu.checker import Outcome
from ringemu.core.impairments import Impairment
from ringemu.core.station_events import FaultFired, LinkFault, PurgeStarted
from ringemu.core.verdict import Verdict
from tests.test_checker import Run, outcome, step


def link_fact(run: Run, station: int, t: float, action: str = "drop", what: str = "token",
              cause: str = "loss", sid: int | None = None) -> None:
    effect = 0 if what == "marker" else (-1 if action == "drop" else 1)
    run.h.station_event(LinkFault(station, t, station + 1, action, what, cause, effect,
                                  step(t), sid))


def link_fault(run: Run, kind: str, station: int, t: float) -> int:
    """A cut or heal as the monitor records it and the station's link layer fires it."""
    fid = run.fault(kind, station, t)
    run.h.station_event(FaultFired(station, t + 0.001, kind, 0, step(t + 0.001)))
    return fid


def test_a_token_a_link_dropped_makes_the_truth_zero_and_explains_the_alarm():
    run = Run()
    run.snap(0.5, 0.6, 1)
    link_fact(run, 2, 1.0)
    run.snap(1.5, 1.6, 0)  # LOST: right
    run.purge(1.7, 1.8)
    run.snap(2.0, 2.1, 1)
    j = run.judge()
    assert j.defects == [] and j.valid is True
    (alarm,) = j.alarms
    assert not alarm.false and alarm.explained_by == [] and len(alarm.links) == 1
    assert j.links["link_drops"] == 1 and j.faults == []


def test_a_link_drop_after_the_cut_passed_the_sender_is_not_in_that_cut():
    run = Run()
    link_fact(run, 2, 1.05)
    run.snap(1.0, 1.2, 0, cuts={2: 1.01})  # the cut passed station 2 before the drop: truth 1
    run.snap(1.5, 1.6, 0)
    j = run.judge()
    assert [d.snapshot_id for d in j.defects] == [0]
    assert j.alarms[0].false and j.valid is False


def test_a_token_a_link_duplicated_makes_the_truth_two():
    run = Run()
    link_fact(run, 4, 1.0, action="dup", cause="dup")
    run.snap(1.5, 1.6, 2)
    run.snap(2.5, 2.6, 1, alarm=False)  # a count of one with two tokens about: wrong
    j = run.judge()
    assert not j.alarms[0].false
    assert [d.snapshot_id for d in j.defects] == [1]


def test_a_drop_and_a_dup_cancel_without_making_the_run_unknown():
    run = Run()
    link_fact(run, 1, 1.0)
    link_fact(run, 3, 1.1, action="dup", cause="dup")
    run.snap(1.5, 1.6, 1)
    j = run.judge()
    assert j.defects == [] and j.valid is True  # link facts are the weather, not faults


def test_an_incomplete_snapshot_is_explained_by_its_dropped_marker_and_no_other():
    run = Run()
    link_fact(run, 2, 1.0, what="marker", sid=0)
    run.snap(0.9, 1.5, None, suspect=3)
    run.snap(2.0, 2.1, 1)
    run.snap(2.5, 3.0, None, suspect=3)  # nobody dropped snapshot 2's marker
    j = run.judge()
    first, second = j.alarms
    assert not first.false and first.links[0].sid == 0
    assert second.false and "no marker was dropped" in second.reason
    assert j.valid is False


def test_a_cut_is_detected_explains_the_incomplete_snapshots_and_its_heal_is_detected():
    run = Run()
    run.snap(0.5, 0.6, 1)
    cut = link_fault(run, "cut", 2, 1.0)
    link_fact(run, 2, 1.01, what="frame", cause="cut")
    link_fact(run, 2, 1.2, what="marker", cause="cut", sid=1)
    run.snap(1.2, 1.3, None, suspect=3)
    heal = link_fault(run, "heal", 2, 2.0)
    run.purge(2.1, 2.2)
    run.snap(2.5, 2.6, 1)
    j = run.judge()
    assert (outcome(j, cut), outcome(j, heal)) == (Outcome.DETECTED, Outcome.DETECTED)
    assert j.faults[0].detected_by == 1 and j.faults[1].detected_by == 2
    (alarm,) = j.alarms
    assert alarm.explained_by == [cut] and not alarm.false
    assert j.defects == [] and j.valid is True


def test_an_incomplete_snapshot_after_the_heal_is_not_explained_by_the_cut():
    run = Run()
    link_fault(run, "cut", 2, 1.0)
    link_fault(run, "heal", 2, 1.5)
    run.snap(2.0, 2.5, None, suspect=3)
    j = run.judge()
    (alarm,) = j.alarms
    assert alarm.false and j.valid is False


def test_a_cut_healed_before_any_snapshot_is_masked_and_a_heal_nobody_counted_unobserved():
    run = Run()
    cut = link_fault(run, "cut", 2, 1.0)
    heal = link_fault(run, "heal", 2, 1.1)
    j = run.judge()
    assert (outcome(j, cut), outcome(j, heal)) == (Outcome.MASKED, Outcome.UNOBSERVED)
    assert j.valid == "unknown"


def test_a_cut_while_snapshots_still_count_is_not_detected():
    run = Run()
    cut = link_fault(run, "cut", 2, 1.0)
    run.snap(1.2, 1.3, 1)
    j = run.judge()
    assert outcome(j, cut) is Outcome.UNOBSERVED


def test_wrong_counts_under_reordering_are_defects_that_say_so():
    run = Run()
    run.h.impairment(0.0, 3, Impairment(delay=0.005, reorder=0.1))
    run.snap(0.5, 0.6, 0)  # a marker overtook the token: a wrong count
    j = run.judge()
    (defect,) = j.defects
    assert "reordering was on (links: 3)" in defect.describe()
    assert j.reordering == [3] and j.valid is False
    events = [e for e in run.events if e["event"] == "impairment"]
    assert events[0]["warning"] and "FIFO" in events[0]["warning"]


def test_without_reordering_a_wrong_count_says_nothing_of_it():
    run = Run()
    run.h.impairment(0.0, None, Impairment(delay=0.005, loss=0.01))
    run.snap(0.5, 0.6, 0)
    j = run.judge()
    (defect,) = j.defects
    assert "reordering" not in defect.describe() and j.reordering == []
    assert run.events[-2]["event"] == "snapshot" and j.alarms[0].alarm.kind is Verdict.LOST


def test_a_snapshot_concluded_the_instant_its_station_stopped_is_explained_by_it():
    # slow links keep a snapshot under way long; the monitor concludes it when it learns of
    # the pause, at that very instant (found by the impaired-link properties)
    run = Run()
    pause = run.fault("pause", 0, 6.0, 6.0, arg=1.0)
    run.snap(0.5, 6.0, None, suspect=0)
    j = run.judge()
    (alarm,) = j.alarms
    assert alarm.explained_by == [pause] and not alarm.false
    assert outcome(j, pause) is Outcome.DETECTED


def test_tokens_absorbed_by_a_purge_that_never_came_back_are_gone():
    # a lossy link ate the purge and its monitor resigned to an election: what it absorbed
    # is gone, though no purge completed to set the truth to one (found by the properties)
    from ringemu.core.station_events import Absorbed

    run = Run()
    link_fact(run, 2, 1.0, action="dup", cause="dup")  # two tokens now
    run.h.station_event(PurgeStarted(0, 1.2, 1))
    run.h.station_event(Absorbed(0, 1.3, "token"))
    run.h.station_event(Absorbed(0, 1.4, "token"))
    run.snap(2.0, 2.1, 0)  # the purge never completed: truth 0
    run.purge(2.5, 2.6, 2)
    run.snap(3.0, 3.1, 1)
    run.h.station_event(Absorbed(0, 2.55, "token"))  # inside a completed purge: no effect
    j = run.judge()
    assert j.defects == [], [d.describe() for d in j.defects]
    assert not j.alarms[0].false
