"""ringemu's link layer: the few octets before each 802.5 message on a live ring link.

An 802.5 token has no room for anything but its three octets, yet a station must know whether a
message was sent in the ring's current epoch (before the ring was rebuilt around a dead station,
or rolled back, it was not, and it must be dropped, never counted as a token). So every message
on a ring link is ``LINK`` (one octet), the sender's epoch (four octets, big-endian), then the
802.5 octets of ``ringemu.frames.codec``. The header is the emulated physical layer's: captures
record the 802.5 octets only. The monitor's one-octet doorbell (``!``) has no header.
"""

from __future__ import annotations

from ringemu.errors import MalformedFrame

LINK = 0xEE
HEADER = 5

_HEADERS: dict[int, bytes] = {}


def header(epoch: int) -> bytes:
    """The header of a message sent in ``epoch``."""
    h = _HEADERS.get(epoch)
    if h is None:
        if not 0 <= epoch < 1 << 32:
            raise ValueError(f"epoch {epoch} does not fit the link header")
        h = _HEADERS[epoch] = bytes((LINK,)) + epoch.to_bytes(4, "big")
    return h


def split(data: bytes) -> tuple[int, bytes]:
    """(epoch, 802.5 octets) of a link message; ``MalformedFrame`` when it has no header."""
    if len(data) <= HEADER or data[0] != LINK:
        raise MalformedFrame("no ringemu link header")
    return int.from_bytes(data[1:HEADER], "big"), data[HEADER:]
