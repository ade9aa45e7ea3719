"""Pinned looks of the dashboard (pytest-textual-snapshot) at 80x24, the terminal most people
open, and at 160x48: the main screen healthy, alarmed (with the LOST row in view), healed (a
bypassed station), and the help; at 80x24 also the snapshot panel with its timeline (``v``).
Canned events and a fixed terminal size make them deterministic.

After a deliberate change of looks: ``pytest tests/test_dashboard_snapshots.py
--snapshot-update``, then review the SVGs under ``__snapshots__`` before committing them.
"""

from __future__ import annotations

import pytest

from ringemu.dashboard.app import DashboardApp
from tests.dashboard_canned import (CannedSource, alarmed_events, by_tick, healed_events,
                                    healthy_events)

SIZES = {"80x24": (80, 24), "160x48": (160, 48)}
sizes = pytest.mark.parametrize("size", list(SIZES))


def _app(owns_ring: bool = True) -> DashboardApp:
    return DashboardApp(CannedSource(owns_ring=owns_ring))


def _fed(events: list[dict]):
    """Feed ``events`` one repaint tick at a time, as a live ring would (each ``stations`` event
    would otherwise supersede the one before it, and the rate plot would show one point)."""
    async def run_before(pilot) -> None:
        app: DashboardApp = pilot.app
        for tick in by_tick(events):
            app.source.feed(tick)
            app.drain()
        while app.repaint_pending:
            await pilot.pause(0.01)
        await pilot.pause()
    return run_before


@sizes
def test_main_screen_healthy(snap_compare, size):
    assert snap_compare(_app(), terminal_size=SIZES[size], run_before=_fed(healthy_events(8)))


@sizes
def test_main_screen_alarmed(snap_compare, size):
    assert snap_compare(_app(), terminal_size=SIZES[size], press=["j", "j"],
                        run_before=_fed(alarmed_events(8)))


@sizes
def test_main_screen_healed(snap_compare, size):
    """Station 3 was killed and bypassed: the ring of epoch 1 runs without it."""
    assert snap_compare(_app(), terminal_size=SIZES[size], press=["j", "j", "j"],
                        run_before=_fed(healed_events(8)))


def test_snapshot_panel_80x24(snap_compare):
    """The compact layout after ``v``: the latest snapshot and the timeline, with the lose,
    the LOST alarm and the pause marked."""
    assert snap_compare(_app(), terminal_size=SIZES["80x24"], press=["v"],
                        run_before=_fed(alarmed_events(8)))


@sizes
def test_help_screen(snap_compare, size):
    assert snap_compare(_app(owns_ring=False), terminal_size=SIZES[size],
                        run_before=_fed(healthy_events(8)), press=["question_mark"])
