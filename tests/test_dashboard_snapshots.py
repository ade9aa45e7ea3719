"""Pinned looks of the dashboard (pytest-textual-snapshot): the main screen healthy, alarmed,
and with the help open. Canned events and a fixed terminal size make them deterministic.

After a deliberate change of looks: ``pytest tests/test_dashboard_snapshots.py
--snapshot-update``, then review the SVGs under ``__snapshots__`` before committing them.
"""

from __future__ import annotations

from ringemu.dashboard.app import DashboardApp
from tests.dashboard_canned import CannedSource, alarmed_events, by_tick, healthy_events

SIZE = (160, 48)


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


def test_main_screen_healthy(snap_compare):
    assert snap_compare(_app(), terminal_size=SIZE, run_before=_fed(healthy_events(8)))


def test_main_screen_alarmed(snap_compare):
    assert snap_compare(_app(), terminal_size=SIZE, press=["j", "j"],
                        run_before=_fed(alarmed_events(8)))


def test_help_screen(snap_compare):
    assert snap_compare(_app(owns_ring=False), terminal_size=SIZE,
                        run_before=_fed(healthy_events(8)), press=["question_mark"])
