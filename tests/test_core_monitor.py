"""Verdicts, alarms and recovery requests from the snapshot monitor core."""

from __future__ import annotations

import pytest

from ringemu.core.messages import FREE_TOKEN, Frame, Purge
from ringemu.core.monitor import PurgeRequest, SnapshotMonitor
from ringemu.core.snapshot import LocalSnapshot
from ringemu.core.state import Mode, StationState
from ringemu.core.verdict import (AlarmEvent, Cause, SnapshotResult, SpotKind, Verdict,
                                  count_tokens)

OK, LOST, DUPLICATE = Verdict.OK, Verdict.LOST, Verdict.DUPLICATE
INCOMPLETE, RECOVERING = Verdict.INCOMPLETE, Verdict.RECOVERING


def part(sid, node, tokens=0, channel=(), mode="idle", purges=0, upstream=None, at=0.0):
    state = StationState(Mode(mode), tokens, purges, at=at)
    return LocalSnapshot(sid, node, state, {upstream if upstream is not None else node - 1:
                                            list(channel)})


def complete(mon, sid, n, holder=None, in_transit=(), at=None, **kw):
    """Feed every station's part (each recorded at ``at``, default 1 + sid); station 0 records
    ``in_transit`` on its channel."""
    events = []
    when = 1.0 + sid if at is None else at
    for node in range(n):
        chan = in_transit if node == 0 else ()
        events += mon.on_report(
            part(sid, node, 1 if node == holder else 0, chan, upstream=(node - 1) % n, at=when,
                 **(kw if node == 0 else {})), 1.0 + sid)
    return events


def results(events):
    return [e for e in events if isinstance(e, SnapshotResult)]


def alarms(events):
    return [(e.action, e.alarm.kind) for e in events if isinstance(e, AlarmEvent)]


def test_count_tokens_counts_held_and_in_transit_units_only():
    c = count_tokens([
        part(0, 0, tokens=1, channel=[FREE_TOKEN, Purge(0, 1)], upstream=2),
        part(0, 1, channel=[Frame(2, 1, 5)], upstream=0),
    ])
    assert c.total == 3
    assert c.held == {0: 1}
    assert [m.kind for m in c.in_transit] == [SpotKind.TOKEN, SpotKind.FRAME]
    assert c.in_transit[1].link == (0, 1) and c.in_transit[1].seq == 5


def test_ok_lost_duplicate_verdicts_and_alarm_transitions():
    mon = SnapshotMonitor(range(3), recovery=False)
    seen = []
    cases = [(1, ()), (None, ()), (None, ()), (2, [FREE_TOKEN]), (None, [FREE_TOKEN])]
    for holder, transit in cases:
        sid, _ = mon.begin(0.0)
        ev = complete(mon, sid, 3, holder=holder, in_transit=transit)
        seen.append((results(ev)[0].verdict, alarms(ev)))
    assert seen == [
        (OK, []),
        (LOST, [("raised", LOST)]),
        (LOST, []),  # not repeated
        (DUPLICATE, [("cleared", LOST), ("raised", DUPLICATE)]),
        (OK, [("cleared", DUPLICATE)]),
    ]
    assert len(mon.alarms.history) == 2 and not mon.alarms.active


def test_duplicate_alarm_names_where_the_tokens_are():
    mon = SnapshotMonitor(range(3), recovery=False)
    sid, _ = mon.begin(0.0)
    ev = complete(mon, sid, 3, holder=1, in_transit=[FREE_TOKEN])
    (alarm,) = [e.alarm for e in ev if isinstance(e, AlarmEvent)]
    assert alarm.kind == DUPLICATE and alarm.station == 1
    assert "held by station 1" in alarm.detail and "free token on link 2\u21920" in alarm.detail


def test_incomplete_names_the_first_silent_station_after_initiator():
    mon = SnapshotMonitor(range(6), recovery=False, min_deadline=0.5)
    sid, initiator = mon.begin(0.0, initiator=1)
    assert mon.on_report(part(sid, 2, upstream=1), 0.1) == []
    mon.on_report(part(sid, 3, upstream=2), 0.1)
    assert mon.poll(0.4) == []
    assert mon.poll(0.6) == []  # every silent station is alive: a grace, not a verdict
    assert mon.deadline_of(sid) == 0.6 + 0.5
    ev = mon.poll(1.1)
    (r,) = results(ev)
    assert r.verdict == INCOMPLETE and r.cause == Cause.LATE
    assert r.silent == (4, 5, 0, 1) and r.suspect == 4
    assert alarms(ev) == [("raised", INCOMPLETE)]
    assert "no report from station 4 (3 more" in ev[1].alarm.detail
    assert "alive, but silent" in ev[1].alarm.detail
    # late parts of an expired snapshot are ignored
    assert mon.on_report(part(sid, 4, upstream=3), 1.2) == []


def test_a_late_snapshot_of_live_stations_gets_a_grace_scaled_by_load_and_completes():
    mon = SnapshotMonitor(range(3), recovery=False, min_deadline=0.5)
    sid, _ = mon.begin(0.0, initiator=0)
    mon.on_report(part(sid, 0, 1, upstream=2), 0.1)
    assert mon.poll(0.5, load=3.0) == []
    assert mon.deadline_of(sid) == 0.5 + 3 * 0.5
    mon.on_report(part(sid, 1, upstream=0), 1.2)
    ev = mon.on_report(part(sid, 2, upstream=1), 1.9)  # late, within the grace: judged
    assert [r.verdict for r in results(ev)] == [OK] and alarms(ev) == []


def test_a_station_known_down_makes_the_snapshot_incomplete_at_once():
    mon = SnapshotMonitor(range(3), recovery=False, min_deadline=0.5)
    sid, _ = mon.begin(0.0, initiator=0)
    mon.on_report(part(sid, 0, 1, upstream=2), 0.1)
    (r,) = results(mon.poll(0.5, down=[2]))
    assert r.cause == Cause.DOWN and r.suspect == 2


def test_incomplete_prefers_stations_known_down_and_initiator_when_nobody_answers():
    mon = SnapshotMonitor(range(4), recovery=False, min_deadline=0.5)
    sid, _ = mon.begin(0.0, initiator=0)
    mon.on_report(part(sid, 1, upstream=0), 0.1)
    (r,) = results(mon.poll(1.0, down=[3]))
    assert r.suspect == 3
    sid, _ = mon.begin(2.0, initiator=2)
    mon.poll(3.0)
    (r,) = results(mon.poll(4.0))
    assert r.suspect == 2 and r.silent[0] == 2


def test_incomplete_clears_when_the_ring_answers_again():
    mon = SnapshotMonitor(range(3), recovery=False, min_deadline=0.5)
    mon.begin(0.0)
    mon.poll(1.0, down=[1])
    sid, _ = mon.begin(2.0)
    ev = complete(mon, sid, 3, holder=0)
    assert alarms(ev) == [("cleared", INCOMPLETE)]


def test_deadline_adapts_to_typical_snapshot_time_not_one_outlier():
    mon = SnapshotMonitor(range(2), min_deadline=0.1, deadline_factor=4.0)
    assert mon.deadline() == 0.1
    for duration in (0.3, 0.3, 5.0):  # one snapshot held up by a paused station
        sid, _ = mon.begin(0.0)
        mon.on_report(part(sid, 0, 1, upstream=1), duration / 2)
        mon.on_report(part(sid, 1, upstream=0), duration)
    assert abs(mon.deadline() - 4 * 0.3) < 1e-9


def test_purge_requested_once_until_done_then_verdicts_during_purge_are_not_alarms():
    mon = SnapshotMonitor(range(3), recovery=True, min_deadline=10.0)
    sid, _ = mon.begin(0.0)
    ev = complete(mon, sid, 3)  # LOST
    assert [type(e) for e in ev] == [SnapshotResult, AlarmEvent, PurgeRequest]
    assert ev[2].station == 0
    sid, _ = mon.begin(1.0)
    ev = complete(mon, sid, 3)  # still LOST, purge already asked: no second request
    assert not any(isinstance(e, PurgeRequest) for e in ev)
    sid, _ = mon.begin(2.0)
    ev = complete(mon, sid, 3, mode="purging")  # the cut caught the purge
    assert results(ev)[0].verdict == RECOVERING and alarms(ev) == []
    mon.on_purge_done(1, 3.0)
    sid, _ = mon.begin(3.5)
    ev = complete(mon, sid, 3, holder=2, purges=1)
    assert alarms(ev) == [("cleared", LOST)]


def test_cut_older_than_last_purge_is_stale():
    mon = SnapshotMonitor(range(3), recovery=True)
    mon.on_purge_done(2, 0.5, at=0.5)
    sid, _ = mon.begin(0.0)
    ev = complete(mon, sid, 3, at=0.4)  # the cut passed the active monitor before that purge
    (r,) = results(ev)
    assert r.stale and r.verdict == LOST
    assert alarms(ev) == [] and not any(isinstance(e, PurgeRequest) for e in ev)


def test_initiators_rotate_round_the_ring():
    mon = SnapshotMonitor([5, 6, 7])
    assert [mon.begin(0.0)[1] for _ in range(4)] == [5, 6, 7, 5]


def test_result_round_trips_through_json():
    import json

    mon = SnapshotMonitor(range(3), recovery=False)
    sid, _ = mon.begin(0.0)
    ev = complete(mon, sid, 3, holder=1, in_transit=[Frame(1, 2, 7)])
    r = results(ev)[0]
    d = json.loads(json.dumps(r.to_json()))
    assert d["verdict"] == "DUPLICATE" and d["held"] == {"1": 1}
    assert SnapshotResult.from_json(d) == r


def _finish(mon, sid, n, now, holder=0):
    """Every station's part of ``sid`` arrives at ``now`` (one token, at ``holder``)."""
    events = []
    for node in range(n):
        events += mon.on_report(part(sid, node, 1 if node == holder else 0,
                                     upstream=(node - 1) % n, at=now), now)
    return events


def test_snapshots_under_way_while_the_ring_is_broken_do_not_stretch_the_deadline():
    """A partition holds markers up: snapshots under way then finish late, once it heals.
    Their completion times are not what a snapshot of this ring takes, so the deadline of the
    next ones stays what healthy snapshots say: those begun while an alarm stood, and those
    under way when an INCOMPLETE verdict came, are left out."""
    mon = SnapshotMonitor(range(3), recovery=False, min_deadline=0.05)
    t = 0.0
    for _ in range(4):  # healthy: 10 ms each
        sid, _ = mon.begin(t)
        _finish(mon, sid, 3, t + 0.01)
        t += 0.1
    healthy = mon.deadline()
    assert healthy == pytest.approx(max(0.05, mon.deadline_factor * 0.01))
    sid, _ = mon.begin(t)  # the ring breaks: only station 0 answers
    mon.on_report(part(sid, 0, 1, upstream=2, at=t), t)
    assert results(mon.poll(t + 0.1)) == []  # late, not yet broken: a grace
    across = [mon.begin(t + 0.15 + 0.005 * i)[0] for i in range(6)]
    (verdict,) = results(mon.poll(t + 0.2))
    assert verdict.verdict is INCOMPLETE and verdict.snapshot_id == sid
    assert mon.alarms.active and all(mon.deadline_of(s) is not None for s in across)
    during = [mon.begin(t + 0.21 + 0.001 * i)[0] for i in range(6)]  # while the alarm stands
    for s in across + during:  # the ring heals: they all complete now, 60 to 70 ms late
        _finish(mon, s, 3, t + 0.27)
    assert not mon.alarms.active  # the first of them counted one and cleared it
    assert mon.deadline() == pytest.approx(healthy)


def test_a_second_down_station_behind_a_named_one_is_named_next():
    """A marker stops at the first down station it meets: with 2 already named, a verdict
    that waits on both 2 and 5 names 5, and once both are named it goes back to the first."""
    mon = SnapshotMonitor(range(8), recovery=False, min_deadline=0.5)
    mon.down = {2}
    sid, _ = mon.begin(0.0, initiator=0)
    mon.on_report(part(sid, 1, upstream=0), 0.1)
    (r,) = results(mon.poll(1.0))
    assert r.suspect == 2 and mon.named == {2}
    mon.down = {2, 5}
    sid, _ = mon.begin(2.0, initiator=6)  # markers pass 7, 0, 1 and stop at 2
    for node in (6, 7, 0, 1):
        mon.on_report(part(sid, node, upstream=(node - 1) % 8), 2.1)
    (r,) = results(mon.poll(3.0))
    assert r.silent[:2] == (2, 3) and 5 in r.silent
    assert r.suspect == 5 and r.cause == Cause.DOWN and mon.named == {2, 5}
    sid, _ = mon.begin(4.0, initiator=6)
    (r,) = results(mon.poll(5.0))
    assert r.suspect == 2
