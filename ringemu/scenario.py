"""Scenario files: a run described in TOML, and what it must show (``--scenario FILE.toml``).

A scenario is a command line written down, with comments, plus expectations. It holds no
option of its own: every option is one of the command's (the same names as on the command line,
``snapshot-interval`` or ``snapshot_interval``), read by the command's own option types and
checked by the one parameter model (``ringemu.params``); every fault is a schedule entry read by
the fault registry (``ringemu.faults.parse_fault``). So a scenario can say nothing the command
line cannot, and is refused for the same reasons, with the file and line named::

    description = "a lost token, found by the next snapshot"
    stations = 6                 # options both commands have
    load = 0.1

    [run]                        # ringemu run only: seconds, milliseconds
    duration = 3
    snapshot-interval = 100

    [sim]                        # ringemu sim only: rotations
    rotations = 300

    [[faults]]
    kind = "lose"
    station = 2
    at = 1.0                     # seconds after the ring is up (ringemu run)
    at_rotation = 100            # rotations (ringemu sim)
    # a pause also has: seconds = 0.5 (run), rotations = 4 (sim)

    [impairments]                # link impairments, as the impairment options name them
    delay = "1ms"

    [expect]                     # checked at the end; exit 1 naming what failed
    valid = true
    max_detection_ms = 250

An option given on the command line wins over the file's. ``ringemu.cli.scenario`` applies a
scenario to a command; ``check`` here judges the expectations.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ringemu.errors import ConfigError
from ringemu.faults import FAULTS, Shell, parse_fault

SECTIONS = {Shell.LIVE: "run", Shell.SIM: "sim"}
FAULT_KEYS = {"kind", "station", "at", "at_rotation", "seconds", "rotations"}
EXPECT_KEYS = {
    "valid": "true, false or \"unknown\": the checker's verdict",
    "max_detection_ms": "every detected fault was detected within this many ms (virtual ms "
                        "in the simulator)",
    "all_detected": "true: every fault was detected",
    "min_detected": "at least this many faults were detected",
    "false_alarms": "at most this many false alarms",
    "wrong_counts": "at most this many snapshots counted wrong",
    "payloads_lost": "at most this many payloads were lost",
    "min_snapshots": "at least this many snapshots counted",
    "min_alarms": "at least this many alarms were raised",
    "events": "a table: at least this many events of each kind (elected = 1, membership = 2)",
}
META = {"description", "name", "run", "sim", "faults", "impairments", "expect"}


@dataclass
class Scenario:
    path: Path
    text: str
    data: dict
    shell: Shell = Shell.LIVE
    options: dict[str, tuple[Any, int | None, bool]] = field(default_factory=dict)
    """Option name as written -> (value, line, whether it is in the command's own table),
    for the command it is applied to."""
    injects: list[str] = field(default_factory=list)
    impairments: dict = field(default_factory=dict)
    expect: dict = field(default_factory=dict)

    def where(self, line: int | None) -> str:
        return f"{self.path}:{line}" if line else str(self.path)

    def error(self, line: int | None, message: str) -> ConfigError:
        return ConfigError(f"{self.where(line)}: {message}")

    def line_of(self, table: tuple, key: str | None = None) -> int | None:
        return locate(self.text, table, key)


def load(path: str | Path, shell: Shell) -> Scenario:
    """Read a scenario for ``ringemu run`` (``Shell.LIVE``) or ``ringemu sim``; ConfigError
    naming the file and line for anything it cannot take."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read scenario {p}: {getattr(e, 'strerror', None) or e}"
                          ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"\(at line (\d+), column (\d+)\)", str(e))
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(e))
        where = f"{p}:{m.group(1)}" if m else str(p)
        raise ConfigError(f"{where}: not valid TOML: {msg}"
                          + (f" (column {m.group(2)})" if m else "")) from None
    sc = Scenario(p, text, data, shell)
    _check_finite(sc, data, ())
    section = SECTIONS[shell]
    for key, value in data.items():
        if key in META:
            continue
        if isinstance(value, dict):
            raise sc.error(sc.line_of((key,)) or sc.line_of((), key),
                           f"unknown table [{key}] (tables: run, sim, faults, impairments, "
                           "expect)")
        sc.options[key] = (value, sc.line_of((), key), False)
    for name in SECTIONS.values():
        if name in data and not isinstance(data[name], dict):
            raise sc.error(sc.line_of((), name), f"{name} must be a table ([{name}])")
    for key, value in data.get(section, {}).items():
        if isinstance(value, dict):
            raise sc.error(sc.line_of((section,), key), f"[{section}] {key}: options are "
                                                         "single values, not tables")
        sc.options[key] = (value, sc.line_of((section,), key), True)
    for key in ("description", "name"):
        if key in data and not isinstance(data[key], str):
            raise sc.error(sc.line_of((), key), f"{key} must be a string")
    sc.injects = _faults(sc, data.get("faults", []), shell)
    imp = data.get("impairments", {})
    if not isinstance(imp, dict):
        raise sc.error(sc.line_of((), "impairments"), "impairments must be a table")
    sc.impairments = imp
    expect = data.get("expect", {})
    if not isinstance(expect, dict):
        raise sc.error(sc.line_of((), "expect"), "expect must be a table")
    _check_expect(sc, expect)
    sc.expect = expect
    return sc


def _check_finite(sc: Scenario, value: Any, path: tuple) -> None:
    """TOML allows nan and inf; no number from outside may be either."""
    if isinstance(value, float) and not math.isfinite(value):
        table, key = _split(path)
        raise sc.error(sc.line_of(table, key), f"{_name(path)} must be a finite number, "
                                               f"not {value!r}")
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(sc, v, path + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_finite(sc, v, path + (i,))


def _split(path: tuple) -> tuple[tuple, str | None]:
    """(table, key) for ``locate`` of a value's path: the last string is the key."""
    if not path:
        return (), None
    *head, last = path
    if isinstance(last, int):  # a list element: its table (an array of tables) or its key
        return tuple(path), None
    return tuple(head), last


def _name(path: tuple) -> str:
    return "".join(f"[{p + 1}]" if isinstance(p, int) else (("." if i else "") + p)
                   for i, p in enumerate(path))


def _faults(sc: Scenario, faults: Any, shell: Shell) -> list[str]:
    """Each ``[[faults]]`` entry as the ``--inject`` schedule entry it stands for, parsed by
    the fault registry."""
    if not isinstance(faults, list) or not all(isinstance(f, dict) for f in faults):
        raise sc.error(sc.line_of((), "faults"), "faults must be tables ([[faults]])")
    run = shell is Shell.LIVE
    when_key, arg_key, unit = (("at", "seconds", "seconds") if run
                               else ("at_rotation", "rotations", "rotations"))
    out = []
    for i, f in enumerate(faults):
        table = ("faults", i)
        line = sc.line_of(table)
        unknown = sorted(set(f) - FAULT_KEYS)
        if unknown:
            raise sc.error(sc.line_of(table, unknown[0]),
                           f"faults[{i + 1}]: unknown key {unknown[0]!r} (keys: "
                           f"{', '.join(sorted(FAULT_KEYS))})")
        if "kind" not in f:
            raise sc.error(line, f"faults[{i + 1}]: no kind (one of {', '.join(FAULTS)})")
        if when_key not in f:
            raise sc.error(line, f"faults[{i + 1}]: no {when_key!r} ({unit}) for "
                                 f"ringemu {SECTIONS[shell]}")
        for key in ("station", when_key, arg_key):
            v = f.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(
                    v, int if key == "station" else (int, float))):
                raise sc.error(sc.line_of(table, key), f"faults[{i + 1}].{key} must be a "
                                                       f"{'whole ' if key == 'station' else ''}"
                                                       f"number, not {v!r}")
        spec = f"{f['kind']}@{f[when_key]!r}"
        if "station" in f or arg_key in f:
            spec += f":{f.get('station', '')}"
        if arg_key in f:
            spec += f":{f[arg_key]!r}"
        try:
            parse_fault(spec, shell, unit)
        except ConfigError as e:
            raise sc.error(sc.line_of(table, "kind" if "fault" in str(e) else when_key),
                           f"faults[{i + 1}]: {str(e).replace('--inject ', '')}") from None
        out.append(spec)
    return out


def _check_expect(sc: Scenario, expect: dict) -> None:
    for key, value in expect.items():
        line = sc.line_of(("expect",), key)
        if key not in EXPECT_KEYS:
            raise sc.error(line, f"expect.{key}: unknown expectation (known: "
                                 f"{', '.join(EXPECT_KEYS)})")
        if key == "valid":
            if value not in (True, False, "unknown"):
                raise sc.error(line, "expect.valid must be true, false or \"unknown\"")
        elif key == "all_detected":
            if not isinstance(value, bool):
                raise sc.error(line, "expect.all_detected must be true or false")
        elif key == "events":
            if not isinstance(value, dict) or not all(
                    type(v) is int and v >= 0 for v in value.values()):
                raise sc.error(line, "expect.events must be a table of event kinds and "
                                     "counts (elected = 1)")
        elif key == "max_detection_ms":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise sc.error(line, f"expect.{key} must be a number of ms, not {value!r}")
        elif type(value) is not int or value < 0:
            raise sc.error(line, f"expect.{key} must be a whole number, not {value!r}")


def check(sc: Scenario, data: dict, events: dict[str, int],
          latency_ms: list[tuple[str, float]]) -> list[str]:
    """What the run did not show that the scenario expects, one line each (none: all met).
    ``data`` is the command's summary, ``events`` counts the run's events by kind,
    ``latency_ms`` has each detected fault's spec and detection latency in ms."""
    e, fails = sc.expect, []

    def fail(key: str, text: str) -> None:
        fails.append(f"{sc.where(sc.line_of(('expect',), key))}: expect.{key}: {text}")

    if "valid" in e and data["valid"] != e["valid"]:
        fail("valid", f"the checker said {_word(data['valid'])}, not {_word(e['valid'])}")
    if "max_detection_ms" in e:
        slow = [(s, ms) for s, ms in latency_ms if ms > e["max_detection_ms"]]
        if slow:
            fail("max_detection_ms", "; ".join(f"{s} was detected after {ms:.3g} ms"
                                               for s, ms in slow)
                 + f" (more than {e['max_detection_ms']:g})")
    outcomes = [f["outcome"] for f in data["faults"]]
    if e.get("all_detected") and any(o != "detected" for o in outcomes):
        missed = [f"{f['spec']} {f['outcome']}" for f in data["faults"]
                  if f["outcome"] != "detected"]
        fail("all_detected", "not every fault was detected: " + ", ".join(missed))
    n_detected = outcomes.count("detected")
    if "min_detected" in e and n_detected < e["min_detected"]:
        fail("min_detected", f"{n_detected} detected, fewer than {e['min_detected']}")
    for key, got in (("false_alarms", data["false_alarms"]),
                     ("wrong_counts", data["wrong_counts"]), ("payloads_lost", data["lost"])):
        if key in e and got > e[key]:
            fail(key, f"{got}, more than {e[key]}")
    if "min_snapshots" in e and data["snapshots"] < e["min_snapshots"]:
        fail("min_snapshots", f"{data['snapshots']} snapshots counted, fewer than "
                              f"{e['min_snapshots']}")
    if "min_alarms" in e and len(data["alarms"]) < e["min_alarms"]:
        fail("min_alarms", f"{len(data['alarms'])} alarms, fewer than {e['min_alarms']}")
    for kind, least in (e.get("events") or {}).items():
        if events.get(kind, 0) < least:
            fail("events", f"{events.get(kind, 0)} {kind} event(s), fewer than {least}")
    return fails


def _word(v: object) -> str:
    return {True: "valid", False: "invalid"}.get(v, str(v))  # type: ignore[arg-type]


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")


def locate(text: str, table: tuple, key: str | None = None) -> int | None:
    """The line (from 1) where ``key`` is set in ``table`` (``()`` the top level,
    ``("run",)``, ``("faults", 2)`` the third ``[[faults]]``), or the table's own line when
    ``key`` is None or not found; tomllib keeps no line numbers, so the text is searched.
    Inline tables (``expect = { valid = true }``) are found on their key's line."""
    lines = text.splitlines()
    names = [p for p in table if isinstance(p, str)]
    index = next((p for p in table if isinstance(p, int)), None)
    current: tuple[str, ...] = ()
    seen: dict[str, int] = {}
    start = 1 if not table else None
    inline_parent = None
    for n, raw in enumerate(lines, 1):
        m = _HEADER.match(raw)
        if m:
            name = m.group(2).strip().strip('"')
            current = tuple(part.strip().strip('"') for part in name.split("."))
            if m.group(1) == "[[":
                seen[name] = seen.get(name, -1) + 1
            if list(current) == names and (index is None or seen.get(name) == index):
                start = n
            continue
        in_table = start is not None and list(current) == names and (
            index is None or seen.get(".".join(current)) == index)
        if not table and current:
            in_table = False
        if in_table and key is not None and re.match(
                rf'^\s*"?{re.escape(key)}"?\s*=', raw):
            return n
        if key is not None and names and not current and re.match(
                rf'^\s*"?{re.escape(names[0])}"?\s*=', raw):
            inline_parent = n  # expect = { ... } at the top level
            if re.search(rf'[{{,]\s*"?{re.escape(key)}"?\s*=', raw):
                return n
    if inline_parent is not None:
        return inline_parent
    return start
