"""What a snapshot records of one station: its mode and what it holds, in one typed shape.

The same ``StationState`` object travels from the station's recorder to the monitor's count, the
run history, the events (``to_json``) and back out of them (``from_json``) for the checker, the
replaying dashboard and the reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ringemu.errors import RemoteProtocolError


class Mode(StrEnum):
    """A station's protocol mode (see ``ringemu.core.station``)."""

    IDLE = "idle"
    HOLDING = "holding"
    AWAITING = "awaiting"
    PURGING = "purging"


@dataclass(frozen=True, slots=True)
class StationState:
    """A station's recorded state. ``tokens`` is the token units the station itself holds (1
    while it holds the free token); ``awaiting`` is (destination, sequence) of its busy frame
    while that frame is out; ``purges`` counts the purges it completed (active monitor);
    ``at`` is the station's clock when it recorded this state (where the cut passed it) and
    ``step`` its logical clock then (``Station.step``)."""

    mode: Mode
    tokens: int = 0
    purges: int = 0
    awaiting: tuple[int, int] | None = None
    at: float = 0.0
    step: int = 0
    epoch: int = 0
    """The ring epoch the station was in."""
    queue: tuple[tuple[int, int], ...] = ()
    """Its accepted, unacknowledged payloads: (destination, number), oldest first."""

    def to_json(self) -> dict:
        d: dict[str, Any] = {"mode": self.mode.value, "tokens": self.tokens,
                             "purges": self.purges, "at": self.at, "step": self.step,
                             "epoch": self.epoch, "queue": [list(q) for q in self.queue]}
        if self.awaiting is not None:
            d["awaiting"] = list(self.awaiting)
        return d

    @classmethod
    def from_json(cls, d: object, clock_offset: float = 0.0) -> StationState:
        """Parse a recorded state; RemoteProtocolError when it is not one. ``clock_offset`` is
        subtracted from ``at`` (a station's clock to the reader's)."""
        if not isinstance(d, dict):
            raise RemoteProtocolError("a station state must be an object")
        try:
            mode = Mode(d.get("mode"))
        except ValueError:
            raise RemoteProtocolError(f"unknown mode {d.get('mode')!r}") from None
        awaiting = d.get("awaiting")
        if awaiting is not None:
            if not (isinstance(awaiting, list) and len(awaiting) == 2):
                raise RemoteProtocolError("awaiting must be [destination, sequence]")
            awaiting = (wire_int(awaiting[0], "awaiting"), wire_int(awaiting[1], "awaiting"))
        queue = d.get("queue", [])
        if not isinstance(queue, list) or len(queue) > 100_000 or not all(
                isinstance(q, list) and len(q) == 2 for q in queue):
            raise RemoteProtocolError("queue must be a list of [destination, number]")
        return cls(mode, wire_int(d.get("tokens", 0), "tokens", 0, 1_000_000),
                   wire_int(d.get("purges", 0), "purges", 0),
                   awaiting, wire_float(d.get("at", 0.0), "at") - clock_offset,
                   wire_int(d.get("step", 0), "step", 0),
                   wire_int(d.get("epoch", 0), "epoch", 0),
                   tuple((wire_int(q[0], "queue"), wire_int(q[1], "queue")) for q in queue))


def wire_int(v: object, name: str, lo: int | None = None, hi: int | None = None) -> int:
    """An integer from outside (JSON); RemoteProtocolError for anything else or out of range."""
    if type(v) is not int:
        raise RemoteProtocolError(f"{name} must be an integer, not {v!r}"[:200])
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise RemoteProtocolError(f"{name} {v} is out of range")
    return v


def wire_float(v: object, name: str, lo: float | None = None, hi: float | None = None) -> float:
    """A finite number from outside (JSON); NaN and infinity are refused."""
    if type(v) not in (int, float) or not math.isfinite(v):
        raise RemoteProtocolError(f"{name} must be a finite number, not {v!r}"[:200])
    v = float(v)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise RemoteProtocolError(f"{name} {v:g} is out of range")
    return v
