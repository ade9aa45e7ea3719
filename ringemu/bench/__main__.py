"""``python -m ringemu.bench`` (what ``scripts/bench`` runs): measure and report.

Prints a table of medians and ranges against the targets, and with ``--json FILE`` writes the
same figures. ``--quick`` trims repetitions and sizes to finish in under two minutes. On a
terminal (and without ``--json``) a progress line says which measurement runs and about how
long is left (``ringemu.cli.progress``).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time

from ringemu.bench import measure as m
from ringemu.bench import see
from ringemu.cli.progress import Progress

SECTIONS = ("ratio8", "ratio32", "plain", "pin", "overhead", "detection", "launch", "memory",
            "size", "sim", "see")


class BenchProgress:
    """Where the bench is: each measurement weighs its rough length in seconds, and the time
    left comes from the pace so far (this machine's speed varies by 2x with its load)."""

    def __init__(self, weights: dict[str, float], enabled: bool) -> None:
        self.weights = weights
        self.total = sum(weights.values()) or 1.0
        self.progress = Progress(100.0, enabled, unit="%")
        self.done = 0.0
        self.current: str | None = None
        self.label = ""

    def start(self, section: str, label: str) -> None:
        if self.current is not None:
            self.done += self.weights.get(self.current, 0.0)
        self.current, self.label = section, label
        self.tick(0.0)

    def tick(self, fraction: float) -> None:
        w = self.weights.get(self.current or "", 0.0)
        pct = 100.0 * (self.done + w * min(1.0, fraction)) / self.total
        self.progress._next = 0.0  # every step is worth a redraw
        if self.progress.due(pct):
            self.progress.show(pct, self.label)

    def clear(self) -> None:
        self.progress.clear()


PROGRESS = BenchProgress({}, False)


def _log(msg: str) -> None:
    PROGRESS.clear()
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _step(section: str, msg: str) -> None:
    _log(msg)
    PROGRESS.start(section, msg.split(":")[0])



def weights(quick: bool, skip: set[str]) -> dict[str, float]:
    """Rough seconds each measurement takes here, for the progress line."""
    pairs, window = (4, 1.0) if quick else (12, 1.5)
    pair = 2 * (window + 0.5) + 0.5
    w = {"ratio8": pairs * pair + 3, "ratio32": pairs * pair + 4, "plain": pairs * pair + 3,
         "pin": pairs * pair + 3, "overhead": (8 if quick else 40) * 2.4 + 2,
         "detection": (20 if quick else 50) * 0.5 + 2, "launch": (2 if quick else 3) * 4,
         "memory": 4, "size": 12 if quick else 80, "sim": 5 if quick else 12,
         "see": 3 * (see_pairs(quick) * pair + 8)}
    return {k: v for k, v in w.items() if k not in skip}


def see_pairs(quick: bool) -> int:
    return 4 if quick else 10


def run(quick: bool, runs_dir: str, skip: set[str]) -> dict:
    pairs = 4 if quick else 12
    window = 1.0 if quick else 1.5
    out: dict = {"machine": m.machine(), "quick": quick, "started": time.time()}
    t0 = time.monotonic()
    tick = PROGRESS.tick

    for n in (8, 32):
        if f"ratio{n}" in skip:
            continue
        _step(f"ratio{n}", f"hop rate: raw pyzmq ring (same Cython send/recv calls as the "
              f"stations) vs ringemu, {n} stations, {pairs} alternating windows")
        r = m.hop_rate_pairs(n, pairs, window, runs_dir, direct=True, tick=tick)
        out[f"hop_rate_raw_{n}"] = _series(r["raw"])
        out[f"hop_rate_ringemu_{n}"] = _series(r["ringemu"])
        out[f"hop_rate_ratio_{n}_range"] = _series(r["ratio"])
        out[f"hop_rate_ratio_{n}"] = round(r["ratio"].median, 3)
    if "plain" not in skip:
        _step("plain", "against a plain raw ring (pyzmq's Python-level send/recv), 8 stations")
        r = m.hop_rate_pairs(8, pairs, window, runs_dir, tick=tick)
        out["plain_hop_rate_raw_8"] = _series(r["raw"])
        out["plain_hop_rate_ratio_8"] = round(r["ratio"].median, 3)
    if "pin" not in skip:
        _step("pin", "CPU placement: raw and ringemu with every process on one CPU, 8 stations")
        r = m.hop_rate_pairs(8, pairs, window, runs_dir, pin="one", direct=True, tick=tick)
        out["pinned_hop_rate_raw_8"] = _series(r["raw"])
        out["pinned_hop_rate_ringemu_8"] = _series(r["ringemu"])
        out["pinned_hop_rate_ratio_8"] = round(r["ratio"].median, 3)

    if "overhead" not in skip:
        windows = 8 if quick else 40
        _step("overhead", f"snapshot overhead: 16 stations, snapshots every 100 ms vs off, "
              f"{windows} window pairs")
        r = m.snapshot_overhead(16, windows, 1.0, runs_dir, tick=tick)
        out["snapshot_overhead_pct"] = round(r["loss_pct"].median, 2)
        v = r["loss_pct"].values
        if len(v) > 1:  # how precisely the noise lets us know it: standard error of the mean
            out["snapshot_overhead_pct_mean"] = round(statistics.mean(v), 2)
            out["snapshot_overhead_pct_se"] = round(statistics.stdev(v) / len(v) ** 0.5, 2)
        out["snapshot_overhead_pct_range"] = _series(r["loss_pct"])
        out["hop_rate_snapshots_on_16"] = _series(r["on"])
        out["hop_rate_snapshots_off_16"] = _series(r["off"])
        out["snapshot_complete_p50_ms"] = round(m.percentile(r["snapshot_ms"], 50), 3)
        out["snapshot_complete_p99_ms"] = round(m.percentile(r["snapshot_ms"], 99), 3)
        out["snapshot_count"] = len(r["snapshot_ms"])

    if "detection" not in skip:
        per_kind = 10 if quick else 25
        _step("detection", f"detection latency: {per_kind} lose and {per_kind} dup faults, "
              "8 stations")
        r = m.detection(8, per_kind, runs_dir, tick=tick)
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

    if "launch" not in skip:
        reps = 2 if quick else 3
        _step("launch", f"launch: 'ringemu run' of 64 stations to the first completed "
              f"snapshot, x{reps}")
        s = m.Series()
        for i in range(reps):
            s.add(m.launch_time(64, runs_dir))
            tick((i + 1) / reps)
        out["launch_64_s"] = round(s.median, 3)
        out["launch_64_s_range"] = _series(s)

    if "memory" not in skip:
        _step("memory", "memory per station process (64 stations)")
        r = m.memory_per_station(64, runs_dir)
        out["rss_mb_per_station"] = round(r["rss_mb"], 2)
        out["pss_mb_per_station"] = round(r["pss_mb"], 2)

    if "size" not in skip:
        sizes = (128,) if quick else (128, 256, 512)
        out["ring_sizes"] = []
        out["max_stations"] = 0
        PROGRESS.start("size", "ring size")
        for k, n in enumerate(sizes):
            _log(f"ring size: {n} stations up, counting, detecting a lost token?")
            tick(k / len(sizes))
            r = m.ring_size_check(n, runs_dir)
            out["ring_sizes"].append(r)
            if not r["ok"]:
                break
            out["max_stations"] = n

    if "sim" not in skip:
        _step("sim", "simulator: 1000 stations")
        passes, markers = m.sim_speed(1000, 60 if quick else 150, 2 if quick else 3)
        out["sim_token_passes_per_s"] = round(passes.median)
        out["sim_token_passes_per_s_range"] = _series(passes)
        out["sim_markers_per_s"] = round(markers.median)

    if "see" not in skip:
        see_figures(out, see_pairs(quick), window, runs_dir)

    PROGRESS.clear()
    out["bench_wall_s"] = round(time.monotonic() - t0, 1)
    out["machine"]["load_average_end"] = out["machine"].pop("load_average", None)
    return out


def see_figures(out: dict, pairs: int, window: float, runs_dir: str) -> None:
    """The cost of watching a ring: capture, metrics, the browser dashboard (``bench.see``)."""
    tick = PROGRESS.tick
    parts = (("capture", "live capture (a reader taking every hop) on vs off", see.capture_cost),
             ("metrics", "a ring with --metrics-port, scraped every second, vs one without",
              see.metrics_cost),
             ("web", "the dashboard in headless Chromium vs a blank tab (ringemu up --web)",
              see.web_cost))
    for k, (name, what, measure) in enumerate(parts):
        msg = f"cost of {what}: 8 stations, {pairs} alternating window pairs"
        if k == 0:
            _step("see", msg)
        else:
            _log(msg)
            PROGRESS.label = f"cost of {what}"
        r = measure(8, pairs, window, runs_dir,
                    tick=lambda f, k=k: tick((k + f) / len(parts)))
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


def _series(s: m.Series) -> dict:
    return {"median": round(s.median, 3), "min": round(s.low, 3), "max": round(s.high, 3),
            "n": len(s.values)}


TARGETS = [
    ("hop_rate_ratio_8", "ringemu / raw hop rate, 8 stations", ">=", 0.80),
    ("hop_rate_ratio_32", "ringemu / raw hop rate, 32 stations", ">=", 0.80),
    ("snapshot_overhead_pct", "hop-rate loss, snapshots every 100 ms, 16 st. (%)", "<=", 3.0),
    ("detected_share", "faults detected / injected (lose + dup)", ">=", 1.0),
    ("detection_false_alarms", "  false alarms while detecting", "<=", 0),
    ("detection_wrong_counts", "  snapshots that counted wrong", "<=", 0),
    ("detection_latency_p99_ms", "detection latency p99 (ms)", "<=", "detection_bound_ms"),
    ("launch_64_s", "64 stations: launch to first snapshot (s)", "<=", 1.0),
    ("max_stations", "largest ring that runs and detects here", ">=", 256),
    ("sim_token_passes_per_s", "simulator, 1000 stations (token passes/s)", ">=", 200_000),
]
REQUIRES = {"detection_latency_p99_ms": ("detected_share", 1.0)}
"""A figure is only met when the figure it depends on is: a latency of the faults found says
nothing when faults were missed."""


def table(r: dict) -> str:
    lines = [f"{'figure':<52} {'median':>12} {'range':>23} {'target':>12}  met"]
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
        lines.append(f"{label:<52} {value:>12,.4g} {rng_s:>23} {target_s:>12}  {met}")
    extra = [
        ("hop_rate_raw_8", "raw ring 8 stations (hops/s)"),
        ("hop_rate_ringemu_8", "ringemu 8 stations (hops/s)"),
        ("hop_rate_raw_32", "raw ring 32 stations (hops/s)"),
        ("hop_rate_ringemu_32", "ringemu 32 stations (hops/s)"),
        ("plain_hop_rate_raw_8", "plain raw ring 8 st., Python-level send (hops/s)"),
        ("pinned_hop_rate_raw_8", "raw ring 8 stations, one CPU (hops/s)"),
        ("pinned_hop_rate_ringemu_8", "ringemu 8 stations, --pin one (hops/s)"),
    ]
    for key, label in extra:
        if key in r:
            s = r[key]
            lines.append(f"{label:<52} {s['median']:>12,.0f} "
                         f"{s['min']:>11,.0f} .. {s['max']:<9,.0f}")
    for key, label in [("capture_cost_ratio_8", "hop rate with / without live capture, 8 st."),
                       ("metrics_cost_ratio_8", "hop rate with / without metrics, 8 st."),
                       ("web_cost_ratio_8", "hop rate with / without the web dashboard, 8 st."),
                       ("plain_hop_rate_ratio_8", "ratio vs the plain raw ring, 8 stations"),
                       ("sim_markers_per_s", "simulator: markers delivered per second, apart"),
                       ("pinned_hop_rate_ratio_8", "ratio with both on one CPU"),
                       ("snapshot_overhead_pct_mean", "snapshot overhead, mean of the pairs (%)"),
                       ("snapshot_overhead_pct_se", "  its standard error (%)"),
                       ("snapshot_complete_p50_ms", "snapshot completion p50 (ms), 16 st."),
                       ("snapshot_complete_p99_ms", "snapshot completion p99 (ms), 16 st."),
                       ("detection_latency_p50_ms", "detection latency p50 (ms)"),
                       ("detection_latency_max_ms", "detection latency max (ms)"),
                       ("detection_bound_ms", "bound: interval + 2 rotations + 10 ms"),
                       ("rss_mb_per_station", "RSS per station (MB)"),
                       ("pss_mb_per_station", "PSS per station, shared pages split (MB)")]:
        if key in r and r[key] is not None:
            lines.append(f"{label:<52} {r[key]:>12,.4g}")
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
                     f"{size.get('detection_ms')} ms")
    mach = r["machine"]
    lines.append(f"machine: {mach['cores']} cores, Python {mach['python']}, pyzmq {mach['pyzmq']} "
                 f"(libzmq {mach['libzmq']}), load at end {mach.get('load_average_end')}; "
                 f"bench took {r['bench_wall_s']} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer repetitions; under 2 minutes")
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON here")
    ap.add_argument("--runs-dir", help="where the benchmark rings leave run folders "
                                       "(default: a temporary folder, removed afterwards)")
    ap.add_argument("--skip", default="", help="comma list of: " + ", ".join(SECTIONS))
    ap.add_argument("--only", default="", help="comma list: measure only these")
    args = ap.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    if only:
        skip |= set(SECTIONS) - only
    global PROGRESS
    PROGRESS = BenchProgress(weights(args.quick, skip),
                             sys.stderr.isatty() and not args.json)
    with tempfile.TemporaryDirectory(prefix="ringemu-bench-") as tmp:
        results = run(args.quick, args.runs_dir or tmp, skip)
    print(table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)
        _log(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
