#!/usr/bin/env python3
"""Ingest benchmark: mtfqi-ingest against its Python peers on the same inputs, timing whole
processes, alternating the two sides, median of --runs runs, peak memory (max RSS) of each.

Peers (tools/bench_peer_csv.py, tools/bench_peer_jsonl.py) write the same arrays with the same
dtypes, chunk shapes and no compression. Prints a Markdown table and writes it to
DATA/results.md; also checks that both stores hold identical arrays."""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def timed(command):
    """Runs a command, returns (seconds, max RSS in MB) of that process alone, the memory measured
    by GNU time (/usr/bin/time -f %M), which forks the command from its own small process."""
    import tempfile
    with tempfile.NamedTemporaryFile("r") as rss:
        start = time.perf_counter()
        process = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name] + command,
                                 stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        if process.returncode != 0:
            sys.exit(f"failed ({process.returncode}): {' '.join(command)}")
        peak_kib = int(rss.read().strip().splitlines()[-1])
    return seconds, peak_kib / 1024


COMPARE = """
import sys, h5py, numpy as np
with h5py.File(sys.argv[1]) as fa, h5py.File(sys.argv[2]) as fb:
    for task in fb["tasks"]:
        for name in fb["tasks"][task]:
            x = fa["tasks"][task][name][()]
            y = fb["tasks"][task][name][()]
            if x.dtype != y.dtype or not np.array_equal(x, y, equal_nan=True):
                print(f"{task}/{name} differs")
                sys.exit(0)
print("identical")
"""


def same_arrays(a, b):
    # In a child process: this process must not grow (a child's max RSS counts the memory of
    # the parent it was forked from, until it execs).
    return subprocess.run([sys.executable, "-c", COMPARE, a, b], capture_output=True, text=True,
                          check=True).stdout.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--data", default="build/bench")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    out = os.path.join(args.data, "out")
    os.makedirs(out, exist_ok=True)
    cases = [
        ("CSV", os.path.join(args.data, "bench.csv"), "pandas.read_csv + h5py",
         [sys.executable, os.path.join(HERE, "bench_peer_csv.py")], ["bench"], 3.0),
        ("JSON Lines", os.path.join(args.data, "bench.jsonl"), "json.loads loop + h5py",
         [sys.executable, os.path.join(HERE, "bench_peer_jsonl.py")], [], 15.0),
    ]
    rows = []
    for name, source, peer_name, peer, peer_extra, target in cases:
        ours_out = os.path.join(out, "mtfqi.h5")
        peer_out = os.path.join(out, "peer.h5")
        ours_cmd = [args.binary, source, "--task", "bench", "-o", ours_out, "--quiet"]
        peer_cmd = peer + [source, peer_out] + peer_extra
        ours, theirs = [], []
        for _ in range(args.runs):
            ours.append(timed(ours_cmd))
            theirs.append(timed(peer_cmd))
        ours_s = statistics.median(t for t, _ in ours)
        theirs_s = statistics.median(t for t, _ in theirs)
        size = os.path.getsize(source) / 1e6
        rows.append((name, size, ours_s, max(m for _, m in ours), peer_name, theirs_s,
                     max(m for _, m in theirs), theirs_s / ours_s, target,
                     same_arrays(ours_out, peer_out)))
    lines = [
        "| input | size MB | mtfqi-ingest s | mtfqi peak MB | peer | peer s | peer peak MB | speed-up | target | arrays |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r[0]} | {r[1]:.0f} | {r[2]:.3f} | {r[3]:.0f} | {r[4]} | {r[5]:.3f} | {r[6]:.0f} | "
                     f"{r[7]:.1f}x | {r[8]:.0f}x | {r[9]} |")
    # Memory flat in input size: the same CSV three times over (episode ids renumbered by the
    # store's collision rule are irrelevant here: one file, repeated rows).
    triple = os.path.join(args.data, "bench3x.csv")
    if not os.path.exists(triple):
        with open(cases[0][1]) as f, open(triple, "w") as g:
            header = f.readline()
            body = f.read()
            g.write(header)
            for _ in range(3):
                g.write(body)
    one = timed([args.binary, cases[0][1], "--task", "bench", "-o", os.path.join(out, "m1.h5"), "--quiet"])
    three = timed([args.binary, triple, "--task", "bench", "-o", os.path.join(out, "m3.h5"), "--quiet"])
    lines.append("")
    lines.append(f"Peak memory of mtfqi-ingest: {one[1]:.0f} MB for the 1x CSV "
                 f"({os.path.getsize(cases[0][1]) / 1e6:.0f} MB), {three[1]:.0f} MB for the 3x CSV "
                 f"({os.path.getsize(triple) / 1e6:.0f} MB).")
    table = "\n".join(lines)
    print(table)
    with open(os.path.join(args.data, "results.md"), "w") as f:
        f.write(table + "\n")


if __name__ == "__main__":
    main()
