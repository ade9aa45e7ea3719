"""The ring drawn as a chain of stations, in ring order, with where the token is.

A station is ``[ i ]`` coloured by its process state (alive, paused, dead); the link after it
leads to the next station and the last link wraps to station 0. The latest complete cut says
exactly where the token was: ``●`` on a link is a free token, ``■`` a busy frame (its source
and destination are spelled out below), a ``●`` in a station means it held the token. A ``*``
marks a station whose busy frame is out (mode ``awaiting``). The chain wraps to the widget's
width, so rings of hundreds of stations stay readable.

The ring heals, and the drawing shows how: the active monitor is ``[iA]``; a bypassed station
is dim and struck through, with a dotted link jumping over it (``──┄[3 ]┄─▶``), so the link
from its upstream neighbour visibly leads on to its downstream one; a station being restarted
is ``[3↻]`` until the ring inserts it again. The border title carries the epoch and the active
monitor's 802.5 address. Stations are drawn in index order, which is ring order: the ring
manager inserts a station back at its place (``RingManager.insert``).
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from ringemu.core.verdict import SpotKind, TokenSpot
from ringemu.dashboard.membership import RingMembership
from ringemu.dashboard.state import RingState, StationView
from ringemu.frames.codec import station_mac

STATE_STYLES = {
    "alive": "bold green",
    "paused": "bold yellow",
    "dead": "bold red",
    "exited": "dim",
    "starting": "dim",
}

BYPASS = "\u2504"  # a dotted link: the ring jumps over a bypassed station
RESTARTING = "\u21bb"

LEGEND = ("\u25cf free token  \u25a0 busy frame  * awaiting its frame  A active monitor  "
          "\u2504[k]\u2504 bypassed  \u21bb restarting  green alive  yellow paused  red dead")
SHORT_LEGEND = ("\u25cf token  \u25a0 frame  * awaiting  A active monitor  "
                "\u2504[k]\u2504 bypassed  \u21bb restarting")
"""For a narrow ring view; the help screen explains the colours."""


def mac(station: int) -> str:
    """Station ``station``'s 802.5 address, as ``02:00:00:00:00:03``."""
    return station_mac(station).hex(":")


def ring_title(ring: RingMembership) -> str:
    """The ring view's border title: epoch, active monitor and its address, phase."""
    parts = ["ring", f"epoch {ring.epoch}"]
    if ring.electing:
        parts.append("active monitor: electing\u2026")
    elif ring.active_monitor is not None:
        parts.append(f"active monitor {ring.active_monitor} ({mac(ring.active_monitor)})")
    if ring.rebuilding:
        parts.append(ring.phase)
    return " \u00b7 ".join(parts)


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
        self.border_title = ring_title(state.ring)
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
        ring = state.ring
        member = [ring.is_member(st.index) for st in state.stations]
        out = Text(no_wrap=True, overflow="ellipsis")
        line_len = 0
        for st in state.stations:
            k = st.index
            last = k == state.n - 1
            next_in = member[0 if last else k + 1]
            if member[k]:
                seg = self._station(st, digits, held.get(k, 0), ring) + self._link(
                    on_link.get(k, []), last, next_in)
            else:
                seg = (Text(BYPASS, style="dim") + self._station(st, digits, 0, ring)
                       + self._jump(last, next_in))
            if line_len and line_len + seg.cell_len > width:
                out.append("\n")
                line_len = 0
            out.append_text(seg)
            line_len += seg.cell_len
        out.append("\n")
        out.append_text(self._where(state, spots))
        out.append("\n")
        out.append(LEGEND if len(LEGEND) <= width else SHORT_LEGEND, style="dim")
        return out

    def _station(self, st: StationView, digits: int, held: int, ring: RingMembership) -> Text:
        k = st.index
        restarting = k in ring.restarting
        style = STATE_STYLES.get(st.state, "")
        if restarting:
            style = "bold yellow"
        elif not ring.is_member(k):
            style = "dim strike" + (" red" if st.state == "dead" else "")
        if k == self.selected:
            style += " reverse"
        role = "A" if k == ring.active_monitor and ring.is_member(k) else ""
        mark = ("\u25cf" if held else "*" if st.awaiting else RESTARTING if restarting
                else " ")
        return Text().append(f"[{k:>{digits}}{role}{mark}]", style=style)

    @staticmethod
    def _link(spots: list[TokenSpot], last: bool, next_in: bool = True) -> Text:
        t = Text("\u2500")
        if not spots:
            t.append("\u2500")
        elif len(spots) > 1:
            t.append(str(min(len(spots), 9)), style="bold red")
        elif spots[0].kind is SpotKind.FRAME:
            t.append("\u25a0", style="bold cyan")
        else:
            t.append("\u25cf", style="bold yellow")
        t.append("\u2500\u21ba" if last else "\u2500\u25b6" if next_in else "\u2500\u2500")
        return t

    @staticmethod
    def _jump(last: bool, next_in: bool) -> Text:
        """What follows a bypassed station: the dotted jump, then the arrow into the next
        member (or the wrap back to the start)."""
        t = Text(BYPASS, style="dim")
        if last:
            t.append("\u2500\u21ba")
        elif next_in:
            t.append("\u2500\u25b6")
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
        awaiting = [str(s.index) for s in state.stations if s.awaiting]
        t.append(sid + ("  " if awaiting else ""), style="dim")
        if awaiting:
            t.append(f"* station {', '.join(awaiting[:6])} awaits its frame")
        return t
