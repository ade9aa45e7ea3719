"""The dashboard driven by canned events: state folding (the ring healing included), alarms,
keys, selection, coalescing, the layout at 80x24 and 160x48, the timeline, replay, and the
``ringemu dashboard`` command's errors.

Pilot tests run the app headless with ``App.run_test``; the canned source records the commands
the keys send instead of talking to a ring. No pytest asyncio plugin is needed: each test runs
its coroutine with ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from ringemu.core.state import Mode, StationState
from ringemu.core.verdict import SnapshotResult, SpotKind, Verdict
from ringemu.dashboard.app import DashboardApp
from ringemu.dashboard.inbox import Inbox
from ringemu.dashboard.keys import BY_KIND, FAULT_KEYS, KEY_ARGS
from ringemu.dashboard.source import ReplaySource
from ringemu.dashboard.state import HISTORY, RingState
from ringemu.dashboard.widgets import HelpScreen
from ringemu.dashboard.widgets.station_table import HEADERS
from ringemu.errors import ConfigError
from ringemu.faults import FAULTS, FaultKind, Shell, kinds_for
from tests.dashboard_canned import (N, CannedSource, alarm, alarmed_events, healed_events,
                                    healthy_events, killed_events, membership, ring_up, snapshot,
                                    stations)

SIZE = (160, 48)
SMALL = (80, 24)


# -- helpers -------------------------------------------------------------------------------------
def run(coro):
    return asyncio.run(coro)


async def until(pilot, cond, timeout: float = 5.0) -> None:
    """Let the app run until ``cond()`` holds (commands go out in thread workers)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.02)


async def started(pilot, app: DashboardApp) -> None:
    """Until the canned source's first events are on screen."""
    await until(pilot, lambda: app.inbox.received >= len(app.source.initial)
                and not app.repaint_pending)
    await pilot.pause()


def alarm_rows(app: DashboardApp) -> list[list[str]]:
    return app.alarm_log.rows_text()


def cell(app: DashboardApp, station: int, column: str) -> str:
    """The station table's text for ``station`` in ``column`` (a ``HEADERS`` name)."""
    return app.table.rows_text()[station][HEADERS.index(column)]


# -- state folding (no screen) -------------------------------------------------------------------
def test_state_folds_token_position_and_awaiting():
    state = RingState()
    state.apply_all(healthy_events())
    assert state.n == N and state.phase == "up"
    spots = state.token_spots()
    assert len(spots) == 1 and spots[0].kind is SpotKind.FRAME and spots[0].link == (3, 4)
    assert spots[0].describe() == "frame 2\u21920 seq 77 on link 3\u21924"
    assert [s.index for s in state.stations if s.awaiting] == [2]
    assert state.rate_history[-1] == pytest.approx(11000.0 / N, rel=0.1)
    assert state.health()[0] == "healthy"


def test_state_alarm_raise_and_clear_and_reported_kinds():
    state = RingState()
    state.apply_all(alarmed_events())
    level, text = state.health()
    assert level == "alarm" and "LOST" in text
    assert state.stations[4].state == "paused"
    state.apply(alarm("cleared", "LOST", 1, 12, 2.6, raised_by=11))
    assert not state.active_alarms()
    assert state.alarms[1].cleared_snapshot == 12
    assert state.health()[0] == "warning"  # station 4 is still paused
    state.apply({"event": "resumed", "station": 4, "t": 4.5})
    assert state.health()[0] == "healthy"


def test_state_attach_seeds_from_status():
    state = RingState()
    state.apply({"event": "status", "phase": "running", "stations": 4, "snapshots": 50,
                 "alarms": [alarm("raised", "DUPLICATE", 7, 48, 9.0, station=2)],
                 "station_states": {"0": "alive", "1": "dead", "2": "alive", "3": "alive"},
                 "pids": {"0": 1, "1": 2, "2": 3, "3": 4}, "hop_rate": 100.0,
                 "bad_requests": 0, "malformed": 0, "t": 10.0})
    assert state.n == 4 and state.stations[1].state == "dead"
    assert [a.kind for a in state.active_alarms()] == ["DUPLICATE"]
    assert not state.marks  # raised before the dashboard came: no time on its timeline


def test_state_keeps_the_latest_snapshot_typed():
    state = RingState()
    state.apply_all(ring_up())
    held = snapshot(3, 1.0, count=1, held={"2": 1},
                    states={str(i): {"mode": "holding" if i == 2 else "idle", "tokens": int(i == 2),
                                     "purges": 0, "at": 0.99} for i in range(N)})
    state.apply(held)
    snap = state.snapshot
    assert isinstance(snap, SnapshotResult) and snap.verdict is Verdict.OK
    assert snap == SnapshotResult.from_json(held)
    assert snap.states[2] == StationState(Mode.HOLDING, tokens=1, at=0.99)
    assert [s.describe() for s in state.token_spots()] == ["held by station 2"]
    assert state.stations[2].mode is Mode.HOLDING  # no ``stations`` events yet: from the cut


def test_state_counts_and_ignores_malformed_snapshots():
    state = RingState()
    state.apply_all(healthy_events())
    good = state.snapshot
    bad = [snapshot(11, 2.4, verdict="FINE"),
           {**snapshot(12, 2.6), "states": {"0": {"mode": "dozing"}}},
           {**snapshot(13, 2.8), "in_transit": [{"kind": "token", "from": "x", "to": 1}]},
           {**snapshot(14, 3.0), "held": [1]},
           {"event": "snapshot"}]
    state.apply_all(bad)
    assert state.malformed == len(bad)
    assert state.snapshot is good and state.count_history[-1] == 1
    assert state.health()[0] == "healthy"


def test_state_notes_purges_and_fired_faults():
    state = RingState()
    state.apply_all(ring_up() + [
        {"event": "fault_fired", "station": 1, "fault": "dup", "effect": 1, "fault_id": 3,
         "t": 1.0},
        {"event": "purge_started", "station": 0, "number": 2, "t": 1.1},
        {"event": "purge_done", "station": 0, "number": 2, "t": 1.2}])
    notes = list(state.notes)
    assert "station 1 acted on dup (fault #3)" in notes[-3]
    assert notes[-2].endswith("purge 2 started by station 0")
    assert notes[-1].endswith("purge 2 done by station 0")
    assert state.malformed == 0


# -- the ring heals (state) ----------------------------------------------------------------------
def test_state_folds_a_bypass_into_a_healed_ring():
    state = RingState()
    state.apply_all(killed_events(victim=3))
    assert state.health() == ("alarm", "ALARM: INCOMPLETE at station 3 (snapshot 11)")
    state.apply(membership(1, [0, 1, 2, 4, 5], [3], 2.4))
    ring = state.ring
    assert (ring.epoch, ring.members, ring.bypassed) == (1, (0, 1, 2, 4, 5), {3})
    assert ring.rebuilding and not ring.is_member(3) and ring.is_member(4)
    state.apply(alarm("cleared", "INCOMPLETE", 1, 12, 2.5, raised_by=11))
    assert state.health() == ("warning", "REBUILDING: ring rebuilt without station 3 "
                                         "(epoch 1, not steady yet)")
    state.apply({"event": "steady", "epoch": 1, "t": 2.45})
    assert not ring.rebuilding
    assert state.health() == ("healed", "HEALED: ring rebuilt without station 3 (epoch 1)")
    assert any("epoch 1: ring rebuilt without station 3" in n for n in state.notes)
    assert [(m.kind, m.label) for m in state.marks] == [
        ("fault", "kill 3"), ("alarm", "INCOMPLETE"), ("ring", "bypass 3")]


def test_state_a_restarted_station_is_restarting_until_it_is_a_member_again():
    state = RingState()
    state.apply_all(healed_events(victim=3))
    state.apply({"event": "restart", "station": 3, "t": 3.5})
    assert state.ring.restarting == {3}
    level, text = state.health()
    assert level == "healed" and text.endswith("; station 3 restarting")
    state.apply({"event": "station_up", "station": 3, "pid": 5003, "endpoint": "", "t": 3.6})
    assert state.stations[3].state == "alive" and state.ring.restarting == {3}
    state.apply(membership(2, list(range(N)), [], 3.7, reason="insert"))
    assert not state.ring.restarting and not state.ring.bypassed
    assert state.notes[-1].endswith("epoch 2: station 3 inserted again")
    assert state.marks[-1].label == "insert 3"
    state.apply({"event": "steady", "epoch": 2, "t": 3.8})
    assert state.health()[0] == "healthy"


def test_state_elects_a_new_active_monitor_after_the_old_one_is_bypassed():
    state = RingState()
    state.apply_all(killed_events(victim=0))
    assert state.ring.active_monitor == 0  # snapshot 0 was begun at the active monitor
    state.apply_all([alarm("cleared", "INCOMPLETE", 1, 12, 2.5, raised_by=11),
                     membership(1, [1, 2, 3, 4, 5], [0], 2.4, active_monitor=None)])
    assert state.ring.electing
    assert state.health() == ("warning", "ELECTING an active monitor (epoch 1, without "
                                         "station 0)")
    state.apply_all([{"event": "claim_started", "station": k, "t": 2.6} for k in range(1, 6)])
    assert state.claims == 5
    assert sum("claim" in n for n in state.notes) == 1  # one note for the whole election
    state.apply({"event": "elected", "station": 5, "t": 2.7})
    assert state.ring.active_monitor == 5 and not state.ring.electing
    assert state.health()[1].startswith("REBUILDING")
    state.apply({"event": "steady", "epoch": 1, "t": 2.8})
    assert state.health() == ("healed", "HEALED: ring rebuilt without station 0 (epoch 1)")


def test_state_rollback_rebuilds_the_ring_in_a_new_epoch():
    state = RingState()
    state.apply_all(healthy_events())
    state.apply_all([
        snapshot(11, 2.4, count=0, verdict="LOST"), alarm("raised", "LOST", 1, 11, 2.4),
        {"event": "rollback_request", "snapshot": 10, "because": 11, "t": 2.4},
        {"event": "rollback", "snapshot": 10, "epoch": 1, "t": 2.4},
        membership(1, list(range(N)), [], 2.4, reason="rollback")])
    assert state.ring.rebuilding and state.ring.rollback_to == 10
    state.apply(alarm("cleared", "LOST", 1, 12, 2.6, raised_by=11))
    assert "ring rolled back to snapshot 10" in state.health()[1]
    state.apply_all([{"event": "rollback_done", "snapshot": 10, "epoch": 1, "t": 2.45},
                     {"event": "steady", "epoch": 1, "t": 2.45}])
    assert state.health()[0] == "healthy" and state.rollbacks == 1
    assert state.marks[-1].label == "rollback"


def test_state_attach_reads_the_ring_from_status():
    state = RingState()
    state.apply({"event": "status", "phase": "running", "stations": 6, "snapshots": 9,
                 "alarms": [], "station_states": {str(k): "dead" if k == 2 else "alive"
                                                  for k in range(6)},
                 "pids": {}, "epoch": 3, "members": [0, 1, 3, 4, 5], "bypassed": [2],
                 "active_monitor": None, "ring_phase": "recovering", "t": 5.0})
    ring = state.ring
    assert (ring.epoch, ring.bypassed, ring.phase) == (3, {2}, "recovering")
    assert ring.electing and state.health()[1].startswith("ELECTING")
    assert "epoch 3" in state.notes[-1]


def test_state_ignores_malformed_ring_events():
    state = RingState()
    state.apply_all(healed_events())
    ring = (state.ring.epoch, state.ring.members, set(state.ring.bypassed))
    bad = [{"event": "membership"}, {"event": "membership", "epoch": 9, "members": 5},
           {"event": "steady"}, {"event": "elected"}, {"event": "restart", "station": "x"},
           {"event": "rollback", "epoch": 4}]
    state.apply_all(bad)
    assert state.malformed == len(bad)
    assert (state.ring.epoch, state.ring.members, set(state.ring.bypassed)) == ring
    assert state.health()[0] == "healed"


def test_state_counts_payloads_and_suspicions_cheaply():
    state = RingState()
    state.apply_all(healthy_events())
    banner = state.rev_banner
    state.apply_all([{"event": "payload_sent", "station": 1, "dst": 2, "seq": k, "t": 2.3}
                     for k in range(1, 301)]
                    + [{"event": "payload_delivered", "station": 2, "src": 1, "seq": k, "t": 2.3}
                       for k in range(1, 299)])
    assert (state.payloads_sent, state.payloads_delivered) == (300, 298)
    assert state.rev_banner == banner  # the banner shows none of them
    notes = len(state.notes)
    state.apply_all([{"event": "suspicion", "station": 4, "reason": "no token", "t": 2.4 + k}
                     for k in range(10)])  # one a second
    assert state.suspicions == 10
    assert len(state.notes) == notes + 2  # at 2.4 s and 7.4 s: one note in five seconds
    assert "station 4 suspects no token" in state.notes[-1]
    assert state.health()[0] == "healthy"  # a suspicion is never an alarm


def test_state_timeline_keeps_where_the_count_changed_over_a_window():
    from ringemu.dashboard.state import TIMELINE_S

    state = RingState()
    state.apply_all([snapshot(k, 0.1 * k) for k in range(100)])
    assert list(state.timeline) == [(0.0, 1), (9.9, 1)]  # one run: its two ends
    state.apply_all([snapshot(100, 10.0, count=0, verdict="LOST"), snapshot(101, 10.1),
                     snapshot(102, 10.2, count=None, verdict="INCOMPLETE"), snapshot(103, 10.3),
                     snapshot(104, 10.4)])
    assert list(state.timeline)[2:] == [(10.0, 0), (10.1, 1), (10.2, None), (10.3, 1),
                                        (10.4, 1)]
    state.apply(snapshot(105, 10.0 + TIMELINE_S + 5))
    assert state.timeline[0][0] >= 10.0 and len(state.timeline) <= 4


# -- alarms and banner ---------------------------------------------------------------------------
def test_alarm_row_appears_and_clears():
    async def go():
        source = CannedSource(healthy_events())
        app = DashboardApp(source)
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot, app)
            assert alarm_rows(app) == []
            assert app.banner.level == "healthy"
            source.feed([snapshot(11, 2.4, count=0, verdict="LOST"),
                         alarm("raised", "LOST", 1, 11, 2.4)])
            await until(pilot, lambda: len(alarm_rows(app)) == 1)
            row = alarm_rows(app)[0]
            assert row[:4] == ["1", "RAISED", "LOST", "11"]
            assert app.banner.level == "alarm"
            assert "ALARM: LOST" in app.banner.text.plain
            assert app.alarm_log.has_class("-active")
            source.feed([snapshot(12, 2.6), alarm("cleared", "LOST", 1, 12, 2.6, raised_by=11)])
            await until(pilot, lambda: alarm_rows(app)[0][1].startswith("cleared"))
            assert alarm_rows(app)[0][1] == "cleared by 12 at 2.60 s"
            assert app.banner.level == "healthy"
            assert not app.alarm_log.has_class("-active")
    run(go())


def test_banner_shows_unhealthy_ring():
    async def go():
        source = CannedSource(healthy_events())
        app = DashboardApp(source)
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot, app)
            source.feed([{"event": "station_exit", "station": 3, "status": -9, "pid": 4003,
                          "t": 2.5}])
            await until(pilot, lambda: app.banner.level == "warning")
            assert "station 3 dead" in app.banner.text.plain
            # the monitor reports an active alarm we never saw raised (attached late)
            source.feed([stations(t=2.75, states={3: "dead"}, alarms=["INCOMPLETE"])])
            await until(pilot, lambda: app.banner.level == "alarm")
            assert "INCOMPLETE" in app.banner.text.plain
            assert cell(app, 3, "state") == "dead"
    run(go())


# -- selection and keys --------------------------------------------------------------------------
def test_keys_move_the_selection_and_wrap():
    async def go():
        source = CannedSource(healthy_events())
        app = DashboardApp(source)
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot, app)
            assert app.selected == 0
            await pilot.press("j", "down", "right")
            assert app.selected == 3
            assert app.table.selected == 3 and app.ring_view.selected == 3
            await pilot.press("K", "up")
            assert app.selected == 1
            await pilot.press("left", "left")
            assert app.selected == N - 1  # the ring wraps
            await pilot.press("j")
            assert app.selected == 0
            await pilot.pause(0.1)
            assert source.sent == []  # moving never sends anything (shift-K is not kill)
    run(go())


def test_fault_keys_come_from_the_registry():
    live = [k for k in kinds_for(Shell.LIVE) if FAULTS[k].key]
    assert [(k.key, k.kind) for k in FAULT_KEYS] == [(FAULTS[k].key, k) for k in live]
    assert {k.key: k.kind.value for k in FAULT_KEYS} == {
        "l": "lose", "d": "dup", "c": "corrupt", "k": "kill", "p": "pause"}
    assert BY_KIND[FaultKind.PAUSE].arg == KEY_ARGS[FaultKind.PAUSE] == 2.0
    assert BY_KIND[FaultKind.PAUSE].label == "pause 2s"
    assert "ARG" not in BY_KIND[FaultKind.PAUSE].help


@pytest.mark.parametrize("key, kind", [(k.key, k.kind.value) for k in FAULT_KEYS])
def test_fault_keys_send_inject_at_the_selected_station(key, kind):
    async def go():
        source = CannedSource(healthy_events())
        app = DashboardApp(source)
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot, app)
            await pilot.press("j", "j", "j")
            await pilot.press(key)
            await until(pilot, lambda: source.sent)
            expected = {"cmd": "inject", "kind": kind, "station": 3}
            if kind == "pause":
                expected["arg"] = 2.0
            assert source.sent == [expected]
            await until(pilot, lambda: any(n.startswith(f"injected {kind}") for n in app.notices))
    run(go())


def test_s_takes_a_snapshot():
    async def go():
        source = CannedSource(healthy_events())
        app = DashboardApp(source)
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot, app)
            await pilot.press("s")
            await until(pilot, lambda: source.sent)
            assert source.sent == [{"cmd": "snapshot"}]
    run(go())


def test_question_mark_opens_help_and_escape_closes_it():
    async def go():
        source = CannedSource(healthy_events())
        app = DashboardApp(source)
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot, app)
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            assert "detach" in app.screen.text  # this dashboard does not own the ring
            source.feed([alarm("raised", "LOST", 1, 11, 2.4)])  # updates go on behind it
            await until(pilot, lambda: len(alarm_rows(app)) == 1)
            await pilot.press("escape")
            assert not isinstance(app.screen, HelpScreen)
            assert app.return_code is None  # closing help did not quit
    run(go())


@pytest.mark.parametrize("owns, words", [(True, "end ring"), (False, "ring keeps running")])
def test_q_leaves_and_footer_says_what_happens_to_the_ring(owns, words):
    async def go():
        source = CannedSource(healthy_events(), owns_ring=owns)
        app = DashboardApp(source)
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot, app)
            assert words in app.screen.active_bindings["q"].binding.description
            assert len(app._bindings.get_bindings_for_key("q")) == 1  # one q, one action
            await pilot.press("q")
            await until(pilot, lambda: app.return_code is not None)
            assert source.closed
    run(go())


# -- the ring heals (screen) and restart --------------------------------------------------------
def test_ring_view_draws_the_bypass_the_monitor_and_the_epoch():
    async def go():
        source = CannedSource(healed_events(victim=3))
        app = DashboardApp(source)
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot, app)
            chain = app.ring_view.render().plain.splitlines()[0]
            assert chain.startswith("[0A ]")  # the active monitor
            # the link out of 2 jumps over the bypassed 3 (dotted) and leads on to 4
            assert "[2 ]\u2500\u2500\u2500\u2500\u2504[3 ]\u2504\u2500\u25b6[4 ]" in chain
            assert "epoch 1" in app.ring_view.border_title
            assert "active monitor 0 (02:00:00:00:00:00)" in app.ring_view.border_title
            assert app.banner.level == "healed"
            assert "HEALED: ring rebuilt without station 3 (epoch 1)" in app.banner.text.plain
            assert [cell(app, k, "role") for k in range(4)] == ["AM", "SM", "SM", "bypassed"]
            source.feed([{"event": "restart", "station": 3, "t": 3.5}])
            await until(pilot, lambda: "[3\u21bb]" in app.ring_view.render().plain)
            assert cell(app, 3, "role") == "restarting"
            source.feed([membership(2, [0, 1, 2, 4, 5], [3], 3.6, active_monitor=None)])
            await until(pilot, lambda: "electing" in app.ring_view.border_title)
            assert app.banner.text.plain.lstrip().startswith("ELECTING an active monitor")
    run(go())


def test_r_asks_the_ring_to_restart_the_selected_station():
    async def go():
        source = CannedSource(healed_events(victim=3))
        app = DashboardApp(source)
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot, app)
            await pilot.press("j", "j", "j", "r")
            await until(pilot, lambda: source.sent)
            assert source.sent == [{"cmd": "restart", "station": 3}]
            await until(pilot, lambda: any("station 3 will be started again" in n
                                           for n in app.notices))
            assert "restart" == app.screen.active_bindings["r"].binding.description
    run(go())


def test_r_refused_shows_the_rings_reason():
    async def go():
        refusal = {"ok": False, "error": "station 1 is alive, not dead"}
        source = CannedSource(healthy_events(), replies={"restart": refusal})
        app = DashboardApp(source)
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot, app)
            await pilot.press("j", "r")
            await until(pilot, lambda: any(n.startswith("restart refused") for n in app.notices))
            assert source.sent == [{"cmd": "restart", "station": 1}]
            assert "restart refused: station 1 is alive, not dead" in app.notices
    run(go())


# -- layout ---------------------------------------------------------------------------------------
def visible(app: DashboardApp, widget) -> bool:
    """``widget`` has rows on screen (a hidden one, or one in a hidden panel, has none)."""
    region = widget.region
    return region.height > 0 and region.bottom <= app.screen.size.height


def test_80x24_shows_the_essentials_and_v_switches_the_lower_panel():
    async def go():
        source = CannedSource(healthy_events())
        app = DashboardApp(source)
        async with app.run_test(size=SMALL) as pilot:
            await started(pilot, app)
            assert app.compact and app.screen.has_class("-compact")
            assert app.screen.active_bindings["q"].binding.description == "detach"
            assert app.banner.region.height == 2  # the headline and the notes, not wrapped
            assert visible(app, app.table) and not visible(app, app.snapshot_panel)
            header = app.table.render_line(0).text.split()
            assert header[:6] == ["#", "state", "role", "mode", "tokens", "frames"]
            assert not visible(app, app.alarm_log)  # no alarm yet: no rows taken
            await pilot.press("v")
            assert app.view == "snapshot"
            await pilot.pause()
            assert visible(app, app.snapshot_panel) and not visible(app, app.table)
            assert app.snapshot_panel.query_one("#timeline").region.height >= 6
            await pilot.press("v")
            await pilot.pause()
            assert app.view == "alarms" and visible(app, app.event_log)
            await pilot.press("v")
            assert app.view == "stations"
            keys = list(app.query("FooterKey"))
            assert {k.key for k in keys} >= {"question_mark", "q", "r", "v", "l"}
            assert all(0 < k.region.width and k.region.right <= SMALL[0] for k in keys)
    run(go())


def test_80x24_alarm_rows_show_under_the_station_table():
    async def go():
        source = CannedSource(healthy_events())
        app = DashboardApp(source)
        async with app.run_test(size=SMALL) as pilot:
            await started(pilot, app)
            await pilot.press("l")
            source.feed([snapshot(11, 2.4, count=0, verdict="LOST"),
                         alarm("raised", "LOST", 1, 11, 2.4)])
            await until(pilot, lambda: len(alarm_rows(app)) == 1)
            await pilot.pause()
            assert visible(app, app.table) and visible(app, app.alarm_log)
            log = app.alarm_log.region
            assert log.height == 4  # border, header and the one row: what it needs
            assert log.bottom <= app.screen.size.height - 1  # above the footer
            assert "LOST" in app.alarm_log.render_line(1).text  # the row itself, on screen
    run(go())


def test_160x48_shows_every_panel_side_by_side():
    async def go():
        source = CannedSource(alarmed_events(), owns_ring=True)
        app = DashboardApp(source)
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot, app)
            assert not app.compact
            for widget in (app.table, app.snapshot_panel, app.alarm_log):
                assert visible(app, widget)
            assert not visible(app, app.event_log)
            assert app.table.region.y == app.snapshot_panel.region.y  # side by side
            assert app.alarm_log.region.height == 4
            assert "v" not in app.screen.active_bindings  # nothing to switch
            await pilot.press("v")
            assert app.view == "stations"
            assert app.screen.active_bindings["q"].binding.description == "quit + end ring"
            await pilot.resize_terminal(*SMALL)
            await until(pilot, lambda: app.compact)
            assert "v" in app.screen.active_bindings
            assert len(app._bindings.get_bindings_for_key("q")) == 1
    run(go())


def test_fault_keys_work_in_both_layouts_and_the_small_footer_groups_them():
    async def go():
        source = CannedSource(healthy_events())
        app = DashboardApp(source)
        async with app.run_test(size=SMALL) as pilot:
            await started(pilot, app)
            active = app.screen.active_bindings
            assert active["l"].binding.action == "fault('lose')"
            assert active["l"].binding.group is not None
            await pilot.press("l")
            await until(pilot, lambda: source.sent)
            assert source.sent == [{"cmd": "inject", "kind": "lose", "station": 0}]
    run(go())


# -- the timeline ---------------------------------------------------------------------------------
def test_timeline_steps_and_labels():
    from ringemu.dashboard.state import Mark
    from ringemu.dashboard.widgets.timeline import place_labels, steps

    assert steps([(0.0, 1), (1.0, 0), (2.0, None), (3.0, 1), (4.0, 2)]) == [
        [(0.0, 1), (1.0, 1), (1.0, 0)], [(3.0, 1), (4.0, 1), (4.0, 2)]]
    marks = [Mark(1.0, "fault", "lose 1"), Mark(1.1, "alarm", "LOST"),
             Mark(1.2, "ring", "bypass 3"), Mark(9.9, "fault", "dup 2")]
    placed = place_labels(marks, 0.0, 10.0, cols=50)
    rows = {m.label: (row, align) for m, row, align in placed}
    assert rows["dup 2"] == (0, "right")  # near the right edge: ends at its line
    assert rows["bypass 3"] == (0, "left") and rows["LOST"] == (1, "left")
    assert "lose 1" not in rows  # no third row: its line is drawn without a label


def test_timeline_is_built_only_when_snapshots_faults_or_alarms_arrive():
    async def go():
        source = CannedSource(healthy_events())
        app = DashboardApp(source)
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot, app)
            timeline = app.snapshot_panel.query_one("#timeline")
            await pilot.pause(0.1)
            builds = timeline.builds
            assert builds >= 1
            for k in range(5):  # stations reports only: counters move, the plot does not
                source.feed([stations(t=2.3 + 0.25 * k, tokens=5000 + k)])
                await until(pilot, lambda: not app.repaint_pending)
                await pilot.pause(0.05)
            assert timeline.builds == builds
            source.feed([snapshot(11, 3.6, count=2, verdict="DUPLICATE")])
            await until(pilot, lambda: timeline.builds > builds)
    run(go())


def test_snapshot_header_reads_lost_0_tokens():
    from ringemu.dashboard.widgets.snapshot_panel import snapshot_text

    state = RingState()
    state.apply_all(alarmed_events())
    assert snapshot_text(state).plain.splitlines()[0] == "#11  LOST  0 tokens  epoch 0"


# -- coalescing ----------------------------------------------------------------------------------
def test_a_burst_of_5000_events_is_folded_with_few_repaints():
    async def go():
        source = CannedSource(ring_up())
        app = DashboardApp(source)
        async with app.run_test(size=SIZE) as pilot:
            await started(pilot, app)
            repaints_before, drains_before = app.repaints, app.drains
            for k in range(5000):  # 5,000 separate hand-overs before the UI gets a turn
                source.feed([stations(t=1 + k * 0.001, tokens=k) if k % 2 else
                             snapshot(k, 1 + k * 0.001)])
            assert app.inbox.dropped == 2499  # each stations event superseded the one before
            await until(pilot, lambda: not app.repaint_pending)
            await pilot.pause()
            assert app.state.events == len(source.initial) + 2501
            assert app.drains - drains_before <= 3
            assert app.repaints - repaints_before <= 3
            assert app.state.snapshot.snapshot_id == 4998
            assert len(app.state.count_history) == HISTORY  # every snapshot was folded
            assert cell(app, 0, "tokens") == "4,999"
    run(go())


def test_inbox_keeps_order_and_only_the_newest_waiting_stations_event():
    inbox = Inbox()
    inbox.put([snapshot(0, 0.1), stations(t=0.2)])
    inbox.put([stations(t=0.3), snapshot(1, 0.4)])
    inbox.put([stations(t=0.5)])
    assert [(e["event"], e["t"]) for e in inbox.take()] == [
        ("snapshot", 0.1), ("snapshot", 0.4), ("stations", 0.5)]
    inbox.put([stations(t=0.6)])  # the one before was taken already: nothing to drop
    assert [e["t"] for e in inbox.take()] == [0.6]
    assert (inbox.received, inbox.dropped, len(inbox)) == (6, 2, 0)


def test_inbox_take_with_a_limit_leaves_the_rest_in_order():
    inbox = Inbox()
    inbox.put([snapshot(0, 0.1), snapshot(1, 0.2), stations(t=0.3)])
    assert [e["t"] for e in inbox.take(1)] == [0.1]
    inbox.put([stations(t=0.4)])  # still supersedes the waiting one
    assert [e["t"] for e in inbox.take(1)] == [0.2]
    assert [e["t"] for e in inbox.take()] == [0.4]
    inbox.put([snapshot(2, 0.5), stations(t=0.6), snapshot(3, 0.7)])
    assert [e["t"] for e in inbox.take(2)] == [0.5, 0.6]
    inbox.put([stations(t=0.8)])  # the waiting one was taken: both are kept
    assert [e["t"] for e in inbox.take()] == [0.7, 0.8]
    assert inbox.dropped == 1


def test_inbox_takes_from_many_threads_without_losing_or_reordering():
    inbox = Inbox()
    per_thread = 2000

    def feed(tid: int) -> None:
        for k in range(per_thread):
            e = stations(t=k) if k % 2 else snapshot(k, k)
            inbox.put([{**e, "tid": tid}])

    threads = [threading.Thread(target=feed, args=(tid,)) for tid in range(4)]
    for th in threads:
        th.start()
    taken: list[dict] = []
    while any(th.is_alive() for th in threads) or len(inbox):
        taken += inbox.take(100)
    for th in threads:
        th.join()
    assert inbox.received == 4 * per_thread
    assert len(taken) + inbox.dropped == inbox.received
    for tid in range(4):
        snaps = [e["t"] for e in taken if e["tid"] == tid and e["event"] == "snapshot"]
        assert snaps == list(range(0, per_thread, 2))  # every snapshot, in order


# -- replay --------------------------------------------------------------------------------------
def _write_run(tmp_path: Path) -> Path:
    run_dir = tmp_path / "20260101-000000-000-1"
    run_dir.mkdir()
    events = [e for e in alarmed_events() if e["event"] != "stations"]
    events += [snapshot(12, 2.6), alarm("cleared", "LOST", 1, 12, 2.6, raised_by=11),
               {"event": "purge_started", "station": 0, "number": 1, "t": 2.45},
               {"event": "purge_done", "station": 0, "number": 1, "t": 2.5},
               {"event": "resumed", "station": 4, "t": 4.45},
               {"event": "ring_down", "snapshots": 13, "t": 4.6}]
    with open(run_dir / "events.jsonl", "w") as f:
        for e in events:
            f.write(json.dumps(e) + "\n")
        f.write("not json\n")
    return run_dir


@pytest.mark.parametrize("speed", [0, 20.0])
def test_replay_of_a_small_events_jsonl(tmp_path, speed):
    async def go():
        source = ReplaySource(_write_run(tmp_path), speed=speed)
        app = DashboardApp(source)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.state.phase in ("down", "ended")
                        and not app.repaint_pending, timeout=10)
            await pilot.pause()
            rows = alarm_rows(app)
            assert [r[2] for r in rows] == ["LOST"]
            assert rows[0][1].startswith("cleared by 12")
            assert app.state.snapshot.snapshot_id == 12
            assert app.banner.level == "ended"
            assert cell(app, 0, "tokens") == "\u2013"  # no counters in a replay
            await pilot.press("l")
            await pilot.pause()
            assert any("replay" in n and "disabled" in n for n in app.notices)
            assert "quit" == app.screen.active_bindings["q"].binding.description
    run(go())


def test_replay_of_a_folder_without_events_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no events.jsonl"):
        ReplaySource(tmp_path)


# -- the command ---------------------------------------------------------------------------------
def test_dashboard_command_errors(tmp_path, monkeypatch):
    from ringemu.cli.dashboard_cmd import dashboard

    runner = CliRunner()
    r = runner.invoke(dashboard, [str(tmp_path), "--run", "x"])
    assert r.exit_code == 2 and "not both" in r.output
    r = runner.invoke(dashboard, ["--speed", "2"])
    assert r.exit_code == 2 and "only for a replay" in r.output
    r = runner.invoke(dashboard, [str(tmp_path)])
    assert isinstance(r.exception, ConfigError) and "no events.jsonl" in str(r.exception)
    monkeypatch.setenv("RINGEMU_RUNTIME", str(tmp_path / "runtime"))
    r = runner.invoke(dashboard, [])
    assert isinstance(r.exception, ConfigError) and "no running ring" in str(r.exception)
    r = runner.invoke(dashboard, [str(_write_run(tmp_path))])  # CliRunner's stdout: no tty
    assert isinstance(r.exception, ConfigError) and "needs a terminal" in str(r.exception)


def test_dashboard_help_names_the_real_keys():
    from ringemu.cli.dashboard_cmd import dashboard

    r = CliRunner().invoke(dashboard, ["--help"])
    assert r.exit_code == 0
    text = " ".join(r.output.split())  # click wraps lines where it likes
    for info in FAULTS.values():
        if info.key and Shell.LIVE in info.shells:
            assert f"{info.key} {info.kind.value}" in text
    assert "p pause (2 s)" in text
    assert "arrows or j/K select" in text and "q quit" in text
    assert "r restart a dead station" in text and "v switch panels" in text
    assert "K kill" not in text and "j/k" not in text


def test_ring_up_names_the_active_monitor_before_any_snapshot():
    state = RingState()
    state.apply_all(ring_up(active_monitor=3))
    assert state.ring.active_monitor == 3
    state.apply(snapshot(0, 1.0, count=1, held={"2": 1}))
    assert state.ring.active_monitor == 3, "snapshot 0's initiator is only a guess for old runs"
