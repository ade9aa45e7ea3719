"""The latest snapshot (id, initiator, verdict, token count, recorded states, what was in
transit, how long it took), two small plots over time, the token count per snapshot and the
token rotation rate (``hop_rate / stations`` from the ``stations`` events), the payloads and
suspicions counted,
and the timeline (``timeline.Timeline``): the counts against time with faults, alarms and ring
changes marked. The small plots stand above the timeline; the compact layout (an 80x24
terminal) hides them, all but the rotation rate's line of text, so that the timeline has rows
enough to read.

The count gets its own plot, one column per snapshot on a fixed scale: a ``Sparkline`` scales
to its data's min and max and merges neighbouring points, so a single lost (0) or duplicated
(2) token could vanish into its neighbours, and a steady 1 would look like a floor. The rate is
continuous, so a ``Sparkline`` suits it.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container, Vertical
from textual.widget import Widget
from textual.widgets import Sparkline

from ringemu.core.verdict import SnapshotResult, SpotKind, TokenSpot, Verdict
from ringemu.dashboard.state import RingState
from ringemu.dashboard.widgets.textbox import TextBox
from ringemu.dashboard.widgets.timeline import Timeline

VERDICT_STYLES = {Verdict.OK: "bold green", Verdict.RECOVERING: "bold yellow",
                  Verdict.INCOMPLETE: "bold yellow", Verdict.LOST: "bold red",
                  Verdict.DUPLICATE: "bold red"}


def describe_states(snap: SnapshotResult, n: int) -> str:
    """Per-station recorded state, compact: ``i:mode`` (with tokens held), or a summary;
    ``n`` is how many stations the cut should reach (the ring's members)."""
    states = snap.states
    parts = []
    for k in sorted(states):
        s = states[k]
        extra = f"+{s.tokens}" if s.tokens else ""
        if s.awaiting is not None:
            dst, seq = s.awaiting
            extra += f"(\u2192{dst}#{seq})"
        parts.append(f"{k}:{s.mode}{extra}")
    missing = n - len(states)
    if len(parts) > 24:
        modes: dict[str, int] = {}
        for s in states.values():
            modes[s.mode] = modes.get(s.mode, 0) + 1
        parts = [f"{c} {m}" for m, c in sorted(modes.items())]
    text = "  ".join(parts) or "none reported"
    if missing > 0:
        text += f"  ({missing} not reported)"
    return text


def describe_transit(spot: TokenSpot) -> str:
    """One token unit in transit, compact: ``free token on 3\u21924``."""
    what = (f"frame {spot.src}\u2192{spot.dst} #{spot.seq}" if spot.kind is SpotKind.FRAME
            else "free token")
    return f"{what} on {spot.link[0]}\u2192{spot.link[1]}" if spot.link else what


def snapshot_text(state: RingState) -> Text:
    snap = state.snapshot
    if snap is None:
        return Text("no snapshot yet", style="dim")
    t = Text()
    t.append(f"#{snap.snapshot_id}  ", style="bold")
    # the spaces end the verdict's span: a span that starts with spaces loses them in some
    # SVG renderers (the pinned screenshots read "LOST0 tokens")
    t.append(f"{snap.verdict}  ", style=VERDICT_STYLES.get(snap.verdict, "bold"))
    count = snap.count
    t.append(f"{'?' if count is None else count} token{'' if count == 1 else 's'}  ")
    epochs = {s.epoch for s in snap.states.values()}
    if len(epochs) == 1:
        t.append(f"epoch {epochs.pop()}", style="dim")
    t.append("\ntaken      ", style="dim")
    t.append(f"by station {snap.initiator} in {snap.duration * 1000:.2f} ms, "
             f"done at t {snap.finished:.2f} s\n")
    t.append("held       ", style="dim")
    t.append(", ".join(f"station {k} ({v})" for k, v in snap.held.items()) or "\u2014")
    t.append("\nin transit ", style="dim")
    t.append("; ".join(describe_transit(s) for s in snap.in_transit) or "\u2014")
    if snap.silent:
        t.append("\nsilent     ", style="dim")
        t.append(", ".join(map(str, snap.silent[:12])), style="yellow")
        if snap.suspect is not None:
            cause = f", {snap.cause}" if snap.cause is not None else ""
            t.append(f"  (suspect: station {snap.suspect}{cause})", style="yellow")
    if snap.stale:
        t.append("\n(stale: this cut predates the last purge)", style="dim")
    t.append("\nstates     ", style="dim")
    members = state.ring.members
    t.append(describe_states(snap, state.n if members is None else len(members)))
    if state.malformed:
        t.append(f"\n({state.malformed} malformed events ignored)", style="yellow")
    return t


class CountPlot(Widget):
    """Token count per complete snapshot, newest on the right: 1 is a half-height green bar,
    0 a red mark on the floor, 2 or more a full red bar."""

    DEFAULT_CSS = "CountPlot { height: 2; }"
    BLOCKS = " \u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.counts: list[float] = []

    def set(self, counts: list[float]) -> None:
        self.counts = counts
        self.refresh()

    def render(self) -> Text:
        width = max(1, self.content_region.width)
        rows = max(1, self.content_region.height)
        points = self.counts[-width:]
        lines = [Text(no_wrap=True) for _ in range(rows)]
        for v in points:
            style = "green" if v == 1 else "bold red"
            eighths = 1 if v <= 0 else round(min(v, 2) / 2 * rows * 8)
            for r in range(rows):  # r = 0 is the top row
                fill = min(8, max(0, eighths - (rows - 1 - r) * 8))
                lines[r].append(self.BLOCKS[fill], style=style)
        return Text("\n").join(lines)


class SnapshotPanel(Vertical):
    """See the module docstring."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._seen: tuple = ()

    def compose(self) -> ComposeResult:
        yield TextBox("no snapshot yet", id="snap-text")
        with Container(id="plots"):
            with Vertical(id="sparks"):
                yield TextBox("tokens per snapshot", id="count-label", classes="plot-label")
                yield CountPlot(id="count-plot")
                yield TextBox("rotations/s", id="rate-label", classes="plot-label")
                yield Sparkline([], id="rate-plot")
                yield TextBox("", id="traffic", classes="plot-label")
            yield Timeline(id="timeline")

    def show(self, state: RingState) -> None:
        self.query_one(Timeline).show(state)
        key = (state.rev_snapshot, state.rev_traffic)
        if key == self._seen:
            return
        self._seen = key
        self.query_one("#snap-text", TextBox).set(snapshot_text(state))
        counts = list(state.count_history)
        if counts:
            lo, hi = min(counts), max(counts)
            self.query_one("#count-label", TextBox).set(
                f"tokens per snapshot: {counts[-1]:g} (last {len(counts)}: {lo:g}\u2013{hi:g})")
        self.query_one("#count-plot", CountPlot).set(counts)
        rates = list(state.rate_history)
        if rates:
            self.query_one("#rate-label", TextBox).set(
                f"rotations/s: {rates[-1]:,.0f} ({state.hop_rate:,.0f} hops/s)")
        elif not state.live_stats and state.snapshot is not None:
            self.query_one("#rate-label", TextBox).set("rotations/s: not in a replay")
        plot = self.query_one("#rate-plot", Sparkline)
        plot.set_class(not rates, "-empty")  # an empty Sparkline draws a floor: reads as zero
        plot.data = rates
        traffic = self.query_one("#traffic", TextBox)
        parts = []
        if state.payloads_sent or state.payloads_delivered:
            parts.append(f"payloads: {state.payloads_sent:,} sent, "
                         f"{state.payloads_delivered:,} delivered")
        if state.suspicions:
            parts.append(f"suspicions: {state.suspicions:,}")
        traffic.set("  \u00b7  ".join(parts))
        traffic.set_class(not parts, "-empty")
