"""The fast codec agrees with the scapy layers byte for byte and field for field.

``ringemu.frames.codec`` (struct + zlib) is what stations run; ``ringemu.frames.layers`` (scapy)
is the readable definition. For every message Hypothesis generates, the codec's octets equal
``bytes()`` of the same frame built with scapy from the same field values, scapy's dissection of
the codec's octets reads the same fields that ``codec.decode`` returns, and ``decode`` raises
``MalformedFrame`` and nothing else on damaged or arbitrary octets.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.l2 import LLC, SNAP
from scapy.packet import Raw

from ringemu.core.messages import (BROADCAST, FREE_TOKEN, Amp, Claim, Frame, Garbled, Marker,
                                   Purge, Token)
from ringemu.errors import MalformedFrame
from ringemu.frames import codec, layers
from ringemu.frames.codec import MacFrame

MANY = settings(max_examples=400, deadline=None)
FUZZ = settings(max_examples=1500, deadline=None)

# -- strategies ----------------------------------------------------------------------------------

stations = st.integers(0, 0xFFFF)
destinations = st.one_of(stations, st.just(BROADCAST))
tokens = st.builds(Token, st.integers(0, 7), st.integers(0, 7))
frames = st.builds(
    Frame,
    src=stations,
    dst=destinations,
    seq=st.integers(0, 2**64 - 1),
    payload=st.binary(max_size=200),
    priority=st.integers(0, 7),
    monitor=st.booleans(),
    recognized=st.booleans(),
    copied=st.booleans(),
)
markers = st.builds(Marker, st.integers(0, 2**32 - 1), stations)
purges = st.builds(Purge, stations, st.integers(0, 2**32 - 1))
vectors = st.sampled_from(
    [codec.BEACON, codec.CLAIM_TOKEN, codec.RING_PURGE, codec.AMP, codec.SMP, 0x25, 0x28]
)
subvector_ids = st.one_of(
    st.sampled_from([codec.SV_BEACON_TYPE, codec.SV_NAUN, codec.SV_PHYSICAL_DROP]),
    st.integers(0, 255),
)
mac_frames = st.builds(
    MacFrame,
    dst=destinations,
    src=stations,
    vector=st.one_of(vectors, st.integers(0, 255)),
    subvectors=st.lists(st.tuples(subvector_ids, st.binary(max_size=253)), max_size=4),
    dst_class=st.integers(0, 15),
    src_class=st.integers(0, 15),
)
purge_shaped = st.builds(
    MacFrame,
    dst=st.just(BROADCAST),
    src=stations,
    vector=st.just(codec.RING_PURGE),
    subvectors=st.tuples(
        st.tuples(st.just(codec.SV_PURGE_EPOCH), st.binary(min_size=4, max_size=4))
    ),
)
framed = st.one_of(frames, markers, purges, mac_frames, purge_shaped)
messages = st.one_of(tokens, st.just(FREE_TOKEN), framed)


def canonical(msg: object) -> object:
    """What ``decode`` gives back: a Ring Purge MacFrame shaped like a core Purge is a Purge,
    a Claim Token shaped like a core Claim (broadcast, no subvectors) is a Claim."""
    if (type(msg) is MacFrame and msg.dst == BROADCAST and msg.dst_class == msg.src_class == 0
            and not msg.subvectors and msg.vector in (codec.CLAIM_TOKEN, codec.AMP)):
        return (Claim if msg.vector == codec.CLAIM_TOKEN else Amp)(msg.src)
    if (
        type(msg) is MacFrame
        and msg.vector == codec.RING_PURGE
        and msg.dst == BROADCAST
        and msg.dst_class == msg.src_class == 0
        and len(msg.subvectors) == 1
        and msg.subvectors[0][0] == codec.SV_PURGE_EPOCH
        and len(msg.subvectors[0][1]) == 4
    ):
        return Purge(msg.src, struct.unpack(">I", msg.subvectors[0][1])[0])
    return msg


def reseal(wire: bytes) -> bytes:
    """``wire`` with a correct FCS again, so that only the structural checks can reject it."""
    return wire[:-6] + struct.pack("<I", zlib.crc32(wire[2:-6])) + wire[-2:]


# -- scapy's reading of the octets ---------------------------------------------------------------


def station(mac: str) -> int:
    return codec.mac_station(bytes.fromhex(mac.replace(":", "")))


def scapy_view(pkt, recognized: bool = False, copied: bool = False) -> object:
    """The core message a scapy dissection (wire frame or capture record) describes."""
    src, dst = station(pkt.src), station(pkt.dst)
    if LLC in pkt:
        assert pkt.frame_type == 1 and pkt.control == 0
        assert (pkt[LLC].dsap, pkt[LLC].ssap, pkt[LLC].ctrl, pkt[SNAP].OUI) == (0xAA, 0xAA, 3, 0)
        if layers.RingemuData in pkt:
            assert pkt.reservation == 0
            payload = pkt[Raw].load if Raw in pkt else b""
            return Frame(
                src,
                dst,
                pkt[layers.RingemuData].seq,
                payload,
                pkt.priority,
                bool(pkt.monitor),
                recognized,
                copied,
            )
        assert (pkt.priority, pkt.monitor, pkt.reservation, dst) == (0, 0, 0, BROADCAST)
        return Marker(pkt[layers.RingemuMarker].snapshot_id, src)
    vector = pkt[layers.MACVector]
    assert pkt.frame_type == 0
    assert pkt.control == (vector.vector if 2 <= vector.vector <= 6 else 0)
    assert (pkt.priority, pkt.monitor, pkt.reservation) == (0, 0, 0)
    assert vector.length == len(bytes(vector))
    subvectors = tuple((sv.id, sv.value) for sv in vector.subvectors)
    assert all(sv.length == len(sv.value) + 2 for sv in vector.subvectors)
    return canonical(
        MacFrame(dst, src, vector.vector, subvectors, vector.dst_class, vector.src_class)
    )


def scapy_wire_view(wire: bytes) -> object:
    """Dissect ``wire`` with the scapy layers and check every field the codec does not return."""
    pkt = layers.TRFrame(wire)
    assert pkt.sd == codec.SD and pkt.ed == codec.ED
    if isinstance(pkt, layers.TRToken):
        assert pkt.frame == 0 and pkt.monitor == 0
        return Token(pkt.priority, pkt.reservation)
    assert pkt.frame == 1
    assert pkt.fcs == zlib.crc32(wire[2:-6])
    fs = pkt.fs
    assert (fs.A, fs.C) == (fs.A2, fs.C2) and not (fs.r0 or fs.r1 or fs.r2 or fs.r3)
    return scapy_view(pkt, bool(fs.A), bool(fs.C))


# -- codec == scapy -------------------------------------------------------------------------------


@MANY
@given(messages)
def test_encode_equals_scapy_build(msg):
    assert codec.encode(msg) == bytes(layers.build(msg))
    assert codec.encode(Garbled(msg)) == bytes(layers.build(Garbled(msg)))


@MANY
@given(messages)
def test_scapy_dissection_reads_what_decode_returns(msg):
    wire = codec.encode(msg)
    assert scapy_wire_view(wire) == codec.decode(wire)


@MANY
@given(messages)
def test_capture_record_equals_scapy_record(msg):
    record = codec.capture_record(msg)
    assert record == bytes(layers.build_record(msg))
    pkt = layers.TRRecord(record)
    if type(msg) is Token:
        assert isinstance(pkt, layers.TRTokenRecord)
        assert Token(pkt.priority, pkt.reservation) == msg
        assert len(record) == 15
    else:
        expected = canonical(msg)
        if type(expected) is Frame:  # a record has no FS: compare without the A and C bits
            e = expected
            expected = Frame(e.src, e.dst, e.seq, e.payload, e.priority, e.monitor)
        assert scapy_view(pkt) == expected
    assert codec.capture_record(Garbled(msg)) is None
    assert layers.build_record(Garbled(msg)) is None


# -- decode ---------------------------------------------------------------------------------------


@MANY
@given(messages)
def test_round_trip(msg):
    assert codec.decode(codec.encode(msg)) == canonical(msg)


def test_free_token_is_the_singleton_and_three_octets():
    wire = codec.encode(FREE_TOKEN)
    assert wire == bytes((codec.SD, 0x00, codec.ED))
    assert codec.decode(wire) is FREE_TOKEN
    assert codec.decode(bytes(wire)) is FREE_TOKEN  # a fresh bytes object, as from a socket


@MANY
@given(framed, st.data())
def test_one_flipped_bit_in_fc_to_info_is_rejected(msg, data):
    wire = bytearray(codec.encode(msg))
    position = data.draw(st.integers(2, len(wire) - 7), label="octet")
    wire[position] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    with pytest.raises(MalformedFrame, match="bad FCS"):
        codec.decode(bytes(wire))


@MANY
@given(messages)
def test_garbled_never_decodes(msg):
    for garbled in (Garbled(msg), Garbled(Garbled(msg))):
        with pytest.raises(MalformedFrame):
            codec.decode(codec.encode(garbled))


def decodes_only_to_its_own_encoding(wire: bytes) -> None:
    """``decode`` raises MalformedFrame and nothing else, and accepts only canonical octets."""
    try:
        msg = codec.decode(wire)
    except MalformedFrame:
        return
    assert codec.encode(msg) == wire


@FUZZ
@given(st.binary(max_size=300))
def test_fuzz_arbitrary_bytes(wire):
    decodes_only_to_its_own_encoding(wire)


@FUZZ
@given(messages, st.data())
def test_fuzz_mutated_frames(msg, data):
    """Mostly one or two changed octets in a frame whose FCS is then made right again, so that
    the structural checks behind the FCS see the damage."""
    wire = bytearray(codec.encode(msg))
    kinds = st.sampled_from(["set", "set", "set", "cut", "insert", "truncate"])
    for _ in range(data.draw(st.integers(1, 2), label="mutations")):
        kind = data.draw(kinds, label="kind")
        at = data.draw(st.integers(0, len(wire)), label="at")
        if kind == "set" and at < len(wire):
            wire[at] = data.draw(st.integers(0, 255), label="octet")
        elif kind == "cut":
            del wire[at : at + data.draw(st.integers(1, 8), label="length")]
        elif kind == "insert":
            wire[at:at] = data.draw(st.binary(min_size=1, max_size=8), label="octets")
        else:
            del wire[at:]
    if len(wire) >= 8 and data.draw(st.integers(0, 9), label="reseal") > 0:
        wire = bytearray(reseal(bytes(wire)))
    decodes_only_to_its_own_encoding(bytes(wire))


DATA = codec.encode(Frame(1, 2, 3, b"payload"))
AMP = codec.encode(MacFrame(BROADCAST, 1, codec.AMP, ((codec.SV_NAUN, codec.station_mac(0)),)))


def replace(wire: bytes, at: int, octets: bytes) -> bytes:
    return wire[:at] + octets + wire[at + len(octets) :]


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (b"", "too short"),
        (b"\x90\x00\xb4\x00", "too short"),
        (DATA[:20], "too short"),
        (b"\x91\x00\xb4", "starting delimiter"),
        (b"\x90\x00\xb5", "I or E bit"),
        (b"\x90\x00\x00", "ending delimiter"),
        (b"\x90\x08\xb4", "T or M"),
        (b"\x90\x10\xb4", "T or M"),
        (replace(DATA, 0, b"\x00"), "starting delimiter"),
        (replace(DATA, len(DATA) - 2, b"\xb6"), "I or E bit"),
        (replace(DATA, len(DATA) - 1, b"\x80"), "frame status"),
        (replace(DATA, len(DATA) - 1, b"\x11"), "frame status"),
        (replace(DATA, 1, b"\x00"), "AC says token"),
        (replace(DATA, 1, b"\x11"), "reservation"),
        (reseal(replace(DATA, 2, b"\x41")), "frame control"),
        (reseal(replace(DATA, 2, b"\x80")), "frame control"),
        (reseal(replace(DATA, 9, b"\x82")), "routing information"),
        (reseal(replace(DATA, 9, b"\x04")), "source"),
        (reseal(replace(DATA, 3, b"\xc0\x00\x00\x00\x00\x01")), "destination"),
        (reseal(replace(DATA, 15, b"\xab")), "LLC/SNAP"),
        (reseal(replace(DATA, 21, b"\x08\x00")), "unknown ethertype"),
        (reseal(DATA[:27] + DATA[-6:]), "data frame truncated"),
        (reseal(replace(codec.encode(Marker(1, 2)), 3, codec.station_mac(4))), "marker"),
        (reseal(replace(AMP, 16, b"\x0d")), "length does not match"),
        (reseal(replace(AMP, 18, b"\x06")), "attention code"),
        (reseal(replace(AMP, 19, b"\x09")), "subvector truncated"),
        (reseal(replace(AMP, 19, b"\x01")), "subvector truncated"),
        (reseal(AMP[:15] + AMP[-6:]), "major vector truncated"),
    ],
)
def test_malformed_reasons(wire, reason):
    with pytest.raises(MalformedFrame, match=reason):
        codec.decode(wire)


# -- addresses and encode errors ------------------------------------------------------------------


@given(stations)
def test_station_addresses(index):
    mac = codec.station_mac(index)
    assert mac[:4] == b"\x02\x00\x00\x00" and mac[0] & 0x01 == 0  # local, individual
    assert codec.mac_station(mac) == index


def test_broadcast_address():
    assert codec.station_mac(BROADCAST) == bytes.fromhex("c000ffffffff")
    assert codec.mac_station(bytes.fromhex("c000ffffffff")) == BROADCAST
    for bad in (b"", bytes.fromhex("c00000000001"), bytes.fromhex("020000010000")):
        with pytest.raises(MalformedFrame):
            codec.mac_station(bad)
    for bad in (-2, 0x10000):
        with pytest.raises(ValueError):
            codec.station_mac(bad)


@pytest.mark.parametrize(
    "msg",
    [
        Token(8, 0),
        Token(0, -1),
        Frame(0, 1, 0, priority=8),
        Frame(0, 1, 0, priority=-1),
        Frame(0x10000, 1, 0),
        Frame(0, -2, 0),
        Frame(0, 1, 2**64),
        Marker(2**32, 0),
        Purge(0, -1),
        MacFrame(BROADCAST, 0, codec.AMP, ((2, bytes(254)),)),
        MacFrame(BROADCAST, 0, codec.AMP, dst_class=16),
        MacFrame(BROADCAST, 0, 256),
        Garbled(Frame(0, 1, 0, priority=9)),
    ],
)
def test_encode_rejects_what_the_format_cannot_carry(msg):
    with pytest.raises(ValueError):
        codec.encode(msg)


def test_encode_rejects_non_messages():
    with pytest.raises(TypeError):
        codec.encode(b"\x90\x00\xb4")


def test_fcs_is_zlib_crc32_least_significant_octet_first():
    wire = codec.encode(Frame(1, 2, 3, b"x"))
    assert wire[-6:-2] == struct.pack("<I", zlib.crc32(wire[2:-6]))
    assert zlib.crc32(wire[2:-2]) == codec.FCS_RESIDUE


def test_codec_does_not_import_scapy():
    code = (
        "import sys, ringemu.frames.codec; print(any(m.startswith('scapy') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@MANY
@given(frames, st.booleans(), st.booleans(), st.booleans())
def test_repeating_a_decoded_frame_equals_encoding_it_afresh(frame, monitor, recognized, copied):
    """A station repeats a decoded frame from its cached octets, patching AC and FS only; the
    result must be exactly what encoding the changed frame from scratch gives."""
    decoded = codec.decode(codec.encode(frame))
    assert decoded.wire is not None
    got = Frame(decoded.src, decoded.dst, decoded.seq, decoded.payload, decoded.priority,
                monitor, recognized, copied, decoded.wire)
    fresh = Frame(frame.src, frame.dst, frame.seq, frame.payload, frame.priority,
                  monitor, recognized, copied)
    assert codec.encode(got) == codec.encode(fresh)
    assert codec.decode(codec.encode(got)) == fresh
