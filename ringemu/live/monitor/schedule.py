"""How long a live ring's snapshot may take before silent stations are reported.

A snapshot may take at least four rotations (measured from the hop rate, or guessed before the
ring has turned), and never less than the configured floor, so a big ring's snapshots are not
called INCOMPLETE just for being slow.
"""

from __future__ import annotations

INITIAL_HOP_GUESS = 0.002
"""Seconds a hop is assumed to take before the ring's rate has been measured."""


def deadline_floor(configured: float, stations: int, hop_rate: float | None) -> float:
    """The least time a snapshot may take: the configured floor, and four rotations."""
    rotation = stations / hop_rate if hop_rate else INITIAL_HOP_GUESS * stations
    return max(configured, 4.0 * rotation)
