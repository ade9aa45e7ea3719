"""A station's hop trace: free-token passes kept as bare times read back as token rows."""

from __future__ import annotations

from ringemu.core.messages import FREE_TOKEN, Marker
from ringemu.core.trace import PRE, HopTrace


def test_bare_times_read_back_as_token_passes_around_a_cut():
    trace = HopTrace()
    for k in range(PRE + 5):
        trace.record(1.0 + k * 0.001)  # a free token passed on: its time alone
    marker = Marker(7, 2)
    trace.record((1.5, marker, (marker,)))
    trace.cut(7)
    trace.record(1.6)
    trace.record((1.7, FREE_TOKEN, ()))  # a token this station absorbed
    ev = trace.report(station=3, sid=7, now=2.0, since=0.0)
    assert len(ev.hops) == PRE + 2
    assert ev.hops[PRE - 1] == (-0.5, "marker:7", ("marker:7",))
    assert ev.hops[PRE - 2] == (round(1.0 + (PRE + 4) * 0.001 - 2.0, 9), "token", ("token",))
    assert ev.hops[PRE:] == ((-0.4, "token", ("token",)), (-0.3, "token", ()))


def test_a_station_outside_the_snapshot_reports_its_rows_since_it_began():
    trace = HopTrace()
    for t in (1.0, 2.0, 3.0):
        trace.record(t)
    ev = trace.report(station=1, sid=4, now=3.5, since=1.5)
    assert [h[0] for h in ev.hops] == [-1.5, -0.5]
