"""The recent notable events (the banner's notes, more of them), newest at the bottom: shown
under the alarm log in the compact layout's alarms panel, where the banner has room for one.
It draws only the lines its height holds, newest last.
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from ringemu.dashboard.state import RingState


class EventLog(Widget):
    """See the module docstring."""

    DEFAULT_CSS = "EventLog { text-wrap: nowrap; text-overflow: ellipsis; }"

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._seen = -1
        self.lines: list[str] = []

    def show(self, state: RingState) -> None:
        if state.rev_notes == self._seen:
            return
        self._seen = state.rev_notes
        self.lines = list(state.notes)
        self.refresh()

    def render(self) -> Text:
        rows = max(1, self.content_region.height)
        return Text("\n".join(self.lines[-rows:]) or "no events yet")
