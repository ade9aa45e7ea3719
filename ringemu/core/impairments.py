"""Link impairments: what a misbehaving network does to one ring link, sans-I/O.

This kernel has no netem and a user should not need root, so ringemu impairs its own links, in
the sending station's link layer (live) or on the simulator's links, with one model: the
frozen ``Impairment`` says what a link does, and ``LinkState`` (one per link, with its own seeded
``random.Random``) decides for each message, given its size and the time the shell passes in,
whether it is dropped, duplicated, and when each copy leaves. Nothing here reads a clock.

What a link can do (each off by default)
----------------------------------------
- ``delay``, ``jitter``: every message waits ``delay`` plus a uniform draw from
  ``[-jitter, +jitter]`` (never below zero) before it leaves.
- ``loss``: each message is dropped with this probability, independently of the others.
- ``burst``: Gilbert-Elliott burst loss. The link is in a *good* or a *bad* state; before each
  message it moves from good to bad with probability ``p`` and from bad to good with probability
  ``r``; in the bad state a message is dropped with probability ``loss`` (default 1). Bursts last
  ``1/r`` messages on average, the link spends ``p/(p+r)`` of its messages in the bad state, and
  the mean loss rate is ``loss * p / (p + r)``. Independent ``loss`` applies on top.
- ``dup``: each message that is not dropped is sent twice with this probability.
- ``bandwidth``: bits per second; a message occupies the link for ``8 * size / bandwidth``
  seconds and the next one waits for it (the delay comes after).
- ``reorder``: each message leaves at once with this probability, without its delay, so it may
  overtake the messages still waiting (it needs a ``delay`` to have any effect). **Off by
  default and best left off**: Chandy-Lamport needs FIFO links; with reordering a marker may
  overtake a token, and a snapshot may then count it wrong (``Impairment.warning``).

Without ``reorder`` a link stays FIFO: a message never leaves before the one sent before it,
whatever its jitter.

Facts
-----
A link that drops or duplicates a token unit (a free token or a busy frame) changes the number of
tokens on the ring, and one that drops a marker keeps a snapshot from completing. Each such
decision is a fact of the run: ``transmit`` puts a ``LinkFault`` (``ringemu.core.station_events``)
in the sending station's outbox, with the station's logical step, so the ground-truth checker
places it exactly against every cut, as it does an injected fault. Drops and duplicates of the
other messages (purge, claim, AMP, garbled octets) change no count and are only counted
(``LinkState.stats``). A *cut* (``cut``/``heal``) drops everything the link carries to the
station downstream of it at the time of the cut.

Options and spec keys: ``Impairment.from_mapping`` reads the user's form (``delay="5ms"``,
``loss="1%"``, ``burst-loss="1%/30%"``...), with keys equal to the command-line options.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, fields
from typing import Any, Mapping

from ringemu.core.messages import Frame, Marker, Token
from ringemu.core.station_events import FaultFired, LinkFault

KEYS = ("delay", "jitter", "loss", "burst-loss", "dup", "reorder", "bandwidth")
"""The keys of ``Impairment.from_mapping``, as the command-line options are named."""

MAX_TIME = 60.0
"""The largest delay or jitter, seconds."""
MIN_BANDWIDTH = 8.0
"""The smallest bandwidth, bits per second (one octet a second)."""
MAX_BANDWIDTH = 1e12

TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "\u00b5s": 1e-6, "ns": 1e-9}
RATE_UNITS = {"bit": 1.0, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9,
              "bps": 1.0, "kbps": 1e3, "mbps": 1e6, "gbps": 1e9}
_NUMBER = re.compile(r"^\s*([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|[-+]?(?:nan|inf|infinity))"
                     r"\s*([a-z\u00b5%/]*)\s*$", re.IGNORECASE)

REORDER_WARNING = ("reordering lets a marker overtake a token on its link, so a snapshot may "
                   "count wrong (Chandy-Lamport needs FIFO links); the checker reports such "
                   "counts as wrong counts")


@dataclass(frozen=True, slots=True)
class Burst:
    """Gilbert-Elliott burst loss (see the module docstring): ``p`` good->bad, ``r``
    bad->good, ``loss`` the drop probability in the bad state."""

    p: float
    r: float
    loss: float = 1.0

    def __post_init__(self) -> None:
        for name in ("p", "r", "loss"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"burst-loss: {name} must be a finite number, not {v!r}")
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"burst-loss: {name} must be from 0 to 1 (0% to 100%), "
                                 f"not {v:g}")
        if self.r <= 0.0:
            raise ValueError("burst-loss: r (bad to good) must be above 0, or a burst never ends")

    @property
    def mean_loss(self) -> float:
        """The long-run share of messages the bursts drop."""
        return self.loss * self.p / (self.p + self.r)

    @property
    def mean_burst(self) -> float:
        """Messages a bad state lasts, on average."""
        return 1.0 / self.r

    def text(self) -> str:
        s = f"{_pct(self.p)}/{_pct(self.r)}"
        return s if self.loss == 1.0 else f"{s}/{_pct(self.loss)}"


@dataclass(frozen=True, slots=True)
class Impairment:
    """What one link does to the messages it carries (see the module docstring). Times are
    seconds, probabilities fractions, ``bandwidth`` bits per second (None: no limit). Every
    value is checked when the object is made: ValueError names the key."""

    delay: float = 0.0
    jitter: float = 0.0
    loss: float = 0.0
    burst: Burst | None = None
    dup: float = 0.0
    reorder: float = 0.0
    bandwidth: float | None = None

    def __post_init__(self) -> None:
        for key, lo, hi in (("delay", 0.0, MAX_TIME), ("jitter", 0.0, MAX_TIME),
                            ("loss", 0.0, 1.0), ("dup", 0.0, 1.0), ("reorder", 0.0, 1.0)):
            _check_number(key, getattr(self, key), lo, hi)
        if self.bandwidth is not None:
            _check_number("bandwidth", self.bandwidth, MIN_BANDWIDTH, MAX_BANDWIDTH)
        if self.burst is not None and not isinstance(self.burst, Burst):
            raise ValueError("burst-loss: expected P/R[/LOSS]")

    # -- reading -------------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        """Does this link do anything at all?"""
        return self != NONE

    def trip(self, size: int = 8) -> float:
        """What the link adds on average to the trip of a message of ``size`` octets (a free
        token with its link header is 8): its delay and its time on the wire."""
        wire = 0.0 if self.bandwidth is None else 8.0 * size / self.bandwidth
        return self.delay + wire

    def warning(self) -> str | None:
        """What the user should know before using this impairment (reordering), else None."""
        return REORDER_WARNING if self.reorder > 0 else None

    def describe(self) -> str:
        """One line, in the options' own words (``delay 5ms, jitter 1ms, loss 1%``)."""
        m = self.to_mapping()
        return ", ".join(f"{k} {v}" for k, v in m.items()) or "none"

    # -- forms ---------------------------------------------------------------------------------
    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> Impairment:
        """An impairment from the user's form: keys as the options (``delay``, ``jitter``,
        ``loss``, ``burst-loss``, ``dup``, ``reorder``, ``bandwidth``; ``_`` may stand for
        ``-``), values as on the command line (``"5ms"``, ``"200us"``, ``"1s"``; ``"1%"`` or
        ``0.01``; ``"1%/30%"`` or ``"1%/30%/50%"``; ``"10mbit"``). A time needs its unit
        (only 0 may go without). ValueError, naming the key, for anything else: an unknown
        key, a bad unit, a negative value, NaN or infinity."""
        if not isinstance(mapping, Mapping):
            raise ValueError(f"an impairment must be a table of keys, not {mapping!r}"[:200])
        values: dict[str, Any] = {}
        for raw_key, value in mapping.items():
            key = str(raw_key).strip().lower().replace("_", "-")
            if key not in KEYS:
                raise ValueError(f"unknown impairment key {str(raw_key)!r} "
                                 f"(known: {', '.join(KEYS)})"[:300])
            if value is None:
                continue
            if key in ("delay", "jitter"):
                values[key] = parse_time(key, value)
            elif key == "bandwidth":
                values[key] = parse_rate(key, value)
            elif key == "burst-loss":
                values["burst"] = parse_burst(key, value)
            else:
                values[key] = parse_fraction(key, value)
        return cls(**values)

    def to_mapping(self) -> dict[str, str]:
        """The keys that differ from no impairment, in ``from_mapping``'s form."""
        out: dict[str, str] = {}
        if self.delay:
            out["delay"] = _time_text(self.delay)
        if self.jitter:
            out["jitter"] = _time_text(self.jitter)
        if self.loss:
            out["loss"] = _pct(self.loss)
        if self.burst is not None:
            out["burst-loss"] = self.burst.text()
        if self.dup:
            out["dup"] = _pct(self.dup)
        if self.reorder:
            out["reorder"] = _pct(self.reorder)
        if self.bandwidth is not None:
            out["bandwidth"] = _rate_text(self.bandwidth)
        return out

    def to_json(self) -> dict[str, Any]:
        """Plain numbers (seconds, fractions, bits per second), for events and the wire."""
        return {"delay": self.delay, "jitter": self.jitter, "loss": self.loss,
                "burst_loss": None if self.burst is None else [self.burst.p, self.burst.r,
                                                               self.burst.loss],
                "dup": self.dup, "reorder": self.reorder, "bandwidth": self.bandwidth}

    @classmethod
    def from_json(cls, d: object) -> Impairment:
        """``to_json``'s form back; ValueError (naming the key) for anything else."""
        if not isinstance(d, dict):
            raise ValueError("an impairment must be a JSON object")
        names = {f.name for f in fields(cls)} - {"burst"} | {"burst_loss"}
        unknown = sorted(str(k) for k in set(d) - names)
        if unknown:
            raise ValueError(f"unknown impairment key(s) {unknown[:5]}"[:200])
        values = {k: v for k, v in d.items() if k != "burst_loss" and v is not None}
        burst = d.get("burst_loss")
        if burst is not None:
            if not isinstance(burst, (list, tuple)) or len(burst) not in (2, 3):
                raise ValueError("burst-loss: expected [p, r] or [p, r, loss]")
            values["burst"] = Burst(*burst)
        return cls(**values)


# -- parsing the user's values --------------------------------------------------------------------
def _check_number(key: str, v: Any, lo: float, hi: float) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"{key} must be a finite number, not {v!r}"[:200])
    if v < lo or v > hi:
        raise ValueError(f"{key} must be from {lo:g} to {hi:g}, not {v:g}")


def _split(key: str, value: Any) -> tuple[float, str]:
    """A number and its unit from ``value`` (a string, or a number from a file)."""
    if isinstance(value, bool):
        raise ValueError(f"{key}: {value!r} is not a number")
    if isinstance(value, (int, float)):
        number, unit = float(value), ""
    elif isinstance(value, str):
        m = _NUMBER.match(value)
        if m is None:
            raise ValueError(f"{key}: {value!r} is not a number with a unit"[:200])
        number, unit = float(m.group(1)), m.group(2).lower()
    else:
        raise ValueError(f"{key}: {value!r} is not a number"[:200])
    if not math.isfinite(number):
        raise ValueError(f"{key}: {value!r} is not a finite number"[:200])
    if number < 0:
        raise ValueError(f"{key}: {value!r} is negative"[:200])
    return number, unit


def parse_time(key: str, value: Any) -> float:
    """``"5ms"``, ``"200us"``, ``"1s"`` (or ``"0"``) in seconds."""
    number, unit = _split(key, value)
    if unit == "":
        if number == 0:
            return 0.0
        raise ValueError(f"{key}: {value!r} needs a unit (s, ms, us)"[:200])
    if unit not in TIME_UNITS:
        raise ValueError(f"{key}: unknown unit {unit!r} in {value!r} (s, ms, us, ns)"[:200])
    seconds = number * TIME_UNITS[unit]
    if seconds > MAX_TIME:
        raise ValueError(f"{key}: {value!r} is more than {MAX_TIME:g} s"[:200])
    return seconds


def parse_fraction(key: str, value: Any) -> float:
    """``"1%"`` or ``0.01`` (a fraction from 0 to 1)."""
    number, unit = _split(key, value)
    if unit == "%":
        number /= 100.0
    elif unit != "":
        raise ValueError(f"{key}: {value!r} is not a share (1% or 0.01)"[:200])
    if number > 1.0:
        raise ValueError(f"{key}: {value!r} is more than 100%"[:200])
    return number


def parse_rate(key: str, value: Any) -> float:
    """``"10mbit"``, ``"64kbps"``, ``"8000"`` in bits per second."""
    number, unit = _split(key, value)
    if unit not in RATE_UNITS and unit != "":
        raise ValueError(f"{key}: unknown unit {unit!r} in {value!r} "
                         f"({', '.join(RATE_UNITS)})"[:200])
    bits = number * RATE_UNITS.get(unit, 1.0)
    if not MIN_BANDWIDTH <= bits <= MAX_BANDWIDTH:
        raise ValueError(f"{key}: {value!r} must be from {MIN_BANDWIDTH:g} bit/s to "
                         f"{MAX_BANDWIDTH:g} bit/s"[:200])
    return bits


def parse_burst(key: str, value: Any) -> Burst:
    """``"P/R"`` or ``"P/R/LOSS"`` (each a share: ``1%/30%``), or a list of two or three."""
    if isinstance(value, str):
        parts: list[Any] = value.split("/")
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        raise ValueError(f"{key}: expected P/R[/LOSS], not {value!r}"[:200])
    if len(parts) not in (2, 3):
        raise ValueError(f"{key}: expected P/R[/LOSS] (good to bad, bad to good, loss in the "
                         f"bad state), not {value!r}"[:200])
    shares = [parse_fraction(key, part) for part in parts]
    try:
        return Burst(*shares)
    except ValueError as e:
        raise ValueError(str(e)) from None


def _pct(v: float) -> str:
    return f"{v * 100:.6g}%"


def _time_text(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale or unit == "us":
            return f"{seconds / scale:.6g}{unit}"
    return f"{seconds:g}s"  # pragma: no cover


def _rate_text(bits: float) -> str:
    for unit, scale in (("gbit", 1e9), ("mbit", 1e6), ("kbit", 1e3)):
        if bits >= scale:
            return f"{bits / scale:.6g}{unit}"
    return f"{bits:.6g}bit"


NONE = Impairment()
"""No impairment: the link delivers every message, at once, in order."""


# -- one link's state -----------------------------------------------------------------------------
class LinkStats:
    """What one link did: messages dropped (by loss, burst or cut), duplicated, sent out of
    order, held back (delayed or waiting for bandwidth)."""

    __slots__ = ("dropped", "duplicated", "reordered", "delayed", "cut_dropped")

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


Release = tuple[float, bool]
"""When one copy of a message leaves the link layer, and whether it keeps FIFO order."""


class LinkState:
    """One link's impairment state: the sending station's outgoing link (see the module
    docstring). ``transmit`` decides each message's fate; ``cut`` and ``heal`` take the link
    to the current downstream station down and up."""

    __slots__ = ("impairment", "rng", "bad", "last", "busy_until", "cut_to", "stats")

    def __init__(self, impairment: Impairment = NONE, rng: random.Random | None = None) -> None:
        self.impairment = impairment
        self.rng = rng if rng is not None else random.Random(0)
        self.bad = False
        """The Gilbert-Elliott state (True: bad)."""
        self.last = float("-inf")
        """When the last in-order copy leaves: none leaves before it (FIFO)."""
        self.busy_until = float("-inf")
        """When the link has finished sending what it was given (bandwidth)."""
        self.cut_to: int | None = None
        """The station the cut link led to (None: not cut)."""
        self.stats = LinkStats()

    @classmethod
    def seeded(cls, seed: int, station: int, impairment: Impairment = NONE) -> LinkState:
        """Link ``station``'s state with the run's own random source for it (both shells)."""
        return cls(impairment, random.Random(f"{seed}/link/{station}"))

    @property
    def idle(self) -> bool:
        """No impairment and no cut: the shell may bypass the link layer (once nothing waits)."""
        return self.cut_to is None and not self.impairment.active

    def set(self, impairment: Impairment) -> None:
        """Change what the link does from now on (messages already waiting keep their time)."""
        self.impairment = impairment
        if impairment.burst is None:
            self.bad = False

    # -- partitions ----------------------------------------------------------------------------
    def cut(self, station: Any, now: float) -> bool:
        """Take the link from ``station`` (a core ``Station``) to its downstream neighbour
        down; False when it is already cut. Records the fault's taking effect."""
        if self.cut_to is not None:
            return False
        self.cut_to = station.downstream
        station.outbox.append(FaultFired(station.index, now, "cut", 0, station.step()))
        return True

    def heal(self, station: Any, now: float) -> bool:
        """Bring the cut link back; False when it was not cut."""
        if self.cut_to is None:
            return False
        self.cut_to = None
        station.outbox.append(FaultFired(station.index, now, "heal", 0, station.step()))
        return True

    # -- the decision ----------------------------------------------------------------------------
    def transmit(self, msg: object, size: int, now: float, station: Any) -> tuple[Release, ...]:
        """Decide the fate of ``msg`` (``size`` octets on the wire) that ``station`` sends at
        ``now``: the release time of each copy that leaves (none: dropped; two: duplicated)
        and whether it keeps FIFO order. Token units dropped or duplicated, and markers
        dropped, are recorded as ``LinkFault`` facts in the station's outbox."""
        imp = self.impairment
        rand = self.rng.random
        cause = None
        if self.cut_to is not None and station.downstream == self.cut_to:
            cause = "cut"
            self.stats.cut_dropped += 1
        elif imp is not NONE:
            burst = imp.burst
            if burst is not None:
                if self.bad:
                    if rand() < burst.r:
                        self.bad = False
                elif rand() < burst.p:
                    self.bad = True
                if self.bad and rand() < burst.loss:
                    cause = "burst"
            if cause is None and imp.loss and rand() < imp.loss:
                cause = "loss"
        if cause is not None:
            self.stats.dropped += 1
            self._fact(msg, station, now, "drop", cause)
            return ()
        copies = 1
        if imp.dup and rand() < imp.dup:
            copies = 2
            self.stats.duplicated += 1
            self._fact(msg, station, now, "dup", "dup")
        out = []
        for _ in range(copies):
            start = now
            if imp.bandwidth is not None:
                start = max(now, self.busy_until) + 8.0 * size / imp.bandwidth
                self.busy_until = start
            if imp.reorder and rand() < imp.reorder:
                self.stats.reordered += 1
                out.append((start, False))
                continue
            at = start + imp.delay
            if imp.jitter:
                at = max(start, at + (2.0 * rand() - 1.0) * imp.jitter)
            if at < self.last:
                at = self.last
            self.last = at
            if at > now:
                self.stats.delayed += 1
            out.append((at, True))
        return tuple(out)

    def _fact(self, msg: object, station: Any, now: float, action: str, cause: str) -> None:
        t = type(msg)
        if t is Token or t is Frame:
            effect = -1 if action == "drop" else 1
            what, sid = t.kind.value, None
        elif t is Marker and action == "drop":
            effect, what, sid = 0, "marker", msg.snapshot_id  # type: ignore[attr-defined]
        else:
            return  # no count changes, no snapshot stalls: counted in ``stats`` only
        station.outbox.append(LinkFault(station.index, now, station.downstream, action, what,
                                        cause, effect, station.step(), sid))
