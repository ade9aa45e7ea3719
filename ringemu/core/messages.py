"""What travels on a ring link, as the core sees it.

These are plain objects, not bytes: the simulator moves them as they are, and the station
processes turn them into 802.5 octets with ``ringemu.frames.codec``. Stations are addressed by
their ring index (0..N-1); the codec maps an index to a MAC address.

Four kinds of message cross a link:

- ``Token``: the free token (802.5 ``SD AC ED`` with T=0).
- ``Frame``: a busy frame (the token a station captured) carrying a payload from ``src`` to
  ``dst``; it goes all the way round and its source strips it.
- ``Marker``: a Chandy-Lamport snapshot marker. It travels on the same FIFO link as tokens.
- ``Purge``: an 802.5 Ring Purge MAC frame sent by the active monitor to recover the ring.
- ``Claim``: an 802.5 Claim Token MAC frame: a standby monitor that hears no token and no active
  monitor claims the role; the highest address wins.
- ``Amp``: an 802.5 Active Monitor Present MAC frame: the active monitor says it is alive while
  the ring is silent, so the standbys do not claim its role.

``Garbled`` stands for octets that would fail validation on receipt (bad FCS, bad delimiter):
the simulator carries it where the live ring carries the damaged bytes, so both shells reach the
same "drop and count" path.

Tokens and frames are "token units": a snapshot counts them. Markers, purges, claims and AMPs
carry no token.

Every message is immutable. A station that changes a frame's bits as it repeats it (the A and C
bits of FS, the M bit of AC) sends a new ``Frame``; so a message a snapshot recorded in transit
stays exactly as it was recorded, which a rollback relies on when it sends it again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

BROADCAST = -1
"""``Frame.dst`` for a frame addressed to every station (802.5 ``C0:00:FF:FF:FF:FF``)."""


class MessageKind(StrEnum):
    """Short names of the message kinds, as used in reports and JSON."""

    TOKEN = "token"
    FRAME = "frame"
    MARKER = "marker"
    PURGE = "purge"
    CLAIM = "claim"
    AMP = "amp"
    GARBLED = "garbled"


@dataclass(frozen=True, slots=True)
class Token:
    """The free token. ``FREE_TOKEN`` is the one instance stations pass around."""

    priority: int = 0
    reservation: int = 0
    kind = MessageKind.TOKEN


FREE_TOKEN = Token()


@dataclass(frozen=True, slots=True)
class Frame:
    """A busy frame: a captured token carrying ``payload`` from ``src`` to ``dst``.

    ``monitor`` is the AC M bit (set by the active monitor as it repeats the frame),
    ``recognized`` and ``copied`` the FS A and C bits (set by the destination).
    """

    src: int
    dst: int
    seq: int
    payload: bytes = b""
    priority: int = 0
    monitor: bool = False
    recognized: bool = False
    copied: bool = False
    wire: bytes | None = field(default=None, compare=False, repr=False)
    """The octets this frame was decoded from, if it was (the codec's business: a station that
    repeats a frame sends them again, patching only AC and FS, which the FCS does not cover)."""
    kind = MessageKind.FRAME

    def monitored(self) -> Frame:
        """The frame as the active monitor repeats it: M bit set."""
        return Frame(self.src, self.dst, self.seq, self.payload, self.priority, True,
                     self.recognized, self.copied, self.wire)

    def copied_by_destination(self) -> Frame:
        """The frame as its destination repeats it: address recognised, frame copied."""
        return Frame(self.src, self.dst, self.seq, self.payload, self.priority, self.monitor,
                     True, True, self.wire)

    def __repr__(self) -> str:
        flags = "".join(
            c for c, on in (("M", self.monitor), ("A", self.recognized), ("C", self.copied)) if on
        )
        return (f"Frame({self.src}->{self.dst} seq={self.seq} {len(self.payload)}B"
                + (f" {flags}" if flags else "") + ")")


@dataclass(frozen=True, slots=True)
class Marker:
    """Chandy-Lamport marker of snapshot ``snapshot_id``, started by station ``initiator``."""

    snapshot_id: int
    initiator: int
    kind = MessageKind.MARKER


@dataclass(frozen=True, slots=True)
class Purge:
    """802.5 Ring Purge sent by the active monitor ``origin``; ``number`` counts its purges."""

    origin: int
    number: int
    kind = MessageKind.PURGE


@dataclass(frozen=True, slots=True)
class Claim:
    """802.5 Claim Token sent by standby monitor ``src`` (its own address decides)."""

    src: int
    kind = MessageKind.CLAIM


@dataclass(frozen=True, slots=True)
class Amp:
    """802.5 Active Monitor Present from the active monitor ``src``."""

    src: int
    kind = MessageKind.AMP


@dataclass(frozen=True, slots=True)
class Garbled:
    """A message damaged in transit (``reason`` says how); receivers drop it and count it."""

    original: object
    reason: str = "bad FCS"
    kind = MessageKind.GARBLED


Message = Token | Frame | Marker | Purge | Claim | Amp | Garbled
TOKEN_UNITS = (Token, Frame)
"""The message types a snapshot counts as a token."""


def is_token_unit(msg: object) -> bool:
    t = type(msg)
    return t is Token or t is Frame
