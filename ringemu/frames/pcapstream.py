"""A pcap stream written as it goes: for live capture to a pipe (``ringemu capture -w -``).

The same format as ``CaptureWriter`` (link type 6, nanosecond timestamps, records from
``codec.capture_record``), but written straight with ``struct`` to any binary file object and
flushed when the caller says, so Wireshark or tshark reading the other end of a pipe sees each
batch at once. scapy is not needed here (a reader keeping up with a ring must not spend its
time in scapy's writer); ``tests/test_live_capture.py`` reads the result back with scapy and
tshark.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

LINKTYPE_IEEE802_5 = 6
MAGIC_NS = 0xA1B23C4D
"""pcap's magic number for nanosecond timestamps."""
SNAPLEN = 65535
_GLOBAL = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")


class PcapStream:
    """Records to ``out`` (a binary file object); ``written`` counts them."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.written = 0
        out.write(_GLOBAL.pack(MAGIC_NS, 2, 4, 0, 0, SNAPLEN, LINKTYPE_IEEE802_5))

    def write(self, record: bytes, time_ns: int) -> None:
        sec, nsec = divmod(time_ns, 1_000_000_000)
        n = len(record)
        self.out.write(_RECORD.pack(sec, nsec, n, n) + record)
        self.written += 1

    def flush(self) -> None:
        self.out.flush()
