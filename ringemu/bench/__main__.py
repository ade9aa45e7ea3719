"""``python -m ringemu.bench`` (what ``scripts/bench`` runs): measure and report.

Prints a table of medians and ranges against the targets, and with ``--json FILE`` writes the
same figures. ``--quick`` trims repetitions and sizes to finish in about two minutes.
Progress goes to stderr on a terminal only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time

from ringemu.bench import measure as m
from ringemu.bench import see
from ringemu.params import MAX_STATIONS


PROGRESS = sys.stderr.isatty()
"""Progress lines only on a terminal: piped, the bench prints its table and nothing else."""

SIZES = (8, 32, 128, 256, 512, 1024)
QUICK_SIZES = (8, 32, 256)


def _log(msg: str) -> None:
    if PROGRESS:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run(quick: bool, runs_dir: str, skip: set[str], sizes: tuple[int, ...] | None = None
        ) -> dict:
    out: dict = {"machine": m.machine(), "quick": quick, "started": time.time(), "failed": {}}
    t0 = time.monotonic()
    for name, section in SECTIONS:
        if name in skip:
            continue
        try:
            section(out, quick, runs_dir, sizes)
        except Exception as e:  # noqa: BLE001 - one figure that fails is reported, not fatal
            out["failed"][name] = f"{type(e).__name__}: {e}"[:300]
            _log(f"{name} failed: {out['failed'][name]}")
    out["bench_wall_s"] = round(time.monotonic() - t0, 1)
    out["machine"]["load_average_start"] = out["machine"].pop("load_average", None)
    out["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return out


def _scaling(out: dict, quick: bool, runs_dir: str, sizes: tuple[int, ...] | None) -> None:
    out["scaling"] = []
    for n in sizes or (QUICK_SIZES if quick else SIZES):
        rounds = (4 if quick else 10) if n <= 32 else (3 if quick else 6)
        window = (1.0 if quick else 1.5) if n <= 256 else 2.0
        _log(f"hop rate: raw pyzmq ring (the same Cython send/recv calls) and ringemu, "
             f"{n} stations, {rounds} alternating window pairs of {window} s")
        try:
            r = m.hop_rate_pairs(n, rounds, window, runs_dir, direct=True)
        except Exception as e:  # noqa: BLE001 - a size this machine cannot run is a result
            out["scaling"].append({"stations": n, "error": f"{type(e).__name__}: {e}"})
            continue
        row = {"stations": n, "raw": _series(r["raw"]), "ringemu": _series(r["ringemu"]),
               "ratio": _series(r["ratio"]), "ringemu_up_s": round(r["up_s"], 2)}
        out["scaling"].append(row)
        out[f"hop_rate_ratio_{n}"] = row["ratio"]["median"]
        out[f"hop_rate_ratio_{n}_range"] = row["ratio"]
        _log(f"  raw {row['raw']['median']:,.0f} hops/s, ringemu "
             f"{row['ringemu']['median']:,.0f} hops/s, ratio {row['ratio']['median']:.3f}")


def _plain(out: dict, quick: bool, runs_dir: str, sizes) -> None:
    pairs, window = 10, 1.5
    if not quick:
        _log("against a plain raw ring (pyzmq's Python-level send/recv), 8 stations")
        r = m.hop_rate_pairs(8, pairs, window, runs_dir)
        out["plain_hop_rate_raw_8"] = _series(r["raw"])
        out["plain_hop_rate_ratio_8"] = round(r["ratio"].median, 3)


def _pin(out: dict, quick: bool, runs_dir: str, sizes) -> None:
    pairs, window = 10, 1.5
    if not quick:
        _log("CPU placement: raw and ringemu with every process on one CPU, 8 stations")
        r = m.hop_rate_pairs(8, pairs, window, runs_dir, pin="one", direct=True)
        out["pinned_hop_rate_raw_8"] = _series(r["raw"])
        out["pinned_hop_rate_ringemu_8"] = _series(r["ringemu"])
        out["pinned_hop_rate_ratio_8"] = round(r["ratio"].median, 3)


def _overhead(out: dict, quick: bool, runs_dir: str, sizes) -> None:
    quads = 8 if quick else 40
    _log(f"snapshot overhead: 16 stations on one CPU, the monitor on the other, suspicions "
         f"off, snapshots every 100 ms vs off, {quads} ABBA quads of 0.5 s windows")
    r = m.snapshot_overhead(16, quads, 0.5, runs_dir)
    v = r["loss_pct"].values
    out["snapshot_overhead_pct"] = round(statistics.mean(v), 2)
    if len(v) > 1:  # how precisely the noise lets us know it: standard error of the mean
        out["snapshot_overhead_pct_se"] = round(statistics.stdev(v) / len(v) ** 0.5, 2)
    out["snapshot_overhead_pct_median"] = round(r["loss_pct"].median, 2)
    out["snapshot_overhead_pct_range"] = _series(r["loss_pct"])
    c = r["cpu_extra_pct"].values
    if len(c) > 1:
        out["snapshot_cpu_per_hop_extra_pct"] = round(statistics.mean(c), 2)
        out["snapshot_cpu_per_hop_extra_pct_se"] = round(
            statistics.stdev(c) / len(c) ** 0.5, 2)
        out["cpu_us_per_hop_snapshots_on"] = _series(r["cpu_us_per_hop_on"])
        out["cpu_us_per_hop_snapshots_off"] = _series(r["cpu_us_per_hop_off"])
    out["hop_rate_snapshots_on_16"] = _series(r["on"])
    out["hop_rate_snapshots_off_16"] = _series(r["off"])
    out["snapshot_complete_p50_ms"] = round(m.percentile(r["snapshot_ms"], 50), 3)
    out["snapshot_complete_p99_ms"] = round(m.percentile(r["snapshot_ms"], 99), 3)
    out["snapshot_count"] = len(r["snapshot_ms"])


def _detection(out: dict, quick: bool, runs_dir: str, sizes) -> None:
    per_kind = 10 if quick else 50  # 100 faults: the p99 is not just the slowest one
    _log(f"detection latency: {per_kind} lose and {per_kind} dup faults, 8 stations")
    r = m.detection(8, per_kind, runs_dir)
    lat = r["latencies"]["lose"] + r["latencies"]["dup"]
    out["detection_latency_p50_ms"] = round(m.percentile(lat, 50), 2)
    out["detection_latency_p99_ms"] = round(m.percentile(lat, 99), 2)
    out["detection_latency_max_ms"] = round(max(lat), 2) if lat else None
    for kind in ("lose", "dup"):
        v = r["latencies"][kind]
        out[f"detection_{kind}_p50_ms"] = round(m.percentile(v, 50), 2)
        out[f"detection_{kind}_p99_ms"] = round(m.percentile(v, 99), 2)
        out[f"detection_{kind}_count"] = len(v)
    out["detection_bound_ms"] = round(r["bound_ms"], 2)
    out["detection_rotation_ms"] = round(r["rotation_ms"], 3)
    out["detection_outcomes"] = r["outcomes"]
    out["detection_false_alarms"] = r["false_alarms"]
    out["detection_wrong_counts"] = r["wrong_counts"]
    out["detection_valid"] = r["valid"]
    out["detected"] = r["outcomes"].get("detected", 0)
    out["injected"] = sum(r["outcomes"].values())
    out["detected_share"] = round(out["detected"] / out["injected"], 3) if out[
        "injected"] else None
    # issue 10's target for suspicion-triggered snapshots: 3 rotations and one snapshot
    out["detection_suspicion_bound_ms"] = round(3 * r["rotation_ms"] + r["snapshot_p99_ms"], 2)
    _log(f"detection latency with suspicions off (periodic snapshots only): {per_kind} lose "
         f"and {per_kind} dup faults, 8 stations")
    off = m.detection(8, per_kind, runs_dir, suspicions=False)
    lat_off = off["latencies"]["lose"] + off["latencies"]["dup"]
    out["detection_no_suspicions_p50_ms"] = round(m.percentile(lat_off, 50), 2)
    out["detection_no_suspicions_p99_ms"] = round(m.percentile(lat_off, 99), 2)
    out["detection_no_suspicions_outcomes"] = off["outcomes"]
    out["detection_no_suspicions_false_alarms"] = off["false_alarms"]


def _launch(out: dict, quick: bool, runs_dir: str, sizes) -> None:
    reps = 2 if quick else 3
    _log(f"launch: 'ringemu run' of 64 stations to the first completed snapshot, x{reps}")
    runs = [m.launch_time(64, runs_dir) for _ in range(reps)]
    total = m.Series(values=[r["total_s"] for r in runs])
    out["launch_64_s"] = round(total.median, 3)
    out["launch_64_s_range"] = _series(total)
    out["launch_64_phases_s"] = {k: round(statistics.median(r[k] for r in runs), 3)
                                 for k in runs[0] if k.endswith("_s")}
    started = m.Series(values=[m.launch_in_process(64, runs_dir) for _ in range(reps)])
    out["launch_64_in_process_s"] = round(started.median, 3)
    out["launch_64_in_process_s_range"] = _series(started)


def _memory(out: dict, quick: bool, runs_dir: str, sizes) -> None:
    _log("memory per station process (64 stations)")
    r = m.memory_per_station(64, runs_dir)
    out["rss_mb_per_station"] = round(r["rss_mb"], 2)
    out["pss_mb_per_station"] = round(r["pss_mb"], 2)


def _size(out: dict, quick: bool, runs_dir: str, sizes) -> None:
    out["ring_sizes"] = []
    out["max_stations"] = 0
    for n in (256,) if quick else (1024,):
        _log(f"ring size: {n} stations up, counting one, detecting a lost token?")
        r = m.ring_size_check(n, runs_dir)
        out["ring_sizes"].append(r)
        if r["ok"]:
            out["max_stations"] = n


def _sim(out: dict, quick: bool, runs_dir: str, sizes) -> None:
    _log("simulator: 1000 stations")
    passes, markers = m.sim_speed(1000, 60 if quick else 150, 2 if quick else 3)
    out["sim_token_passes_per_s"] = round(passes.median)
    out["sim_token_passes_per_s_range"] = _series(passes)
    out["sim_markers_per_s"] = round(markers.median)


def _see(out: dict, quick: bool, runs_dir: str, sizes) -> None:
    """The cost of watching a ring: capture, metrics, the browser dashboard (``bench.see``)."""
    pairs, window = (4, 1.0) if quick else (10, 1.5)
    parts = (("capture", "live capture (a reader taking every hop) on vs off", see.capture_cost),
             ("metrics", "a ring with --metrics-port, scraped every second, vs one without",
              see.metrics_cost),
             ("web", "the dashboard in headless Chromium vs a blank tab (ringemu up --web)",
              see.web_cost))
    for name, what, measure in parts:
        _log(f"cost of {what}: 8 stations, {pairs} alternating window pairs")
        r = measure(8, pairs, window, runs_dir)
        if "skipped" in r:
            out[f"{name}_cost_skipped"] = r["skipped"]
            _log(f"  skipped: {r['skipped']}")
            continue
        out[f"{name}_hop_rate_with_8"] = _series(r["with"])
        out[f"{name}_hop_rate_without_8"] = _series(r["without"])
        out[f"{name}_cost_ratio_8"] = round(r["ratio"].median, 3)
        out[f"{name}_cost_ratio_8_range"] = _series(r["ratio"])
        for key in ("cpu_us_per_hop_with", "cpu_us_per_hop_without", "cpu_per_hop_ratio",
                    "watcher_cpu_pct"):
            out[f"{name}_{key}_8"] = _series(r[key])
        for extra in ("records", "reader_dropped", "copies_dropped", "scrapes"):
            if extra in r:
                out[f"{name}_{extra}"] = r[extra]


SECTIONS = [("scaling", _scaling), ("plain", _plain), ("pin", _pin), ("overhead", _overhead),
            ("detection", _detection), ("launch", _launch), ("memory", _memory),
            ("size", _size), ("sim", _sim), ("see", _see)]


def _series(s: m.Series) -> dict:
    return {"median": round(s.median, 3), "min": round(s.low, 3), "max": round(s.high, 3),
            "n": len(s.values)}


TARGETS = [
    ("hop_rate_ratio_8", "ringemu / raw hop rate, 8 stations", ">=", 0.90),
    ("hop_rate_ratio_32", "ringemu / raw hop rate, 32 stations", ">=", 0.90),
    ("hop_rate_ratio_256", "ringemu / raw hop rate, 256 stations", ">=", 0.90),
    ("hop_rate_ratio_512", "ringemu / raw hop rate, 512 stations", ">=", 0.90),
    ("snapshot_overhead_pct", "hop-rate loss, snapshots every 100 ms, 16 st. (%)", "<=", 1.0),
    ("snapshot_overhead_pct_se", "  its standard error (percentage points)", "<=", 0.5),
    ("detected_share", "faults detected / injected (lose + dup)", ">=", 1.0),
    ("detection_false_alarms", "  false alarms while detecting", "<=", 0),
    ("detection_wrong_counts", "  snapshots that counted wrong", "<=", 0),
    ("detection_latency_p99_ms", "detection latency p99 (ms)", "<=", "detection_bound_ms"),
    ("detection_latency_p99_ms", "  against 3 rotations + a snapshot's p99 (ms)", "<=",
     "detection_suspicion_bound_ms"),
    ("launch_64_s", "64 stations: 'ringemu run' spawn to first snapshot (s)", "<=", 0.3),
    ("max_stations", "largest ring checked: up, counts one, detects a lose", ">=", 1024),
    ("sim_token_passes_per_s", "simulator, 1000 stations (token passes/s)", ">=", 1_000_000),
]
REQUIRES = {"detection_latency_p99_ms": ("detected_share", 1.0)}
"""A figure is only met when the figure it depends on is: a latency of the faults found says
nothing when faults were missed."""


def table(r: dict) -> str:
    lines = []
    if r.get("scaling"):
        lines.append(f"{'stations':>8} {'raw hops/s':>12} {'ringemu hops/s':>15} "
                     f"{'ratio':>7} {'ratio range':>13} {'pairs':>5} {'up (s)':>7}")
        for row in r["scaling"]:
            if "error" in row:
                lines.append(f"{row['stations']:>8} FAILED: {row['error']}")
                continue
            ratio = row["ratio"]
            lines.append(f"{row['stations']:>8} {row['raw']['median']:>12,.0f} "
                         f"{row['ringemu']['median']:>15,.0f} {ratio['median']:>7.3f} "
                         f"{ratio['min']:>6.2f}..{ratio['max']:<5.2f} {ratio['n']:>5} "
                         f"{row['ringemu_up_s']:>7}")
        lines.append("")
    lines.append(f"{'figure':<56} {'value':>12} {'range':>21} {'target':>12}  met")
    for key, label, op, target in TARGETS:
        if key not in r:
            continue
        value = r[key]
        tgt = r.get(target) if isinstance(target, str) else target
        rng = r.get(f"{key}_range")
        rng_s = f"{rng['min']:,.3g} .. {rng['max']:,.3g}" if rng else ""
        unknown = value is None or tgt is None or (isinstance(value, float) and math.isnan(value))
        met = "?" if unknown else ("yes" if (value >= tgt if op == ">=" else value <= tgt)
                                   else "NO")
        need = REQUIRES.get(key)
        if met == "yes" and need and (r.get(need[0]) is None or r[need[0]] < need[1]):
            met = f"NO ({need[0]} short)"
        target_s = f"{op} {tgt:,.4g}" if tgt is not None else op
        value_s = f"{value:>12,.4g}" if value is not None else f"{'-':>12}"
        lines.append(f"{label:<56} {value_s} {rng_s:>21} {target_s:>12}  met: {met}")
    extra = [
        ("plain_hop_rate_raw_8", "plain raw ring 8 st., Python-level send (hops/s)"),
        ("pinned_hop_rate_raw_8", "raw ring 8 stations, one CPU (hops/s)"),
        ("pinned_hop_rate_ringemu_8", "ringemu 8 stations, --pin one (hops/s)"),
        ("hop_rate_snapshots_on_16", "16 stations, snapshots every 100 ms (hops/s)"),
        ("hop_rate_snapshots_off_16", "16 stations, snapshots off (hops/s)"),
        ("cpu_us_per_hop_snapshots_on", "  CPU per hop, snapshots on (us)"),
        ("cpu_us_per_hop_snapshots_off", "  CPU per hop, snapshots off (us)"),
    ]
    for key, label in extra:
        if key in r:
            s = r[key]
            lines.append(f"{label:<56} {s['median']:>12,.1f} "
                         f"{s['min']:>9,.1f} .. {s['max']:<9,.1f}")
    for key, label in [("plain_hop_rate_ratio_8", "ratio vs the plain raw ring, 8 stations"),
                       ("pinned_hop_rate_ratio_8", "ratio with both on one CPU, 8 stations"),
                       ("snapshot_overhead_pct_median", "snapshot overhead, median of quads (%)"),
                       ("snapshot_cpu_per_hop_extra_pct", "snapshot CPU per hop, extra (%)"),
                       ("snapshot_cpu_per_hop_extra_pct_se", "  its standard error (pp)"),
                       ("snapshot_complete_p50_ms", "snapshot completion p50 (ms), 16 st."),
                       ("snapshot_complete_p99_ms", "snapshot completion p99 (ms), 16 st."),
                       ("detection_latency_p50_ms", "detection latency p50 (ms)"),
                       ("detection_latency_max_ms", "detection latency max (ms)"),
                       ("detection_no_suspicions_p50_ms", "  suspicions off: p50 (ms)"),
                       ("detection_no_suspicions_p99_ms", "  suspicions off: p99 (ms)"),
                       ("detection_no_suspicions_false_alarms", "  suspicions off: false alarms"),
                       ("detection_bound_ms", "bound: interval + 2 rotations + 10 ms"),
                       ("launch_64_in_process_s", "64 stations: LiveRing.start to first snapshot"),
                       ("sim_markers_per_s", "simulator: markers delivered per second, apart"),
                       ("rss_mb_per_station", "RSS per station (MB)"),
                       ("pss_mb_per_station", "PSS per station, shared pages split (MB)")]:
        if key in r and r[key] is not None:
            lines.append(f"{label:<56} {r[key]:>12,.4g}")
    if "launch_64_phases_s" in r:
        ph = r["launch_64_phases_s"]
        lines.append("launch phases (s): " + ", ".join(f"{k} {v}" for k, v in ph.items()))
    for key, label in [("capture_cost_ratio_8", "hop rate with / without live capture, 8 st."),
                       ("metrics_cost_ratio_8", "hop rate with / without metrics, 8 st."),
                       ("web_cost_ratio_8", "hop rate with / without the web dashboard, 8 st.")]:
        if key in r and r[key] is not None:
            lines.append(f"{label:<56} {r[key]:>12,.4g}")
    for name in ("capture", "metrics", "web"):
        rng = r.get(f"{name}_cost_ratio_8_range")
        if rng:
            cpu = r[f"{name}_cpu_per_hop_ratio_8"]
            lines.append(f"  {name}: ratio range {rng['min']:.3f} .. {rng['max']:.3f} over "
                         f"{rng['n']} pairs; with {r[f'{name}_hop_rate_with_8']['median']:,.0f}"
                         f", without {r[f'{name}_hop_rate_without_8']['median']:,.0f} hops/s")
            lines.append(f"    ring CPU per hop with / without: {cpu['median']:.3f} "
                         f"({cpu['min']:.3f} .. {cpu['max']:.3f}); "
                         f"{r[f'{name}_cpu_us_per_hop_with_8']['median']:.1f} vs "
                         f"{r[f'{name}_cpu_us_per_hop_without_8']['median']:.1f} us; the "
                         f"watcher: {r[f'{name}_watcher_cpu_pct_8']['median']:.0f}% of a core")
        elif f"{name}_cost_skipped" in r:
            lines.append(f"  {name}: not measured ({r[f'{name}_cost_skipped']})")
    for size in r.get("ring_sizes", []):
        state = "ok" if size["ok"] else f"FAILED ({size.get('error', 'not detected')})"
        lines.append(f"ring of {size['stations']}: {state}; up in {size.get('up_s')} s, "
                     f"{size.get('hop_rate', 0):,.0f} hops/s, detection "
                     f"{size.get('detection_ms')} ms, verdicts {size.get('verdicts')}")
    for name, why in r.get("failed", {}).items():
        lines.append(f"FAILED {name}: {why}")
    mach = r["machine"]
    lines.append(f"machine: {mach['cores']} cores, Python {mach['python']}, pyzmq {mach['pyzmq']} "
                 f"(libzmq {mach['libzmq']}), load {mach.get('load_average_start')} at start, "
                 f"{mach.get('load_average_end')} at end; bench took {r['bench_wall_s']} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions; under 2 minutes")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON here")
    ap.add_argument("--runs-dir", help="where the benchmark rings leave run folders "
                                       "(default: a temporary folder, removed afterwards)")
    ap.add_argument("--skip", default="", help="comma list of: scaling, plain, pin, overhead, "
                                               "detection, launch, memory, size, sim, see")
    ap.add_argument("--plot", metavar="SVG", help="also draw the scaling curve here "
                                                  "(ringemu.bench.plot; needs matplotlib)")
    ap.add_argument("--sizes", default="", help="comma list of ring sizes for the scaling "
                                                "table (default: 8,32,128,256,512,1024)")
    ap.add_argument("--only", default="", help="comma list of the sections to run (the "
                                               "names --skip takes); the others are skipped")
    args = ap.parse_args(argv)
    names = {name for name, _ in SECTIONS}
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = sorted((skip | only) - names)
    if unknown:
        ap.error(f"no section {', '.join(unknown)} (sections: {', '.join(sorted(names))})")
    if only:
        skip |= names - only
    try:
        sizes = tuple(int(x) for x in args.sizes.split(",") if x.strip()) or None
    except ValueError:
        ap.error("--sizes takes whole numbers, like 8,32,256")
    if sizes and not all(2 <= n <= MAX_STATIONS for n in sizes):
        ap.error(f"--sizes: a ring has 2 to {MAX_STATIONS} stations")
    for flag, path in (("--json", args.json), ("--plot", args.plot)):
        folder = os.path.dirname(os.path.abspath(path)) if path else None
        if folder is not None and not (os.path.isdir(folder) and os.access(folder, os.W_OK)):
            ap.error(f"{flag} {path}: cannot write there (no such folder, or not writable); "
                     "checked before the run, not after it")
    with tempfile.TemporaryDirectory(prefix="ringemu-bench-") as tmp:
        results = run(args.quick, args.runs_dir or tmp, skip, sizes)
    print(table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)
        _log(f"figures written to {args.json}")
    if args.plot and results.get("scaling"):
        from ringemu.bench.plot import plot

        plot(results, args.plot)
        _log(f"scaling curve drawn in {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
