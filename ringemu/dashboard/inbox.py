"""The dashboard's one coalescing layer: a thread-safe buffer between its sources and its UI.

A source's reader thread ``put``s events as they arrive, at whatever rate the ring makes them;
the app's one repaint timer ``take``s everything waiting, folds it into ``RingState`` and
repaints once. So however fast events come, the UI does one fold and at most one repaint per
tick, and the reader never waits for the UI (a put is one lock and a list append), so a busy
screen never slows the ring's event stream.

A ``stations`` event carries every station's full state and supersedes the one before it, so a
new one replaces an older one still waiting here (its place in the order is dropped, the new one
goes at the end): a burst of them costs one fold.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

SUPERSEDING = "stations"
"""The event kind whose newest instance makes the older ones worthless."""


class Inbox:
    """See the module docstring. ``put`` from any thread, ``take`` from the UI thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[dict | None] = []
        self._superseding_at: int | None = None  # index of the waiting ``stations`` event
        self.received = 0
        """Events put here so far."""
        self.dropped = 0
        """``stations`` events dropped because a newer one came before they were taken."""

    def put(self, events: Iterable[dict]) -> None:
        """Add ``events`` (oldest first)."""
        with self._lock:
            for e in events:
                if e.get("event") == SUPERSEDING:
                    if self._superseding_at is not None:
                        self._pending[self._superseding_at] = None
                        self.dropped += 1
                    self._superseding_at = len(self._pending)
                self._pending.append(e)
                self.received += 1

    def take(self, limit: int | None = None) -> list[dict]:
        """The events waiting, oldest first (at most ``limit`` places' worth); the rest stay."""
        with self._lock:
            if limit is None or limit >= len(self._pending):
                taken, self._pending = self._pending, []
                self._superseding_at = None
            else:
                taken, self._pending = self._pending[:limit], self._pending[limit:]
                if self._superseding_at is not None:
                    at = self._superseding_at - limit
                    self._superseding_at = at if at >= 0 else None
        return [e for e in taken if e is not None]

    def __len__(self) -> int:
        """Places waiting (a dropped event's place counts until it is taken)."""
        with self._lock:
            return len(self._pending)
