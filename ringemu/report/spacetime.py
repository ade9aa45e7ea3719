"""One snapshot as a space-time diagram, the way textbooks draw Chandy-Lamport.

One horizontal line per station (ring order, the initiator on top), time running to the right.
Each token, frame, marker, purge or claim is an arrow from the moment one station sent it to the
moment the next one received it; the cut is drawn across, through the point where each station
recorded its state (labelled with that state); the messages the cut found in transit, the
channels' records, are the arrows that cross it, drawn bold, and every channel's record is
written at the right.

The arrows come from the stations' traces of that snapshot (``ringemu.core.trace``): a
station's sends and the next station's receives are paired in order (links are FIFO), starting
from the snapshot's marker, which both sides have, and going back and forth from it while the
labels agree. A send whose arrival no trace shows is drawn as a stub; so is a receive whose
send it does not show. Without a trace (a snapshot that was not traced) the diagram has only
what the snapshot recorded: the cut, the states, the markers between the cut points and the
recorded messages, placed schematically.

Hand-written SVG rather than a plotting library: arrows between lines, a cut across them and
tooltips on every element are simpler to say directly, and each element gets a class the tests
can query.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from html import escape

from ringemu.report.run import Run

COLOURS = {"token": "#1565c0", "frame": "#7b1fa2", "marker": "#2e7d32", "purge": "#ef6c00",
           "claim": "#6d4c41", "amp": "#9e9e9e", "garbled": "#c62828", "other": "#616161"}
LEFT, RIGHT, TOP, BOTTOM = 130, 250, 78, 56
WIDTH = 1180
MAX_ARROWS = 600
MAX_STATIONS = 32
"""Stations drawn at most: a bigger ring is drawn around the fault behind the snapshot (or
its initiator)."""


@dataclass(frozen=True, slots=True)
class Point:
    t: float
    label: str


@dataclass(slots=True)
class Arrow:
    src: int
    dst: int
    label: str
    sent: float | None
    received: float | None
    crosses: bool = False
    """Sent before the sender's cut and received after the receiver's: in the channel's
    record."""

    @property
    def kind(self) -> str:
        k = self.label.split(":", 1)[0]
        return k if k in COLOURS else "other"


@dataclass
class Diagram:
    sid: int
    snap: dict
    order: list[int]
    cuts: dict[int, float]
    arrows: list[Arrow]
    traced: set[int]
    window: tuple[float, float]
    notes: list[str]
    ring_next: dict[int, int]
    """Each station's downstream neighbour in the whole ring."""


def same(sent: str, received: str) -> bool:
    """Whether a received label is the sent one (a garbled message arrives malformed)."""
    return sent == received or (sent.startswith("garbled") and received == "malformed")


def pair(sends: list[Point], recvs: list[Point], anchor: str) -> list[tuple[int, int]]:
    """Pairs (i, j): ``sends[i]`` arrived as ``recvs[j]`` (see the module docstring)."""
    a = next((i for i, p in enumerate(sends) if p.label == anchor), None)
    b = next((j for j, p in enumerate(recvs) if p.label == anchor), None)
    out: list[tuple[int, int]] = []

    def fits(i: int, j: int) -> bool:
        return same(sends[i].label, recvs[j].label) and recvs[j].t >= sends[i].t

    if a is not None and b is not None:
        out.append((a, b))
        i, j = a - 1, b - 1
        while i >= 0 and j >= 0 and fits(i, j):
            out.append((i, j))
            i, j = i - 1, j - 1
        i, j = a + 1, b + 1
        while i < len(sends) and j < len(recvs) and fits(i, j):
            out.append((i, j))
            i, j = i + 1, j + 1
        return out
    j = 0
    for i, s in enumerate(sends):  # no anchor: in order, each receive after its send
        while j < len(recvs) and recvs[j].t < s.t:
            j += 1
        if j < len(recvs) and fits(i, j):
            out.append((i, j))
            j += 1
    return out


def build(run: Run, sid: int) -> Diagram:
    snap = run.snapshot_event(sid)
    if snap is None:
        raise KeyError(sid)
    states = snap.get("states") or {}
    cuts = {int(k): float(v["at"]) for k, v in states.items()
            if isinstance(v, dict) and isinstance(v.get("at"), (int, float))}
    started = float(snap.get("started", 0.0))
    initiator = snap.get("initiator")
    ring = run.ring_order(sid, started)
    silent = [k for k in snap.get("silent") or [] if type(k) is int]
    members = [k for k in ring if k in cuts or k in silent] or sorted(cuts)
    if initiator in members:
        i = members.index(initiator)
        members = members[i:] + members[:i]
    nxt = {k: members[(i + 1) % len(members)] for i, k in enumerate(members)}
    ring_next = dict(nxt)
    notes: list[str] = []
    if len(members) > MAX_STATIONS:
        centre = _centre(run, started, members, initiator)
        i = max(0, members.index(centre) - MAX_STATIONS // 2)
        shown = (members + members)[i:i + MAX_STATIONS]
        notes.append(f"{len(members) - len(shown)} of the ring's {len(members)} stations are "
                     f"left out: stations {shown[0]} to {shown[-1]} in ring order are drawn")
        nxt = {k: nxt[k] for k in shown[:-1]}
        members = shown
    else:
        nxt = {k: nxt[k] for k in members}
    traces = {k: v for k, v in run.history.traces.get(sid, {}).items() if k in members}
    arrows: list[Arrow] = []
    marker_back: float | None = None
    if traces:
        sends: dict[int, list[Point]] = {k: [] for k in members}
        recvs: dict[int, list[Point]] = {k: [] for k in members}
        for k, tr in traces.items():
            if k not in sends:
                continue
            for dt, got, out in tr.hops:
                t = tr.t + dt
                if not got.startswith("@"):
                    recvs[k].append(Point(t, got))
                for label in out:
                    sends[k].append(Point(t, label))
        anchor = f"marker:{sid}"
        for k, d in nxt.items():
            used_s, used_r = set(), set()
            for i, j in pair(sends[k], recvs[d], anchor):
                s, r = sends[k][i], recvs[d][j]
                arrows.append(Arrow(k, d, s.label, s.t, r.t))
                used_s.add(i)
                used_r.add(j)
                if d == initiator and s.label == anchor:
                    marker_back = r.t
            if k in traces:
                arrows += [Arrow(k, d, p.label, p.t, None)
                           for i, p in enumerate(sends[k]) if i not in used_s]
            if d in traces:
                arrows += [Arrow(k, d, p.label, None, p.t)
                           for j, p in enumerate(recvs[d]) if j not in used_r]
        missing = [k for k in members if k not in traces]
        if missing:
            notes.append("no trace from station(s) " + ", ".join(map(str, missing))
                         + " (dead, or the trace was not answered)")
    else:
        notes.append(f"snapshot {sid} was not traced (only the first snapshot that counted "
                     "and the alarming ones are): markers and recorded messages are drawn "
                     "from the snapshot's own record, placed schematically")
        for k, d in nxt.items():
            if k in cuts and d in cuts and d != initiator:
                arrows.append(Arrow(k, d, f"marker:{sid}", cuts[k], cuts[d]))
    for a in arrows:
        if a.sent is not None and a.received is not None:
            a.crosses = (a.src in cuts and a.dst in cuts and a.sent < cuts[a.src]
                         and a.received > cuts[a.dst] and not a.label.startswith("marker"))
    if not traces:
        span = (max(cuts.values()) - min(cuts.values())) if cuts else 0.0
        for m in snap.get("in_transit") or []:
            src, dst = m.get("from"), m.get("to")
            if src in cuts and dst in cuts:
                pad = max(span, 1e-4) * 0.25
                arrows.append(Arrow(src, dst, str(m.get("kind", "token")), cuts[src] - pad,
                                    cuts[dst] + pad, crosses=True))
    lo, hi = _window(cuts, arrows, marker_back, started)
    if traces:  # reach back to a fault the traces still cover: what the snapshot saw
        cover = max(min((tr.t + h[0] for h in tr.hops), default=hi) for tr in traces.values())
        fired = [f.fired_at for f in run.history.faults if f.fired_at is not None
                 and f.station in members and cover <= f.fired_at < lo]
        if fired:
            lo = min(fired) - (hi - lo) * 0.1
    window = (lo, hi)
    arrows = [a for a in arrows if _inside(a, lo, hi)]
    if len(arrows) > MAX_ARROWS:
        notes.append(f"{len(arrows) - MAX_ARROWS} arrows left out (only the first "
                     f"{MAX_ARROWS} are drawn)")
        arrows = arrows[:MAX_ARROWS]
    return Diagram(sid, snap, members, cuts, arrows, set(traces), window, notes, ring_next)


def _centre(run: Run, started: float, members: list[int], initiator: object) -> int:
    """The station a big ring's diagram is drawn around: that of the last fault that fired
    before the snapshot began, else the initiator."""
    fired = [f for f in run.history.faults if f.fired_at is not None
             and f.fired_at <= started and f.station in members]
    if fired:
        return max(fired, key=lambda f: f.fired_at or 0.0).station
    return initiator if initiator in members else members[0]  # type: ignore[return-value]


def _window(cuts: dict[int, float], arrows: list[Arrow], back: float | None,
            started: float) -> tuple[float, float]:
    """The time span drawn: the cut and the marker's way back, with room on either side
    for a few hops."""
    times = list(cuts.values()) + ([back] if back is not None else [])
    if not times:
        times = [started]
    lo, hi = min(times), max(times)
    gaps = []
    by_station: dict[int, list[float]] = {}
    for a in arrows:
        if a.received is not None:
            by_station.setdefault(a.dst, []).append(a.received)
    for ts in by_station.values():
        ts.sort()
        gaps += [b - a for a, b in zip(ts, ts[1:]) if b > a]
    gap = statistics.median(gaps) if gaps else 0.0
    pad = max((hi - lo) * 0.35, 2.5 * gap, 1e-6)
    return lo - pad, hi + pad


def _inside(a: Arrow, lo: float, hi: float) -> bool:
    ends = [t for t in (a.sent, a.received) if t is not None]
    if a.sent is not None and a.received is not None:
        return a.sent <= hi and a.received >= lo
    return any(lo <= t <= hi for t in ends)


def state_text(state: dict) -> str:
    """A station's recorded state in a few words."""
    mode = state.get("mode", "?")
    if mode == "holding":
        text = "holds the token"
    elif mode == "awaiting" and isinstance(state.get("awaiting"), list):
        dst, seq = state["awaiting"][:2]
        text = f"frame to {dst} #{seq} out"
    else:
        text = str(mode)
    queue = state.get("queue") or []
    if queue:
        text += f", {len(queue)} queued"
    return text


def channel_text(snap: dict, src: int, dst: int) -> str:
    msgs = [m for m in snap.get("in_transit") or [] if m.get("from") == src
            and m.get("to") == dst]
    if not msgs:
        return "∅"
    return ", ".join(f"frame {m.get('src')}→{m.get('dst')} #{m.get('seq')}"
                     if m.get("kind") == "frame" else str(m.get("kind")) for m in msgs)


def svg(run: Run, sid: int) -> tuple[str, list[str]]:
    """The diagram of snapshot ``sid`` as one ``<svg>`` element, and notes about it."""
    d = build(run, sid)
    snap, order = d.snap, d.order
    n = max(len(order), 1)
    gap = max(26, min(64, 760 // n))
    height = TOP + gap * (n - 1) + BOTTOM + 20
    plot_w = WIDTH - LEFT - RIGHT
    lo, hi = d.window
    started = float(snap.get("started", lo))
    row = {k: TOP + i * gap for i, k in enumerate(order)}

    def x(t: float) -> float:
        return LEFT + (min(max(t, lo), hi) - lo) / (hi - lo) * plot_w

    def x_free(t: float) -> float:  # arrows may begin or end outside: the clip cuts them
        return LEFT + (t - lo) / (hi - lo) * plot_w

    out = [f'<svg id="spacetime" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
           f'height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" '
           'font-size="11">', "<defs>"]
    for kind, colour in COLOURS.items():
        out.append(f'<marker id="st-ah-{kind}" viewBox="0 0 10 10" refX="10" refY="5" '
                   'markerWidth="9" markerHeight="9" markerUnits="userSpaceOnUse" '
                   'orient="auto-start-reverse">'
                   f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>')
    out.append(f'<clipPath id="st-clip"><rect x="{LEFT}" y="0" width="{plot_w}" '
               f'height="{height}"/></clipPath>')
    out.append("</defs>")
    out.append(f'<rect x="0" y="0" width="{WIDTH}" height="{height}" fill="#ffffff"/>')
    verdict = snap.get("verdict")
    count = snap.get("count")
    title = (f"Snapshot {sid}, initiated by station {snap.get('initiator')}: {verdict}"
             + (f", {count} token{'s' if count != 1 else ''} counted" if count is not None
                else ""))
    out.append(f'<text x="{LEFT}" y="20" font-size="14" font-weight="bold">'
               f'{escape(title)}</text>')
    out.append(f'<text x="{LEFT}" y="36" fill="#555">time runs right; arrows: token blue, '
               'frame purple, marker green (dashed), purge orange, AMP grey; a stub: the other '
               'end is not in the traces</text>')
    out.append(f'<text x="{LEFT}" y="50" fill="#555">the broad red line is the cut, through '
               'the state each station recorded; bold arrows cross it: the messages the '
               'channels recorded</text>')
    # time axis
    ticks = _ticks(lo, hi, started)
    base = TOP + gap * (n - 1) + 24
    out.append('<g class="axis">')
    out.append(f'<line x1="{LEFT}" y1="{base}" x2="{LEFT + plot_w}" y2="{base}" '
               'stroke="#999"/>')
    for t in ticks:
        out.append(f'<line x1="{x(t):.1f}" y1="{base}" x2="{x(t):.1f}" y2="{base + 4}" '
                   'stroke="#999"/>')
        out.append(f'<text x="{x(t):.1f}" y="{base + 16}" text-anchor="middle" fill="#555">'
                   f'{round((t - started) * 1000, 6):g}</text>')
    how = ("virtual, " if run.shell == "sim" else "") + ("traced" if d.traced else "not traced")
    out.append(f'<text x="{LEFT + plot_w / 2}" y="{base + 32}" text-anchor="middle" '
               f'fill="#555">ms after the snapshot began ({how})</text>')
    out.append("</g>")
    # station lines
    silent = set(snap.get("silent") or [])
    for k in order:
        y = row[k]
        dashed = ' stroke-dasharray="4 3"' if k in silent else ""
        who = " (initiator)" if k == snap.get("initiator") else ""
        who += " silent" if k in silent else ""
        out.append(f'<g class="station-line" data-station="{k}">'
                   f'<line x1="{LEFT}" y1="{y}" x2="{LEFT + plot_w}" y2="{y}" '
                   f'stroke="#444" stroke-width="1.2"{dashed}/>'
                   f'<text x="{LEFT - 8}" y="{y + 4}" text-anchor="end">station {k}</text>'
                   f'<text x="{LEFT - 8}" y="{y + 16}" text-anchor="end" fill="#777" '
                   f'font-size="9">{escape(who.strip())}</text></g>')
    # the cut, under the arrows (in a ring the markers run along it)
    pts = [(x(d.cuts[k]), row[k]) for k in order if k in d.cuts]
    if pts:
        path = " ".join(f"{px:.1f},{py}" for px, py in pts)
        out.append(f'<polyline id="cut" points="{path}" fill="none" stroke="#d50000" '
                   'stroke-width="5" stroke-linejoin="round" opacity="0.35"/>')
    # arrows
    out.append('<g class="arrows" clip-path="url(#st-clip)">')
    for a in d.arrows:
        out.append(_arrow(a, row, x_free, gap, started))
    out.append("</g>")
    # faults that fired in the window
    out.append('<g class="faults">')
    for f in run.history.faults:
        if f.fired_at is not None and lo <= f.fired_at <= hi and f.station in row:
            fx, fy = x(f.fired_at), row[f.station]
            out.append(f'<g class="fault"><title>fault #{f.fault_id}: {f.kind} at station '
                       f'{f.station}, {(f.fired_at - started) * 1000:.4g} ms</title>'
                       f'<path d="M{fx - 6:.1f},{fy - 6} l12,12 M{fx - 6:.1f},{fy + 6} l12,-12" '
                       'stroke="#c62828" stroke-width="2.5"/>'
                       f'<text x="{fx + 8:.1f}" y="{fy - 8}" fill="#c62828" font-size="10">'
                       f'{f.kind}</text></g>')
    out.append("</g>")
    # the states recorded at the cut
    states = snap.get("states") or {}
    out.append('<g class="states">')
    for k in order:
        st = states.get(str(k))
        if not isinstance(st, dict) or k not in d.cuts:
            continue
        cx, cy = x(d.cuts[k]), row[k]
        text = state_text(st)
        full = escape(", ".join(f"{key}={val}" for key, val in st.items()))
        w = 7 + 6.2 * len(text)
        out.append(f'<g class="state" data-station="{k}"><title>station {k} recorded: '
                   f'{full}</title><circle cx="{cx:.1f}" cy="{cy}" r="5" fill="#d50000"/>'
                   f'<rect x="{cx + 7:.1f}" y="{cy - 21}" width="{w:.0f}" height="15" rx="3" '
                   'fill="#fff3f3" stroke="#d50000" stroke-width="0.6" opacity="0.92"/>'
                   f'<text x="{cx + 11:.1f}" y="{cy - 10}" fill="#b71c1c" font-size="10">'
                   f'{escape(text)}</text></g>')
    out.append("</g>")
    # the channels' records
    out.append('<g class="channels">')
    cx = LEFT + plot_w + 16
    out.append(f'<text x="{cx}" y="{TOP - 14}" font-weight="bold">channel records</text>')
    for i, k in enumerate(order):
        dst = d.ring_next[k]
        y = row[k] + (gap / 2 if i < len(order) - 1 else 0) + 4
        text = f"{k}→{dst}: {channel_text(snap, k, dst)}"
        out.append(f'<text class="channel" x="{cx}" y="{y:.0f}" fill="#333">'
                   f'{escape(text)}</text>')
    out.append("</g></svg>")
    return "\n".join(out), d.notes


def _arrow(a: Arrow, row: dict[int, int], x, gap: int, started: float) -> str:
    colour = COLOURS[a.kind]
    y1, y2 = row[a.src], row[a.dst]
    stub = a.sent is None or a.received is None
    if a.sent is not None:
        x1 = x(a.sent)
    if a.received is not None:
        x2 = x(a.received)
    if a.received is None:  # never seen arriving: a stub toward the next station
        x2, y2 = x1 + 14, y1 + (gap * 0.45 if y2 > y1 else -gap * 0.45)
    if a.sent is None:  # its send is not in the trace: a stub from upstream
        x1, y1 = x2 - 14, y2 - (gap * 0.45 if y2 > y1 else -gap * 0.45)
    width = 3.2 if a.crosses else 1.3
    dash = ' stroke-dasharray="5 3"' if a.kind == "marker" else (
        ' stroke-dasharray="2 2"' if stub else "")
    when = []
    if a.sent is not None:
        when.append(f"sent {(a.sent - started) * 1000:.4g} ms")
    if a.received is not None:
        when.append(f"received {(a.received - started) * 1000:.4g} ms")
    if stub:
        when.append("the other end is not in the trace")
    if a.crosses:
        when.append("in transit at the cut: recorded by the channel")
    cls = f"arrow arrow-{a.kind}" + (" recorded" if a.crosses else "") + (
        " stub" if stub else "")
    return (f'<line class="{cls}" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            f'stroke="{colour}" stroke-width="{width}"{dash} '
            f'marker-end="url(#st-ah-{a.kind})"><title>{escape(a.label)} {a.src}→{a.dst}: '
            f'{escape(", ".join(when))}</title></line>')


def _ticks(lo: float, hi: float, origin: float, n: int = 8) -> list[float]:
    """Round tick times (in ms from ``origin``) inside [lo, hi]."""
    span_ms = (hi - lo) * 1000
    raw = span_ms / n
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil((lo - origin) * 1000 / step)
    last = math.floor((hi - origin) * 1000 / step)
    return [origin + k * step / 1000 for k in range(first, last + 1)]
