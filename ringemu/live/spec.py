"""A ring spec: where each part of one ring runs, read from a TOML file and checked whole.

A ring on one machine needs nothing but ``ringemu up``. A ring across hosts needs to know, on
every host and before anything starts, the address and ports of each part, the ring's options
and where its CURVE keys are. That is the spec (``ringemu spec`` writes a starting one)::

    [ring]                    # the options of 'ringemu up', same names and units
    snapshot-interval = 200   # ms
    recovery = "purge"
    [keys]
    dir = "keys"              # 'ringemu keys keys --stations 6'; relative to this file
    [hosts.a]
    address = "10.0.0.1"      # what the parts there bind and the others connect to
    ssh = "alice@lab1"        # for 'up --ssh' (default: the address)
    [monitor]
    host = "a"
    report = 7000
    control = 7001
    events = 7002
    [stations.0]
    host = "a"
    ring = 7010
    cmd = 7011

Every error (a syntax error, an unknown key or station or host, a duplicate address, a bad
value, NaN or infinity, a missing or unreadable key file) is one ``SpecError`` naming the file
and line (``ring.toml:14: ...``), raised by ``load_spec`` before anything starts. ``tomllib``
gives values without positions, so ``TomlLines`` locates each key in the text.

Link impairments (``[impairments]`` for every link, ``[links.K]`` for the link from station K
to the next, on top of ``[impairments]``) are read in one place, ``_Reader.impairments``, which
hands each table to ``ringemu.core.impairments.Impairment.from_mapping``.
"""

from __future__ import annotations

import errno
import ipaddress
import math
import os
import shlex
import socket
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ringemu.errors import ConfigError
from ringemu.live.keyfiles import KeyDir
from ringemu.live.tomllines import TomlLines
from ringemu.params import MAX_STATIONS, Recovery

PORT_MIN, PORT_MAX = 1, 65535
DEFAULT_STARTUP_TIMEOUT = 60.0
"""Seconds the monitor of a spec ring waits for every station's hello: the other hosts may be
started by hand, one after another."""


class SpecError(ConfigError):
    """An error in a spec file; its message begins with ``FILE:LINE:``."""


@dataclass(frozen=True)
class Option:
    """One key of ``[ring]``: the ``RingConfig`` field it sets and how it is checked."""

    field: str
    kind: type
    lo: float | None = None
    hi: float | None = None
    scale: float = 1.0
    choices: tuple[str, ...] = ()
    hi_open: bool = False
    help: str = ""


RING_OPTIONS: dict[str, Option] = {
    "snapshot-interval": Option("snapshot_interval", float, 0, 3_600_000, 1e-3,
                                help="ms between snapshots (0: none)"),
    "snapshot-deadline": Option("snapshot_deadline", float, 1, 3_600_000, 1e-3,
                                help="ms a snapshot may take at least"),
    "recovery": Option("recovery", str, choices=tuple(r.value for r in Recovery),
                       help="purge | rollback | none"),
    "load": Option("load", float, 0, 1, hi_open=True,
                   help="share of rotations carrying a busy frame"),
    "payload-size": Option("payload_size", int, 0, 4096, help="octets per busy frame"),
    "seed": Option("seed", int, -(2**63), 2**63 - 1),
    "active-monitor": Option("active_monitor", int, 0, MAX_STATIONS - 1,
                             help="station acting as 802.5 active monitor"),
    "suspicions": Option("suspicions", bool),
    "restart": Option("restart", bool, help="start a dead station again (on its host)"),
    "restart-delay": Option("restart_delay", float, 0, 3600, help="s"),
    "pin": Option("pin", str, choices=("none", "one", "split")),
    "startup-timeout": Option("startup_timeout", float, 1, 3600,
                              help="s the monitor waits for every station's hello"),
}
"""The ring's options in a spec: the names of ``ringemu up``'s options, in the same units."""

HOST_KEYS = ("address", "ssh", "ringemu", "spec", "runs-dir", "runtime")
MONITOR_PORTS = ("report", "control", "events")
STATION_PORTS = ("ring", "cmd")


@dataclass(frozen=True)
class HostSpec:
    name: str
    address: str
    """An IP address (a host name in the file is resolved once, when the spec is read)."""
    ssh: str
    """The ssh destination for ``up --ssh`` (``user@host`` or a Host of the user's ssh
    config); default: the address."""
    ringemu: tuple[str, ...] = ("ringemu",)
    """The command that runs ringemu on that host (split like a shell would)."""
    spec: str = ""
    """This spec's path on that host (default: the same absolute path as here)."""
    runs_dir: str | None = None
    runtime: str | None = None
    """``RINGEMU_RUNTIME`` for the parts started there over ssh."""


@dataclass(frozen=True)
class MonitorSpec:
    host: str
    address: str
    report: int
    control: int
    events: int

    def endpoints(self) -> dict[str, str]:
        return {role: tcp(self.address, getattr(self, role)) for role in MONITOR_PORTS}


@dataclass(frozen=True)
class StationSpec:
    index: int
    host: str
    address: str
    ring: int
    cmd: int

    @property
    def ring_endpoint(self) -> str:
        return tcp(self.address, self.ring)

    @property
    def cmd_endpoint(self) -> str:
        return tcp(self.address, self.cmd)


@dataclass(frozen=True)
class Placement:
    """Where the parts of a spec ring are, as the monitor and station processes need it (the
    launcher hands it over in memory; no process reads the spec file itself)."""

    monitor: dict[str, str]
    """The monitor's endpoints by role (``report``, ``control``, ``events``)."""
    stations: dict[int, tuple[str, str]]
    """Each station's ring and command endpoints."""
    addresses: frozenset[str]
    """Every address of the spec: the only ones besides loopback a process may connect to."""
    launched_here: frozenset[int] = frozenset()
    """Stations the monitor's own launcher starts (their pids are in its ``ring.json``; the
    monitor may signal those, and only those)."""
    same_clock: frozenset[int] = frozenset()
    """Stations on the monitor's host, which read the monitor's ``CLOCK_MONOTONIC``; the
    others' times are moved onto it by an estimated offset."""


def tcp(address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"tcp://{host}:{port}"


@dataclass
class RingSpec:
    path: Path
    lines: TomlLines
    hosts: dict[str, HostSpec]
    monitor: MonitorSpec
    stations: list[StationSpec]
    options: dict[str, Any]
    """``RingConfig`` fields set by ``[ring]`` (in seconds, like the fields)."""
    startup_timeout: float
    keys: KeyDir
    ssh_options: tuple[str, ...] = ()
    impairments: dict[int | None, Any] = field(default_factory=dict)
    """Link impairments by link (the station it leaves; None: every link)."""
    shown: str = ""
    """The file as the user named it, for messages (``path`` is absolute)."""

    # -- where ------------------------------------------------------------------------------------
    def where(self, *path: str | int) -> str:
        line = self.lines.line(*path)
        name = self.shown or str(self.path)
        return f"{name}:{line}" if line is not None else name

    def error(self, message: str, *path: str | int) -> SpecError:
        return SpecError(f"{self.where(*path)}: {message}")

    def station(self, k: int) -> StationSpec:
        if not 0 <= k < len(self.stations):
            raise SpecError(f"{self.where()}: no station {k} in this spec (stations are "
                            f"0..{len(self.stations) - 1})")
        return self.stations[k]

    def host(self, name: str) -> HostSpec:
        if name not in self.hosts:
            known = ", ".join(self.hosts)
            raise SpecError(f"{self.where()}: no host {name!r} in this spec (hosts: {known})")
        return self.hosts[name]

    def addresses(self) -> set[str]:
        return {h.address for h in self.hosts.values()}

    def station_endpoints(self) -> dict[int, tuple[str, str]]:
        return {s.index: (s.ring_endpoint, s.cmd_endpoint) for s in self.stations}

    def placement(self, launched_here: frozenset[int] = frozenset()) -> Placement:
        same = frozenset(s.index for s in self.stations if s.address == self.monitor.address)
        return Placement(self.monitor.endpoints(), self.station_endpoints(),
                         frozenset(self.addresses()), launched_here, same)

    def parts_on(self, host: str) -> tuple[bool, list[int]]:
        """(the monitor runs there, the stations that run there)."""
        return (self.monitor.host == host,
                [s.index for s in self.stations if s.host == host])

    def local_hosts(self) -> list[str]:
        """The hosts of this spec whose address is one of this machine's (in this network
        namespace): an address is ours when a socket can be bound to it."""
        return [name for name, h in self.hosts.items() if is_local(h.address)]

    def used_hosts(self) -> list[str]:
        """Hosts that run a part, in spec order."""
        used = {self.monitor.host, *(s.host for s in self.stations)}
        return [name for name in self.hosts if name in used]

    def check_here(self, monitor: bool, stations: list[int] | tuple[int, ...]) -> None:
        """The named parts can start here: their addresses are this machine's and their ports
        free (a SpecError names the line of the first that is not)."""
        places = []
        if monitor:
            places += [(self.monitor.address, getattr(self.monitor, r), ("monitor", r))
                       for r in MONITOR_PORTS]
        for k in stations:
            s = self.stations[k]
            places += [(s.address, getattr(s, r), ("stations", str(k), r))
                       for r in STATION_PORTS]
        for address, port, path in places:
            if not is_local(address):
                raise self.error(f"{'.'.join(path[:-1])}: {address} is not an address of this "
                                 "machine (in this network namespace)", *path[:-1], "host")
            if not port_free(address, port):
                raise self.error(f"{'.'.join(path)}: {address} port {port} is in use here",
                                 *path)

    # -- keys -------------------------------------------------------------------------------------
    def check_keys(self, monitor: bool, stations: list[int], operator: bool) -> None:
        """Every key file the named parts need is there, private and well formed (a
        SpecError names the spec's ``[keys]`` line and the file)."""
        try:
            self.keys.check(monitor, stations, operator)
        except SpecError:
            raise
        except ConfigError as e:
            raise self.error(str(e), "keys", "dir") from None

    def operator_keys(self):
        try:
            return self.keys.for_operator()
        except ConfigError as e:
            raise self.error(str(e), "keys", "dir") from None


# -- reading -------------------------------------------------------------------------------------
def load_spec(path: str | os.PathLike) -> RingSpec:
    """Read and check a spec file; SpecError (``FILE:LINE: ...``) for anything wrong."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{p}: no such spec file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SpecError(f"{p}: cannot read the spec ({e})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        line = _line_of_decode_error(msg)
        raise SpecError(f"{p}:{line}: {msg}" if line else f"{p}: {msg}") from None
    return _Reader(p.resolve(), TomlLines(text), data, str(p)).spec()


def _line_of_decode_error(msg: str) -> int | None:
    # tomllib: "... (at line 3, column 7)"
    marker = "(at line "
    if marker in msg:
        rest = msg.split(marker, 1)[1]
        digits = "".join(c for c in rest.split(",", 1)[0] if c.isdigit())
        return int(digits) if digits else None
    return None


class _Reader:
    """Turns the parsed TOML into a ``RingSpec``, naming the line of whatever is wrong."""

    def __init__(self, path: Path, lines: TomlLines, data: dict, shown: str) -> None:
        self.path, self.lines, self.data, self.shown = path, lines, data, shown

    def error(self, message: str, *path: str | int) -> SpecError:
        line = self.lines.line(*path)
        where = f"{self.shown}:{line}" if line is not None else self.shown
        return SpecError(f"{where}: {message}")

    # -- tables and values ------------------------------------------------------------------------
    def table(self, d: dict, name: str, *path: str, required: bool = True) -> dict:
        v = d.get(name)
        if v is None:
            if required:
                raise self.error(f"no [{'.'.join((*path, name))}] table: a spec needs one",
                                 *path)
            return {}
        if not isinstance(v, dict):
            raise self.error(f"{'.'.join((*path, name))} must be a table", *path, name)
        return v

    def known(self, d: dict, allowed, *path: str) -> None:
        for k in d:
            if k not in allowed:
                where = "[" + ".".join(path) + "]" if path else "the top level"
                raise self.error(f"unknown key {k!r} in {where} (known: "
                                 f"{', '.join(allowed)})", *path, k)

    def string(self, d: dict, key: str, *path: str, default: str | None = None) -> str:
        v = d.get(key, default)
        if v is None:
            raise self.error(f"{'.'.join((*path, key))} is missing", *path)
        if not isinstance(v, str) or not v.strip():
            raise self.error(f"{'.'.join((*path, key))} must be a non-empty string, not {v!r}",
                             *path, key)
        return v

    def port(self, d: dict, key: str, *path: str) -> int:
        v = d.get(key)
        name = ".".join((*path, key))
        if v is None:
            raise self.error(f"{name} (a port) is missing", *path)
        if type(v) is not int or not PORT_MIN <= v <= PORT_MAX:
            raise self.error(f"{name} must be a port from {PORT_MIN} to {PORT_MAX}, not "
                             f"{_show(v)}", *path, key)
        return v

    def option(self, key: str, v: Any) -> Any:
        opt = RING_OPTIONS[key]
        name = f"ring.{key}"
        if opt.kind is bool:
            if type(v) is not bool:
                raise self.error(f"{name} must be true or false, not {_show(v)}", "ring", key)
            return v
        if opt.kind is str:
            if v not in opt.choices:
                raise self.error(f"{name} must be one of {', '.join(opt.choices)}, not "
                                 f"{_show(v)}", "ring", key)
            return v
        if opt.kind is int:
            if type(v) is not int or not opt.lo <= v <= opt.hi:  # type: ignore[operator]
                raise self.error(f"{name} must be a whole number from {opt.lo:g} to "
                                 f"{opt.hi:g}, not {_show(v)}", "ring", key)
            return v
        if type(v) not in (int, float) or not math.isfinite(v):
            raise self.error(f"{name} must be a finite number, not {_show(v)}", "ring", key)
        hi_ok = v < opt.hi if opt.hi_open else v <= opt.hi  # type: ignore[operator]
        if not (opt.lo <= v and hi_ok):  # type: ignore[operator]
            raise self.error(f"{name} must be from {opt.lo:g} to {opt.hi:g}"
                             f"{' (not included)' if opt.hi_open else ''}, not {v:g}",
                             "ring", key)
        return float(v) * opt.scale

    # -- the spec ---------------------------------------------------------------------------------
    def spec(self) -> RingSpec:
        d = self.data
        self.known(d, ("ring", "keys", "hosts", "monitor", "stations", "ssh", "impairments",
                       "links"))
        hosts = self.hosts()
        stations = self.stations(hosts)
        monitor = self.monitor(hosts)
        ring = self.table(d, "ring", required=False)
        self.known(ring, tuple(RING_OPTIONS), "ring")
        options: dict[str, Any] = {}
        startup = DEFAULT_STARTUP_TIMEOUT
        for key, v in ring.items():
            value = self.option(key, v)
            if key == "startup-timeout":
                startup = value
            else:
                options[RING_OPTIONS[key].field] = value
        am = options.get("active_monitor", 0)
        if am >= len(stations):
            raise self.error(f"ring.active-monitor: no station {am} (stations are "
                             f"0..{len(stations) - 1})", "ring", "active-monitor")
        self.unique_endpoints(monitor, stations)
        keys = self.table(d, "keys")
        self.known(keys, ("dir",), "keys")
        folder = Path(self.string(keys, "dir", "keys")).expanduser()
        if not folder.is_absolute():
            folder = self.path.parent / folder
        if not folder.is_dir():
            raise self.error(f"keys.dir: no folder {folder} (make keys with 'ringemu keys "
                             f"{folder} --stations {len(stations)}')", "keys", "dir")
        ssh = self.table(d, "ssh", required=False)
        self.known(ssh, ("options",), "ssh")
        ssh_options = ssh.get("options", [])
        if not isinstance(ssh_options, list) or not all(isinstance(o, str) for o in ssh_options):
            raise self.error("ssh.options must be a list of strings (extra arguments to "
                             "every ssh call)", "ssh", "options")
        spec = RingSpec(self.path, self.lines, hosts, monitor, stations, options, startup,
                        KeyDir(folder, len(stations)), tuple(ssh_options), shown=self.shown)
        spec.impairments = self.impairments(len(stations))
        return spec

    def hosts(self) -> dict[str, HostSpec]:
        table = self.table(self.data, "hosts")
        if not table:
            raise self.error("[hosts] names no host", "hosts")
        hosts: dict[str, HostSpec] = {}
        seen: dict[str, str] = {}
        for name, h in table.items():
            if not isinstance(h, dict):
                raise self.error(f"hosts.{name} must be a table", "hosts", name)
            self.known(h, HOST_KEYS, "hosts", name)
            given = self.string(h, "address", "hosts", name)
            address = self.resolve(given, "hosts", name, "address")
            if address in seen:
                raise self.error(f"duplicate address: hosts {seen[address]!r} and {name!r} are "
                                 f"both {address}", "hosts", name, "address")
            seen[address] = name
            command = self.string(h, "ringemu", "hosts", name, default="ringemu")
            try:
                argv = tuple(shlex.split(command))
            except ValueError as e:
                raise self.error(f"hosts.{name}.ringemu: {e}", "hosts", name, "ringemu") \
                    from None
            optional = {k: self.string(h, k, "hosts", name) for k in ("runs-dir", "runtime")
                        if k in h}
            hosts[name] = HostSpec(
                name, address, self.string(h, "ssh", "hosts", name, default=given), argv,
                self.string(h, "spec", "hosts", name, default=str(self.path)),
                optional.get("runs-dir"), optional.get("runtime"))
        return hosts

    def resolve(self, given: str, *path: str) -> str:
        try:
            return str(ipaddress.ip_address(given))
        except ValueError:
            pass
        try:
            info = socket.getaddrinfo(given, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as e:
            raise self.error(f"{'.'.join(path)}: cannot resolve {given!r} ({e})", *path) \
                from None
        return str(info[0][4][0])

    def host_of(self, d: dict, hosts: dict[str, HostSpec], *path: str) -> HostSpec:
        name = self.string(d, "host", *path)
        if name not in hosts:
            raise self.error(f"{'.'.join(path)}.host: unknown host {name!r} (hosts: "
                             f"{', '.join(hosts)})", *path, "host")
        return hosts[name]

    def monitor(self, hosts: dict[str, HostSpec]) -> MonitorSpec:
        m = self.table(self.data, "monitor")
        self.known(m, ("host", *MONITOR_PORTS), "monitor")
        h = self.host_of(m, hosts, "monitor")
        return MonitorSpec(h.name, h.address, *(self.port(m, k, "monitor")
                                                 for k in MONITOR_PORTS))

    def stations(self, hosts: dict[str, HostSpec]) -> list[StationSpec]:
        table = self.table(self.data, "stations")
        found: dict[int, StationSpec] = {}
        for key, s in table.items():
            if not key.isdigit() or str(int(key)) != key:
                raise self.error(f"stations.{key}: a station is named by its number "
                                 "([stations.0], [stations.1], ...)", "stations", key)
            k = int(key)
            if k >= MAX_STATIONS:
                raise self.error(f"stations.{key}: at most {MAX_STATIONS} stations",
                                 "stations", key)
            if not isinstance(s, dict):
                raise self.error(f"stations.{key} must be a table", "stations", key)
            self.known(s, ("host", *STATION_PORTS), "stations", key)
            h = self.host_of(s, hosts, "stations", key)
            found[k] = StationSpec(k, h.name, h.address,
                                   *(self.port(s, p, "stations", key) for p in STATION_PORTS))
        n = len(found)
        if n < 2:
            raise self.error(f"a ring needs at least 2 stations; this spec has {n}", "stations")
        missing = [k for k in range(n) if k not in found]
        if missing:
            extra = sorted(k for k in found if k >= n)
            raise self.error(f"stations must be numbered 0..{n - 1}: station {missing[0]} is "
                             f"missing", "stations", str(extra[0]) if extra else "")
        return [found[k] for k in range(n)]

    def unique_endpoints(self, monitor: MonitorSpec, stations: list[StationSpec]) -> None:
        seen: dict[tuple[str, int], tuple[str, ...]] = {}
        places = [((monitor.address, getattr(monitor, r)), ("monitor", r))
                  for r in MONITOR_PORTS]
        places += [((s.address, getattr(s, r)), ("stations", str(s.index), r))
                   for s in stations for r in STATION_PORTS]
        for at, path in places:
            if at in seen:
                other = seen[at]
                raise self.error(f"duplicate address: {'.'.join(path)} and {'.'.join(other)} "
                                 f"are both {at[0]} port {at[1]} (line "
                                 f"{self.lines.line(*other)})", *path)
            seen[at] = path

    def impairments(self, n: int) -> dict[int | None, Any]:
        """The one place link impairments are read (see the module docstring)."""
        out: dict[int | None, Any] = {}
        tables: list[tuple[int | None, dict, tuple[str, ...]]] = []
        every = self.data.get("impairments")
        if every is not None:
            if not isinstance(every, dict):
                raise self.error("impairments must be a table", "impairments")
            tables.append((None, every, ("impairments",)))
        links = self.table(self.data, "links", required=False)
        for key, t in links.items():
            if not key.isdigit() or int(key) >= n:
                raise self.error(f"links.{key}: unknown station {key!r} (a link is named by "
                                 f"the station it leaves, 0..{n - 1})", "links", key)
            if not isinstance(t, dict):
                raise self.error(f"links.{key} must be a table", "links", key)
            tables.append((int(key), t, ("links", key)))
        if not tables:
            return out
        try:
            from ringemu.core.impairments import Impairment  # type: ignore[import-not-found]
        except ImportError:
            raise self.error("link impairments are not available in this version of ringemu",
                             *tables[0][2]) from None
        every_link = every or {}
        for link, t, path in tables:
            for key, v in t.items():
                if isinstance(v, float) and not math.isfinite(v):
                    raise self.error(f"{'.'.join(path)}.{key} must be a finite number, not "
                                     f"{_show(v)}", *path, key)
            try:  # a link's own table goes on top of [impairments], as --impair does
                out[link] = Impairment.from_mapping(t if link is None else {**every_link, **t})
            except (ConfigError, ValueError) as e:
                bad = next((k for k in t if str(k) in str(e)), None)
                raise self.error(f"{'.'.join(path)}: {e}", *path,
                                 *(() if bad is None else (bad,))) from None
        return out


def _show(v: Any) -> str:
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return repr(v)


def is_local(address: str) -> bool:
    """Can this process bind ``address`` (is it one of this machine's, in this network
    namespace)? No packet is sent."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((address, 0))
    except OSError as e:
        if e.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT, errno.EINVAL):
            return False
        raise
    return True


def port_free(address: str, port: int) -> bool:
    """Could a listening socket bind ``address:port`` now (as ZeroMQ binds: SO_REUSEADDR)?"""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return False
            raise
    return True
