"""The report page: one HTML file with everything inline (styles, charts, the diagram).

Nothing on the page is fetched: no script, no font, no image from anywhere; the charts are inline
SVG, and the only links are to anchors on the page itself. So the file works offline, can be
mailed or attached to a bug, and shows the same thing in ten years.
"""

from __future__ import annotations

from html import escape

from ringemu.report import plots, spacetime
from ringemu.report.run import Run

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto;
       max-width: 1240px; color: #212121; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 17px; margin-top: 32px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.sub { color: #666; margin-top: 0; }
.verdict { display: inline-block; padding: 2px 10px; border-radius: 4px; color: #fff;
           font-weight: bold; }
.v-true { background: #2e7d32; } .v-false { background: #c62828; }
.v-unknown { background: #757575; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.figure svg { max-width: 100%; height: auto; }
.outcome-detected { color: #2e7d32; font-weight: bold; }
.outcome-missed { color: #c62828; font-weight: bold; }
.outcome-masked, .outcome-not-fired, .outcome-unobserved { color: #757575; }
.note { color: #666; font-size: 13px; }
nav a { margin-right: 14px; }
"""


def render(run: Run, sid: int | None) -> str:
    """The whole page; ``sid`` is the snapshot drawn (None: no snapshot to draw)."""
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>ringemu report: {escape(run.name)}</title>",
             f"<style>{STYLE}</style></head><body>"]
    state = "finished" if run.finished else "still running: read as far as it has got"
    parts.append(f"<h1>ringemu run report: {escape(run.name)}</h1>")
    parts.append(f'<p class="sub">{"simulated" if run.shell == "sim" else "live"} ring of '
                 f"{run.history.stations} stations, {state}; events from "
                 f"<code>{escape(str(run.path))}</code></p>")
    parts.append('<nav><a href="#summary">summary</a><a href="#timeline">token count</a>'
                 '<a href="#latency">detection latency</a><a href="#hoprate">hop rate</a>'
                 '<a href="#stations">stations</a><a href="#spacetime-section">space-time '
                 'diagram</a><a href="#faults">faults</a><a href="#alarms">alarms</a></nav>')
    parts += _summary(run)
    for anchor, heading, svg in plots.all_plots(run):
        parts.append(f'<h2 id="{anchor}">{escape(heading)}</h2>')
        parts.append(f'<div class="figure" id="fig-{anchor}">{svg}</div>')
    parts.append('<h2 id="spacetime-section">Space-time diagram</h2>')
    if sid is None:
        parts.append('<p class="note">No snapshot completed in this run: nothing to draw.</p>')
    else:
        diagram, notes = spacetime.svg(run, sid)
        traced = sorted(run.history.traces)
        parts.append('<p class="note">Snapshot ' + str(sid) + ' (choose another with '
                     '<code>--snapshot ID</code>; traced snapshots: '
                     + (", ".join(map(str, traced)) or "none") + "). Hover an arrow or a "
                     "state for its details.</p>")
        for note in notes:
            parts.append(f'<p class="note">{escape(note)}</p>')
        parts.append(f'<div class="figure" id="fig-spacetime">{diagram}</div>')
    parts += _faults(run)
    parts += _alarms(run)
    parts.append("</body></html>")
    return "\n".join(parts)


def _verdict(valid: object) -> str:
    word = {True: "VALID", False: "INVALID"}.get(valid, "UNKNOWN")  # type: ignore[arg-type]
    cls = {True: "v-true", False: "v-false"}.get(valid, "v-unknown")  # type: ignore[arg-type]
    return f'<span class="verdict {cls}">{word}</span>'


def _summary(run: Run) -> list[str]:
    s, extra = run.summary, run.extra
    rows = [
        ("verdict of the checker", _verdict(s["valid"])),
        ("snapshots that counted", str(s["snapshots"])),
        ("verdicts", escape(", ".join(f"{k} {v}" for k, v in s["verdicts"].items()))),
        ("faults", escape(", ".join(f"{v} {k}" for k, v in s["outcomes"].items() if v)
                          or "none")),
        ("false alarms", str(s["false_alarms"])),
        ("wrong counts", str(s["wrong_counts"])),
        ("purges, rollbacks, epochs", f"{s['purges']}, {s['rollbacks']}, {s['epochs']}"),
        ("payloads", f"{s['payloads_sent']} sent, {s['payloads_delivered']} delivered, "
                     f"{s['duplicates']} duplicated, {s['lost']} lost, {s['out_of_order']} out "
                     f"of order, {s['in_flight']} in flight"),
    ]
    traffic = run.history.traffic_log
    if traffic:
        last = traffic[-1]
        up = run.history.up_at or 0.0
        span = last["t"] - up
        rate = last["token_passes"] / span if span > 0 else 0.0
        rows.append(("token passes", f"{last['token_passes']:,} ({rate:,.0f}/s"
                     + (" virtual" if run.shell == "sim" else "") + ")"))
    for key in ("duration_s", "hop_rate", "snapshots_per_s", "seed", "refused", "final"):
        if extra.get(key) not in (None, [], ""):
            rows.append((key.replace("_", " "), escape(str(extra[key]))))
    out = ['<h2 id="summary">Summary</h2>', "<table>"]
    out += [f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in rows]
    out.append("</table>")
    for d in s["defects"]:
        out.append(f'<p class="outcome-missed">WRONG COUNT: {escape(d)}</p>')
    return out


def _faults(run: Run) -> list[str]:
    faults = run.summary["faults"]
    out = ['<h2 id="faults">The checker\'s account of every fault</h2>']
    if not faults:
        return out + ['<p class="note">No fault was injected.</p>']
    out.append("<table><tr><th>#</th><th>fault</th><th>station</th><th>injected (ms)</th>"
               "<th>fired (ms)</th><th>outcome</th><th>detected by snapshot</th>"
               "<th>latency (ms)</th><th>note</th></tr>")
    for f in faults:
        lat = f["detection_latency_ms"]
        out.append(
            f"<tr><td class=num>{f['fault_id']}</td><td>{escape(f['spec'])}</td>"
            f"<td class=num>{f['station']}</td><td class=num>{f['injected']:g}</td>"
            f"<td class=num>{'' if f['fired'] is None else format(f['fired'], 'g')}</td>"
            f'<td class="outcome-{escape(f["outcome"])}">{escape(f["outcome"])}</td>'
            f"<td class=num>{'' if f['snapshot'] is None else f['snapshot']}</td>"
            f"<td class=num>{'' if lat is None else format(lat, 'g')}</td>"
            f"<td>{escape(f['note'] or '')}</td></tr>")
    out.append("</table>")
    return out


def _alarms(run: Run) -> list[str]:
    alarms = run.summary["alarms"]
    out = ['<h2 id="alarms">Alarms and what explains them</h2>']
    if not alarms:
        return out + ['<p class="note">No alarm was raised.</p>']
    out.append("<table><tr><th>alarm</th><th>kind</th><th>snapshot</th><th>raised (ms)</th>"
               "<th>cleared (ms)</th><th>explained by faults</th><th>detail</th></tr>")
    for a in alarms:
        why = (f'<span class="outcome-missed">FALSE ALARM: {escape(a["why_false"] or "")}'
               "</span>" if a["false"] else escape(", ".join(f"#{i}" for i in
                                                             a["explained_by"])))
        out.append(
            f"<tr><td class=num>{a['alarm']}</td><td>{escape(a['kind'])}</td>"
            f"<td class=num>{a['snapshot']}</td><td class=num>{a['raised']:g}</td>"
            f"<td class=num>{'' if a['cleared'] is None else format(a['cleared'], 'g')}</td>"
            f"<td>{why}</td><td>{escape(a['detail'] or '')}</td></tr>")
    out.append("</table>")
    return out


def default_snapshot(run: Run) -> int | None:
    """The snapshot drawn when none is asked for: the first alarm's, else the first traced
    one, else the first that completed."""
    h = run.history
    if h.alarms:
        return h.alarms[0].snapshot_id
    if h.traces:
        return min(h.traces)
    return h.results[0].snapshot_id if h.results else None
