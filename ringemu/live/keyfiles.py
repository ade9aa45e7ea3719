"""CURVE key files of a ring that spans hosts: ``ringemu keys DIR`` makes them, a spec names DIR.

A ring started on one machine makes its keys per run (``ringemu.live.keys``). A ring across
hosts cannot: each host must hold its own secret before anything starts, and nothing may travel
with it. So the keys live in files, one pair per part, in ZeroMQ's certificate format (the
format of ``zmq.auth.create_certificates`` and ``zcert``), so other ZeroMQ tools read them too:

==========================  =================================================================
``monitor.key``             the monitor's public key (every host needs it)
``monitor.key_secret``      its public and secret key (mode 0600: the monitor's host only)
``station-K.key[_secret]``  station K's (its secret: station K's host only)
``operator.key[_secret]``   the operator's: whoever holds its secret may control the ring
                            (``inject``, ``down``, ``status``, the dashboard)
==========================  =================================================================

A host needs every ``.key`` file and only the ``.key_secret`` files of the parts it runs.
Secret files are refused when others may read them (like ssh, ringemu will not use a secret
that is not private; it never changes a file's mode itself). Reading checks that each secret
belongs to its public key, so a mixed-up file is named before anything starts.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import zmq

from ringemu.errors import ConfigError
from ringemu.live.keys import ClientKeys, KeyPair, MonitorKeys, StationKeys

BANNER = ("#   ringemu CURVE {what} for {name} (ZeroMQ certificate format)\n"
          "#   made by 'ringemu keys'; {advice}\n")


def monitor_name() -> str:
    return "monitor"


def station_name(k: int) -> str:
    return f"station-{k}"


def operator_name() -> str:
    return "operator"


def public_path(folder: Path, name: str) -> Path:
    return Path(folder) / f"{name}.key"


def secret_path(folder: Path, name: str) -> Path:
    return Path(folder) / f"{name}.key_secret"


def _write(path: Path, text: str, mode: int) -> None:
    """Create ``path`` with ``mode``; never overwrites (a ring's keys are not replaced by
    accident: delete the folder to make new ones)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(text)


def write_pair(folder: Path, name: str, pair: KeyPair) -> None:
    body = f'metadata\n    name = "{name}"\ncurve\n    public-key = "{pair.public}"\n'
    _write(public_path(folder, name),
           BANNER.format(what="public key", name=name, advice="copy it to every host")
           + body, 0o644)
    _write(secret_path(folder, name),
           BANNER.format(what="key pair", name=name,
                         advice="keep it on the host that runs it, mode 0600")
           + body + f'    secret-key = "{pair.secret}"\n', 0o600)


def make_keys(folder: Path, stations: int) -> list[Path]:
    """``ringemu keys DIR``: a pair for the monitor, each of ``stations`` stations and the
    operator, in ``folder`` (made 0700 if missing; an existing one must hold no key files)."""
    folder = Path(folder)
    names = [monitor_name(), *(station_name(k) for k in range(stations)), operator_name()]
    if folder.exists():
        if not folder.is_dir():
            raise ConfigError(f"{folder}: not a folder")
        taken = sorted(p.name for p in folder.iterdir()
                       if p.name.endswith((".key", ".key_secret")))
        if taken:
            raise ConfigError(f"{folder} already holds key files ({', '.join(taken[:3])}"
                              f"{', ...' if len(taken) > 3 else ''}); keys are never "
                              "overwritten: give a new folder")
    else:
        try:
            folder.mkdir(mode=0o700, parents=True)
        except OSError as e:
            raise ConfigError(f"cannot create {folder}: {e.strerror}") from None
        os.chmod(folder, 0o700)  # made just now by us: the umask must not widen it
    written = []
    for name in names:
        write_pair(folder, name, KeyPair.generate())
        written += [public_path(folder, name), secret_path(folder, name)]
    return written


def _z85_key(text: str, path: Path, what: str) -> str:
    if len(text) != 40 or not text.isascii():
        raise ConfigError(f"{path}: {what} is not a 40-character Z85 CURVE key")
    try:
        zmq.utils.z85.decode(text.encode("ascii"))
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"{path}: {what} is not Z85 text") from None
    return text


def read_cert(path: Path, secret: bool) -> tuple[str, str | None]:
    """The keys in one certificate file: (public, secret or None); ConfigError naming the
    file for anything wrong (missing, unreadable, not private, malformed, mismatched)."""
    path = Path(path)
    try:
        st = os.stat(path)
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such key file (make keys with 'ringemu keys DIR')") \
            from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the key file ({e})") from None
    if secret and stat.S_IMODE(st.st_mode) & 0o077:
        raise ConfigError(f"{path}: a secret key file others may read (mode "
                          f"{stat.S_IMODE(st.st_mode):04o}); make it private: chmod 600 {path}")
    found: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("#") or "=" not in line:
            continue
        key, value = (s.strip() for s in line.split("=", 1))
        if key in ("public-key", "secret-key"):
            found[key] = value.strip("\"'")
    if "public-key" not in found:
        raise ConfigError(f"{path}: no public-key in this key file")
    public = _z85_key(found["public-key"], path, "public-key")
    if not secret:
        return public, None
    if "secret-key" not in found:
        raise ConfigError(f"{path}: no secret-key in this key file")
    sec = _z85_key(found["secret-key"], path, "secret-key")
    if zmq.curve_public(sec.encode("ascii")).decode("ascii") != public:
        raise ConfigError(f"{path}: its secret-key does not belong to its public-key")
    return public, sec


@dataclass(frozen=True)
class KeyDir:
    """The key folder a spec names, for a ring of ``stations`` stations."""

    folder: Path
    stations: int

    def public(self, name: str) -> str:
        return read_cert(public_path(self.folder, name), secret=False)[0]

    def pair(self, name: str) -> KeyPair:
        public, secret = read_cert(secret_path(self.folder, name), secret=True)
        assert secret is not None
        if public != self.public(name):
            raise ConfigError(f"{secret_path(self.folder, name)} and "
                              f"{public_path(self.folder, name)} hold different keys")
        return KeyPair(public, secret)

    def station_publics(self) -> tuple[str, ...]:
        return tuple(self.public(station_name(k)) for k in range(self.stations))

    def for_monitor(self) -> MonitorKeys:
        return MonitorKeys(self.pair(monitor_name()), self.station_publics(),
                           self.public(operator_name()))

    def for_station(self, k: int) -> StationKeys:
        return StationKeys(self.pair(station_name(k)), self.public(monitor_name()),
                           self.station_publics())

    def for_operator(self) -> ClientKeys:
        return ClientKeys(self.pair(operator_name()), self.public(monitor_name()))

    def check(self, monitor: bool, stations: list[int], operator: bool) -> None:
        """Read every key the named parts need (a ConfigError names the first bad file)."""
        self.station_publics()
        self.public(monitor_name())
        self.public(operator_name())
        if monitor:
            self.for_monitor()
        for k in stations:
            self.for_station(k)
        if operator:
            self.for_operator()
