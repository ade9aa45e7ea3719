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

``Garbled`` stands for octets that would fail validation on receipt (bad FCS, bad delimiter):
the simulator carries it where the live ring carries the damaged bytes, so both shells reach the
same "drop and count" path.

Tokens and frames are "token units": a snapshot counts them. Markers and purges carry no token.
"""

from __future__ import annotations

BROADCAST = -1
"""``Frame.dst`` for a frame addressed to every station (802.5 ``C0:00:FF:FF:FF:FF``)."""


class Token:
    """The free token. Immutable; ``FREE_TOKEN`` is the one instance stations pass around."""

    __slots__ = ("priority", "reservation")

    def __init__(self, priority: int = 0, reservation: int = 0) -> None:
        object.__setattr__(self, "priority", priority)
        object.__setattr__(self, "reservation", reservation)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Token is immutable")

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is Token
            and self.priority == other.priority
            and self.reservation == other.reservation
        )

    def __hash__(self) -> int:
        return hash((Token, self.priority, self.reservation))

    def __repr__(self) -> str:
        if self.priority or self.reservation:
            return f"Token(priority={self.priority}, reservation={self.reservation})"
        return "Token()"


FREE_TOKEN = Token()


class Frame:
    """A busy frame: a captured token carrying ``payload`` from ``src`` to ``dst``.

    Mutable on purpose, like the bits on a real ring: the destination sets ``recognized`` and
    ``copied`` (FS A and C bits), the active monitor sets ``monitor`` (AC M bit) as it repeats.
    """

    __slots__ = ("src", "dst", "seq", "payload", "priority", "monitor", "recognized", "copied",
                 "wire")

    def __init__(
        self,
        src: int,
        dst: int,
        seq: int,
        payload: bytes = b"",
        priority: int = 0,
        monitor: bool = False,
        recognized: bool = False,
        copied: bool = False,
    ) -> None:
        self.src = src
        self.dst = dst
        self.seq = seq
        self.payload = payload
        self.priority = priority
        self.monitor = monitor
        self.recognized = recognized
        self.copied = copied
        self.wire: bytes | None = None
        """The octets this frame was decoded from, if it was (the codec's business: a station
        that repeats a frame sends them again, patching only AC and FS, which the FCS does not
        cover). Not part of equality."""

    def _key(self) -> tuple:
        return (
            self.src,
            self.dst,
            self.seq,
            self.payload,
            self.priority,
            self.monitor,
            self.recognized,
            self.copied,
        )

    def __eq__(self, other: object) -> bool:
        return type(other) is Frame and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        flags = "".join(
            c for c, on in (("M", self.monitor), ("A", self.recognized), ("C", self.copied)) if on
        )
        return (
            f"Frame({self.src}->{self.dst} seq={self.seq} {len(self.payload)}B"
            + (f" {flags}" if flags else "")
            + ")"
        )


class Marker:
    """Chandy-Lamport marker of snapshot ``snapshot_id``, started by station ``initiator``."""

    __slots__ = ("snapshot_id", "initiator")

    def __init__(self, snapshot_id: int, initiator: int) -> None:
        self.snapshot_id = snapshot_id
        self.initiator = initiator

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is Marker
            and self.snapshot_id == other.snapshot_id
            and self.initiator == other.initiator
        )

    def __hash__(self) -> int:
        return hash((Marker, self.snapshot_id, self.initiator))

    def __repr__(self) -> str:
        return f"Marker(snapshot={self.snapshot_id}, initiator={self.initiator})"


class Purge:
    """802.5 Ring Purge sent by the active monitor ``origin``; ``epoch`` numbers its purges."""

    __slots__ = ("origin", "epoch")

    def __init__(self, origin: int, epoch: int) -> None:
        self.origin = origin
        self.epoch = epoch

    def __eq__(self, other: object) -> bool:
        return type(other) is Purge and self.origin == other.origin and self.epoch == other.epoch

    def __hash__(self) -> int:
        return hash((Purge, self.origin, self.epoch))

    def __repr__(self) -> str:
        return f"Purge(origin={self.origin}, epoch={self.epoch})"


class Garbled:
    """A message damaged in transit (``reason`` says how); receivers drop it and count it."""

    __slots__ = ("original", "reason")

    def __init__(self, original: object, reason: str = "bad FCS") -> None:
        self.original = original
        self.reason = reason

    def __repr__(self) -> str:
        return f"Garbled({self.original!r}, {self.reason!r})"


Message = Token | Frame | Marker | Purge | Garbled


def kind_of(msg: object) -> str:
    """Short lowercase name of a message kind, as used in reports and JSON."""
    t = type(msg)
    if t is Token:
        return "token"
    if t is Frame:
        return "frame"
    if t is Marker:
        return "marker"
    if t is Purge:
        return "purge"
    if t is Garbled:
        return "garbled"
    raise TypeError(f"not a ring message: {msg!r}")


def summarize(msg: object) -> dict:
    """A JSON-ready description of a recorded message (what snapshot reports carry).

    Already-summarised dicts pass through, so counting code accepts either form.
    """
    if isinstance(msg, dict):
        return msg
    t = type(msg)
    if t is Token:
        return {"kind": "token", "priority": msg.priority}
    if t is Frame:
        return {"kind": "frame", "src": msg.src, "dst": msg.dst, "seq": msg.seq}
    if t is Purge:
        return {"kind": "purge", "origin": msg.origin, "epoch": msg.epoch}
    if t is Marker:
        return {"kind": "marker", "snapshot": msg.snapshot_id}
    return {"kind": kind_of(msg)}


TOKEN_UNIT_KINDS = frozenset({"token", "frame"})
"""Kinds of summarised messages that count as a token in a snapshot."""
