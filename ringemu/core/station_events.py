"""What a station tells about itself: typed records in its outbox, events in the run history.

Each class is one event kind; ``to_json`` gives the event as it appears in ``events.jsonl`` and
the simulator's ``--events`` file, ``from_json`` reads it back (raising ``RemoteProtocolError``
only), so a station process can report them over a socket and every reader gets the same types.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any, Callable, ClassVar

from ringemu.core.state import wire_float, wire_int
from ringemu.errors import RemoteProtocolError


@dataclass(frozen=True, slots=True)
class StationEvent:
    """Base: something notable happened at ``station`` at time ``t`` (the station's clock)."""

    station: int
    t: float
    kind: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"event": self.kind}
        for f in fields(self):
            v = getattr(self, f.name)
            d[f.name] = v.value if hasattr(v, "value") else v
        return d


@dataclass(frozen=True, slots=True)
class FaultFired(StationEvent):
    """An injected fault took effect here; ``effect`` is the change in token units, ``step``
    the station's logical clock when it did (``Station.step``)."""

    fault: str
    effect: int
    step: int
    kind: ClassVar[str] = "fault_fired"


@dataclass(frozen=True, slots=True)
class PurgeStarted(StationEvent):
    """The active monitor started purge ``number``."""

    number: int
    kind: ClassVar[str] = "purge_started"


@dataclass(frozen=True, slots=True)
class PurgeDone(StationEvent):
    """Purge ``number`` came back to the active monitor, which released one fresh token."""

    number: int
    kind: ClassVar[str] = "purge_done"


@dataclass(frozen=True, slots=True)
class Absorbed(StationEvent):
    """A purge removed a token unit here (``what``: ``token`` or ``frame S->D``)."""

    what: str
    kind: ClassVar[str] = "absorbed"


@dataclass(frozen=True, slots=True)
class Orphan(StationEvent):
    """The active monitor removed a frame that went round twice (its M bit was set)."""

    src: int
    seq: int
    kind: ClassVar[str] = "orphan"


@dataclass(frozen=True, slots=True)
class Stray(StationEvent):
    """The station's own frame came back although it awaited none (or another one): it is
    stripped and replaced by a free token."""

    seq: int
    kind: ClassVar[str] = "stray"


@dataclass(frozen=True, slots=True)
class Malformed(StationEvent):
    """Octets from upstream failed validation and were dropped."""

    reason: str
    kind: ClassVar[str] = "malformed"


@dataclass(frozen=True, slots=True)
class LinkFault(StationEvent):
    """The station's outgoing link (to ``to``) dropped or duplicated a message
    (``ringemu.core.impairments``): ``action`` ``drop`` or ``dup``, ``what`` ``token``,
    ``frame`` or ``marker`` (of snapshot ``sid``), ``cause`` ``loss``, ``burst``, ``cut`` or
    ``dup``, ``effect`` the change in token units, ``step`` the station's logical clock (the
    message left after the input of that step)."""

    to: int
    action: str
    what: str
    cause: str
    effect: int
    step: int
    sid: int | None = None
    kind: ClassVar[str] = "link_fault"

    ACTIONS: ClassVar[dict[str, tuple[str, ...]]] = {
        "drop": ("loss", "burst", "cut"), "dup": ("dup",)}
    WHAT: ClassVar[tuple[str, ...]] = ("token", "frame", "marker")

    def __post_init__(self) -> None:
        """Only the facts a link can state (a station's report is checked here too), with
        the effect that follows from them."""
        causes = self.ACTIONS.get(self.action)
        if causes is None or self.cause not in causes or self.what not in self.WHAT:
            raise RemoteProtocolError(f"link_fault: no such fact {self.action} {self.what} "
                                      f"by {self.cause}"[:200])
        unit = self.what != "marker"
        want = (-1 if self.action == "drop" else 1) if unit else 0
        if self.effect != want or (not unit and self.action != "drop"):
            raise RemoteProtocolError(f"link_fault: {self.action} of a {self.what} cannot "
                                      f"change the count by {self.effect}")
        if (self.sid is None) == (self.what == "marker"):
            raise RemoteProtocolError("link_fault: sid is for dropped markers alone")


EVENT_TYPES: dict[str, type[StationEvent]] = {
    c.kind: c for c in (FaultFired, PurgeStarted, PurgeDone, Absorbed, Orphan, Stray, Malformed,
                        LinkFault)
}


def station_event_from_json(d: dict, clock_offset: float = 0.0) -> StationEvent:
    """Read one station event; RemoteProtocolError when it is not a valid one.
    ``clock_offset`` is subtracted from ``t`` (the station's clock to the reader's)."""
    kind = d.get("event")
    parse = PARSERS.get(kind) if isinstance(kind, str) else None
    if parse is not None:
        return parse(d, clock_offset)
    cls = EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise RemoteProtocolError(f"unknown station event {d.get('event')!r}"[:200])
    values: dict[str, Any] = {}
    for f in fields(cls):
        v = d.get(f.name)
        if f.name == "t":
            values["t"] = wire_float(v, "t") - clock_offset
        elif f.type in ("bool", bool):
            if v is None and f.default is not MISSING:
                values[f.name] = f.default
            elif type(v) is bool:
                values[f.name] = v
            else:
                raise RemoteProtocolError(f"{cls.kind}: {f.name} must be true or false")
        elif f.type in ("int", int):
            values[f.name] = wire_int(v, f.name)
        elif f.type == "int | None":
            values[f.name] = None if v is None else wire_int(v, f.name)
        elif isinstance(v, str) and len(v) <= 200:
            values[f.name] = v
        else:
            raise RemoteProtocolError(f"{cls.kind}: {f.name} must be a short string")
    return cls(**values)


@dataclass(frozen=True, slots=True)
class Suspicion(StationEvent):
    """Something looked wrong here (``reason``): a snapshot should look now. Never an alarm."""

    reason: str
    kind: ClassVar[str] = "suspicion"


@dataclass(frozen=True, slots=True)
class ClaimStarted(StationEvent):
    """A standby monitor heard no token and no active monitor, and claims the role."""

    kind: ClassVar[str] = "claim_started"


@dataclass(frozen=True, slots=True)
class Elected(StationEvent):
    """This station's claim came back: it is the active monitor now (it purges next)."""

    kind: ClassVar[str] = "elected"


EVENT_TYPES.update({c.kind: c for c in (Suspicion, ClaimStarted, Elected)})


PARSERS: dict[str, Callable[[dict, float], StationEvent]] = {}
"""Event kinds with fields other than numbers and short strings, and the function that reads
each (``ringemu.core.trace``)."""


def register_parser(kind: str, parse: Callable[[dict, float], StationEvent]) -> None:
    """Make an event kind with a reader of its own readable by ``station_event_from_json``."""
    PARSERS[kind] = parse


def register(*classes: type[StationEvent]) -> None:
    """Make more event kinds readable by ``station_event_from_json`` (the payload layer's)."""
    EVENT_TYPES.update({c.kind: c for c in classes})
