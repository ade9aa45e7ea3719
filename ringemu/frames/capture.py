"""Write ring traffic to a pcap file that Wireshark and tshark read as Token Ring.

Link type 6 (``LINKTYPE_IEEE802_5``); each record is ``codec.capture_record(msg)``: a frame from
AC to the end of INFO, a free token as the 15-octet pseudo-record ``AC 80 00..00`` (tshark
marks every record under 15 octets malformed; filter tokens with ``tr.frame == 0``), and
nothing for a ``Garbled`` message, which is counted in ``skipped`` instead. ``docs/frames.md``
says why. Timestamps keep nanoseconds, because simulated hops can be closer than a microsecond.

scapy is imported here only for its pcap writer; nothing on the station hot path imports this
module. Read captures back with ``scapy.utils.rdpcap`` after importing ``ringemu.frames.layers``.
"""

from __future__ import annotations

import os

from scapy.data import DLT_IEEE802
from scapy.utils import RawPcapWriter

from ringemu.frames.codec import capture_record


class CaptureWriter:
    """A pcap file of ring messages; ``written`` and ``skipped`` count the messages given."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.written = 0
        self.skipped = 0
        self._pcap = RawPcapWriter(self.path, linktype=DLT_IEEE802, nano=True)
        self._pcap.write_header(None)  # a capture with no records is still a valid file

    def write(self, msg: object, timestamp: float) -> None:
        """Append ``msg`` seen at ``timestamp`` (seconds, epoch or simulated)."""
        record = capture_record(msg)
        if record is None:
            self.skipped += 1
            return
        sec, nsec = divmod(round(timestamp * 1_000_000_000), 1_000_000_000)
        self._pcap.write_packet(record, sec=sec, usec=nsec)
        self.written += 1

    def close(self) -> None:
        self._pcap.close()

    def __enter__(self) -> CaptureWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
