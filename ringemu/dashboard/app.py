"""The dashboard app, and ``run_dashboard``: what ``ringemu up`` and ``ringemu dashboard`` open.

The app takes its event source as an argument (live ring, replay, or canned events in tests)
and never touches a socket on the UI thread: the source's reader runs in a thread worker and
puts events into the app's ``Inbox`` (the one coalescing layer, see ``inbox``); one timer, every
``REPAINT_INTERVAL``, drains the inbox, folds what it took into ``RingState`` and repaints if
anything changed. Key presses repaint at once; commands go out in short thread workers. So the
UI keeps up with any ring without ever slowing it (the monitor drops events for a slow
subscriber rather than wait for it).

``q`` leaves: when the dashboard started the ring (``ringemu up``) the ring is ended first;
when it attached to someone else's ring it only detaches.

The layout follows the terminal's size. From ``WIDE`` (columns, rows) up, everything shows at
once: banner, ring, the station table beside the snapshot panel (its plots and the timeline),
and the alarm log under them, as tall as its rows (hidden while there are none). Below it the
layout is *compact*: the lower area shows one panel at a time, the station table, the snapshot
panel or the alarm log, and ``v`` switches between them; the alarm log's rows also show under
the first two as soon as there is an alarm. The classes ``-compact`` and ``-view-NAME`` on the
screen carry this to ``dashboard.tcss``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from textual import events, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.geometry import Size
from textual.reactive import reactive
from textual.widgets import Footer
from textual.worker import get_current_worker

from ringemu.dashboard.inbox import Inbox
from ringemu.dashboard.keys import BY_KIND, FAULT_KEYS, leave_label
from ringemu.dashboard.messages import CommandDone, SourceNotice
from ringemu.dashboard.source import LiveSource, ReplaySource, Source
from ringemu.dashboard.state import RingState
from ringemu.dashboard.widgets import (AlarmLog, Banner, EventLog, HelpScreen, RingView,
                                       SnapshotPanel, StationTable)
from ringemu.faults import FaultKind

log = logging.getLogger(__name__)

REPAINT_INTERVAL = 0.25
"""Seconds between two drains of the inbox (and so between two repaints). The ring reports
its stations every 250 ms; repainting more often costs CPU, which the ring's own processes
share, without showing anything more. Key presses repaint at once."""

FOLD_CHUNK = 1000
FOLD_BUDGET = 0.1
"""Seconds one drain may spend folding (in chunks of ``FOLD_CHUNK`` events) before it repaints
and leaves the rest for the next tick: an instant replay of a long run must not freeze keys."""

HANGUP_GRACE_S = 3.0
"""After SIGHUP, how long the app may take to exit once its source is closed."""

WIDE = (120, 36)
"""The smallest terminal (columns, rows) that shows every panel at once; see the module
docstring for what a smaller one gets."""

VIEWS = ("stations", "snapshot", "alarms")
"""The lower area's panels in the compact layout, in the order ``v`` steps through them."""


FAULT_GROUP = Binding.Group("fault", compact=True)
"""The compact layout's footer shows the fault keys as one group (``ldckp fault``): their
labels would push ``?`` and ``q`` off an 80-column footer. Each fault key is bound twice, to
``inject`` (labelled, wide layout) and to ``fault`` (grouped, compact); ``check_action``
enables one of the two."""


class DashboardApp(App[None]):
    """The dashboard; see the module docstring."""

    CSS_PATH = "dashboard.tcss"
    TITLE = "ringemu"
    ENABLE_COMMAND_PALETTE = False

    BINDINGS = [
        Binding("up,K", "move(-1)", "select", key_display="\u2191\u2193/jK"),
        Binding("down,j", "move(1)", "select", show=False),
        Binding("left", "move(-1)", "previous station", show=False),
        Binding("right", "move(1)", "next station", show=False),
        *(Binding(k.key, k.action, k.label) for k in FAULT_KEYS),
        *(Binding(k.key, k.action.replace("inject", "fault", 1), k.label, group=FAULT_GROUP)
          for k in FAULT_KEYS),
        Binding("r", "restart", "restart"),
        Binding("s", "snapshot", "snapshot"),
        Binding("v", "next_view", "panels"),
        Binding("question_mark", "help", "help", key_display="?"),
    ]
    """And ``q``, bound per app in ``__init__``: its label says what leaving does here."""

    selected: reactive[int] = reactive(0)
    view: reactive[str] = reactive(VIEWS[0])
    """The panel the compact layout shows in its lower area."""

    def __init__(self, source: Source) -> None:
        super().__init__()
        self.source = source
        self.bind("q", "leave", description=leave_label(source.owns_ring, source.commands))
        self.state = RingState()
        self.inbox = Inbox()
        """Where the source puts events; drained by the repaint timer."""
        self.drains = 0
        """Timer ticks that found events to fold."""
        self.repaints = 0
        """Repaints so far: at most one per drain, plus one per key that moves the selection."""
        self._painted = -1  # the state's revision the screen shows
        self.leaving = False
        self.source_closed = threading.Event()
        """Set once ``q`` (or a signal) closed the source: an owned ring is ended by then."""
        self._banner_extra = ""
        self._ui_loop: asyncio.AbstractEventLoop | None = None
        self.alarm_log: AlarmLog | None = None
        self.notices: list[str] = []
        """Every notice shown (toasts vanish; tests and the log keep these)."""
        self.compact = False
        """The terminal is smaller than ``WIDE``: one lower panel at a time."""

    # -- layout ---------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Banner(id="banner")
        yield RingView(id="ring")
        with Horizontal(id="middle"):
            yield StationTable(id="stations")
            yield SnapshotPanel(id="snapshot")
        yield AlarmLog(id="alarms")
        yield EventLog(id="events")
        yield Footer()

    def on_resize(self, event: events.Resize) -> None:
        self._lay_out(event.size)

    def watch_view(self) -> None:
        self._lay_out(self.size)

    def _lay_out(self, size: Size) -> None:
        """Set the screen's layout classes for a terminal of ``size`` (see the module doc)."""
        if self.alarm_log is None:
            return  # not mounted yet: on_mount lays out
        compact = size.width < WIDE[0] or size.height < WIDE[1]
        main = self.screen_stack[0]
        main.set_class(compact, "-compact")
        for v in VIEWS:
            main.set_class(v == self.view, f"-view-{v}")
        hint = f"v: {VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]}" if compact else ""
        for view, panel in zip(VIEWS, (self.table, self.snapshot_panel, self.event_log)):
            panel.border_subtitle = hint if view == self.view else ""
        if compact != self.compact:
            self.compact = compact
            self.query_one(Footer).compact = compact
            self._label_leave()
            self.refresh_bindings()

    def _label_leave(self) -> None:
        """Give the one ``q`` binding the footer words that fit the layout (a binding is
        immutable: it is replaced by a copy with the other words)."""
        label = leave_label(self.source.owns_ring, self.source.commands, short=self.compact)
        bindings = self._bindings.key_to_bindings
        bindings["q"] = [dataclasses.replace(b, description=label) for b in bindings["q"]]

    def on_mount(self) -> None:
        self._ui_loop = asyncio.get_running_loop()
        # kept, because queries go to the active screen and the help screen may be on top
        self.banner = self.query_one(Banner)
        self.ring_view = self.query_one(RingView)
        self.table = self.query_one(StationTable)
        self.snapshot_panel = self.query_one(SnapshotPanel)
        self.alarm_log = self.query_one(AlarmLog)
        self.event_log = self.query_one(EventLog)
        self.event_log.border_title = "events"
        self.ring_view.border_title = "ring"
        self.table.border_title = "stations"
        self.snapshot_panel.border_title = "latest snapshot"
        self.alarm_log.border_title = "alarms"
        self._lay_out(self.size)
        if not self.source.commands:
            self.say("Replay: keys that act on the ring are disabled.")
        log.info("dashboard on %s", self.source.label)
        self.source.open(self.inbox.put)
        self.drain()  # the first paint, with what the source handed over on open
        self.set_interval(REPAINT_INTERVAL, self.drain)
        self._pump()

    # -- events in ------------------------------------------------------------------------------
    @work(thread=True, name="events", group="source", exit_on_error=False)
    def _pump(self) -> None:
        worker = get_current_worker()
        try:
            self.source.run(lambda: worker.is_cancelled)
        except Exception as e:  # noqa: BLE001 - show it, keep the UI
            log.exception("event source failed")
            self.post_message(SourceNotice(f"event source failed: {e}", "error"))

    def drain(self) -> None:
        """The one place events reach the screen: fold what waits, repaint if it changed."""
        deadline = time.monotonic() + FOLD_BUDGET
        folded = False
        while self.inbox:
            self.state.apply_all(self.inbox.take(FOLD_CHUNK))
            folded = True
            if time.monotonic() >= deadline:
                break
        if folded:
            self.drains += 1
            if self.state.n and self.selected >= self.state.n:
                self.selected = self.state.n - 1  # repaints, through watch_selected
        if self.state.revision != self._painted:
            self._repaint()

    @property
    def repaint_pending(self) -> bool:
        """Events wait in the inbox, or the screen does not show the latest state yet."""
        return bool(self.inbox) or self.state.revision != self._painted

    def on_source_notice(self, message: SourceNotice) -> None:
        self.say(message.text, message.severity)

    def say(self, text: str, severity: str = "information") -> None:
        """Show a toast, and keep it in ``notices`` and the log."""
        self.notices.append(text)
        log.info("notice: %s", text)
        self.notify(text, severity=severity)  # type: ignore[arg-type]

    def watch_selected(self) -> None:
        self._repaint()

    def _repaint(self) -> None:
        if self.alarm_log is None or not self.alarm_log.is_attached:
            return  # not mounted yet, or already torn down
        self._painted = self.state.revision
        self.repaints += 1
        state = self.state
        self.banner.show(state, self.source.label, self._banner_extra)
        self.ring_view.show(state, self.selected)
        self.table.show(state, self.selected)
        self.snapshot_panel.show(state)
        self.alarm_log.show(state)
        self.alarm_log.set_class(bool(state.active_alarms()), "-active")
        self.alarm_log.set_class(not state.alarms, "-empty")
        self.alarm_log.border_title = "alarms" if state.alarms else "alarms: none raised"
        self.event_log.show(state)

    # -- keys -----------------------------------------------------------------------------------
    def action_move(self, delta: int) -> None:
        if self.state.n:
            self.selected = (self.selected + delta) % self.state.n

    def action_inject(self, kind: str) -> None:
        key = BY_KIND[FaultKind(kind)]
        cmd: dict = {"cmd": "inject", "kind": key.kind.value, "station": self.selected}
        if key.arg is not None:
            cmd["arg"] = key.arg
        self._command(cmd)

    def action_restart(self) -> None:
        self._command({"cmd": "restart", "station": self.selected})

    def action_snapshot(self) -> None:
        self._command({"cmd": "snapshot"})

    def action_next_view(self) -> None:
        self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]

    def action_fault(self, kind: str) -> None:
        self.action_inject(kind)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """``v`` only means something in the compact layout: hidden from the footer otherwise;
        the fault keys' two bindings take turns (see ``FAULT_GROUP``)."""
        if action in ("next_view", "fault"):
            return self.compact
        if action == "inject":
            return not self.compact
        return True

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.source.owns_ring, self.source.commands))

    def _command(self, cmd: dict) -> None:
        if not self.source.commands:
            self.say("This is a replay: commands are disabled.", "warning")
            return
        if self.leaving:
            return
        self._send(cmd)

    @work(thread=True, group="commands", exit_on_error=False)
    def _send(self, cmd: dict) -> None:
        try:
            reply = self.source.send(cmd)
        except Exception as e:  # noqa: BLE001 - a failed command is a notice, not a crash
            log.exception("command %s failed", cmd)
            reply = {"ok": False, "error": str(e)}
        self.post_message(CommandDone(cmd, reply))

    def on_command_done(self, message: CommandDone) -> None:
        cmd, reply = message.cmd, message.reply
        if not reply.get("ok"):
            self.say(f"{cmd.get('cmd')} refused: {reply.get('error')}", "error")
        elif cmd.get("cmd") == "inject":
            extra = f" for {cmd['arg']:g} s" if cmd.get("arg") else ""
            self.say(f"injected {cmd['kind']}{extra} at station {reply.get('station')} "
                     f"(fault #{reply.get('fault_id')})")
        elif cmd.get("cmd") == "snapshot":
            self.say(f"snapshot {reply.get('sid')} started")
        elif cmd.get("cmd") == "restart":
            self.say(f"station {cmd['station']} will be started again, then inserted into the "
                     "ring")

    # -- leaving --------------------------------------------------------------------------------
    def action_leave(self) -> None:
        self.leave()

    async def action_quit(self) -> None:  # Textual's own quit key leaves the same way
        self.leave()

    def leave(self) -> None:
        """Close the source (ending the ring if this dashboard owns it), then exit."""
        if self.leaving:
            return
        self.leaving = True
        if self.source.owns_ring:
            self._banner_extra = "stopping the ring\u2026"
            self._repaint()
        self._close_and_exit()

    @work(thread=True, group="leave", exit_on_error=False)
    def _close_and_exit(self) -> None:
        try:
            self.source.close()
        except Exception:  # noqa: BLE001 - leave anyway; run_dashboard's caller cleans up
            log.exception("closing the source failed")
        finally:
            self.source_closed.set()
        self._soon(self.exit)

    def _soon(self, callback) -> bool:
        """Run ``callback`` on the UI loop, from any thread, without waiting for it: the loop may
        already be gone (the terminal closed), and waiting on it would hang this thread."""
        loop = self._ui_loop
        if loop is None or loop.is_closed():
            return False
        try:
            loop.call_soon_threadsafe(callback)
        except RuntimeError:  # closed in the meantime
            return False
        return True

    def leave_threadsafe(self) -> bool:
        """Ask the app to leave (from a signal handler); False if it is not running."""
        return self._soon(self.leave)


# -- running it ---------------------------------------------------------------------------------
def make_source(ring=None, info=None, replay: Path | None = None,
                speed: float = 1.0) -> Source:
    if ring is not None:
        return LiveSource(ring.info, ring=ring)
    if info is not None:
        return LiveSource(info)
    if replay is not None:
        return ReplaySource(Path(replay), speed)
    raise ValueError("run_dashboard needs a ring, a ring's info, or a run folder to replay")


def run_dashboard(ring=None, info=None, replay: Path | None = None, speed: float = 1.0) -> None:
    """Run the dashboard until the user leaves.

    ``ring``: a ``LiveRing`` this process started (leaving ends it); ``info``: a running ring's
    ``RingInfo`` to attach to (leaving detaches); ``replay``: a run folder (or its
    ``events.jsonl``) to replay at ``speed`` times real time (0: instantly).
    """
    source = make_source(ring, info, replay, speed)
    app = DashboardApp(source)
    with _logging_to(_log_path(ring, info)), _leave_on_signals(app):
        try:
            app.run()
        finally:
            source.close()  # idempotent; covers a crash before q


def _log_path(ring, info) -> Path:
    run_dir = getattr(ring, "run_dir", None) or (info.run_dir if info is not None else None)
    if run_dir is not None and Path(run_dir).is_dir():  # not for a ring on another host
        return Path(run_dir) / "dashboard.log"
    fd, name = tempfile.mkstemp(prefix="ringemu-dashboard-", suffix=".log")
    os.close(fd)
    return Path(name)


@contextmanager
def _logging_to(path: Path) -> Iterator[None]:
    """While the app runs, every log record goes to ``path``: nothing may reach the terminal
    behind Textual's back (not even Python's last-resort handler for warnings)."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    try:
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
    except OSError:
        handler = logging.NullHandler()
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"))
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    try:
        yield
    finally:
        logging.captureWarnings(False)
        root.handlers = saved_handlers
        root.setLevel(saved_level)
        handler.close()


@contextmanager
def _leave_on_signals(app: DashboardApp) -> Iterator[None]:
    """SIGTERM (``ringemu down``) and SIGHUP (terminal closed) leave the dashboard like ``q``.

    After SIGHUP the terminal is gone, and Textual's shutdown can then block for ever writing
    to it (its output queue never drains). So once the source is closed (the ring this
    dashboard owns is ended) a watchdog gives the app a few seconds to finish, then ends the
    process: nothing may be left running after the window closed.
    """
    sigs = (signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.getsignal(s) for s in sigs}
    finished = threading.Event()

    def watchdog() -> None:
        app.source_closed.wait(15.0)
        if not finished.wait(HANGUP_GRACE_S):
            os._exit(128 + signal.SIGHUP)

    def handler(signum, frame):
        if app.leave_threadsafe():
            if signum == signal.SIGHUP:
                threading.Thread(target=watchdog, name="hangup-watchdog", daemon=True).start()
        else:
            prev = previous.get(signum)
            if callable(prev):
                prev(signum, frame)

    for s in sigs:
        signal.signal(s, handler)
    try:
        yield
    finally:
        finished.set()
        for s, h in previous.items():
            signal.signal(s, h)
