"""The rules that keep large and loaded live rings steady (docs/benchmarks.md, "What grew with
the ring"), each on the very core objects and monitor parts that carry it out."""

from __future__ import annotations

from ringemu.core.history import RunHistory
from ringemu.core.messages import FREE_TOKEN
from ringemu.core.snapshot import LocalSnapshot
from ringemu.core.state import Mode, StationState
from ringemu.core.station import Station
from ringemu.core.station_events import ClaimStarted
from ringemu.core.supervisor import StartSnapshot, Supervisor, TraceRequest
from ringemu.core.timers import StationTimers
from ringemu.live.counters import SharedCounters
from ringemu.live.monitor.stations import PACE_WINDOWS, StationTable
from ringemu.live.procutil import load_factor
from ringemu.params import Recovery

TIMERS = StationTimers(valid_transmission=0.01, no_token=0.05, claim_retry=0.01,
                       short_gaps_within=0.0)


def _claims(st: Station) -> int:
    return sum(1 for e in st.outbox if type(e) is ClaimStarted)


def test_a_standby_starts_watching_for_silence_with_its_first_timers():
    st = Station(3, 8)
    st.set_timers(TIMERS, now=100.0)  # the live shell's clock: long after clock 0
    assert st.next_timer() == 100.05
    st.on_timer(100.01)
    assert _claims(st) == 0
    st.on_timer(100.06)  # silent for one no-token time since then: it claims
    assert _claims(st) == 1


def test_without_now_the_silence_counts_from_the_start_as_in_the_simulator():
    st = Station(3, 8)
    st.set_timers(TIMERS)
    st.on_timer(0.06)
    assert _claims(st) == 1


def test_a_standby_whose_timer_fires_far_too_late_was_stopped_and_does_not_claim():
    st = Station(3, 8)
    st.set_timers(TIMERS, now=0.0)
    st.on_receive(FREE_TOKEN, 1.0)
    st.outbox.clear()
    assert st.on_timer(1.0 + 3 * TIMERS.no_token) == ()  # stopped for three no-token times
    assert _claims(st) == 0
    assert st.next_timer() == 1.0 + 4 * TIMERS.no_token  # it watches again from then
    st.on_timer(1.0 + 4 * TIMERS.no_token)  # and a silence it measured itself counts
    assert _claims(st) == 1


def test_load_factor_doubles_with_the_load_and_is_capped():
    assert [load_factor(x) for x in (0.0, 1.0, 1.01, 2.0, 3.0, 9.0, 1e9)] == [
        1, 1, 2, 2, 4, 16, 64]


def _part(sid: int, node: int, t: float) -> LocalSnapshot:
    return LocalSnapshot(sid, node, StationState(Mode.IDLE, 1 if node == 0 else 0, at=t),
                         {(node - 1) % 3: []})


def _supervisor(one_at_a_time: bool) -> Supervisor:
    sup = Supervisor(RunHistory(), stations=3, active_monitor=0, recovery=Recovery.PURGE,
                     interval=0.1, min_deadline=1.0, one_at_a_time=one_at_a_time)
    sup.ring_up(0.0)  # snapshot 0 begins at once
    return sup


def test_the_live_monitor_begins_a_periodic_snapshot_only_after_the_one_under_way():
    sup = _supervisor(one_at_a_time=True)
    assert sup.tick(0.15) == []  # due, but snapshot 0 is still under way
    assert sup.next_wake() == 1.0  # nothing to do before its deadline
    sup.part(_part(0, 0, 0.16), 0.16)
    sup.part(_part(0, 1, 0.17), 0.17)
    orders = sup.part(_part(0, 2, 0.18), 0.18)  # snapshot 0 completes: the waiting one begins
    starts = [o.command for o in orders if type(o.command) is StartSnapshot]
    assert [c.sid for c in starts] == [1]  # (the others ask for the first good cut's trace)
    assert all(type(o.command) in (StartSnapshot, TraceRequest) for o in orders)


def test_the_simulator_lets_periodic_snapshots_overlap():
    sup = _supervisor(one_at_a_time=False)
    orders = sup.tick(0.15)
    assert [o.command.sid for o in orders] == [1]


def test_token_passes_and_the_pace_come_from_the_shared_counters():
    counters = SharedCounters(4)
    table = StationTable(4, counters)
    for k in range(4):
        counters.array[k] = 10
    assert table.token_passes() == 40
    assert table.rotation(0.0, 4) is None  # no window yet
    for k in range(4):
        counters.array[k] += 100  # 400 passes in 0.5 s: 800 hops/s, 4 stations
    assert abs(table.rotation(0.5, 4) - 4 / 800) < 1e-12
    assert table.token_passes() == 440


def test_a_window_in_which_the_monitor_stalled_does_not_set_the_pace():
    counters = SharedCounters(2)
    table = StationTable(2, counters)
    table.rotation(0.0, 2)
    t = 0.0
    for _ in range(PACE_WINDOWS):
        t += 0.25
        counters.array[0] += 250  # 1000 hops/s
        table.rotation(t, 2)
    counters.array[0] += 10  # five seconds in which the monitor (and the ring) were stopped
    assert abs(table.rotation(t + 5.0, 2) - 2 / 1000) < 1e-12
    counters.array[0] += 25  # then windows of 100 hops/s: a minority leaves the median
    for k in range(3):
        counters.array[0] += 25
        assert abs(table.rotation(t + 5.25 * (k + 1), 2) - 2 / 1000) < 1e-12
