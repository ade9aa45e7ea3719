"""Scripted fault schedules: the ``--inject KIND@WHEN[:STATION[:ARG]]`` syntax.

One parser serves ``ringemu sim`` (WHEN in ring rotations) and ``ringemu run`` (WHEN in seconds),
so a schedule reads the same in both. STATION defaults to one picked from the run's seed.
ARG is only used by ``pause`` (seconds to stay stopped, default 1).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ringemu.errors import ConfigError

FAULT_HELP = {
    "lose": "the station drops the next token or frame it receives",
    "dup": "the station releases an extra free token",
    "corrupt": "the next token or frame the station sends has a bad FCS / delimiter",
    "kill": "the station dies (SIGKILL in a live ring)",
    "pause": "the station stops for ARG seconds (SIGSTOP/SIGCONT; live ring only)",
}
SIM_KINDS = ("lose", "dup", "corrupt", "kill")
LIVE_KINDS = ("lose", "dup", "corrupt", "kill", "pause")


@dataclass(slots=True)
class FaultSpec:
    kind: str
    when: float
    station: int | None = None
    arg: float | None = None

    def __str__(self) -> str:
        s = f"{self.kind}@{self.when:g}"
        if self.station is not None:
            s += f":{self.station}"
        if self.arg is not None:
            s += f":{self.arg:g}"
        return s


def parse_fault(text: str, kinds: tuple[str, ...], unit: str) -> FaultSpec:
    """Parse one ``KIND@WHEN[:STATION[:ARG]]``; raises ConfigError with a precise message."""
    kind, at, rest = text.partition("@")
    kind = kind.strip().lower()
    if not at:
        raise ConfigError(f"--inject {text!r}: expected KIND@{unit.upper()}[:STATION]")
    if kind not in kinds:
        raise ConfigError(f"--inject {text!r}: unknown fault {kind!r} (known: {', '.join(kinds)})")
    fields = rest.split(":")
    if len(fields) > 3 or (len(fields) == 3 and kind != "pause"):
        raise ConfigError(f"--inject {text!r}: too many ':' fields")
    try:
        when = float(fields[0])
    except ValueError:
        raise ConfigError(f"--inject {text!r}: {fields[0]!r} is not a number of {unit}") from None
    if when < 0:
        raise ConfigError(f"--inject {text!r}: time must not be negative")
    station = None
    if len(fields) > 1 and fields[1] != "":
        try:
            station = int(fields[1])
        except ValueError:
            raise ConfigError(
                f"--inject {text!r}: station {fields[1]!r} is not an integer") from None
    arg = None
    if len(fields) > 2:
        try:
            arg = float(fields[2])
        except ValueError:
            raise ConfigError(f"--inject {text!r}: {fields[2]!r} is not a number") from None
        if arg <= 0:
            raise ConfigError(f"--inject {text!r}: pause length must be positive")
    return FaultSpec(kind, when, station, arg)


def resolve_stations(specs: list[FaultSpec], n_stations: int, rng: random.Random) -> None:
    """Fill in missing stations from ``rng`` and check the given ones exist."""
    for spec in specs:
        if spec.station is None:
            spec.station = rng.randrange(n_stations)
        elif not 0 <= spec.station < n_stations:
            raise ConfigError(
                f"--inject {spec}: no station {spec.station} in a ring of {n_stations} "
                f"(stations are 0..{n_stations - 1})"
            )
