"""The banner: the ring's health in one coloured line (green healthy, blue healed, red alarm,
yellow degraded, rebuilding or recovering), then what is being watched, and the latest notable
events on a second line.

Each line is cut to the width with an ellipsis rather than wrapped: on an 80-column terminal a
wrapped headline would push the rest of the screen down. The colour comes from a CSS class
(``-healthy``, ``-healed``, ``-alarm``, ``-warning``, ``-waiting``, ``-ended``), so the look
stays in ``dashboard.tcss``.
"""

from __future__ import annotations

from rich.text import Text

from ringemu.dashboard.state import RingState
from ringemu.dashboard.widgets.textbox import TextBox


class Banner(TextBox):
    """See the module docstring."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.level = "waiting"
        self._seen: tuple = ()
        self._shown: tuple | None = None

    def on_resize(self) -> None:
        """How many notes fit depends on the width."""
        if self._shown is not None:
            self._seen = ()
            self.show(*self._shown)

    def show(self, state: RingState, label: str, extra: str = "") -> None:
        key = (state.rev_banner, label, extra)
        if key == self._seen:
            return
        self._seen = key
        self._shown = (state, label, extra)
        level, headline = state.health()
        if level != self.level:
            self.remove_class(f"-{self.level}")
            self.level = level
        self.add_class(f"-{level}")
        t = Text(no_wrap=True, overflow="ellipsis")
        t.append(f" {headline}   ", style="bold")  # blanks end a span (see station_table)
        t.append(label + ("  " if extra else ""))
        if extra:
            t.append(extra, style="bold")
        t.append("\n")
        t.append(self._notes(list(state.notes)[-3:]) or "no events yet", style="")
        self.set(t)

    def _notes(self, notes: list[str]) -> str:
        """The newest notes that fit on the line (at least the newest, cut)."""
        width = self.content_region.width
        if not width:
            return notes[-1] if notes else ""
        sep = "  \u2502  "
        while len(notes) > 1 and len(sep.join(notes)) > width:
            notes = notes[1:]
        return sep.join(notes)
