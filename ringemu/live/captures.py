"""Merging the per-station captures of a live ring into one pcap.

Each station writes what it receives to its own file (no extra message per hop, no shared
writer); when the ring stops the launcher merges them by timestamp into the run folder's
``capture.pcap``. scapy reads and writes the files, as it does everywhere captures are made.
"""

from __future__ import annotations

import heapq
from pathlib import Path
from typing import Iterable, Iterator

from scapy.data import DLT_IEEE802
from scapy.utils import RawPcapReader, RawPcapWriter


def _records(path: Path) -> Iterator[tuple[int, bytes]]:
    try:
        reader = RawPcapReader(str(path))
    except Exception:  # noqa: BLE001 - an empty or cut-short file from a killed station
        return
    scale = 1 if getattr(reader, "nano", False) else 1000
    with reader:
        try:
            for pkt, meta in reader:
                yield meta.sec * 1_000_000_000 + meta.usec * scale, pkt
        except EOFError:
            return


def merge_captures(parts: Iterable[Path], out: Path) -> int:
    """Merge pcap files by timestamp into ``out``; returns the number of records written."""
    writer = RawPcapWriter(str(out), linktype=DLT_IEEE802, nano=True)
    writer.write_header(None)
    n = 0
    try:
        for ts, pkt in heapq.merge(*(_records(p) for p in parts), key=lambda r: r[0]):
            sec, nsec = divmod(ts, 1_000_000_000)
            writer.write_packet(pkt, sec=sec, usec=nsec)
            n += 1
    finally:
        writer.close()
    return n
