"""The live ring's side-channel messages: typed both ways, and one error for anything bad.

Whatever bytes or JSON a peer sends, ``decode_report``, ``decode_command`` and
``decode_request`` either return a typed message whose fields have their declared types, or
raise ``RemoteProtocolError``; nothing else ever escapes (the shells catch only that).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ringemu.core.messages import FREE_TOKEN, Frame, Purge
from ringemu.core.snapshot import LocalSnapshot
from ringemu.core.state import Mode, StationState
from ringemu.core.station_events import FaultFired, Malformed, PurgeDone
from ringemu.errors import RemoteProtocolError
from ringemu.live import protocol as p

DECODERS = (p.decode_report, p.decode_command, p.decode_request)

SAMPLES = [
    p.Hello(3, 1234, "ipc:///tmp/x/ring-3", "ipc:///tmp/x/cmd-3"),
    p.Linked(0),
    p.Stats(2, 1.5, "idle", {"tokens": 10}, 1, 0, 3, {"lose": 0}),
    p.Stats(2, 1.5, "idle", {}, refused={"ring": 3, "cmd": 1}, zap_denied=1),
    p.Bye(2, 1.5, "idle", {"tokens": 10}),
    p.EventReport(1, FaultFired(1, 2.5, "lose", -1, 77)),
    p.EventReport(4, PurgeDone(4, 3.0, 2)),
    p.EventReport(5, Malformed(5, 3.0, "bad FCS")),
    p.Part(1, LocalSnapshot(7, 1, StationState(Mode.AWAITING, 0, 1, (3, 9), 4.25),
                            {0: [FREE_TOKEN, Frame(0, 2, 5, b"xyz", copied=True), Purge(0, 2)]})),
    p.Link("ipc:///tmp/x/ring-4"), p.Link("tcp://127.0.0.1:5000", "k" * 40),
    p.Go(), p.StartSnapshot(12), p.StartPurge(),
    p.Inject("dup"), p.Send(3, "hello"), p.Send(3, None, 100), p.AskStats(), p.Stop(),
    p.InjectRequest("pause", 3, 0.5, 2.0), p.SnapshotRequest(), p.StatusRequest(),
    p.SummaryRequest(), p.StationExit(2, -9), p.SendRequest(0, 1, "x"), p.StopRequest(),
    p.Ping(), p.IntervalRequest(0.1),
]


@pytest.mark.parametrize("msg", SAMPLES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips(msg):
    family = {"type": p.decode_report}.get(msg.KEY)
    decoders = [family] if family else [p.decode_command, p.decode_request]
    got = []
    for decode in decoders:
        try:
            got.append(decode(msg.to_wire()))
        except RemoteProtocolError:
            pass
    assert msg in got


@pytest.mark.parametrize("text", [
    b'{"cmd":"interval","seconds":NaN}', b'{"cmd":"interval","seconds":Infinity}',
    b'{"cmd":"interval","seconds":1e999}', b'{"cmd":"inject","kind":"lose","station":1.5}',
    b'{"cmd":"inject","kind":"lose","station":true}', b'{"cmd":"inject"}', b'[1,2]',
    b'\xff\xfe', b'', b'{"type":"hello","station":0,"pid":"1","endpoint":"x"}',
    b'{"type":"part","station":0,"sid":1,"state":{"mode":"idle"},"channels":{"x":[]}}',
    b'{"type":"part","station":0,"sid":1,"state":{"mode":"idle"},"channels":{"0":["zz"]}}',
    b'{"type":"part","station":0,"sid":1,"state":{"mode":"flying"},"channels":{}}',
    b'{"type":"event","event":"fault_fired","station":1,"t":NaN,"fault":"x","effect":1}',
    b'{"type":"event","event":"explode","station":1,"t":1}',
    b"[" * 100_000,
])
def test_bad_input_raises_only_the_protocol_error(text):
    for decode in DECODERS:
        with pytest.raises(RemoteProtocolError):
            decode(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=4),
    max_leaves=12)
keys = st.sampled_from(["type", "cmd", "station", "sid", "pid", "kind", "seconds", "state",
                        "channels", "t", "event", "endpoint", "next", "dst", "size", "arg"])
tags = st.sampled_from(list(p.REPORTS) + list(p.COMMANDS) + list(p.REQUESTS) + ["zz"])


@settings(max_examples=1500)
@given(st.dictionaries(keys, json_values | tags, max_size=8))
def test_arbitrary_json_objects_decode_or_raise_the_protocol_error(d):
    data = json.dumps(d).encode()
    for decode in DECODERS:
        try:
            msg = decode(data)
        except RemoteProtocolError:
            continue
        assert isinstance(msg, p.Wire)


@settings(max_examples=500)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_the_protocol_error(data):
    for decode in DECODERS:
        try:
            decode(data)
        except RemoteProtocolError:
            pass


@pytest.mark.parametrize("faults, why", [
    ([{"kind": "lose", "station": 1}], "needs a time"),
    ([{"kind": "lose", "at": -1.0}], "needs a time"),
    ([{"kind": "lose", "at": "1"}], "finite number"),
    ([7], "must be an object"),
    ([{"cmd": "stop", "at": 1.0}], "must be an object"),
    ([{"kind": "lose", "at": 1.0, "pid": 1}], "unknown field"),
])
def test_a_schedule_is_checked_fault_by_fault(faults, why):
    req = p.decode_request(p.dumps({"cmd": "schedule", "faults": faults}))
    with pytest.raises(p.RemoteProtocolError, match=why):
        req.items()


def test_a_schedule_with_nan_is_not_even_json():
    with pytest.raises(p.RemoteProtocolError):
        p.decode_request(b'{"cmd":"schedule","faults":[{"kind":"lose","at":NaN}]}')


def test_a_schedule_keeps_each_fault_as_an_inject_request():
    req = p.decode_request(p.dumps({"cmd": "schedule", "faults": [
        {"kind": "pause", "station": 2, "arg": 0.5, "at": 1.25}, {"kind": "dup", "at": 0.0}]}))
    assert req.items() == [p.InjectRequest("pause", 2, 0.5, 1.25),
                           p.InjectRequest("dup", None, None, 0.0)]
