"""One parameter model for every ring, simulated or live, with one ``validate()``.

``RingParams`` holds what a ring is, whichever shell runs it: its size, its snapshot schedule,
its recovery, its traffic, its seed, its transport and its active monitor. The simulator's
``SimConfig`` and the launcher's ``RingConfig`` extend it with what only they need; the station
and monitor processes receive it whole. ``validate()`` is the one place a value is checked, and
every float is checked for NaN and infinity there, so a bad value is refused with one line
naming the option, before anything starts.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any

from ringemu.core.impairments import NONE, Impairment
from ringemu.errors import ConfigError

MAX_STATIONS = 4096
"""The largest ring the launcher and the codec accept (station addresses have 16 bits; the
machine's limits come first: see docs/benchmarks.md)."""


class Recovery(StrEnum):
    PURGE = "purge"
    ROLLBACK = "rollback"
    NONE = "none"


class Transport(StrEnum):
    IPC = "ipc"
    TCP = "tcp"


@dataclass
class RingParams:
    """See the module docstring. Times are seconds."""

    stations: int = 8
    snapshot_interval: float = 0.2
    snapshot_deadline: float = 0.25
    """The least time a snapshot may take before silent stations make it INCOMPLETE (it grows
    with the measured snapshot times and rotation)."""
    recovery: Recovery = Recovery.PURGE
    load: float = 0.1
    """Share of rotations that carry a busy frame (0: free tokens only)."""
    payload_size: int = 64
    seed: int = 1
    transport: Transport = Transport.IPC
    active_monitor: int = 0
    hold: float = 0.0
    """Seconds a station holds the free token before passing it on (0: at once)."""
    holding_time: float = 0.010
    """802.5 THT: how long a station may go on sending queued frames once it has the token."""
    suspicions: bool = True
    """A station's suspicion (no token, a second token too soon) starts a snapshot at once;
    off, only the periodic snapshots look."""
    trace: bool = True
    """Stations keep a short trace of their recent messages, and the first snapshot that
    counted and every alarming one are traced (``ringemu.core.trace``): ``ringemu report``
    draws them as space-time diagrams."""
    impairment: Impairment = NONE
    """What every ring link does (``ringemu.core.impairments``): ``--delay``, ``--loss``..."""
    link_impairments: dict[int, Impairment] = field(default_factory=dict)
    """Links (by sending station) with an impairment of their own (``--impair K:...``), in
    place of ``impairment``."""

    def impairment_for(self, station: int) -> Impairment:
        """What station ``station``'s outgoing link does."""
        return self.link_impairments.get(station, self.impairment)

    def validate(self) -> None:
        """Check every field; ConfigError names the option (``--snapshot-interval``...)."""
        _int(self, "stations", 2, MAX_STATIONS)
        _float(self, "snapshot_interval", 0.0, 3600.0, low_open=False)
        _float(self, "snapshot_deadline", 0.001, 3600.0)
        _float(self, "load", 0.0, 1.0, high_open=True, low_open=False)
        _int(self, "payload_size", 0, 4096)
        _int(self, "seed", -(2**63), 2**63 - 1)
        _int(self, "active_monitor", 0, self.stations - 1)
        _float(self, "hold", 0.0, 60.0, low_open=False)
        _float(self, "holding_time", 0.0, 60.0, low_open=False)
        self.recovery = _enum(self, "recovery", Recovery)
        self.transport = _enum(self, "transport", Transport)
        if not isinstance(self.impairment, Impairment):
            raise ConfigError(f"the link impairment must be an Impairment, not "
                              f"{self.impairment!r}"[:200])
        for k, imp in self.link_impairments.items():
            if type(k) is not int or not 0 <= k < self.stations:
                raise ConfigError(f"--impair {k}: no link {k} in a ring of {self.stations} "
                                  f"(links are named by their sending station, 0..."
                                  f"{self.stations - 1})")
            if not isinstance(imp, Impairment):
                raise ConfigError(f"--impair {k}: not an impairment")

    @property
    def impaired(self) -> bool:
        """Does any link do anything?"""
        return self.impairment.active or any(i.active for i in self.link_impairments.values())

    def ring_params(self) -> RingParams:
        """Just the ring's parameters (what a station or the monitor is handed)."""
        return RingParams(**{f.name: getattr(self, f.name) for f in fields(RingParams)})

    def to_json(self) -> dict[str, Any]:
        d = {k: (v.value if isinstance(v, StrEnum) else v)
             for k, v in asdict(self.ring_params()).items()}
        d["impairment"] = self.impairment.to_json()
        d["link_impairments"] = {str(k): v.to_json() for k, v in self.link_impairments.items()}
        return d

    @classmethod
    def from_json(cls, d: dict) -> RingParams:
        """Parameters from a JSON object (unknown keys refused); validated."""
        names = {f.name for f in fields(RingParams)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ConfigError(f"unknown ring parameter(s): {', '.join(unknown)}")
        d = dict(d)
        try:
            if "impairment" in d:
                d["impairment"] = Impairment.from_json(d["impairment"])
            links = d.get("link_impairments", {})
            if not isinstance(links, dict):
                raise ValueError("link_impairments must be an object")
            d["link_impairments"] = {int(k): Impairment.from_json(v) for k, v in links.items()}
        except ValueError as e:
            raise ConfigError(f"bad link impairment: {e}") from None
        params = RingParams(**d)
        params.validate()
        return params


def option_name(field: str) -> str:
    return "--" + field.replace("_", "-")


def _int(p: Any, name: str, lo: int, hi: int) -> None:
    v = getattr(p, name)
    if type(v) is not int or not lo <= v <= hi:
        raise ConfigError(f"{option_name(name)} must be a whole number from {lo} to {hi}, "
                          f"not {v!r}")


def _float(p: Any, name: str, lo: float, hi: float, *, low_open: bool = True,
           high_open: bool = False) -> None:
    v = getattr(p, name)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ConfigError(f"{option_name(name)} must be a finite number, not {v!r}")
    if (v <= lo if low_open else v < lo) or (v >= hi if high_open else v > hi):
        lo_s, hi_s = ("(" if low_open else "["), (")" if high_open else "]")
        raise ConfigError(f"{option_name(name)} must be in {lo_s}{lo:g}, {hi:g}{hi_s}, "
                          f"not {v:g}")
    setattr(p, name, float(v))


def _enum(p: Any, name: str, enum: type[StrEnum]) -> Any:
    v = getattr(p, name)
    try:
        return enum(v)
    except ValueError:
        known = ", ".join(e.value for e in enum)
        raise ConfigError(f"{option_name(name)} must be one of {known}, not {v!r}") from None


def check_finite(name: str, v: float, lo: float | None = None, hi: float | None = None) -> float:
    """One number from outside (an option, a file): finite and within [lo, hi]."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ConfigError(f"{name} must be a finite number, not {v!r}")
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        bounds = f"at least {lo:g}" if hi is None else (
            f"at most {hi:g}" if lo is None else f"from {lo:g} to {hi:g}")
        raise ConfigError(f"{name} must be {bounds}, not {v:g}")
    return float(v)
