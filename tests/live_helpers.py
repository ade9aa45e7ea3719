"""Helpers of the tests that start real rings: wait for a condition, check that no process of
a ring is left."""

from __future__ import annotations

import time

from ringemu.live.launcher import LiveRing
from ringemu.live.paths import same_process


def assert_all_gone(ring: LiveRing) -> None:
    left = [r for r in ring.records if same_process(r["pid"], r.get("start_time"))]
    assert left == [], f"processes left behind: {left}"


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05):
    """The predicate's first true value, polled until ``timeout`` (generous: a loaded machine
    is slow, and these are conditions, not speed goals)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")
