"""The ring heals, in the simulator, whatever Hypothesis throws at it.

For random schedules of lose, dup, corrupt, pause and kill (with and without restart, the active
monitor included), under purge and under rollback recovery:

- every snapshot's count matches the ground truth rebuilt from the fault log (no wrong count),
  and no alarm is false;
- every payload accepted is delivered exactly once and in order (those to or from a station
  that stays dead are reported apart, never silently gone);
- the ring ends with exactly one token, and a last snapshot that counts it.

The simulator drives the very stations and supervisor the live ring runs; the checker only reads
the run's history.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ringemu.core.messages import Frame, Token
from ringemu.core.verdict import Verdict
from ringemu.faults import FaultKind, ScheduledFault
from ringemu.sim.ring import DELIVER, RingSim, SimConfig

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
KINDS = [FaultKind.LOSE, FaultKind.DUP, FaultKind.CORRUPT, FaultKind.PAUSE, FaultKind.KILL]


@st.composite
def storms(draw):
    n = draw(st.integers(3, 20))
    restart = draw(st.booleans())
    recovery = draw(st.sampled_from(["purge", "rollback"]))
    faults = []
    t = 5.0
    kills = 0
    for _ in range(draw(st.integers(1, 12))):
        t += draw(st.floats(0.0, 15.0))
        kind = draw(st.sampled_from(KINDS))
        if kind == FaultKind.KILL and not restart:
            if kills >= n - 3:
                continue  # keep a ring of at least three stations
            kills += 1
        station = draw(st.one_of(st.none(), st.integers(0, n - 1)))
        if kind == FaultKind.KILL and draw(st.booleans()):
            station = 0  # the active monitor
        arg = draw(st.floats(0.5, 6.0)) if kind == FaultKind.PAUSE else None
        faults.append(ScheduledFault(kind, round(t, 3), station, arg))
    return SimConfig(
        stations=n, rotations=t + 10, drain=80.0, seed=draw(st.integers(0, 2**32)),
        load=draw(st.floats(0.0, 0.5)), snapshot_every=draw(st.sampled_from([0.5, 1.0, 2.0])),
        jitter=draw(st.floats(0.0, 40e-6)), recovery=recovery, restart=restart,
        restart_delay=draw(st.floats(2.0, 12.0)), faults=faults)


def tokens_at_the_end(ring: RingSim) -> int:
    """Token units held by live stations or on their way to one, in its current epoch."""
    held = sum(s.tokens_held() for s, dead in zip(ring.stations, ring.dead) if not dead)
    moving = 0
    for item in ring.heap:
        if item[2] != DELIVER or type(item[4]) not in (Token, Frame):
            continue
        j, epoch = item[3], item[5]
        if not ring.dead[j] and ring.stations[j].epoch == epoch:
            moving += 1
    return held + moving


@SETTINGS
@given(storms())
def test_the_ring_heals_and_the_ground_truth_agrees(config):
    ring = RingSim(config)
    out = ring.run()
    j = out.judgement
    assert j.defects == [], [d.describe() for d in j.defects]
    assert [a.reason for a in j.alarms if a.false] == []
    pay = j.payloads
    assert (pay["duplicates"], pay["lost"], pay["out_of_order"]) == (0, 0, 0), pay
    if config.restart:
        assert pay["lost_with_station"] == {} and pay["payloads_delivered"] == pay[
            "payloads_sent"]
    assert tokens_at_the_end(ring) == 1
    last = [r for r in out.results if r.count is not None][-1]
    assert last.verdict is Verdict.OK and last.count == 1
    assert j.valid in (True, "unknown")


def test_a_station_paused_behind_a_paused_one_is_named_within_two_rotations():
    """Station 8 stops while station 2 is still stopped: the rotating initiators alone would
    name 8 only when one happened to start between them (9 rotations here); a snapshot begun
    just after it names it at once."""
    config = SimConfig(stations=12, rotations=200, seed=1, faults=[
        ScheduledFault(FaultKind.PAUSE, 40.0, 2, 60.0),
        ScheduledFault(FaultKind.PAUSE, 50.0, 8, 20.0)])
    out = RingSim(config).run()
    first, second = out.judgement.faults
    assert [f.outcome.value for f in (first, second)] == ["detected", "detected"]
    assert second.fault.station == 8 and second.latency < 2 * out.rotation
