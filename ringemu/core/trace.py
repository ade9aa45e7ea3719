"""A station's recent messages, kept so a run report can draw a snapshot as a space-time diagram.

The textbook picture of a Chandy-Lamport snapshot has one line per process, the messages as
arrows between them and the cut drawn across. A snapshot's own record (each station's state,
where its cut passed, what each channel held) is not enough for it: the arrows need to know when
each token, frame and marker left one station and reached the next. Recording every hop of a
run would cost the hot path and fill the run folder, so each station keeps only a short ring
buffer, and only a few snapshots are drawn from it:

- the shell appends one row per input to ``HopTrace.record``: ``(t, what came in, what went
  out)``, the very objects the core took and returned (no copying, no formatting); a send the
  station made without an input (a command, a timer) has a tag such as ``"@snapshot"`` in place
  of the input; a free token the core only passed on (``PASS_FREE``) is recorded as its bare
  time ``t``, a float: no tuple a hop, which on a ring of processes sharing a CPU cost 9 % of
  the hop rate and doubled its window-to-window noise (a new tracked object every hop for the
  garbage collector and the caches);
- when the station's part of a snapshot is finished the shell calls ``cut(sid)``: the rows that
  led up to it are kept aside (the buffer moves on);
- the supervisor asks for the trace of the snapshots worth drawing (the first that counted, and
  those that raised an alarm; ``ringemu.core.supervisor``); the station answers with a
  ``Trace`` event: the rows kept at its cut and the ones that followed, up to ``POST``, or, when
  it took no part in that snapshot (the marker never reached it), its rows since the snapshot
  began.

Every row goes out as ``[dt, in, out]``: ``dt`` seconds relative to the event's ``t`` (so the
monitor's clock conversion of ``t`` carries the rows along), ``in`` and each of ``out`` a short
label (``token``, ``frame:SRC:DST:SEQ``, ``marker:SID``, ``purge:N``, ``claim:S``, ``amp:S``,
``garbled:token``; ``malformed`` for octets that failed validation; ``@tag`` for no input).
The report pairs a station's sends with the next station's receives (links are FIFO; the
snapshot's marker anchors the pairing) in ``ringemu.report.spacetime``.

Sans-I/O: times come from the shell.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, ClassVar

from ringemu.core.messages import Amp, Claim, Frame, Garbled, Marker, Purge, Token
from ringemu.core.station_events import StationEvent, register_parser
from ringemu.core.state import wire_float, wire_int
from ringemu.errors import RemoteProtocolError

SIZE = 1024
"""Rows a station keeps (the newest; about 100 kB a station: a tuple and a float per row)."""
PRE = 24
"""Rows kept at a station's cut: what led up to it."""
POST = 24
"""Rows after the cut sent with them."""
KEEP = 16
"""Snapshots whose cut rows a station keeps until they are asked for."""
MAX_ROWS = 4 * (PRE + POST)
"""The most rows a trace event may carry (a reader refuses more)."""


def label(msg: Any) -> str:
    """A short label of one ring message (see the module docstring)."""
    t = type(msg)
    if t is Token:
        return "token"
    if t is Frame:
        return f"frame:{msg.src}:{msg.dst}:{msg.seq}" + (":c" if msg.copied else "")
    if t is Marker:
        return f"marker:{msg.snapshot_id}"
    if t is Purge:
        return f"purge:{msg.number}"
    if t is Claim:
        return f"claim:{msg.src}"
    if t is Amp:
        return f"amp:{msg.src}"
    if t is Garbled:
        return "garbled:" + ("frame" if type(msg.original) is Frame else "token")
    if isinstance(msg, str):
        return msg[:40]
    return "?"


class HopTrace:
    """One station's ring buffer of recent rows; see the module docstring."""

    __slots__ = ("log", "record", "kept")

    def __init__(self, size: int = SIZE) -> None:
        self.log: deque[tuple] = deque(maxlen=size)
        self.record = self.log.append
        """``record((t, input, output))``, or ``record(t)`` for a free token passed on: the
        shell's one call per input."""
        self.kept: dict[int, list] = {}

    def cut(self, sid: int) -> None:
        """The station's part of snapshot ``sid`` is finished: keep the rows up to now."""
        log = self.log
        n = len(log)
        self.kept[sid] = [log[i] for i in range(max(0, n - PRE), n)]
        while len(self.kept) > KEEP:
            del self.kept[next(iter(self.kept))]

    def report(self, station: int, sid: int, now: float, since: float) -> Trace:
        """The ``Trace`` event of snapshot ``sid`` (see the module docstring)."""
        rows = self.kept.pop(sid, None)
        entries = list(self.log)
        if rows:
            last = rows[-1]
            for i in range(len(entries) - 1, -1, -1):
                if entries[i] is last:
                    rows = rows + entries[i + 1:i + 1 + POST]
                    break
        else:
            rows = [e for e in entries if (e if type(e) is float else e[0]) >= since][:PRE + POST]
        return Trace(station, now, sid, tuple(
            (round(e - now, 9), "token", ("token",)) if type(e) is float else
            (round(e[0] - now, 9), label(e[1]), tuple(label(m) for m in e[2])) for e in rows))


@dataclass(frozen=True, slots=True)
class Trace(StationEvent):
    """A station's rows around snapshot ``snapshot`` (see the module docstring)."""

    snapshot: int
    hops: tuple[tuple[float, str, tuple[str, ...]], ...]
    kind: ClassVar[str] = "trace"

    def to_json(self) -> dict[str, Any]:
        return {"event": self.kind, "station": self.station, "t": self.t,
                "snapshot": self.snapshot,
                "hops": [[dt, i, list(out)] for dt, i, out in self.hops]}

    @classmethod
    def parse(cls, d: dict, clock_offset: float = 0.0) -> Trace:
        """Read one trace event; RemoteProtocolError when it is not a valid one."""
        rows = d.get("hops")
        if not isinstance(rows, list) or len(rows) > MAX_ROWS:
            raise RemoteProtocolError(f"trace: hops must be a list of at most {MAX_ROWS}")
        hops = []
        for row in rows:
            if not (isinstance(row, list) and len(row) == 3 and isinstance(row[2], list)
                    and len(row[2]) <= 16):
                raise RemoteProtocolError("trace: a hop must be [dt, in, [out...]]")
            dt = wire_float(row[0], "trace dt", -3600.0, 3600.0)
            names = [row[1], *row[2]]
            if not all(isinstance(s, str) and len(s) <= 40 for s in names):
                raise RemoteProtocolError("trace: labels must be short strings")
            hops.append((dt, row[1], tuple(row[2])))
        return cls(wire_int(d.get("station"), "station", 0),
                   wire_float(d.get("t"), "t") - clock_offset,
                   wire_int(d.get("snapshot"), "snapshot", 0), tuple(hops))


register_parser(Trace.kind, Trace.parse)
