"""The report's charts, drawn with matplotlib as static SVG.

Why matplotlib: it is the best kept of the candidates, it needs no browser code at all (its SVG
is plain elements, inlined into the page, so the report works offline, prints, and survives any
browser), and each artist can carry an id (``gid``) that the page's tests query. plotly would
inline about 3.5 MB of JavaScript per page, altair needs vega's JavaScript (fetched from a CDN
unless it is bundled the same way), and pygal's tooltips fetch a script from the web by default.

Each function returns one ``<svg>`` element as text. Times are drawn in seconds, or in
milliseconds when the run is shorter than two (a simulated run lasts a fraction of a virtual
second).
"""

from __future__ import annotations

import io
from typing import Iterator

import matplotlib
from matplotlib.figure import Figure

from ringemu.core.verdict import Verdict
from ringemu.report.run import Run

matplotlib.use("svg", force=False)

VERDICT_COLOURS = {
    Verdict.OK: "#2e7d32", Verdict.LOST: "#c62828", Verdict.DUPLICATE: "#ef6c00",
    Verdict.INCOMPLETE: "#6a1b9a", Verdict.RECOVERING: "#1565c0",
}
FAULT_COLOURS = {"lose": "#c62828", "corrupt": "#ad1457", "dup": "#ef6c00", "kill": "#37474f",
                 "pause": "#6d4c41"}
OUTCOME_COLOURS = {"detected": "#2e7d32", "masked": "#9e9e9e", "missed": "#c62828",
                   "not-fired": "#bdbdbd", "unobserved": "#bdbdbd"}
RC = {"svg.fonttype": "none", "svg.hashsalt": "ringemu", "font.size": 9,
      "font.family": "sans-serif", "axes.spines.top": False, "axes.spines.right": False}


class Clock:
    """The time axis of a run: seconds, or milliseconds for a short (simulated) run."""

    def __init__(self, run: Run) -> None:
        self.ms = run.end < 2.0
        self.scale = 1000.0 if self.ms else 1.0
        unit = "ms" if self.ms else "s"
        self.label = f"time ({unit}{', virtual' if run.shell == 'sim' else ''})"

    def __call__(self, t: float) -> float:
        return t * self.scale


def to_svg(fig: Figure) -> str:
    """The figure as one ``<svg>`` element (no XML prolog, no date: the same run gives the
    same text)."""
    buf = io.StringIO()
    with matplotlib.rc_context(RC):
        fig.savefig(buf, format="svg", bbox_inches="tight",
                    metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(RC):
        return Figure(figsize=(width, height), layout="constrained")


def timeline(run: Run) -> str:
    """The token count of every snapshot over time, with faults, alarms, purges, rollbacks
    and membership changes on the same axis."""
    h, clock = run.history, Clock(run)
    with matplotlib.rc_context(RC):
        fig = _figure(10, 3.8)
        ax = fig.add_subplot()
        top = max([r.count for r in h.results if r.count is not None] + [2]) + 0.9
        for verdict in Verdict:
            rs = [r for r in h.results if r.verdict is verdict]
            if not rs:
                continue
            ys = [r.count if r.count is not None else -0.5 for r in rs]
            ax.scatter([clock(r.started) for r in rs], ys, s=18, zorder=3,
                       marker="x" if verdict is Verdict.INCOMPLETE else "o",
                       color=VERDICT_COLOURS[verdict], label=f"{verdict} ({len(rs)})",
                       gid=f"counts-{verdict.lower()}")
        counted = [r for r in h.results if r.count is not None]
        if counted:
            ax.plot([clock(r.started) for r in counted], [r.count for r in counted],
                    color="#90a4ae", linewidth=0.6, zorder=2, gid="counts-line")
        for f in h.faults:
            at = f.fired_at if f.fired_at is not None else f.injected_at
            ax.axvline(clock(at), color=FAULT_COLOURS.get(f.kind, "#000"), linewidth=1,
                       linestyle="-", alpha=0.8, zorder=1, gid=f"fault-{f.fault_id}")
            ax.annotate(f"{f.kind}@{f.station}", (clock(at), top - 0.15), rotation=90,
                        fontsize=7, ha="right", va="top", color=FAULT_COLOURS.get(f.kind))
        end = run.end
        for a in h.alarms:
            ax.axvspan(clock(a.raised), clock(a.cleared if a.cleared is not None else end),
                       color=VERDICT_COLOURS.get(a.kind, "#c62828"), alpha=0.13, zorder=0,
                       gid=f"alarm-{a.alarm_id}")
        for p in h.purges:
            ax.scatter([clock(p.started)], [-1.1], marker="^", color="#1565c0", s=22,
                       zorder=3, gid=f"purge-{p.number}")
        for b in h.rollbacks:
            ax.scatter([clock(b.started)], [-1.1], marker="D", color="#6a1b9a", s=20,
                       zorder=3, gid=f"rollback-{b.epoch}")
        for t, m in h.memberships:
            ax.axvline(clock(t), color="#455a64", linestyle="--", linewidth=0.8, zorder=1,
                       gid=f"epoch-{m.get('epoch')}")
            ax.annotate(f"epoch {m.get('epoch')} ({m.get('reason')})", (clock(t), -0.85),
                        fontsize=7, color="#455a64", rotation=90, ha="left", va="bottom")
        handles = ax.get_legend_handles_labels()[0] + _legend_extras(
            bool(h.faults), bool(h.alarms), bool(h.purges), bool(h.rollbacks),
            bool(h.memberships))
        ax.set_ylim(-1.5, top)
        ax.set_yticks(range(0, int(top) + 1))
        ax.axhline(1, color="#2e7d32", linewidth=0.5, alpha=0.4)
        ax.set_xlabel(clock.label)
        ax.set_ylabel("tokens counted")
        ax.set_title("Token count of every snapshot (INCOMPLETE ✕ below zero; purges ▲, "
                     "rollbacks ◆ at the bottom)", fontsize=9, loc="left")
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7,
                  frameon=False)
        return to_svg(fig)


def _legend_extras(faults: bool, alarms: bool, purges: bool, rollbacks: bool,
                   epochs: bool) -> list:
    """Legend handles for what is drawn once per item (no label on each)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    out: list = []
    if faults:
        out += [Line2D([], [], color="#c62828", label="fault: lose, corrupt"),
                Line2D([], [], color="#ef6c00", label="fault: dup"),
                Line2D([], [], color="#37474f", label="fault: kill, pause")]
    if alarms:
        out.append(Patch(color="#c62828", alpha=0.13, label="alarm raised"))
    if purges:
        out.append(Line2D([], [], marker="^", linestyle="", color="#1565c0", label="purge"))
    if rollbacks:
        out.append(Line2D([], [], marker="D", linestyle="", color="#6a1b9a",
                          label="rollback"))
    if epochs:
        out.append(Line2D([], [], color="#455a64", linestyle="--",
                          label="membership change"))
    return out


def latency(run: Run) -> str:
    """Detection latency of each fault (ms), or what became of it."""
    faults = run.summary["faults"]
    with matplotlib.rc_context(RC):
        fig = _figure(10, max(1.6, 0.22 * len(faults) + 0.9))
        ax = fig.add_subplot()
        if not faults:
            ax.text(0.5, 0.5, "no faults were injected", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_axis_off()
            return to_svg(fig)
        names = [f"#{f['fault_id']} {f['kind']}@{f['station']}" for f in faults]
        values = [f["detection_latency_ms"] or 0.0 for f in faults]
        colours = [OUTCOME_COLOURS.get(f["outcome"], "#9e9e9e") for f in faults]
        ys = list(range(len(faults)))
        ax.barh(ys, values, color=colours, gid="latency-bars")
        peak = max(values + [1e-9])
        for y, f, v in zip(ys, faults, values):
            text = (f"{v:.3g} ms (snapshot {f['snapshot']})" if f["detected"]
                    else f["outcome"])
            ax.text(v + peak * 0.01, y, text, va="center", fontsize=7)
        ax.set_yticks(ys, names, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, peak * 1.3)
        ax.set_xlabel("detection latency (ms" + (", virtual" if run.shell == "sim" else "")
                      + "): from injection to the verdict that showed it")
        ax.set_title("Detection latency of each fault", fontsize=9, loc="left")
        return to_svg(fig)


def hop_rate(run: Run) -> str:
    """Token passes per second over time (``traffic`` events)."""
    clock = Clock(run)
    points = [(e["t"], e["hop_rate"]) for e in run.history.traffic_log[1:]]
    with matplotlib.rc_context(RC):
        fig = _figure(10, 2.4)
        ax = fig.add_subplot()
        if not points:
            ax.text(0.5, 0.5, "no traffic events in this run", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_axis_off()
            return to_svg(fig)
        ax.plot([clock(t) for t, _ in points], [r for _, r in points], color="#1565c0",
                marker="o", markersize=2.5, linewidth=1, gid="hop-rate-line")
        for f in run.history.faults:
            at = f.fired_at if f.fired_at is not None else f.injected_at
            ax.axvline(clock(at), color=FAULT_COLOURS.get(f.kind, "#000"), linewidth=0.7,
                       alpha=0.5)
        ax.set_ylim(bottom=0)
        ax.set_xlabel(clock.label)
        ax.set_ylabel("token passes / s")
        ax.set_title("Hop rate (token and frame passes per second; faults as lines)",
                     fontsize=9, loc="left")
        return to_svg(fig)


DROPS = ("dropped", "malformed", "absorbed", "stale", "send_dropped")
DROP_HELP = {"dropped": "lost to a fault", "malformed": "malformed (bad FCS...)",
             "absorbed": "absorbed by a purge", "stale": "stale epoch",
             "send_dropped": "send queue full"}


def stations(run: Run) -> str:
    """Each station's traffic and drops (the last ``traffic`` event's counters)."""
    log = run.history.traffic_log
    with matplotlib.rc_context(RC):
        fig = _figure(10, 3.6)
        if not log:
            ax = fig.add_subplot()
            ax.text(0.5, 0.5, "no traffic events in this run", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_axis_off()
            return to_svg(fig)
        counters = {int(k): v for k, v in log[-1]["stations"].items()}
        ks = sorted(counters)
        top, bottom = fig.subplots(2, 1, sharex=True)
        width = 0.28
        for i, (name, colour) in enumerate((("tokens", "#1565c0"), ("frames", "#7b1fa2"),
                                            ("delivered", "#2e7d32"))):
            top.bar([k + (i - 1) * width for k in ks], [_n(counters[k], name) for k in ks],
                    width, color=colour, label=name if name != "delivered"
                    else "payloads delivered", gid=f"station-{name}")
        top.set_ylabel("count")
        top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
        top.set_title("Per-station traffic (tokens and frames received) and drops",
                      fontsize=9, loc="left")
        base = [0] * len(ks)
        colours = ("#c62828", "#ad1457", "#1565c0", "#78909c", "#ff8f00")
        for name, colour in zip(DROPS, colours):
            vals = [_n(counters[k], name) for k in ks]
            bottom.bar(ks, vals, 0.6, bottom=base, color=colour, label=DROP_HELP[name],
                       gid=f"station-drops-{name}")
            base = [b + v for b, v in zip(base, vals)]
        bottom.set_ylabel("dropped")
        bottom.set_xlabel("station")
        bottom.set_xticks(ks)
        bottom.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
        return to_svg(fig)


def _n(d: object, key: str) -> int:
    v = d.get(key, 0) if isinstance(d, dict) else 0
    return v if type(v) is int and v >= 0 else 0


def all_plots(run: Run) -> Iterator[tuple[str, str, str]]:
    """(id, heading, svg) of every chart, in page order."""
    yield "timeline", "Token count over time", timeline(run)
    yield "latency", "Detection latency", latency(run)
    yield "hoprate", "Hop rate", hop_rate(run)
    yield "stations", "Per-station traffic and drops", stations(run)
