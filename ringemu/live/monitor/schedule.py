"""When the live monitor starts its next snapshot, and how long one may take.

The interval can change while the ring runs (``interval`` control request, 0 turns periodic
snapshots off). The deadline floor follows the ring: a snapshot may take at least four
rotations (measured from the hop rate, or guessed before the ring has turned), so a big ring's
snapshots are not called INCOMPLETE just for being slow.
"""

from __future__ import annotations

INITIAL_HOP_GUESS = 0.002
"""Seconds a hop is assumed to take before the ring's rate has been measured."""


class SnapshotSchedule:
    def __init__(self, interval: float, min_deadline: float, stations: int) -> None:
        self.interval = interval
        self.min_deadline = min_deadline
        self.stations = stations
        self.next_at = float("inf")

    def start(self, now: float) -> None:
        """The ring is up: the first snapshot at once (time to first verdict is a figure)."""
        self.next_at = now if self.interval > 0 else float("inf")

    def due(self, now: float) -> bool:
        """True (and the next one scheduled) when a periodic snapshot is due."""
        if now < self.next_at:
            return False
        self.next_at = max(self.next_at + self.interval, now)
        return True

    def set_interval(self, seconds: float, now: float) -> None:
        self.interval = seconds
        self.next_at = now + seconds if seconds > 0 else float("inf")

    def deadline_floor(self, hop_rate: float | None) -> float:
        """The least time a snapshot may take: the configured floor, and four rotations."""
        rotation = (self.stations / hop_rate if hop_rate
                    else INITIAL_HOP_GUESS * self.stations)
        return max(self.min_deadline, 4.0 * rotation)
