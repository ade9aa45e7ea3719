"""A run as the report reads it: its events, its history, the checker's judgement, its summary.

A run is named by its folder (``runs/<id>``, with ``events.jsonl``), its id or ``latest`` under
the runs folder, or an events file (``ringemu sim --events FILE``). A run still going is read as
far as it has got (a line being written is skipped); it is judged as running, so payloads not
delivered yet are in flight, not lost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ringemu.checker import Judgement, judge
from ringemu.core.history import RunHistory
from ringemu.errors import ConfigError, RemoteProtocolError
from ringemu.live.paths import read_events, runs_root
from ringemu.summary import summary


@dataclass
class Run:
    name: str
    path: Path
    """The events file."""
    events: list[dict]
    history: RunHistory
    judgement: Judgement
    summary: dict
    """``ringemu.summary.summary`` with times in milliseconds (virtual ones for the
    simulator)."""
    shell: str
    """``sim`` or ``live``."""
    finished: bool
    extra: dict = field(default_factory=dict)
    """The run folder's ``summary.json`` (``ringemu run``), when there is one."""
    config: dict = field(default_factory=dict)
    """The run folder's ``config.json``, when there is one."""

    @property
    def end(self) -> float:
        """The last time the events tell of."""
        return max((e["t"] for e in self.events if isinstance(e.get("t"), (int, float))),
                   default=0.0)

    def snapshot_event(self, sid: int) -> dict | None:
        """The ``snapshot`` event of snapshot ``sid`` (with every station's state)."""
        for e in self.events:
            if e.get("event") == "snapshot" and e.get("id") == sid:
                return e
        return None

    def ring_order(self, sid: int, at: float) -> list[int]:
        """The stations of the ring that snapshot ``sid`` saw, in ring order (the membership
        of its time; every station before any was bypassed)."""
        members = list(range(self.history.stations))
        for t, m in self.history.memberships:
            if t <= at and isinstance(m.get("members"), list):
                members = [k for k in m["members"] if type(k) is int]
        return members


def events_path(which: str) -> Path:
    """The events file of the run ``which`` names (see the module docstring)."""
    p = Path(which)
    candidates = [p, p / "events.jsonl"]
    if not p.is_absolute() and len(p.parts) == 1:
        candidates.append(runs_root() / which / "events.jsonl")
    for c in candidates:
        if c.is_file():
            return c
    raise ConfigError(f"{which}: no run here (give a run folder with events.jsonl, a run id, "
                      "'latest', or an events file written by 'ringemu sim --events')")


def load_run(which: str) -> Run:
    path = events_path(which)
    events = read_events(path)
    if not events:
        raise ConfigError(f"{path}: no events in it")
    for n, e in enumerate(events, 1):
        t = e.get("t")
        if "event" not in e or (t is not None and (type(t) not in (int, float)
                                                   or t != t or abs(t) == float("inf"))):
            raise ConfigError(f"{path}: event {n} is not a ringemu event")
    try:
        history = RunHistory.from_events(events)
    except RemoteProtocolError as e:
        raise ConfigError(f"{path}: {e}") from None
    finished = any(e.get("event") == "ring_down" for e in events)
    judgement = judge(history, final=finished)
    data = summary(history, judgement, lambda s: s * 1000.0, "detection_latency_ms")
    shell = "live"
    for e in events:
        if e.get("event") == "station_up":
            shell = "sim" if str(e.get("endpoint", "")).startswith("sim:") else "live"
            break
    folder = path.parent if path.name == "events.jsonl" else None
    name = folder.resolve().name if folder is not None else path.name
    return Run(name, path, events, history, judgement, data, shell, finished,
               _json_file(folder, "summary.json"), _json_file(folder, "config.json"))


def _json_file(folder: Path | None, name: str) -> dict:
    if folder is None or not (folder / name).is_file():
        return {}
    try:
        d = json.loads((folder / name).read_text(encoding="utf-8"),
                       parse_constant=lambda c: None)
    except (OSError, ValueError):
        return {}
    return d if isinstance(d, dict) else {}
