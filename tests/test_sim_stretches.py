"""The simulator's fast path changes nothing: the same seed gives the same events, byte for byte.

``RingSim`` crosses a stretch of free-token passes without its heap: when the core only passes
the free token on (``on_receive`` returns ``PASS_FREE``) and the token's next delivery comes
before everything else on the heap, that delivery is taken at once. ``stretches=False`` sends
every hop through the heap, as the simulator always did; both runs of each configuration below
(faults of every kind, snapshots, payloads, kills with restarts, pauses, purges and rollbacks,
chaos) must give the same event stream, the same station counters and the same counts of
deliveries and heap events, and the fast run must really have taken the fast path.
"""

from __future__ import annotations

import json

import pytest

from ringemu.faults import Shell, parse_fault
from ringemu.sim.ring import RingSim, SimConfig

CONFIGS = {
    "plain": dict(stations=16, rotations=60, seed=1),
    "payloads": dict(stations=16, rotations=60, seed=2, load=0.6, payload_size=100),
    "faults-restart": dict(stations=50, rotations=80, seed=3, restart=True,
                           faults=["lose@5", "dup@20:3", "corrupt@40", "kill@50:7"]),
    "chaos": dict(stations=30, rotations=80, seed=4, chaos=0.05),
    "chaos-rollback": dict(stations=30, rotations=80, seed=5, chaos=0.1, recovery="rollback"),
    "pause-kill-monitor": dict(stations=20, rotations=60, seed=6,
                               faults=["pause@10:4:3", "kill@30:0"]),
    "no-recovery": dict(stations=12, rotations=50, seed=8, recovery="none",
                        faults=["dup@5", "lose@15", "dup@25:2"]),
    "many-snapshots": dict(stations=40, rotations=40, seed=9, snapshot_every=0.5, load=0.3),
    "large": dict(stations=300, rotations=20, seed=7, faults=["lose@8", "dup@12"]),
}


def _run(kw: dict, stretches: bool) -> tuple[list[str], RingSim, object]:
    kw = dict(kw)
    kw["faults"] = [parse_fault(f, Shell.SIM, "rotations") for f in kw.get("faults", [])]
    lines: list[str] = []
    ring = RingSim(SimConfig(**kw), on_event=lambda d: lines.append(json.dumps(d, sort_keys=True)),
                   stretches=stretches)
    out = ring.run()
    return lines, ring, out


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_fast_path_gives_the_same_run(name):
    fast_lines, fast, fast_out = _run(CONFIGS[name], stretches=True)
    ref_lines, ref, ref_out = _run(CONFIGS[name], stretches=False)
    assert len(fast_lines) == len(ref_lines)
    for k, (a, b) in enumerate(zip(fast_lines, ref_lines)):
        assert a == b, f"event {k} differs"
    assert fast_out.station_stats == ref_out.station_stats
    assert (fast_out.token_passes, fast_out.deliveries, fast_out.events) == (
        ref_out.token_passes, ref_out.deliveries, ref_out.events)
    assert repr(fast_out.judgement) == repr(ref_out.judgement)
    assert ref.crossed == 0
    assert fast.crossed > 0  # the fast path was really taken
    if name in ("plain", "large"):  # no traffic to speak of: most passes are crossed so
        assert fast.crossed > 0.2 * fast_out.token_passes
