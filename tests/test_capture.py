"""Captures written by ``CaptureWriter`` read back with scapy and, when installed, tshark."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from scapy.layers.l2 import SNAP
from scapy.packet import Raw
from scapy.utils import rdpcap

from ringemu.core.messages import BROADCAST, FREE_TOKEN, Frame, Garbled, Marker, Purge, Token
from ringemu.frames import codec, layers
from ringemu.frames.capture import CaptureWriter
from ringemu.frames.codec import MacFrame

NAUN = (codec.SV_NAUN, codec.station_mac(2))
DROP = (codec.SV_PHYSICAL_DROP, bytes(4))
MESSAGES = [
    FREE_TOKEN,
    Token(priority=5, reservation=3),
    Frame(3, 7, 42, bytes(range(64)), priority=2, monitor=True, recognized=True, copied=True),
    Frame(1, BROADCAST, 2**64 - 1, b""),
    Marker(snapshot_id=9, initiator=4),
    Purge(origin=0, number=77),
    MacFrame(BROADCAST, 0, codec.AMP, (NAUN, DROP)),
    MacFrame(BROADCAST, 3, codec.SMP, (NAUN, DROP)),
    MacFrame(BROADCAST, 3, codec.CLAIM_TOKEN, (NAUN, DROP)),
    MacFrame(BROADCAST, 3, codec.BEACON, ((codec.SV_BEACON_TYPE, b"\x00\x02"), NAUN, DROP)),
    Garbled(Frame(1, 2, 3)),
    Garbled(FREE_TOKEN),
]
CAPTURED = [m for m in MESSAGES if type(m) is not Garbled]
TIMESTAMPS = [1_700_000_000.25 + i * 1e-6 for i in range(len(MESSAGES))]


def mac(station: int) -> str:
    return codec.station_mac(station).hex(":")


@pytest.fixture(scope="module")
def capture(tmp_path_factory):
    path = tmp_path_factory.mktemp("capture") / "ring.pcap"
    with CaptureWriter(path) as writer:
        for msg, ts in zip(MESSAGES, TIMESTAMPS, strict=True):
            writer.write(msg, ts)
    assert (writer.written, writer.skipped) == (len(CAPTURED), 2)
    return path


def test_scapy_reads_every_record(capture):
    packets = rdpcap(str(capture))
    assert len(packets) == len(CAPTURED)
    stamps = [ts for m, ts in zip(MESSAGES, TIMESTAMPS, strict=True) if type(m) is not Garbled]
    for pkt, msg, ts in zip(packets, CAPTURED, stamps, strict=True):
        assert bytes(pkt) == codec.capture_record(msg)
        assert float(pkt.time) == pytest.approx(ts, abs=1e-6)
    free, token, data, broadcast, marker, purge, amp, smp, claim, beacon = packets

    assert isinstance(free, layers.TRTokenRecord) and (free.priority, free.reservation) == (0, 0)
    assert isinstance(token, layers.TRTokenRecord) and (token.priority, token.reservation) == (5, 3)
    assert len(free) == len(token) == 15

    assert isinstance(data, layers.TRRecord)
    assert (data.priority, data.frame, data.monitor, data.frame_type) == (2, 1, 1, 1)
    assert (data.src, data.dst) == (mac(3), mac(7))
    assert data[SNAP].code == codec.ETHERTYPE_DATA
    assert data[layers.RingemuData].seq == 42 and data[Raw].load == bytes(range(64))
    assert broadcast.dst == mac(BROADCAST) and broadcast[layers.RingemuData].seq == 2**64 - 1

    assert (marker.src, marker.dst) == (mac(4), mac(BROADCAST))
    assert marker[SNAP].code == codec.ETHERTYPE_MARKER
    assert marker[layers.RingemuMarker].snapshot_id == 9

    vector = purge[layers.MACVector]
    assert (purge.frame_type, purge.control, vector.vector) == (0, codec.RING_PURGE, 4)
    assert [(sv.id, sv.value) for sv in vector.subvectors] == [(0x40, b"\x00\x00\x00\x4d")]
    for pkt, msg in zip((amp, smp, claim, beacon), CAPTURED[6:], strict=True):
        vector = pkt[layers.MACVector]
        assert pkt.control == vector.vector == msg.vector
        assert [(sv.id, sv.value) for sv in vector.subvectors] == list(msg.subvectors)


def test_empty_capture_is_a_valid_file(tmp_path):
    path = tmp_path / "empty.pcap"
    CaptureWriter(path).close()
    assert len(rdpcap(str(path))) == 0


needs_tshark = pytest.mark.skipif(
    shutil.which("tshark") is None, reason="tshark is not installed (apt-get install tshark)"
)


def tshark(*args: str) -> str:
    done = subprocess.run(["tshark", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@needs_tshark
def test_tshark_marks_nothing_malformed(capture):
    assert tshark("-r", str(capture), "-Y", "_ws.malformed") == ""
    assert tshark("-r", str(capture), "-Y", "_ws.expert") == ""


@needs_tshark
def test_tshark_fields(capture):
    out = tshark(
        "-r", str(capture), "-T", "fields",
        "-e", "tr.ac", "-e", "tr.fc", "-e", "tr.src", "-e", "tr.dst", "-e", "tr.frame",
        "-e", "trmac.mvec", "-e", "trmac.svec.id", "-e", "trmac.naun",
    )  # fmt: skip
    rows = [line.split("\t") for line in out.splitlines()]
    # tshark 4.0 prints tr.src twice ("a,a"): compare the set of values.
    seen = [(ac, fc, set(src.split(",")), *rest) for ac, fc, src, *rest in rows]
    zero, bcast, naun = "00:00:00:00:00:00", mac(BROADCAST), mac(2)
    assert seen == [
        ("0x00", "0x80", {zero}, zero, "0", "", "", ""),
        ("0xa3", "0x80", {zero}, zero, "0", "", "", ""),
        ("0x58", "0x40", {mac(3)}, mac(7), "1", "", "", ""),
        ("0x10", "0x40", {mac(1)}, bcast, "1", "", "", ""),
        ("0x10", "0x40", {mac(4)}, bcast, "1", "", "", ""),
        ("0x10", "0x04", {mac(0)}, bcast, "1", "0x04", "0x40", ""),
        ("0x10", "0x05", {mac(0)}, bcast, "1", "0x05", "0x02,0x0b", naun),
        ("0x10", "0x06", {mac(3)}, bcast, "1", "0x06", "0x02,0x0b", naun),
        ("0x10", "0x03", {mac(3)}, bcast, "1", "0x03", "0x02,0x0b", naun),
        ("0x10", "0x02", {mac(3)}, bcast, "1", "0x02", "0x01,0x02,0x0b", naun),
    ]


@needs_tshark
def test_tshark_selects_tokens_by_the_frame_bit(capture):
    tokens = tshark("-r", str(capture), "-Y", "tr.frame == 0", "-T", "fields", "-e", "tr.ac")
    assert tokens.split() == ["0x00", "0xa3"]
