"""Rollback recovery: the ring goes back to the last snapshot that counted exactly one.

After a LOST or DUPLICATE verdict under ``--recovery rollback`` every station takes again the
state that snapshot recorded (its mode, the token it held, the frame it awaited) and every
message the snapshot found in transit is sent again on its link; anything older is dropped by
epoch. Checked here in the simulator, on the real stations: right after the rollback each
station's protocol state equals its part of the restored snapshot, the next snapshot counts
exactly one, and no payload is lost or delivered twice.
"""

from __future__ import annotations

import pytest

from ringemu.core.membership import Install
from ringemu.core.state import StationState
from ringemu.core.verdict import Verdict
from ringemu.faults import FaultKind, ScheduledFault
from ringemu.sim.ring import RingSim, SimConfig


def protocol_state(s: StationState) -> tuple:
    """What a rollback restores exactly (payloads go forward, never back)."""
    return (s.mode, s.tokens, s.awaiting)


@pytest.mark.parametrize("kind", [FaultKind.LOSE, FaultKind.DUP, FaultKind.CORRUPT])
@pytest.mark.parametrize("load", [0.0, 0.6])
def test_after_a_rollback_states_equal_the_restored_snapshot_and_it_counts_one(kind, load):
    config = SimConfig(stations=7, rotations=60, seed=11, load=load, recovery="rollback",
                       snapshot_every=1.0, faults=[ScheduledFault(kind, 20.0, 3)])
    ring = RingSim(config)
    restored: dict[int, StationState] = {}
    checked: list[int] = []
    control = ring._control

    def spy(j, cmd, t):
        control(j, cmd, t)
        if type(cmd) is Install and cmd.restore is not None:
            restored[j] = cmd.restore
            now = ring.stations[j].local_state(t)
            assert protocol_state(now) == protocol_state(cmd.restore), j
            checked.append(j)

    ring._control = spy
    out = ring.run()
    assert sorted(checked) == list(range(7)), "every station was rolled back"
    assert out.history.rollbacks and out.history.rollbacks[0].done is not None
    done = out.history.rollbacks[0].done
    after = [r for r in out.results if r.started >= done and r.count is not None]
    assert after[0].verdict is Verdict.OK and after[0].count == 1
    assert out.judgement.defects == [] and out.judgement.false_alarms == []
    pay = out.judgement.payloads
    assert (pay["duplicates"], pay["lost"], pay["out_of_order"]) == (0, 0, 0)
    assert out.judgement.valid is True
    assert out.history.purges == [] or all(p.started < out.history.rollbacks[0].started
                                           for p in out.history.purges)


def test_rollback_falls_back_to_a_purge_when_no_snapshot_of_this_ring_counted_one():
    # the fault comes before any snapshot has counted one: nothing to roll back to
    config = SimConfig(stations=5, rotations=40, seed=2, recovery="rollback",
                       snapshot_every=5.0, faults=[ScheduledFault(FaultKind.LOSE, 0.2, 2)])
    out = RingSim(config).run()
    assert out.history.rollbacks == [] and out.history.purges
    assert out.judgement.valid is True
