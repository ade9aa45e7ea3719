"""The station table: one row per station, its state, counters and process id.

It is the screen's busiest widget (every counter moves on every ``stations`` event), so it
uses Textual's line API rather than a ``DataTable``: rows are formatted to fixed-width text
once per update and only the visible lines are turned into strips, cached until that row's text
(or the selection) changes. Hundreds of stations cost what a screenful costs.

It never takes focus: the app owns the selection (the arrows, j and K are app bindings) and
the table only highlights the selected row and scrolls it into view.

The ``role`` column says what the ring makes of each station: ``AM`` the active monitor, ``SM``
a standby monitor, ``bypassed``, ``restarting``. When the table is narrower than its columns,
the least needed ones go first (``DROP_ORDER``), so an 80-column terminal still shows state,
role, mode, tokens and frames rather than a cut-off row.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ringemu.dashboard.membership import RingMembership
from ringemu.dashboard.state import RingState, StationView
from ringemu.dashboard.widgets.ring_view import STATE_STYLES

HEADERS = ("#", "state", "role", "mode", "tokens", "frames", "sent", "delivered", "errors",
           "dropped", "pid")
LEFT = {1, 2, 3}  # state, role and mode are left-aligned, numbers right-aligned
STATE, ROLE, MODE, ERRORS, DROPPED = 1, 2, 3, 8, 9
DROP_ORDER = (10, 6, 7, 9, 8)
"""Columns to leave out, first to last, when the table is too narrow: pid, sent, delivered,
dropped, errors."""
MIN_WIDTHS = {MODE: len("awaiting *")}
"""A station's mode flips between idle, holding and awaiting all the time: its column keeps the
width of the widest, so the table (``width: auto`` beside the snapshot panel) does not change
width, and re-lay out the screen, with every report."""
ROLE_STYLES = {"AM": "bold", "bypassed": "dim", "restarting": "bold yellow"}


def _num(v) -> str:
    return "\u2013" if v is None else f"{v:,}"


def role(st: StationView, ring: RingMembership) -> str:
    if st.index in ring.restarting:
        return "restarting"
    if not ring.is_member(st.index):
        return "bypassed"
    if st.index == ring.active_monitor:
        return "AM"
    return "SM" if ring.monitor_known else "\u2013"


def row_values(st: StationView, ring: RingMembership | None = None) -> tuple[str, ...]:
    """The text of one row (``stats`` is empty in a replay: counters show as dashes)."""
    s = st.stats
    dropped = None if not s else s.get("dropped", 0) + st.send_dropped
    return (str(st.index), st.state, role(st, ring or RingMembership()),
            st.mode + (" *" if st.awaiting else ""),
            _num(s.get("tokens")), _num(s.get("frames")), _num(s.get("sent")),
            _num(s.get("delivered")), _num(s.get("malformed")), _num(dropped),
            "\u2013" if st.pid is None else str(st.pid))


def _cell_style(col: int, value: str, st: StationView) -> str:
    if col == STATE:
        return STATE_STYLES.get(st.state, "")
    if col == ROLE:
        return ROLE_STYLES.get(value, "")
    if col == MODE and st.awaiting:
        return "cyan"
    if col in (ERRORS, DROPPED) and value not in ("0", "\u2013"):
        return "bold red"
    return ""


def fitting_columns(widths: list[int], room: int) -> list[int]:
    """The columns to show in ``room`` cells (each takes its width plus two of padding)."""
    shown = list(range(len(widths)))
    for col in DROP_ORDER:
        if sum(widths[c] + 2 for c in shown) <= room:
            break
        shown.remove(col)
    return shown


class StationTable(ScrollView):
    """See the module docstring."""

    can_focus = False
    DEFAULT_CSS = """
    StationTable { overflow-x: hidden; }
    StationTable > .stations--header { text-style: bold; color: $text-accent; }
    StationTable > .stations--selected { background: $accent 50%; text-style: bold; }
    StationTable > .stations--odd { background: $boost; }
    """
    COMPONENT_CLASSES = {"stations--header", "stations--selected", "stations--odd"}

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.values: list[tuple[str, ...]] = []
        self.texts: list[Text] = []
        self.selected = 0
        self._widths: list[int] = [len(h) for h in HEADERS]
        self._shown: list[int] = list(range(len(HEADERS)))
        self._seen = -1
        self._state: RingState | None = None
        self._natural = sum(self._widths) + 2 * len(self._widths)
        self._strips: dict[int, tuple[tuple, Strip]] = {}

    def show(self, state: RingState, selected: int) -> None:
        moved = selected != self.selected
        if state.rev_stations == self._seen and not moved:
            return
        self.selected = selected
        if state.rev_stations != self._seen:
            self._seen = state.rev_stations
            self._format(state)
        if moved and self.size.height > 1:
            top, visible = int(self.scroll_y), self.size.height - 1
            if selected < top:
                self.scroll_to(y=selected, animate=False)
            elif selected >= top + visible:
                self.scroll_to(y=selected - visible + 1, animate=False)
        self.refresh()

    def get_content_width(self, container: Size, viewport: Size) -> int:
        """Every column's width (``width: auto`` asks for the whole table)."""
        return self._natural

    def on_resize(self) -> None:
        if self._state is not None:
            self._format(self._state)
            self.refresh()

    def _format(self, state: RingState) -> None:
        self._state = state
        self.values = [row_values(st, state.ring) for st in state.stations]
        widths = [max([len(h), MIN_WIDTHS.get(c, 0)] + [len(v[c]) for v in self.values])
                  for c, h in enumerate(HEADERS)]
        natural = sum(widths) + 2 * len(widths)
        if natural != self._natural:
            self._natural = natural
            self.refresh(layout=True)
        shown = fitting_columns(widths, self.content_region.width or natural)
        if widths != self._widths or shown != self._shown:
            self._widths, self._shown = widths, shown
            self._strips.clear()
        self.texts = [self._line(v, st) for v, st in zip(self.values, state.stations)]
        size = Size(sum(widths[c] + 2 for c in shown), len(self.values) + 1)
        if size != self.virtual_size:
            self.virtual_size = size

    def _line(self, values: tuple[str, ...], st: StationView | None) -> Text:
        """One row. A cell's style also covers the blanks after it, up to the next cell's
        text: a span that starts with blanks loses them in some SVG renderers, which would
        shift the pinned screenshots' columns (so no cell style may draw on blanks: no
        underline, no strike-through)."""
        cells, spans = [], []
        at = 0
        for c in self._shown:
            v, w = values[c], self._widths[c]
            cell = " " + (v.ljust(w) if c in LEFT or st is None else v.rjust(w)) + " "
            style = _cell_style(c, v, st) if st is not None else ""
            if style and v:
                start = at + cell.index(v)
                spans.append((start, start + len(v), style))
            cells.append(cell)
            at += len(cell)
        line = "".join(cells)
        t = Text(line, no_wrap=True, end="")
        for start, end, style in spans:
            t.stylize(style, start, len(line) - len(line[end:].lstrip(" ")))
        return t

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if y == 0:  # the header stays put while the rows scroll
            key = ("header", tuple(self._widths), tuple(self._shown), width)
            text = self._line(HEADERS, None)
            style = base + self.get_component_rich_style("stations--header")
            return self._strip(-1, key, text, style, width)
        index = int(self.scroll_y) + y - 1
        if index >= len(self.texts):
            return Strip.blank(width, base)
        selected = index == self.selected
        key = (self.values[index], selected, width, tuple(self._shown))
        if selected:
            style = base + self.get_component_rich_style("stations--selected")
        elif index % 2:
            style = base + self.get_component_rich_style("stations--odd")
        else:
            style = base
        return self._strip(index, key, self.texts[index], style, width)

    def _strip(self, index: int, key: tuple, text: Text, style: Style, width: int) -> Strip:
        cached = self._strips.get(index)
        if cached is not None and cached[0] == key:
            return cached[1]
        segments = [Segment(s.text, style + s.style if s.style else style)
                    for s in text.render(self.app.console)]
        strip = Strip(segments).crop_extend(0, width, style)
        self._strips[index] = (key, strip)
        return strip

    def rows_text(self) -> list[list[str]]:
        """The table as plain text (for tests and for anyone reading it programmatically)."""
        return [list(v) for v in self.values]
