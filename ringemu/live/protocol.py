"""The messages of the live ring's side channels (never the ring link itself), as typed classes.

Ring links carry 802.5 octets only (``ringemu.frames.codec``); they always begin with the SD
octet. Everything else is a small JSON object, and each kind is a frozen class here with one
way in, ``from_wire``, which raises ``RemoteProtocolError`` and nothing else: a peer can only ever
make us parse JSON, every field is checked against its declared type (NaN and infinity are
refused), and code past this edge never sees a malformed value. No pickle anywhere.

Three families, told apart by their key:

- station -> monitor reports (``type``): ``hello``, ``linked``, ``part`` (a finished snapshot
  part), ``event`` (a core ``StationEvent``), ``stats``, ``bye``;
- monitor -> station commands (``cmd``, on the station's command socket, which admits the
  monitor alone; a one-octet doorbell on the ring link says one is waiting): ``link``, ``go``,
  ``snapshot``, ``purge``, ``inject``, ``send``, ``stats``, ``stop``, ``tap``, ``impair``;
- tool -> monitor control requests (``cmd``, on the control socket): ``inject``, ``snapshot``,
  ``status``, ``summary``, ``station_exit``, ``send``, ``stop``, ``ping``, ``interval``,
  ``capture``, ``link``; the
  monitor answers each with one JSON object (``ok``, and ``error`` when not ok).
"""

from __future__ import annotations

import functools
import json
import math
import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, TypeVar

from ringemu.core.messages import Amp, Claim, Frame, Purge, Token
from ringemu.core.snapshot import LocalSnapshot
from ringemu.core.state import StationState, wire_int
from ringemu.core.station_events import StationEvent, station_event_from_json
from ringemu.core import trace as _trace  # noqa: F401  (registers the trace event's reader)
from ringemu.errors import MalformedFrame, RemoteProtocolError
from ringemu.frames.codec import encode

MAX_MESSAGE = 1 << 20
"""Largest side-channel message accepted (a snapshot part of a big ring stays far below)."""

DOORBELL = b"!"
"""What the monitor sends into a station's ring link after it queued a command on the station's
command socket: one octet that is neither a frame (frames begin with SD) nor JSON. It carries no
authority: a station that hears it only looks at its command socket, which admits the monitor
alone, so a doorbell from anyone else at most makes it look at an empty queue. The ring link
stays one blocking ``recv`` with no poller on the free-token path, and commands still wake a
station that waits for the token."""

W = TypeVar("W", bound="Wire")


def _no_constants(name: str) -> Any:
    raise RemoteProtocolError(f"{name} is not a number JSON allows")


def loads(data: bytes) -> dict:
    """Parse one JSON object; RemoteProtocolError for anything else (NaN included)."""
    if len(data) > MAX_MESSAGE:
        raise RemoteProtocolError(f"message of {len(data)} octets is too large")
    try:
        obj = json.loads(data, parse_constant=_no_constants)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise RemoteProtocolError(f"not JSON: {e}"[:200]) from None
    if not isinstance(obj, dict):
        raise RemoteProtocolError("not a JSON object")
    return obj


_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
"""Made once: ``json.dumps`` with options builds a new encoder on every call, and every report
a station sends (a snapshot part at each marker) goes through here."""


def dumps(obj: dict) -> bytes:
    return _ENCODER.encode(obj).encode()


def _check(name: str, hint: Any, v: Any) -> Any:
    """``v`` if it matches the annotation ``hint`` (int, float, str, bool, dict, list, enums,
    and ``X | None``); RemoteProtocolError otherwise."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = typing.get_args(hint)
        if v is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
    if hint is int:
        return wire_int(v, name)
    if hint is float:
        if type(v) not in (int, float) or not math.isfinite(v):
            raise RemoteProtocolError(f"{name} must be a finite number, not {v!r}"[:200])
        return float(v)
    if hint is bool:
        if type(v) is not bool:
            raise RemoteProtocolError(f"{name} must be true or false")
        return v
    if hint is str:
        if type(v) is not str or len(v) > 4096:
            raise RemoteProtocolError(f"{name} must be a string")
        return v
    origin = typing.get_origin(hint) or hint
    if origin in (dict, list):
        if not isinstance(v, origin):
            raise RemoteProtocolError(f"{name} must be a JSON {origin.__name__}")
        return v
    raise TypeError(f"no wire check for {hint!r}")


@dataclass(frozen=True, slots=True)
class Wire:
    """Base of the side-channel messages: ``tag`` is the value of ``KEY`` that names the kind."""

    KEY: ClassVar[str] = "cmd"
    tag: ClassVar[str] = ""

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {self.KEY: self.tag}
        for f in fields(self):
            d[f.name] = getattr(self, f.name)
        return d

    def to_wire(self) -> bytes:
        return dumps(self.to_json())

    @classmethod
    def from_json(cls: type[W], d: dict) -> W:
        schema = _schema(cls)
        unknown = d.keys() - _known(cls)
        if unknown:
            names = sorted(str(k) for k in unknown)[:5]
            raise RemoteProtocolError(f"{cls.tag}: unknown field(s) {names}"[:200])
        values = {}
        for name, hint, required in schema:
            if name not in d:
                if required:
                    raise RemoteProtocolError(f"{cls.tag}: {name} is missing")
                continue
            values[name] = _check(f"{cls.tag}.{name}", hint, d[name])
        return cls(**values)


@functools.cache
def _known(cls: type) -> frozenset[str]:
    return frozenset([cls.KEY, *(name for name, _, _ in _schema(cls))])


@functools.cache
def _schema(cls: type) -> tuple[tuple[str, Any, bool], ...]:
    """(name, type, required) of each field of a wire class."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name], f.default is MISSING and f.default_factory is MISSING)
                 for f in fields(cls))


def _family(*classes: type[Wire]) -> dict[str, type[Wire]]:
    return {c.tag: c for c in classes}


def _decode(family: dict[str, type[Wire]], key: str, data: bytes | dict) -> Wire:
    d = loads(data) if isinstance(data, (bytes, bytearray)) else data
    tag = d.get(key)
    cls = family.get(tag) if isinstance(tag, str) else None
    if cls is None:
        raise RemoteProtocolError(f"unknown {key} {str(d.get(key))[:40]!r}")
    return cls.from_json(d)


# -- station -> monitor --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Report(Wire):
    KEY: ClassVar[str] = "type"
    station: int


@dataclass(frozen=True, slots=True)
class Hello(Report):
    """A station is up: where its ring link (``endpoint``) and command socket (``cmd``) are.

    ``pid`` is only compared with the pid the launcher recorded in ``ring.json``; the monitor
    never signals a pid taken from a message."""

    tag: ClassVar[str] = "hello"
    pid: int
    endpoint: str
    cmd: str
    tap: str | None = None
    """Where copies of what the station receives are published for ``ringemu capture``."""
    t: float | None = None
    """The station's ``CLOCK_MONOTONIC`` when it said hello: a first estimate of its clock's
    offset when it runs on another host."""


@dataclass(frozen=True, slots=True)
class Linked(Report):
    tag: ClassVar[str] = "linked"


@dataclass(frozen=True, slots=True)
class Stats(Report):
    tag: ClassVar[str] = "stats"
    t: float
    mode: str
    stats: dict
    send_dropped: int = 0
    bad_commands: int = 0
    queue: int = 0
    armed: dict = field(default_factory=dict)
    refused: dict = field(default_factory=dict)
    """Connections to the station's sockets refused in the handshake, by socket role."""
    zap_denied: int = 0
    """Of those, the ones its ZAP handler said no to (a CURVE key not admitted there)."""
    tapped: int = 0
    """Copies of received octets offered to live capture readers (``ringemu capture``)."""
    tap_dropped: int = 0
    """Of those, the ones dropped because a reader's queue was full (the ring never waits)."""
    link: dict = field(default_factory=dict)
    """The station's outgoing link layer: its counters (``LinkStats``) and copies waiting."""

    def counter(self, name: str) -> int:
        v = self.stats.get(name, 0)
        return v if type(v) is int and v >= 0 else 0

    def refused_on(self, role: str) -> int:
        v = self.refused.get(role, 0)
        return v if type(v) is int and v >= 0 else 0


@dataclass(frozen=True, slots=True)
class Bye(Stats):
    tag: ClassVar[str] = "bye"


@dataclass(frozen=True, slots=True)
class EventReport(Report):
    """A station's ``StationEvent``."""

    tag: ClassVar[str] = "event"
    event: StationEvent

    def to_json(self) -> dict[str, Any]:
        return {"type": self.tag, **self.event.to_json()}

    @classmethod
    def from_json(cls, d: dict) -> EventReport:
        ev = station_event_from_json(d)
        return cls(ev.station, ev)


@dataclass(frozen=True, slots=True)
class Part(Report):
    """A station's finished snapshot part; recorded messages travel as their 802.5 octets."""

    tag: ClassVar[str] = "part"
    part: LocalSnapshot

    def to_json(self) -> dict[str, Any]:
        p = self.part
        return {"type": self.tag, "station": self.station, "sid": p.snapshot_id,
                "state": p.state.to_json(),
                "channels": {str(k): [encode(m).hex() for m in v] if v else []
                             for k, v in p.channels.items()}}

    @classmethod
    def from_json(cls, d: dict) -> Part:

        station = wire_int(d.get("station"), "station", 0)
        channels_in = d.get("channels")
        if not isinstance(channels_in, dict):
            raise RemoteProtocolError("part: channels must be an object")
        channels: dict[int, list] = {}
        for k, msgs in channels_in.items():
            recorded = decode_recorded(msgs)
            try:
                channels[int(k)] = recorded
            except ValueError:
                raise RemoteProtocolError(f"part: channel {k!r} is not a station") from None
        state = StationState.from_json(d.get("state"))
        sid = wire_int(d.get("sid"), "sid", 0)
        return cls(station, LocalSnapshot(sid, station, state, channels))


@dataclass(frozen=True, slots=True)
class Installed(Report):
    """The station took ring epoch ``epoch`` (an ``Install``)."""

    tag: ClassVar[str] = "installed"
    epoch: int


@dataclass(frozen=True, slots=True)
class Resumed(Report):
    """After a rollback the station sent again what was in transit (a ``Resume``)."""

    tag: ClassVar[str] = "resumed"
    epoch: int


RECORDED = (Token, Frame, Purge, Claim, Amp)
"""What a snapshot records in transit: every ring message but a marker."""


def decode_recorded(msgs: object) -> list:
    """Recorded ring messages from their octets in hex; RemoteProtocolError otherwise."""
    from ringemu.frames.codec import decode

    if not isinstance(msgs, list) or len(msgs) > 100_000:
        raise RemoteProtocolError("recorded messages must be a list")
    try:
        recorded = [decode(bytes.fromhex(m)) for m in msgs]
    except (TypeError, ValueError, MalformedFrame) as e:
        raise RemoteProtocolError(f"bad recorded message: {e}"[:200]) from None
    if any(type(m) not in RECORDED for m in recorded):
        raise RemoteProtocolError("only tokens, frames, purges, claims and AMPs are recorded")
    return recorded


REPORTS = _family(Hello, Linked, Stats, Bye, EventReport, Part, Installed, Resumed)


def decode_report(data: bytes) -> Report:
    return _decode(REPORTS, "type", data)  # type: ignore[return-value]


# -- monitor -> station --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Command(Wire):
    pass


@dataclass(frozen=True, slots=True)
class Link(Command):
    """Connect the ring link to ``next``; over tcp ``key`` is that station's public key."""

    tag: ClassVar[str] = "link"
    next: str
    key: str | None = None


@dataclass(frozen=True, slots=True)
class Go(Command):
    tag: ClassVar[str] = "go"


@dataclass(frozen=True, slots=True)
class StartSnapshot(Command):
    tag: ClassVar[str] = "snapshot"
    sid: int


@dataclass(frozen=True, slots=True)
class StartPurge(Command):
    tag: ClassVar[str] = "purge"


@dataclass(frozen=True, slots=True)
class Inject(Command):
    tag: ClassVar[str] = "inject"
    kind: str


@dataclass(frozen=True, slots=True)
class Send(Command):
    tag: ClassVar[str] = "send"
    dst: int
    payload: str | None = None
    size: int | None = None


@dataclass(frozen=True, slots=True)
class AskStats(Command):
    tag: ClassVar[str] = "stats"


@dataclass(frozen=True, slots=True)
class Stop(Command):
    tag: ClassVar[str] = "stop"


@dataclass(frozen=True, slots=True)
class SetTimers(Command):
    """The station's timers, scaled to the measured rotation (``StationTimers``), seconds."""

    tag: ClassVar[str] = "timers"
    valid_transmission: float
    no_token: float
    claim_retry: float
    short_gaps_within: float


@dataclass(frozen=True, slots=True)
class Install(Command):
    """Take part in ring epoch ``epoch`` between ``upstream`` and ``downstream`` (whose ring link
    is ``next``, ``key`` its public key over tcp). For a rollback, ``restore`` is the state to
    take again and ``resend`` the 802.5 octets (hex) to send again on ``Resume``."""

    tag: ClassVar[str] = "install"
    epoch: int
    upstream: int
    downstream: int
    members: list
    active_monitor: bool
    next: str
    key: str | None = None
    monitor_present: bool = True
    restore: dict | None = None
    resend: list | None = None


@dataclass(frozen=True, slots=True)
class Impair(Command):
    """Impair the station's outgoing link from now on (``Impairment.to_json``; None: no
    impairment)."""

    tag: ClassVar[str] = "impair"
    impairment: dict | None = None


@dataclass(frozen=True, slots=True)
class StopTraffic(Command):
    """Generate no more payloads (the run drains)."""

    tag: ClassVar[str] = "drain"


@dataclass(frozen=True, slots=True)
class Resume(Command):
    tag: ClassVar[str] = "resume"
    epoch: int


@dataclass(frozen=True, slots=True)
class TraceRequest(Command):
    """Report your trace of snapshot ``sid`` (``ringemu.core.trace``); ``since`` is on the
    station's clock."""

    tag: ClassVar[str] = "trace"
    sid: int
    since: float


@dataclass(frozen=True, slots=True)
class Tap(Command):
    """Publish (``on``) or stop publishing copies of what arrives on the ring link."""

    tag: ClassVar[str] = "tap"
    on: bool


COMMANDS = _family(Link, Go, StartSnapshot, StartPurge, Inject, Send, AskStats, Stop,
                   SetTimers, Install, Resume, StopTraffic, TraceRequest, Tap, Impair)


def decode_command(data: bytes) -> Command:
    return _decode(COMMANDS, "cmd", data)  # type: ignore[return-value]


# -- tool -> monitor ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Request(Wire):
    pass


@dataclass(frozen=True, slots=True)
class InjectRequest(Request):
    tag: ClassVar[str] = "inject"
    kind: str
    station: int | None = None
    arg: float | None = None
    at: float | None = None
    active_monitor: bool = False
    """Aim at whichever station is the active monitor now (``station`` must then be null)."""


@dataclass(frozen=True, slots=True)
class ScheduleRequest(Request):
    """Faults to inject at their times (``at``: seconds after the ring came up), fired by the
    monitor from its own loop: a client's round trip per fault would stretch faults meant to
    come within milliseconds of each other. Each item has InjectRequest's fields."""

    tag: ClassVar[str] = "schedule"
    faults: list

    MAX_FAULTS: ClassVar[int] = 100_000

    def items(self) -> list[InjectRequest]:
        """Each fault checked as an inject request (``at`` required); RemoteProtocolError."""
        if len(self.faults) > self.MAX_FAULTS:
            raise RemoteProtocolError(f"schedule: at most {self.MAX_FAULTS} faults")
        out = []
        for i, item in enumerate(self.faults):
            if not isinstance(item, dict) or "cmd" in item:
                raise RemoteProtocolError(f"schedule: fault {i} must be an object of "
                                          "kind, station, arg and at")
            req = InjectRequest.from_json({"cmd": InjectRequest.tag, **item})
            if req.at is None or req.at < 0:
                raise RemoteProtocolError(f"schedule: fault {i} needs a time at >= 0")
            out.append(req)
        return out


@dataclass(frozen=True, slots=True)
class SnapshotRequest(Request):
    tag: ClassVar[str] = "snapshot"
    station: int | None = None


@dataclass(frozen=True, slots=True)
class StatusRequest(Request):
    tag: ClassVar[str] = "status"


@dataclass(frozen=True, slots=True)
class SummaryRequest(Request):
    """The run summary; ``final`` once the run has drained (undelivered payloads are then
    lost, not in flight)."""

    tag: ClassVar[str] = "summary"
    final: bool = False


@dataclass(frozen=True, slots=True)
class DrainRequest(Request):
    """Stop generating payloads everywhere, so those on their way can be delivered."""

    tag: ClassVar[str] = "drain"


@dataclass(frozen=True, slots=True)
class StationExit(Request):
    tag: ClassVar[str] = "station_exit"
    station: int
    status: int | None = None


@dataclass(frozen=True, slots=True)
class SendRequest(Request):
    tag: ClassVar[str] = "send"
    src: int
    dst: int
    payload: str | None = None
    size: int | None = None


@dataclass(frozen=True, slots=True)
class StopRequest(Request):
    tag: ClassVar[str] = "stop"


@dataclass(frozen=True, slots=True)
class Ping(Request):
    tag: ClassVar[str] = "ping"


@dataclass(frozen=True, slots=True)
class IntervalRequest(Request):
    tag: ClassVar[str] = "interval"
    seconds: float


@dataclass(frozen=True, slots=True)
class RestartRequest(Request):
    """Bring dead station ``station`` back (the launcher starts its process again)."""

    tag: ClassVar[str] = "restart"
    station: int


@dataclass(frozen=True, slots=True)
class RestartsRequest(Request):
    """The launcher asks which stations it should start again."""

    tag: ClassVar[str] = "restarts"


@dataclass(frozen=True, slots=True)
class CaptureRequest(Request):
    """A live capture reader (``ringemu capture``) takes or renews (``on``) or gives up its
    lease on the stations' taps; ``client`` names the reader, ``stations`` limits the taps it
    wants (None: all). The reply gives each wanted station's tap endpoint."""

    tag: ClassVar[str] = "capture"
    client: str
    on: bool = True
    stations: list | None = None


@dataclass(frozen=True, slots=True)
class LinkRequest(Request):
    """Impair link ``station`` (station ``station``'s outgoing link; None: every link) from
    now on with ``impairment`` (``Impairment.to_json``; None: clear it)."""

    tag: ClassVar[str] = "link"
    station: int | None = None
    impairment: dict | None = None


REQUESTS = _family(InjectRequest, ScheduleRequest, SnapshotRequest, StatusRequest, SummaryRequest,
                   StationExit,
                   SendRequest, StopRequest, Ping, IntervalRequest, RestartRequest,
                   RestartsRequest, DrainRequest, CaptureRequest, LinkRequest)


def decode_request(data: bytes) -> Request:
    return _decode(REQUESTS, "cmd", data)  # type: ignore[return-value]


def reply(ok: bool = True, error: str | None = None, **values: Any) -> dict[str, Any]:
    """A control reply: ``ok``, ``error`` when not ok, and the values asked for."""
    d: dict[str, Any] = {"ok": ok}
    if error is not None:
        d["error"] = error
    d.update(values)
    return d
