"""The banner: the ring's health in one coloured line (green healthy, blue healed, red alarm,
yellow degraded, rebuilding or recovering), then what is being watched, and the latest notable
events.

The colour comes from a CSS class (``-healthy``, ``-healed``, ``-alarm``, ``-warning``,
``-waiting``, ``-ended``), so the look stays in ``dashboard.tcss``.
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

    def show(self, state: RingState, label: str, extra: str = "") -> None:
        key = (state.rev_banner, label, extra)
        if key == self._seen:
            return
        self._seen = key
        level, headline = state.health()
        if level != self.level:
            self.remove_class(f"-{self.level}")
            self.level = level
        self.add_class(f"-{level}")
        t = Text()
        t.append(f" {headline}   ", style="bold")  # blanks end a span (see station_table)
        t.append(label + ("  " if extra else ""))
        if extra:
            t.append(extra, style="bold")
        t.append("\n")
        t.append("  \u2502  ".join(list(state.notes)[-3:]) or "no events yet", style="")
        self.set(t)
