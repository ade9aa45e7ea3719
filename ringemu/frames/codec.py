"""Fast 802.5 octets for ringemu messages: struct + zlib, no scapy.

Stations encode and decode on every hop and the simulator moves every message of a run, so this
module must not import scapy (it costs a process a noticeable start-up time and memory, and
its packets are orders of magnitude slower to build and dissect). The scapy
layers in ``ringemu.frames.layers`` define the same formats field by field;
``tests/test_frames_codec.py`` proves with Hypothesis that both agree byte for byte.
``docs/frames.md`` draws every layout.

The codec is a bijection: ``decode`` accepts exactly the octets ``encode`` can produce and raises
``MalformedFrame`` for everything else (any bit the core does not model, such as reservation
bits on a frame or the ED error bit, must be zero), so ``encode(decode(b)) == b`` whenever
``decode(b)`` succeeds. Pass ``bytes`` (not bytearray or memoryview) to ``decode``.

How fast each call is, and how that was measured, is in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from ringemu.core.messages import (BROADCAST, FREE_TOKEN, Amp, Claim, Frame, Garbled, Marker,
                                   Purge, Token)
from ringemu.errors import MalformedFrame

# Delimiters. J and K are Differential Manchester code violations with no octet value of their
# own; ringemu reads J as 1 and K as 0, so SD = J K 0 J K 0 0 0 and ED = J K 1 J K 1 I E.
SD = 0x90
ED = 0xB4
ED_GARBLED = 0x24
"""The ED of a garbled token: ``ED`` with its J and K violations lost (read as data zeros)."""

FC_LLC = 0x40
AC_FRAME = 0x10
"""AC of markers and MAC frames: priority 0, T=1, M=0, reservation 0."""

FS_A = 0x88  # address recognised, both copies of the bit (FS = A C r r A C r r)
FS_C = 0x44  # frame copied, both copies

SNAP_HEADER = b"\xaa\xaa\x03\x00\x00\x00"
"""LLC (DSAP AA, SSAP AA, UI) and SNAP OUI 00-00-00: what follows is an ethertype."""
ETHERTYPE_DATA = 0x88B5
"""IEEE 802 Local Experimental Ethertype 1: a ringemu data frame (seq + payload)."""
ETHERTYPE_MARKER = 0x88B6
"""IEEE 802 Local Experimental Ethertype 2: a ringemu snapshot marker (snapshot id)."""

# MAC frame major vector ids; for these five the FC carries the same value as attention code.
BEACON = 0x02
CLAIM_TOKEN = 0x03
RING_PURGE = 0x04
AMP = 0x05
SMP = 0x06
SV_BEACON_TYPE = 0x01
SV_NAUN = 0x02
SV_PHYSICAL_DROP = 0x0B
SV_PURGE_EPOCH = 0x40
"""ringemu's subvector for ``Purge.number`` (4 octets). Unassigned in 802.5; tshark 4.0 shows
it as "Unknown subvector ID 0x40" and marks nothing malformed (it checks the lengths of the ids
it knows, so a known id such as Correlator 0x09 would force a 2-octet number)."""

FCS_RESIDUE = 0x2144DF1C
"""``zlib.crc32(FC..INFO + FCS)`` of every intact frame: the CRC-32 residue."""

TOKEN_RECORD_PADDING = b"\x80" + bytes(13)
"""What follows a free token's AC in a capture record (see ``capture_record``)."""

_UNICAST_HI = b"\x02\x00\x00\x00"  # locally administered, individual: 02:00:00:00:HH:LL
_BROADCAST_HI = b"\xc0\x00\xff\xff"  # all stations on this ring: C0:00:FF:FF:FF:FF
_BROADCAST_MAC = b"\xc0\x00\xff\xff\xff\xff"

_ADDRS = struct.Struct(">4sH4sH")  # DA, SA, each split as 4 high octets + 2-octet index
_DATA_HEAD = struct.Struct(">B4sH4sH6sHQ")  # FC DA SA, LLC/SNAP, ethertype, seq
_MARKER_HEAD = struct.Struct(">B4sH4sH6sHI")  # FC DA SA, LLC/SNAP, ethertype, snapshot id
_LLC = struct.Struct(">6sH")
_U64 = struct.Struct(">Q")
_U32 = struct.Struct(">I")
_MAC_HEAD = struct.Struct(">B4sH4sHHBB")  # FC DA SA, vector length, classes, vector id
_VECTOR = struct.Struct(">HBB")
_TRAILER = struct.Struct("<IBB")  # FCS (least significant octet first), ED, FS

_FRAME_MIN = 21  # SD AC FC DA SA FCS ED FS
_INFO = 15  # offset of INFO: SD AC FC DA(6) SA(6)


@dataclass(frozen=True, slots=True)
class MacFrame:
    """An 802.5 MAC frame with one major vector (AMP, SMP, Claim Token, Ring Purge, Beacon, ...).

    ``dst``/``src`` are station indices like the core's (``dst`` may be ``BROADCAST``);
    ``subvectors`` are ``(id, value)`` pairs in order, each value at most 253 octets. A Ring
    Purge from a station to ``BROADCAST`` whose only subvector is ``SV_PURGE_EPOCH`` is a core
    ``Purge``: ``decode`` returns it as one. Like a marker or a purge it carries no token.
    """

    dst: int
    src: int
    vector: int
    subvectors: tuple[tuple[int, bytes], ...] = ()
    dst_class: int = 0
    src_class: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "subvectors", tuple((sv_id, bytes(value)) for sv_id, value in self.subvectors)
        )


def station_mac(index: int) -> bytes:
    """The MAC address of station ``index``: ``02:00:00:00:HH:LL``, or all stations for -1."""
    if index == BROADCAST:
        return _BROADCAST_MAC
    if not 0 <= index < 0x10000:
        raise ValueError(f"station index {index} has no ringemu MAC address (0..65535)")
    return _UNICAST_HI + index.to_bytes(2, "big")


def mac_station(mac: bytes) -> int:
    """The station index of a ringemu MAC address (``BROADCAST`` for all stations)."""
    if len(mac) == 6:
        if mac[:4] == _UNICAST_HI:
            return int.from_bytes(mac[4:], "big")
        if mac == _BROADCAST_MAC:
            return BROADCAST
    raise MalformedFrame(f"not a ringemu station address: {mac.hex(':')}")


def mac_attention(vector: int) -> int:
    """The FC attention code of a MAC frame carrying major vector ``vector`` (0 if none)."""
    return vector if BEACON <= vector <= SMP else 0


# -- encode ------------------------------------------------------------------------------------

# All 64 tokens, both ways; priority 0 reservation 0 is the FREE_TOKEN singleton.
_WIRE_TOKEN = {
    bytes((SD, p << 5 | r, ED)): Token(p, r) if p or r else FREE_TOKEN
    for p in range(8)
    for r in range(8)
}
_TOKEN_WIRE = {token: wire for wire, token in _WIRE_TOKEN.items()}
_FREE_TOKEN_WIRE = _TOKEN_WIRE[FREE_TOKEN]


def _da(dst: int) -> tuple[bytes, int]:
    return (_BROADCAST_HI, 0xFFFF) if dst == BROADCAST else (_UNICAST_HI, dst)


_SD_AC = [bytes((SD, ac)) for ac in range(256)]
_FS = [bytes((fs,)) for fs in range(256)]


def _seal(ac: int, body: bytes, fs: int) -> bytes:
    """SD AC + body (FC..INFO) + FCS ED FS."""
    return _SD_AC[ac] + body + _TRAILER.pack(zlib.crc32(body), ED, fs)


def _encode_frame(f: Frame) -> bytes:
    # The hot path: inlined rather than built from _da and _seal (fewer calls per frame).
    wire = f.wire
    if wire is not None:  # a frame being repeated: only AC (M bit) and FS (A, C) may change
        ac = AC_FRAME | f.priority << 5 | (8 if f.monitor else 0)
        fs = (FS_A if f.recognized else 0) | (FS_C if f.copied else 0)
        if ac == wire[1] and fs == wire[-1]:
            return wire
        return _SD_AC[ac] + wire[2:-1] + _FS[fs]
    dst = f.dst
    if dst == BROADCAST:
        da_hi, da_lo = _BROADCAST_HI, 0xFFFF
    else:
        da_hi, da_lo = _UNICAST_HI, dst
    body = (
        _DATA_HEAD.pack(
            FC_LLC, da_hi, da_lo, _UNICAST_HI, f.src, SNAP_HEADER, ETHERTYPE_DATA, f.seq
        )
        + f.payload
    )
    ac = AC_FRAME | f.priority << 5 | (8 if f.monitor else 0)
    if not 0 <= ac <= 0xFF:
        raise ValueError("priority is 0..7")
    fs = (FS_A if f.recognized else 0) | (FS_C if f.copied else 0)
    return _SD_AC[ac] + body + _TRAILER.pack(zlib.crc32(body), ED, fs)


def _encode_marker(m: Marker) -> bytes:
    body = _MARKER_HEAD.pack(
        FC_LLC, _BROADCAST_HI, 0xFFFF, _UNICAST_HI, m.initiator,
        SNAP_HEADER, ETHERTYPE_MARKER, m.snapshot_id,
    )  # fmt: skip
    return _seal(AC_FRAME, body, 0)


def _encode_mac(m: MacFrame) -> bytes:
    if not (0 <= m.dst_class < 16 and 0 <= m.src_class < 16):
        raise ValueError(f"MAC classes are 4 bits: {m!r}")
    parts = []
    for sv_id, value in m.subvectors:
        if len(value) > 253:
            raise ValueError(f"subvector 0x{sv_id:02x} value longer than 253 octets")
        parts.append(bytes((len(value) + 2, sv_id)) + value)
    subvectors = b"".join(parts)
    body = _MAC_HEAD.pack(
        mac_attention(m.vector), *_da(m.dst), _UNICAST_HI, m.src,
        len(subvectors) + 4, m.dst_class << 4 | m.src_class, m.vector,
    ) + subvectors  # fmt: skip
    return _seal(AC_FRAME, body, 0)


def _purge_frame(p: Purge) -> MacFrame:
    return MacFrame(BROADCAST, p.origin, RING_PURGE, ((SV_PURGE_EPOCH, _U32.pack(p.number)),))


def _claim_frame(c: Claim) -> MacFrame:
    return MacFrame(BROADCAST, c.src, CLAIM_TOKEN)


def _amp_frame(a: Amp) -> MacFrame:
    return MacFrame(BROADCAST, a.src, AMP)


def _garble(wire: bytes) -> bytes:
    """Damage encoded octets so that ``decode`` rejects them: a token loses its ED, a frame
    gets the complement of its right FCS (idempotent, so a garbled garble stays garbled)."""
    if len(wire) == 3:
        return wire[:2] + bytes((ED_GARBLED,))
    fcs = zlib.crc32(wire[2:-6]) ^ 0xFFFFFFFF
    return wire[:-6] + _TRAILER.pack(fcs, wire[-2], wire[-1])


def encode(msg: Token | Frame | Marker | Purge | Garbled | MacFrame) -> bytes:
    """The octets of ``msg`` as they travel on a ring link (SD .. ED for a token, SD .. FS for
    a frame). Raises ``ValueError`` for a field the format cannot carry (priority 9, station
    70000, a 300-octet subvector) and ``TypeError`` for an object that is no ring message."""
    if msg is FREE_TOKEN:
        return _FREE_TOKEN_WIRE
    t = type(msg)
    try:
        if t is Frame:
            return _encode_frame(msg)
        if t is Token:
            wire = _TOKEN_WIRE.get(msg)
            if wire is None:
                raise ValueError("priority and reservation are 0..7")
            return wire
        if t is Marker:
            return _encode_marker(msg)
        if t is Purge:
            return _encode_mac(_purge_frame(msg))
        if t is Claim:
            return _encode_mac(_claim_frame(msg))
        if t is Amp:
            return _encode_mac(_amp_frame(msg))
        if t is MacFrame:
            return _encode_mac(msg)
        if t is Garbled:
            return _garble(encode(msg.original))
    except (struct.error, ValueError) as exc:
        raise ValueError(f"cannot encode {msg!r}: {exc}") from None
    raise TypeError(f"not a ring message: {msg!r}")


def capture_record(msg: object) -> bytes | None:
    """The pcap record (link type 6, ``AC FC DA SA INFO``) for ``msg``, or None.

    A frame's record is its octets from AC to the end of INFO. A token is a pseudo-record: its
    AC followed by ``TOKEN_RECORD_PADDING`` (FC 0x80, a reserved frame type no 802.5 frame
    uses, zero DA and SA, one zero octet), because tshark marks every record under 15 octets
    malformed; filter tokens with ``tr.frame == 0``. ``Garbled`` is not captured (None), like
    the frames a Token Ring adapter drops for a bad FCS before a capture sees them.
    """
    t = type(msg)
    if t is Token:
        return encode(msg)[1:2] + TOKEN_RECORD_PADDING
    if t is Garbled:
        return None
    return encode(msg)[1:-6]


def damaged_record(data: bytes) -> bytes | None:
    """The pcap record of 802.5 octets ``decode`` refused, or None when they are not shaped like
    a token or a frame.

    A frame whose FCS is wrong or a token whose ED lost its code violations (a ``Garbled``
    message: an injected ``corrupt``) keeps its AC-to-INFO span intact, so its record is taken
    the way ``capture_record`` takes an intact one, as a capture that keeps errored frames
    would (the damage is in FCS or ED, which no record carries). Live capture
    (``ringemu capture``) writes these, so an injected corruption is seen on its link.
    """
    if not data or data[0] != SD:
        return None
    if len(data) == 3:
        return data[1:2] + TOKEN_RECORD_PADDING
    if len(data) >= _FRAME_MIN:
        return data[1:-6]
    return None


# -- decode ------------------------------------------------------------------------------------


def decode(data: bytes) -> Token | Frame | Marker | Purge | Claim | Amp | MacFrame:
    """The message ``data`` encodes; ``MalformedFrame`` (and nothing else) for any octets that
    ``encode`` cannot produce. The free token returns the ``FREE_TOKEN`` singleton."""
    n = len(data)
    if n == 3:
        token = _WIRE_TOKEN.get(data)
        if token is None:
            raise MalformedFrame(_token_fault(data))
        return token
    if n < _FRAME_MIN:
        raise MalformedFrame(f"too short: {n} octets")
    if data[0] != SD:
        raise MalformedFrame("bad starting delimiter")
    if data[-2] != ED:
        raise MalformedFrame(_ed_fault(data[-2]))
    fs = data[-1]
    if fs & 0x33 or fs >> 4 != fs & 0x0F:
        raise MalformedFrame("frame status copies disagree or reserved bits set")
    if zlib.crc32(data[2:-2]) != FCS_RESIDUE:
        raise MalformedFrame("bad FCS")
    ac = data[1]
    if not ac & AC_FRAME:
        raise MalformedFrame("AC says token but a frame follows")
    da_hi, da_lo, sa_hi, src = _ADDRS.unpack_from(data, 3)
    if sa_hi != _UNICAST_HI:
        if sa_hi[0] & 0x80:
            raise MalformedFrame("routing information field not supported")
        raise MalformedFrame("source is not a ringemu station address")
    if da_hi == _UNICAST_HI:
        dst = da_lo
    elif da_hi == _BROADCAST_HI and da_lo == 0xFFFF:
        dst = BROADCAST
    else:
        raise MalformedFrame("destination is not a ringemu address")
    fc = data[2]
    if fc == FC_LLC:
        return _decode_llc(data, n, ac, fs, src, dst)
    if fc < FC_LLC:
        return _decode_mac(data, n, ac, fc, fs, src, dst)
    raise MalformedFrame(f"unsupported frame control 0x{fc:02x}")


def _token_fault(data: bytes) -> str:
    if data[0] != SD:
        return "bad starting delimiter"
    if data[2] != ED:
        return _ed_fault(data[2])
    return "token AC has T or M set"


def _ed_fault(ed: int) -> str:
    if ed & 0xFC != ED:
        return "bad ending delimiter"
    return "ending delimiter has the I or E bit set"


def _decode_llc(data: bytes, n: int, ac: int, fs: int, src: int, dst: int) -> Frame | Marker:
    if n < _INFO + 8 + 6:
        raise MalformedFrame("LLC/SNAP header truncated")
    snap, ethertype = _LLC.unpack_from(data, _INFO)
    if snap != SNAP_HEADER:
        raise MalformedFrame("not an LLC/SNAP frame")
    if ethertype == ETHERTYPE_DATA:
        if n < _INFO + 16 + 6:
            raise MalformedFrame("data frame truncated")
        if ac & 0x07:
            raise MalformedFrame("reservation bits set on a data frame")
        frame = Frame(
            src,
            dst,
            _U64.unpack_from(data, _INFO + 8)[0],
            data[_INFO + 16 : -6],
            ac >> 5,
            ac & 0x08 != 0,
            fs & 0x80 != 0,
            fs & 0x40 != 0,
            data,  # a repeating station re-sends these octets (see _encode_frame)
        )
        return frame
    if ethertype == ETHERTYPE_MARKER:
        if n != _INFO + 12 + 6:
            raise MalformedFrame("marker INFO is not 12 octets")
        if ac != AC_FRAME or fs or dst != BROADCAST:
            raise MalformedFrame("marker AC, FS or DA not as ringemu sends them")
        return Marker(_U32.unpack_from(data, _INFO + 8)[0], src)
    raise MalformedFrame(f"unknown ethertype 0x{ethertype:04x}")


def _decode_mac(
    data: bytes, n: int, ac: int, fc: int, fs: int, src: int, dst: int
) -> MacFrame | Purge | Claim | Amp:
    end = n - 6  # INFO ends where the FCS starts
    if end - _INFO < 4:
        raise MalformedFrame("MAC major vector truncated")
    length, classes, vector = _VECTOR.unpack_from(data, _INFO)
    if length != end - _INFO:
        raise MalformedFrame("MAC major vector length does not match the frame")
    if fc != mac_attention(vector):
        raise MalformedFrame("FC attention code does not match the major vector")
    if ac != AC_FRAME or fs:
        raise MalformedFrame("MAC frame AC or FS not as ringemu sends them")
    subvectors = []
    off = _INFO + 4
    while off < end:
        sv_len = data[off]
        if sv_len < 2 or off + sv_len > end:
            raise MalformedFrame("MAC subvector truncated")
        subvectors.append((data[off + 1], data[off + 2 : off + sv_len]))
        off += sv_len
    if (
        vector == RING_PURGE
        and dst == BROADCAST
        and classes == 0
        and len(subvectors) == 1
        and subvectors[0][0] == SV_PURGE_EPOCH
        and len(subvectors[0][1]) == 4
    ):
        return Purge(src, _U32.unpack(subvectors[0][1])[0])
    if dst == BROADCAST and classes == 0 and not subvectors:
        if vector == CLAIM_TOKEN:
            return Claim(src)
        if vector == AMP:
            return Amp(src)
    return MacFrame(dst, src, vector, tuple(subvectors), classes >> 4, classes & 0x0F)
