"""Live capture readers' leases on the stations' taps, and the taps the monitor turns on.

A reader (``ringemu capture``) asks with a ``capture`` control request and renews it every
second; a lease not renewed for ``LEASE_S`` seconds (the reader died) ends by itself. A station
taps (publishes copies of what it receives, ``ringemu.live.tap``) while some lease wants it,
so a ring nobody captures publishes nothing.
"""

from __future__ import annotations

from ringemu.live.tap import LEASE_S

MAX_READERS = 64
"""Leases held at once; a tool that leaks them gets an error, not a monitor that grows."""


class TapLeases:
    """The readers' leases: client name -> (expiry, stations wanted or None for all)."""

    def __init__(self) -> None:
        self.leases: dict[str, tuple[float, frozenset[int] | None]] = {}

    def renew(self, client: str, stations: frozenset[int] | None, now: float) -> bool:
        """Take or renew ``client``'s lease; False when too many readers hold one."""
        self.expire(now)
        if client not in self.leases and len(self.leases) >= MAX_READERS:
            return False
        self.leases[client] = (now + LEASE_S, stations)
        return True

    def give_up(self, client: str) -> None:
        self.leases.pop(client, None)

    def expire(self, now: float) -> None:
        for client in [c for c, (until, _) in self.leases.items() if until < now]:
            del self.leases[client]

    def wants(self, station: int) -> bool:
        return any(s is None or station in s for _, s in self.leases.values())
