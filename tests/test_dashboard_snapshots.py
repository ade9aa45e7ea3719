"""Pinned looks of the dashboard (pytest-textual-snapshot): the main screen healthy, alarmed,
and with the help open. Canned events and a fixed terminal size make them deterministic.

After a deliberate change of looks: ``pytest tests/test_dashboard_snapshots.py
--snapshot-update``, then review the SVGs under ``__snapshots__`` before committing them.
"""

from __future__ import annotations

from ringemu.dashboard.app import DashboardApp
from tests.dashboard_canned import CannedSource, alarmed_events, healthy_events

SIZE = (160, 48)


def _app(events: list[dict], owns_ring: bool = True) -> DashboardApp:
    return DashboardApp(CannedSource(events, owns_ring=owns_ring))


def _settled(count: int):
    async def run_before(pilot) -> None:
        while pilot.app.state.events < count or pilot.app.repaint_pending:
            await pilot.pause(0.01)
        await pilot.pause()
    return run_before


def test_main_screen_healthy(snap_compare):
    events = healthy_events(8)
    assert snap_compare(_app(events), terminal_size=SIZE, run_before=_settled(len(events)))


def test_main_screen_alarmed(snap_compare):
    events = alarmed_events(8)
    assert snap_compare(_app(events), terminal_size=SIZE, press=["j", "j"],
                        run_before=_settled(len(events)))


def test_help_screen(snap_compare):
    events = healthy_events(8)
    assert snap_compare(_app(events, owns_ring=False), terminal_size=SIZE,
                        run_before=_settled(len(events)), press=["question_mark"])
