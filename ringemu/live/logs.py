"""Logging that a flood cannot drown: what happens a thousand times a second is said once in
a while, with how many times it was held back (a stranger's junk, a fuzzer, a broken peer)."""

from __future__ import annotations

import logging
import time

LOG_EVERY_S = 10.0


class Throttle:
    """Say something at most once every ``every`` seconds per topic, with what was held back."""

    def __init__(self, every: float = LOG_EVERY_S, logger: logging.Logger | None = None) -> None:
        self.every = every
        self.log = logger or logging.getLogger("ringemu.live")
        self.last: dict[str, float] = {}
        self.held: dict[str, int] = {}

    def warn(self, topic: str, message: str, *args) -> None:
        now = time.monotonic()
        if now - self.last.get(topic, float("-inf")) < self.every:
            self.held[topic] = self.held.get(topic, 0) + 1
            return
        held = self.held.pop(topic, 0)
        self.last[topic] = now
        self.log.warning(message + (f" (and {held} more like it)" if held else ""), *args)
