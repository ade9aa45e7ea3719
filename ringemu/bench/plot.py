"""The scaling curve: hop rate of the raw ring and of ringemu against ring size, as an SVG.

``python -m ringemu.bench.plot BENCH.json docs/scaling.svg`` draws it from the ``scaling``
rows of a ``scripts/bench --json`` file: the median hop rate of each ring in its alternating
windows, with the range of the windows as error bars, and below it the median ratio of each
pair of windows. matplotlib comes with the ``bench`` extra; nothing else imports this module.
"""

from __future__ import annotations

import argparse
import json
import sys


def plot(bench: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in bench.get("scaling", []) if "error" not in r]
    if not rows:
        raise SystemExit("no scaling rows in this bench file (run scripts/bench without "
                         "--skip scaling)")
    n = [r["stations"] for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1.4]})
    for key, label, style in (("raw", "raw pyzmq ring (same Cython calls)", "o-"),
                              ("ringemu", "ringemu (default configuration)", "s-")):
        med = [r[key]["median"] for r in rows]
        lo = [r[key]["median"] - r[key]["min"] for r in rows]
        hi = [r[key]["max"] - r[key]["median"] for r in rows]
        top.errorbar(n, med, yerr=[lo, hi], fmt=style, capsize=3, label=label)
    top.set_ylabel("token passes per second")
    top.set_ylim(bottom=0)
    top.legend(loc="lower left")
    top.grid(True, alpha=0.3)
    ratio = [r["ratio"]["median"] for r in rows]
    bottom.errorbar(n, ratio, yerr=[[r["ratio"]["median"] - r["ratio"]["min"] for r in rows],
                                    [r["ratio"]["max"] - r["ratio"]["median"] for r in rows]],
                    fmt="d-", color="tab:green", capsize=3)
    bottom.axhline(0.9, color="grey", linestyle="--", linewidth=1)
    bottom.set_ylabel("ringemu / raw")
    bottom.set_xlabel("stations in the ring")
    bottom.set_xscale("log", base=2)
    bottom.set_xticks(n, [str(x) for x in n])
    bottom.grid(True, alpha=0.3)
    mach = bench.get("machine", {})
    fig.suptitle(f"Hop rate against ring size ({mach.get('cores', '?')} cores, "
                 f"load {mach.get('load_average_start', ['?'])[0]} at start; median and range "
                 "of alternating windows)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ringemu.bench.plot", description=__doc__)
    ap.add_argument("bench_json", help="a file written by scripts/bench --json")
    ap.add_argument("svg", help="where to write the plot")
    args = ap.parse_args(argv)
    try:
        with open(args.bench_json) as f:
            bench = json.load(f)
    except (OSError, ValueError) as e:
        print(f"plot: cannot read {args.bench_json}: {e}", file=sys.stderr)
        return 2
    plot(bench, args.svg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
