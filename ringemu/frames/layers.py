"""IEEE 802.5 token-ring layers for scapy, which has none.

These layers are the readable definition of ringemu's octets, field by field; the station hot
path uses ``ringemu.frames.codec`` instead (struct + zlib, several hundred times faster), and
``tests/test_frames_codec.py`` proves the two agree. Importing this module registers
``TRRecord`` for pcap link type 6 (``DLT_IEEE802``), so ``rdpcap`` dissects ringemu captures.

On the wire (SD .. ED/FS, see ``docs/frames.md``):

- ``TRToken``: ``SD AC ED``.
- ``TRFrame``: ``SD AC FC DA SA [RIF] INFO FCS ED FS``. FCS, ED and FS are scapy trailer
  fields, so the INFO layers in between dissect cleanly. Dissecting with ``TRFrame`` returns a
  ``TRToken`` when the AC's T bit is clear.
- INFO of an LLC frame: ``LLC / SNAP / RingemuData / Raw`` (ethertype 0x88B5) or
  ``LLC / SNAP / RingemuMarker`` (0x88B6); of a MAC frame: ``MACVector`` with ``MACSubvector``s.

In a capture (link type 6 records start at AC and stop at the end of INFO):

- ``TRRecord``: ``AC FC DA SA [RIF] INFO``; a clear T bit dispatches to ``TRTokenRecord``, the
  15-octet pseudo-record ringemu writes for a free token.

``build`` and ``build_record`` are the template builders: the scapy packet for a core message,
from its field values.
"""

from __future__ import annotations

import struct
import zlib

from scapy.config import conf
from scapy.data import DLT_IEEE802
from scapy.fields import (
    BitEnumField,
    BitField,
    ByteEnumField,
    ConditionalField,
    FCSField,
    FieldLenField,
    FlagsField,
    IntField,
    LongField,
    MACField,
    PacketListField,
    StrField,
    StrFixedLenField,
    StrLenField,
    TrailerField,
    XBitField,
    XByteField,
)
from scapy.layers.l2 import LLC, SNAP
from scapy.packet import Packet, Raw, bind_layers

from ringemu.core.messages import BROADCAST, Amp, Claim, Frame, Garbled, Marker, Purge, Token
from ringemu.frames.codec import (
    AMP,
    BEACON,
    CLAIM_TOKEN,
    ED,
    ED_GARBLED,
    ETHERTYPE_DATA,
    ETHERTYPE_MARKER,
    RING_PURGE,
    SD,
    SMP,
    SV_PURGE_EPOCH,
    TOKEN_RECORD_PADDING,
    MacFrame,
    station_mac,
)

MAJOR_VECTORS = {
    0x02: "Beacon",
    0x03: "Claim Token",
    0x04: "Ring Purge",
    0x05: "Active Monitor Present",
    0x06: "Standby Monitor Present",
    0x25: "Report New Active Monitor",
    0x28: "Report Active Monitor Error",
}
MAC_CLASSES = {
    0x0: "Ring Station",
    0x1: "LLC Manager",
    0x4: "Configuration Report Server",
    0x5: "Ring Parameter Server",
    0x6: "Ring Error Monitor",
}


def _ac(frame: int) -> list:
    """AC = P P P T M R R R."""
    return [
        BitField("priority", 0, 3),
        BitEnumField("frame", frame, 1, {0: "token", 1: "frame"}),
        BitField("monitor", 0, 1),
        BitField("reservation", 0, 3),
    ]


class RIFField(StrField):
    """The routing information field; the low 5 bits of its first octet give its length."""

    def getfield(self, pkt: Packet, s: bytes) -> tuple[bytes, bytes]:
        n = s[0] & 0x1F if s else 0
        return s[n:], s[:n]


def _has_rif(pkt: Packet) -> bool:
    """A RIF follows when the source address has its first bit (0x80) set."""
    return pkt.src is not None and int(pkt.src[:2], 16) & 0x80 != 0


def _fc_addresses() -> list:
    """FC = F F Z Z Z Z Z Z, then DA, SA, and a RIF when SA says so."""
    return [
        BitEnumField("frame_type", 1, 2, {0: "MAC", 1: "LLC"}),
        XBitField("control", 0, 6),
        MACField("dst", "c0:00:ff:ff:ff:ff"),
        MACField("src", "02:00:00:00:00:00"),
        ConditionalField(RIFField("rif", b""), _has_rif),
    ]


class TRToken(Packet):
    """The free token: SD AC ED, 3 octets."""

    name = "802.5 token"
    fields_desc = [XByteField("sd", SD), *_ac(0), XByteField("ed", ED)]


class TRFrame(Packet):
    """A frame on the wire: SD AC FC DA SA [RIF] INFO FCS ED FS.

    FCS is ``zlib.crc32`` over FC..INFO, stored least significant octet first (computed when
    left None). FS is ``A C r r A C r r``: the flags ``A``/``C`` and their copies ``A2``/``C2``.
    """

    name = "802.5 frame"
    # Trailer fields are read from the end of the packet: FS first, then ED, then FCS.
    fields_desc = [
        XByteField("sd", SD),
        *_ac(1),
        *_fc_addresses(),
        TrailerField(FlagsField("fs", 0, 8, ["r3", "r2", "C2", "A2", "r1", "r0", "C", "A"])),
        TrailerField(XByteField("ed", ED)),
        FCSField("fcs", None, fmt="<I"),
    ]

    @classmethod
    def dispatch_hook(cls, _pkt: bytes | None = None, *args, **kargs) -> type[Packet]:
        if _pkt and len(_pkt) > 1 and not _pkt[1] & 0x10:
            return TRToken
        return cls

    def post_build(self, p: bytes, pay: bytes) -> bytes:
        frame = p + pay  # pay is INFO + FCS ED FS (the trailer fields append themselves)
        if self.fcs is None:
            frame = frame[:-6] + struct.pack("<I", zlib.crc32(frame[2:-6])) + frame[-2:]
        return frame


class TRRecord(Packet):
    """A frame as a pcap record of link type 6: AC FC DA SA [RIF] INFO."""

    name = "802.5 capture record"
    fields_desc = [*_ac(1), *_fc_addresses()]

    @classmethod
    def dispatch_hook(cls, _pkt: bytes | None = None, *args, **kargs) -> type[Packet]:
        if _pkt and not _pkt[0] & 0x10:
            return TRTokenRecord
        return cls


class TRTokenRecord(Packet):
    """ringemu's capture pseudo-record of a free token: its AC and 14 octets of padding
    (FC 0x80, a frame type 802.5 reserves; zero DA and SA; one zero octet)."""

    name = "802.5 token record"
    fields_desc = [*_ac(0), StrFixedLenField("padding", TOKEN_RECORD_PADDING, 14)]


class MACSubvector(Packet):
    """length (1 octet, counts itself), id (1 octet), value."""

    name = "802.5 MAC subvector"
    fields_desc = [
        FieldLenField("length", None, length_of="value", fmt="B", adjust=lambda _, n: n + 2),
        XByteField("id", 0),
        StrLenField("value", b"", length_from=lambda p: p.length - 2),
    ]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


class MACVector(Packet):
    """The major vector of a MAC frame: length (2 octets, counts itself), classes (destination
    class in the high nibble, source class in the low), vector id, subvectors."""

    name = "802.5 MAC major vector"
    fields_desc = [
        FieldLenField("length", None, length_of="subvectors", fmt="!H", adjust=lambda _, n: n + 4),
        BitEnumField("dst_class", 0, 4, MAC_CLASSES),
        BitEnumField("src_class", 0, 4, MAC_CLASSES),
        ByteEnumField("vector", 0, MAJOR_VECTORS),
        PacketListField("subvectors", [], MACSubvector, length_from=lambda p: p.length - 4),
    ]


class RingemuData(Packet):
    """INFO of a ringemu data frame after LLC/SNAP: sequence number (8 octets), payload."""

    name = "ringemu data"
    fields_desc = [LongField("seq", 0)]


class RingemuMarker(Packet):
    """INFO of a ringemu snapshot marker after LLC/SNAP: snapshot id (4 octets)."""

    name = "ringemu snapshot marker"
    fields_desc = [IntField("snapshot_id", 0)]


for _layer in (TRFrame, TRRecord):
    bind_layers(_layer, LLC, frame_type=1)
    bind_layers(_layer, MACVector, frame_type=0)
bind_layers(SNAP, RingemuData, OUI=0, code=ETHERTYPE_DATA)
bind_layers(SNAP, RingemuMarker, OUI=0, code=ETHERTYPE_MARKER)
conf.l2types.register(DLT_IEEE802, TRRecord)


# -- template builders -------------------------------------------------------------------------


def _mac(station: int) -> str:
    return station_mac(station).hex(":")


def _mac_parts(
    dst: int, src: int, vector: int, subvectors, dst_class: int = 0, src_class: int = 0
) -> tuple[dict, int, Packet]:
    attention = vector if BEACON <= vector <= SMP else 0
    info = MACVector(
        dst_class=dst_class,
        src_class=src_class,
        vector=vector,
        subvectors=[MACSubvector(id=sv_id, value=value) for sv_id, value in subvectors],
    )
    return dict(frame_type=0, control=attention, dst=_mac(dst), src=_mac(src)), 0, info


def _parts(msg: object) -> tuple[dict, int, Packet]:
    """(header field values, FS, INFO layers) of a frame-shaped message."""
    t = type(msg)
    if t is Frame:
        header = dict(
            priority=msg.priority, monitor=int(msg.monitor), dst=_mac(msg.dst), src=_mac(msg.src)
        )
        fs = (0x88 if msg.recognized else 0) | (0x44 if msg.copied else 0)
        return header, fs, LLC() / SNAP() / RingemuData(seq=msg.seq) / Raw(msg.payload)
    if t is Marker:
        header = dict(dst=_mac(BROADCAST), src=_mac(msg.initiator))
        return header, 0, LLC() / SNAP() / RingemuMarker(snapshot_id=msg.snapshot_id)
    if t is Purge:
        number = [(SV_PURGE_EPOCH, struct.pack(">I", msg.number))]
        return _mac_parts(BROADCAST, msg.origin, RING_PURGE, number)
    if t is Claim:
        return _mac_parts(BROADCAST, msg.src, CLAIM_TOKEN, [])
    if t is Amp:
        return _mac_parts(BROADCAST, msg.src, AMP, [])
    if t is MacFrame:
        return _mac_parts(
            msg.dst, msg.src, msg.vector, msg.subvectors, msg.dst_class, msg.src_class
        )
    raise TypeError(f"not a ring message: {msg!r}")


def build(msg: object) -> Packet:
    """The scapy packet of ``msg`` as it goes on the wire (``bytes()`` of it is the octets)."""
    t = type(msg)
    if t is Token:
        return TRToken(priority=msg.priority, reservation=msg.reservation)
    if t is Garbled:
        pkt = build(msg.original)
        if isinstance(pkt, TRToken):
            pkt.ed = ED_GARBLED
        else:
            pkt.fcs = zlib.crc32(bytes(pkt)[2:-6]) ^ 0xFFFFFFFF
        return pkt
    header, fs, info = _parts(msg)
    return TRFrame(fs=fs, **header) / info


def build_record(msg: object) -> Packet | None:
    """The scapy packet of ``msg``'s capture record, or None for what is not captured."""
    t = type(msg)
    if t is Token:
        return TRTokenRecord(priority=msg.priority, reservation=msg.reservation)
    if t is Garbled:
        return None
    header, _, info = _parts(msg)
    return TRRecord(**header) / info
