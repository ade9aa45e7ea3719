"""End to end: a real ring, the dashboard attached to it under ``run_test``, ``l`` pressed,
the LOST alarm row appears; ``q`` pressed, and not one of the ring's processes is left.

The dashboard owns this ring (as under ``ringemu up``), so ``q`` itself must end it: the check
runs while the ``with LiveRing`` block, which would otherwise clean up, is still open.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from ringemu.dashboard.app import DashboardApp
from ringemu.dashboard.source import LiveSource
from ringemu.live.launcher import LiveRing, RingConfig
from ringemu.live.paths import same_process

pytestmark = pytest.mark.live


async def _until(pilot, cond, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        await pilot.pause(0.05)
    return cond()


def _alarm_kinds(app: DashboardApp) -> list[str]:
    return [row[2] for row in app.alarm_log.rows_text()]


@pytest.mark.parametrize("transport", ["ipc", "tcp"])
def test_lose_key_raises_lost_alarm_and_q_ends_the_ring(tmp_path, transport):
    with LiveRing(RingConfig(stations=6, transport=transport, runs_dir=str(tmp_path))) as ring:
        ring.start()
        app = DashboardApp(LiveSource(ring.info, ring=ring))

        async def go() -> None:
            async with app.run_test(size=(160, 48)) as pilot:
                assert await _until(pilot, lambda: app.state.n == 6 and app.state.snapshot, 5.0)
                await pilot.press("l")
                assert await _until(pilot, lambda: "LOST" in _alarm_kinds(app), 5.0), \
                    f"no LOST alarm row; notices: {app.notices}"
                assert app.state.alarms, "the alarm came from the ring's event stream"
                await pilot.press("q")
                assert await _until(pilot, lambda: app.return_code is not None, 10.0)

        asyncio.run(go())
        assert app.source_closed.is_set()
        left = [r for r in ring.records if same_process(r["pid"], r.get("start_time"))]
        assert left == [], f"still running after q: {left}"
