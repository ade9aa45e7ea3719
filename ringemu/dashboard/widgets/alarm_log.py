"""The alarm log: one row per alarm, written when it is raised and updated when it clears.

Raised alarms show in bold red until a later snapshot clears them; the newest row is kept in
view. Like the station table it never takes focus (the mouse wheel still scrolls it).
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from ringemu.dashboard.state import AlarmView, RingState

COLUMNS = (("alarm", "#"), ("status", "status"), ("kind", "kind"), ("snapshot", "snapshot"),
           ("t", "time"), ("station", "station"), ("detail", "detail"))


def _t(t: float | None) -> str:
    return "\u2013" if t is None else f"{t:.2f} s"


def alarm_cells(a: AlarmView) -> list:
    if a.active:
        status = Text("RAISED", style="bold red")
    else:
        status = Text(f"cleared by {a.cleared_snapshot} at {_t(a.cleared_t)}", style="green")
    return [
        Text(str(a.alarm), justify="right"),
        status,
        Text(a.kind, style="bold red" if a.active else "bold"),
        Text(str(a.snapshot), justify="right"),
        Text(_t(a.t), justify="right"),
        Text("\u2013" if a.station is None else str(a.station), justify="right"),
        Text(a.detail),
    ]


class AlarmLog(DataTable):
    """See the module docstring."""

    can_focus = False

    def __init__(self, **kw) -> None:
        super().__init__(cursor_type="none", zebra_stripes=True, **kw)
        self._seen = -1
        self._status: dict[int, str] = {}
        # here, not in on_mount: the app may hand rows over before this widget's Mount
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    def show(self, state: RingState) -> None:
        if state.rev_alarms == self._seen:
            return
        self._seen = state.rev_alarms
        added = False
        for a in state.alarms.values():
            cells = alarm_cells(a)
            status = cells[1].plain
            if a.alarm not in self._status:
                self.add_row(*cells, key=str(a.alarm))
                added = True
            elif self._status[a.alarm] != status:
                for (key, _), cell in zip(COLUMNS, cells):
                    self.update_cell(str(a.alarm), key, cell, update_width=True)
            self._status[a.alarm] = status
        if added:
            self.scroll_end(animate=False)

    def rows_text(self) -> list[list[str]]:
        """The table as plain text, for tests and for anyone reading it programmatically."""
        return [[Text(str(c)).plain if not isinstance(c, Text) else c.plain
                 for c in self.get_row_at(i)] for i in range(self.row_count)]
