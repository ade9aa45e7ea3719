"""Readers and writers for the peer's (COS 418) Chandy-Lamport files.

The formats are ``.top``, ``.events`` and ``.snap``.

The rules follow ``SOURCE.md`` next to the vectors, because the expected snapshots only
reproduce if we read the inputs the way the peer's driver does:

- Text is split on newlines and empty (or all-blank) lines are dropped; fields are separated by
  whitespace.
- ``.top``: ``#`` lines are comments; then the server count N; then N ``<id> <tokens>`` lines;
  then ``<src> <dst>`` lines, one unidirectional FIFO channel each (a self-link is ignored).
- ``.events``: ``send <src> <dst> <k>``, ``snapshot <server>``, ``tick`` or ``tick <n>``.
  Comments are *not* allowed here: the peer's reader rejects them (a quirk we keep, so a file
  that works with us works with them).
- ``.snap``: a 1-field line is a snapshot id, 2 fields ``<server> <tokens>``, 3 fields
  ``<src> <dst> token(<k>)``. Several snapshots may share one file (our CLI output does): each
  id line starts a new one.

Every problem raises ``ConfigError`` with a single line ``FILE:LINE: what is wrong`` (or
``FILE: ...`` when no single line is to blame), because these files are written by hand and the
user needs to know where to look.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from ringemu.errors import ConfigError

_INT = re.compile(r"-?[0-9]+")
_TOKEN_MSG = re.compile(r"token\((-?[0-9]+)\)")


def byte_order(server_id: str) -> bytes:
    """Sort key for server ids: the peer sorts Go strings, i.e. byte-wise (``N1 < N10 < N2``)."""
    return server_id.encode("utf-8")


# -- data ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Where:
    """The file and 1-based line a parsed item came from, for error messages."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Topology:
    """Servers with their initial tokens (file order) and the directed channels (file order)."""

    servers: dict[str, int]
    channels: tuple[tuple[str, str], ...]
    source: str = "<topology>"

    @property
    def total_tokens(self) -> int:
        return sum(self.servers.values())

    def outgoing(self, server: str) -> list[str]:
        """Destinations of ``server``'s channels, byte-wise ascending (the marker order)."""
        return sorted((d for s, d in self.channels if s == server), key=byte_order)

    def incoming(self, server: str) -> list[str]:
        """Sources of the channels into ``server``, byte-wise ascending."""
        return sorted((s for s, d in self.channels if d == server), key=byte_order)


@dataclass(frozen=True, slots=True)
class Send:
    src: str
    dst: str
    tokens: int
    where: Where | None = None


@dataclass(frozen=True, slots=True)
class StartSnapshot:
    server: str
    where: Where | None = None


@dataclass(frozen=True, slots=True)
class Tick:
    count: int = 1
    where: Where | None = None


Event = Send | StartSnapshot | Tick


@dataclass(frozen=True, slots=True)
class Message:
    """One token message recorded as in transit on channel ``src -> dst``."""

    src: str
    dst: str
    tokens: int


@dataclass(slots=True)
class Snapshot:
    """A global snapshot: every server's token count and the in-transit messages in FIFO order."""

    id: int
    tokens: dict[str, int] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)


# -- reading ---------------------------------------------------------------------------------
def _read(path: str | Path) -> tuple[str, str]:
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{name}: is a directory, expected a file") from None
    except OSError as e:
        raise ConfigError(f"{name}: cannot read: {e.strerror or e}") from None
    try:
        return name, data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ConfigError(f"{name}:{line}: not UTF-8 text") from None


def _lines(text: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) for every non-blank line."""
    for number, line in enumerate(text.split("\n"), start=1):
        fields = line.split()
        if fields:
            yield number, fields


def _int(text: str, what: str, at: str) -> int:
    """A non-negative decimal integer, strictly (no ``+``, ``_`` or non-ASCII digits)."""
    if not _INT.fullmatch(text):
        raise ConfigError(f"{at}: {what} must be an integer, got {text!r}")
    value = int(text)
    if value < 0:
        raise ConfigError(f"{at}: {what} must not be negative, got {value}")
    return value


def _arity(fields: list[str], expected: int, usage: str, at: str) -> None:
    if len(fields) != expected:
        raise ConfigError(
            f"{at}: expected {expected} fields ({usage}), got {len(fields)}: {' '.join(fields)!r}"
        )


def parse_topology(path: str | Path) -> Topology:
    """Read a ``.top`` file."""
    name, text = _read(path)
    return parse_topology_text(text, name)


def parse_topology_text(text: str, name: str = "<topology>") -> Topology:
    servers: dict[str, int] = {}
    channels: dict[tuple[str, str], int] = {}
    count: int | None = None
    count_line = 0
    for number, fields in _lines(text):
        at = f"{name}:{number}"
        if fields[0].startswith("#"):
            continue
        if count is None:
            _arity(fields, 1, "the number of servers", at)
            count = _int(fields[0], "the number of servers", at)
            if count == 0:
                raise ConfigError(f"{at}: the number of servers must be at least 1")
            count_line = number
        elif len(servers) < count:
            _arity(fields, 2, "<server> <tokens>", at)
            server, tokens = fields[0], _int(fields[1], "the token count", at)
            if server in servers:
                raise ConfigError(f"{at}: duplicate server {server!r}")
            servers[server] = tokens
        else:
            _arity(fields, 2, "<src> <dst>", at)
            src, dst = fields
            for s in (src, dst):
                if s not in servers:
                    raise ConfigError(f"{at}: unknown server {s!r}")
            if src == dst:
                continue  # the peer ignores self-links
            if (src, dst) in channels:
                raise ConfigError(
                    f"{at}: duplicate channel {src} -> {dst} (first declared on line "
                    f"{channels[src, dst]})"
                )
            channels[src, dst] = number
    if count is None:
        raise ConfigError(f"{name}: empty topology: expected the number of servers")
    if len(servers) < count:
        raise ConfigError(
            f"{name}:{count_line}: declares {count} servers but only {len(servers)} follow"
        )
    return Topology(servers, tuple(channels), name)


def parse_events(path: str | Path, topology: Topology) -> list[Event]:
    """Read an ``.events`` file and check its names and channels against ``topology``."""
    name, text = _read(path)
    return parse_events_text(text, topology, name)


def parse_events_text(text: str, topology: Topology, name: str = "<events>") -> list[Event]:
    channels = set(topology.channels)
    events: list[Event] = []

    def known(server: str, at: str) -> str:
        if server not in topology.servers:
            raise ConfigError(f"{at}: unknown server {server!r}")
        return server

    for number, fields in _lines(text):
        at, where = f"{name}:{number}", Where(name, number)
        command = fields[0]
        if command == "send":
            _arity(fields, 4, "send <src> <dst> <tokens>", at)
            src, dst = known(fields[1], at), known(fields[2], at)
            tokens = _int(fields[3], "the token count", at)
            if (src, dst) not in channels:
                raise ConfigError(f"{at}: no channel {src} -> {dst} in {topology.source}")
            events.append(Send(src, dst, tokens, where))
        elif command == "snapshot":
            _arity(fields, 2, "snapshot <server>", at)
            events.append(StartSnapshot(known(fields[1], at), where))
        elif command == "tick":
            if len(fields) > 2:
                _arity(fields, 2, "tick [<count>]", at)
            count = _int(fields[1], "the tick count", at) if len(fields) == 2 else 1
            events.append(Tick(count, where))
        elif command.startswith("#"):
            raise ConfigError(f"{at}: unknown command {command!r} (comments are only allowed "
                              "in .top files, as in the peer's reader)")
        else:
            raise ConfigError(f"{at}: unknown command {command!r} (expected send, snapshot "
                              "or tick)")
    return events


def parse_snaps(path: str | Path) -> list[Snapshot]:
    """Read a ``.snap`` file holding one or more snapshots."""
    name, text = _read(path)
    return parse_snaps_text(text, name)


def parse_snap(path: str | Path) -> Snapshot:
    """Read a ``.snap`` file that must hold exactly one snapshot (the peer's expected files)."""
    snaps = parse_snaps(path)
    if len(snaps) != 1:
        raise ConfigError(f"{path}: expected exactly one snapshot, found {len(snaps)}")
    return snaps[0]


def parse_snaps_text(text: str, name: str = "<snap>") -> list[Snapshot]:
    snaps: list[Snapshot] = []
    seen_ids: dict[int, int] = {}
    for number, fields in _lines(text):
        at = f"{name}:{number}"
        if len(fields) == 1:
            sid = _int(fields[0], "the snapshot id", at)
            if sid in seen_ids:
                raise ConfigError(f"{at}: duplicate snapshot id {sid} (also on line "
                                  f"{seen_ids[sid]})")
            seen_ids[sid] = number
            snaps.append(Snapshot(sid))
            continue
        if not snaps:
            raise ConfigError(f"{at}: expected the snapshot id (a line with one field) first")
        snap = snaps[-1]
        if len(fields) == 2:
            server = fields[0]
            if server in snap.tokens:
                raise ConfigError(f"{at}: duplicate server {server!r} in snapshot {snap.id}")
            snap.tokens[server] = _int(fields[1], "the token count", at)
        elif len(fields) == 3:
            match = _TOKEN_MSG.fullmatch(fields[2])
            if not match:
                raise ConfigError(f"{at}: expected a message like 'token(3)', got {fields[2]!r}")
            tokens = _int(match.group(1), "the message token count", at)
            snap.messages.append(Message(fields[0], fields[1], tokens))
        else:
            raise ConfigError(f"{at}: expected 1, 2 or 3 fields (id, '<server> <tokens>' or "
                              f"'<src> <dst> token(<k>)'), got {len(fields)}")
    return snaps


# -- writing ---------------------------------------------------------------------------------
def format_snap(snap: Snapshot) -> str:
    """One snapshot in ``.snap`` form: id, servers byte-wise, then messages as stored."""
    lines = [str(snap.id)]
    lines += [f"{s} {snap.tokens[s]}" for s in sorted(snap.tokens, key=byte_order)]
    lines += [f"{m.src} {m.dst} token({m.tokens})" for m in snap.messages]
    return "\n".join(lines) + "\n"


def format_snaps(snaps: list[Snapshot]) -> str:
    """Several snapshots in id order, one blank line between them."""
    return "\n".join(format_snap(s) for s in sorted(snaps, key=lambda s: s.id))


def parse_delays(path: str | Path) -> list[int]:
    """Read a delay stream: one non-negative integer per line (blank lines are skipped).

    With the peer's vectors this is the file of Go ``rand.Intn(5)`` draws made next to them.
    """
    name, text = _read(path)
    values = []
    for number, fields in _lines(text):
        at = f"{name}:{number}"
        _arity(fields, 1, "one delay value per line", at)
        values.append(_int(fields[0], "the delay value", at))
    return values
