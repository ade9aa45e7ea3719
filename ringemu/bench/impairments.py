"""Measure what each link impairment does to a ring, live and simulated, and print the
markdown tables of docs/impairments.md ("Measured").

    scripts/bench-impairments [--stations 8] [--seconds 10] [--rotations 2000]
    (python -m ringemu.bench.impairments)

Each row runs ``ringemu run -n N -d SECONDS --json`` and ``ringemu sim -n N -r ROTATIONS
--json -q`` with the row's impairment options, and reads their summaries: hop rate, alarms,
alarms the checker could not explain (must be 0), wrong counts (must be 0 unless reordering),
the link's drops and duplicates, payloads delivered, and whether the run is valid.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys

from ringemu.params import MAX_STATIONS

ROWS = [
    ("none", []),
    ("delay 100us", ["--delay", "100us"]),
    ("delay 1ms", ["--delay", "1ms"]),
    ("delay 1ms, jitter 500us", ["--delay", "1ms", "--jitter", "500us"]),
    ("loss 0.1%", ["--loss", "0.1%"]),
    ("loss 1%", ["--loss", "1%"]),
    ("burst loss 1%/30%", ["--burst-loss", "1%/30%"]),
    ("dup 0.5%", ["--dup", "0.5%"]),
    ("bandwidth 10mbit", ["--bandwidth", "10mbit"]),
    ("reorder 10%, delay 1ms, jitter 1ms",
     ["--reorder", "10%", "--delay", "1ms", "--jitter", "1ms"]),
]


def summary(args: list[str]) -> dict:
    p = subprocess.run([sys.executable, "-m", "ringemu", *args], capture_output=True, text=True,
                       timeout=600)
    lines = p.stdout.strip().splitlines()
    if not lines:
        return {"error": p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "no output"}
    d = json.loads(lines[-1])
    d["exit"] = p.returncode
    return d


def row(name: str, d: dict, rate_key: str) -> str:
    if "error" in d:
        return f"| {name} | failed: {d['error']} |"
    alarms = len(d.get("alarms", []))
    rate = d.get(rate_key)
    rate_s = f"{rate:,.0f}" if isinstance(rate, (int, float)) else "-"
    return (f"| {name} | {rate_s} | {d.get('snapshots', '-')} | {alarms} | "
            f"{d.get('false_alarms')} | {d.get('wrong_counts')} | {d.get('link_drops')} / "
            f"{d.get('link_dups')} | {d.get('payloads_delivered')} / {d.get('payloads_sent')} | "
            f"{d.get('valid')} (exit {d.get('exit')}) |")


def main() -> int:
    ap = argparse.ArgumentParser(prog="scripts/bench-impairments",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--stations", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rotations", type=int, default=2000)
    a = ap.parse_args()
    if not 2 <= a.stations <= MAX_STATIONS:
        ap.error(f"--stations: a ring has 2 to {MAX_STATIONS} stations")
    if not (math.isfinite(a.seconds) and a.seconds > 0):
        ap.error(f"--seconds must be a positive number of seconds, not {a.seconds}")
    if a.rotations <= 0:
        ap.error(f"--rotations must be positive, not {a.rotations}")
    head = ("| impairment | {} | snapshots | alarms | unexplained | wrong counts | link drops / "
            "dups | payloads delivered / sent | valid |\n|---|---|---|---|---|---|---|---|---|")
    live, sim = [], []
    for name, opts in ROWS:
        print(f"[{len(live) + 1}/{len(ROWS)}] {name}", file=sys.stderr, flush=True)
        live.append(row(name, summary(["run", "-n", str(a.stations), "-d", str(a.seconds),
                                       "--json", *opts]), "hop_rate"))
        d = summary(["sim", "-n", str(a.stations), "-r", str(a.rotations), "--json", "-q",
                     *opts])
        if d.get("rotation_us") and d.get("rotations"):  # token passes over virtual time
            d["hops_per_virtual_s"] = d["token_passes"] / (d["rotations"] * d["rotation_us"] / 1e6)
        sim.append(row(name, d, "hops_per_virtual_s"))
    print(f"Live, `ringemu run -n {a.stations} -d {a.seconds:g}` (load average "
          f"{os.getloadavg()[0]:.1f} at the end):\n")
    print(head.format("hops/s"))
    print("\n".join(live))
    print(f"\nSimulated, `ringemu sim -n {a.stations} -r {a.rotations}` (hop rate: token passes "
          "over the run's virtual time):\n")
    print(head.format("hops per virtual s"))
    print("\n".join(sim))
    return 0


if __name__ == "__main__":
    sys.exit(main())
