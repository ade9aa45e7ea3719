"""The ring's health in one line, and its level (the banner's colour).

Most urgent first: a ring error; an active alarm; a ring not running (waiting, down, replay
over); a ring being rebuilt (``ELECTING`` while it has no active monitor, else ``REBUILDING``);
stations down that the ring has not bypassed yet (``DEGRADED``); a purge under way; then
``HEALED`` when the ring runs without some of its stations (naming those being restarted),
``RESTARTING`` when a station is being started again before it was bypassed, else ``HEALTHY``.
Pure and Textual-free, like ``state``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ringemu.core.verdict import Verdict
from ringemu.dashboard.membership import station_list

if TYPE_CHECKING:
    from ringemu.dashboard.state import RingState

LEVELS = ("healthy", "healed", "alarm", "warning", "waiting", "ended")

UP = ("alive", "starting")


def health(state: RingState) -> tuple[str, str]:
    """(level, one line): level is one of ``LEVELS``."""
    if state.phase == "error":
        return "alarm", f"RING ERROR: {state.error}"
    active = state.active_alarms()
    kinds = {a.kind for a in active}
    extra = sorted(state.reported_alarms - kinds)
    if state.phase not in ("down", "ended") and (active or extra):
        parts = [f"{a.kind}" + (f" at station {a.station}" if a.station is not None else "")
                 + f" (snapshot {a.snapshot})" for a in active] + extra
        return "alarm", "ALARM: " + "; ".join(parts)
    if state.phase == "waiting":
        return "waiting", "waiting for the ring's events\u2026"
    if state.phase == "down":
        return "ended", "RING DOWN"
    if state.phase == "ended":
        return "ended", "REPLAY FINISHED"
    ring = state.ring
    out = sorted(ring.bypassed)
    without = f", without {station_list(out)}" if out else ""
    if ring.electing:
        return "warning", f"ELECTING an active monitor (epoch {ring.epoch}{without})"
    if ring.rebuilding:
        return "warning", f"REBUILDING: {ring.change()} (epoch {ring.epoch}, not steady yet)"
    down = [f"station {s.index} {s.state}" for s in state.stations
            if s.state not in UP and s.index not in ring.bypassed
            and s.index not in ring.restarting]
    if down:
        return "warning", "DEGRADED: " + ", ".join(down[:6]) + (" \u2026" if len(down) > 6
                                                                else "")
    snap = state.snapshot
    if snap is not None and snap.verdict is Verdict.RECOVERING:
        return "warning", "RECOVERING: the active monitor is purging the ring"
    if state.phase == "starting":
        return "waiting", "ring starting\u2026"
    restarting = f"; {station_list(ring.restarting)} restarting" if ring.restarting else ""
    if out:
        return "healed", (f"HEALED: ring rebuilt without {station_list(out)} "
                          f"(epoch {ring.epoch}){restarting}")
    if ring.restarting:
        return "warning", f"RESTARTING {station_list(ring.restarting)} (epoch {ring.epoch})"
    epoch = f", epoch {ring.epoch}" if ring.epoch else ""
    if snap is None or not snap.count:
        return "healthy", "HEALTHY" + (f" (epoch {ring.epoch})" if ring.epoch else "")
    return "healthy", f"HEALTHY: {snap.count} token, snapshots {snap.verdict}{epoch}"
