"""The Chandy-Lamport recorder on topologies other than a ring."""

from __future__ import annotations

import pytest

from ringemu.core.snapshot import SnapshotRecorder
from ringemu.errors import LocalProtocolError, RemoteProtocolError


def test_initiator_records_all_incoming_until_each_marker():
    r = SnapshotRecorder("A", incoming=["B", "C"], outgoing=["C", "B"])
    dests, done = r.start(0, 10)
    assert dests == ("B", "C") and done is None
    r.on_message("B", "m1")
    r.on_message("C", "m2")
    assert r.on_marker(0, "B", 99) == ((), None)
    r.on_message("B", "after-marker")  # B's channel is closed: not recorded
    r.on_message("C", "m3")
    dests, done = r.on_marker(0, "C", 99)
    assert dests == ()
    assert done.state == 10
    assert done.channels == {"B": ["m1"], "C": ["m2", "m3"]}
    assert not r.recording


def test_first_marker_records_state_lazily_and_closes_its_channel():
    calls = []
    r = SnapshotRecorder("B", incoming=["A", "C"], outgoing=["A", "C"])
    dests, done = r.on_marker(3, "A", lambda: calls.append(1) or 7)
    assert dests == ("A", "C") and done is None and calls == [1]
    r.on_message("A", "x")  # closed: empty by definition
    r.on_message("C", "y")
    _, done = r.on_marker(3, "C", lambda: calls.append(2))
    assert calls == [1]  # the state is built once
    assert done.state == 7 and done.channels == {"A": [], "C": ["y"]}


def test_node_with_single_incoming_channel_finishes_on_first_marker():
    r = SnapshotRecorder(1, incoming=[0], outgoing=[2])
    dests, done = r.on_marker(0, 0, {"tokens": 1})
    assert dests == (2,) and done.channels == {0: []}
    assert r.on_marker(0, 0, {}) == ((), None)  # already finished: ignored


def test_concurrent_snapshots_are_independent():
    r = SnapshotRecorder("A", incoming=["B"], outgoing=["B"])
    r.start(1, "s1")
    r.on_message("B", "a")
    r.on_marker(2, "B", "s2")  # snapshot 2 reaches A: its B channel is empty
    r.on_message("B", "b")
    _, done1 = r.on_marker(1, "B", None)
    assert done1.channels == {"B": ["a", "b"]}
    assert r.has_recorded(2)


def test_starting_twice_is_a_local_error():
    r = SnapshotRecorder("A", incoming=["B"], outgoing=["B"])
    r.start(0, 1)
    with pytest.raises(LocalProtocolError):
        r.start(0, 1)


def test_marker_from_unknown_channel_is_a_remote_error():
    r = SnapshotRecorder("A", incoming=["B"], outgoing=["B"])
    with pytest.raises(RemoteProtocolError):
        r.on_marker(0, "Z", 0)


def test_self_links_are_ignored_and_outgoing_sorted():
    r = SnapshotRecorder("N2", incoming=["N2", "N1"], outgoing=["N3", "N10", "N2"])
    assert r.incoming == ("N1",)
    assert r.outgoing == ("N10", "N3")  # byte-wise order, as the COS 418 reference sends


def test_too_many_pending_snapshots_abandons_the_oldest():
    r = SnapshotRecorder("A", incoming=["B"], outgoing=["B"], max_pending=2)
    for sid in range(3):
        r.start(sid, sid)
    assert r.pending() == [1, 2]
    assert r.on_marker(0, "B", None) == ((), None)  # abandoned: late marker ignored
    r.on_message("B", "m")
    _, done = r.on_marker(1, "B", None)
    assert done.channels == {"B": ["m"]}


def test_abandon_returns_partial_record_and_stops_recording():
    r = SnapshotRecorder("A", incoming=["B"], outgoing=["B"])
    r.start(4, "s")
    r.on_message("B", "m")
    part = r.abandon(4)
    assert part.channels == {"B": ["m"]}
    assert not r.recording
    r.on_message("B", "later")
    assert part.channels == {"B": ["m"]}
