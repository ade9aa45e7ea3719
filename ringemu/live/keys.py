"""The CURVE keys of one tcp ring: who may talk to which socket.

Over tcp any local user can reach a loopback port, so every socket of a tcp ring speaks CURVE
with key pairs made for this run alone: one for the monitor, one per station (so a station can
later live on another host with only its own secret), one for the operator (the tools:
``ringemu inject``/``status``/``down``, the dashboard, the launcher's own client). The launcher
makes them, hands each forked child the part it needs in memory, and writes them to
``keys.json`` (mode 0600) in the run's 0700 runtime folder, where the tools find them next to
``ring.json``. They never go to the run folder, which outlives the ring and may be shared.

Over ipc there are no keys: the 0700 runtime folder keeps every other user from connecting.

Keys are Z85 text (40 characters), as ``zmq.curve_keypair`` makes them.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import zmq

from ringemu.errors import ConfigError

KEYS_FILE = "keys.json"


@dataclass(frozen=True)
class KeyPair:
    public: str
    secret: str

    @classmethod
    def generate(cls) -> KeyPair:
        public, secret = zmq.curve_keypair()
        return cls(public.decode("ascii"), secret.decode("ascii"))

    @classmethod
    def from_json(cls, d: dict) -> KeyPair:
        return cls(_key(d, "public"), _key(d, "secret"))

    def serve(self, sock: zmq.Socket) -> None:
        """Make ``sock`` (before it binds) a CURVE server with this pair."""
        sock.curve_server = True
        sock.curve_secretkey = self.secret.encode("ascii")
        sock.curve_publickey = self.public.encode("ascii")

    def dial(self, sock: zmq.Socket, server_public: str) -> None:
        """Make ``sock`` (before it connects) a CURVE client of the server ``server_public``."""
        sock.curve_serverkey = server_public.encode("ascii")
        sock.curve_publickey = self.public.encode("ascii")
        sock.curve_secretkey = self.secret.encode("ascii")


def _key(d: dict, name: str) -> str:
    v = d.get(name) if isinstance(d, dict) else None
    if not isinstance(v, str) or len(v) != 40:
        raise ConfigError(f"{KEYS_FILE}: {name} is not a CURVE key")
    return v


@dataclass(frozen=True)
class StationKeys:
    """What one station holds: its own pair and the public keys of those it talks to."""

    own: KeyPair
    monitor: str
    stations: tuple[str, ...]
    operator: str | None = None
    """The tools' public key: a live capture reader may subscribe to the station's tap."""

    @classmethod
    def from_json(cls, d: dict) -> StationKeys:
        try:
            return cls(KeyPair.from_json(d["own"]), d["monitor"], tuple(d["stations"]),
                       d.get("operator"))
        except (KeyError, TypeError, AttributeError) as e:
            raise ConfigError(f"station keys: {e}") from None


@dataclass(frozen=True)
class ClientKeys:
    """What a client of the monitor holds: its own pair and the monitor's public key."""

    own: KeyPair
    monitor: str

    def dial(self, sock: zmq.Socket) -> None:
        self.own.dial(sock, self.monitor)


@dataclass(frozen=True)
class MonitorKeys:
    """What the monitor holds: its own pair, the stations' and the operator's public keys."""

    own: KeyPair
    stations: tuple[str, ...]
    operator: str


@dataclass(frozen=True)
class RunKeys:
    """Every key of one run (only the launcher and ``keys.json`` hold them all)."""

    monitor: KeyPair
    stations: tuple[KeyPair, ...]
    operator: KeyPair

    @classmethod
    def generate(cls, stations: int) -> RunKeys:
        return cls(KeyPair.generate(), tuple(KeyPair.generate() for _ in range(stations)),
                   KeyPair.generate())

    @property
    def station_publics(self) -> tuple[str, ...]:
        return tuple(k.public for k in self.stations)

    def for_station(self, index: int) -> StationKeys:
        return StationKeys(self.stations[index], self.monitor.public, self.station_publics,
                           self.operator.public)

    def for_monitor(self) -> MonitorKeys:
        return MonitorKeys(self.monitor, self.station_publics, self.operator.public)

    def for_operator(self) -> ClientKeys:
        return ClientKeys(self.operator, self.monitor.public)

    def to_json(self) -> dict:
        pair = lambda k: {"public": k.public, "secret": k.secret}  # noqa: E731
        return {"monitor": pair(self.monitor), "stations": [pair(k) for k in self.stations],
                "operator": pair(self.operator)}

    def save(self, folder: Path) -> Path:
        """Write ``keys.json`` into ``folder`` readable by us alone; never overwrites."""
        path = Path(folder) / KEYS_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(self.to_json(), f)
        return path

    @classmethod
    def load(cls, folder: Path) -> RunKeys:
        path = Path(folder) / KEYS_FILE
        try:
            d = json.loads(path.read_text())
            return cls(KeyPair.from_json(d["monitor"]),
                       tuple(KeyPair.from_json(k) for k in d["stations"]),
                       KeyPair.from_json(d["operator"]))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"cannot read the ring's keys from {path}: {e}") from None
