"""The ring drawn as a chain of stations, in ring order, with where the token is.

A station is ``[ i ]`` coloured by its process state (alive, paused, dead); the link after it
leads to the next station and the last link wraps to station 0. The latest complete cut says
exactly where the token was: ``●`` on a link is a free token, ``■`` a busy frame (its source
and destination are spelled out below), a ``●`` in a station means it held the token. A ``*``
marks a station whose busy frame is out (mode ``awaiting``). The chain wraps to the widget's
width, so rings of hundreds of stations stay readable.
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from ringemu.core.verdict import SpotKind, TokenSpot
from ringemu.dashboard.state import RingState

STATE_STYLES = {
    "alive": "bold green",
    "paused": "bold yellow",
    "dead": "bold red",
    "exited": "dim",
    "starting": "dim",
}

LEGEND = ("\u25cf free token  \u25a0 busy frame  * awaiting its frame  "
          "green alive  yellow paused  red dead")


class RingView(Widget):
    """Renders from the app's ``RingState``; ``show`` is called on every repaint."""

    DEFAULT_CSS = "RingView { height: auto; }"

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.state: RingState | None = None
        self.selected = 0
        self._seen: tuple = ()
        self._text = Text("waiting for the ring\u2026", style="dim")

    def show(self, state: RingState, selected: int) -> None:
        key = (state.rev_stations, state.rev_snapshot, selected, state.n)
        if key == self._seen:
            return
        self._seen = key
        self.state = state
        self.selected = selected
        self._rebuild()

    def on_resize(self) -> None:
        self._rebuild()

    def _rebuild(self) -> None:
        """Re-lay out the screen only when the drawing's height changed (a costly pass)."""
        lines = len(self._text.plain.splitlines())
        self._text = self._draw()
        self.refresh(layout=len(self._text.plain.splitlines()) != lines)

    def render(self) -> Text:
        return self._text

    def _draw(self) -> Text:
        state = self.state
        if state is None or not state.n:
            return Text("waiting for the ring\u2026", style="dim")
        spots = state.token_spots()
        held: dict[int, int] = {}
        on_link: dict[int, list[TokenSpot]] = {}
        for s in spots:
            if s.kind is SpotKind.HELD:
                held[s.station] = held.get(s.station, 0) + 1
            elif s.link is not None:
                on_link.setdefault(s.link[0], []).append(s)
        width = max(20, self.content_region.width or 80)
        digits = len(str(state.n - 1))
        out = Text()
        line_len = 0
        for st in state.stations:
            seg = self._station(st, digits, held.get(st.index, 0)) + self._link(
                on_link.get(st.index, []), last=st.index == state.n - 1)
            if line_len and line_len + seg.cell_len > width:
                out.append("\n")
                line_len = 0
            out.append_text(seg)
            line_len += seg.cell_len
        out.append("\n")
        out.append_text(self._where(state, spots))
        out.append("\n")
        out.append(LEGEND, style="dim")
        return out

    def _station(self, st, digits: int, held: int) -> Text:
        style = STATE_STYLES.get(st.state, "")
        if st.index == self.selected:
            style += " reverse"
        mark = "\u25cf" if held else ("*" if st.awaiting else " ")
        return Text().append(f"[{st.index:>{digits}}{mark}]", style=style)

    @staticmethod
    def _link(spots: list[TokenSpot], last: bool) -> Text:
        t = Text("\u2500")
        if not spots:
            t.append("\u2500")
        elif len(spots) > 1:
            t.append(str(min(len(spots), 9)), style="bold red")
        elif spots[0].kind is SpotKind.FRAME:
            t.append("\u25a0", style="bold cyan")
        else:
            t.append("\u25cf", style="bold yellow")
        t.append("\u2500\u25b6" if not last else "\u2500\u21ba")
        return t

    def _where(self, state: RingState, spots: list[TokenSpot]) -> Text:
        snap = state.snapshot
        t = Text()
        if snap is None:
            return t.append("token: no snapshot yet", style="dim")
        sid = f"(snapshot {snap.snapshot_id}, t {snap.finished:.2f} s)"
        if snap.count is None:
            silent = ", ".join(map(str, snap.silent[:8]))
            t.append(f"token: unknown, the cut is incomplete (no report from {silent}) ",
                     style="yellow")
        elif not spots:
            t.append("token: none found \u2014 the token is lost ", style="bold red")
        else:
            style = "bold red" if len(spots) > 1 else "bold"
            label = "token: " if len(spots) == 1 else f"{len(spots)} tokens: "
            t.append(label + "; ".join(s.describe() for s in spots) + " ", style=style)
        t.append(sid, style="dim")
        awaiting = [str(s.index) for s in state.stations if s.awaiting]
        if awaiting:
            t.append(f"  * station {', '.join(awaiting[:6])} awaits its frame")
        return t
