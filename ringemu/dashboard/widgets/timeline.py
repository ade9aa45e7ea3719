"""The timeline: a real plot (textual-plotext) of the token count of each snapshot over time,
with the faults injected, the alarms raised and the ring's rebuilds marked where they happened.

x is the ring's time in seconds, y the count each snapshot found, held until the next one (a
step line: a count is a fact about one cut, not a trend between two). Counts other than one
are marked in red; an incomplete snapshot (no count) leaves a gap. A vertical line marks each
fault (orange, e.g. ``lose 1``), alarm (red, ``LOST``) and ring change (cyan: ``bypass 3``,
``insert 3``, ``rollback``); their labels go in two rows above the counts, newest first, as
many as fit without overlapping (a plot too short for those rows draws the lines alone).

Plotting costs milliseconds, so the figure is rebuilt only when ``RingState.rev_timeline``
moved (a snapshot, fault, alarm or ring change arrived), which the app checks at most once per
repaint tick, or when the widget's size changed (labels are laid out in columns); the built
text is kept and reused otherwise, and nothing is built while the plot is not on screen.
Only the state's bounded history is drawn: the last ``state.TIMELINE_S`` seconds, where the
count changed (a run of equal counts is two points), and ``state.MARKS`` marks.
"""

from __future__ import annotations

from rich.text import Text
from textual_plotext import PlotextPlot

from ringemu.dashboard.state import Mark, RingState

MARK_COLORS = {"fault": "orange", "alarm": "red", "ring": "cyan"}
LABEL_ROWS = 2
"""Rows above the highest count kept for the marks' labels."""
LOW = -0.5
"""The plot's floor, below a count of 0 so that the zero line shows."""
AXIS_LABEL_FROM = 12
"""A plot shorter than this many rows leaves out the x axis' label (``t (s)``) for a row of
data: the ticks already read as times."""


def steps(points: list[tuple[float, int | None]]) -> list[list[tuple[float, int]]]:
    """The count as a step line, in runs broken where a snapshot had no count."""
    runs: list[list[tuple[float, int]]] = []
    run: list[tuple[float, int]] = []
    for t, count in points:
        if count is None:
            if run:
                runs.append(run)
            run = []
            continue
        if run:
            run.append((t, run[-1][1]))
        run.append((t, count))
    if run:
        runs.append(run)
    return runs


def place_labels(marks: list[Mark], t0: float, t1: float, cols: int,
                 rows: int = LABEL_ROWS) -> list[tuple[Mark, int, str]]:
    """(mark, row, alignment) for the labels that fit in ``rows`` rows of ``cols`` columns
    without touching another, newest first: a label starts at its line, or ends there when it
    would run past the right edge; a label with no room left is not drawn (its line is)."""
    taken: list[list[tuple[int, int]]] = [[] for _ in range(rows)]
    placed = []
    scale = (cols - 1) / (t1 - t0) if t1 > t0 else 0.0
    for m in sorted(marks, key=lambda m: m.t, reverse=True):
        col = round((m.t - t0) * scale)
        n = len(m.label)
        a, b, align = (col, col + n - 1, "left") if col + n <= cols else (col - n + 1, col, "right")
        if a < 0:
            continue
        for row, spans in enumerate(taken):
            if all(b + 1 < x or a > y + 1 for x, y in spans):
                spans.append((a, b))
                placed.append((m, row, align))
                break
    return placed


class Timeline(PlotextPlot):
    """See the module docstring."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._seen = -1
        self._cache: tuple[tuple, Text] | None = None
        self.points: list[tuple[float, int | None]] = []
        self.marks: list[Mark] = []
        self.now = 0.0
        self.builds = 0
        """Times the figure was built (tests check it is not rebuilt for nothing)."""

    def show(self, state: RingState) -> None:
        if state.rev_timeline == self._seen:
            return
        self._seen = state.rev_timeline
        self.points = list(state.timeline)
        self.marks = list(state.marks)
        self.now = state.t
        self.refresh()

    def render(self) -> Text:
        key = (self.size, self._seen, self.app.theme)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        self.builds += 1
        self._plot_data()
        text = super().render()
        self._cache = (key, text)  # type: ignore[assignment]
        return text  # type: ignore[return-value]

    def _plot_data(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.theme(self._get_plotext_theme_name(self.app.theme))  # labels take its background
        tall = self.size.height >= AXIS_LABEL_FROM
        plt.xlabel("t (s)" if tall else None)
        points = self.points
        if not points:
            plt.title("token count per snapshot: no snapshot yet")
            return
        plt.title("")
        t0, t1 = points[0][0], max(points[-1][0], self.now)
        if t1 <= t0:
            t0, t1 = t0 - 0.5, t0 + 0.5
        top = max(2, max((c for _, c in points if c is not None), default=1))
        rows = max(1, self.size.height - (4 if tall else 3))  # less frame, ticks, axis label
        labels = LABEL_ROWS if rows - LABEL_ROWS >= 3 else 0
        high = (top * rows - labels * LOW) / (rows - labels) if labels else top + 0.5
        unit = (high - LOW) / rows
        for run in steps(points):
            plt.plot([t for t, _ in run], [c for _, c in run], marker="braille", color="green")
        bad = [(t, c) for t, c in points if c is not None and c != 1]
        if bad:
            plt.scatter([t for t, _ in bad], [c for _, c in bad], marker="x", color="red")
        shown = [m for m in self.marks if t0 <= m.t <= t1]
        for m in shown:
            plt.vline(m.t, MARK_COLORS.get(m.kind, "white"))
        cols = max(10, self.size.width - 5)  # less the y ticks and the frame
        for m, row, align in place_labels(shown, t0, t1, cols, labels):
            plt.text(m.label, m.t, high - (row + 0.5) * unit,
                     color=MARK_COLORS.get(m.kind, "white"), alignment=align)
        plt.xlim(t0, t1)
        plt.ylim(LOW, high)
        plt.yticks(list(range(0, top + 1)))
