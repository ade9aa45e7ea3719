"""Every fault ringemu can inject, in one registry, and the fault schedules that inject them.

The registry (``FAULTS``) is the one place a fault kind is defined: its effect on the number of
token units, the verdict that detects it, who carries it out (the core station, or the shell by
acting on the station's process), which shells support it, its argument, its help text and its
dashboard key. The station, the monitors, the checker, the CLI help and the dashboard read it,
so adding a fault kind touches this file and the station only.

A schedule is a list of ``ScheduledFault`` (``KIND@WHEN[:STATION[:ARG]]`` on the command line);
one type drives ``ringemu run`` (WHEN in seconds after the ring is up) and ``ringemu sim`` (WHEN
in ring rotations) alike.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from enum import StrEnum

from ringemu.core.verdict import Verdict
from ringemu.errors import ConfigError


class FaultKind(StrEnum):
    LOSE = "lose"
    DUP = "dup"
    CORRUPT = "corrupt"
    KILL = "kill"
    PAUSE = "pause"
    CUT = "cut"
    HEAL = "heal"


class Actor(StrEnum):
    """Who carries a fault out."""

    STATION = "station"
    """The core station itself (``Station.inject``): the same code in every shell."""
    PROCESS = "process"
    """The shell, on the station's process (SIGKILL, SIGSTOP; the simulator's equivalents)."""
    LINK = "link"
    """The station's link layer (``ringemu.core.impairments.LinkState``): a partition."""


class Shell(StrEnum):
    SIM = "sim"
    LIVE = "live"


BOTH = frozenset(Shell)


@dataclass(frozen=True, slots=True)
class FaultInfo:
    kind: FaultKind
    effect: int | None
    """Token units the fault adds when it fires (negative: removes); None when it breaks the
    ring instead of changing the count (the truth is then unknown until a purge)."""
    verdict: Verdict
    """The verdict that detects it (INCOMPLETE naming the station for process faults)."""
    actor: Actor
    shells: frozenset[Shell]
    help: str
    key: str | None = None
    """The dashboard key that injects it at the selected station."""
    arg: str | None = None
    """The name of its argument (shown in help), None when it takes none."""
    arg_default: float | None = None
    arg_max: float | None = None


FAULTS: dict[FaultKind, FaultInfo] = {
    f.kind: f for f in (
        FaultInfo(FaultKind.LOSE, -1, Verdict.LOST, Actor.STATION, BOTH,
                  "the station drops the next token or frame it receives", key="l"),
        FaultInfo(FaultKind.DUP, +1, Verdict.DUPLICATE, Actor.STATION, BOTH,
                  "the station releases an extra free token", key="d"),
        FaultInfo(FaultKind.CORRUPT, -1, Verdict.LOST, Actor.STATION, BOTH,
                  "the next token or frame the station sends has a bad FCS / delimiter, so its "
                  "receiver drops it", key="c"),
        FaultInfo(FaultKind.KILL, None, Verdict.INCOMPLETE, Actor.PROCESS, BOTH,
                  "the station dies (SIGKILL in a live ring)", key="k"),
        FaultInfo(FaultKind.PAUSE, 0, Verdict.INCOMPLETE, Actor.PROCESS, BOTH,
                  "the station stops for ARG seconds (rotations in the simulator), then goes on "
                  "(SIGSTOP, SIGCONT in a live ring)", key="p", arg="SECONDS",
                  arg_default=1.0, arg_max=60.0),
        FaultInfo(FaultKind.CUT, 0, Verdict.INCOMPLETE, Actor.LINK, BOTH,
                  "the link from the station to its downstream neighbour goes down (a "
                  "partition): everything sent on it is dropped until 'heal'"),
        FaultInfo(FaultKind.HEAL, 0, Verdict.OK, Actor.LINK, BOTH,
                  "the station's cut link comes back; the ring is rebuilt and counts one "
                  "again"),
    )
}

STATION_FAULTS = frozenset(k for k, f in FAULTS.items() if f.actor is Actor.STATION)
LINK_FAULTS = frozenset(k for k, f in FAULTS.items() if f.actor is Actor.LINK)


def kinds_for(shell: Shell) -> tuple[FaultKind, ...]:
    return tuple(k for k, f in FAULTS.items() if shell in f.shells)


def help_lines(shell: Shell) -> list[str]:
    """One line per fault kind the shell supports: ``kind  what it does``."""
    return [f"{k.value:<8} {FAULTS[k].help}" for k in kinds_for(shell)]


def parse_kind(text: str, shell: Shell, what: str = "fault") -> FaultKind:
    try:
        kind = FaultKind(text.strip().lower())
    except ValueError:
        kind = None
    if kind is None or shell not in FAULTS[kind].shells:
        known = ", ".join(kinds_for(shell))
        raise ConfigError(f"unknown {what} {text!r} (known: {known})")
    return kind


def check_arg(kind: FaultKind, arg: float | None) -> float | None:
    """The fault's argument, defaulted and checked; ConfigError when it is out of range."""
    info = FAULTS[kind]
    if info.arg is None:
        if arg is not None:
            raise ConfigError(f"{kind} takes no argument")
        return None
    if arg is None:
        return info.arg_default
    if not math.isfinite(arg) or arg <= 0:
        raise ConfigError(f"{kind} {info.arg} must be a positive number, not {arg!r}")
    if info.arg_max is not None and arg > info.arg_max:
        raise ConfigError(f"{kind} {info.arg} must be at most {info.arg_max:g}, not {arg:g}")
    return arg


@dataclass(slots=True)
class ScheduledFault:
    """One fault of a schedule: inject ``kind`` at ``at`` (seconds or rotations) into
    ``station`` (None: drawn from the run's seed; ``ACTIVE_MONITOR``: whichever station is the
    active monitor when the fault is due, since elections move the role)."""

    kind: FaultKind
    at: float
    station: int | str | None = None
    arg: float | None = None

    def __str__(self) -> str:
        s = f"{self.kind}@{self.at:g}"
        if self.station is not None or self.arg is not None:
            s += f":{'' if self.station is None else self.station}"
        if self.arg is not None:
            s += f":{self.arg:g}"
        return s


ACTIVE_MONITOR = "am"
"""The station of a fault aimed at the active monitor of the moment (``kill@5:am``)."""


def parse_fault(text: str, shell: Shell, unit: str) -> ScheduledFault:
    """Parse one ``KIND@WHEN[:STATION[:ARG]]``; raises ConfigError with a precise message."""
    kind_text, at, rest = text.partition("@")
    if not at:
        raise ConfigError(f"--inject {text!r}: expected KIND@{unit.upper()}[:STATION]")
    try:
        kind = parse_kind(kind_text, shell)
    except ConfigError as e:
        raise ConfigError(f"--inject {text!r}: {e}") from None
    fields = rest.split(":")
    if len(fields) > 3 or (len(fields) == 3 and FAULTS[kind].arg is None):
        raise ConfigError(f"--inject {text!r}: too many ':' fields")
    when = _number(text, fields[0], f"a number of {unit}")
    if when < 0:
        raise ConfigError(f"--inject {text!r}: time must not be negative")
    station = None
    if len(fields) > 1 and fields[1].lower() == ACTIVE_MONITOR:
        station = ACTIVE_MONITOR
    elif len(fields) > 1 and fields[1] != "":
        try:
            station = int(fields[1])
        except ValueError:
            raise ConfigError(
                f"--inject {text!r}: station {fields[1]!r} is not an integer") from None
    arg = _number(text, fields[2], "a number") if len(fields) > 2 else None
    try:
        arg = check_arg(kind, arg)
    except ConfigError as e:
        raise ConfigError(f"--inject {text!r}: {e}") from None
    return ScheduledFault(kind, when, station, arg)


def _number(text: str, field: str, what: str) -> float:
    try:
        value = float(field)
    except ValueError:
        raise ConfigError(f"--inject {text!r}: {field!r} is not {what}") from None
    if not math.isfinite(value):
        raise ConfigError(f"--inject {text!r}: {field!r} is not a finite number")
    return value


def parse_kinds(text: str, shell: Shell) -> tuple[FaultKind, ...]:
    """A comma list of fault kinds (``--chaos-kinds lose,dup``)."""
    names = [t for t in text.split(",") if t.strip()]
    if not names:
        raise ConfigError("--chaos-kinds: name at least one fault kind")
    try:
        kinds = tuple(parse_kind(t, shell) for t in names)
    except ConfigError as e:
        raise ConfigError(f"--chaos-kinds: {e}") from None
    never = [k.value for k in kinds if not CHAOS_WEIGHTS.get(k)]
    if never:
        raise ConfigError(f"--chaos-kinds: chaos never draws {', '.join(never)} (a cut needs "
                          "its heal: schedule them with --inject)")
    return kinds


def resolve_stations(specs: list[ScheduledFault], n_stations: int, rng: random.Random) -> None:
    """Fill in missing stations from ``rng`` and check the given ones exist."""
    for spec in specs:
        if spec.station is None:
            spec.station = rng.randrange(n_stations)
        elif spec.station == ACTIVE_MONITOR:
            continue
        elif not 0 <= spec.station < n_stations:
            raise ConfigError(
                f"--inject {spec}: no station {spec.station} in a ring of {n_stations} "
                f"(stations are 0..{n_stations - 1})"
            )


CHAOS_WEIGHTS: dict[FaultKind, float] = {
    FaultKind.LOSE: 3.0, FaultKind.DUP: 3.0, FaultKind.CORRUPT: 2.0, FaultKind.PAUSE: 1.0,
    FaultKind.KILL: 0.5,
}
"""How often chaos draws each kind (a kind missing here is never drawn)."""
CHAOS_BURST = 0.15
"""Chance that a chaos fault brings a second one within ``CHAOS_BURST_GAP`` (overlaps)."""
CHAOS_BURST_GAP = 0.01


def chaos(rate: float, duration: float, shell: Shell, rng: random.Random, *,
          start: float = 0.0, pause: tuple[float, float] = (0.05, 1.0),
          burst_gap: float = CHAOS_BURST_GAP,
          kinds: tuple[FaultKind, ...] | None = None) -> list[ScheduledFault]:
    """A random schedule: about ``rate`` faults per unit of time (seconds, or rotations in the
    simulator) over ``[start, duration)``, of every kind the shell supports, at random times
    (a Poisson process, plus bursts: some faults bring a second one within ``burst_gap``). The
    station is left open (None): it is drawn when the fault fires, among the stations alive
    then, so a dead station is never picked."""
    if rate <= 0:
        return []
    allowed = kinds_for(shell) if kinds is None else kinds
    drawn = [k for k in kinds_for(shell) if CHAOS_WEIGHTS.get(k) and k in allowed]
    if not drawn:
        return []
    weights = [CHAOS_WEIGHTS[k] for k in drawn]
    out: list[ScheduledFault] = []
    t = start
    while True:
        t += rng.expovariate(rate)
        if t >= duration:
            break
        times = [t]
        if rng.random() < CHAOS_BURST:
            times.append(min(t + rng.uniform(0.0, burst_gap), duration))
        for at in times:
            kind = rng.choices(drawn, weights)[0]
            arg = round(rng.uniform(*pause), 3) if FAULTS[kind].arg is not None else None
            out.append(ScheduledFault(kind, at, None, arg))
    return out


class FaultSchedule:
    """Faults in time order; ``due(now)`` hands over those whose time has come."""

    def __init__(self, faults: list[ScheduledFault]) -> None:
        self.pending = sorted(faults, key=lambda f: f.at)

    def due(self, now: float) -> list[ScheduledFault]:
        n = 0
        while n < len(self.pending) and self.pending[n].at <= now:
            n += 1
        out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def next_at(self) -> float | None:
        return self.pending[0].at if self.pending else None

    def __len__(self) -> int:
        return len(self.pending)
